"""VectorEncoding: exact integers, clipped stochastic floats, weights, the overflow rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import EncodingOverflowError, ParameterError, SerializationError
from heprim.math.prng import KeyedPRNG
from heprim.secagg.encoding import Aggregate, VectorEncoding


@given(
    low=st.integers(-(2**40), 2**40),
    span=st.integers(0, 2**20),
    n=st.integers(1, 50),
    data=st.data(),
)
def test_integer_sums_are_exact(low: int, span: int, n: int, data: st.DataObject) -> None:
    enc = VectorEncoding.integers(low, low + span)
    width = enc.width(n)
    vectors = [
        data.draw(st.lists(st.integers(low, low + span), min_size=3, max_size=3)) for _ in range(n)
    ]
    total = np.zeros(3, dtype=np.dtype(f"u{width // 8}"))
    for v in vectors:
        total += enc.encode(v, width)
    agg = enc.decode(total, n)
    assert [int(x) for x in agg.sum] == [sum(col) for col in zip(*vectors, strict=True)]
    assert agg.weight == agg.count == n


def test_modulus_rule_is_tight() -> None:
    enc = VectorEncoding.integers(0, 255)
    # 255 * n must stay below 2^bits, and bits - 1 must not suffice.
    for n in (1, 2, 100, 257, 10_000):
        bits = enc.modulus_bits(n)
        assert 255 * n < 2**bits
        assert 255 * n >= 2 ** (bits - 1)
    assert enc.width(1) == 8
    assert enc.width(2) == 16
    assert VectorEncoding.floats(-1, 1, 16).width(100_000) == 64
    with pytest.raises(ParameterError, match="64-bit"):
        VectorEncoding.floats(-1, 1, 52).width(2**13)
    with pytest.raises(ParameterError):
        enc.modulus_bits(0)


def test_check_width_refuses_a_too_small_modulus() -> None:
    enc = VectorEncoding.integers(0, 2**16 - 1)
    enc.check_width(32, 2**16 + 1)  # (2^16 - 1)(2^16 + 1) = 2^32 - 1 fits
    with pytest.raises(EncodingOverflowError, match="cannot hold"):
        enc.check_width(32, 2**16 + 2)


def test_integers_are_never_clipped() -> None:
    enc = VectorEncoding.integers(-5, 5)
    with pytest.raises(EncodingOverflowError, match="never clipped"):
        enc.encode([6], 8)
    with pytest.raises(EncodingOverflowError):
        enc.encode([-6], 8)
    with pytest.raises(ParameterError, match="integer values"):
        enc.encode([0.5], 8)
    with pytest.raises(ParameterError, match="flat vector"):
        enc.encode([[1]], 8)


def test_integer_extremes_and_object_inputs() -> None:
    enc = VectorEncoding.integers(-(2**63), 2**63 - 1)
    width = enc.width(1)
    assert width == 64
    raw = enc.encode(np.array([-(2**63), 2**63 - 1, 0], dtype=object), width)
    assert [int(x) for x in enc.decode(raw, 1).sum] == [-(2**63), 2**63 - 1, 0]
    # A sum beyond int64 comes back as Python integers.
    big = VectorEncoding.integers(2**62, 2**62 + 1)
    w2 = big.width(4)
    total = sum(big.encode(np.array([2**62 + 1], dtype=np.int64), w2) for _ in range(4))
    assert big.decode(np.asarray(total), 4).sum.tolist() == [2**64 + 4]


def test_floats_are_clipped_to_the_user_range(rng) -> None:
    enc = VectorEncoding.floats(-1.0, 1.0, 8)
    raw = enc.encode([-5.0, 5.0, -1.0, 1.0], enc.width(1), rng=rng)
    assert raw.tolist() == [0, 255, 0, 255]
    agg = enc.decode(raw, 1)
    assert agg.sum.tolist() == [-1.0, 1.0, -1.0, 1.0]
    with pytest.raises(ParameterError, match="NaN"):
        enc.encode([float("nan")], 8, rng=rng)


def test_stochastic_rounding_is_unbiased() -> None:
    enc = VectorEncoding.floats(0.0, 1.0, 2)  # levels 0, 1/3, 2/3, 1
    x = np.full(20_000, 0.1)
    raw = enc.encode(x, 16, rng=KeyedPRNG.from_int(5))
    assert set(raw.tolist()) == {0, 1}
    # E[q] = 0.3: the mean of 20000 Bernoulli(0.3) is within 5 sigma (sigma ~ 0.0032).
    assert abs(raw.mean() - 0.3) < 0.017


def test_weights() -> None:
    enc = VectorEncoding.integers(0, 10, max_weight=3)
    width = enc.width(2)
    total = enc.encode([10, 1], width, weight=3) + enc.encode([2, 2], width, weight=1)
    agg = enc.decode(total, 2)
    assert agg.sum.tolist() == [32, 5]
    assert agg.weight == 4
    assert agg.mean().tolist() == [8.0, 1.25]
    with pytest.raises(EncodingOverflowError, match="outside"):
        enc.encode([1, 1], width, weight=4)
    with pytest.raises(ParameterError, match="weighted"):
        enc.encode([1, 1], width)
    with pytest.raises(ParameterError, match="unweighted"):
        VectorEncoding.integers(0, 1).encode([1], 8, weight=1)
    zero = Aggregate(np.zeros(1), 0, 0, np.zeros(1, dtype=np.uint8))
    with pytest.raises(ParameterError, match="zero"):
        zero.mean()


def test_weighted_floats() -> None:
    enc = VectorEncoding.floats(-2.0, 2.0, 12, max_weight=100)
    width = enc.width(3)
    rng = KeyedPRNG.from_int(1)
    total = sum(enc.encode([0.5, -2.0], width, weight=w, rng=rng) for w in (10, 20, 30))
    agg = enc.decode(np.asarray(total), 3)
    assert agg.weight == 60
    assert np.allclose(agg.mean(), [0.5, -2.0], atol=4 / 4095)


@pytest.mark.parametrize(
    "make",
    [
        lambda: VectorEncoding.integers(1, 0),
        lambda: VectorEncoding.integers(0, 2**63),
        lambda: VectorEncoding.integers(0.5, 1),  # type: ignore[arg-type]
        lambda: VectorEncoding.floats(1.0, 1.0, 8),
        lambda: VectorEncoding.floats(0.0, float("inf"), 8),
        lambda: VectorEncoding.floats(0.0, 1.0, 0),
        lambda: VectorEncoding.floats(0.0, 1.0, 53),
        lambda: VectorEncoding.floats(True, 1.0, 8),
        lambda: VectorEncoding.floats("a", 1.0, 8),  # type: ignore[arg-type]
        lambda: VectorEncoding.integers(0, 1, max_weight=0),
        lambda: VectorEncoding.integers(0, 1, max_weight=True),
    ],
)
def test_constructor_errors(make) -> None:
    with pytest.raises(ParameterError):
        make()


@pytest.mark.parametrize(
    "enc",
    [
        VectorEncoding.integers(-(2**63), 2**63 - 1),
        VectorEncoding.integers(0, 1, max_weight=7),
        VectorEncoding.floats(-0.25, 3.5, 20),
        VectorEncoding.floats(-1, 1, 8, max_weight=2**40),
    ],
)
def test_wire_roundtrip(enc: VectorEncoding) -> None:
    data = enc.to_bytes()
    assert len(data) == enc.nbytes
    assert VectorEncoding.from_bytes(data) == enc


def test_wire_errors() -> None:
    data = VectorEncoding.integers(0, 1).to_bytes()
    with pytest.raises(SerializationError):
        VectorEncoding.from_bytes(data[:-1])
    with pytest.raises(SerializationError, match="kind"):
        VectorEncoding.from_bytes(b"\x07" + data[1:])
    bad = bytearray(VectorEncoding.floats(0, 1, 8).to_bytes())
    bad[1] = 0  # zero quantisation bits
    with pytest.raises(SerializationError, match="invalid"):
        VectorEncoding.from_bytes(bytes(bad))
