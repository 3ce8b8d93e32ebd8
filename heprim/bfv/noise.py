"""Noise: the key holder's exact measurement, and the estimates that choose parameters.

**The invariant noise** (Chen, Laine and Player, "Simple Encrypted Arithmetic Library - SEAL
v2.1", WAHC 2017, section 3.3 and SEAL's ``Decryptor::invariant_noise_budget``): a ciphertext
at level ``l`` satisfies ``t/Q_l (c_0 + c_1 s + ...) = m + v + t k`` for integer polynomials ``m``
and ``k`` and a real polynomial ``v``; decryption is correct while ``||v||_inf < 1/2``. The
*noise budget* is ``-log2(2 ||v||_inf)`` rounded down, computed as
``bits(Q_l) - bits(||[t (c_0 + c_1 s + ...)]_{Q_l}||_inf) - 1``: the number of bits the noise
may still grow. It decreases by about ``log2(t N / 3)`` bits per multiplication and by little
for additions; a ciphertext at budget 0 no longer decrypts reliably.

**Only the key holder can measure it, and should keep the number to themselves.** The budget is
a function of the secret key and of the exact error of the ciphertext. Revealing it -- or
revealing whether decryption succeeded on adversarially chosen ciphertexts -- is a decryption
oracle leaking the noise: Li and Micciancio (EUROCRYPT 2021) recover CKKS keys from decryptions
that expose the noise, and for BFV an attacker who submits ciphertexts with crafted errors and
learns the resulting budget (or success/failure) learns linear relations on the coefficients of
``s`` (a reaction attack, cf. Chenal and Tang, LATINCRYPT 2014, on SHE key recovery). So
:func:`invariant_noise_budget` takes the secret key, heprim never attaches a budget to a
ciphertext, and :class:`~heprim.bfv.scheme.Decryptor` raises
:class:`~heprim.errors.NoiseBudgetExhausted` only to its own caller.

**Estimates** (:func:`estimate_fresh_budget`, :func:`multiplication_cost_bits`,
:func:`estimate_depth`) use the usual average-case heuristic (central limit; Costache and
Smart, CT-RSA 2016, section 4): coefficients of products of independent random polynomials are
close to Gaussian with variance ``N Var(a) Var(b)``; ``||v||_inf`` is taken as
:data:`TAIL` standard deviations. A fresh public-key encryption has noise
``t/Q (e_0 + e_1 s - e u)`` of variance ``(t/Q)^2 sigma^2 (1 + 4N/3)``; a product has
``v' ~ t (v_1 k_2 + v_2 k_1)`` with ``k_i ~ c_1 s / Q`` of variance ``N/18``, so its standard
deviation is about ``t N / 3`` times that of the inputs (relinearization and rounding terms are
far smaller); :func:`multiplication_cost_bits` adds one bit of margin. The tests check these
figures against measurements.
"""

from __future__ import annotations

import math
from typing import Final

from heprim.bfv.ciphertext import Ciphertext
from heprim.bfv.keys import SecretKey
from heprim.bfv.params import ERROR_STDDEV, Parameters
from heprim.bfv.scheme import decrypt_raw
from heprim.errors import ParameterError

__all__ = [
    "TAIL",
    "estimate_depth",
    "estimate_fresh_budget",
    "invariant_noise_budget",
    "multiplication_cost_bits",
]

#: Standard deviations taken for the infinity norm (the largest of ``N`` near-Gaussian
#: coefficients stays below ``sqrt(2 ln 2N)`` ~ 4.4 deviations for N = 8192; 6 leaves margin).
TAIL: Final = 6.0


def invariant_noise_budget(ciphertext: Ciphertext, secret_key: SecretKey) -> int:
    """The invariant noise budget of ``ciphertext`` in bits (0 when exhausted), for the key holder.

    Do not reveal it to anyone else (see the module docstring: it leaks information about the
    secret key).

    Raises:
        KeyMismatchError: the ciphertext is under another key or other parameters.
    """
    x = decrypt_raw(ciphertext, secret_key)
    scaled = x * ciphertext.params.plain_modulus
    norm = max((abs(v) for v in scaled.to_centered_ints()), default=0)
    modulus = ciphertext.params.q_modulus_at(ciphertext.level)
    return max(0, modulus.bit_length() - int(norm).bit_length() - 1)


def _check(params: object) -> Parameters:
    if not isinstance(params, Parameters):
        raise ParameterError(f"expected bfv.Parameters, got {type(params).__name__}")
    return params


def estimate_fresh_budget(params: Parameters, level: int | None = None) -> float:
    """The expected noise budget (bits) of a fresh public-key encryption at ``level``."""
    params = _check(params)
    level = params.max_level if level is None else level
    n, t = params.degree, params.plain_modulus
    deviation = ERROR_STDDEV * math.sqrt(1 + 4 * n / 3)
    log_norm = math.log2(t * TAIL * deviation) - params.q_modulus_at(level).bit_length()
    return -log_norm - 1


def multiplication_cost_bits(params: Parameters) -> float:
    """The budget (bits) one multiplication of equally noisy ciphertexts consumes.

    ``log2(t N / 3)`` from the heuristic, plus one bit: a square has correlated factors
    (``2 t v k`` instead of ``t (v_1 k_2 + v_2 k_1)``, a factor ``sqrt 2``) and the noise drifts
    away from a Gaussian over a long circuit; measured costs at ``N = 4096 .. 32768`` lie within
    this bound.
    """
    params = _check(params)
    return math.log2(params.plain_modulus * params.degree / 3) + 1


def estimate_depth(params: Parameters) -> int:
    """How many sequential multiplications (a product tree's depth) fresh ciphertexts survive.

    A heuristic (see the module): fresh budget over the cost per level, keeping one bit spare.
    """
    budget = estimate_fresh_budget(params)
    cost = multiplication_cost_bits(params)
    return max(0, math.floor((budget - 1) / cost))
