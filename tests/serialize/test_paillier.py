"""Paillier objects through heprim.serialize: round trips, every refusal, tampering."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim import serialize
from heprim.errors import KeyMismatchError, ParameterError, SerializationError
from heprim.math import ntheory
from heprim.math.prng import KeyedPRNG
from heprim.paillier.keys import PrivateKey, PublicKey
from heprim.paillier.number import EncryptedNumber
from heprim.paillier.packing import PackedEncoder, PackedVector
from heprim.paillier.vector import EncryptedVector, decrypt_vector, encrypt_vector
from heprim.serialize.envelope import blob_from_ints, int_to_b64url

PRIMES = Path(__file__).resolve().parents[1] / "vectors" / "paillier_test_primes.json"

pytestmark = pytest.mark.filterwarnings("ignore::heprim.errors.InsecureParametersWarning")


def _private_key(bits: int) -> PrivateKey:
    entry = json.loads(PRIMES.read_text())["keys"][str(bits)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PrivateKey.from_primes(
            int(entry["p"], 16), int(entry["q"], 16), allow_insecure=True, rng=KeyedPRNG.from_int(3)
        )


@pytest.fixture(scope="module")
def sk() -> PrivateKey:
    return _private_key(512)


@pytest.fixture(scope="module")
def pk(sk: PrivateKey) -> PublicKey:
    return sk.public_key


@pytest.fixture(scope="module")
def docs(sk: PrivateKey) -> dict[str, str]:
    """One serialized document of every type, from seeded randomness."""
    pk = sk.public_key
    rng = KeyedPRNG.from_int(40)
    encoder = PackedEncoder(pk, 16, max_additions=4, scale=8.0)
    packed = encoder.encrypt([1.5, -2.0, 3.25], rng=rng)
    return {
        "public": serialize.dumps(pk),
        "private": serialize.dumps(sk, include_secret=True),
        "number": serialize.dumps(pk.encrypt(-2.5, rng=rng)),
        "vector": serialize.dumps(encrypt_vector(pk, [[1, -2], [3, 4]], rng=rng)),
        "encoder": serialize.dumps(encoder),
        "packed": serialize.dumps(packed + packed),
    }


def _edit(text: str, **changes: Any) -> str:
    doc = json.loads(text)
    for key, value in changes.items():
        if value is ...:
            del doc[key]
        else:
            doc[key] = value
    return json.dumps(doc)


# --------------------------------------------------------------------------- round trips


def test_keys_round_trip(sk: PrivateKey, pk: PublicKey, docs: dict[str, str]) -> None:
    public = serialize.loads(docs["public"], expect=PublicKey)
    assert public == pk and public.hs == pk.hs and public.fingerprint == pk.fingerprint
    private = serialize.loads(docs["private"], expect=PrivateKey)
    assert private == sk and private.public_key.hs == pk.hs
    assert json.loads(docs["public"]) == {
        "heprim": "paillier.PublicKey",
        "version": 1,
        "n": int_to_b64url(pk.n),
        "hs": int_to_b64url(pk.hs),
    }
    assert serialize.dumps(public) == docs["public"]  # canonical: dump(load(x)) == x
    assert serialize.dumps(private, include_secret=True) == docs["private"]
    without_hs = PublicKey(pk.n)
    assert "hs" not in json.loads(serialize.dumps(without_hs))
    assert serialize.loads(serialize.dumps(without_hs), expect=PublicKey) == pk


def test_ciphertexts_round_trip(sk: PrivateKey, pk: PublicKey, docs: dict[str, str]) -> None:
    number = serialize.loads(docs["number"], public_key=pk, expect=EncryptedNumber)
    assert sk.decrypt(number) == -2.5
    vector = serialize.loads(docs["vector"], public_key=sk, expect=EncryptedVector)
    assert decrypt_vector(sk, vector).tolist() == [[1, -2], [3, 4]]
    packed = serialize.loads(docs["packed"], public_key=pk, expect=PackedVector)
    assert packed.count == 2 and packed.decrypt(sk).tolist() == [3.0, -4.0, 6.5]
    encoder = serialize.loads(docs["encoder"], public_key=pk, expect=PackedEncoder)
    assert encoder == packed.encoder
    for key in ("number", "vector", "packed", "encoder"):
        assert serialize.dumps(serialize.loads(docs[key], public_key=pk)) == docs[key]
    blob = json.loads(docs["vector"])
    assert blob["width"] == 128 and blob["shape"] == [2, 2] and blob["key"] == pk.fingerprint
    empty = encrypt_vector(pk, np.zeros((0, 3), dtype=np.int64))
    assert serialize.loads(serialize.dumps(empty), public_key=pk).shape == (0, 3)  # type: ignore[attr-defined]
    assert serialize.loads(docs["public"].encode()) == pk  # UTF-8 bytes are fine


# --------------------------------------------------------------------------- dumps refusals


def test_dumps_refusals(sk: PrivateKey) -> None:
    with pytest.raises(ParameterError, match="include_secret=True"):
        serialize.dumps(sk)
    with pytest.raises(ParameterError, match="include_secret"):
        serialize.dumps(sk, include_secret=1)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="cannot serialize a dict"):
        serialize.dumps({"n": 5})


# --------------------------------------------------------------------------- load refusals


def test_ciphertexts_need_their_key(docs: dict[str, str], pk: PublicKey) -> None:
    other = _private_key(1024).public_key
    for key in ("number", "vector", "packed", "encoder"):
        with pytest.raises(ParameterError, match="public_key"):
            serialize.loads(docs[key])
        with pytest.raises(KeyMismatchError):
            serialize.loads(docs[key], public_key=other)
    with pytest.raises(ParameterError, match="PublicKey"):
        serialize.loads(docs["number"], public_key="key")  # type: ignore[arg-type]
    with pytest.raises(SerializationError, match="expected a PublicKey"):
        serialize.loads(docs["number"], public_key=pk, expect=PublicKey)


def _random_prime(bits: int, seed: int, residue: tuple[int, int] | None = None) -> int:
    return int(ntheory.random_prime(bits, KeyedPRNG.from_int(seed), residue=residue))


def test_malformed_public_keys(docs: dict[str, str], sk: PrivateKey) -> None:
    pk = sk.public_key
    p = _random_prime(256, 1)
    cases = {
        "even": (_edit(docs["public"], n=int_to_b64url(2**512)), "even"),
        "square": (_edit(docs["public"], n=int_to_b64url(p * p), hs=...), "perfect square"),
        "prime": (_edit(docs["public"], n=int_to_b64url(_random_prime(512, 2)), hs=...), "prime"),
        "tiny": (_edit(docs["public"], n=int_to_b64url(15), hs=...), "256 bits"),
        "hs=1": (_edit(docs["public"], hs=int_to_b64url(1)), "degenerate"),
        "hs=-1": (_edit(docs["public"], hs=int_to_b64url(pk.nsquare - 1)), "degenerate"),
        "hs big": (_edit(docs["public"], hs=int_to_b64url(pk.nsquare)), "hs must be in"),
        "hs not unit": (_edit(docs["public"], hs=int_to_b64url(sk.p)), "shares a factor"),
        "n missing": (_edit(docs["public"], n=...), 'missing member "n"'),
        "n int": (_edit(docs["public"], n=12345), "Base64urlUInt"),
        "extra": (_edit(docs["public"], comment="hi"), "unknown member"),
        "n padded": (_edit(docs["public"], n=int_to_b64url(pk.n) + "="), "base64url"),
    }
    for name, (text, match) in cases.items():
        with pytest.raises(SerializationError, match=match):
            serialize.loads(text)
        assert name


def test_malformed_private_keys(docs: dict[str, str], sk: PrivateKey) -> None:
    pk = sk.public_key
    no_hs = _edit(docs["private"], hs=...)
    # Blum primes with gcd(p-1, q-1) = 6 (both 7 mod 12), as a key carrying a DJN hs.
    p7, q7 = _random_prime(256, 3, (7, 12)), _random_prime(256, 4, (7, 12))
    n7 = p7 * q7
    bad_gcd = serialize.dumps(PublicKey(n7, hs=pow(n7 + 2, 2, n7 * n7)))
    # Primes that are 1 mod 4.
    p1, q1 = _random_prime(256, 5, (1, 4)), _random_prime(256, 6, (1, 4))
    n1 = p1 * q1
    not_blum = serialize.dumps(PublicKey(n1, hs=pow(n1 + 2, 2, n1 * n1)))
    cases = [
        (_edit(docs["private"], q=int_to_b64url(sk.q + 2)), "does not equal"),
        (_edit(no_hs, p=int_to_b64url(1), q=int_to_b64url(pk.n)), "not prime"),
        (
            _edit(bad_gcd, heprim="paillier.PrivateKey", p=int_to_b64url(p7), q=int_to_b64url(q7)),
            "gcd",
        ),
        (
            _edit(not_blum, heprim="paillier.PrivateKey", p=int_to_b64url(p1), q=int_to_b64url(q1)),
            "3 mod 4",
        ),
        (_edit(docs["private"], hs=int_to_b64url(pow(7, 5, pk.nsquare))), "n-th residue"),
        (_edit(docs["private"], p=...), 'missing member "p"'),
    ]
    for text, match in cases:
        with pytest.raises(SerializationError, match=match):
            serialize.loads(text)
    # Without hs, a key from arbitrary distinct primes (e.g. made by phe) loads.
    plain = PrivateKey(PublicKey(n1), p1, q1)
    assert serialize.loads(serialize.dumps(plain, include_secret=True)) == plain


def test_malformed_ciphertexts(docs: dict[str, str], sk: PrivateKey) -> None:
    pk = sk.public_key
    width = 128
    vector = json.loads(docs["vector"])
    cts = [int(x) for x in serialize.loads(docs["vector"], public_key=pk).ciphertexts]  # type: ignore[attr-defined]
    cases: list[tuple[str, str]] = [
        (_edit(docs["number"], ciphertext=int_to_b64url(0)), "ciphertext"),
        (_edit(docs["number"], ciphertext=int_to_b64url(pk.nsquare)), r"\(0, n\*\*2\)"),
        (_edit(docs["number"], ciphertext=int_to_b64url(sk.p)), "coprime"),
        (_edit(docs["number"], exponent=1.5), "integer"),
        (_edit(docs["number"], exponent=True), "integer"),
        (_edit(docs["number"], exponent=10**9), "at most"),
        (_edit(docs["number"], key=5), "string"),
        (_edit(docs["vector"], width=width + 1), "width"),
        (_edit(docs["vector"], ciphertexts=vector["ciphertexts"][:-4]), "base64url|multiple"),
        (_edit(docs["vector"], ciphertexts=blob_from_ints(cts[:3], width)), "declares 4"),
        (_edit(docs["vector"], ciphertexts=blob_from_ints([*cts[:3], 0], width)), "ciphertext 3"),
        (
            _edit(docs["vector"], ciphertexts=blob_from_ints([*cts[:3], int(sk.q)], width)),
            "coprime",
        ),
        (_edit(docs["vector"], shape=[]), "at least one dimension"),
        (_edit(docs["vector"], shape=[2, -2]), ">= 0"),
        (_edit(docs["vector"], shape=[3, 2]), "declares 6"),
        (_edit(docs["vector"], shape="2x2"), "array"),
        (_edit(docs["packed"], count=5), "at most 4"),
        (_edit(docs["packed"], count=0), "at least 1"),
        (_edit(docs["packed"], length=1000), "declares"),
        (_edit(docs["packed"], slot_bits=70), "encoder parameters"),
        (_edit(docs["packed"], signed="yes"), "true or false"),
        (_edit(docs["packed"], scale="8"), "number or null"),
        (_edit(docs["packed"], scale=-1.0), "encoder parameters"),
        (_edit(docs["encoder"], max_additions=0), "at least 1"),
        (_edit(docs["encoder"], extra=1), "unknown member"),
    ]
    for text, match in cases:
        with pytest.raises(SerializationError, match=match):
            serialize.loads(text, public_key=pk)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"heprim": "paillier.Nope", "version": 1}', "unknown heprim document type"),
        ('{"heprim": "paillier.PublicKey", "version": 2, "n": "AQAB"}', "version 2"),
        ('{"heprim": "paillier.PublicKey", "version": 1, "n": "AQ', "truncated"),
        ("not json at all", "JSON"),
        ("", "JSON"),
        ("[]", "object"),
        ("null", "object"),
    ],
)
def test_unknown_or_garbled_documents(text: str, match: str) -> None:
    with pytest.raises(SerializationError, match=match):
        serialize.loads(text)


# --------------------------------------------------------------------------- tampering


def _invariants_hold(obj: object, pk: PublicKey) -> bool:
    """What an accepted document must satisfy: checked again, independently of the loader."""

    def unit(c: int) -> bool:
        return 0 < c < pk.nsquare and ntheory.gcd(c, pk.n) == 1

    if isinstance(obj, PrivateKey):
        return bool(
            obj.p * obj.q == obj.public_key.n
            and ntheory.is_probable_prime(obj.p)
            and ntheory.is_probable_prime(obj.q)
        )
    if isinstance(obj, PublicKey):
        return bool(obj.n % 2 == 1 and not ntheory.is_probable_prime(obj.n))
    if isinstance(obj, EncryptedNumber):
        return obj.public_key == pk and unit(obj.ciphertext)
    if isinstance(obj, EncryptedVector):
        return obj.size == int(np.prod(obj.shape)) and all(unit(c) for c in obj.ciphertexts)
    if isinstance(obj, PackedVector):
        return (
            1 <= obj.count <= obj.encoder.max_additions
            and len(obj.ciphertexts) == obj.encoder.ciphertexts_for(obj.length)
            and all(unit(c) for c in obj.ciphertexts)
        )
    return isinstance(obj, PackedEncoder) and obj.public_key == pk


@given(
    which=st.sampled_from(["public", "private", "number", "vector", "encoder", "packed"]),
    position=st.integers(min_value=0),
    char=st.characters(codec="ascii"),
    mode=st.sampled_from(["replace", "delete", "insert"]),
)
def test_tampered_documents_are_refused_or_still_valid(
    docs: dict[str, str], pk: PublicKey, which: str, position: int, char: str, mode: str
) -> None:
    text = docs[which]
    i = position % len(text)
    if mode == "replace":
        tampered = text[:i] + char + text[i + 1 :]
    elif mode == "delete":
        tampered = text[:i] + text[i + 1 :]
    else:
        tampered = text[:i] + char + text[i:]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = serialize.loads(tampered, public_key=pk)
    except (SerializationError, KeyMismatchError):
        return
    assert _invariants_hold(obj, pk), f"accepted a broken {type(obj).__name__}"


def test_flipping_a_bit_of_each_member(docs: dict[str, str], pk: PublicKey) -> None:
    """Deterministic companion of the property above: every member, one changed character."""
    outcomes: dict[str, int] = {"refused": 0, "accepted": 0}
    loaders: dict[str, Callable[[str], object]] = {
        k: (lambda t: serialize.loads(t, public_key=pk)) for k in docs
    }
    for which, text in docs.items():
        for member, value in json.loads(text).items():
            if not isinstance(value, str) or not value:
                continue
            flipped = value[:-1] + ("A" if value[-1] != "A" else "B")
            try:
                obj = loaders[which](_edit(text, **{member: flipped}))
            except (SerializationError, KeyMismatchError):
                outcomes["refused"] += 1
                continue
            outcomes["accepted"] += 1
            assert _invariants_hold(obj, pk)
    assert outcomes["refused"] > 0
