"""The in-process driver: one server and n clients in one Python process, with dropouts.

The simulator moves messages and nothing else: the protocol lives in the sans-I/O
:class:`~heprim.secagg.server.SecAggServer` and :class:`~heprim.secagg.client.SecAggClient`.
Every message is serialised and parsed on the way (:func:`heprim.secagg.messages.encode` and
``decode``), so the bytes counted are the bytes a network would carry and the codec is
exercised end to end. A :class:`DropoutSchedule` says which clients go silent at which round;
the server then closes the round without them, as a network driver would on a deadline.

:func:`run_cli` backs ``python -m heprim secagg simulate``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from heprim.errors import ParameterError
from heprim.math.prng import PRNG, KeyedPRNG, default_rng
from heprim.secagg.client import SecAggClient
from heprim.secagg.cost import CostLedger, format_cost_table
from heprim.secagg.crypto import SigningKey
from heprim.secagg.encoding import Aggregate, VectorEncoding
from heprim.secagg.graph import GraphParams, Profile, choose_graph
from heprim.secagg.messages import Message, Round, decode, encode
from heprim.secagg.server import SecAggServer, SessionConfig

__all__ = ["DropoutSchedule", "SimulationResult", "run_cli", "simulate"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DropoutSchedule:
    """Which clients go silent, and from which round on.

    ``at[r]`` holds the clients that send nothing from round ``r`` on: round 0 means they
    never advertise keys, round 1 that they drop before sharing keys, round 2 after sharing
    keys (before their masked input), round 3 or 4 after their masked input (during the
    consistency check or the unmasking).
    """

    at: Mapping[Round, frozenset[int]] = field(default_factory=dict)

    @classmethod
    def none(cls) -> DropoutSchedule:
        """No dropouts."""
        return cls({})

    @classmethod
    def random(
        cls,
        participants: Sequence[int],
        rate: float,
        round_: Round = Round.UNMASK,
        rng: PRNG | None = None,
    ) -> DropoutSchedule:
        """Drop ``round(rate * n)`` uniformly chosen clients at ``round_``."""
        if not 0.0 <= rate <= 1.0:
            raise ParameterError(f"a dropout rate is in [0, 1], got {rate}")
        rng = default_rng(rng)
        pool = sorted(participants)
        chosen: set[int] = set()
        for _ in range(round(rate * len(pool))):
            pick = pool.pop(rng.randbelow(len(pool)))
            chosen.add(pick)
        return cls({Round(round_): frozenset(chosen)})

    def dropped_by(self, round_: Round) -> frozenset[int]:
        """The clients silent in ``round_`` (they dropped at that round or earlier)."""
        out: frozenset[int] = frozenset()
        for r, clients in self.at.items():
            if r <= round_:
                out |= clients
        return out


@dataclass
class SimulationResult:
    """What one simulated session produced and cost.

    Attributes:
        aggregate: the decoded sum, or ``None`` if the session aborted.
        abort_reason: why it aborted, or ``None``.
        survivors: U_3, the clients whose inputs are in the sum.
        config: the session configuration (graph, threshold, modulus width).
        server_cost, client_costs: per-round time and traffic.
        seconds: wall-clock time of the whole simulation.
    """

    aggregate: Aggregate | None
    abort_reason: str | None
    survivors: frozenset[int]
    config: SessionConfig
    server_cost: CostLedger
    client_costs: dict[int, CostLedger]
    seconds: float
    clients: dict[int, SecAggClient] = field(repr=False, default_factory=dict)

    @property
    def compute_seconds(self) -> float:
        """Server plus all clients' protocol compute time (what a 1-core deployment would pay)."""
        return self.server_cost.total.seconds + sum(
            c.total.seconds for c in self.client_costs.values()
        )


def _client_rng(rng: PRNG, u: int) -> PRNG:
    return rng.derive(f"secagg-client-{u}") if isinstance(rng, KeyedPRNG) else rng


def simulate(
    inputs: Mapping[int, npt.ArrayLike | Callable[[], npt.ArrayLike]],
    encoding: VectorEncoding,
    *,
    dim: int | None = None,
    weights: Mapping[int, int] | None = None,
    graph: GraphParams | None = None,
    profile: Profile = "semi-honest",
    corrupted_fraction: float = 0.1,
    dropout_rate: float = 0.1,
    dropouts: DropoutSchedule | None = None,
    rng: PRNG | None = None,
    progress: Progress | None = None,
) -> SimulationResult:
    """Run one secure-aggregation session in process and return the result and its costs.

    Args:
        inputs: each client id's vector, or a callable producing it when it is needed (keeps
            memory flat for large simulations).
        encoding: the :class:`~heprim.secagg.encoding.VectorEncoding` of the session.
        dim: the vector length (required when every input is a callable).
        weights: each client's weight (weighted encodings only).
        graph: force the graph; by default chosen from ``corrupted_fraction`` and
            ``dropout_rate`` (:func:`~heprim.secagg.graph.choose_graph`).
        profile: ``"semi-honest"`` or ``"active"`` (signatures and a consistency round).
        dropouts: who drops out when; none by default.
        rng: randomness for everything (a seeded KeyedPRNG makes the run reproducible).
        progress: called with (client messages handled, expected total).

    An abort is not an exception here: it is reported in the result, since it is a legitimate
    outcome under heavy dropout. Protocol violations (which the honest parties of a simulation
    never commit) propagate as :class:`~heprim.errors.ProtocolError`.
    """
    rng = default_rng(rng)
    ids = sorted(inputs)
    if dim is None:
        sample = next((v for v in inputs.values() if not callable(v)), None)
        if sample is None:
            raise ParameterError("give dim= when every input is a callable")
        dim = int(np.asarray(sample).shape[0])
    signing: dict[int, SigningKey] = {}
    verify: dict[int, bytes] | None = None
    if profile == "active" or (graph is not None and graph.profile == "active"):
        profile = "active"
        signing = {u: SigningKey(rng=_client_rng(rng, -u)) for u in ids}
        verify = {u: key.public_bytes for u, key in signing.items()}
    config = SessionConfig.create(
        ids,
        dim,
        encoding,
        graph=graph,
        profile=profile,
        corrupted_fraction=corrupted_fraction,
        dropout_rate=dropout_rate,
        verify_keys=verify,
        rng=rng,
    )
    clients = {
        u: SecAggClient(
            u,
            profile=config.graph.profile,
            signing_key=signing.get(u),
            verify_keys=verify,
            rng=_client_rng(rng, u),
        )
        for u in ids
    }
    for u, client in clients.items():
        client.set_input(inputs[u], weight=None if weights is None else weights[u])
    schedule = dropouts or DropoutSchedule.none()
    server = SecAggServer(config)
    rounds = 5 if config.active else 4
    total, done = rounds * len(ids), 0
    start = time.perf_counter()
    outbox: list[Message] = server.start()
    while outbox:
        next_box: list[Message] = []
        for message in outbox:
            wire = decode(encode(message))
            round_ = message.ROUND
            # A dropped client hears nothing more, not even an abort.
            if message.recipient in schedule.dropped_by(
                round_ if round_ is not None else Round.UNMASK
            ):
                continue
            replies = clients[message.recipient].handle(wire)
            done += 1
            if progress is not None:
                progress(min(done, total), total)
            for reply in replies:
                next_box.extend(server.handle(decode(encode(reply))))
        if not next_box and server.collecting:
            next_box = server.close_round()
        outbox = next_box
    seconds = time.perf_counter() - start
    aggregate = None if server.abort_reason else server.result
    if progress is not None:
        progress(total, total)
    return SimulationResult(
        aggregate=aggregate,
        abort_reason=server.abort_reason,
        survivors=server.survivors if aggregate is not None else frozenset(),
        config=config,
        server_cost=server.cost,
        client_costs={u: c.cost for u, c in clients.items()},
        seconds=seconds,
        clients=clients,
    )


# ---------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m heprim secagg simulate`` (for the CLI to mount)."""
    parser.add_argument("--clients", type=int, default=100, help="number of clients n")
    parser.add_argument("--dim", type=int, default=100_000, help="values per client")
    parser.add_argument(
        "--dropout", type=float, default=0.1, help="fraction of clients that drop out"
    )
    parser.add_argument(
        "--dropout-round",
        choices=[r.name.lower() for r in Round],
        default="unmask",
        help="the round at which they drop (default: unmask, i.e. after their masked input)",
    )
    parser.add_argument(
        "--corrupted", type=float, default=0.1, help="tolerated fraction of corrupted clients"
    )
    parser.add_argument(
        "--profile",
        choices=["semi-honest", "active"],
        default="semi-honest",
        help="threat model: semi-honest server, or active (signatures + consistency round)",
    )
    parser.add_argument(
        "--graph",
        choices=["auto", "complete"],
        default="auto",
        help="auto: SecAgg+ sparse graph when it meets the bounds; complete: SecAgg",
    )
    parser.add_argument("--degree", type=int, default=None, help="force the degree k")
    parser.add_argument("--threshold", type=int, default=None, help="force the threshold t")
    parser.add_argument("--bits", type=int, default=16, help="bits per input value (integers)")
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _graph_from_args(args: argparse.Namespace, n: int) -> GraphParams | None:
    common: dict[str, Any] = {
        "corrupted_fraction": args.corrupted,
        "dropout_rate": args.dropout,
        "profile": args.profile,
    }
    if args.degree is None and args.threshold is None:
        return None if args.graph == "auto" else choose_graph(n, sparse=False, **common)
    if args.threshold is None:
        raise ParameterError("--degree needs --threshold")
    k = args.degree if args.degree is not None else n - 1
    return choose_graph(n, k=k, t=args.threshold, **common)


def run_cli(args: argparse.Namespace | Mapping[str, Any], out: TextIO | None = None) -> int:
    """``secagg simulate``: random integer inputs, a dropout schedule, exactness check, costs.

    Returns the process exit code: 0 when the result equals the plaintext sum of the
    survivors' inputs, 1 when the session aborted or (never expected) the sum is wrong.
    """
    if not isinstance(args, argparse.Namespace):
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        defaults = vars(parser.parse_args([]))
        defaults.update(args)
        args = argparse.Namespace(**defaults)
    stream = out if out is not None else sys.stdout
    n, dim = int(args.clients), int(args.dim)
    if n < 2 or dim < 1:
        raise ParameterError("--clients must be at least 2 and --dim at least 1")
    rng: PRNG = KeyedPRNG.from_int(args.seed) if args.seed is not None else default_rng(None)
    data_seed = rng.random_bytes(32)
    ids = list(range(1, n + 1))
    high = (1 << int(args.bits)) - 1
    encoding = VectorEncoding.integers(0, high)

    def make_input(u: int) -> Callable[[], npt.NDArray[np.int64]]:
        def produce() -> npt.NDArray[np.int64]:
            words = KeyedPRNG(data_seed).derive(f"input-{u}").random_bytes(8 * dim)
            return (np.frombuffer(words, dtype="<u8") % np.uint64(high + 1)).astype(np.int64)

        return produce

    inputs = {u: make_input(u) for u in ids}
    schedule = DropoutSchedule.random(
        ids, float(args.dropout), Round[args.dropout_round.upper()], rng
    )
    bar: Any = None
    progress: Progress | None = None
    if not args.no_progress:
        try:
            from tqdm import tqdm
        except ImportError:  # pragma: no cover - tqdm is in the cli extra
            tqdm = None
        if tqdm is not None:
            bar = tqdm(total=0, unit="msg", desc="secagg", file=sys.stderr)

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

    result = simulate(
        inputs,
        encoding,
        dim=dim,
        graph=_graph_from_args(args, n),
        profile=args.profile,
        corrupted_fraction=float(args.corrupted),
        dropout_rate=float(args.dropout),
        dropouts=schedule,
        rng=rng,
        progress=progress,
    )
    if bar is not None:
        bar.close()
    g = result.config.graph
    kind = "SecAgg (complete graph)" if g.complete else "SecAgg+ (Harary graph)"
    stream.write(
        f"{kind}: n={g.n} k={g.k} t={g.t} profile={g.profile} modulus=2^{result.config.width} "
        f"(privacy 2^-{g.security_bits:.1f}, correctness 2^-{g.correctness_bits:.1f})\n"
    )
    stream.write(
        f"dropped: {sorted(schedule.dropped_by(Round.UNMASK))[:10]}"
        f"{' ...' if len(schedule.dropped_by(Round.UNMASK)) > 10 else ''} "
        f"({len(schedule.dropped_by(Round.UNMASK))} at round {args.dropout_round})\n"
    )
    stream.write(format_cost_table(result.server_cost, result.client_costs) + "\n")
    stream.write(
        f"compute: server {result.server_cost.total.seconds:.2f} s, clients "
        f"{sum(c.total.seconds for c in result.client_costs.values()):.2f} s in total; "
        f"wall {result.seconds:.2f} s\n"
    )
    if result.aggregate is None:
        stream.write(f"ABORTED: {result.abort_reason}\n")
        return 1
    expected = np.zeros(dim, dtype=np.int64)
    for u in sorted(result.survivors):
        expected += inputs[u]()
    exact = bool(np.array_equal(np.asarray(result.aggregate.sum, dtype=np.int64), expected))
    stream.write(
        f"sum of {len(result.survivors)} survivors: {'EXACT' if exact else 'MISMATCH'} "
        "(checked against the plaintext sum)\n"
    )
    return 0 if exact else 1
