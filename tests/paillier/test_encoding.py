"""The python-paillier-compatible encoding: known answers from phe, round trips, overflow."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import EncodingOverflowError, KeyMismatchError, ParameterError
from heprim.paillier.encoding import BASE, LOG2_BASE, EncodedNumber
from heprim.paillier.keys import PrivateKey, PublicKey

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
Keys = tuple[PublicKey, PrivateKey]


def test_constants_match_phe() -> None:
    assert BASE == EncodedNumber.BASE == 16
    assert LOG2_BASE == EncodedNumber.LOG2_BASE == 4
    assert EncodedNumber.FLOAT_MANTISSA_BITS == 53


def test_encodings_match_phe_vectors(keys1024: Keys) -> None:
    data = json.loads((VECTORS / "paillier_phe.json").read_text())
    pk, sk = keys1024
    assert pk.n == int(data["p"], 16) * int(data["q"], 16)
    for case in data["encoded"]:
        value = float.fromhex(case["value"]) if case["kind"] == "float" else case["value"]
        code = EncodedNumber.encode(pk, value, precision=case["precision"])
        assert code.exponent == case["exponent"], case
        assert code.encoding == int(case["encoding"], 16), case
        # the phe ciphertext (value, exponent) decrypts to phe's own decryption here
        enc = pk.encrypt(code, r=int(case["r"], 16))
        assert enc.ciphertext == int(case["ciphertext"], 16)
        expected = case["decrypted"]
        got = sk.decrypt(enc)
        if isinstance(expected, str):
            assert got == float.fromhex(expected)
        else:
            assert got == expected and isinstance(got, int)


max_ints = st.integers(min_value=-(2**500), max_value=2**500)


@given(x=max_ints)
def test_int_round_trip(keys512: Keys, x: int) -> None:
    pk, _ = keys512
    code = EncodedNumber.encode(pk, x)
    assert code.exponent == 0 and 0 <= code.encoding < pk.n
    assert code.decode() == x and isinstance(code.decode(), int)


@given(x=st.floats(allow_nan=False, allow_infinity=False))
def test_float_round_trip_is_exact(keys512: Keys, x: float) -> None:
    pk, _ = keys512
    code = EncodedNumber.encode(pk, x)
    assert code.decode() == x


@given(
    x=st.floats(min_value=-1e12, max_value=1e12),
    digits=st.integers(min_value=-6, max_value=4),
)
def test_precision_bounds_the_error(keys512: Keys, x: float, digits: int) -> None:
    pk, _ = keys512
    precision = 10.0**digits
    code = EncodedNumber.encode(pk, x, precision=precision)
    assert code.exponent == math.floor(math.log(precision, 16))
    assert abs(Fraction(code.decode()) - Fraction(x)) <= Fraction(BASE) ** code.exponent / 2 * (
        1 + Fraction(1, 2**40)
    )


@given(x=st.floats(-1e6, 1e6), drop=st.integers(0, 20))
def test_decrease_exponent_keeps_the_value(keys512: Keys, x: float, drop: int) -> None:
    pk, _ = keys512
    code = EncodedNumber.encode(pk, x)
    lower = code.decrease_exponent_to(code.exponent - drop)
    assert lower.exponent == code.exponent - drop
    assert lower.decode() == code.decode()


def test_max_exponent_and_rounding_half_even(keys512: Keys) -> None:
    pk, _ = keys512
    assert EncodedNumber.encode(pk, 1.0, max_exponent=-3).exponent == -13  # (1 - 53) // 4
    assert EncodedNumber.encode(pk, 1.0, max_exponent=-20).exponent == -20
    assert EncodedNumber.encode(pk, 7, max_exponent=-2).exponent == -2
    # int with a positive exponent (coarse precision) rounds half to even, like phe
    assert EncodedNumber.encode(pk, 24, precision=16).decode() == 32  # 24/16 = 1.5 -> 2
    assert EncodedNumber.encode(pk, 40, precision=16).decode() == 32  # 2.5 -> 2
    assert EncodedNumber.encode(pk, -24, precision=16).decode() == -32
    assert EncodedNumber.encode(pk, 0.5, precision=1).decode() == 0
    assert EncodedNumber.encode(pk, 1.5, precision=1).decode() == 2


def test_numpy_and_gmpy_scalars(keys512: Keys) -> None:
    import gmpy2

    pk, _ = keys512
    assert EncodedNumber.encode(pk, np.int64(-5)).decode() == -5
    assert EncodedNumber.encode(pk, gmpy2.mpz(9)).decode() == 9
    assert EncodedNumber.encode(pk, np.float32(0.25)).decode() == 0.25
    assert EncodedNumber.encode(pk, np.float64(-2.5)).decode() == -2.5


def test_overflow_at_encode_and_decode(keys512: Keys) -> None:
    pk, _ = keys512
    assert EncodedNumber.encode(pk, pk.max_int).decode() == pk.max_int
    assert EncodedNumber.encode(pk, -pk.max_int).decode() == -pk.max_int
    for x in (pk.max_int + 1, -pk.max_int - 1, pk.n):
        with pytest.raises(EncodingOverflowError, match="max_int"):
            EncodedNumber.encode(pk, x)
    with pytest.raises(EncodingOverflowError):
        EncodedNumber.encode(pk, 1.0, precision=2.0**-600)
    for enc in (pk.max_int + 1, pk.n // 2, pk.n - pk.max_int - 1):
        with pytest.raises(EncodingOverflowError, match="overflow"):
            EncodedNumber(pk, enc, 0).decode()
    assert EncodedNumber(pk, pk.n - pk.max_int, 0).decode() == -pk.max_int


def test_float_too_large_to_decode(keys2048: Keys) -> None:
    pk, _ = keys2048
    with pytest.raises(EncodingOverflowError, match="too large for a float"):
        EncodedNumber(pk, pk.max_int, -1).decode()


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (True, "bool"),
        (False, "bool"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (-float("inf"), "finite"),
        ("1", "int or a float"),
        (1j, "int or a float"),
        (None, "int or a float"),
    ],
)
def test_encode_refusals(keys512: Keys, value: object, match: str) -> None:
    pk, _ = keys512
    with pytest.raises(ParameterError, match=match):
        EncodedNumber.encode(pk, value)  # type: ignore[arg-type]


def test_argument_refusals(keys512: Keys) -> None:
    pk, _ = keys512
    for precision in (0, -1e-3, float("nan"), float("inf"), True, "0.1"):
        with pytest.raises(ParameterError, match="precision"):
            EncodedNumber.encode(pk, 1.5, precision=precision)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="max_exponent"):
        EncodedNumber.encode(pk, 1.5, max_exponent=1.5)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="PublicKey"):
        EncodedNumber.encode(pk.n, 1)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="PublicKey"):
        EncodedNumber(None, 1, 0)  # type: ignore[arg-type]
    for encoding in (-1, pk.n, 1.0, True):
        with pytest.raises(ParameterError, match="encoding"):
            EncodedNumber(pk, encoding, 0)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="exponent"):
        EncodedNumber(pk, 1, 0.5)  # type: ignore[arg-type]
    code = EncodedNumber.encode(pk, 1.5)
    with pytest.raises(ParameterError, match="lowered"):
        code.decrease_exponent_to(code.exponent + 1)
    with pytest.raises(ParameterError, match="integer"):
        code.decrease_exponent_to(-20.0)  # type: ignore[arg-type]


def test_key_mismatch_and_repr(keys512: Keys, keys1024: Keys) -> None:
    pk, _ = keys512
    other, _ = keys1024
    code = EncodedNumber.encode(pk, 123456789)
    with pytest.raises(KeyMismatchError):
        other.encrypt(code)
    text = repr(code)
    assert "123456789" not in text and str(code.encoding) not in text
    assert pk.fingerprint[:8] in text
