"""Importing Microsoft SEAL's BFV secret keys and ciphertexts from their residue arrays.

heprim follows SEAL's conventions where they matter, so SEAL's data is heprim's data:

* the same negacyclic NTT (minimal primitive ``2N``-th root, bit-reversed order; see
  :mod:`heprim.ring.ntt`), so an NTT-form array from SEAL is an NTT-form array here;
* SEAL's key modulus is its coefficient modulus list, whose *last* prime is the special prime:
  with ``coeff_modulus = q_1, ..., q_L, p`` it is heprim's ``Parameters(q=(q_1..q_L), p=(p,))``;
* a SEAL ``SecretKey`` is ``s`` in NTT form over all ``L + 1`` primes (``sk.data()``, a
  ``Plaintext`` of ``(L + 1) N`` words, limb after limb);
* a SEAL BFV ``Ciphertext`` is in coefficient form, ``size x level x N`` words (polynomial, then
  limb, then coefficient), at the first data level ``L`` unless switched down.

Reading the arrays out of SEAL (for example through TenSEAL's ``sealapi``:
``np.array([ct.dyn_array().at(i) for i in range(...)])``) is left to the caller, so heprim needs
no compiled peer. The test suite does it when TenSEAL is installed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from heprim.bfv.ciphertext import Ciphertext
from heprim.bfv.context import context_of
from heprim.bfv.keys import KEY_ID_BYTES, SecretKey
from heprim.bfv.params import Parameters
from heprim.errors import ParameterError
from heprim.math.prng import PRNG, default_rng

__all__ = ["ciphertext_from_seal", "secret_key_from_seal"]


def secret_key_from_seal(
    params: Parameters,
    ntt_residues: npt.ArrayLike,
    *,
    key_id: str | None = None,
    rng: PRNG | None = None,
) -> SecretKey:
    """A heprim secret key from SEAL's NTT-form secret key residues.

    Args:
        params: heprim parameters with SEAL's primes (``q`` then ``p``, see the module).
        ntt_residues: shape ``(L + K, N)`` or the flat ``(L + K) N`` words of ``sk.data()``.
        key_id: the key set's identifier for heprim (default: a random one from ``rng``).
        rng: randomness for the default key id.

    Raises:
        ParameterError: a wrong size, residues out of range, or a key that is not ternary
            (consistently across the limbs).
    """
    if not isinstance(params, Parameters):
        raise ParameterError(f"expected bfv.Parameters, got {type(params).__name__}")
    ctx = context_of(params)
    ring = ctx.ring_qp(params.max_level) if params.p else ctx.ring_q(params.max_level)
    limbs, n = len(ring.moduli), params.degree
    array = np.asarray(ntt_residues)
    if array.size != limbs * n:
        raise ParameterError(
            f"SEAL's secret key has (L + K) N = {limbs * n} words for these parameters, got "
            f"{array.size}; are the primes the same, in SEAL's order (special prime last)?"
        )
    coefficients = ring.from_array(array.reshape(limbs, n), ntt=True).intt().data
    q = np.array(ring.moduli, dtype=np.uint64).reshape(-1, 1)
    minus_one = coefficients == q - np.uint64(1)
    values = np.where(minus_one, -1, coefficients.astype(np.int64))
    if bool((values > 1).any()) or bool((values != values[0]).any()):
        raise ParameterError(
            "the residues are not a ternary secret key under these parameters (wrong primes or "
            "order, or not SEAL's NTT form)"
        )
    if key_id is None:
        key_id = default_rng(rng).random_bytes(KEY_ID_BYTES).hex()
    return SecretKey(params, values[0].astype(np.int8), key_id)


def ciphertext_from_seal(
    params: Parameters, residues: npt.ArrayLike, *, key_id: str, ntt: bool = False
) -> Ciphertext:
    """A heprim ciphertext from a SEAL BFV ciphertext's words.

    Args:
        params: heprim parameters with SEAL's primes.
        residues: shape ``(size, level, N)``, or flat with ``size`` and ``level`` inferred from
            the length when the ciphertext is at the top level (``size x L x N`` words).
        key_id: the heprim key id of the matching secret key (``secret_key.key_id``).
        ntt: whether SEAL held it in NTT form (BFV ciphertexts normally are not).
    """
    if not isinstance(params, Parameters):
        raise ParameterError(f"expected bfv.Parameters, got {type(params).__name__}")
    array = np.asarray(residues)
    if array.ndim == 1:
        per_poly = params.max_level * params.degree
        if array.size % per_poly or array.size < 2 * per_poly:
            raise ParameterError(
                f"a flat top-level ciphertext has a multiple of L N = {per_poly} words (at least "
                f"two polynomials), got {array.size}; reshape it to (size, level, N) yourself"
            )
        array = array.reshape(-1, params.max_level, params.degree)
    return Ciphertext.from_residues(params, array, key_id=key_id, ntt=ntt)
