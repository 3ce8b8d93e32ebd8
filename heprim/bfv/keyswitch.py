"""Hybrid key switching: turn a polynomial ``c`` decryptable under ``s'`` into a pair under ``s``.

Given ``c`` modulo ``Q_l`` and a key-switching key ``ksk_j = (b_j, a_j)`` from ``s'`` to ``s``
(:class:`~heprim.bfv.keys.KeySwitchKey`), :func:`key_switch` returns ``(r_0, r_1)`` modulo
``Q_l`` with

    r_0 + r_1 s = c s' + (small)   (mod Q_l),

by the algorithm of Gentry, Halevi and Smart (CRYPTO 2012, section 3.1.1) with the RNS digit
decomposition of Han and Ki (CT-RSA 2020, Algorithm 2 without the hoisting), which is also what
SEAL's ``switch_key_inplace`` does when each digit is one prime:

1. **Decompose**: digit ``j`` is ``[c]_{D_j}``, the residues of ``c`` on the primes of digit
   ``j``, as an integer polynomial with coefficients below ``D_j`` (``c = sum_j [c]_{D_j} g_j``
   modulo ``Q_l``).
2. **Extend** each digit to every prime of ``Q_l P``: for a one-prime digit a value below ``q_j``
   only needs reducing modulo the other primes; for larger digits the exact HPS base conversion
   (:class:`~heprim.ring.rns.BaseConverter`) lifts it centered.
3. **Multiply and accumulate** in NTT form: ``(sum_j d_j b_j, sum_j d_j a_j)`` modulo ``Q_l P``,
   equal to ``P c s' + sum_j d_j e_j - (sum_j d_j a_j) s``.
4. **ModDown**: divide by ``P`` with rounding back into ``Q_l``
   (:class:`~heprim.ring.rns.ScaleRounder` with numerator 1). The error ``sum_j d_j e_j`` is
   divided by ``P >= D_j``, leaving a noise about ``sqrt(digits N) * 3.19``, far below a fresh one.

Everything runs on numpy arrays of residues with the ring engine's NTT and RNS tools, one batched
transform per step: ``digits x (l + K)`` limb transforms forward and ``2 (l + K)`` back.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from heprim.bfv.context import Context
from heprim.bfv.keys import KeySwitchKey
from heprim.errors import ParameterError
from heprim.ring import ntt_tables
from heprim.ring.modarith import reduce_rows
from heprim.ring.rns import base_converter, scale_rounder

__all__ = ["decompose", "key_switch"]

U64 = npt.NDArray[np.uint64]


def decompose(ctx: Context, c: U64) -> U64:
    """Steps 1-2: the digits of ``c`` (``(l, N)`` residues mod ``Q_l``, coefficient form),
    each extended to ``Q_l P``: shape ``(digits, l + K, N)``, coefficient form."""
    level, n = c.shape
    groups = ctx.digits(level)
    moduli = ctx.params.q[:level] + ctx.special
    out = np.empty((len(groups), len(moduli), n), dtype=np.uint64)
    singles = [j for j, g in enumerate(groups) if len(g) == 1]
    if singles:
        rows = c[[groups[j][0] for j in singles]]  # each below its own prime
        largest = max(ctx.params.q[groups[j][0]] for j in singles)
        quotient = np.empty_like(rows)
        for k, m in enumerate(moduli):
            if m >= largest:  # every value is already below m
                out[singles, k] = rows
                continue
            mm = np.uint64(m)
            np.floor_divide(rows, mm, out=quotient)
            np.multiply(quotient, mm, out=quotient)
            out[singles, k] = rows - quotient
    for j, group in enumerate(groups):
        if len(group) > 1:
            source = tuple(ctx.params.q[i] for i in group)
            out[j] = base_converter(source, moduli).convert(c[list(group)])
    return out


def key_switch(ctx: Context, c: U64, key: KeySwitchKey) -> U64:
    """``(r_0, r_1)`` modulo ``Q_l`` (shape ``(2, l, N)``, coefficient form) with
    ``r_0 + r_1 s = c s' + small``, for ``c`` of shape ``(l, N)`` in coefficient form."""
    if key.params != ctx.params:
        raise ParameterError("internal: key and context disagree")  # pragma: no cover
    level, n = c.shape
    q_moduli = ctx.params.q[:level]
    moduli = q_moduli + ctx.special
    digits = decompose(ctx, c)
    tables = ntt_tables(n, moduli)
    tables.forward(digits, out=digits)
    key_data = key.at_level(level)  # (digits, 2, l + K, N), NTT form
    total = np.zeros((2, len(moduli), n), dtype=np.uint64)
    product = np.empty_like(total)
    for j in range(digits.shape[0]):
        if j and j % 16 == 0:  # products are below 2^60: sixteen fit in 64 bits
            reduce_rows(total, moduli, out=total)
        np.multiply(key_data[j], digits[j], out=product)
        total += product
    reduce_rows(total, moduli, out=total)
    tables.inverse(total, out=total)
    return scale_rounder(moduli, 1, q_moduli).apply(total)
