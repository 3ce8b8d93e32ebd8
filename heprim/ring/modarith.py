"""Vectorised modular arithmetic on RNS residue arrays (the building blocks of the ring engine).

Arrays have shape ``(..., L, n)``: limb ``l`` (axis ``-2``) holds residues modulo ``q_l < 2^30``
in ``uint64``. Two facts of numpy drive the choices here:

* ``uint64`` arithmetic wraps modulo ``2^64`` without warning. Products of two residues stay
  below ``2^60``, sums of up to 16 such products below ``2^64``; everything below is written so
  that no intermediate exceeds ``2^64``, and the unsigned wrap-around is used on purpose for
  conditional subtraction: for ``x < 2q``, ``min(x, x - q)`` is ``x mod q`` because ``x - q`` wraps
  to a huge value exactly when ``x < q``.
* Integer division by a *scalar* is fast (numpy uses libdivide's multiply-and-shift), division by
  a broadcast column is not; so exact reductions loop over the limbs (``L`` calls, each vectorised
  over every row and coefficient), while additions use a full ``(L, n)`` array of moduli.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["add_mod", "mul_mod", "mul_scalars", "neg_mod", "reduce_rows", "sub_mod"]

U64 = npt.NDArray[np.uint64]


def reduce_rows(x: U64, moduli: Sequence[int], out: U64 | None = None) -> U64:
    """``x mod q_l`` along the limb axis, exact for every ``uint64`` value of ``x``."""
    if out is None:
        out = np.empty_like(x)
    quotient = np.empty(x.shape[:-2] + x.shape[-1:], dtype=np.uint64)
    for limb, q in enumerate(moduli):
        qq = np.uint64(q)
        row, dst = x[..., limb, :], out[..., limb, :]
        np.floor_divide(row, qq, out=quotient)
        np.multiply(quotient, qq, out=quotient)
        np.subtract(row, quotient, out=dst)
    return out


def mul_scalars(
    x: U64, scalars: Sequence[int], moduli: Sequence[int], out: U64 | None = None
) -> U64:
    """``x * c_l mod q_l`` for one constant ``c_l < q_l`` per limb (``x < 2^34``)."""
    if out is None:
        out = np.empty_like(x)
    for limb, c in enumerate(scalars):
        np.multiply(x[..., limb, :], np.uint64(c), out=out[..., limb, :])
    return reduce_rows(out, moduli, out=out)


def mul_mod(a: U64, b: U64, moduli: Sequence[int], out: U64 | None = None) -> U64:
    """Pointwise ``a * b mod q_l`` (operands below ``2^32``; broadcasting over batch axes)."""
    product = np.multiply(a, b, out=out)
    return reduce_rows(product, moduli, out=product)


def add_mod(a: U64, b: U64, q: U64, out: U64 | None = None) -> U64:
    """``a + b mod q`` for ``a, b`` in ``[0, q)``; ``q`` is the ``(L, n)`` array of moduli."""
    total = np.add(a, b, out=out)
    np.minimum(total, total - q, out=total)
    return total


def sub_mod(a: U64, b: U64, q: U64, out: U64 | None = None) -> U64:
    """``a - b mod q`` for ``a, b`` in ``[0, q)`` (a negative ``a - b`` wraps; ``+ q`` fixes it)."""
    difference = np.subtract(a, b, out=out)
    np.minimum(difference, difference + q, out=difference)
    return difference


def neg_mod(a: U64, q: U64, out: U64 | None = None) -> U64:
    """``-a mod q`` for ``a`` in ``[0, q)`` (``0`` stays ``0``)."""
    negated = np.subtract(q, a, out=out)
    np.minimum(negated, negated - q, out=negated)
    return negated
