"""EncryptedNumber arithmetic: homomorphism for ints and floats, errors, re-randomisation."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import KeyMismatchError, ParameterError
from heprim.math.prng import KeyedPRNG
from heprim.paillier.encoding import EncodedNumber
from heprim.paillier.keys import PrivateKey, PublicKey
from heprim.paillier.number import EncryptedNumber

Keys = tuple[PublicKey, PrivateKey]
ints = st.integers(min_value=-(2**200), max_value=2**200)
small_ints = st.integers(min_value=-(2**60), max_value=2**60)
# Adding a float of magnitude 1e-300 aligns the other operand to exponent ~-260 and overflows a
# small key, as in phe; keep magnitudes in a range that fits a 512-bit key.
floats = st.floats(min_value=-1e9, max_value=1e9).filter(lambda x: x == 0 or abs(x) >= 1e-20)


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


@given(a=ints, b=ints)
def test_integer_addition_and_subtraction(keys512: Keys, a: int, b: int) -> None:
    pk, sk = keys512
    ea, eb = pk.encrypt(a), sk.encrypt(b)
    assert sk.decrypt(ea + eb) == a + b
    assert sk.decrypt(ea - eb) == a - b
    assert sk.decrypt(ea + b) == a + b
    assert sk.decrypt(b + ea) == a + b
    assert sk.decrypt(ea - b) == a - b
    assert sk.decrypt(b - ea) == b - a
    assert sk.decrypt(-ea) == -a


@given(a=ints, k=small_ints)
def test_integer_scalar_multiplication(keys512: Keys, a: int, k: int) -> None:
    pk, sk = keys512
    ea = pk.encrypt(a)
    assert sk.decrypt(ea * k) == a * k
    assert sk.decrypt(k * ea) == a * k
    assert sk.decrypt(ea * EncodedNumber.encode(pk, k)) == a * k


@given(a=floats, b=floats)
def test_float_addition(keys512: Keys, a: float, b: float) -> None:
    pk, sk = keys512
    ea, eb = pk.encrypt(a), pk.encrypt(b)
    assert close(sk.decrypt(ea + eb), a + b)
    assert close(sk.decrypt(ea - eb), a - b)
    assert close(sk.decrypt(ea + b), a + b)
    assert close(sk.decrypt(b - ea), b - a)


@given(a=floats, k=floats)
def test_float_scalar_multiplication_and_division(keys1024: Keys, a: float, k: float) -> None:
    pk, sk = keys1024
    ea = pk.encrypt(a)
    product = ea * k
    assert product.exponent == ea.exponent + EncodedNumber.encode(pk, k).exponent
    assert close(sk.decrypt(product), a * k)
    if k != 0:
        assert close(sk.decrypt(ea / k), a * (1 / k))


def test_mixed_exponents_align_by_lowering(keys512: Keys) -> None:
    pk, sk = keys512
    i, f = pk.encrypt(3), pk.encrypt(0.25)
    total = i + f
    assert total.exponent == f.exponent
    assert sk.decrypt(total) == 3.25
    assert sk.decrypt(f + i) == 3.25
    assert sk.decrypt(i + EncodedNumber.encode(pk, 0.5)) == 3.5
    assert sk.decrypt(f - EncodedNumber.encode(pk, 7)) == -6.75
    assert sk.decrypt(EncodedNumber.encode(pk, 7) - f) == 6.75
    assert sk.decrypt(i + 0.5) == 3.5
    lower = i.decrease_exponent_to(-3)
    assert lower.exponent == -3 and sk.decrypt(lower) == 3
    assert i.decrease_exponent_to(0).ciphertext == i.ciphertext


def test_sum_and_numpy_scalars(keys512: Keys) -> None:
    pk, sk = keys512
    values = [1, -2, 3.5, 10**30]
    assert sk.decrypt(sum(pk.encrypt(v) for v in values)) == sum(values)  # 0 + enc works
    e = pk.encrypt(6)
    assert sk.decrypt(e * np.int64(7)) == 42
    assert sk.decrypt(e + np.int32(1)) == 7
    assert sk.decrypt(e * np.float64(0.5)) == 3.0
    assert sk.decrypt(e * gmpy2.mpz(3)) == 18
    assert sk.decrypt(e + 0) == 6 and (e + 0).ciphertext == e.ciphertext


def test_results_are_not_rerandomised_until_obfuscated(keys512: Keys) -> None:
    pk, sk = keys512
    a, b = pk.encrypt(5), pk.encrypt(6)
    assert (a + b).ciphertext == (a + b).ciphertext == a.ciphertext * b.ciphertext % pk.nsquare
    assert (a * 3).ciphertext == pow(int(a.ciphertext), 3, int(pk.nsquare))
    s = a + b
    before = s.ciphertext
    s.obfuscate(rng=KeyedPRNG.from_int(1))
    assert s.ciphertext != before and sk.decrypt(s) == 11
    s.obfuscate(mode="standard")
    assert sk.decrypt(s) == 11
    assert pk.encrypt(5).ciphertext != a.ciphertext  # encrypt() is always fresh


def test_overflow_is_detected_on_decrypt(keys512: Keys) -> None:
    from heprim.errors import EncodingOverflowError

    pk, sk = keys512
    big = pk.encrypt(pk.max_int)
    with pytest.raises(EncodingOverflowError):
        sk.decrypt(big + big)
    with pytest.raises(EncodingOverflowError):
        sk.decrypt(big * 2)


def test_mixing_keys_raises(keys512: Keys, keys1024: Keys) -> None:
    pk, _ = keys512
    other, other_sk = keys1024
    a, b = pk.encrypt(1), other.encrypt(1)
    for op in (
        lambda: a + b,
        lambda: a - b,
        lambda: a + EncodedNumber.encode(other, 1),
        lambda: a - EncodedNumber.encode(other, 1),
        lambda: a * EncodedNumber.encode(other, 2),
        lambda: other_sk.decrypt(a),
        lambda: a.obfuscate(pool=_pool(other)),  # type: ignore[arg-type]
    ):
        with pytest.raises(KeyMismatchError):
            op()


def _pool(public_key: PublicKey) -> object:
    from heprim.paillier.pool import RandomnessPool

    return RandomnessPool(public_key, 1, mode="standard")


def test_unknown_types_return_not_implemented(keys512: Keys) -> None:
    pk, _ = keys512
    e = pk.encrypt(1)
    for other in ("1", None, [1], True, 1j):
        assert e.__add__(other) is NotImplemented
        assert e.__sub__(other) is NotImplemented
        assert e.__rsub__(other) is NotImplemented
        assert e.__mul__(other) is NotImplemented
        assert e.__truediv__(other) is NotImplemented
    with pytest.raises(TypeError):
        e * e  # the product of two ciphertexts is not defined
    with pytest.raises(TypeError):
        e < e  # type: ignore[operator]  # noqa: B015
    with pytest.raises(TypeError):
        e + True  # type: ignore[operator]
    with pytest.raises(TypeError):
        e / e  # type: ignore[operator]


def test_constructor_and_argument_errors(keys512: Keys) -> None:
    pk, sk = keys512
    c = pk.raw_encrypt(3)
    assert sk.decrypt(EncryptedNumber(pk, c)) == 3
    assert sk.decrypt(EncryptedNumber(pk, gmpy2.mpz(c), np.int64(0))) == 3
    for bad in (0, pk.nsquare, sk.p, 1.0, True):
        with pytest.raises(ParameterError):
            EncryptedNumber(pk, bad)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="PublicKey"):
        EncryptedNumber(pk.n, c)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="exponent"):
        EncryptedNumber(pk, c, 1.5)  # type: ignore[arg-type]
    e = EncryptedNumber(pk, c, -2)
    with pytest.raises(ParameterError, match="lowered"):
        e.decrease_exponent_to(-1)
    with pytest.raises(ParameterError, match="integer"):
        e.decrease_exponent_to(None)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="zero"):
        e / 0
    with pytest.raises(ParameterError, match="EncryptedNumber"):
        sk.decrypt(c)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="mode"):
        e.obfuscate(mode="x")  # type: ignore[arg-type]


def test_repr_shows_no_ciphertext(keys512: Keys) -> None:
    pk, _ = keys512
    e = pk.encrypt(1234567)
    text = repr(e)
    assert str(e.ciphertext) not in text and "1234567" not in text
    assert pk.fingerprint[:8] in text and e.fingerprint == pk.fingerprint
