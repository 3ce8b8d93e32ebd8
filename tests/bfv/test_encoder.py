"""heprim.bfv.encoder: batching (slot order, SIMD arithmetic), coefficients, every refusal.

Oracles: the definition of the CRT isomorphism (slot products are polynomial products modulo
``t``, computed by the schoolbook negacyclic convolution), the automorphism ``X -> X^k`` on the
plaintext polynomial, numpy's ``roll``; SEAL's own encodings are in test_interop_seal.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim import bfv
from heprim.errors import EncodingOverflowError, KeyMismatchError, ParameterError
from heprim.ring import Ring

from .conftest import EVEN, SMALL, TINY, centered, insecure

PARAMS = insecure(TINY)  # N = 256, t = 65537
T = PARAMS.plain_modulus
N = PARAMS.degree


def negacyclic(a: np.ndarray, b: np.ndarray, t: int) -> np.ndarray:
    n = len(a)
    full = np.zeros(2 * n, dtype=object)
    for i, x in enumerate(a.tolist()):
        if x:
            full[i : i + n] += x * np.array(b.tolist(), dtype=object)
    return np.array([(full[i] - full[i + n]) % t for i in range(n)], dtype=np.int64)


slots = st.lists(st.integers(-(T // 2), T - 1), min_size=0, max_size=N)


@given(slots)
def test_batch_round_trip(values: list[int]) -> None:
    encoder = bfv.BatchEncoder(PARAMS)
    decoded = encoder.decode(encoder.encode(values))
    expected = centered(np.array(values + [0] * (N - len(values)), dtype=np.int64), T)
    assert np.array_equal(decoded, expected)
    unsigned = encoder.decode(encoder.encode(values), signed=False)
    assert np.array_equal(unsigned, np.mod(expected, T))


@given(
    st.lists(st.integers(-100, 100), min_size=N, max_size=N),
    st.lists(st.integers(-100, 100), min_size=N, max_size=N),
)
def test_slots_multiply_and_add_pointwise(a: list[int], b: list[int]) -> None:
    encoder = bfv.BatchEncoder(PARAMS)
    pa, pb = encoder.encode(a), encoder.encode(b)
    product = negacyclic(pa.coefficients.astype(np.int64), pb.coefficients.astype(np.int64), T)
    assert np.array_equal(encoder.decode(bfv.Plaintext(PARAMS, product)), np.array(a) * np.array(b))
    total = (pa.coefficients + pb.coefficients) % T
    assert np.array_equal(encoder.decode(bfv.Plaintext(PARAMS, total)), np.array(a) + np.array(b))


def _automorphism(plain: bfv.Plaintext, k: int) -> bfv.Plaintext:
    ring = Ring(N, (T,))
    moved = ring.from_ints(plain.coefficients.astype(np.int64)).automorphism(k)
    return bfv.Plaintext(PARAMS, np.array(moved.data[0], dtype=np.int64))


@pytest.mark.parametrize("steps", [1, 2, 5, N // 2 - 1])
def test_slot_order_rotates_rows_under_powers_of_three(steps: int) -> None:
    encoder = bfv.BatchEncoder(PARAMS)
    values = np.arange(N) - N // 2
    rotated = encoder.decode(_automorphism(encoder.encode(values), pow(3, steps, 2 * N)))
    row = N // 2
    expected = np.concatenate([np.roll(values[:row], -steps), np.roll(values[row:], -steps)])
    assert np.array_equal(rotated, expected)


def test_slot_order_swaps_rows_under_minus_one() -> None:
    encoder = bfv.BatchEncoder(PARAMS)
    values = np.arange(N)
    swapped = encoder.decode(_automorphism(encoder.encode(values), 2 * N - 1))
    assert np.array_equal(swapped, np.concatenate([values[N // 2 :], values[: N // 2]]))


def test_matrix_input_and_properties() -> None:
    encoder = bfv.BatchEncoder(PARAMS)
    matrix = np.arange(N).reshape(2, N // 2)
    assert np.array_equal(encoder.decode(encoder.encode(matrix)), matrix.reshape(-1))
    assert encoder.slot_count == N and encoder.row_size == N // 2
    assert "BatchEncoder" in repr(encoder)
    assert np.array_equal(encoder.decode(encoder.encode(np.array([], dtype=np.int64))), np.zeros(N))
    # Python big ints (object arrays) and numpy unsigned arrays
    big = encoder.encode([T - 1, 2**3])
    assert encoder.decode(big)[:2].tolist() == [-1, 8]
    assert encoder.decode(encoder.encode(np.array([T - 1], dtype=np.uint64)))[0] == -1


def test_a_constant_polynomial_fills_every_slot() -> None:
    encoder = bfv.BatchEncoder(PARAMS)
    assert np.array_equal(encoder.decode(bfv.Plaintext(PARAMS, [7])), np.full(N, 7))


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        ([T], EncodingOverflowError, "outside"),
        ([-(T // 2) - 1], EncodingOverflowError, "outside"),
        ([2**70], EncodingOverflowError, "outside"),
        (np.array([T], dtype=np.uint64), EncodingOverflowError, "outside"),
        (list(range(N + 1)), EncodingOverflowError, "do not fit"),
        ([1.5], ParameterError, "round floats"),
        ([True, False], ParameterError, "booleans"),
        (np.zeros((3, N // 2), dtype=np.int64), ParameterError, "shape"),
        (np.zeros((2, 2, 2), dtype=np.int64), ParameterError, "vector or a"),
        (["a"], ParameterError, "integers"),
        ([1, None], ParameterError, "integers"),
    ],
)
def test_encode_refusals(values: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        bfv.BatchEncoder(PARAMS).encode(values)


def test_decode_refusals() -> None:
    encoder = bfv.BatchEncoder(PARAMS)
    with pytest.raises(ParameterError, match="Plaintext"):
        encoder.decode([1, 2])  # type: ignore[arg-type]
    other = bfv.Plaintext(insecure(SMALL), [1])
    with pytest.raises(KeyMismatchError, match="other BFV parameters"):
        encoder.decode(other)
    with pytest.raises(ParameterError, match="Parameters"):
        bfv.BatchEncoder("N8192")  # type: ignore[arg-type]


@given(st.lists(st.integers(-(2**11), 2**12 - 1), max_size=512))
def test_coefficient_round_trip_even_t(values: list[int]) -> None:
    params = insecure(EVEN)  # t = 4096
    encoder = bfv.CoefficientEncoder(params)
    plain = encoder.encode(values)
    expected = centered(np.array(values + [0] * (512 - len(values)), dtype=np.int64), 4096)
    assert np.array_equal(encoder.decode(plain), expected)
    assert np.array_equal(encoder.decode(plain, signed=False), np.mod(expected, 4096))


def test_coefficient_encoder_refusals() -> None:
    encoder = bfv.CoefficientEncoder(insecure(EVEN))
    with pytest.raises(ParameterError, match="one-dimensional"):
        encoder.encode(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(EncodingOverflowError):
        encoder.encode([4096])
    with pytest.raises(ParameterError, match="Plaintext"):
        encoder.decode(np.zeros(4))  # type: ignore[arg-type]
    assert "CoefficientEncoder" in repr(encoder)


def test_plaintext_value_semantics() -> None:
    a = bfv.Plaintext(PARAMS, [1, -1, 3])
    b = bfv.Plaintext(PARAMS, np.array([1, T - 1, 3]))
    assert a == b and a != bfv.Plaintext(PARAMS, [1])
    assert a.__eq__("x") is NotImplemented
    assert a.coefficients.flags.writeable is False
    assert a.centered()[:3].tolist() == [1, -1, 3]
    assert "3 nonzero" in repr(a)
    with pytest.raises(TypeError):
        hash(a)
    with pytest.raises(ParameterError, match="Parameters"):
        bfv.Plaintext(None, [1])  # type: ignore[arg-type]
