"""EncryptedVector: encryption of numpy arrays, homomorphic arithmetic, parallel chunks.

Oracles: exact Python integer and Fraction arithmetic on the plaintexts (the encoding is exact, so
every result must match to the last bit), and python-paillier for the choice of exponent and the
encodings (differential, skipped without phe).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import gmpy2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import EncodingOverflowError, KeyMismatchError, ParameterError
from heprim.math.prng import KeyedPRNG
from heprim.paillier.keys import PrivateKey, PublicKey
from heprim.paillier.number import EncryptedNumber
from heprim.paillier.vector import (
    CHUNK_SIZE,
    EncryptedVector,
    decrypt_vector,
    encrypt_vector,
    raw_decrypt_many,
    raw_encrypt_many,
    raw_obfuscate_many,
)

pytestmark = pytest.mark.filterwarnings("ignore::heprim.errors.InsecureParametersWarning")


@pytest.fixture(scope="module")
def sk(keys512: tuple[PublicKey, PrivateKey]) -> PrivateKey:
    return keys512[1]


@pytest.fixture(scope="module")
def pk(keys512: tuple[PublicKey, PrivateKey]) -> PublicKey:
    return keys512[0]


@pytest.fixture(scope="module")
def other_pk(keys1024: tuple[PublicKey, PrivateKey]) -> PublicKey:
    return keys1024[0]


int64s = st.integers(-(2**63), 2**63 - 1)
small_ints = st.integers(-(2**40), 2**40)
# A 512-bit key holds mantissas of ~510 bits: keep the dynamic range of a vector within that
# (1e-30 .. 1e12 is about 140 bits plus the 53 of the mantissa); wider ranges are tested apart.
finite_floats = st.floats(min_value=-1e12, max_value=1e12).filter(
    lambda x: x == 0 or abs(x) > 1e-30
)


def exact(x: Any) -> Fraction:
    return Fraction(x)


# --------------------------------------------------------------------------- round trips


@given(values=st.lists(int64s, min_size=1, max_size=12))
def test_int64_round_trip(sk: PrivateKey, values: list[int]) -> None:
    arr = np.array(values, dtype=np.int64)
    vec = encrypt_vector(sk.public_key, arr, rng=KeyedPRNG.from_int(len(values)))
    assert vec.exponent == 0 and vec.shape == arr.shape
    out = decrypt_vector(sk, vec)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, arr)


@given(values=st.lists(finite_floats, min_size=1, max_size=12))
def test_float_round_trip_is_exact(sk: PrivateKey, values: list[float]) -> None:
    vec = encrypt_vector(sk.public_key, np.array(values), rng=KeyedPRNG.from_int(7))
    out = decrypt_vector(sk, vec)
    assert out.dtype == np.float64
    assert out.tolist() == values  # every element keeps its 53-bit mantissa


def test_shape_dtypes_and_extremes(sk: PrivateKey, pk: PublicKey) -> None:
    rng = KeyedPRNG.from_int(3)
    grid = np.array([[np.iinfo(np.int64).min, -1, 0], [1, 2, np.iinfo(np.int64).max]])
    np.testing.assert_array_equal(decrypt_vector(sk, encrypt_vector(pk, grid, rng=rng)), grid)
    for dtype in (np.uint8, np.int16, np.uint32, np.float32, np.float16):
        arr = np.arange(5).astype(dtype) * 3
        out = decrypt_vector(sk, encrypt_vector(pk, arr, rng=rng))
        np.testing.assert_array_equal(out, arr.astype(out.dtype))
    unsigned = np.array([2**64 - 1], dtype=np.uint64)
    vec = encrypt_vector(pk, unsigned, rng=rng)
    assert decrypt_vector(sk, vec, dtype=object).tolist() == [2**64 - 1]
    with pytest.raises(EncodingOverflowError, match="int64"):
        decrypt_vector(sk, vec)


def test_big_python_ints_need_dtype_object(sk: PrivateKey, pk: PublicKey) -> None:
    values = [pk.max_int, -pk.max_int, 2**100, 0]
    vec = encrypt_vector(pk, np.array(values, dtype=object), rng=KeyedPRNG.from_int(4))
    assert decrypt_vector(sk, vec, dtype=object).tolist() == values
    assert decrypt_vector(sk, vec[3:], dtype="int64").tolist() == [0]
    with pytest.raises(EncodingOverflowError, match=r"element \(0,\).*dtype=object"):
        decrypt_vector(sk, vec)
    floats = decrypt_vector(sk, vec[2:], dtype=np.float64)
    assert floats.tolist() == [2.0**100, 0.0]


def test_mixed_object_array_takes_the_lowest_exponent(sk: PrivateKey, pk: PublicKey) -> None:
    values = [3, 0.25, gmpy2.mpz(-5), np.float32(1.5)]
    vec = encrypt_vector(pk, np.array(values, dtype=object), rng=KeyedPRNG.from_int(5))
    assert decrypt_vector(sk, vec).tolist() == [3.0, 0.25, -5.0, 1.5]
    assert decrypt_vector(sk, vec, dtype=object).tolist() == [3.0, 0.25, -5.0, 1.5]


def test_private_key_crt_and_standard_modes_decrypt(sk: PrivateKey, pk: PublicKey) -> None:
    arr = np.array([5, -7, 11])
    for key, mode in ((sk, "djn"), (sk, "standard"), (pk, "standard"), (pk, "djn")):
        vec = encrypt_vector(key, arr, mode=mode, rng=KeyedPRNG.from_int(6))  # type: ignore[arg-type]
        assert vec.public_key == pk
        np.testing.assert_array_equal(decrypt_vector(sk, vec), arr)
    delegated = pk.encrypt_vector(arr, rng=KeyedPRNG.from_int(6))
    np.testing.assert_array_equal(sk.decrypt_vector(delegated), arr)


def test_precision_and_max_exponent(sk: PrivateKey, pk: PublicKey) -> None:
    vec = encrypt_vector(pk, [0.123456, 2.5], precision=1e-3, rng=KeyedPRNG.from_int(8))
    assert vec.exponent == -3  # floor(log16(1e-3)) = floor(-2.49)
    out = decrypt_vector(sk, vec)
    np.testing.assert_allclose(out, [0.123456, 2.5], atol=16.0**-3)
    ints = encrypt_vector(pk, [1, 2], max_exponent=-2, rng=KeyedPRNG.from_int(8))
    assert ints.exponent == -2
    assert decrypt_vector(sk, ints).tolist() == [1.0, 2.0]


# --------------------------------------------------------------------------- homomorphism


@given(
    a=st.lists(small_ints, min_size=1, max_size=6),
    data=st.data(),
)
def test_integer_homomorphism(sk: PrivateKey, a: list[int], data: st.DataObject) -> None:
    n = len(a)
    b = data.draw(st.lists(small_ints, min_size=n, max_size=n))
    k = data.draw(st.integers(-(2**20), 2**20))
    w = data.draw(st.lists(st.integers(-(2**20), 2**20), min_size=n, max_size=n))
    pk = sk.public_key
    rng = KeyedPRNG.from_int(sum(a) % 1000)
    ea, eb = encrypt_vector(pk, a, rng=rng), encrypt_vector(pk, b, rng=rng)
    dec = lambda v: decrypt_vector(sk, v, dtype=object).tolist()  # noqa: E731
    assert dec(ea + eb) == [x + y for x, y in zip(a, b, strict=True)]
    assert dec(ea - eb) == [x - y for x, y in zip(a, b, strict=True)]
    assert dec(ea + np.array(b)) == [x + y for x, y in zip(a, b, strict=True)]
    assert dec(np.array(b) - ea) == [y - x for x, y in zip(a, b, strict=True)]
    assert dec(ea * k) == [x * k for x in a]
    assert dec(k * ea) == [x * k for x in a]
    assert dec(ea * np.array(w)) == [x * y for x, y in zip(a, w, strict=True)]
    assert dec(-ea) == [-x for x in a]
    assert sk.decrypt(ea.sum()) == sum(a)
    assert sk.decrypt(ea.dot(w)) == sum(x * y for x, y in zip(a, w, strict=True))
    assert dec(ea + k) == [x + k for x in a]
    assert dec(ea - k) == [x - k for x in a]


@given(
    a=st.lists(finite_floats, min_size=1, max_size=5),
    data=st.data(),
)
def test_float_homomorphism_is_exact_up_to_final_rounding(
    sk: PrivateKey, a: list[float], data: st.DataObject
) -> None:
    n = len(a)
    b = data.draw(st.lists(finite_floats, min_size=n, max_size=n))
    k = data.draw(
        st.floats(min_value=-1e3, max_value=1e3).filter(lambda x: x == 0 or abs(x) > 1e-9)
    )
    pk = sk.public_key
    ea = encrypt_vector(pk, a, rng=KeyedPRNG.from_int(9))
    eb = encrypt_vector(pk, b, rng=KeyedPRNG.from_int(10))
    # Exact rational results, correctly rounded once at decryption.
    assert decrypt_vector(sk, ea + eb).tolist() == [
        float(exact(x) + exact(y)) for x, y in zip(a, b, strict=True)
    ]
    assert decrypt_vector(sk, ea - np.array(b)).tolist() == [
        float(exact(x) - exact(y)) for x, y in zip(a, b, strict=True)
    ]
    assert decrypt_vector(sk, ea * k).tolist() == [float(exact(x) * exact(k)) for x in a]
    assert sk.decrypt(ea.sum()) == float(sum(map(exact, a)))


def test_mixed_exponents_align(sk: PrivateKey, pk: PublicKey) -> None:
    ints = encrypt_vector(pk, [1, 2, 3], rng=KeyedPRNG.from_int(11))
    floats = encrypt_vector(pk, [0.5, 0.25, 0.125], rng=KeyedPRNG.from_int(12))
    assert ints.exponent == 0 and floats.exponent < 0
    assert decrypt_vector(sk, ints + floats).tolist() == [1.5, 2.25, 3.125]
    assert decrypt_vector(sk, floats + ints).tolist() == [1.5, 2.25, 3.125]
    assert decrypt_vector(sk, ints + 0.5).tolist() == [1.5, 2.5, 3.5]
    assert decrypt_vector(sk, ints / 4).tolist() == [0.25, 0.5, 0.75]
    assert decrypt_vector(sk, ints / np.array([1, 2, 4])).tolist() == [1.0, 1.0, 0.75]
    number = pk.encrypt(0.5, rng=KeyedPRNG.from_int(13))
    assert decrypt_vector(sk, ints + number).tolist() == [1.5, 2.5, 3.5]
    assert decrypt_vector(sk, ints - number).tolist() == [0.5, 1.5, 2.5]
    assert decrypt_vector(sk, number - ints).tolist() == [-0.5, -1.5, -2.5]
    assert decrypt_vector(sk, +floats).tolist() == [0.5, 0.25, 0.125]
    lowered = ints.decrease_exponent_to(-3)
    assert lowered.exponent == -3 and decrypt_vector(sk, lowered).tolist() == [1.0, 2.0, 3.0]
    same = ints.decrease_exponent_to(0)
    assert same is not ints and same.ciphertexts == ints.ciphertexts


def test_sum_builtin_broadcasting_and_2d(sk: PrivateKey, pk: PublicKey) -> None:
    rng = KeyedPRNG.from_int(14)
    grid = np.arange(6).reshape(2, 3)
    vecs = [encrypt_vector(pk, grid * i, rng=rng) for i in range(1, 4)]
    total = sum(vecs)
    assert isinstance(total, EncryptedVector)
    np.testing.assert_array_equal(decrypt_vector(sk, total), grid * 6)
    np.testing.assert_array_equal(
        decrypt_vector(sk, vecs[0] + np.array([10, 20, 30])), grid + np.array([10, 20, 30])
    )
    np.testing.assert_array_equal(
        decrypt_vector(sk, vecs[0] * np.array([[2], [3]])), grid * [[2], [3]]
    )
    assert sk.decrypt(vecs[0].dot(grid)) == int((grid * grid).sum())


def test_overflow_band_is_detected_and_named(sk: PrivateKey, pk: PublicKey) -> None:
    vec = encrypt_vector(pk, np.array([1, pk.max_int], dtype=object), rng=KeyedPRNG.from_int(15))
    with pytest.raises(EncodingOverflowError, match=r"element \(1,\)"):
        decrypt_vector(sk, vec * 2)
    with pytest.raises(EncodingOverflowError, match=r"element \(1,\)"):
        encrypt_vector(pk, np.array([0, pk.max_int + 1], dtype=object))


def test_too_wide_a_dynamic_range_is_refused(pk: PublicKey) -> None:
    # 1e-223 forces exponent -198, at which 1.0 needs a 793-bit mantissa: more than n // 3.
    with pytest.raises(EncodingOverflowError, match=r"element \(0,\).*exponent -198"):
        encrypt_vector(pk, [1.0, 2.9e-223])
    vec = encrypt_vector(pk, [1.0, 2.9e-223], precision=1e-6)  # the caller's way out
    assert vec.exponent == -5


def test_zero_and_empty(sk: PrivateKey, pk: PublicKey) -> None:
    vec = encrypt_vector(pk, [3, 4], rng=KeyedPRNG.from_int(16))
    assert decrypt_vector(sk, vec * 0).tolist() == [0, 0]
    assert decrypt_vector(sk, vec * -1).tolist() == [-3, -4]
    empty = encrypt_vector(pk, np.array([], dtype=np.int64))
    assert empty.shape == (0,) and sk.decrypt(empty.sum()) == 0
    assert decrypt_vector(sk, empty).shape == (0,)
    assert sk.decrypt(empty.dot(np.array([], dtype=np.int64))) == 0


# --------------------------------------------------------------------------- indexing, views


def test_indexing_iteration_reshape(sk: PrivateKey, pk: PublicKey) -> None:
    grid = np.arange(12).reshape(3, 4)
    vec = encrypt_vector(pk, grid, rng=KeyedPRNG.from_int(17))
    assert len(vec) == 3 and vec.ndim == 2 and vec.size == 12
    item = vec[1, 2]
    assert isinstance(item, EncryptedNumber) and sk.decrypt(item) == 6
    row = vec[2]
    assert isinstance(row, EncryptedVector) and decrypt_vector(sk, row).tolist() == [8, 9, 10, 11]
    col = vec[:, 1]
    assert isinstance(col, EncryptedVector) and decrypt_vector(sk, col).tolist() == [1, 5, 9]
    assert [decrypt_vector(sk, r).tolist() for r in vec] == grid.tolist()  # type: ignore[arg-type]
    flat = vec.reshape(-1)
    assert flat.shape == (12,) and decrypt_vector(sk, flat[::5]).tolist() == [0, 5, 10]
    assert vec.reshape(4, 3).shape == (4, 3)
    with pytest.raises(ParameterError, match="reshape"):
        vec.reshape(5, 5)
    with pytest.raises(IndexError):
        vec[3]
    assert "shape=(3, 4)" in repr(vec) and pk.fingerprint[:8] in repr(vec)
    assert len(vec.ciphertexts) == 12


def test_constructor_validates(sk: PrivateKey, pk: PublicKey) -> None:
    good = encrypt_vector(pk, [1, 2, 3, 4], rng=KeyedPRNG.from_int(18))
    rebuilt = EncryptedVector(pk, good.ciphertexts, 0, (2, 2))
    assert decrypt_vector(sk, rebuilt).tolist() == [[1, 2], [3, 4]]
    assert EncryptedVector(pk, good.ciphertexts).shape == (4,)
    with pytest.raises(ParameterError, match="ciphertext"):
        EncryptedVector(pk, [0])
    with pytest.raises(ParameterError, match="coprime"):
        EncryptedVector(pk, [int(sk.p)])
    with pytest.raises(ParameterError, match="holds 6 elements"):
        EncryptedVector(pk, good.ciphertexts, 0, (2, 3))
    with pytest.raises(ParameterError, match="shape"):
        EncryptedVector(pk, good.ciphertexts, 0, (-1, -4))
    with pytest.raises(ParameterError, match="at least one dimension"):
        EncryptedVector(pk, [], 0, ())
    with pytest.raises(ParameterError, match="exponent"):
        EncryptedVector(pk, good.ciphertexts, True)
    with pytest.raises(ParameterError, match="iterable"):
        EncryptedVector(pk, "123")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="PublicKey"):
        EncryptedVector(sk, good.ciphertexts)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- re-randomisation


def test_obfuscate_changes_ciphertexts_not_values(sk: PrivateKey, pk: PublicKey) -> None:
    vec = encrypt_vector(pk, [1, -1, 0], rng=KeyedPRNG.from_int(19))
    total = vec + vec
    before = total.ciphertexts
    total.obfuscate(rng=KeyedPRNG.from_int(20))
    assert all(a != b for a, b in zip(before, total.ciphertexts, strict=True))
    assert decrypt_vector(sk, total).tolist() == [2, -2, 0]


# --------------------------------------------------------------------------- parallel chunks


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_workers_give_the_same_ciphertexts_as_sequential(
    sk: PrivateKey, pk: PublicKey, backend: str
) -> None:
    values = np.arange(-40, 3 * CHUNK_SIZE)  # several chunks, the last one partial
    seq = encrypt_vector(pk, values, rng=KeyedPRNG.from_int(21))
    calls: list[tuple[int, int]] = []
    par = encrypt_vector(
        pk,
        values,
        rng=KeyedPRNG.from_int(21),
        workers=2,
        backend=backend,  # type: ignore[arg-type]
        progress=lambda done, total: calls.append((done, total)),
    )
    assert par.ciphertexts == seq.ciphertexts
    assert [t for _, t in calls] == [values.size] * len(calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[-1][0] == values.size
    out = decrypt_vector(sk, par, workers=2, backend=backend)  # type: ignore[arg-type]
    np.testing.assert_array_equal(out, values)
    crt = encrypt_vector(sk, values, rng=KeyedPRNG.from_int(22), workers=2, backend=backend)  # type: ignore[arg-type]
    assert crt.ciphertexts == encrypt_vector(sk, values, rng=KeyedPRNG.from_int(22)).ciphertexts
    # The key holder's DJN by CRT is the public DJN ciphertext for the same seeds.
    assert crt.ciphertexts == encrypt_vector(pk, values, rng=KeyedPRNG.from_int(22)).ciphertexts
    std = encrypt_vector(
        sk,
        values,
        rng=KeyedPRNG.from_int(24),
        mode="standard",
        workers=2,
        backend=backend,  # type: ignore[arg-type]
    )
    seq = encrypt_vector(sk, values, rng=KeyedPRNG.from_int(24), mode="standard")
    assert std.ciphertexts == seq.ciphertexts != crt.ciphertexts
    np.testing.assert_array_equal(decrypt_vector(sk, std), values)
    again, reference = 0 + par, +par
    assert again is not par and reference is not par
    again.obfuscate(rng=KeyedPRNG.from_int(23), workers=2, backend=backend)  # type: ignore[arg-type]
    reference.obfuscate(rng=KeyedPRNG.from_int(23))
    assert again.ciphertexts == reference.ciphertexts != par.ciphertexts


def test_auto_backend_choice(sk: PrivateKey, pk: PublicKey) -> None:
    from heprim.paillier.vector import _resolve_backend

    # Python-level table products hold the GIL: processes. Long powmods release it: threads.
    assert _resolve_backend("auto", "encrypt", pk, "djn") == "process"
    assert _resolve_backend("auto", "encrypt", sk, "djn") == "process"
    assert _resolve_backend("auto", "obfuscate", pk, "djn") == "process"
    assert _resolve_backend("auto", "encrypt", pk, "standard") == "thread"
    assert _resolve_backend("auto", "encrypt", sk, "standard") == "thread"
    assert _resolve_backend("auto", "decrypt", sk, "djn") == "thread"


def test_every_chunk_gets_fresh_randomness(pk: PublicKey) -> None:
    cts = raw_encrypt_many(pk, [0] * (2 * CHUNK_SIZE), rng=KeyedPRNG.from_int(24))
    assert len(set(cts)) == len(cts)  # no chunk replays another chunk's stream


def test_worker_errors_propagate(pk: PublicKey, sk: PrivateKey) -> None:
    bad = [1] * CHUNK_SIZE + [pk.n]  # the last plaintext is out of range
    for backend in ("thread", "process"):
        with pytest.raises(ParameterError, match=r"\[0, n\)"):
            raw_encrypt_many(pk, bad, workers=2, backend=backend)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="PrivateKey"):
        raw_decrypt_many(pk, [1])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ([1.0, float("nan")], "NaN"),
        (np.array([np.inf]), "NaN or infinity"),
        (np.array([1, float("inf")], dtype=object), "NaN or infinity"),
        (np.array([True, False]), "boolean"),
        (np.array(["1", "2"]), "dtype"),
        (np.array([1 + 2j]), "dtype"),
        (np.array([1, "x"], dtype=object), "only ints and floats"),
        (np.array([1, True], dtype=object), "only ints and floats"),
        ([[1, 2], [3]], "rectangular"),
        (5, "at least one dimension"),
    ],
)
def test_bad_values_are_refused(pk: PublicKey, values: Any, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        encrypt_vector(pk, values)


def test_bad_arguments_are_refused(sk: PrivateKey, pk: PublicKey) -> None:
    vec = encrypt_vector(pk, [1, 2], rng=KeyedPRNG.from_int(25))
    cases: list[tuple[Any, str]] = [
        (lambda: encrypt_vector("key", [1]), "PublicKey"),  # type: ignore[arg-type]
        (lambda: encrypt_vector(pk, [1], workers=0), "workers"),
        (lambda: encrypt_vector(pk, [1], workers=True), "workers"),  # type: ignore[arg-type]
        (lambda: encrypt_vector(pk, [1], backend="gpu"), "backend"),  # type: ignore[arg-type]
        (lambda: encrypt_vector(pk, [1], mode="fast"), "mode"),  # type: ignore[arg-type]
        (lambda: encrypt_vector(pk, [1.5], precision=0), "precision"),
        (lambda: encrypt_vector(pk, [1.5], precision="1"), "precision"),  # type: ignore[arg-type]
        (lambda: encrypt_vector(pk, [1.5], max_exponent=1.5), "max_exponent"),  # type: ignore[arg-type]
        (lambda: encrypt_vector(pk, [1], progress=5), "progress"),  # type: ignore[arg-type]
        (lambda: encrypt_vector(pk, vec), "already encrypted"),
        (lambda: decrypt_vector(pk, vec), "PrivateKey"),  # type: ignore[arg-type]
        (lambda: decrypt_vector(sk, [1]), "EncryptedVector"),  # type: ignore[arg-type]
        (lambda: decrypt_vector(sk, vec, dtype=np.int32), "dtype"),
        (lambda: decrypt_vector(sk, vec, dtype="nonsense"), "dtype"),  # type: ignore[arg-type]
        (lambda: decrypt_vector(sk, vec * 0.5, dtype=np.int64), "fixed point"),
        (lambda: vec + np.array([1, 2, 3]), "broadcast"),
        (lambda: vec + encrypt_vector(pk, [1, 2, 3]), "shapes"),
        (lambda: vec / 0, "zero"),
        (lambda: vec / np.array([1, 0]), "zero"),
        (lambda: vec.decrease_exponent_to(1), "must not exceed"),
        (lambda: vec.decrease_exponent_to(True), "new_exp"),
        (lambda: vec.dot([1, 2, 3]), "shape"),
        (lambda: vec + np.array([True, False]), "boolean"),
    ]
    for thunk, match in cases:
        with pytest.raises(ParameterError, match=match):
            thunk()


def test_mixing_keys_is_detected(sk: PrivateKey, pk: PublicKey, other_pk: PublicKey) -> None:
    a = encrypt_vector(pk, [1, 2], rng=KeyedPRNG.from_int(26))
    b = encrypt_vector(other_pk, [1, 2], rng=KeyedPRNG.from_int(27))
    for thunk in (
        lambda: a + b,
        lambda: a - b,
        lambda: a + other_pk.encrypt(1),
        lambda: decrypt_vector(sk, b),
    ):
        with pytest.raises(KeyMismatchError):
            thunk()


def test_unsupported_operands_are_type_errors(pk: PublicKey) -> None:
    a = encrypt_vector(pk, [1, 2], rng=KeyedPRNG.from_int(28))
    number = pk.encrypt(1)
    for thunk in (
        lambda: a * a,
        lambda: a * number,
        lambda: a + "x",
        lambda: a - object(),
        lambda: "x" - a,
        lambda: a * "x",
        lambda: a / "x",
        lambda: a + None,
    ):
        with pytest.raises(TypeError):
            thunk()


# --------------------------------------------------------------------------- phe differential


def test_exponents_and_encodings_match_phe(sk: PrivateKey) -> None:
    phe = pytest.importorskip("phe")
    phe_pk = phe.PaillierPublicKey(int(sk.public_key.n))
    phe_sk = phe.PaillierPrivateKey(phe_pk, int(sk.p), int(sk.q))
    values = [0.1, -3.75, 1e-9, 123456.789, 0.0, -(2.0**-30)]
    vec = encrypt_vector(sk.public_key, values, rng=KeyedPRNG.from_int(29))
    expected = min(phe.EncodedNumber.encode(phe_pk, v).exponent for v in values)
    assert vec.exponent == expected
    for v, c in zip(values, vec.ciphertexts, strict=True):
        number = phe.EncryptedNumber(phe_pk, int(c), vec.exponent)
        assert phe_sk.decrypt(number) == v
        assert phe_sk.decrypt_encoded(number).encoding == (
            phe.EncodedNumber.encode(phe_pk, v, max_exponent=vec.exponent).encoding
        )
    precise = encrypt_vector(sk.public_key, values, precision=1e-6, rng=KeyedPRNG.from_int(30))
    assert precise.exponent == phe.EncodedNumber.encode(phe_pk, 0.1, precision=1e-6).exponent
    # And the other way: phe ciphertexts decrypt here.
    theirs = [phe_pk.encrypt(v) for v in (5, -6)]
    ours = EncryptedVector(sk.public_key, [int(x.ciphertext()) for x in theirs], 0)
    assert decrypt_vector(sk, ours).tolist() == [5, -6]


def test_more_refusals(sk: PrivateKey, pk: PublicKey, monkeypatch: pytest.MonkeyPatch) -> None:
    one = encrypt_vector(pk, [1], rng=KeyedPRNG.from_int(31))
    with pytest.raises(ParameterError, match="shape"):
        EncryptedVector(pk, one.ciphertexts, 0, "1")  # type: ignore[arg-type]
    assert EncryptedVector(pk, one.ciphertexts, 0, 1).shape == (1,)
    with pytest.raises(ParameterError, match="at least one dimension"):
        one.reshape(())
    with pytest.raises(ParameterError, match="PublicKey"):
        raw_obfuscate_many(sk, [1])  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="PublicKey or PrivateKey"):
        raw_encrypt_many("key", [1])  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="mode"):
        raw_encrypt_many(pk, [1], mode="x")  # type: ignore[arg-type]
    # A value beyond float64: 1 * 16**300 = 2**1200.
    huge = EncryptedVector(pk, one.ciphertexts, 300)
    with pytest.raises(EncodingOverflowError, match="too large for float64"):
        decrypt_vector(sk, huge, dtype=np.float64)
    assert decrypt_vector(sk, huge, dtype=object).tolist() == [2**1200]
    # Without fork, "auto" falls back to threads and "process" is refused with the reason.
    monkeypatch.setattr("heprim.paillier.vector._fork_available", lambda: False)
    values = np.arange(2 * CHUNK_SIZE)
    vec = encrypt_vector(pk, values, workers=2, rng=KeyedPRNG.from_int(32))
    np.testing.assert_array_equal(decrypt_vector(sk, vec), values)
    with pytest.raises(ParameterError, match="fork"):
        encrypt_vector(pk, values, workers=2, backend="process")
