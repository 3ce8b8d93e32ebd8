"""Cost accounting: bytes sent and received and compute time, per round, for one party.

Every client and server state machine keeps a :class:`CostLedger`. ``handle`` charges its own
running time (``time.perf_counter``, so single-threaded drivers measure pure compute) to the round
it is processing, and charges each message's wire size to the round the message belongs to.

A ledger is keyed by a protocol's round enum: SecAgg's :class:`~heprim.secagg.messages.Round` by
default, the HE aggregation protocols' own through :meth:`CostLedger.for_rounds`; the table of
:func:`format_cost_table` is the same for every protocol, so their costs compare side by side.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

from heprim.secagg.messages import Round

__all__ = ["CostLedger", "RoundCost", "format_bytes", "format_cost_table", "summarise"]


class Metered(Protocol):
    """What a ledger needs of a message: its round (``None``: any, e.g. an abort) and size.

    SecAgg's, the HE aggregation protocols' and private intersection-sum's messages all qualify.
    """

    @property
    def ROUND(self) -> IntEnum | None: ...  # a class constant of every message class

    @property
    def nbytes(self) -> int: ...


@dataclass
class RoundCost:
    """What one party spent in one round."""

    seconds: float = 0.0
    bytes_sent: int = 0
    bytes_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0

    def __iadd__(self, other: RoundCost) -> RoundCost:
        self.seconds += other.seconds
        self.bytes_sent += other.bytes_sent
        self.bytes_received += other.bytes_received
        self.messages_sent += other.messages_sent
        self.messages_received += other.messages_received
        return self


@dataclass
class CostLedger:
    """Per-round costs of one party (a client or the server)."""

    rounds: dict[IntEnum, RoundCost] = field(
        default_factory=lambda: {r: RoundCost() for r in Round}
    )

    @classmethod
    def for_rounds(cls, rounds: Iterable[IntEnum]) -> CostLedger:
        """An empty ledger for another protocol's rounds (e.g. an HE aggregation's)."""
        return cls({r: RoundCost() for r in rounds})

    @contextmanager
    def timing(self, round_: IntEnum) -> Iterator[None]:
        """Charge the time spent inside the ``with`` block to ``round_``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.rounds[round_].seconds += time.perf_counter() - start

    def received(self, message: Metered, round_: IntEnum) -> None:
        """Charge an incoming message (to its own round; an abort to ``round_``)."""
        cost = self.rounds[message.ROUND if message.ROUND is not None else round_]
        cost.bytes_received += message.nbytes
        cost.messages_received += 1

    def sent(self, messages: Iterable[Metered], round_: IntEnum) -> None:
        """Charge outgoing messages."""
        for message in messages:
            cost = self.rounds[message.ROUND if message.ROUND is not None else round_]
            cost.bytes_sent += message.nbytes
            cost.messages_sent += 1

    @property
    def total(self) -> RoundCost:
        """The sum over all rounds."""
        out = RoundCost()
        for cost in self.rounds.values():
            out += cost
        return out


def summarise(ledgers: Iterable[CostLedger]) -> dict[IntEnum, RoundCost]:
    """Per-round totals over many parties (e.g. all clients)."""
    out: dict[IntEnum, RoundCost] = {}
    for ledger in ledgers:
        for r, cost in ledger.rounds.items():
            out.setdefault(r, RoundCost())
            out[r] += cost
    return out


def format_bytes(n: float) -> str:
    """``1234567`` -> ``"1.2 MiB"``."""
    for unit in ("B", "KiB", "MiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _senders(costs: list[RoundCost]) -> list[RoundCost]:
    """The parties that sent something (the others dropped out or had no role), else all."""
    active = [c for c in costs if c.messages_sent]
    return active or costs


def format_cost_table(server: CostLedger, clients: Mapping[int, CostLedger]) -> str:
    """A plain-text table: server time and traffic, and the mean and max per client, by round.

    The rows are the protocol's rounds (any round enum); the client means are over the parties
    that sent a message in that round (over the whole session in the total row), so neither
    dropped clients nor parties without a role in a round (the decryptors of an HE protocol in
    its input round) dilute them.
    """
    lines = [
        f"{'round':<14}{'server s':>10}{'server sent':>13}{'server recv':>13}"
        f"{'client s (mean/max)':>22}{'client sent (mean)':>20}"
    ]
    for r in server.rounds:  # the protocol's own rounds, in order
        s = server.rounds[r]
        if not (s.messages_sent or s.messages_received or s.seconds > 0):
            continue
        per_client = _senders([c.rounds[r] for c in clients.values() if r in c.rounds])
        n = max(len(per_client), 1)
        mean_t = sum(c.seconds for c in per_client) / n
        max_t = max((c.seconds for c in per_client), default=0.0)
        mean_sent = sum(c.bytes_sent for c in per_client) / n
        lines.append(
            f"{r.name.lower():<14}{s.seconds:>10.3f}{format_bytes(s.bytes_sent):>13}"
            f"{format_bytes(s.bytes_received):>13}{f'{mean_t:.4f}/{max_t:.4f}':>22}"
            f"{format_bytes(mean_sent):>20}"
        )
    st = server.total
    totals = _senders([c.total for c in clients.values()])
    n = max(len(totals), 1)
    mean_t = sum(c.seconds for c in totals) / n
    max_t = max((c.seconds for c in totals), default=0.0)
    lines.append(
        f"{'total':<14}{st.seconds:>10.3f}{format_bytes(st.bytes_sent):>13}"
        f"{format_bytes(st.bytes_received):>13}{f'{mean_t:.4f}/{max_t:.4f}':>22}"
        f"{format_bytes(sum(c.bytes_sent for c in totals) / n):>20}"
    )
    return "\n".join(lines)
