"""``heprim pjc``: private intersection-sum of two CSV files, locally or against a peer.

Local (both parties in this process, e.g. to try it or to measure it)::

    heprim pjc --left ids.csv --right ids_values.csv

Two processes (each holds only its own file; the right party listens)::

    heprim pjc --right ids_values.csv --listen 127.0.0.1:9000
    heprim pjc --left ids.csv --connect 127.0.0.1:9000

The left party (identifiers only) learns the intersection size and the sums of the right party's
value columns over the intersection; the right party learns the size. The report ends with each
party's time and bytes per round. CSV rules are those of :mod:`heprim.pjc.csvio`; bad input
(a missing column, a non-numeric value, a repeated identifier) is refused with the file, line and
column.

The two-process mode moves the protocol's messages with :func:`heprim.net.tcp.run_endpoint`
(another runner can be injected, e.g. by tests).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TextIO

import numpy as np

from heprim.errors import InsecureParametersWarning, ParameterError
from heprim.net.tcp import run_endpoint
from heprim.paillier.keys import DEFAULT_N_BITS, MIN_SECURE_N_BITS, PublicKey
from heprim.pjc.cost import CostLedger, format_bytes, format_costs
from heprim.pjc.csvio import read_identifiers, read_values
from heprim.pjc.driver import WireEndpoint, run_in_process
from heprim.pjc.group import DEFAULT_GROUP, GROUPS
from heprim.pjc.party import IdentifierParty, PJCResult, ValueParty

__all__ = ["PeerRunner", "add_arguments", "check_args", "register", "run_cli"]


class _Report(Protocol):
    bytes_sent: int
    bytes_received: int
    seconds: float


class PeerRunner(Protocol):
    """Runs one endpoint over the network (:func:`heprim.net.tcp.run_endpoint`)."""

    def __call__(
        self,
        endpoint: WireEndpoint,
        address: str,
        *,
        listen: bool,
        ready: Callable[[str, int], None] | None = ...,
        timeout: float | None = ...,
    ) -> _Report: ...


def register(subparsers: Any) -> None:
    """Add the ``pjc`` subcommand."""
    parser = subparsers.add_parser(
        "pjc",
        help="private intersection-sum of two CSV files (locally or against a peer)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    add_arguments(parser)
    parser.set_defaults(run=run_cli, check=_check, parser=parser)


def _check(args: argparse.Namespace) -> None:
    try:
        check_args(args)
    except ParameterError as error:
        args.parser.error(str(error))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``heprim pjc``."""
    data = parser.add_argument_group("data")
    data.add_argument("--left", metavar="CSV", help="identifiers of the left party (A)")
    data.add_argument(
        "--right", metavar="CSV", help="identifiers and values of the right party (B)"
    )
    data.add_argument(
        "--left-column", metavar="NAME", help="identifier column of --left (default: the first)"
    )
    data.add_argument(
        "--right-column", metavar="NAME", help="identifier column of --right (default: the first)"
    )
    data.add_argument(
        "--value-column",
        metavar="NAME",
        action="append",
        dest="value_columns",
        help="a value column of --right (repeat for several; default: every other column)",
    )
    data.add_argument("--delimiter", default=",", help="CSV field delimiter (default ',')")
    data.add_argument(
        "--duplicates",
        choices=["error", "sum"],
        default="error",
        help="repeated identifiers in --right: refuse them (default) or add their values",
    )
    proto = parser.add_argument_group("protocol")
    proto.add_argument(
        "--size-only",
        action="store_true",
        help="compute only the intersection size (no values, no Paillier key)",
    )
    proto.add_argument(
        "--group",
        choices=sorted(GROUPS),
        default=DEFAULT_GROUP,
        help=f"group of the commutative cipher (default {DEFAULT_GROUP}; both parties must agree)",
    )
    proto.add_argument(
        "--key-bits",
        type=int,
        default=DEFAULT_N_BITS,
        help=f"Paillier key of the right party (default {DEFAULT_N_BITS}; 2048 is ~112-bit)",
    )
    proto.add_argument(
        "--insecure-test-key",
        action="store_true",
        help=f"allow --key-bits below {MIN_SECURE_N_BITS}: such keys can be factored; tests only",
    )
    proto.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes or threads for the right party's encryption (default 1)",
    )
    proto.add_argument(
        "--min-intersection",
        type=int,
        default=0,
        metavar="N",
        help="the right party refuses to reveal a sum over fewer than N shared identifiers",
    )
    net = parser.add_argument_group("two processes")
    where = net.add_mutually_exclusive_group()
    where.add_argument("--listen", metavar="HOST:PORT", help="run one party, waiting for the peer")
    where.add_argument("--connect", metavar="HOST:PORT", help="run one party, dialling the peer")
    net.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for the peer (default 600)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def _namespace(args: argparse.Namespace | Mapping[str, Any]) -> argparse.Namespace:
    if isinstance(args, argparse.Namespace):
        return args
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = vars(parser.parse_args([]))
    unknown = set(args) - set(defaults)
    if unknown:
        raise ParameterError(f"unknown pjc options: {', '.join(sorted(unknown))}")
    defaults.update(args)
    return argparse.Namespace(**defaults)


def check_args(args: argparse.Namespace) -> str | None:
    """The peer mode (``"listen"``, ``"connect"``) or ``None``; refuse bad option combinations.

    Raises :class:`ParameterError` (a command line may turn it into a usage error, exit code 2).
    """
    mode = "listen" if args.listen else "connect" if args.connect else None
    if mode is None:
        if not (args.left and args.right):
            raise ParameterError(
                "give both --left and --right to run both parties here, or one of them with "
                "--listen/--connect to run against a peer"
            )
    elif bool(args.left) == bool(args.right):
        raise ParameterError(
            f"with --{mode} give exactly one of --left and --right: the file of this party"
        )
    if args.key_bits < MIN_SECURE_N_BITS and not args.insecure_test_key:
        raise ParameterError(
            f"--key-bits {args.key_bits} is below {MIN_SECURE_N_BITS} and therefore insecure; "
            "use 2048 or more (or --insecure-test-key for a throwaway test run)"
        )
    if args.min_intersection < 0:
        raise ParameterError("--min-intersection must be non-negative")
    if args.workers < 1:
        raise ParameterError("--workers must be at least 1")
    return mode


def _left_party(args: argparse.Namespace) -> tuple[IdentifierParty, str]:
    table = read_identifiers(args.left, column=args.left_column, delimiter=args.delimiter)
    party = IdentifierParty(
        table.identifiers,
        want_sum=not args.size_only,
        group=args.group,
        allow_insecure=args.insecure_test_key,
    )
    plural = "s" if table.duplicates > 1 else ""
    repeated = f" ({table.duplicates:,} repeat{plural} collapsed)" if table.duplicates else ""
    return party, f"left  {args.left}: {len(table.identifiers):,} identifiers{repeated}"


def _right_party(args: argparse.Namespace) -> tuple[ValueParty, str, tuple[str, ...]]:
    common: dict[str, Any] = {
        "group": args.group,
        "key_bits": args.key_bits,
        "min_intersection": args.min_intersection,
        "allow_insecure": args.insecure_test_key,
        "workers": args.workers,
    }
    if args.size_only:
        ids = read_identifiers(args.right, column=args.right_column, delimiter=args.delimiter)
        party = ValueParty(ids.identifiers, None, **common)
        return party, f"right {args.right}: {len(ids.identifiers):,} identifiers", ()
    table = read_values(
        args.right,
        id_column=args.right_column,
        value_columns=args.value_columns,
        duplicates=args.duplicates,
        delimiter=args.delimiter,
    )
    columns = table.value_columns
    values: Any
    if len(columns) == 1:
        values = [v[0] for v in table.values]
    else:  # rows x columns, even with no rows
        values = np.array(table.values, dtype=object).reshape(len(table.values), len(columns))
    party = ValueParty(
        table.identifiers,
        values,
        decimals=table.decimals,
        duplicates="error",  # the reader already merged or refused repeats
        **common,
    )
    plural = "s" if table.duplicates > 1 else ""
    merged = f", {table.duplicates:,} repeat{plural} summed" if table.duplicates else ""
    scale = f", decimals {'/'.join(map(str, table.decimals))}" if any(table.decimals) else ""
    names = ", ".join(repr(c) for c in columns)
    return (
        party,
        f"right {args.right}: {len(table.identifiers):,} rows, values {names}{scale}{merged}",
        columns,
    )


def _key_bits(party: IdentifierParty | ValueParty) -> int | None:
    """The size of the Paillier key used in the session, if any."""
    key = party.peer_public_key if isinstance(party, IdentifierParty) else party.private_key
    if key is None:
        return None
    return int(key.n_bits if isinstance(key, PublicKey) else key.public_key.n_bits)


def _sum_lines(result: PJCResult, labels: tuple[str, ...]) -> list[tuple[str, str]]:
    sums = result.decimal_sums
    if sums is None:
        return []
    names = (
        labels if len(labels) == len(sums) else tuple(f"column {i + 1}" for i in range(len(sums)))
    )
    return [(name, str(value)) for name, value in zip(names, sums, strict=True)]


def _write_report(
    out: TextIO,
    args: argparse.Namespace,
    *,
    size: int | None,
    sums: list[tuple[str, str]],
    abort: str | None,
    left_cost: CostLedger | None,
    right_cost: CostLedger | None,
    seconds: float,
    wire_bytes: int,
    descriptions: list[str],
    key_bits: int | None,
) -> None:
    if args.json:
        payload = {
            "intersection_size": size,
            "sums": dict(sums) if sums else None,
            "aborted": abort,
            "seconds": round(seconds, 3),
            "bytes": wire_bytes,
            "group": args.group,
            "paillier_bits": key_bits,
        }
        out.write(json.dumps(payload) + "\n")
        return
    for line in descriptions:
        out.write(line + "\n")
    paillier = f", Paillier {key_bits}-bit key" if key_bits else ""
    out.write(f"group {args.group}{paillier}\n")
    if size is not None:
        out.write(f"intersection size: {size:,}\n")
    for name, value in sums:
        out.write(f"sum of {name}: {value}\n")
    if abort is not None:
        out.write(f"ABORTED: {abort}\n")
    out.write(format_costs(left_cost, right_cost) + "\n")
    out.write(f"wall time {seconds:.2f} s, {format_bytes(wire_bytes)} exchanged\n")


def run_cli(
    args: argparse.Namespace | Mapping[str, Any],
    out: TextIO | None = None,
    *,
    peer_runner: PeerRunner | None = None,
) -> int:
    """Run ``heprim pjc``; return the exit code (0 success, 1 the session was refused).

    Raises:
        ParameterError: bad options or bad CSV input (the message says where and what to do).
        ProtocolError: the peer misbehaved or the connection failed.
    """
    args = _namespace(args)
    stream = out if out is not None else sys.stdout
    mode = check_args(args)
    with warnings.catch_warnings():
        if args.insecure_test_key:
            warnings.simplefilter("ignore", InsecureParametersWarning)
        if mode is None:
            return _run_local(args, stream)
        return _run_peer(args, stream, mode, peer_runner or run_endpoint)


def _run_local(args: argparse.Namespace, out: TextIO) -> int:
    left, left_text = _left_party(args)
    right, right_text, labels = _right_party(args)
    run = run_in_process(left, right)
    result = run.left
    _write_report(
        out,
        args,
        size=left.size,
        sums=_sum_lines(result, labels) if result is not None else [],
        abort=run.abort_reason,
        left_cost=run.left_cost,
        right_cost=run.right_cost,
        seconds=run.seconds,
        wire_bytes=run.total_bytes,
        descriptions=[left_text, right_text],
        key_bits=_key_bits(right),
    )
    return 0 if run.abort_reason is None else 1


def _run_peer(args: argparse.Namespace, out: TextIO, mode: str, runner: PeerRunner) -> int:
    party: IdentifierParty | ValueParty
    labels: tuple[str, ...] = ()
    if args.left:
        party, description = _left_party(args)
    else:
        party, description, labels = _right_party(args)
    address = args.listen or args.connect

    def ready(host: str, port: int) -> None:
        if not args.json:
            out.write(f"listening on {host}:{port}\n")
            out.flush()

    start = time.perf_counter()
    report = runner(
        WireEndpoint(party), address, listen=mode == "listen", ready=ready, timeout=args.timeout
    )
    seconds = time.perf_counter() - start
    is_left = isinstance(party, IdentifierParty)
    result = party.result
    _write_report(
        out,
        args,
        size=party.size,
        sums=_sum_lines(result, labels) if result is not None and is_left else [],
        abort=party.abort_reason,
        left_cost=party.cost if is_left else None,
        right_cost=None if is_left else party.cost,
        seconds=seconds,
        wire_bytes=report.bytes_sent + report.bytes_received,
        descriptions=[description],
        key_bits=_key_bits(party),
    )
    return 0 if party.abort_reason is None else 1
