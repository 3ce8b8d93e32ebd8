"""Layer 0: the polynomial ring ``Z_Q[X]/(X^N + 1)`` in RNS form, on numpy.

* :class:`Ring` and :class:`RingElement` (:mod:`heprim.ring.poly`): elements in coefficient or
  NTT form, batched, with ``+ - *``, automorphisms, exact base conversion and scale-and-round;
* :class:`NTT` (:mod:`heprim.ring.ntt`): the negacyclic NTT over all limbs at once, in SEAL's
  convention;
* :class:`RNSBasis`, :class:`BaseConverter`, :class:`ScaleRounder` (:mod:`heprim.ring.rns`):
  the residue number system and the HPS algorithms;
* :func:`ntt_primes`, :func:`minimal_primitive_root` (:mod:`heprim.ring.primes`).

See the "Ring and NTT explained" page of the documentation for the mathematics.
"""

from heprim.ring.ntt import NTT, ntt_tables
from heprim.ring.poly import Ring, RingElement, galois_element
from heprim.ring.primes import MAX_MODULUS_BITS, is_ntt_prime, minimal_primitive_root, ntt_primes
from heprim.ring.rns import BaseConverter, RNSBasis, ScaleRounder

__all__ = [
    "MAX_MODULUS_BITS",
    "NTT",
    "BaseConverter",
    "RNSBasis",
    "Ring",
    "RingElement",
    "ScaleRounder",
    "galois_element",
    "is_ntt_prime",
    "minimal_primitive_root",
    "ntt_primes",
    "ntt_tables",
]
