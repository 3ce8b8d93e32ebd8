"""Cost accounting of one party of private intersection-sum: time and bytes per round.

Each party keeps a :class:`CostLedger`. Its methods charge their own running time
(``time.perf_counter``) to the round whose work they do, and every message's wire size to the
round it belongs to, so the table is the same whichever driver moved the messages (in process,
over TCP). The ledger, :class:`~heprim.secagg.cost.RoundCost` and :func:`format_bytes` are
secure aggregation's (:mod:`heprim.secagg.cost`); only the rounds and the table are this protocol's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from heprim.pjc.messages import Round
from heprim.secagg.cost import CostLedger as _Ledger
from heprim.secagg.cost import RoundCost, format_bytes

__all__ = ["CostLedger", "RoundCost", "format_bytes", "format_costs"]


@dataclass
class CostLedger(_Ledger):
    """Per-round costs of one party, keyed by this protocol's :class:`Round`."""

    rounds: dict[IntEnum, RoundCost] = field(
        default_factory=lambda: {r: RoundCost() for r in Round}
    )


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
