"""Fixed-base window tables agree with plain modular exponentiation (gmpy2 as the oracle)."""

from __future__ import annotations

import gmpy2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import ParameterError
from heprim.paillier.fixedbase import FixedBaseTable, table_rows

MODULUS = (2**127 - 1) * (2**89 - 1)  # odd, composite: the table does not care
BASE = 0x1234567890ABCDEF


@pytest.fixture(scope="module", params=[1, 3, 8, 11])
def table(request: pytest.FixtureRequest) -> FixedBaseTable:
    return FixedBaseTable(BASE, MODULUS, 100, window=request.param)


@given(e=st.integers(min_value=0, max_value=2**100 - 1))
def test_pow_matches_powmod(table: FixedBaseTable, e: int) -> None:
    assert table.pow(e) == gmpy2.powmod(BASE, e, MODULUS)


@pytest.mark.parametrize("e", [0, 1, 2, 255, 256, 2**100 - 1, 2**99, 2**100, 2**300 + 5])
def test_pow_edges_and_fallback_beyond_the_table(table: FixedBaseTable, e: int) -> None:
    assert table.pow(e) == gmpy2.powmod(BASE, e, MODULUS)


def test_properties_and_progress() -> None:
    steps: list[tuple[int, int]] = []
    t = FixedBaseTable(BASE + MODULUS, MODULUS, 20, window=8, progress=lambda *a: steps.append(a))
    assert t.base == BASE and t.modulus == MODULUS and t.exp_bits == 20 and t.window == 8
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert t.memory_bytes == 3 * 256 * ((MODULUS.bit_length() + 7) // 8)
    assert "window=8" in repr(t)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base": 0}, "unit"),
        ({"base": 2**127 - 1}, "unit"),
        ({"modulus": 2**64}, "odd"),
        ({"modulus": 1}, "odd"),
        ({"exp_bits": 0}, "exp_bits"),
        ({"window": 0}, "window"),
        ({"window": 17}, "window"),
        ({"window": 8.0}, "integer"),
        ({"base": 1.5}, "integer"),
        ({"modulus": True}, "integer"),
    ],
)
def test_constructor_refusals(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"base": BASE, "modulus": MODULUS, "exp_bits": 16}
    args.update(kwargs)
    with pytest.raises(ParameterError, match=match):
        FixedBaseTable(**args)  # type: ignore[arg-type]


def test_pow_refusals() -> None:
    t = FixedBaseTable(BASE, MODULUS, 16)
    for bad in (-1, 1.0, True, "3"):
        with pytest.raises(ParameterError):
            t.pow(bad)  # type: ignore[arg-type]


def test_table_rows() -> None:
    assert [table_rows(100, w) for w in (1, 3, 8, 11, 16)] == [100, 34, 13, 10, 7]
    assert table_rows(1024, 8) == 128 == len(FixedBaseTable(BASE, MODULUS, 1024)._rows)
    for bad in (0, 17, 2.0, True):
        with pytest.raises(ParameterError, match="window"):
            table_rows(100, bad)  # type: ignore[arg-type]
