"""heprim.serialize.client_keys (and bfv.ClientKey): the state of a client-key BFV aggregation.

Round trips are checked by running real sessions with the reloaded objects (oracle: the
plaintext sum of the inputs, numpy int64) and by the records they must keep: a reloaded client
key refuses the seeds it used, a reloaded decryptor the sessions it answered. Every corruption
the loaders validate is fed to them once.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim import serialize
from heprim.bfv import multiparty
from heprim.bfv.encoder import BatchEncoder
from heprim.errors import (
    InsecureParametersWarning,
    KeyMismatchError,
    ParameterError,
    ProtocolError,
    SerializationError,
)
from heprim.math.prng import KeyedPRNG
from heprim.net.simulate import simulate_he
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.he_aggregation import HESessionConfig
from heprim.secagg.he_bfv import aggregation_parameters
from heprim.secagg.he_bfv_client_keys import (
    ClientKeyDeployment,
    DecryptorKeyShares,
    PublicClientKeyDeployment,
    chunk_seed,
)
from heprim.serialize import bfv as sbfv
from heprim.serialize import client_keys as sck
from heprim.serialize.envelope import b64url_decode, b64url_encode

ENCODING = VectorEncoding.integers(0, 255)
CLIENTS = (1, 2, 3, 4, 5)
DECRYPTORS = (101, 102, 103)
DIM = 40


def _params(degree: int = 1024) -> Any:  # small N: fast, insecure on purpose
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        return aggregation_parameters(
            ENCODING.modulus_bits(len(CLIENTS)), degree=degree, allow_insecure=True
        )


def _inputs(seed: int) -> dict[int, np.ndarray]:
    rng = KeyedPRNG.from_int(seed)
    return {
        u: np.frombuffer(rng.random_bytes(DIM), dtype=np.uint8).astype(np.int64) for u in CLIENTS
    }


def _session(dep: Any, seed: int) -> tuple[bytes, dict[int, np.ndarray]]:
    """One exact session; its id and inputs."""
    inputs = _inputs(seed)
    result = simulate_he(inputs, ENCODING, dep, rng=KeyedPRNG.from_int(seed))
    assert result.abort_reason is None, result.abort_reason
    assert np.array_equal(result.aggregate.sum, sum(inputs.values()))
    return result.config.session, inputs


@pytest.fixture(scope="module")
def used() -> dict[str, Any]:
    """A deployment that already ran one session, so both records are non-empty."""
    dep = ClientKeyDeployment.generate(CLIENTS, DECRYPTORS, 2, _params(), rng=KeyedPRNG.from_int(1))
    session, _ = _session(dep, 2)
    return {"dep": dep, "session": session}


Dump = Callable[..., Any]
FORMS: list[tuple[str, Dump, Dump, Dump, Dump]] = [
    ("json", serialize.dumps, serialize.loads, serialize.dumps, serialize.loads),
    ("binary", sbfv.dump_bytes, sbfv.load_bytes, sck.dump_bytes, sck.load_bytes),
]


def _reload(dep: ClientKeyDeployment, form: str) -> ClientKeyDeployment:
    """Every party's state through storage, as after a restart."""
    _, dump_key, load_key, dump_state, load_state = next(f for f in FORMS if f[0] == form)
    public = load_state(dump_state(dep.public))
    keys = {
        j: load_key(dump_key(k, include_secret=True), context=public.params)
        for j, k in dep.keys.items()
    }
    shares = {
        i: load_state(dump_state(s, include_secret=True), context=public)
        for i, s in dep.shares.items()
    }
    return ClientKeyDeployment.from_parts(public, keys, shares)


def _doc(text: str) -> dict[str, Any]:
    return json.loads(text)


def _text(doc: dict[str, Any]) -> str:
    return json.dumps(doc)


# --------------------------------------------------------------------- round trips


@pytest.mark.parametrize("form", ["json", "binary"])
def test_round_trip_then_an_exact_session(used: dict[str, Any], form: str) -> None:
    dep = used["dep"]
    again = _reload(dep, form)
    assert again.public == dep.public
    for j, key in dep.keys.items():
        loaded = again.keys[j]
        assert loaded.secret == key.secret and loaded.key_id == key.key_id
        assert loaded.used_seeds == key.used_seeds and len(key.used_seeds) == 1
    for i, store in dep.shares.items():
        loaded_store = again.shares[i]
        assert (loaded_store.index, loaded_store.threshold, loaded_store.level) == (
            store.index,
            store.threshold,
            store.level,
        )
        assert loaded_store.answered_sessions == store.answered_sessions == {used["session"]}
        assert loaded_store.deployment_id == dep.deployment_id
        for j in CLIENTS:
            assert np.array_equal(loaded_store.share(j).data, store.share(j).data)
    # The reloaded parties aggregate exactly, and record the new session as before.
    session, _ = _session(again, 30 + len(form))
    assert all(s.answered(session) for s in again.shares.values())
    assert not any(s.answered(session) for s in dep.shares.values())  # copies, not aliases


def test_only_some_parties_restart() -> None:
    """A server runs on the public part alone; a reloaded client joins live parties."""
    dep = ClientKeyDeployment.generate(CLIENTS, DECRYPTORS, 2, _params(), rng=KeyedPRNG.from_int(5))
    first, _ = _session(dep, 6)
    public = serialize.loads(serialize.dumps(dep.public), expect=PublicClientKeyDeployment)
    key = serialize.loads(
        serialize.dumps(dep.keys[1], include_secret=True),
        context=public,  # a deployment stands for its parameters
        expect=multiparty.ClientKey,
    )
    keys = dict(dep.keys)
    keys[1] = key
    mixed = ClientKeyDeployment.from_parts(public, keys, dict(dep.shares))
    second, _ = _session(mixed, 7)
    seeds = {chunk_seed(dep.deployment_id, s, 0) for s in (first, second)}
    assert key.used_seeds == seeds and dep.keys[2].used_seeds == seeds
    assert dep.keys[1].used_seeds == seeds - {chunk_seed(dep.deployment_id, second, 0)}


@given(
    st.sets(st.binary(min_size=32, max_size=32), max_size=6),
    st.sets(st.binary(min_size=16, max_size=16), max_size=6),
)
def test_records_round_trip(used: dict[str, Any], seeds: set[bytes], sessions: set[bytes]) -> None:
    dep = used["dep"]
    key = multiparty.ClientKey.from_secret(dep.keys[1].secret, used_seeds=seeds)
    text = serialize.dumps(key, include_secret=True)
    assert serialize.loads(text, context=dep.params).used_seeds == seeds
    store = dep.shares[101]
    shares = {j: store.share(j) for j in CLIENTS}
    copy = DecryptorKeyShares(
        dep.params,
        store.index,
        store.threshold,
        store.level,
        shares,
        answered=sessions,
        deployment_id=dep.deployment_id,
    )
    blob = sck.dump_bytes(copy, include_secret=True)
    assert sck.load_bytes(blob, context=dep.public).answered_sessions == sessions


def test_the_deployment_limits_round_trip(used: dict[str, Any]) -> None:
    dep = used["dep"]
    public = PublicClientKeyDeployment(
        dep.params,
        dep.deployment_id,
        dep.clients,
        dep.decryptors,
        dep.threshold,
        dep.upload_level,
        min_contributors=3,
        max_contributors=4,
    )
    assert serialize.loads(serialize.dumps(public)) == public
    assert serialize.loads(serialize.dumps(public), context=dep.params) == public


# --------------------------------------------------------------------- records kept


@pytest.mark.parametrize("form", ["json", "binary"])
def test_a_reloaded_client_key_refuses_a_used_seed(used: dict[str, Any], form: str) -> None:
    dep, session = used["dep"], used["session"]
    again = _reload(dep, form)
    seed = chunk_seed(dep.deployment_id, session, 0)
    plain = BatchEncoder(dep.params).encode([1])
    with pytest.raises(ProtocolError, match="already encrypted"):
        again.keys[3].encrypt([plain], [seed], level=dep.upload_level)
    # And in the protocol: a server replaying the session id gets no upload.
    config = HESessionConfig.create(
        list(CLIENTS),
        DIM,
        ENCODING,
        decryptors=dep.decryptors,
        threshold=dep.threshold,
        session=session,
    )
    setups = again.public.server(config).start()
    party = again.public.party(3, key=again.keys[3])
    party.set_input(np.zeros(DIM, dtype=np.int64))
    with pytest.raises(ProtocolError, match="already encrypted under this session id"):
        party.handle(next(m for m in setups if m.recipient == 3))


@pytest.mark.parametrize("form", ["json", "binary"])
def test_a_reloaded_decryptor_refuses_an_answered_session(used: dict[str, Any], form: str) -> None:
    dep, session = used["dep"], used["session"]
    again = _reload(dep, form)
    store = again.shares[102]
    with pytest.raises(ProtocolError, match="already answered"):
        store.claim(session)
    config = HESessionConfig.create(
        list(CLIENTS),
        DIM,
        ENCODING,
        decryptors=dep.decryptors,
        threshold=dep.threshold,
        session=session,
    )
    setups = again.server(config).start()
    party = again.public.party(102, shares=store)
    with pytest.raises(ProtocolError, match="already answered"):
        party.handle(next(m for m in setups if m.recipient == 102))


# --------------------------------------------------------------------- secrets


def test_secrets_only_when_asked(used: dict[str, Any]) -> None:
    dep = used["dep"]
    with pytest.raises(ParameterError, match="client key without include_secret=True"):
        serialize.dumps(dep.keys[1])
    with pytest.raises(ParameterError, match="client key without include_secret=True"):
        sbfv.dump_bytes(dep.keys[1])
    with pytest.raises(ParameterError, match="DecryptorKeyShares without include_secret=True"):
        serialize.dumps(dep.shares[101])
    with pytest.raises(ParameterError, match="DecryptorKeyShares without include_secret=True"):
        sck.dump_bytes(dep.shares[101])
    with pytest.raises(ParameterError, match=r"dumps\(deployment.public\)"):
        serialize.dumps(dep, include_secret=True)
    with pytest.raises(ParameterError, match="include_secret must be True or False"):
        sck.dumps(dep.shares[101], include_secret=1)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="cannot serialize a int"):
        sck.dumps(3)
    # The public part holds no key material: exactly these members, no polynomial.
    public = _doc(serialize.dumps(dep.public))
    assert set(public) == {
        "heprim",
        "version",
        "params",
        "deployment_id",
        "clients",
        "decryptors",
        "share_indices",
        "threshold",
        "upload_level",
        "min_contributors",
        "allow_insecure",
    }
    assert len(serialize.dumps(dep.public)) < 1000
    # The secret documents do hold the secret (so the refusal above is not vacuous).
    key_doc = _doc(serialize.dumps(dep.keys[1], include_secret=True))
    coefficients = np.frombuffer(b64url_decode(key_doc["coefficients"]), dtype=np.uint8)
    assert np.array_equal(coefficients.astype(np.int64) - 1, dep.keys[1].secret.coefficients)


def test_shares_need_their_deployment_id(used: dict[str, Any]) -> None:
    store = used["dep"].shares[101]
    bare = DecryptorKeyShares(
        store.params, store.index, store.threshold, store.level, {1: store.share(1)}
    )
    with pytest.raises(ParameterError, match="do not know their deployment id"):
        serialize.dumps(bare, include_secret=True)


# --------------------------------------------------------------------- corruptions


def _key_doc(dep: ClientKeyDeployment) -> dict[str, Any]:
    return _doc(serialize.dumps(dep.keys[1], include_secret=True))


def _load_key(doc: dict[str, Any], dep: ClientKeyDeployment) -> Any:
    return serialize.loads(_text(doc), context=dep.params)


def test_corrupt_client_keys(used: dict[str, Any]) -> None:
    dep = used["dep"]
    seeds = [*sorted(dep.keys[1].used_seeds), bytes(range(32))]
    cases: list[tuple[str, Any, str]] = [
        ("coefficients", None, 'missing member "coefficients"'),  # the secret missing
        ("used_seeds", b64url_encode(b"\x01" * 31), "must hold 1 seeds of 32 bytes"),
        ("used_seeds", b64url_encode(b"\x01" * 64), "must hold 1 seeds of 32 bytes"),
        ("used", 2, "must hold 2 seeds"),
        ("used", -1, '"used" must be at least 0'),
        ("key_id", "XYZ", "32 lowercase hexadecimal digits"),
        ("heprim", "bfv.ClientKeys", "unknown heprim document type"),
        ("version", 2, "unsupported version 2"),
        ("extra", 1, "unknown member"),
    ]
    for member, value, message in cases:
        doc = _key_doc(dep)
        if value is None:
            del doc[member]
        else:
            doc[member] = value
        with pytest.raises(SerializationError, match=message):
            _load_key(doc, dep)
    doc = _key_doc(dep)
    raw = bytearray(b64url_decode(doc["coefficients"]))
    raw[7] = 3  # a coefficient outside {-1, 0, 1}
    doc["coefficients"] = b64url_encode(bytes(raw))
    with pytest.raises(SerializationError, match="bytes 0, 1, 2"):
        _load_key(doc, dep)
    doc["coefficients"] = b64url_encode(bytes(raw[:-1]))  # one coefficient short
    with pytest.raises(SerializationError, match="expected 1024"):
        _load_key(doc, dep)
    doc = _key_doc(dep)
    doc["used"], doc["used_seeds"] = 2, b64url_encode(seeds[0] * 2)
    with pytest.raises(SerializationError, match=r"lists a seed twice.*backup or rotate"):
        _load_key(doc, dep)
    doc["used_seeds"] = b64url_encode(b"".join(sorted(seeds, reverse=True)))
    with pytest.raises(SerializationError, match="increasing order"):
        _load_key(doc, dep)
    # Other parameters: a key mismatch; no parameters at all: the caller's mistake.
    with pytest.raises(KeyMismatchError, match="not under the given parameters"):
        serialize.loads(_text(_key_doc(dep)), context=_params(2048))
    with pytest.raises(ParameterError, match="needs its parameters"):
        serialize.loads(_text(_key_doc(dep)))
    with pytest.raises(SerializationError, match="expected a DecryptorKeyShares"):
        serialize.loads(_text(_key_doc(dep)), context=dep.params, expect=DecryptorKeyShares)


def _shares_doc(dep: ClientKeyDeployment, party: int = 101) -> dict[str, Any]:
    return _doc(serialize.dumps(dep.shares[party], include_secret=True))


def test_corrupt_decryptor_shares(used: dict[str, Any]) -> None:
    dep = used["dep"]
    session = used["session"]
    q0 = dep.params.q[0]
    cases: list[tuple[str, Any, str]] = [
        ("shares", None, 'missing member "shares"'),  # the secret missing
        ("clients", [1, 2, 3, 3, 5], "names a party twice"),
        ("clients", [2, 1, 3, 4, 5], "increasing order"),
        ("clients", [0, 1, 2, 3, 4], "integers >= 1"),
        ("clients", [1, 2, 3, 4, 2**32], "beyond the party ids"),
        ("clients", [], "at least one party"),
        ("clients", [1, 2, 3, 4], "expected"),  # the blob holds five clients' shares
        ("level", 4, "expected"),
        ("level", 9, "at most 4"),
        ("index", 0, "at least 1"),
        ("index", q0, "at most"),
        ("threshold", 0, "at least 1"),
        ("deployment_id", b64url_encode(bytes(15)), "must be 16 bytes"),
        ("sessions", b64url_encode(session[:15]), "1 session ids of 16 bytes"),
        ("answered", 2, "2 session ids of 16 bytes"),
        ("heprim", "secagg.DecryptorKeyShare", "unknown heprim document type"),
        ("version", 0, "unsupported version 0"),
        ("extra", None, "unknown member"),
    ]
    for member, value, message in cases:
        doc = _shares_doc(dep)
        if member == "extra":
            doc[member] = 1
        elif value is None:
            del doc[member]
        else:
            doc[member] = value
        with pytest.raises(SerializationError, match=message):
            serialize.loads(_text(doc), context=dep.params)
    # A residue at its prime (the first word is client 1, prime 0, coefficient 0).
    doc = _shares_doc(dep)
    raw = bytearray(b64url_decode(doc["shares"]))
    raw[:4] = q0.to_bytes(4, "little")
    doc["shares"] = b64url_encode(bytes(raw))
    with pytest.raises(SerializationError, match="not below its prime"):
        serialize.loads(_text(doc), context=dep.params)
    doc = _shares_doc(dep)
    doc["answered"], doc["sessions"] = 2, b64url_encode(session * 2)
    with pytest.raises(SerializationError, match=r"lists a session id twice.*backup"):
        serialize.loads(_text(doc), context=dep.params)
    other = bytes(16)
    doc["sessions"] = b64url_encode(max(session, other) + min(session, other))
    with pytest.raises(SerializationError, match="increasing order"):
        serialize.loads(_text(doc), context=dep.params)


def test_shares_of_another_deployment(used: dict[str, Any]) -> None:
    dep = used["dep"]
    text = serialize.dumps(dep.shares[102], include_secret=True)
    with pytest.raises(KeyMismatchError, match="not under the given parameters"):
        serialize.loads(text, context=_params(2048))
    with pytest.raises(ParameterError, match="needs their parameters"):
        serialize.loads(text)
    with pytest.raises(ParameterError, match="context must be"):
        serialize.loads(text, context="params")
    twin = ClientKeyDeployment.generate(
        CLIENTS, DECRYPTORS, 2, dep.params, rng=KeyedPRNG.from_int(9)
    )
    with pytest.raises(KeyMismatchError, match="belong to deployment"):
        serialize.loads(text, context=twin.public)
    public = dep.public
    fewer = PublicClientKeyDeployment(
        public.params,
        public.deployment_id,
        frozenset(CLIENTS[:4]),
        public.decryptors,
        public.threshold,
        public.upload_level,
    )
    with pytest.raises(KeyMismatchError, match=r"do not fit the given deployment.*other clients"):
        serialize.loads(text, context=fewer)
    moved = PublicClientKeyDeployment(
        public.params,
        public.deployment_id,
        public.clients,
        {101: 1, 102: 3, 103: 4},
        public.threshold,
        public.upload_level,
    )
    with pytest.raises(KeyMismatchError, match="no decryptor of the given deployment holds"):
        serialize.loads(text, context=moved)
    # The whole deployment stands for its public part.
    assert serialize.loads(text, context=dep).index == 2


def _public_doc(dep: ClientKeyDeployment) -> dict[str, Any]:
    return _doc(serialize.dumps(dep.public))


def test_corrupt_public_deployments(used: dict[str, Any]) -> None:
    dep = used["dep"]
    cases: list[tuple[str, Any, str]] = [
        ("share_indices", [1, 2], "one index per decryptor"),
        ("share_indices", [1, 2, 2], "two decryptors hold the same share index"),
        ("decryptors", [101, 101, 103], "names a party twice"),
        ("threshold", 4, "at most 3"),
        ("upload_level", 1, r"smudging|lambda"),  # below the floor without allow_insecure
        ("upload_level", 5, "at most 4"),
        ("min_contributors", 0, "at least 1"),
        ("max_contributors", 0, "at least 1"),
        ("deployment_id", "AAAA", "must be 16 bytes"),
        ("allow_insecure", 1, "true or false"),
        ("clients", None, 'missing member "clients"'),
    ]
    for member, value, message in cases:
        doc = _public_doc(dep)
        if value is None:
            del doc[member]
        else:
            doc[member] = value
        with pytest.raises(SerializationError, match=message):
            serialize.loads(_text(doc))
    doc = _public_doc(dep)
    doc["params"]["plain_modulus"] = 65537
    with pytest.raises(SerializationError, match=r"fingerprint|invalid parameters"):
        serialize.loads(_text(doc))
    with pytest.raises(KeyMismatchError, match="not the given parameters"):
        serialize.loads(serialize.dumps(dep.public), context=_params(2048))
    # allow_insecure recorded: the weak upload level loads (the deployment warned when made).
    doc = _public_doc(dep)
    doc["upload_level"], doc["allow_insecure"] = 1, True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert serialize.loads(_text(doc)).upload_level == 1


def test_binary_form_refusals(used: dict[str, Any]) -> None:
    dep = used["dep"]
    blob = sck.dump_bytes(dep.shares[101], include_secret=True)
    with pytest.raises(SerializationError, match="trailing bytes"):
        sck.load_bytes(blob + b"\x00", context=dep.params)
    with pytest.raises(SerializationError, match="outside the payload"):
        sck.load_bytes(blob[:-1], context=dep.params)
    with pytest.raises(SerializationError, match=r"client_keys\.load_bytes"):
        sbfv.load_bytes(blob, context=dep.params)
    key_blob = sbfv.dump_bytes(dep.keys[1], include_secret=True)
    with pytest.raises(SerializationError, match=r"bfv\.load_bytes"):
        sck.load_bytes(key_blob, context=dep.params)
    with pytest.raises(SerializationError, match="wrong magic"):
        sck.load_bytes(b"not heprim", context=dep.params)
    with pytest.raises(SerializationError, match="expected a PublicClientKeyDeployment"):
        sck.load_bytes(blob, context=dep.params, expect=PublicClientKeyDeployment)
    # The binary form is the raw residues and a small header: 3/4 of the JSON.
    raw = len(CLIENTS) * dep.upload_level * dep.params.degree * 4
    assert raw < len(blob) < raw + 1000
    assert len(blob) < 0.8 * len(serialize.dumps(dep.shares[101], include_secret=True))
