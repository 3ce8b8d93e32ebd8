"""heprim.serialize.bfv: round trips (JSON and binary, seeded and not), sizes, every refusal."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim import bfv, serialize
from heprim.errors import KeyMismatchError, ParameterError, SerializationError
from heprim.math.prng import KeyedPRNG
from heprim.serialize import bfv as sbfv
from heprim.serialize.envelope import b64url_encode

LITERAL = bfv.ParametersLiteral(512, 65537, log_q=(27,) * 3, log_p=(28,))


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = bfv.Parameters(LITERAL, allow_insecure=True)
    rng = KeyedPRNG.from_int(70)
    keygen = bfv.KeyGenerator(params, rng=rng)
    return {
        "params": params,
        "sk": keygen.secret_key,
        "pk": keygen.public_key(),
        "rlk": keygen.relin_keys(),
        "gk": keygen.galois_keys(steps=[1, -1]),
        "encoder": bfv.BatchEncoder(params),
        "public": bfv.Encryptor(keygen.public_key(), rng=rng),
        "symmetric": bfv.Encryptor(keygen.secret_key, rng=rng),
    }


def _both(obj: object, **kwargs: Any) -> list[tuple[str, Any]]:
    """The JSON and the binary form, with their loaders."""
    return [
        (
            "json",
            lambda ctx=None, expect=None: sbfv.loads(
                sbfv.dumps(obj, **kwargs), context=ctx, expect=expect
            ),
        ),
        (
            "binary",
            lambda ctx=None, expect=None: sbfv.load_bytes(
                sbfv.dump_bytes(obj, **kwargs), context=ctx, expect=expect
            ),
        ),
    ]


def test_parameters_and_keys_round_trip(keys: dict[str, Any]) -> None:
    for name in ("params", "pk", "rlk", "gk"):
        for _, load in _both(keys[name]):
            assert load() == keys[name], name
    for _, load in _both(keys["sk"], include_secret=True):
        loaded = load()
        assert loaded == keys["sk"]
    preset = bfv.Parameters.preset("N4096-128")
    assert sbfv.loads(sbfv.dumps(preset)) == preset


@given(st.lists(st.integers(-32768, 65536), max_size=512), st.booleans())
def test_ciphertexts_round_trip(keys: dict[str, Any], values: list[int], symmetric: bool) -> None:
    encoder = keys["encoder"]
    encryptor = keys["symmetric" if symmetric else "public"]
    ct = encryptor.encrypt(encoder.encode(values))
    decryptor = bfv.Decryptor(keys["sk"])
    expected = encoder.decode(decryptor.decrypt(ct))
    for seeded in (True, False):
        for _, load in _both(ct, seeded=seeded):
            for context in (keys["params"], keys["pk"], keys["sk"], keys["rlk"], keys["gk"]):
                loaded = load(context)
                assert loaded == ct
                assert np.array_equal(encoder.decode(decryptor.decrypt(loaded)), expected)
                assert (loaded.seed is not None) == (symmetric and seeded)


def test_other_ciphertexts_round_trip(keys: dict[str, Any]) -> None:
    ct = keys["public"].encrypt(keys["encoder"].encode([1, 2, 3]))
    product = ct * ct  # size 3
    low = bfv.Evaluator(keys["params"]).mod_switch_to(ct, 1)
    plain = keys["encoder"].encode([4, 5])
    for obj in (product, low, plain):
        for _, load in _both(obj):
            assert load(keys["params"]) == obj


def test_sizes(keys: dict[str, Any]) -> None:
    n, level = 512, 3
    ct = keys["symmetric"].encrypt(keys["encoder"].encode([1]))
    raw = 2 * level * n * 4  # uint32 residues
    seal_uncompressed = 2 * level * n * 8  # SEAL's 64-bit words, headers left out
    full = len(sbfv.dump_bytes(ct, seeded=False))
    seeded = len(sbfv.dump_bytes(ct))
    assert raw <= full <= raw + 400 and full <= 0.6 * seal_uncompressed
    assert seeded <= full / 2 + 200
    assert len(sbfv.dumps(ct, seeded=False)) <= 1.4 * raw + 400  # base64 in JSON
    # keys: b only (a comes from the seed)
    rlk = len(sbfv.dump_bytes(keys["rlk"]))
    assert rlk <= 3 * 4 * n * 4 + 600  # 3 digits x 4 limbs x N x 4 bytes + header


def test_through_the_generic_dispatch(keys: dict[str, Any]) -> None:
    ct = keys["public"].encrypt(keys["encoder"].encode([9]))
    text = serialize.dumps(ct)
    assert serialize.loads(text, context=keys["pk"]) == ct
    assert serialize.loads(serialize.dumps(keys["params"]), expect=bfv.Parameters) == keys["params"]
    with pytest.raises(SerializationError, match="expected a PublicKey"):
        serialize.loads(serialize.dumps(keys["params"]), expect=bfv.PublicKey)
    assert serialize.loads(serialize.dumps(keys["sk"], include_secret=True)) == keys["sk"]
    with pytest.raises(ParameterError, match="include_secret"):
        serialize.dumps(keys["sk"])
    doc = json.loads(text)
    assert doc["heprim"] == "bfv.Ciphertext" and doc["version"] == 1


def test_refusals_when_dumping(keys: dict[str, Any]) -> None:
    with pytest.raises(ParameterError, match="include_secret"):
        sbfv.dumps(keys["sk"])
    with pytest.raises(ParameterError, match="include_secret"):
        sbfv.dump_bytes(keys["sk"])
    with pytest.raises(ParameterError, match="True or False"):
        sbfv.dumps(keys["pk"], seeded=1)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="cannot serialize"):
        sbfv.dumps(object())
    assert sbfv.handles(keys["pk"]) and not sbfv.handles(3)


def _tamper(text: str, **changes: Any) -> str:
    doc = json.loads(text)
    for key, value in changes.items():
        if value is KeyError:
            del doc[key]
        else:
            doc[key] = value
    return json.dumps(doc)


def test_refusals_when_loading_ciphertexts(keys: dict[str, Any]) -> None:
    params = keys["params"]
    ct = keys["symmetric"].encrypt(keys["encoder"].encode([1]))
    text = sbfv.dumps(ct)
    with pytest.raises(ParameterError, match="needs its parameters"):
        sbfv.loads(text)
    with pytest.raises(ParameterError, match="context must be"):
        sbfv.loads(text, context="params")
    other = bfv.Parameters.preset("N4096-128")
    with pytest.raises(KeyMismatchError, match=r"not under the given"):
        sbfv.loads(text, context=other)
    stranger = bfv.KeyGenerator(params, rng=KeyedPRNG.from_int(71)).public_key()
    with pytest.raises(KeyMismatchError, match="given key set"):
        sbfv.loads(text, context=stranger)
    cases = {
        "level": _tamper(text, level=4),
        "size": _tamper(text, size=9),
        "seeded size": _tamper(text, size=3),
        "key id": _tamper(text, key_id="XYZ"),
        "seed": _tamper(text, seed=b64url_encode(b"short")),
        "missing": _tamper(text, data=KeyError),
        "extra": _tamper(text, extra=1),
        "blob length": _tamper(text, data=b64url_encode(b"\x00" * 12)),
        "residue": _tamper(text, data=b64url_encode(b"\xff" * (3 * 512 * 4))),
        "version": _tamper(text, version=2),
    }
    for name, bad in cases.items():
        with pytest.raises(SerializationError):
            sbfv.loads(bad, context=params)
        assert name
    unseeded = sbfv.dumps(ct, seeded=False)
    with pytest.raises(SerializationError, match="unknown member"):
        sbfv.loads(_tamper(unseeded, seed=None), context=params)


def test_refusals_when_loading_keys(keys: dict[str, Any]) -> None:
    pk_text = sbfv.dumps(keys["pk"])
    doc = json.loads(pk_text)
    tampered = dict(doc["params"], fingerprint="0" * 32)
    with pytest.raises(SerializationError, match="fingerprint"):
        sbfv.loads(_tamper(pk_text, params=tampered))
    insecure = dict(doc["params"], allow_insecure=False)
    with pytest.raises(SerializationError, match="insecure"):
        sbfv.loads(_tamper(pk_text, params=insecure))
    with pytest.raises(SerializationError, match="too many primes"):
        sbfv.loads(_tamper(pk_text, params=dict(doc["params"], q=[3] * 200)))
    with pytest.raises(SerializationError, match="seed"):
        sbfv.loads(_tamper(pk_text, seed=b64url_encode(b"x" * 31)))
    sk_text = sbfv.dumps(keys["sk"], include_secret=True)
    with pytest.raises(SerializationError, match="ternary"):
        sbfv.loads(_tamper(sk_text, coefficients=b64url_encode(b"\x03" * 512)))
    gk_text = sbfv.dumps(keys["gk"])
    elements = json.loads(gk_text)["elements"]
    with pytest.raises(SerializationError, match="increasing"):
        sbfv.loads(_tamper(gk_text, elements=elements[::-1]))
    with pytest.raises(SerializationError, match="seeds"):
        sbfv.loads(_tamper(gk_text, seeds=b64url_encode(b"x" * 32)))
    with pytest.raises(SerializationError, match="Galois element"):
        sbfv.loads(_tamper(gk_text, elements=[4, 6, 8]))
    rlk_doc = json.loads(sbfv.dumps(keys["rlk"]))
    no_p = dict(rlk_doc["params"], p=[])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        no_p["fingerprint"] = bfv.Parameters(
            bfv.ParametersLiteral(512, 65537, q=tuple(no_p["q"])), allow_insecure=True
        ).fingerprint
        with pytest.raises(SerializationError, match="special primes"):
            sbfv.loads(json.dumps(dict(rlk_doc, params=no_p)))
    with pytest.raises(SerializationError, match="unknown BFV document"):
        sbfv.load_document({"heprim": "bfv.Nothing", "version": 1})


def test_refusals_of_the_binary_form(keys: dict[str, Any]) -> None:
    data = sbfv.dump_bytes(keys["pk"])
    assert data.startswith(sbfv.MAGIC)
    with pytest.raises(SerializationError, match="magic"):
        sbfv.load_bytes(b"garbage" * 10)
    with pytest.raises(SerializationError, match="expected bytes"):
        sbfv.load_bytes("text")  # type: ignore[arg-type]
    with pytest.raises(SerializationError, match="trailing"):
        sbfv.load_bytes(data + b"\x00")
    with pytest.raises(SerializationError, match="outside the payload"):
        sbfv.load_bytes(data[:-1])
    start = len(sbfv.MAGIC)
    huge = data[:start] + (1 << 30).to_bytes(4, "big") + data[start + 4 :]
    with pytest.raises(SerializationError, match="header length"):
        sbfv.load_bytes(huge)
    paillier_doc = b'{"heprim":"paillier.PublicKey","version":1}'
    fake = sbfv.MAGIC + len(paillier_doc).to_bytes(4, "big") + paillier_doc
    with pytest.raises(SerializationError, match="BFV objects only"):
        sbfv.load_bytes(fake)
    with pytest.raises(SerializationError, match="expected a Ciphertext"):
        sbfv.load_bytes(data, expect=bfv.Ciphertext)
