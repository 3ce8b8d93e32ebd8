"""Cost accounting of one party of private intersection-sum: time and bytes per round.

Each party keeps a :class:`CostLedger`. Its methods charge their own running time
(``time.perf_counter``) to the round whose work they do, and every message's wire size to the
round it belongs to, so the table is the same whichever driver moved the messages (in process,
over TCP). :class:`~heprim.secagg.cost.RoundCost` is shared with secure aggregation.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from heprim.pjc.messages import Message, Round
from heprim.secagg.cost import RoundCost

__all__ = ["CostLedger", "RoundCost", "format_bytes", "format_costs"]


@dataclass
class CostLedger:
    """Per-round costs of one party."""

    rounds: dict[Round, RoundCost] = field(default_factory=lambda: {r: RoundCost() for r in Round})

    @contextmanager
    def timing(self, round_: Round) -> Iterator[None]:
        """Charge the time spent inside the ``with`` block to ``round_``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.rounds[round_].seconds += time.perf_counter() - start

    def received(self, message: Message, round_: Round) -> None:
        """Charge an incoming message (to its own round; an abort to ``round_``)."""
        cost = self.rounds[message.ROUND if message.ROUND is not None else round_]
        cost.bytes_received += message.nbytes
        cost.messages_received += 1

    def sent(self, messages: Iterable[Message], round_: Round) -> None:
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


def format_bytes(n: float) -> str:
    """``1234567`` -> ``"1.2 MiB"``."""
    for unit in ("B", "KiB", "MiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def format_costs(left: CostLedger | None, right: CostLedger | None) -> str:
    """A plain-text table of both parties' (or one party's) time and traffic by round."""
    columns = [(name, ledger) for name, ledger in (("A", left), ("B", right)) if ledger is not None]
    header = f"{'round':<9}" + "".join(
        f"{name + ' s':>10}{name + ' sent':>12}{name + ' recv':>12}" for name, _ in columns
    )
    lines = [header]

    def row(label: str, costs: list[RoundCost]) -> str:
        return f"{label:<9}" + "".join(
            f"{c.seconds:>10.3f}{format_bytes(c.bytes_sent):>12}{format_bytes(c.bytes_received):>12}"
            for c in costs
        )

    for r in Round:
        costs = [ledger.rounds[r] for _, ledger in columns]
        if any(c.seconds > 0 or c.messages_sent or c.messages_received for c in costs):
            lines.append(row(r.name.lower(), costs))
    lines.append(row("total", [ledger.total for _, ledger in columns]))
    return "\n".join(lines)
