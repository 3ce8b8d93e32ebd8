"""heprim.ring.modarith: the vectorised modular helpers at their boundaries (uint64 wrap-around)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from heprim.ring.modarith import add_mod, mul_mod, mul_scalars, neg_mod, reduce_rows, sub_mod

MODULI = (1073479681, 1073184769, 65537, 3)


def full(values: list[list[int]]) -> np.ndarray:
    return np.array(values, dtype=np.uint64)


def q_array(n: int) -> np.ndarray:
    return np.broadcast_to(np.array(MODULI, dtype=np.uint64)[:, None], (len(MODULI), n)).copy()


def test_reduce_rows_is_exact_for_every_uint64() -> None:
    edge = [0, 1, 2**32 - 1, 2**32, 2**60, 2**63, 2**64 - 2, 2**64 - 1]
    x = full([edge] * len(MODULI))
    out = reduce_rows(x, MODULI)
    assert out.tolist() == [[v % q for v in edge] for q in MODULI]
    batch = np.stack([x, x[::-1]])
    assert np.array_equal(reduce_rows(batch, MODULI)[0], out)


@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=20))
def test_reduce_rows_property(values: list[int]) -> None:
    out = reduce_rows(full([values] * len(MODULI)), MODULI)
    assert out.tolist() == [[v % q for v in values] for q in MODULI]


def test_add_sub_neg_at_the_boundaries() -> None:
    top = [q - 1 for q in MODULI]
    a = full([[t, 0, t, 1] for t in top])
    b = full([[t, t, 0, t] for t in top])
    q = q_array(4)
    assert add_mod(a, b, q).tolist() == [
        [(x + y) % m for x, y in zip(ra, rb, strict=True)]
        for ra, rb, m in zip(a.tolist(), b.tolist(), MODULI, strict=True)
    ]
    assert sub_mod(a, b, q).tolist() == [
        [(x - y) % m for x, y in zip(ra, rb, strict=True)]
        for ra, rb, m in zip(a.tolist(), b.tolist(), MODULI, strict=True)
    ]
    assert neg_mod(a, q).tolist() == [
        [(-x) % m for x in ra] for ra, m in zip(a.tolist(), MODULI, strict=True)
    ]


def test_products_at_the_boundaries() -> None:
    top = full([[q - 1, q - 2, 1, 0] for q in MODULI])
    assert mul_mod(top, top, MODULI).tolist() == [
        [(v * v) % m for v in row] for row, m in zip(top.tolist(), MODULI, strict=True)
    ]
    scalars = [q - 1 for q in MODULI]
    assert mul_scalars(top, scalars, MODULI).tolist() == [
        [(v * c) % m for v in row] for row, c, m in zip(top.tolist(), scalars, MODULI, strict=True)
    ]
    lazy = top + 3 * np.array(MODULI, dtype=np.uint64)[:, None]  # inputs below 4q are fine
    assert np.array_equal(mul_mod(lazy, lazy, MODULI), mul_mod(top, top, MODULI))
