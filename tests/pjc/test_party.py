"""End-to-end private intersection-sum: exact results, privacy of the transcript, tampering.

The oracle for correctness is the plaintext join-sum computed here with Python sets and dicts,
independently of the protocol code. Sessions use 1024-bit fixed keys (insecure, fast).
"""

from __future__ import annotations

import dataclasses
import warnings
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heprim.errors import InsecureParametersWarning, ParameterError, ProtocolError
from heprim.math.prng import KeyedPRNG
from heprim.pjc import IdentifierParty, PJCResult, Stage, ValueParty, intersection_sum
from heprim.pjc.driver import run_in_process
from heprim.pjc.messages import (
    Abort,
    Hello,
    Layout,
    MaskedSum,
    Reply,
    Revealed,
    Round,
    ValueLayout,
)
from heprim.pjc.party import normalise_identifier, shuffle

from .conftest import Session, make_session, private_key

IDS = st.text(alphabet="abcdefgh", min_size=1, max_size=3)


def plaintext_join_sum(left, right, values, columns=None):
    """The functionality, in the clear: size and sums over the shared identifiers."""
    shared = set(left) & set(right)
    table = dict(zip(right, values, strict=True))
    if columns is not None:
        return len(shared), tuple(sum(table[i][c] for i in shared) for c in range(columns))
    return len(shared), sum(table[i] for i in shared)


# ----------------------------------------------------------------------------- correctness
@given(
    st.lists(IDS, max_size=8),
    st.dictionaries(IDS, st.integers(-(2**70), 2**70), max_size=8),
)
def test_sum_equals_the_plaintext_join_sum(left: list[str], right: dict[str, int]) -> None:
    ids, values = list(right), list(right.values())
    session = make_session(left, ids, values, seed=len(left))
    session.run()
    size, total = plaintext_join_sum(left, ids, values)
    assert session.a.result == PJCResult(size, (total,), (0,))
    assert session.b.result == PJCResult(size)
    assert session.a.stage is Stage.DONE and session.b.stage is Stage.DONE


@settings(max_examples=10)
@given(
    st.lists(IDS, max_size=6),
    st.dictionaries(IDS, st.tuples(*[st.integers(-(2**20), 2**20)] * 3), max_size=6),
)
def test_packed_columns_equal_the_plaintext_join_sums(left, right) -> None:
    ids, values = list(right), [list(v) for v in right.values()]
    run = intersection_sum(
        left,
        ids,
        np.array(values, dtype=np.int64).reshape(len(ids), 3),
        private_key=private_key(),
        allow_insecure=True,
        rng=KeyedPRNG.from_int(7),
    )
    size, sums = plaintext_join_sum(left, ids, values, columns=3)
    assert run.left is not None and run.left.size == size and run.left.sums == sums


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ([], []),
        ([], ["a", "b"]),
        (["a", "b"], []),
        (["a", "b"], ["c", "d"]),  # disjoint
        (["a", "b", "c"], ["c", "b", "a"]),  # identical
        (["a", "a", "b", "a"], ["a", "z"]),  # A's duplicates collapse
    ],
)
@pytest.mark.parametrize("variant", ["size", "sum", "packed"])
def test_edge_sets(left: list[str], right: list[str], variant: str) -> None:
    if variant == "size":
        values = None
    elif variant == "sum":
        values = [10 * (i + 1) for i in range(len(right))]
    else:
        values = np.arange(2 * len(right)).reshape(len(right), 2)
    run = intersection_sum(
        left,
        right,
        values,
        private_key=private_key(),
        allow_insecure=True,
        rng=KeyedPRNG.from_int(1),
    )
    shared = set(left) & set(right)
    assert run.left is not None and run.right is not None
    assert run.left.size == run.right.size == len(shared)
    if variant == "size":
        assert run.left.sums is None
    elif variant == "sum":
        assert run.left.sum == sum(10 * (right.index(s) + 1) for s in shared)
    else:
        expected = [sum(2 * right.index(s) + c for s in shared) for c in range(2)]
        assert list(run.left.sums or ()) == expected


def test_modp_group_end_to_end() -> None:
    session = make_session(["ann", "bob", "cy"], ["bob", "cy", "dan"], [5, 7, 11], group="modp2048")
    session.run()
    assert session.a.result == PJCResult(2, (12,), (0,))


def test_bytes_identifiers_equal_their_utf8_strings() -> None:
    session = make_session(["café", b"bob"], [b"caf\xc3\xa9", "bob"], [3, 4])
    session.run()
    assert session.a.result is not None and session.a.result.sum == 7
    assert normalise_identifier(memoryview(b"x")) == b"x"
    with pytest.raises(ParameterError, match="str or bytes"):
        normalise_identifier(7)


def test_decimals_are_carried_per_column() -> None:
    run = intersection_sum(
        ["a", "b"],
        ["a", "b", "c"],
        [[1250, 3], [5, 4], [1, 1]],
        decimals=[2, 0],
        private_key=private_key(),
        allow_insecure=True,
    )
    assert run.left is not None
    assert run.left.decimals == (2, 0)
    assert run.left.decimal_sums == (Decimal("12.55"), Decimal("7"))
    with pytest.raises(ParameterError, match=r"read \.sums"):
        _ = run.left.sum
    assert PJCResult(1).decimal_sums is None and PJCResult(1).sum is None


def test_b_duplicates_error_or_sum() -> None:
    with pytest.raises(ParameterError, match="appears more than once"):
        ValueParty(["a", "a"], [1, 2], private_key=private_key(), allow_insecure=True)
    run = intersection_sum(
        ["a"],
        ["a", "b", "a"],
        [1, 2, 40],
        duplicates="sum",
        private_key=private_key(),
        allow_insecure=True,
    )
    assert run.left is not None and run.left.sum == 41
    run = intersection_sum(
        ["a"],
        ["a", "a"],
        [[1, 2], [3, 4]],
        duplicates="sum",
        private_key=private_key(),
        allow_insecure=True,
    )
    assert run.left is not None and run.left.sums == (4, 6)


def test_key_generation_when_no_key_is_given() -> None:
    run = intersection_sum(
        ["a", "b"], ["b"], [9], key_bits=512, allow_insecure=True, rng=KeyedPRNG.from_int(2)
    )
    assert run.left is not None and run.left.sum == 9


def test_shuffle_is_a_uniform_permutation_source() -> None:
    rng = KeyedPRNG.from_int(11)
    seen = {tuple(shuffle([0, 1, 2], rng)) for _ in range(200)}
    assert len(seen) == 6  # all 3! orders occur
    assert shuffle([], rng) == [] and shuffle([5], rng) == [5]


# ----------------------------------------------------------------------------- what is revealed
def test_transcript_contains_no_plaintext_identifier_or_value() -> None:
    left = [f"customer-{i:05d}@example.org" for i in range(0, 40)]
    right = [f"customer-{i:05d}@example.org" for i in range(20, 60)]
    values = [1_000_003 * (i + 7) for i in range(40)]
    session = make_session(left, right, values, seed=5)
    session.run()
    wire = b"".join(data for _, data in session.wire)
    assert len(session.wire) == 4
    for identifier in set(left) | set(right):
        assert identifier.encode() not in wire
        assert identifier.encode("utf-16-le") not in wire
    _, total = plaintext_join_sum(left, right, values)
    for v in [*values, total]:
        for width in (4, 8):
            for order in ("big", "little"):
                assert v.to_bytes(width, order) not in wire
        assert str(v).encode() not in wire
    # Nor in B's view of the sum: B decrypts S + r, not S.
    assert session.a.result is not None and session.a.result.sum == total
    revealed = session.wire[-1][1]
    assert total.to_bytes(128, "big") not in revealed


def test_b_sees_a_fresh_uniform_mask_each_session() -> None:
    views = []
    for seed in (1, 2):
        session = make_session(["a", "b"], ["a", "b"], [3, 4], seed=seed)
        masked = session.masked()
        (message,) = masked
        assert isinstance(message, MaskedSum)
        views.append(private_key().raw_decrypt(message.ciphertexts[0]))
    assert views[0] != views[1] and 7 not in views


def test_the_sum_ciphertext_is_rerandomised() -> None:
    """B cannot recognise which of its ciphertexts were multiplied: fresh randomness is mixed in."""
    session = make_session(["a", "b"], ["a", "b", "c"], [3, 4, 5], seed=9)
    (reply,) = session.reply()
    assert isinstance(reply, Reply)
    (masked,) = session.a.handle(reply)
    assert isinstance(masked, MaskedSum)
    sk = private_key()
    n, nsq = sk.public_key.n, sk.public_key.nsquare
    mask = (sk.raw_decrypt(masked.ciphertexts[0]) - 7) % n
    for subset in ([0, 1], [0, 2], [1, 2], [0], [1], [2], [0, 1, 2]):
        product = 1
        for j in subset:
            product = product * reply.ciphertexts[j] % nsq
        assert product * (1 + mask * n) % nsq != masked.ciphertexts[0]


def test_costs_are_accounted_per_round() -> None:
    session = make_session(["a", "b"], ["a", "c"], [1, 2])
    session.run()
    a, b = session.a.cost, session.b.cost
    for r in (Round.BLIND, Round.SUM):
        assert a.rounds[r].bytes_sent > 0 and b.rounds[r].bytes_received == a.rounds[r].bytes_sent
    for r in (Round.MATCH, Round.REVEAL):
        assert b.rounds[r].bytes_sent > 0 and a.rounds[r].bytes_received == b.rounds[r].bytes_sent
    assert b.rounds[Round.PREPARE].seconds > 0
    assert a.total.bytes_sent + b.total.bytes_sent == sum(len(d) for _, d in session.wire)


# ----------------------------------------------------------------------------- policies
def test_group_mismatch_is_an_abort_both_sides_understand() -> None:
    a = IdentifierParty(["a"], want_sum=False, group="x25519", rng=KeyedPRNG.from_int(1))
    b = ValueParty(["a"], group="modp2048", rng=KeyedPRNG.from_int(2))
    run = run_in_process(a, b)
    assert run.left is None and run.right is None
    assert run.abort_reason is not None and "same group" in run.abort_reason
    assert a.stage is Stage.ABORTED and b.stage is Stage.ABORTED


def test_asking_for_a_sum_from_a_party_without_values_is_refused() -> None:
    session = make_session(["a"], ["a"], None, want_sum=True)
    (reply,) = session.reply()
    assert isinstance(reply, Abort) and "no values" in reply.reason
    assert session.a.handle(reply) == [] and session.a.stage is Stage.ABORTED


def test_size_only_request_gets_no_ciphertexts_even_from_a_party_with_values() -> None:
    session = make_session(["a", "b"], ["a", "b"], [5, 6], want_sum=False)
    (reply,) = session.reply()
    assert isinstance(reply, Reply) and reply.layout.kind is Layout.NONE and not reply.ciphertexts
    assert session.send("A", session.send("B", [reply])) == []
    assert session.a.result == PJCResult(2) and session.b.result == PJCResult(2)


def test_min_intersection_refuses_to_reveal_a_small_sum() -> None:
    session = make_session(["a", "x"], ["a", "b"], [5, 6], min_intersection=2)
    (abort,) = session.revealed()
    assert isinstance(abort, Abort) and "fewer than the 2" in abort.reason
    assert session.b.size == 1 and session.b.stage is Stage.ABORTED
    session.send("B", [abort])
    assert session.a.stage is Stage.ABORTED and session.a.size == 1 and session.a.result is None


def test_a_refuses_a_small_key_unless_allowed() -> None:
    a = IdentifierParty(["a"], rng=KeyedPRNG.from_int(1))
    b = ValueParty(["a"], [1], private_key=private_key(), allow_insecure=True)
    session = Session(a, b)
    (reply,) = session.reply()
    with pytest.raises(ProtocolError, match="below the 2048-bit minimum"):
        a.handle(reply)
    a2 = IdentifierParty(["a"], allow_insecure=True, rng=KeyedPRNG.from_int(1))
    session = Session(a2, ValueParty(["a"], [1], private_key=private_key(), allow_insecure=True))
    (reply,) = session.reply()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a2.handle(reply)
    assert any(issubclass(w.category, InsecureParametersWarning) for w in caught)


# ----------------------------------------------------------------------------- tampering
def _tamper_reply(**changes) -> tuple[Session, Reply]:
    session = make_session(["a", "b", "c"], ["b", "c", "d"], [1, 2, 3], seed=3)
    (reply,) = session.reply()
    assert isinstance(reply, Reply)
    return session, dataclasses.replace(reply, **changes)


OFF_CURVE = next(
    u.to_bytes(32, "little")
    for u in range(2, 100)
    if pow((u**3 + 486662 * u * u + u) % (2**255 - 19), (2**255 - 20) // 2, 2**255 - 19) != 1
)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda r: {"group": 2}, "group"),
        (lambda r: {"doubled": r.doubled[:-1]}, "doubly blinded identifiers for the 3"),
        (lambda r: {"doubled": (r.doubled[0],) * 3}, "repeats"),
        (lambda r: {"rows": (r.rows[0],) * 3}, "repeats"),
        (lambda r: {"doubled": (OFF_CURVE, *r.doubled[1:])}, "not on Curve25519"),
        (lambda r: {"rows": (OFF_CURVE, *r.rows[1:])}, "not on Curve25519"),
        (lambda r: {"layout": ValueLayout()}, "does not match"),
        (lambda r: {"modulus": r.modulus + 1}, "invalid"),  # even: not a Paillier modulus
        (lambda r: {"per_row": 2, "ciphertexts": r.ciphertexts * 2}, "ciphertexts per row"),
        (lambda r: {"ciphertexts": (r.modulus, *r.ciphertexts[1:])}, "ciphertext 0"),
        (lambda r: {"ciphertexts": (0, *r.ciphertexts[1:])}, "ciphertext 0"),
        (
            lambda r: {"layout": ValueLayout(Layout.PACKED, 1, (0,), 8, 1), "per_row": 1},
            "headroom",
        ),
    ],
)
def test_a_rejects_a_tampered_reply_and_keeps_its_state(change, match: str) -> None:
    session = make_session(["a", "b", "c"], ["b", "c", "d"], [1, 2, 3], seed=3)
    (reply,) = session.reply()
    assert isinstance(reply, Reply)
    bad = dataclasses.replace(reply, **change(reply))
    with pytest.raises(ProtocolError, match=match):
        session.a.handle(bad)
    assert session.a.stage is Stage.AWAIT_REPLY
    session.send("B", session.send("A", session.a.handle(reply)))  # the genuine reply still works
    assert session.a.result == PJCResult(2, (3,), (0,))


def test_a_rejects_a_small_b_key_reply_for_a_size_only_request() -> None:
    session = make_session(["a"], ["a"], None, want_sum=False)
    (reply,) = session.reply()
    assert isinstance(reply, Reply)
    with pytest.raises(ProtocolError, match="does not match"):
        session.a.handle(dataclasses.replace(reply, layout=ValueLayout(Layout.INTEGER, 1, (0,))))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: {"size": 99}, "impossible"),
        (lambda m: {"ciphertexts": ()}, "sum ciphertexts"),
        (lambda m: {"width": m.width - 1}, "sum ciphertexts"),
        (lambda m: {"ciphertexts": (private_key().public_key.n,)}, "invalid"),
    ],
)
def test_b_rejects_a_tampered_masked_sum(change, match: str) -> None:
    session = make_session(["a", "b"], ["a", "b"], [3, 4], seed=4)
    (masked,) = session.send("B", session.reply())
    assert isinstance(masked, MaskedSum)
    with pytest.raises(ProtocolError, match=match):
        session.b.handle(dataclasses.replace(masked, **change(masked)))
    assert session.b.stage is Stage.AWAIT_MASKED_SUM
    session.send("B", session.b.handle(masked))  # the genuine message still goes through
    assert session.a.result == PJCResult(2, (7,), (0,))


def test_b_rejects_ciphertexts_in_the_size_only_variant() -> None:
    session = make_session(["a"], ["a"], None)
    (masked,) = session.send("B", session.reply())
    assert isinstance(masked, MaskedSum)
    with pytest.raises(ProtocolError, match="size-only"):
        session.b.handle(dataclasses.replace(masked, ciphertexts=(5,), width=2))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: {"plaintexts": ()}, "wrong number"),
        (lambda m: {"width": m.width + 1}, "wrong number"),
        (lambda m: {"plaintexts": (private_key().public_key.n,)}, "not below n"),
    ],
)
def test_a_rejects_a_tampered_revealed_sum(change, match: str) -> None:
    session = make_session(["a", "b"], ["a", "b"], [3, 4], seed=4)
    (revealed,) = session.send("A", session.masked())
    assert isinstance(revealed, Revealed)
    with pytest.raises(ProtocolError, match=match):
        session.a.handle(dataclasses.replace(revealed, **change(revealed)))
    session.a.handle(revealed)
    assert session.a.result == PJCResult(2, (7,), (0,))


def test_a_detects_an_inconsistent_empty_or_packed_sum() -> None:
    session = make_session(["a"], ["b"], [3], seed=4)
    (revealed,) = session.send("A", session.masked())
    assert isinstance(revealed, Revealed)
    with pytest.raises(ProtocolError, match="empty sum"):
        session.a.handle(dataclasses.replace(revealed, plaintexts=((revealed.plaintexts[0] + 1),)))
    session = make_session(["a", "b"], ["a", "b"], [[1, 2], [3, 4]], seed=4)
    (revealed,) = session.send("A", session.masked())
    assert isinstance(revealed, Revealed)
    with pytest.raises(ProtocolError, match="does not unpack"):
        n = private_key().public_key.n
        session.a.handle(
            dataclasses.replace(revealed, plaintexts=((revealed.plaintexts[0] + n // 2) % n,))
        )


def test_out_of_order_replayed_and_foreign_messages() -> None:
    session = make_session(["a", "b"], ["a", "b"], [3, 4])
    with pytest.raises(ProtocolError, match="start"):
        session.a.handle(Abort(bytes(16), "x"))
    (hello,) = session.hello()
    with pytest.raises(ProtocolError, match="already"):
        session.a.start()
    with pytest.raises(ProtocolError, match="expected Hello"):
        session.b.handle(MaskedSum(hello.session, 0, 0, ()))
    with pytest.raises(ProtocolError, match="not a protocol message"):
        session.b.handle("hello")  # type: ignore[arg-type]
    (reply,) = session.send("A", [hello])
    with pytest.raises(ProtocolError, match="expected MaskedSum"):
        session.b.handle(hello)  # replayed hello
    with pytest.raises(ProtocolError, match="another session"):
        session.a.handle(dataclasses.replace(reply, session=b"\x01" * 16))
    with pytest.raises(ProtocolError, match="expected Reply"):
        session.a.handle(Revealed(hello.session, 0, ()))
    (masked,) = session.send("B", [reply])
    assert isinstance(masked, MaskedSum) and session.a.stage is Stage.AWAIT_REVEAL


def test_messages_after_the_end_are_refused() -> None:
    session = make_session(["a", "b"], ["a", "b"], [3, 4])
    session.run()
    with pytest.raises(ProtocolError, match="after the session ended"):
        session.a.handle(Revealed(session.a.session or b"", 0, ()))
    with pytest.raises(ProtocolError, match="after the session ended"):
        session.b.handle(Abort(session.a.session or b"", "late"))


def test_b_rejects_a_hello_with_repeats_or_invalid_points() -> None:
    session = make_session(["a", "b"], ["a"], [1])
    (hello,) = session.hello()
    assert isinstance(hello, Hello)
    with pytest.raises(ProtocolError, match="repeats"):
        session.b.handle(dataclasses.replace(hello, elements=(hello.elements[0],) * 2))
    with pytest.raises(ProtocolError, match="not on Curve25519"):
        session.b.handle(dataclasses.replace(hello, elements=(OFF_CURVE,)))
    assert session.b.stage is Stage.AWAIT_HELLO
    session.send("A", [hello])
    assert session.b.stage is Stage.AWAIT_MASKED_SUM


def test_local_abort_produces_a_message_for_the_peer() -> None:
    session = make_session(["a"], ["a"], [1])
    assert session.b.abort("disk full").session == bytes(16)  # session not yet known
    session = make_session(["a"], ["a"], [1])
    (hello,) = session.hello()
    abort = session.a.abort("cancelled")
    assert abort.session == hello.session and session.a.stage is Stage.ABORTED
    assert session.b.handle(abort) == [] and session.b.abort_reason == "cancelled"


# ----------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: IdentifierParty("abc"), "not one string"),
        (lambda: IdentifierParty([1]), "str or bytes"),
        (lambda: IdentifierParty(["a"], want_sum=1), "True or False"),  # type: ignore[arg-type]
        (lambda: IdentifierParty(["a"], group="p256"), "unknown group"),
        (lambda: ValueParty(b"abc"), "not one string"),
        (lambda: ValueParty(["a"], [1, 2]), "1 identifiers but 2 values"),
        (lambda: ValueParty(["a"], [[1], [2]]), "1 identifiers but 2 rows"),
        (lambda: ValueParty(["a"], np.zeros((1, 0))), "at least one column"),
        (lambda: ValueParty(["a", "b"], [[1, 2], [3]]), "1-D"),
        (lambda: ValueParty(["a"], np.zeros((1, 1, 1))), "1-D"),
        (lambda: ValueParty(["a"], "1"), "integers"),
        (lambda: ValueParty(["a"], [1.5]), "decimals="),
        (lambda: ValueParty(["a"], [True]), "integer"),
        (lambda: ValueParty(["a"], [1], decimals=19), "decimals"),
        (lambda: ValueParty(["a"], [[1, 2]], decimals=[1]), "1 decimals given for 2"),
        (lambda: ValueParty(["a"], [1], duplicates="first"), "duplicates"),  # type: ignore[arg-type]
        (lambda: ValueParty(["a"], [1], min_intersection=-1), "non-negative"),
        (lambda: ValueParty(["a"], [1], private_key="key"), "PrivateKey"),  # type: ignore[arg-type]
        (lambda: ValueParty(["a"], [1], private_key=private_key()), "allow_insecure"),
    ],
)
def test_bad_arguments_are_refused(call, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        call()


def test_values_that_do_not_fit_are_refused_at_prepare() -> None:
    from heprim.errors import EncodingOverflowError

    party = ValueParty(
        ["a", "b"], [1 << 1022, 1 << 1022], private_key=private_key(), allow_insecure=True
    )
    with pytest.raises(EncodingOverflowError, match="n/2"):
        party.prepare()
    party = ValueParty(
        ["a"], [[1 << 40, 0]], value_bits=16, private_key=private_key(), allow_insecure=True
    )
    with pytest.raises(EncodingOverflowError, match="row 0, column 0"):
        party.prepare()
    party = ValueParty(
        ["a"], [[1, 0]], value_bits=1, private_key=private_key(), allow_insecure=True
    )
    with pytest.raises(ParameterError, match="no room"):
        party.prepare()


def test_reprs_and_properties() -> None:
    session = make_session(["a"], ["a"], [[1, 2]])
    assert "IdentifierParty(1 identifiers" in repr(session.a) and "ValueParty(1 rows" in repr(
        session.b
    )
    assert session.b.layout is None
    session.b.prepare()
    session.b.prepare()  # idempotent
    assert session.b.layout is not None and session.b.layout.kind is Layout.PACKED
    assert session.b.private_key is private_key()
    assert session.a.session is None and not session.a.finished
