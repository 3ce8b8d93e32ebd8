"""Packed threshold-Paillier aggregation: exact under dropout, tolerant down to t decryptors,
tampering caught, every refusal of the server and of the parties.

The key is dealt once from the fixed 512-bit safe primes (test-only size): the protocol is the
same at any size, and the whole file must run in seconds.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heprim.errors import InsecureParametersWarning, ParameterError, ProtocolError
from heprim.math.prng import KeyedPRNG
from heprim.net.simulate import DropoutSchedule, simulate_he
from heprim.paillier.threshold import deal
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.he_aggregation import HEPartyStage, HEServerStage, HESessionConfig
from heprim.secagg.he_messages import (
    DecryptRequest,
    EncryptedInput,
    HERound,
    PaillierSetup,
    PartialDecryption,
)
from heprim.secagg.he_paillier import PaillierDeployment, PaillierParty, packing_layout
from heprim.secagg.messages import HEADER_BYTES, Abort, Message, decode, encode
from heprim.secagg.server import SessionAbortedError

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
pytestmark = pytest.mark.filterwarnings("ignore::heprim.errors.InsecureParametersWarning")
ENCODING = VectorEncoding.integers(0, 2**16 - 1)


@functools.cache
def keys(parties: int = 5, threshold: int = 3):
    entry = json.loads((VECTORS / "paillier_safe_primes.json").read_text())["keys"]["512"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        return deal(
            int(entry["p"], 16),
            int(entry["q"], 16),
            parties=parties,
            threshold=threshold,
            rng=KeyedPRNG.from_int(parties),
            allow_insecure=True,
        )


def deployment(decryptors=(1, 2, 3, 4, 5), threshold: int = 3, **options) -> PaillierDeployment:
    public, shares = keys(len(decryptors), threshold)
    return PaillierDeployment.from_shares(public, shares, list(decryptors), **options)


def inputs(n: int, dim: int, seed: int = 0) -> dict[int, np.ndarray]:
    rng = KeyedPRNG.from_int(seed)
    return {
        u: np.frombuffer(rng.random_bytes(2 * dim), dtype="<u2").astype(np.int64)
        for u in range(1, n + 1)
    }


# ---------------------------------------------------------------------------- end to end


@settings(max_examples=10)
@given(
    dropped=st.sets(st.integers(min_value=1, max_value=12), max_size=8),
    silent=st.sets(st.integers(min_value=1, max_value=5), max_size=2),
)
def test_exact_under_random_client_and_decryptor_dropout(
    dropped: set[int], silent: set[int]
) -> None:
    """Decryptors are clients 1-5; a client dropped at input is silent when decrypting too."""
    data = inputs(12, 300, seed=len(dropped))
    schedule = DropoutSchedule(
        {HERound.INPUT: frozenset(dropped), HERound.DECRYPT: frozenset(silent)}
    )
    res = simulate_he(data, ENCODING, deployment(), dropouts=schedule, rng=KeyedPRNG.from_int(1))
    alive_decryptors = {1, 2, 3, 4, 5} - dropped - silent
    if len(alive_decryptors) < 3:
        assert res.aggregate is None and "threshold t = 3" in (res.abort_reason or "")
        return
    assert res.abort_reason is None and res.aggregate is not None
    assert res.survivors == frozenset(data) - dropped
    expected = sum((data[u] for u in res.survivors), np.zeros(300, dtype=np.int64))
    assert np.array_equal(res.aggregate.sum, expected)
    assert res.aggregate.count == len(res.survivors)


@pytest.mark.parametrize("silent", [0, 1, 2, 3])
def test_decryptor_dropout_is_tolerated_down_to_t(silent: int) -> None:
    committee = [101, 102, 103, 104, 105]  # a committee apart from the clients
    schedule = DropoutSchedule({HERound.DECRYPT: frozenset(committee[:silent])})
    data = inputs(6, 50)
    res = simulate_he(data, ENCODING, deployment(committee), dropouts=schedule)
    if silent <= 2:
        assert res.aggregate is not None
        assert res.aggregate.sum.tolist() == sum(data.values()).tolist()
    else:
        assert res.aggregate is None
        assert "only 2 valid decryption shares" in (res.abort_reason or "")


def test_weighted_floats_match_the_exact_weighted_mean_within_one_level() -> None:
    rng = KeyedPRNG.from_int(9)
    data = {
        u: (np.frombuffer(rng.random_bytes(8 * 40), dtype="<u8") % 2001).astype(float) / 1000 - 1
        for u in range(1, 8)
    }
    weights = {u: 10 * u for u in data}
    encoding = VectorEncoding.floats(-1.0, 1.0, 20, max_weight=128)
    res = simulate_he(data, encoding, deployment(), weights=weights, rng=rng)
    assert res.aggregate is not None and res.aggregate.weight == sum(weights.values())
    exact = sum(weights[u] * data[u] for u in data) / sum(weights.values())
    assert np.max(np.abs(res.aggregate.mean() - exact)) < 2 / (2**20 - 1)


def test_costs_balance_and_upload_is_the_packed_ciphertexts() -> None:
    dep = deployment()
    data = inputs(8, 500)
    res = simulate_he(data, ENCODING, dep, rng=KeyedPRNG.from_int(2))
    for r in HERound:
        sent = sum(c.rounds[r].bytes_sent for c in res.client_costs.values())
        assert sent == res.server_cost.rounds[r].bytes_received
    layout = packing_layout(dep.public.public_key, ENCODING, 8)
    count = layout.ciphertexts_for(500)
    assert count == -(-500 // layout.slots_per_ciphertext)
    width = (dep.public.public_key.nsquare.bit_length() + 7) // 8
    upload = res.client_costs[6].rounds[HERound.INPUT].bytes_sent  # 6 is a client only
    assert upload == HEADER_BYTES + 6 + count * width
    assert res.client_costs[6].rounds[HERound.DECRYPT].messages_received == 0
    assert res.client_costs[1].rounds[HERound.DECRYPT].messages_sent == 1
    assert res.server_cost.rounds[HERound.KEYGEN].messages_sent == 0
    assert res.compute_seconds > 0 and res.protocol == "paillier"


def test_proofs_off_still_aggregate() -> None:
    data = inputs(4, 20)
    res = simulate_he(data, ENCODING, deployment(proofs=False))
    assert res.aggregate is not None
    assert res.aggregate.sum.tolist() == sum(data.values()).tolist()


def test_too_few_contributors_abort() -> None:
    data = inputs(4, 10)
    schedule = DropoutSchedule({HERound.INPUT: frozenset({1, 2, 3})})
    res = simulate_he(data, ENCODING, deployment([11, 12, 13, 14, 15]), dropouts=schedule)
    assert res.aggregate is None and "min_contributors" in (res.abort_reason or "")


def test_simulate_he_needs_a_dimension_for_callables() -> None:
    with pytest.raises(ParameterError, match="dim="):
        simulate_he({1: lambda: [1], 2: lambda: [2]}, ENCODING, deployment())
    res = simulate_he({1: lambda: [1], 2: lambda: [2]}, ENCODING, deployment(), dim=1)
    assert res.aggregate is not None and res.aggregate.sum.tolist() == [3]


# ------------------------------------------------------------------------- by hand


@dataclasses.dataclass
class Session:
    server: object
    parties: dict[int, PaillierParty]
    config: HESessionConfig
    setups: list[Message] = dataclasses.field(default_factory=list)

    def start(self) -> list[Message]:
        if not self.setups:
            self.setups = self.server.start()  # type: ignore[attr-defined]
        return self.setups

    def to_parties(
        self,
        outbox: list[Message],
        *,
        silent: set[int] = frozenset(),  # type: ignore[assignment]
        tamper: Callable[[Message], Message] | None = None,
    ) -> list[Message]:
        replies: list[Message] = []
        for m in outbox:
            if m.recipient in silent:
                continue
            for reply in self.parties[m.recipient].handle(decode(encode(m))):
                replies.append(tamper(reply) if tamper is not None else reply)
        return replies

    def to_server(self, replies: list[Message]) -> list[Message]:
        out: list[Message] = []
        for reply in replies:
            out.extend(self.server.handle(decode(encode(reply))))  # type: ignore[attr-defined]
        if not out and self.server.collecting:  # type: ignore[attr-defined]
            out = self.server.close_round()  # type: ignore[attr-defined]
        return out


def session(n: int = 4, dep: PaillierDeployment | None = None, dim: int = 8) -> Session:
    dep = dep or deployment()
    config = HESessionConfig.create(
        list(range(1, n + 1)),
        dim,
        ENCODING,
        decryptors=dep.decryptors,
        threshold=dep.threshold,
        session=bytes(16),
    )
    parties = {u: dep.party(u, rng=KeyedPRNG.from_int(u)) for u in config.parties}
    for u in config.participants:
        parties[u].set_input(np.arange(dim) * u)
    return Session(dep.server(config), parties, config)


def test_a_tampered_share_is_rejected_and_t_others_still_decrypt() -> None:
    s = session()
    n = int(s.server.public.n)  # type: ignore[attr-defined]

    def tamper(m: Message) -> Message:
        if isinstance(m, PartialDecryption) and m.sender == 2:
            shifted = (m.shares[0] * (1 + n) % (n * n), *m.shares[1:])
            return dataclasses.replace(m, shares=shifted)
        return m

    requests = s.to_server(s.to_parties(s.start()))
    assert all(isinstance(m, DecryptRequest) for m in requests)
    assert s.to_server(s.to_parties(requests, tamper=tamper)) == []
    assert s.server.rejected == {2: "its decryption shares fail their proof of correctness"}  # type: ignore[attr-defined]
    assert s.server.result.sum.tolist() == (np.arange(8) * 10).tolist()  # type: ignore[attr-defined]


def test_tampered_shares_below_t_abort_and_the_parties_hear_it() -> None:
    s = session()

    def tamper(m: Message) -> Message:
        if isinstance(m, PartialDecryption) and m.sender in (1, 2, 3):
            return dataclasses.replace(m, challenge=m.challenge ^ 1)
        return m

    requests = s.to_server(s.to_parties(s.start()))
    aborts = s.to_server(s.to_parties(requests, tamper=tamper))
    assert {type(m) for m in aborts} == {Abort}
    assert s.server.stage is HEServerStage.ABORTED  # type: ignore[attr-defined]
    with pytest.raises(SessionAbortedError, match="3 rejected"):
        _ = s.server.result  # type: ignore[attr-defined]
    s.to_parties(aborts)
    assert all(s.parties[d].stage is HEPartyStage.ABORTED for d in (1, 2, 3, 4, 5))


def test_without_proofs_a_garbage_share_aborts_instead_of_a_wrong_sum() -> None:
    s = session(dep=deployment(proofs=False))

    def tamper(m: Message) -> Message:
        if isinstance(m, PartialDecryption) and m.sender == 1:
            return dataclasses.replace(m, shares=(12345,) * len(m.shares))
        return m

    requests = s.to_server(s.to_parties(s.start()))
    s.to_server(s.to_parties(requests, tamper=tamper))
    assert s.server.stage is HEServerStage.ABORTED  # type: ignore[attr-defined]
    assert "does not decrypt to a valid sum" in s.server.abort_reason  # type: ignore[attr-defined]


def test_an_out_of_range_input_is_detected_at_decoding() -> None:
    """A client that packs a slot beyond its bits: the packing's overflow check aborts."""
    s = session()
    pk = s.server.public.public_key  # type: ignore[attr-defined]
    layout = s.server.encoder  # type: ignore[attr-defined]

    def tamper(m: Message) -> Message:
        if isinstance(m, EncryptedInput) and m.sender == 1:
            bad = pk.raw_encrypt(1 << (layout.slot_width - 1), rng=KeyedPRNG.from_int(0))
            return dataclasses.replace(m, ciphertexts=(bad,))
        return m

    requests = s.to_server(s.to_parties(s.start(), tamper=tamper))
    s.to_server(s.to_parties(requests))
    assert "guard bit" in (s.server.abort_reason or "")  # type: ignore[attr-defined]


def test_server_refuses_malformed_and_misplaced_messages() -> None:
    s = session()
    replies = s.to_parties(s.start())
    good = next(m for m in replies if m.sender == 1)
    assert isinstance(good, EncryptedInput)
    bad_cases = [
        (dataclasses.replace(good, ciphertexts=(*good.ciphertexts, 1)), "must be"),
        (dataclasses.replace(good, ciphertexts=(0,) * len(good.ciphertexts)), "outside"),
        (dataclasses.replace(good, width=good.width + 1), "must be"),
        (dataclasses.replace(good, session=bytes([1]) * 16), "another session"),
        (dataclasses.replace(good, recipient=3), "delivered to the server"),
        (dataclasses.replace(good, sender=99), "unknown party"),
        (dataclasses.replace(good, sender=5), "not part of this round"),
        (PartialDecryption(bytes(16), 1, 0, (1,)), "out of order"),
        ("not a message", "not an aggregation message"),
    ]
    for message, reason in bad_cases:
        with pytest.raises(ProtocolError, match=reason):
            s.server.handle(message)  # type: ignore[attr-defined]
    s.server.handle(good)  # type: ignore[attr-defined]
    with pytest.raises(ProtocolError, match="replayed"):
        s.server.handle(good)  # type: ignore[attr-defined]
    requests = s.to_server([m for m in replies if m.sender != 1])
    shares = s.to_parties(requests)
    unproved = dataclasses.replace(shares[0], challenge=0, response=0)
    with pytest.raises(ProtocolError, match="without the proof"):
        s.server.handle(unproved)  # type: ignore[attr-defined]
    assert s.to_server(shares) == []
    with pytest.raises(ProtocolError, match="late or replayed"):
        s.server.handle(shares[0])  # type: ignore[attr-defined]
    with pytest.raises(ProtocolError, match="no round to close"):
        s.server.close_round()  # type: ignore[attr-defined]
    with pytest.raises(ProtocolError, match="already started"):
        s.server.start()  # type: ignore[attr-defined]


def test_result_before_the_end_is_an_error() -> None:
    s = session()
    with pytest.raises(ProtocolError, match="no result yet"):
        _ = s.server.result  # type: ignore[attr-defined]
    assert "stage='not started'" in repr(s.server)


def _setup_for(s: Session, party: int) -> PaillierSetup:
    return next(m for m in s.start() if m.recipient == party)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"key_fingerprint": b"\x00" * 16}, "another key"),
        ({"threshold": 2}, "t = 2"),
        ({"participants": (1, 1, 2, 3, 4)}, "repeats"),
        ({"participants": (0, 1, 2, 3, 4)}, "server"),
        ({"decryptors": ((1, 1), (2, 1), (3, 3), (4, 4), (5, 5))}, "indices"),
        ({"decryptors": ((1, 2), (2, 1), (3, 3), (4, 4), (5, 5))}, "holds share 1"),
        ({"decryptors": ((2, 2), (3, 3), (4, 4), (5, 5), (6, 1))}, "setup lists|holds share"),
        ({"min_contributors": 1}, "requires at least 2"),
        ({"min_contributors": 9}, "outside"),
        ({"participants": (1, 2, 3), "decryptors": ((2, 2), (3, 3))}, "lists it as None"),
        ({"dim": 0}, "dimension"),
        ({"encoding": VectorEncoding.integers(0, 2**62)}, "no safe packing"),
    ],
)
def test_parties_refuse_a_bad_setup(change: dict[str, object], reason: str) -> None:
    s = session()
    setup = dataclasses.replace(_setup_for(s, 1), **change)
    with pytest.raises(ProtocolError, match=reason):
        s.parties[1].handle(setup)
    assert s.parties[1].stage is HEPartyStage.AWAIT_SETUP  # nothing changed


def test_a_party_listed_as_decryptor_without_a_share_refuses() -> None:
    s = session(n=6)
    setup = _setup_for(s, 6)
    setup = dataclasses.replace(setup, decryptors=(*setup.decryptors[:4], (6, 5)))
    with pytest.raises(ProtocolError, match="holds no key share"):
        s.parties[6].handle(setup)
    setup = dataclasses.replace(_setup_for(s, 6), participants=(1, 2, 3, 4, 5))
    with pytest.raises(ProtocolError, match="no role"):
        s.parties[6].handle(setup)


def test_decryptors_refuse_small_sums_foreign_ids_second_requests() -> None:
    s = session()
    requests = s.to_server(s.to_parties(s.start()))
    request = next(m for m in requests if m.recipient == 1)
    assert isinstance(request, DecryptRequest)
    decryptor = s.parties[1]
    for change, reason in [
        ({"contributors": (1,)}, "fewer than 2"),
        ({"contributors": (1, 1, 2)}, "repeat"),
        ({"contributors": (1, 2, 77)}, "non-participants"),
        ({"ciphertexts": request.ciphertexts * 2}, "must be"),
        ({"ciphertexts": (0,) * len(request.ciphertexts)}, "not a valid ciphertext"),
        ({"session": bytes([9]) * 16}, "another session"),
        ({"sender": 3}, "only accepts messages from the server"),
        ({"recipient": 2}, "delivered to 1"),
    ]:
        with pytest.raises(ProtocolError, match=reason):
            decryptor.handle(dataclasses.replace(request, **change))
    assert len(decryptor.handle(request)) == 1
    with pytest.raises(ProtocolError, match="after the session ended"):
        decryptor.handle(request)  # one decryption per session, never two
    with pytest.raises(ProtocolError, match="session is over"):
        decryptor.set_input([1])
    with pytest.raises(ProtocolError, match="out of order"):
        s.parties[2].handle(_setup_for(s, 2))  # already past its setup


def test_a_client_without_input_or_with_a_wrong_length_fails_loudly() -> None:
    s = session()
    s.parties[1]._input = None
    with pytest.raises(ParameterError, match="set_input"):
        s.parties[1].handle(_setup_for(s, 1))
    s = session()
    s.parties[2].set_input(np.arange(3))
    with pytest.raises(ParameterError, match="expects 8"):
        s.parties[2].handle(_setup_for(s, 2))


def test_construction_refusals() -> None:
    dep = deployment()
    _, other_shares = keys(4, 2)
    with pytest.raises(ParameterError, match="ThresholdPublicKey"):
        PaillierParty(1, "key")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="another threshold key"):
        PaillierParty(1, dep.public, key_share=other_shares[0])
    with pytest.raises(ParameterError, match="KeyShare"):
        PaillierParty(1, dep.public, key_share="share")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="workers"):
        PaillierParty(1, dep.public, workers=0)
    with pytest.raises(ParameterError, match="min_contributors"):
        PaillierParty(1, dep.public, min_contributors="2")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="party id"):
        PaillierParty(0, dep.public)
    with pytest.raises(ParameterError, match="one share each"):
        PaillierDeployment.from_shares(dep.public, list(dep.shares.values()), [1, 2])
    with pytest.raises(ParameterError, match="not a share of this key"):
        PaillierDeployment(dep.public, {1: other_shares[0]})
    with pytest.raises(ParameterError, match="same key share"):
        PaillierDeployment(dep.public, {1: dep.shares[1], 2: dep.shares[1]})
    with pytest.raises(ParameterError, match="ThresholdPublicKey"):
        PaillierDeployment("key", {})  # type: ignore[arg-type]
    config = HESessionConfig.create([1, 2], 3, ENCODING, decryptors={1: 1, 2: 2}, threshold=2)
    with pytest.raises(ParameterError, match="not the key's"):
        dep.server(config)
    config = HESessionConfig.create([1, 2], 3, ENCODING, decryptors={1: 9, 2: 2, 3: 3}, threshold=3)
    with pytest.raises(ParameterError, match="share index 9"):
        dep.server(config)
    with pytest.raises(ParameterError, match="HESessionConfig"):
        dep.server("config")  # type: ignore[arg-type]
    assert dep.decryptors == {1: 1, 2: 2, 3: 3, 4: 4, 5: 5} and dep.threshold == 3


@pytest.mark.parametrize(
    ("args", "kwargs", "reason"),
    [
        (([], 3, ENCODING), {}, "at least one participant"),
        (([1, 1], 3, ENCODING), {}, "distinct"),
        (([1, 2**32], 3, ENCODING), {}, "2\\^32"),
        (([1, 2], 0, ENCODING), {}, "dim"),
        (([1, 2], 3, "enc"), {}, "VectorEncoding"),
        (([1, 2], 3, ENCODING), {"threshold": 4}, "threshold"),
        (([1, 2], 3, ENCODING), {"threshold": True}, "threshold"),
        (([1, 2], 3, ENCODING), {"decryptors": {1: 1, 2: 1}}, "distinct positive"),
        (([1, 2], 3, ENCODING), {"min_contributors": 3}, "min_contributors"),
        (([1, 2], 3, ENCODING), {"min_contributors": 1.5}, "min_contributors"),
        (([1, 2], 3, ENCODING), {"session": b"short"}, "16 bytes"),
    ],
)
def test_session_config_refusals(args: tuple, kwargs: dict[str, object], reason: str) -> None:
    options: dict[str, object] = {"decryptors": {1: 1, 2: 2}, "threshold": 2, **kwargs}
    with pytest.raises(ParameterError, match=reason):
        HESessionConfig.create(*args, **options)  # type: ignore[arg-type]


def test_generate_deals_a_fresh_key_for_the_committee() -> None:
    dep = PaillierDeployment.generate(
        [7, 8, 9], 2, n_bits=512, rng=KeyedPRNG.from_int(3), allow_insecure=True
    )
    assert dep.decryptors == {7: 1, 8: 2, 9: 3}
    data = inputs(3, 5)
    res = simulate_he(data, ENCODING, dep, rng=KeyedPRNG.from_int(4))
    assert res.aggregate is not None
    assert res.aggregate.sum.tolist() == sum(data.values()).tolist()
