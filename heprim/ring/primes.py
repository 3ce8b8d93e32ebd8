"""NTT-friendly primes and primitive roots of unity.

The negacyclic number-theoretic transform of length ``N`` over ``Z_q`` needs a primitive
``2N``-th root of unity ``psi`` modulo ``q`` (``psi^N = -1``), which exists exactly when
``q = 1 (mod 2N)``. heprim keeps every residue in a 64-bit lane and relies on ``q < 2^30`` for
its overflow bounds (products below ``2^60``, Shoup quotients with ``beta = 2^32``, lazy values
below ``4q < 2^32``; see :mod:`heprim.ring.ntt`), so the primes here are the largest primes
``q = 1 (mod 2N)`` below ``2^bits`` with ``bits <= 30``.

Everything is deterministic and cached: the same ``(degree, count, bits)`` always yields the same
primes, so two parties that agree on parameters agree on the moduli without exchanging them.

The root convention is SEAL's (``util/numth.h``, ``try_minimal_primitive_root``) and Intel HEXL's
(``MinimalPrimitiveRoot``): among the ``phi(2N) = N`` primitive ``2N``-th roots of unity, the
numerically smallest. It makes heprim's NTT tables, and therefore NTT-form keys, comparable bit for
bit with SEAL's.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import Final

from heprim.errors import ParameterError
from heprim.math.ntheory import is_probable_prime

__all__ = [
    "MAX_MODULUS_BITS",
    "check_degree",
    "check_moduli",
    "is_ntt_prime",
    "minimal_primitive_root",
    "ntt_primes",
]

#: Every RNS modulus of the ring engine is below ``2**MAX_MODULUS_BITS`` (see the module docstring).
MAX_MODULUS_BITS: Final = 30

#: Degrees from 2 to 2**17: the largest SEAL and the HE standard consider is 2**15 (32768).
MAX_LOG_DEGREE: Final = 17


def check_degree(degree: int) -> int:
    """Return ``degree`` if it is a power of two in ``[2, 2**17]``, else raise ParameterError."""
    if isinstance(degree, bool) or not isinstance(degree, int):
        raise ParameterError(f"the ring degree N must be an int, got {type(degree).__name__}")
    if degree < 2 or degree & (degree - 1) or degree > 1 << MAX_LOG_DEGREE:
        raise ParameterError(
            f"the ring degree N must be a power of two between 2 and 2**{MAX_LOG_DEGREE} "
            f"(X^N + 1 is then cyclotomic and the NTT has a radix-2 form), got {degree}"
        )
    return degree


def is_ntt_prime(modulus: int, degree: int) -> bool:
    """Whether ``modulus`` is a prime ``q = 1 (mod 2N)`` below ``2**30`` (BPSW primality test)."""
    return (
        modulus < 1 << MAX_MODULUS_BITS
        and modulus % (2 * degree) == 1
        and is_probable_prime(modulus)
    )


def check_moduli(degree: int, moduli: Sequence[int]) -> tuple[int, ...]:
    """Validate an RNS basis for ``Z_Q[X]/(X^N + 1)`` and return it as a tuple of ``int``.

    Each modulus must be an NTT-friendly prime for ``degree`` (:func:`is_ntt_prime`), and no
    modulus may repeat (the CRT needs pairwise coprime moduli). Raises :class:`ParameterError`
    with the reason and a hint otherwise.
    """
    check_degree(degree)
    if isinstance(moduli, int | str | bytes) or not isinstance(moduli, Sequence):
        raise ParameterError("moduli must be a sequence of primes, e.g. ntt_primes(N, 4)")
    if not moduli:
        raise ParameterError("an RNS basis needs at least one modulus")
    result: list[int] = []
    for modulus in moduli:
        if isinstance(modulus, bool) or not hasattr(modulus, "__index__"):
            raise ParameterError(f"moduli must be integers, got {type(modulus).__name__}")
        q = operator.index(modulus)
        if q >= 1 << MAX_MODULUS_BITS:
            raise ParameterError(
                f"modulus {q} has {q.bit_length()} bits; the numpy engine needs moduli below "
                f"2**{MAX_MODULUS_BITS} (use more, smaller primes: ntt_primes(N, count))"
            )
        if q % (2 * degree) != 1:
            raise ParameterError(
                f"modulus {q} is not NTT-friendly for N = {degree}: it must be 1 mod 2N = "
                f"{2 * degree} (use ntt_primes({degree}, count))"
            )
        if not is_probable_prime(q):
            raise ParameterError(f"modulus {q} is not prime (use ntt_primes({degree}, count))")
        if q in result:
            raise ParameterError(
                f"modulus {q} appears twice; RNS moduli must be distinct (pairwise coprime)"
            )
        result.append(q)
    return tuple(result)


@functools.lru_cache(maxsize=256)
def ntt_primes(degree: int, count: int, *, bits: int = MAX_MODULUS_BITS) -> tuple[int, ...]:
    """The ``count`` largest primes ``q = 1 (mod 2N)`` below ``2**bits``, in decreasing order.

    Deterministic and cached. Disjoint bases are slices of one call, e.g.
    ``primes = ntt_primes(8192, 17); Q, P = primes[:8], primes[8:]``.

    Args:
        degree: the ring degree ``N`` (a power of two).
        count: how many primes.
        bits: the primes are below ``2**bits``; at most 30 (the default) and large enough for
            the requested primes to exist. Primes below ``2**28`` let the forward NTT skip most
            of its lazy reductions (about 10% faster), often for the same number of limbs.

    Raises:
        ParameterError: on a bad degree, count or bit size, or when fewer than ``count`` such
            primes exist below ``2**bits``.
    """
    check_degree(degree)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ParameterError(f"count must be a positive int, got {count!r}")
    if isinstance(bits, bool) or not isinstance(bits, int) or bits > MAX_MODULUS_BITS:
        raise ParameterError(f"bits must be an int of at most {MAX_MODULUS_BITS}, got {bits!r}")
    step = 2 * degree
    if (1 << bits) <= step:
        raise ParameterError(f"no prime q = 1 mod {step} exists below 2**{bits}; raise bits")
    primes: list[int] = []
    candidate = ((1 << bits) - 2) // step * step + 1  # the largest 1 mod 2N below 2**bits
    while len(primes) < count and candidate > step:
        if is_probable_prime(candidate):
            primes.append(candidate)
        candidate -= step
    if len(primes) < count:
        raise ParameterError(
            f"only {len(primes)} primes q = 1 mod {step} exist below 2**{bits}, {count} were "
            "requested; use a larger bits or a smaller degree"
        )
    return tuple(primes)


@functools.lru_cache(maxsize=1024)
def minimal_primitive_root(order: int, modulus: int) -> int:
    """The smallest primitive ``order``-th root of unity modulo the prime ``modulus``.

    This is SEAL's and HEXL's convention for the NTT's ``psi`` (with ``order = 2N``). The
    primitive roots of a power-of-two order are the odd powers ``r^(2j+1)`` of any one of them,
    so one is found as ``g^((q-1)/order)`` for a small ``g``, and the minimum is taken over its
    ``order / 2`` odd powers.

    Raises:
        ParameterError: if ``order`` is not a power of two of at least 2 dividing ``modulus - 1``,
            or ``modulus`` is not prime.
    """
    if order < 2 or order & (order - 1):
        raise ParameterError(f"order must be a power of two >= 2, got {order}")
    if not is_probable_prime(modulus):
        raise ParameterError(f"{modulus} is not prime")
    if (modulus - 1) % order:
        raise ParameterError(f"no {order}-th root of unity modulo {modulus}: {order} ∤ q - 1")
    cofactor = (modulus - 1) // order
    for g in range(2, modulus):
        root = pow(g, cofactor, modulus)
        # root has order dividing `order`; it is primitive iff root^(order/2) = -1.
        if pow(root, order // 2, modulus) == modulus - 1:
            break
    else:  # pragma: no cover - a generator of Z_q^* always exists
        raise ParameterError(f"no primitive root found modulo {modulus}")
    best, power, square = root, root, root * root % modulus
    for _ in range(order // 2 - 1):
        power = power * square % modulus
        best = min(best, power)
    return best
