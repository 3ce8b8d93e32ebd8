"""Shamir secret sharing of whole 256-bit secrets over one prime field, vectorised.

Shamir, "How to share a secret" (CACM 22(11), 1979): a secret s becomes the constant term of a
random polynomial f of degree t - 1 over GF(p); holder x receives f(x). Any t shares determine f
and hence s = f(0) by Lagrange interpolation; any t - 1 shares are uniformly distributed and
reveal nothing.

Secure aggregation shares 32-byte values (a PRG seed and an X25519 private key, Bonawitz et al.
2017, figure 4, round 1), so the field is GF(p) with p = 2^256 + 297, the smallest prime above
2^256: every 32-byte string is a field element and comes back byte for byte. A share is a field
element written on 33 bytes. (Flower instead splits secrets into 16-byte chunks shared over
GF(2^128), which multiplies the reconstruction work.)

Both directions are vectorised with numpy object arrays of Python integers:

* :func:`share` evaluates the polynomials of *all* secrets at *all* holders at once by Horner's
  rule, reducing modulo p only every few steps (holder ids are below 2^32, so each step grows the
  accumulator by at most 32 bits);
* :func:`reconstruct` is one matrix-vector product with the Lagrange coefficients at zero of the
  holder set (:func:`lagrange_at_zero`, computed once per set and cached), so the server pays the
  interpolation cost once for every secret that shares a holder set.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Final

import numpy as np

from heprim.errors import ParameterError
from heprim.math.prng import PRNG, default_rng

__all__ = [
    "PRIME",
    "SHARE_BYTES",
    "lagrange_at_zero",
    "reconstruct",
    "share",
]

PRIME: Final = 2**256 + 297
"""The smallest prime above 2^256 (primality checked by BPSW in the tests)."""

SHARE_BYTES: Final = 33
"""Bytes of one share (an element of GF(PRIME), big-endian)."""

_LAZY_STEPS: Final = 8  # Horner steps between reductions: 8 * 32 bits of growth at most


def _check_holders(holders: Sequence[int]) -> None:
    if len(set(holders)) != len(holders):
        raise ParameterError("Shamir holder ids must be distinct")
    for x in holders:
        if not 0 < x < 2**32:
            raise ParameterError(f"a Shamir holder id must be in [1, 2^32), got {x}")


def share(
    secrets: Sequence[int], holders: Sequence[int], threshold: int, rng: PRNG | None = None
) -> list[list[int]]:
    """Split each secret into shares for ``holders``; any ``threshold`` of them reconstruct it.

    Args:
        secrets: field elements (integers in ``[0, PRIME)``), e.g. ``int.from_bytes(seed)``.
        holders: distinct holder ids in ``[1, 2^32)``, used as the evaluation points.
        threshold: the number of shares needed to reconstruct, ``1 <= threshold <= len(holders)``.
        rng: the source of the random polynomial coefficients.

    Returns:
        ``shares[i][j]`` is holder ``holders[i]``'s share of ``secrets[j]``.
    """
    rng = default_rng(rng)
    _check_holders(holders)
    if not 1 <= threshold <= len(holders):
        raise ParameterError(
            f"the Shamir threshold must be between 1 and the number of holders ({len(holders)}), "
            f"got {threshold}"
        )
    for s in secrets:
        if not 0 <= s < PRIME:
            raise ParameterError("a Shamir secret must be a field element in [0, 2^256 + 297)")
    m = len(secrets)
    # coefficients[d][j]: degree-d coefficient of secret j's polynomial; degree 0 is the secret.
    coefficients = np.empty((threshold, m), dtype=object)
    coefficients[0, :] = [int(s) for s in secrets]
    for d in range(1, threshold):
        coefficients[d, :] = [rng.randbelow(PRIME) for _ in range(m)]
    points = np.array([int(x) for x in holders], dtype=object)[:, None]
    acc = np.zeros((len(holders), m), dtype=object)
    for step, row in enumerate(coefficients[::-1]):
        acc = acc * points + row
        if step % _LAZY_STEPS == _LAZY_STEPS - 1:
            acc %= PRIME
    acc %= PRIME
    return [[int(v) for v in acc_row] for acc_row in acc]


@lru_cache(maxsize=4096)
def _lagrange_cached(points: tuple[int, ...]) -> tuple[int, ...]:
    numerator = 1
    for x in points:
        numerator *= x
    coefficients = []
    for j, xj in enumerate(points):
        # lambda_j = prod_{m != j} x_m / (x_m - x_j): the small products stay exact integers
        # and only one modular inversion per coefficient is needed.
        denominator = xj
        for m, xm in enumerate(points):
            if m != j:
                denominator *= xm - xj
        coefficients.append(numerator * pow(denominator % PRIME, -1, PRIME) % PRIME)
    return tuple(coefficients)


def lagrange_at_zero(holders: Sequence[int]) -> tuple[int, ...]:
    """The Lagrange coefficients lambda_j with f(0) = sum_j lambda_j f(x_j) over GF(PRIME).

    Results are cached per holder set: in the complete graph every secret shares one set.
    """
    _check_holders(holders)
    return _lagrange_cached(tuple(int(x) for x in holders))


def reconstruct(holders: Sequence[int], shares: Sequence[Sequence[int]]) -> list[int]:
    """Recover secrets from the shares of exactly the given holders.

    Args:
        holders: the ids of the holders whose shares are given (at least the threshold; the
            caller passes exactly ``threshold`` of them: more give the same answer, slower).
        shares: ``shares[i][j]`` is holder ``holders[i]``'s share of secret ``j``.

    Returns:
        The secrets as field elements. With fewer than ``threshold`` shares the result is a
        uniformly random-looking field element, not an error: Shamir sharing cannot detect it,
        so callers check the result against a commitment (a public key) when they can.
    """
    if len(shares) != len(holders) or not holders:
        raise ParameterError("reconstruct needs one row of shares per holder (at least one)")
    width = len(shares[0])
    if any(len(row) != width for row in shares):
        raise ParameterError("every holder must give a share of every secret")
    for row in shares:
        for value in row:
            if not 0 <= value < PRIME:
                raise ParameterError("a Shamir share must be a field element in [0, 2^256 + 297)")
    lam = np.array(lagrange_at_zero(holders), dtype=object)
    matrix = np.array([[int(v) for v in row] for row in shares], dtype=object).reshape(
        len(holders), width
    )
    return [int(v) % PRIME for v in lam.dot(matrix)]
