"""Threshold Paillier keys, key shares and decryption shares through heprim.serialize.

Keys are dealt from the fixed 512-bit safe primes of tests/vectors/paillier_safe_primes.json
(a test-only size), so nothing waits for a safe-prime search.
"""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim import serialize
from heprim.errors import KeyMismatchError, ParameterError, SerializationError
from heprim.math.ntheory import jacobi
from heprim.math.prng import KeyedPRNG
from heprim.paillier.number import EncryptedNumber
from heprim.paillier.threshold import (
    DecryptionShare,
    KeyShare,
    ShareProof,
    ThresholdPublicKey,
    deal,
)
from heprim.serialize.envelope import blob_from_ints, int_to_b64url

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
pytestmark = pytest.mark.filterwarnings("ignore::heprim.errors.InsecureParametersWarning")


@functools.cache
def dealt(seed: int = 7) -> tuple[ThresholdPublicKey, list[KeyShare]]:
    entry = json.loads((VECTORS / "paillier_safe_primes.json").read_text())["keys"]["512"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return deal(
            int(entry["p"], 16),
            int(entry["q"], 16),
            parties=5,
            threshold=3,
            rng=KeyedPRNG.from_int(seed),
            allow_insecure=True,
        )


MESSAGES = [0, 1, 42, 123456789]


@functools.cache
def material() -> tuple[list[int], dict[str, str]]:
    """Ciphertexts and one document of every kind (the decryption shares of holders 1 and 2)."""
    public, shares = dealt()
    rng = KeyedPRNG.from_int(11)
    cts = [public.public_key.raw_encrypt(m, rng=rng) for m in MESSAGES]
    d1 = shares[0].decrypt(cts, rng=rng)
    d2 = shares[1].decrypt(cts, prove=False)
    return cts, {
        "public": serialize.dumps(public),
        "share": serialize.dumps(shares[2], include_secret=True),
        "dshare": serialize.dumps(d1, public_key=public),
        "dshare_noproof": serialize.dumps(d2, public_key=public),
    }


def _edit(text: str, **changes: Any) -> str:
    doc = json.loads(text)
    for key, value in changes.items():
        if value is ...:
            del doc[key]
        else:
            doc[key] = value
    return json.dumps(doc)


def _load(text: str) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return serialize.loads(text, public_key=dealt()[0])


# --------------------------------------------------------------------------- round trips


def test_everything_round_trips_and_decrypts_exactly_as_before() -> None:
    """Serialize the key, every share and the decryption shares; load; decrypt with t shares."""
    public, shares = dealt()
    cts, _ = material()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded_public = serialize.loads(serialize.dumps(public), expect=ThresholdPublicKey)
        texts = [serialize.dumps(s, include_secret=True) for s in shares]
        loaded = [serialize.loads(t, expect=KeyShare) for t in texts]
    assert loaded_public == public and loaded_public.public_key == public.public_key
    assert loaded_public.verification_keys == public.verification_keys
    assert loaded_public.threshold == 3 and loaded_public.parties == 5
    assert [s.index for s in loaded] == [1, 2, 3, 4, 5]
    assert all(s.public == public for s in loaded)
    assert [s._secret for s in loaded] == [s._secret for s in shares]
    # holders 5, 2, 4 decrypt with their loaded shares; the combiner gets their documents
    rng = KeyedPRNG.from_int(5)
    sent = [serialize.dumps(loaded[i].decrypt(cts, rng=rng), public_key=public) for i in (4, 1, 3)]
    received = [serialize.loads(t, public_key=loaded_public, expect=DecryptionShare) for t in sent]
    assert all(loaded_public.verify(cts, d) for d in received)
    assert loaded_public.combine(cts, received, verify=True) == MESSAGES
    # and the loaded shares' decryption shares equal the original ones value for value
    assert loaded[0].decrypt(cts, prove=False).values == shares[0].decrypt(cts, prove=False).values


def test_decryption_shares_round_trip_with_and_without_proof() -> None:
    public, shares = dealt()
    cts, docs = material()
    d1 = serialize.loads(docs["dshare"], public_key=public, expect=DecryptionShare)
    d2 = serialize.loads(docs["dshare_noproof"], public_key=shares[4], expect=DecryptionShare)
    assert d1.index == 1 and d1.proof is not None and public.verify(cts, d1)
    assert d2.index == 2 and d2.proof is None and not public.verify(cts, d2)
    assert d2.values == shares[1].decrypt(cts, prove=False).values
    d3 = shares[2].decrypt(cts, prove=False)
    assert public.combine(cts, [d1, d2, d3]) == MESSAGES
    assert serialize.dumps(d1, public_key=public) == docs["dshare"]  # canonical form


def test_a_key_share_and_a_public_key_check_a_given_key() -> None:
    public, _ = dealt()
    other, _ = dealt(seed=8)
    _, docs = material()
    assert serialize.loads(docs["share"], public_key=public).public is public
    assert serialize.loads(docs["public"], public_key=public.public_key) == public
    for text in (docs["share"], docs["public"]):
        with pytest.raises(KeyMismatchError):
            serialize.loads(text, public_key=other)
    with pytest.raises(KeyMismatchError):
        serialize.loads(docs["dshare"], public_key=other)


def test_ciphertexts_load_under_a_threshold_key() -> None:
    public, _ = dealt()
    x = public.public_key.encrypt(7, rng=KeyedPRNG.from_int(1))
    back = serialize.loads(serialize.dumps(x), public_key=public, expect=EncryptedNumber)
    assert back.ciphertext == x.ciphertext


def test_empty_decryption_share_round_trips() -> None:
    public, _ = dealt()
    text = serialize.dumps(DecryptionShare(4, ()), public_key=public)
    assert serialize.loads(text, public_key=public) == DecryptionShare(4, ())


# --------------------------------------------------------------------------- refusals


def test_dumps_refusals() -> None:
    public, shares = dealt()
    cts, _ = material()
    share = shares[0].decrypt(cts, prove=False)
    with pytest.raises(ParameterError, match="include_secret=True"):
        serialize.dumps(shares[0])
    with pytest.raises(ParameterError, match="public_key=threshold_public_key"):
        serialize.dumps(share)
    with pytest.raises(ParameterError, match="public_key=threshold_public_key"):
        serialize.dumps(share, public_key=public.public_key)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="only for a threshold DecryptionShare"):
        serialize.dumps(public.public_key, public_key=public)
    with pytest.raises(ParameterError, match="indices"):
        serialize.dumps(DecryptionShare(6, share.values), public_key=public)
    with pytest.raises(ParameterError, match="ciphertext"):
        serialize.dumps(DecryptionShare(1, (0,)), public_key=public)
    assert serialize.dumps(share, public_key=shares[3]) == serialize.dumps(share, public_key=public)


def test_loads_refusals_of_the_caller() -> None:
    public, _ = dealt()
    _, docs = material()
    for key in (None, public.public_key):
        with pytest.raises(ParameterError, match="threshold public key"):
            serialize.loads(docs["dshare"], public_key=key)
    with pytest.raises(ParameterError, match="ThresholdPublicKey"):
        serialize.loads(docs["public"], public_key="key")  # type: ignore[call-overload]
    with pytest.raises(SerializationError, match="expected a KeyShare"):
        serialize.loads(docs["public"], expect=KeyShare)


def _unit_nonsquare(public: ThresholdPublicKey) -> int:
    x = 2
    while jacobi(x, public.n) != -1:
        x += 1
    return x


def _public_cases() -> list[tuple[dict[str, Any], str]]:
    public, _ = dealt()
    n, nsq = int(public.n), int(public.n) ** 2
    width = (nsq.bit_length() + 7) // 8
    keys = list(public.verification_keys)
    return [
        ({"n": ...}, 'missing member "n"'),
        ({"n": int_to_b64url(n + 1)}, "even"),
        ({"threshold": 0}, "at least 1"),
        ({"threshold": 6}, "only 5 parties"),
        ({"threshold": True}, "JSON integer"),
        ({"parties": 0}, "at least 1"),
        ({"parties": 257}, "at most 256"),
        ({"parties": 4}, "declares 4"),
        ({"width": width + 1}, "width"),
        ({"base": int_to_b64url(1)}, "unit"),
        ({"base": int_to_b64url(nsq)}, "unit"),
        ({"base": int_to_b64url(n)}, "unit"),
        ({"base": int_to_b64url(_unit_nonsquare(public))}, "Jacobi"),
        ({"verification_keys": blob_from_ints([*keys[:4], n], width)}, "verification key 5"),
        ({"verification_keys": blob_from_ints([*keys[:4], 0], width)}, "verification key 5"),
        ({"verification_keys": blob_from_ints(keys[:4], width)}, "declares 5"),
        (
            {"verification_keys": blob_from_ints([keys[1], keys[0], *keys[2:]], width)},
            "fingerprint",
        ),
        ({"fingerprint": "0" * 32}, "fingerprint"),
        ({"hs": int_to_b64url(_unit_nonsquare(public))}, "hs"),
        ({"fingerprint": 1}, "must be a string"),
        ({"extra": 1}, "unknown member"),
        ({"version": 2}, "version 2"),
    ]


@pytest.mark.parametrize("which", ["public", "share"])
@pytest.mark.parametrize(("changes", "match"), _public_cases())
def test_malformed_threshold_keys(which: str, changes: dict[str, Any], match: str) -> None:
    _, docs = material()
    with pytest.raises(SerializationError, match=match):
        _load(_edit(docs[which], **changes))


def test_malformed_key_shares() -> None:
    public, shares = dealt()
    _, docs = material()
    text = docs["share"]
    nsq = int(public.public_key.nsquare)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"index": 0}, "at least 1"),
        ({"index": 6}, "at most 5"),
        ({"index": 2}, "verification key 2"),
        ({"secret": ...}, 'missing member "secret"'),
        ({"secret": int_to_b64url(shares[2]._secret + 1)}, "verification key 3"),
        ({"secret": int_to_b64url(nsq)}, "below n"),
        ({"secret": "AAE"}, "leading zero"),
        ({"secret": 5}, "Base64urlUInt"),
    ]
    for changes, match in cases:
        with pytest.raises(SerializationError, match=match):
            serialize.loads(_edit(text, **changes))


def test_malformed_decryption_shares() -> None:
    public, _ = dealt()
    _, docs = material()
    text = docs["dshare"]
    doc = json.loads(text)
    n, nsq = int(public.n), int(public.public_key.nsquare)
    width = doc["width"]
    values = serialize.loads(text, public_key=public, expect=DecryptionShare).values
    cases: list[tuple[dict[str, Any], str]] = [
        ({"index": 0}, "at least 1"),
        ({"index": 6}, "at most 5"),
        ({"count": 3}, "declares 3"),
        ({"count": -1}, "at least 0"),
        ({"width": width - 1}, "width"),
        ({"values": blob_from_ints([*values[:3], n], width)}, "share value 3"),
        ({"values": blob_from_ints([*values[:3], 0], width)}, "share value 3"),
        ({"values": doc["values"] + "A"}, "impossible|canonical|multiple"),
        ({"challenge": ...}, 'missing member "challenge"'),
        ({"response": ...}, 'missing member "response"'),
        ({"challenge": int_to_b64url(1 << 256)}, "256 bits"),
        ({"response": int_to_b64url(1 << (nsq.bit_length() + 2000))}, "honest proof"),
        ({"proof": None}, "unknown member"),
        ({"key": ...}, 'missing member "key"'),
        ({"heprim": "paillier.Decryptionshare"}, "unknown heprim document type"),
    ]
    for changes, match in cases:
        with pytest.raises(SerializationError, match=match):
            serialize.loads(_edit(text, **changes), public_key=public)
    with pytest.raises(KeyMismatchError):
        serialize.loads(_edit(text, key="0" * 32), public_key=public)


def test_truncated_documents() -> None:
    _, docs = material()
    for text in docs.values():
        for cut in (1, len(text) // 2, len(text) - 1):
            with pytest.raises(SerializationError, match="JSON"):
                _load(text[:cut])


# --------------------------------------------------------------------------- tampering


def _accepted_is_harmless(which: str, original: str, obj: object) -> bool:
    """A tampered document that loads must be the same object, or (for a decryption share,
    whose values only its proof vouches for) one whose proof fails."""
    public, _ = dealt()
    cts, _ = material()
    reference = _load(original)
    if isinstance(obj, ThresholdPublicKey):
        # The fingerprint covers n, t, v and every v_i but not the DJN h_s, which the loader can
        # only check by its Jacobi symbol: a corrupted h_s may load (a known gap, as for
        # paillier.PublicKey). Everything threshold decryption relies on must be intact.
        return obj == reference
    if isinstance(obj, KeyShare):
        assert isinstance(reference, KeyShare)
        return obj.index == reference.index and obj._secret == reference._secret
    if isinstance(obj, DecryptionShare):
        return obj == reference or not public.verify(cts, obj)
    return False


@given(
    which=st.sampled_from(["public", "share", "dshare", "dshare_noproof"]),
    position=st.integers(min_value=0),
    char=st.characters(codec="ascii"),
    mode=st.sampled_from(["replace", "delete", "insert"]),
)
def test_tampered_documents_are_refused_or_harmless(
    which: str, position: int, char: str, mode: str
) -> None:
    _, docs = material()
    text = docs[which]
    i = position % len(text)
    if mode == "replace":
        tampered = text[:i] + char + text[i + 1 :]
    elif mode == "delete":
        tampered = text[:i] + text[i + 1 :]
    else:
        tampered = text[:i] + char + text[i:]
    try:
        obj = _load(tampered)
    except (SerializationError, KeyMismatchError):
        return
    assert _accepted_is_harmless(which, text, obj), f"accepted a broken {type(obj).__name__}"


def test_changing_the_last_character_of_each_member_of_the_keys_is_refused() -> None:
    """Deterministic companion: in the keys every string member is covered by a check."""
    _, docs = material()
    for which in ("public", "share"):
        text = docs[which]
        for member, value in json.loads(text).items():
            if member in ("heprim", "hs") or not isinstance(value, str):
                continue  # the fingerprint does not cover hs (module docstring)
            flipped = value[:-1] + ("A" if value[-1] != "A" else "B")
            with pytest.raises((SerializationError, KeyMismatchError)):
                _load(_edit(text, **{member: flipped}))


def test_a_tampered_share_value_is_caught_by_its_proof() -> None:
    public, _ = dealt()
    cts, docs = material()
    doc = json.loads(docs["dshare"])
    share = serialize.loads(docs["dshare"], public_key=public, expect=DecryptionShare)
    values = list(share.values)
    values[0] = values[0] * 4 % public.public_key.nsquare  # still a unit: the loader accepts it
    text = _edit(docs["dshare"], values=blob_from_ints(values, doc["width"]))
    forged = serialize.loads(text, public_key=public, expect=DecryptionShare)
    assert forged.proof == ShareProof(share.proof.challenge, share.proof.response)  # type: ignore[union-attr]
    assert not public.verify(cts, forged)
