"""Running both parties in one process, and the byte-level adapter network drivers use.

:func:`run_in_process` moves messages between an :class:`~heprim.pjc.party.IdentifierParty` and a
:class:`~heprim.pjc.party.ValueParty`, serialising and parsing each on the way (so the bytes
counted are those a network would carry and the codec is exercised end to end).
:func:`intersection_sum` is the one-call recipe on top.

:class:`WireEndpoint` wraps a party as bytes in, bytes out (``initial``, ``receive``,
``finished``, ``abort_frame``): the structural interface of the transport-agnostic drivers in
:mod:`heprim.net`, which move frames and know nothing of this protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from heprim.errors import HeprimError, ProtocolError, SerializationError
from heprim.math.prng import PRNG, KeyedPRNG, default_rng
from heprim.paillier.keys import DEFAULT_N_BITS, PrivateKey
from heprim.pjc.cost import CostLedger
from heprim.pjc.group import DEFAULT_GROUP, Group
from heprim.pjc.messages import Message, Round, decode, encode
from heprim.pjc.party import Duplicates, IdentifierParty, PJCResult, ValueParty

__all__ = ["PJCRun", "WireEndpoint", "intersection_sum", "run_in_process"]

Progress = Callable[[int, int], None] | None
Party = IdentifierParty | ValueParty


@dataclass
class PJCRun:
    """The outcome and costs of one in-process session.

    Attributes:
        left: what A learned (size and sums), or ``None`` if the session aborted first.
        right: what B learned (the size), or ``None``.
        abort_reason: why the session aborted, or ``None``.
        left_cost, right_cost: each party's time and traffic per round.
        seconds: wall-clock time of the whole run (both parties, one after the other).
        transcript: ``(sender, wire bytes)`` of every message, when recorded.
    """

    left: PJCResult | None
    right: PJCResult | None
    abort_reason: str | None
    left_cost: CostLedger
    right_cost: CostLedger
    seconds: float
    transcript: list[tuple[str, bytes]] = field(default_factory=list, repr=False)

    @property
    def bytes_by_round(self) -> dict[Round, int]:
        """Bytes on the wire per round (both directions)."""
        return {
            r: self.left_cost.rounds[r].bytes_sent + self.right_cost.rounds[r].bytes_sent
            for r in Round
        }

    @property
    def total_bytes(self) -> int:
        """All bytes exchanged."""
        return sum(self.bytes_by_round.values())


def run_in_process(
    left: IdentifierParty,
    right: ValueParty,
    *,
    record: bool = False,
    progress: Progress = None,
) -> PJCRun:
    """Run one session between two fresh parties in this process; return results and costs.

    Args:
        left, right: the parties, not started.
        record: keep the wire bytes of every message in :attr:`PJCRun.transcript`.
        progress: called with ``(done, total)`` for each long step (hashing, blinding,
            encryption), restarting at each step.

    Protocol violations (which two honest parties never commit) propagate as
    :class:`~heprim.errors.ProtocolError`; a refusal by policy is reported as
    :attr:`PJCRun.abort_reason`.
    """
    transcript: list[tuple[str, bytes]] = []
    start = time.perf_counter()
    right.start(progress=progress)  # B's offline round
    queue: list[tuple[str, Message]] = [("A", m) for m in left.start(progress=progress)]
    while queue:
        sender, message = queue.pop(0)
        wire = encode(message)
        if record:
            transcript.append((sender, wire))
        receiver: Party = right if sender == "A" else left
        replies = receiver.handle(decode(wire), progress=progress)
        queue.extend(("B" if sender == "A" else "A", m) for m in replies)
    seconds = time.perf_counter() - start
    if not (left.finished and right.finished):  # pragma: no cover - two honest parties finish
        raise ProtocolError("the session stalled: no party has anything to send")
    return PJCRun(
        left=left.result,
        right=right.result,
        abort_reason=left.abort_reason or right.abort_reason,
        left_cost=left.cost,
        right_cost=right.cost,
        seconds=seconds,
        transcript=transcript,
    )


def intersection_sum(
    left_identifiers: Iterable[str | bytes],
    right_identifiers: Iterable[str | bytes],
    right_values: Sequence[int] | Sequence[Sequence[int]] | np.ndarray[Any, Any] | None = None,
    *,
    group: str | Group = DEFAULT_GROUP,
    private_key: PrivateKey | None = None,
    key_bits: int = DEFAULT_N_BITS,
    value_bits: int | None = None,
    decimals: int | Sequence[int] = 0,
    duplicates: Duplicates = "error",
    min_intersection: int = 0,
    allow_insecure: bool = False,
    record: bool = False,
    rng: PRNG | None = None,
    progress: Progress = None,
) -> PJCRun:
    """Private intersection-sum-with-cardinality of two local datasets, both parties in process.

    The left party (identifiers only) learns the intersection size and, when ``right_values``
    is given, the sum of the right party's values over the intersection (``run.left.sums``);
    the right party learns the size (``run.right.size``). See
    :class:`~heprim.pjc.party.ValueParty` for the arguments about values and keys.

    Example::

        run = intersection_sum(["ann", "bob"], ["bob", "cy"], [5, 7])
        run.left.size, run.left.sum   # (1, 5)
    """
    source = default_rng(rng)
    left_rng: PRNG = source.derive("pjc-left") if isinstance(source, KeyedPRNG) else source
    right_rng: PRNG = source.derive("pjc-right") if isinstance(source, KeyedPRNG) else source
    left = IdentifierParty(
        left_identifiers,
        want_sum=right_values is not None,
        group=group,
        allow_insecure=allow_insecure,
        rng=left_rng,
    )
    right = ValueParty(
        right_identifiers,
        right_values,
        group=group,
        private_key=private_key,
        key_bits=key_bits,
        value_bits=value_bits,
        decimals=decimals,
        duplicates=duplicates,
        min_intersection=min_intersection,
        allow_insecure=allow_insecure,
        rng=right_rng,
    )
    return run_in_process(left, right, record=record, progress=progress)


class WireEndpoint:
    """A party seen as frames: what a network driver (:mod:`heprim.net.tcp`) moves.

    Args:
        party: an :class:`IdentifierParty` or :class:`ValueParty`, not started.
        progress: passed to the party's long steps.

    ``receive`` parses the frame (a malformed frame is a :class:`ProtocolError`), lets the party
    handle it and returns the encoded replies. ``abort_frame`` ends the party's session and
    returns the Abort to send, so the peer learns why.
    """

    def __init__(self, party: Party, *, progress: Progress = None) -> None:
        self.party = party
        self._progress = progress

    @property
    def finished(self) -> bool:
        """Whether the party has nothing more to say or hear."""
        return self.party.finished

    def initial(self) -> list[bytes]:
        """The frames to send first (A's Hello; B prepares and sends nothing)."""
        return [encode(m) for m in self.party.start(progress=self._progress)]

    def receive(self, frame: bytes) -> list[bytes]:
        """Handle one frame from the peer; return the frames to send back."""
        try:
            message = decode(frame)
        except SerializationError as exc:
            raise ProtocolError(f"malformed message from the peer: {exc}") from exc
        return [encode(m) for m in self.party.handle(message, progress=self._progress)]

    def abort_frame(self, reason: str) -> bytes | None:
        """Abort locally; the frame that tells the peer (``None`` if already finished)."""
        if self.party.finished:
            return None
        try:
            return encode(self.party.abort(reason[:1000]))
        except HeprimError:  # pragma: no cover - an abort always encodes
            return None
