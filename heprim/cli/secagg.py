"""``python -m heprim secagg simulate``: SecAgg / SecAgg+ in process, with a cost table.

Random integer inputs, a dropout schedule, the protocol run by :func:`heprim.net.simulate.simulate`,
and an exactness check of the result against the plaintext sum of the surviving clients.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from heprim.cli.progress import Reporter
from heprim.errors import ParameterError
from heprim.math.prng import PRNG, KeyedPRNG, default_rng
from heprim.net.simulate import DropoutSchedule, simulate
from heprim.secagg.cost import format_cost_table
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.graph import GraphParams, choose_graph
from heprim.secagg.messages import Round

__all__ = ["add_arguments", "register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``secagg`` command and its ``simulate`` subcommand."""
    parser = subparsers.add_parser(
        "secagg",
        help="secure aggregation (SecAgg / SecAgg+) tools",
        description="Secure aggregation: Bonawitz et al. 2017 (SecAgg), Bell et al. 2020 (SecAgg+)",
    )
    commands = parser.add_subparsers(dest="secagg_command", metavar="SUBCOMMAND", required=True)
    simulate_parser = commands.add_parser(
        "simulate",
        help="run clients and server in process with dropouts; check the sum; print costs",
    )
    add_arguments(simulate_parser)
    simulate_parser.set_defaults(run=run, check=_check, parser=simulate_parser)


def _check(args: argparse.Namespace) -> None:
    if args.clients < 2 or args.dim < 1:
        args.parser.error("--clients must be at least 2 and --dim at least 1")
    if not 0.0 <= args.dropout < 1.0:
        args.parser.error("--dropout must be in [0, 1)")


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


def run(args: argparse.Namespace | Mapping[str, Any], out: TextIO | None = None) -> int:
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
    reporter = Reporter(stream, bars=None if not args.no_progress else False)
    with reporter.progress("secagg messages") as progress:
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
            progress=None if args.no_progress else progress,
        )
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
