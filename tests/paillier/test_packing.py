"""BatchCrypt packing: layout, exact sums, and overflow that is detected, never spread.

Oracle: the exact integer sums of the slot values (numpy int64 / Python ints), and an independent
bit-level model of the slot layout (``_fields``) for crafted plaintexts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import EncodingOverflowError, KeyMismatchError, ParameterError
from heprim.math.prng import KeyedPRNG
from heprim.paillier.keys import PrivateKey, PublicKey
from heprim.paillier.packing import PackedEncoder, PackedVector

pytestmark = pytest.mark.filterwarnings("ignore::heprim.errors.InsecureParametersWarning")


@pytest.fixture(scope="module")
def sk(keys512: tuple[PublicKey, PrivateKey]) -> PrivateKey:
    return keys512[1]


@pytest.fixture(scope="module")
def pk(keys512: tuple[PublicKey, PrivateKey]) -> PublicKey:
    return keys512[0]


def _fields(plaintext: int, width: int, slots: int) -> list[int]:
    return [(plaintext >> (j * width)) & ((1 << width) - 1) for j in range(slots)]


# --------------------------------------------------------------------------- layout


def test_layout_matches_the_design_figures(keys2048: tuple[PublicKey, PrivateKey]) -> None:
    # DESIGN.md: "~47 signed 32-bit slots fit in a 2048-bit plaintext with headroom for 1000
    # additions": 32 + ceil(log2 1000) = 10 + 1 guard = 43 bits, (2048 - 2) // 43 = 47.
    key = keys2048[0]
    enc = PackedEncoder(key, 32, max_additions=1000)
    assert (enc.slot_width, enc.slots_per_ciphertext) == (43, 47)
    assert (enc.min_value, enc.max_value) == (-(2**31), 2**31 - 1)
    assert enc.ciphertexts_for(10_000) == 213
    unsigned = PackedEncoder(key, 16, max_additions=1, signed=False)
    assert (unsigned.slot_width, unsigned.min_value, unsigned.max_value) == (17, 0, 65535)
    assert PackedEncoder(key, 16, max_additions=2).slot_width == 18
    assert PackedEncoder(key, 16, max_additions=3).slot_width == 19


def test_encode_places_offset_values_in_slots(pk: PublicKey) -> None:
    enc = PackedEncoder(pk, 8, max_additions=4)  # width 8 + 2 + 1 = 11
    values = np.array([-128, 0, 127, 5])
    (plaintext,) = enc.encode(values)
    assert _fields(plaintext, 11, 4) == [0, 128, 255, 133]
    assert plaintext < 2 ** (11 * 4)
    many = enc.encode(np.arange(enc.slots_per_ciphertext + 1) % 100)
    assert len(many) == 2 and _fields(many[1], 11, 2) == [128 + enc.slots_per_ciphertext % 100, 0]


# --------------------------------------------------------------------------- exact sums


@given(data=st.data())
def test_sums_of_random_slot_values_are_exact(sk: PrivateKey, data: st.DataObject) -> None:
    k = data.draw(st.sampled_from([1, 2, 7, 8, 16, 31, 32, 48]), label="slot_bits")
    max_additions = data.draw(st.integers(1, 12), label="max_additions")
    count = data.draw(st.integers(1, max_additions), label="count")
    length = data.draw(st.integers(0, 30), label="length")
    signed = data.draw(st.booleans(), label="signed")
    enc = PackedEncoder(sk.public_key, k, max_additions=max_additions, signed=signed)
    lo, hi = enc.min_value, enc.max_value
    values = st.integers(lo, hi) | st.sampled_from([lo, hi])
    rows = [
        np.array(data.draw(st.lists(values, min_size=length, max_size=length)), dtype=np.int64)
        for _ in range(count)
    ]
    rng = KeyedPRNG.from_int(k * 1000 + count)
    packed = [enc.encrypt(row, rng=rng) for row in rows]
    total = sum(packed[1:], packed[0])
    assert total.count == count
    np.testing.assert_array_equal(total.decrypt(sk), np.sum(rows, axis=0, dtype=np.int64))


@pytest.mark.parametrize("k", [1, 16, 32, 62])
def test_extremes_at_full_headroom(sk: PrivateKey, k: int) -> None:
    max_additions = 1 if k == 62 else 1000
    enc = PackedEncoder(sk.public_key, k, max_additions=max_additions)
    row = np.array([enc.min_value, enc.max_value, 0, -1][: enc.slots_per_ciphertext + 3])
    one = enc.encrypt(row, rng=KeyedPRNG.from_int(k))
    total = one
    for _ in range(max_additions - 1):  # the same ciphertext again: the sums are the same
        total = total + one
    assert total.count == max_additions
    np.testing.assert_array_equal(total.decrypt(sk), row * max_additions)
    with pytest.raises(EncodingOverflowError, match="max_additions"):
        total + one


def test_fixed_point_scale(sk: PrivateKey, pk: PublicKey) -> None:
    enc = PackedEncoder(pk, 16, max_additions=8, scale=2**8)
    x = np.array([0.5, -1.25, 127.99, -128.0, 0.001])
    y = np.array([1.0, 1.0, -127.0, 0.0, 0.002])
    total = enc.encrypt(x, rng=KeyedPRNG.from_int(1)) + enc.encrypt(y, rng=KeyedPRNG.from_int(2))
    out = total.decrypt(sk)
    assert out.dtype == np.float64
    expected = (np.rint(x * 256) + np.rint(y * 256)) / 256
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_allclose(out, x + y, atol=2 * 0.5 / 256)
    assert enc.quantise([0.5 / 256, 1.5 / 256]).tolist() == [0, 2]  # ties to even, like round()
    with pytest.raises(EncodingOverflowError, match=r"index 0.*before scaling"):
        enc.encode([128.0])
    with pytest.raises(ParameterError, match="NaN"):
        enc.encode([np.nan])


def test_unsigned_and_object_and_private_key_paths(sk: PrivateKey, pk: PublicKey) -> None:
    enc = PackedEncoder(pk, 12, max_additions=3, signed=False)
    a = enc.encrypt(np.array([0, 4095, 7], dtype=np.uint16), rng=KeyedPRNG.from_int(3))
    b = enc.encrypt(np.array([1, 4095, 0], dtype=object), private_key=sk, rng=KeyedPRNG.from_int(4))
    assert (a + b).decrypt(sk).tolist() == [1, 8190, 7]
    assert enc.decrypt(sk, a).tolist() == [0, 4095, 7]
    with pytest.raises(EncodingOverflowError, match="index 0"):
        enc.encode(np.array([-1]))
    with pytest.raises(EncodingOverflowError, match="index 1"):
        enc.encode(np.array([1, 4096], dtype=object))
    with pytest.raises(EncodingOverflowError, match="index 0"):
        enc.encode(np.array([2**64 - 1], dtype=np.uint64))


def test_workers_and_obfuscate(sk: PrivateKey, pk: PublicKey) -> None:
    enc = PackedEncoder(pk, 8, max_additions=2)
    values = np.arange(-128, 128)
    seq = enc.encrypt(values, rng=KeyedPRNG.from_int(5))
    par = enc.encrypt(values, rng=KeyedPRNG.from_int(5), workers=2, backend="process")
    assert par.ciphertexts == seq.ciphertexts and len(par) == 256
    total = seq + par
    before = total.ciphertexts
    total.obfuscate(rng=KeyedPRNG.from_int(6))
    assert all(x != y for x, y in zip(before, total.ciphertexts, strict=True))
    np.testing.assert_array_equal(total.decrypt(sk, workers=2, backend="thread"), values * 2)


# --------------------------------------------------------------------------- crafted data


def _craft(enc: PackedEncoder, pk: PublicKey, fields: list[int], seed: int) -> PackedVector:
    """A client that ignores the encoder and encrypts arbitrary slot fields."""
    w = enc.slot_width
    plaintext = sum(f << (j * w) for j, f in enumerate(fields)) % pk.n
    c = pk.raw_encrypt(plaintext, rng=KeyedPRNG.from_int(seed))
    return PackedVector(enc, [c], len(fields), 1)


def test_an_out_of_range_slot_is_named_not_spread(sk: PrivateKey, pk: PublicKey) -> None:
    enc = PackedEncoder(pk, 8, max_additions=3)  # width 11, guard bit 2**10
    honest = enc.encrypt(np.array([1, 2, 3, 4]), rng=KeyedPRNG.from_int(7))
    # Slot 2 holds 2**8: one more than an 8-bit value can be.
    evil = _craft(enc, pk, [128, 128, 256, 128], seed=8)
    with pytest.raises(EncodingOverflowError, match=r"slot 2 .*element 2.* holds 256"):
        evil.decrypt(sk)
    # The guard bit: summed with an honest vector it is still visible in slot 1.
    guard = _craft(enc, pk, [128, 1 << 10, 128, 128], seed=9)
    with pytest.raises(EncodingOverflowError, match=r"slot 1 .*guard bit"):
        (honest + guard).decrypt(sk)
    # A negative plaintext (n - 1) lies modulo n far above the last slot.
    minus_one = PackedVector(enc, [pk.raw_encrypt(pk.n - 1, rng=KeyedPRNG.from_int(11))], 4, 1)
    with pytest.raises(EncodingOverflowError, match="above its last slot"):
        minus_one.decrypt(sk)
    # Padding slots are checked too.
    padded = _craft(enc, pk, [128, 128, 128, 128, 999], seed=12)
    short = PackedVector(enc, padded.ciphertexts, 4, 1)
    with pytest.raises(EncodingOverflowError, match="padding slot"):
        short.decrypt(sk)


@given(data=st.data())
def test_crafted_slots_raise_exactly_when_the_sum_is_infeasible(
    sk: PrivateKey, data: st.DataObject
) -> None:
    """Crafted fields below the guard bit never carry: the sum either decodes to the exact slot
    sums (it is a feasible sum of in-range vectors), or decryption raises."""
    k = data.draw(st.sampled_from([4, 8, 12]))
    max_additions = data.draw(st.integers(2, 6))
    enc = PackedEncoder(sk.public_key, k, max_additions=max_additions)
    w = enc.slot_width
    length = data.draw(st.integers(1, 6))
    honest_count = data.draw(st.integers(0, max_additions - 1))
    lo, hi = enc.min_value, enc.max_value
    honest_rows = [
        data.draw(st.lists(st.integers(lo, hi), min_size=length, max_size=length))
        for _ in range(honest_count)
    ]
    crafted = data.draw(
        st.lists(st.integers(0, (1 << (w - 1)) - 1), min_size=length, max_size=length)
    )
    total = _craft(enc, sk.public_key, crafted, seed=13)
    for row in honest_rows:
        total = total + enc.encrypt(np.array(row), rng=KeyedPRNG.from_int(14))
    count = honest_count + 1
    offset = 1 << (k - 1)
    field_sums = [crafted[i] + sum(r[i] + offset for r in honest_rows) for i in range(length)]
    if all(s <= count * ((1 << k) - 1) for s in field_sums):
        assert total.decrypt(sk).tolist() == [s - count * offset for s in field_sums]
    else:
        with pytest.raises(EncodingOverflowError, match="more than"):
            total.decrypt(sk)


# --------------------------------------------------------------------------- refusals


def test_encoder_arguments_are_checked(sk: PrivateKey, pk: PublicKey) -> None:
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: PackedEncoder(pk, 0, max_additions=1), ParameterError, "slot_bits"),
        (lambda: PackedEncoder(pk, True, max_additions=1), ParameterError, "slot_bits"),  # type: ignore[arg-type]
        (lambda: PackedEncoder(pk, 8, max_additions=0), ParameterError, "max_additions"),
        (lambda: PackedEncoder(pk, 60, max_additions=100), ParameterError, "more than 64"),
        (lambda: PackedEncoder(pk, 8, max_additions=1, signed=1), ParameterError, "signed"),  # type: ignore[arg-type]
        (lambda: PackedEncoder(pk, 8, max_additions=1, scale=0), ParameterError, "scale"),
        (lambda: PackedEncoder(pk, 8, max_additions=1, scale="2"), ParameterError, "scale"),  # type: ignore[arg-type]
        (
            lambda: PackedEncoder(pk, 8, max_additions=1, scale=float("inf")),
            ParameterError,
            "scale",
        ),
        (lambda: PackedEncoder(sk, 8, max_additions=1), ParameterError, "public_key"),  # type: ignore[arg-type]
        (lambda: PackedEncoder("pk", 8, max_additions=1), ParameterError, "PublicKey"),  # type: ignore[arg-type]
    ]
    for thunk, error, match in cases:
        with pytest.raises(error, match=match):
            thunk()


def test_values_are_checked(pk: PublicKey) -> None:
    enc = PackedEncoder(pk, 8, max_additions=2)
    cases: list[tuple[Any, type[Exception], str]] = [
        (np.array([[1, 2]]), ParameterError, "1-D"),
        (np.array([True]), ParameterError, "booleans"),
        (np.array([1.5]), ParameterError, "scale"),
        (np.array([1, 0.5], dtype=object), ParameterError, "scale"),
        (np.array(["a"]), ParameterError, "dtype"),
        (np.array([1, "a"], dtype=object), ParameterError, "ints or floats"),
        (np.array([128]), EncodingOverflowError, "index 0"),
        (np.array([0, -129]), EncodingOverflowError, "index 1"),
    ]
    for values, error, match in cases:
        with pytest.raises(error, match=match):
            enc.encode(values)


def test_combining_mismatched_packings(
    sk: PrivateKey, pk: PublicKey, keys1024: tuple[PublicKey, PrivateKey]
) -> None:
    other = keys1024[1]
    enc = PackedEncoder(pk, 8, max_additions=2)
    a = enc.encrypt([1, 2], rng=KeyedPRNG.from_int(15))
    with pytest.raises(KeyMismatchError):
        a + PackedEncoder(other.public_key, 8, max_additions=2).encrypt([1, 2])
    with pytest.raises(ParameterError, match="layouts"):
        a + PackedEncoder(pk, 8, max_additions=3).encrypt([1, 2])
    with pytest.raises(ParameterError, match="lengths"):
        a + enc.encrypt([1, 2, 3])
    with pytest.raises(KeyMismatchError):
        a.decrypt(other)
    with pytest.raises(ParameterError, match="PrivateKey"):
        a.decrypt(pk)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="PackedVector"):
        enc.decrypt(sk, [1])  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="layouts"):
        PackedEncoder(pk, 8, max_additions=3).decrypt(sk, a)
    with pytest.raises(KeyMismatchError):
        enc.encrypt([1], private_key=other)
    with pytest.raises(ParameterError, match="PrivateKey"):
        enc.encrypt([1], private_key=pk)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        a + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        1 + a  # type: ignore[operator]
    assert sum([a, a]).count == 2  # type: ignore[union-attr]
    copy = 0 + a
    copy.obfuscate(rng=KeyedPRNG.from_int(17))
    assert copy is not a and copy.ciphertexts != a.ciphertexts


def test_packed_vector_constructor_checks(sk: PrivateKey, pk: PublicKey) -> None:
    enc = PackedEncoder(pk, 8, max_additions=2)
    good = enc.encrypt([1, 2], rng=KeyedPRNG.from_int(16))
    assert PackedVector(enc, good.ciphertexts, 2, 1).decrypt(sk).tolist() == [1, 2]
    # The count is part of the decoding: each summand brought one offset 2**(k-1) = 128.
    assert PackedVector(enc, good.ciphertexts, 2, 2).decrypt(sk).tolist() == [1 - 128, 2 - 128]
    with pytest.raises(EncodingOverflowError, match="max_additions"):
        PackedVector(enc, good.ciphertexts, 2, 3)
    with pytest.raises(ParameterError, match="count"):
        PackedVector(enc, good.ciphertexts, 2, 0)
    with pytest.raises(ParameterError, match="length"):
        PackedVector(enc, good.ciphertexts, -1)
    with pytest.raises(ParameterError, match="pack into"):
        PackedVector(enc, good.ciphertexts, 10_000)
    with pytest.raises(ParameterError, match="ciphertext"):
        PackedVector(enc, [pk.nsquare], 2)
    with pytest.raises(ParameterError, match="iterable"):
        PackedVector(enc, 5, 2)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="PackedEncoder"):
        PackedVector("enc", [], 0)  # type: ignore[arg-type]
    with pytest.raises(EncodingOverflowError, match="headroom"):
        enc.decode([0], 1, count=3)
    with pytest.raises(ParameterError, match="pack into"):
        enc.decode([0, 0], 1)


def test_encoder_equality_and_repr(pk: PublicKey) -> None:
    a = PackedEncoder(pk, 8, max_additions=2, scale=4.0)
    b = PackedEncoder(pk, 8, max_additions=2, scale=4)
    assert a == b and hash(a) == hash(b) and a != PackedEncoder(pk, 8, max_additions=2)
    assert (a == 5) is False
    assert "scale=4.0" in repr(a) and pk.fingerprint[:8] in repr(a)
    v = a.encrypt([0.25])
    assert "length=1" in repr(v) and "count=1" in repr(v)
