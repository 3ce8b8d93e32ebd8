"""End-to-end SecAgg / SecAgg+ sessions: exact sums under dropouts, aborts, and attacks.

The oracle for exactness is the plaintext sum of the survivors' inputs; the oracle for
complete-graph aborts is the closed-form rule of Bonawitz et al. (every secret needs t live
holders among the other clients), written independently of the server's code below.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import InsecureParametersWarning, ParameterError, ProtocolError
from heprim.net.simulate import DropoutSchedule, simulate
from heprim.secagg.client import ClientStage, SecAggClient
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.graph import choose_graph
from heprim.secagg.messages import (
    SERVER,
    Abort,
    AdvertiseKeys,
    ConsistencyCheck,
    EncryptedShares,
    KeyBook,
    MaskedInput,
    PeerKeys,
    Round,
    SecretKind,
    Setup,
    SharesDelivery,
    UnmaskRequest,
    UnmaskShares,
    decode,
    encode,
)
from heprim.secagg.server import SecAggServer, ServerStage, SessionAbortedError, SessionConfig

from .conftest import Session, make_session

DROP_ROUNDS = [None, Round.ADVERTISE_KEYS, Round.SHARE_KEYS, Round.MASKED_INPUT, Round.UNMASK]


def _graph(n: int, k: int, t: int, profile: str = "semi-honest"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        return choose_graph(n, k=k, t=t, profile=profile)  # type: ignore[arg-type]


def _schedule(pattern: dict[int, Round | None]) -> DropoutSchedule:
    at: dict[Round, set[int]] = {}
    for u, r in pattern.items():
        if r is not None:
            at.setdefault(r, set()).add(u)
    return DropoutSchedule({r: frozenset(s) for r, s in at.items()})


def _complete_graph_succeeds(n: int, t: int, pattern: dict[int, Round | None]) -> bool:
    """Bonawitz et al.'s rule on the complete graph, from scratch."""

    def alive(r: Round) -> set[int]:
        return {u for u in range(1, n + 1) if pattern[u] is None or pattern[u] > r}

    u1 = alive(Round.ADVERTISE_KEYS)
    if len(u1) - 1 < t:
        return False
    u2 = alive(Round.SHARE_KEYS)
    if len(u2) - 1 < t:
        return False
    u3 = alive(Round.MASKED_INPUT)
    u5 = alive(Round.UNMASK)
    for live in (u3, u5):
        if not u3:
            return False
        if any(len(live - {w}) < t for w in u3):
            return False
        if u2 - u3 and len(live) < t:
            return False
    return True


def _run(n: int, k: int, t: int, pattern: dict[int, Round | None], profile: str = "semi-honest"):
    inputs = {u: np.array([u, 2 * u, 1000 - u]) for u in range(1, n + 1)}
    return inputs, simulate(
        inputs,
        VectorEncoding.integers(0, 1000),
        graph=_graph(n, k, t, profile),
        profile=profile,  # type: ignore[arg-type]
        dropouts=_schedule(pattern),
        rng=None,
    )


def test_every_dropout_pattern_of_four_clients() -> None:
    """All 5^4 assignments of a dropout round (or none) to 4 clients, complete graph, t = 2."""
    n, t = 4, 2
    outcomes = set()
    for rounds in itertools.product(DROP_ROUNDS, repeat=n):
        pattern = dict(zip(range(1, n + 1), rounds, strict=True))
        inputs, res = _run(n, n - 1, t, pattern)
        expected = _complete_graph_succeeds(n, t, pattern)
        assert (res.aggregate is not None) == expected, (pattern, res.abort_reason)
        if res.aggregate is not None:
            survivors = {u for u, r in pattern.items() if r is None or r > Round.MASKED_INPUT}
            assert res.survivors == survivors
            assert res.aggregate.sum.tolist() == sum(inputs[u] for u in survivors).tolist()
        else:
            assert "threshold" in res.abort_reason or "no client" in res.abort_reason
        outcomes.add(res.aggregate is not None)
    assert outcomes == {True, False}


@given(
    n=st.integers(3, 11),
    profile=st.sampled_from(["semi-honest", "active"]),
    data=st.data(),
)
def test_exact_sum_under_random_dropouts(n: int, profile: str, data: st.DataObject) -> None:
    k = data.draw(st.sampled_from([*range(2, n - 1, 2), n - 1]))
    t = data.draw(st.integers(k // 2 + 1 if profile == "active" else 1, k))
    rounds = data.draw(st.lists(st.sampled_from(DROP_ROUNDS), min_size=n, max_size=n))
    if profile == "active":
        rounds = [
            Round.CONSISTENCY if r is Round.UNMASK and u % 2 else r for u, r in enumerate(rounds)
        ]
    pattern = dict(zip(range(1, n + 1), rounds, strict=True))
    inputs, res = _run(n, k, t, pattern, profile)
    if res.aggregate is None:
        assert "threshold" in res.abort_reason or "no client" in res.abort_reason
        assert any(r is not None for r in rounds)  # never aborts without dropouts
        return
    assert all(pattern[u] is None or pattern[u] > Round.MASKED_INPUT for u in res.survivors)
    assert res.aggregate.sum.tolist() == sum(inputs[u] for u in res.survivors).tolist()
    if k == n - 1:
        assert _complete_graph_succeeds(
            n, t, {u: (Round.UNMASK if r is Round.CONSISTENCY else r) for u, r in pattern.items()}
        )
    for client in res.clients.values():
        assert not client.revealed_self_mask_shares & client.revealed_mask_key_shares


def test_sparse_graph_session_with_dropouts_is_exact() -> None:
    n = 40
    g = choose_graph(n)
    assert not g.complete
    inputs = {u: np.full(50, u) for u in range(1, n + 1)}
    drops = DropoutSchedule(
        {
            Round.SHARE_KEYS: frozenset({1}),
            Round.MASKED_INPUT: frozenset({2, 3}),
            Round.UNMASK: frozenset({4}),
        }
    )
    res = simulate(inputs, VectorEncoding.integers(0, 100), graph=g, dropouts=drops)
    assert res.aggregate is not None
    assert res.survivors == frozenset(range(4, n + 1))
    assert res.aggregate.sum.tolist() == [sum(range(4, n + 1))] * 50


def test_float_and_weighted_sessions() -> None:
    n = 6
    vecs = {u: np.linspace(-1, 1, 9) * u / n for u in range(1, n + 1)}
    enc = VectorEncoding.floats(-1.0, 1.0, 20, max_weight=10)
    res = simulate(vecs, enc, weights={u: u for u in vecs}, graph=_graph(n, 5, 3))
    assert res.aggregate is not None
    expected = sum(u * vecs[u] for u in vecs) / sum(vecs)
    assert res.aggregate.weight == sum(range(1, n + 1))
    assert np.allclose(res.aggregate.mean(), expected, atol=2 / (2**20 - 1))


def _start(s: Session) -> list:
    return s.server.start()


def _to(out: list, u: int):
    return next(m for m in out if m.recipient == u)


# --------------------------------------------------------------------------- server rejections
def test_server_rejects_strangers_replays_and_wrong_stages() -> None:
    s = make_session(5, graph=_graph(5, 4, 3))
    out = _start(s)
    adv = s.clients[1].handle(_to(out, 1))[0]
    assert isinstance(adv, AdvertiseKeys)
    s.server.handle(adv)
    with pytest.raises(ProtocolError, match="replayed"):
        s.server.handle(adv)
    with pytest.raises(ProtocolError, match="unknown party"):
        s.server.handle(AdvertiseKeys(adv.session, 99, SERVER, adv.mask_key, adv.channel_key))
    with pytest.raises(ProtocolError, match="another session"):
        s.server.handle(AdvertiseKeys(bytes(16), 2, SERVER, adv.mask_key, adv.channel_key))
    with pytest.raises(ProtocolError, match="delivered to the server"):
        s.server.handle(AdvertiseKeys(adv.session, 2, 3, adv.mask_key, adv.channel_key))
    with pytest.raises(ProtocolError, match="out of order"):
        s.server.handle(MaskedInput(adv.session, 2, SERVER, np.zeros(4, dtype=np.uint16)))
    with pytest.raises(ProtocolError, match="already started"):
        s.server.start()
    with pytest.raises(ProtocolError, match="no result"):
        _ = s.server.result


def test_server_rejects_late_messages_and_malformed_content() -> None:
    s = make_session(5, graph=_graph(5, 4, 2))
    out = _start(s)
    late = s.clients[5].handle(_to(out, 5))[0]  # client 5 answers after the deadline
    out = s.deliver(out, silent={5})
    assert s.server.stage is ServerStage.COLLECT_SHARES
    with pytest.raises(ProtocolError, match="dropped out earlier"):
        s.server.handle(late)
    shares = s.clients[1].handle(_to(out, 1))[0]
    assert isinstance(shares, EncryptedShares)
    with pytest.raises(ProtocolError, match="exactly one share"):
        s.server.handle(EncryptedShares(shares.session, 1, SERVER, shares.shares[:-1]))
    with pytest.raises(ProtocolError, match="exactly one share"):
        s.server.handle(
            EncryptedShares(shares.session, 1, SERVER, shares.shares + shares.shares[:1])
        )
    s.server.handle(shares)
    s.deliver([m for m in out if m.recipient != 1])
    assert s.server.stage is ServerStage.COLLECT_MASKED


def test_server_checks_masked_vectors_and_unmask_answers() -> None:
    s = make_session(4, graph=_graph(4, 3, 2))
    out = s.deliver(s.deliver(_start(s)))
    assert s.server.stage is ServerStage.COLLECT_MASKED
    bad = MaskedInput(s.config.session, 1, SERVER, np.zeros(4, dtype=np.uint64))
    with pytest.raises(ProtocolError, match="words of"):
        s.server.handle(bad)
    bad = MaskedInput(s.config.session, 1, SERVER, np.zeros(3, dtype=np.uint16))
    with pytest.raises(ProtocolError, match="words of"):
        s.server.handle(bad)
    out = s.deliver(out, silent={4})  # 4 drops before its masked input
    answer = s.clients[1].handle(_to(out, 1))[0]
    assert isinstance(answer, UnmaskShares)
    wrong = UnmaskShares(
        answer.session, 1, SERVER, tuple((v, SecretKind.MASK_KEY, x) for v, _, x in answer.shares)
    )
    with pytest.raises(ProtocolError, match="exactly the shares"):
        s.server.handle(wrong)
    s.server.handle(answer)
    s.deliver([m for m in out if m.recipient != 1])
    assert s.server.stage is ServerStage.DONE
    assert s.server.result.sum.tolist() == sum(s.inputs[u] for u in (1, 2, 3)).tolist()
    with pytest.raises(ProtocolError, match="late or replayed"):
        s.server.handle(answer)
    with pytest.raises(ProtocolError, match="no round"):
        s.server.close_round()


def test_wrong_mask_key_shares_are_detected() -> None:
    """A client lying about a dropped peer's key share makes the server abort, not err."""
    s = make_session(5, graph=_graph(5, 4, 2))
    out = s.deliver(s.deliver(_start(s)))
    out = s.deliver(out, silent={5})

    def lie(m):
        if isinstance(m, UnmaskShares):
            return UnmaskShares(
                m.session,
                m.sender,
                m.recipient,
                tuple(
                    (v, k, (x + 1) % 2**256 if k is SecretKind.MASK_KEY else x)
                    for v, k, x in m.shares
                ),
            )
        return m

    s.deliver(out, tamper=lie)
    assert s.server.stage is ServerStage.ABORTED
    assert "public key" in (s.server.abort_reason or "")
    with pytest.raises(SessionAbortedError, match="public key"):
        _ = s.server.result


def test_abort_reaches_clients_and_ends_them() -> None:
    s = make_session(4, graph=_graph(4, 3, 3))
    out = s.deliver(_start(s), silent={4})  # everyone now has 2 < t = 3 live neighbours
    assert s.server.stage is ServerStage.ABORTED
    assert all(isinstance(m, Abort) for m in out)
    assert "live neighbours" in (s.server.abort_reason or "")
    for m in out:
        assert s.clients[m.recipient].handle(m) == []
        assert s.clients[m.recipient].stage is ClientStage.ABORTED
        assert s.clients[m.recipient].abort_reason == m.reason
    with pytest.raises(ProtocolError, match="ended"):
        s.clients[1].handle(out[0])
    with pytest.raises(ProtocolError, match="over"):
        s.clients[1].set_input([1, 2, 3, 4])


# --------------------------------------------------------------------------- client rejections
def test_client_rejects_misrouted_replayed_and_out_of_order() -> None:
    s = make_session(4, graph=_graph(4, 3, 2))
    out = _start(s)
    c1 = s.clients[1]
    with pytest.raises(ProtocolError, match="delivered to client 1"):
        c1.handle(_to(out, 2))
    setup = _to(out, 1)
    with pytest.raises(ProtocolError, match="from the server"):
        c1.handle(
            Setup(
                setup.session,
                2,
                1,
                *[
                    getattr(setup, f)
                    for f in (
                        "participants",
                        "degree",
                        "threshold",
                        "dim",
                        "width",
                        "active",
                        "encoding",
                    )
                ],
            )
        )
    with pytest.raises(ProtocolError, match="expected Setup"):
        c1.handle(KeyBook(setup.session, SERVER, 1, ()))
    c1.handle(setup)
    with pytest.raises(ProtocolError, match="replayed"):
        c1.handle(setup)
    with pytest.raises(ProtocolError, match="another session"):
        c1.handle(KeyBook(bytes(16), SERVER, 1, ()))
    with pytest.raises(ProtocolError, match="not a secure-aggregation message"):
        c1.handle("hello")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"participants": (2, 3, 4)}, "omits this client"),
        ({"participants": (1, 1, 2, 3)}, "repeats"),
        ({"participants": (0, 1, 2, 3)}, "server"),
        ({"active": True}, "profile"),
        ({"threshold": 0}, "threshold"),
        ({"threshold": 4}, "threshold"),
        ({"degree": 5}, "graph"),
        ({"dim": 0}, "dimension"),
        ({"width": 8}, "modulus"),
    ],
)
def test_client_validates_setup(change: dict, match: str) -> None:
    s = make_session(4, graph=_graph(4, 3, 2))
    setup = _to(_start(s), 1)
    fields = {
        f: getattr(setup, f)
        for f in ("participants", "degree", "threshold", "dim", "width", "active", "encoding")
    }
    fields.update(change)
    with pytest.raises(ProtocolError, match=match):
        s.clients[1].handle(Setup(setup.session, SERVER, 1, **fields))
    assert s.clients[1].stage is ClientStage.AWAIT_SETUP


def test_active_profile_needs_a_majority_threshold() -> None:
    s = make_session(5, profile="active", graph=_graph(5, 4, 3, "active"))
    setup = _to(_start(s), 1)
    fields = {
        f: getattr(setup, f)
        for f in ("participants", "degree", "threshold", "dim", "width", "active", "encoding")
    }
    fields["threshold"] = 2
    with pytest.raises(ProtocolError, match="above k / 2"):
        s.clients[1].handle(Setup(setup.session, SERVER, 1, **fields))


def _key_book_for(s: Session, u: int) -> KeyBook:
    out = s.deliver(_start(s))
    return _to(out, u)


def test_client_validates_the_key_book() -> None:
    s = make_session(6, graph=_graph(6, 4, 3))
    book = _key_book_for(s, 1)
    c1 = s.clients[1]
    nbrs = sorted(p.client for p in book.peers)
    stranger = next(u for u in range(2, 7) if u not in nbrs)
    p = book.peers[0]
    cases = [
        ((*book.peers, PeerKeys(stranger, b"x" * 32, b"y" * 32)), "not a neighbour"),
        ((*book.peers, p), "twice"),
        (
            (PeerKeys(p.client, book.peers[1].mask_key, p.channel_key), *book.peers[1:]),
            "same public key",
        ),
        (book.peers[:2], "fewer than the threshold"),
        ((PeerKeys(p.client, b"x" * 31, p.channel_key), *book.peers[1:]), "malformed"),
    ]
    for peers, match in cases:
        with pytest.raises(ProtocolError, match=match):
            c1.handle(KeyBook(book.session, SERVER, 1, peers))
        assert c1.stage is ClientStage.AWAIT_KEYS
    assert isinstance(c1.handle(book)[0], EncryptedShares)


def _deliveries(s: Session) -> list:
    return s.deliver(s.deliver(_start(s)))


def test_client_validates_share_deliveries() -> None:
    s = make_session(5, graph=_graph(5, 4, 2))
    out = _deliveries(s)
    d1, d2 = _to(out, 1), _to(out, 2)
    c1 = s.clients[1]
    (v, ct), rest = d1.shares[0], d1.shares[1:]
    flipped = bytes([ct[0] ^ 1]) + ct[1:]
    cases = [
        (((v, flipped), *rest), "fail authentication"),
        (((v, ct), (v, ct), *rest), "two share ciphertexts"),
        (((99, ct), *rest), "not a live neighbour"),
        # a ciphertext 3 -> 2, replayed to client 1 as if 3 had sent it to 1
        (
            tuple((w, dict(d2.shares)[w]) if w == 3 else (w, c) for w, c in d1.shares),
            "fail authentication",
        ),
        (d1.shares[:1], "fewer than the threshold"),
    ]
    for shares, match in cases:
        with pytest.raises(ProtocolError, match=match):
            c1.handle(SharesDelivery(d1.session, SERVER, 1, shares))
        assert c1.stage is ClientStage.AWAIT_SHARES
    fresh = SecAggClient(1, rng=None)
    assert fresh.stage is ClientStage.AWAIT_SETUP


def test_client_without_input_refuses_to_mask() -> None:
    s = make_session(4, graph=_graph(4, 3, 2))
    s.clients[1]._input = None
    out = _deliveries(s)
    with pytest.raises(ParameterError, match="set_input"):
        s.clients[1].handle(_to(out, 1))


def test_client_rejects_an_input_of_the_wrong_length() -> None:
    s = make_session(4, graph=_graph(4, 3, 2))
    s.clients[1].set_input(lambda: [1, 2, 3])
    out = _deliveries(s)
    with pytest.raises(ParameterError, match="coordinates"):
        s.clients[1].handle(_to(out, 1))


# --------------------------------------------------------------------------- never both shares
def _unmask_stage(n: int = 6, k: int = 4, t: int = 2) -> tuple[Session, list]:
    s = make_session(n, graph=_graph(n, k, t))
    out = s.deliver(_deliveries(s))
    assert all(isinstance(m, UnmaskRequest) for m in out)
    return s, out


@given(data=st.data())
def test_a_malicious_server_never_gets_both_shares_of_a_peer(data: st.DataObject) -> None:
    s, _out = _unmask_stage()
    c1 = s.clients[1]
    held = sorted(c1._held)
    survivors = data.draw(st.lists(st.sampled_from(held), unique=True))
    dropped = data.draw(st.lists(st.sampled_from(held), unique=True))
    request = UnmaskRequest(s.config.session, SERVER, 1, tuple(survivors), tuple(dropped))
    try:
        answer = c1.handle(request)[0]
    except ProtocolError:
        assert c1.stage is ClientStage.AWAIT_UNMASK
        return
    assert isinstance(answer, UnmaskShares)
    b_for = {v for v, kind, _ in answer.shares if kind is SecretKind.SELF_MASK}
    sk_for = {v for v, kind, _ in answer.shares if kind is SecretKind.MASK_KEY}
    assert not b_for & sk_for and b_for | sk_for == set(held)
    # A second request (the other view) is refused.
    with pytest.raises(ProtocolError, match="ended"):
        c1.handle(UnmaskRequest(s.config.session, SERVER, 1, tuple(dropped), tuple(survivors)))


def test_unmask_request_checks() -> None:
    s, out = _unmask_stage(6, 4, 3)
    c1 = s.clients[1]
    held = sorted(c1._held)
    session = s.config.session
    cases = [
        ((held[0], *held), (), "repeats"),
        (held, (held[0],), "both survived and dropped"),
        (held[:-1], (), "exactly the neighbours"),
        ((*held, 99), (), "exactly the neighbours"),
        (held[:1], held[1:], "refusing to unmask"),
    ]
    for survivors, dropped, match in cases:
        with pytest.raises(ProtocolError, match=match):
            c1.handle(UnmaskRequest(session, SERVER, 1, tuple(survivors), tuple(dropped)))
    assert isinstance(c1.handle(_to(out, 1))[0], UnmaskShares)
    assert c1.revealed_self_mask_shares == frozenset(held)
    assert c1.revealed_mask_key_shares == frozenset()


# --------------------------------------------------------------------------- active profile
def test_active_profile_detects_a_split_view() -> None:
    """The server shows half the clients one U_3 and half another: signatures give it away."""
    n = 7
    s = make_session(n, profile="active", graph=_graph(n, 6, 4, "active"))
    out = s.deliver(_deliveries(s))
    assert all(isinstance(m, ConsistencyCheck) for m in out)
    views = {u: (tuple(range(1, n + 1)) if u % 2 else tuple(range(1, n))) for u in range(1, n)}
    sigs = {}
    for u in range(1, n):
        m = _to(out, u)
        reply = s.clients[u].handle(ConsistencyCheck(m.session, SERVER, u, views[u]))[0]
        sigs[u] = reply.signature
    held = sorted(s.clients[1]._held)
    request = UnmaskRequest(
        s.config.session, SERVER, 1, tuple(held), (), tuple(sorted(sigs.items()))
    )
    with pytest.raises(ProtocolError, match="different clients different lists"):
        s.clients[1].handle(request)
    honest = UnmaskRequest(
        s.config.session,
        SERVER,
        1,
        tuple(held),
        (),
        tuple((u, sig) for u, sig in sorted(sigs.items()) if u % 2),
    )
    with pytest.raises(ProtocolError, match="fewer than the threshold"):
        s.clients[1].handle(honest)
    contradicting = UnmaskRequest(s.config.session, SERVER, 1, tuple(held[:-1]), (held[-1],), ())
    with pytest.raises(ProtocolError, match="contradicts"):
        s.clients[1].handle(contradicting)
    stranger = UnmaskRequest(s.config.session, SERVER, 1, tuple(held), (), ((99, bytes(64)),))
    with pytest.raises(ProtocolError, match="not expected"):
        s.clients[1].handle(stranger)


def test_active_profile_rejects_substituted_keys() -> None:
    s = make_session(5, profile="active", graph=_graph(5, 4, 3, "active"))
    out = s.deliver(_start(s))
    book = _to(out, 1)
    p = book.peers[0]
    forged = PeerKeys(p.client, b"\x09" * 32, p.channel_key, p.signature)
    with pytest.raises(ProtocolError, match="not signed"):
        s.clients[1].handle(KeyBook(book.session, SERVER, 1, (forged, *book.peers[1:])))
    # The server checks the signatures too.
    s2 = make_session(5, profile="active", graph=_graph(5, 4, 3, "active"), seed=1)
    setup = _to(_start(s2), 2)
    adv = s2.clients[2].handle(setup)[0]
    with pytest.raises(ProtocolError, match="not signed"):
        s2.server.handle(
            AdvertiseKeys(adv.session, 2, SERVER, b"\x09" * 32, adv.channel_key, adv.signature)
        )


def test_active_profile_configuration_errors() -> None:
    with pytest.raises(ParameterError, match="signing_key"):
        SecAggClient(1, profile="active")
    with pytest.raises(ParameterError, match="verify key"):
        SessionConfig.create(
            [1, 2, 3],
            2,
            VectorEncoding.integers(0, 1),
            profile="active",
            corrupted_fraction=0.0,
            dropout_rate=0.0,
        )


def test_constructor_errors() -> None:
    with pytest.raises(ParameterError, match="client id"):
        SecAggClient(0)
    with pytest.raises(ParameterError, match="client id"):
        SecAggClient(True)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="profile"):
        SecAggClient(1, profile="paranoid")  # type: ignore[arg-type]
    enc = VectorEncoding.integers(0, 1)
    with pytest.raises(ParameterError, match="distinct"):
        SessionConfig.create([1, 1, 2], 2, enc)
    with pytest.raises(ParameterError, match="dim"):
        SessionConfig.create([1, 2, 3], 0, enc)
    with pytest.raises(ParameterError, match="VectorEncoding"):
        SessionConfig.create([1, 2, 3], 2, "int")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="graph is for"):
        SessionConfig.create([1, 2, 3], 2, enc, graph=_graph(4, 3, 1))
    with pytest.raises(ParameterError, match="session id"):
        SessionConfig.create([1, 2, 3], 2, enc, graph=_graph(3, 2, 1), session=b"x")
    with pytest.raises(ParameterError, match="SessionConfig"):
        SecAggServer("config")  # type: ignore[arg-type]


def test_client_state_survives_export_between_every_message() -> None:
    """Drivers like Flower rebuild the client from its exported state at each message."""
    s = make_session(6, graph=_graph(6, 4, 2))
    out = _start(s)
    while out:
        nxt = []
        for m in out:
            if m.recipient == 6 and m.ROUND is Round.MASKED_INPUT:
                continue  # 6 drops before its masked input
            client = SecAggClient.from_state(s.clients[m.recipient].export_state())
            client.set_input(s.inputs[m.recipient])
            for reply in client.handle(decode(encode(m))):
                nxt.extend(s.server.handle(reply))
            s.clients[m.recipient] = client
        if not nxt and s.server.collecting:
            nxt = s.server.close_round()
        out = nxt
    assert s.server.result.sum.tolist() == sum(s.inputs[u] for u in range(1, 6)).tolist()
    done = SecAggClient.from_state(s.clients[1].export_state())
    assert done.stage is ClientStage.DONE
    assert done.revealed_mask_key_shares == s.clients[1].revealed_mask_key_shares


@pytest.mark.parametrize(
    "blob",
    [b"not json", b'{"v": 2}', b'{"v": 1, "id": 0}', b'{"v": 1}'],
)
def test_bad_client_state_is_a_serialization_error(blob: bytes) -> None:
    from heprim.errors import SerializationError

    with pytest.raises(SerializationError):
        SecAggClient.from_state(blob)
