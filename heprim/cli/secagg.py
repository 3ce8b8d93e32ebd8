"""``python -m heprim secagg simulate``: a secure-aggregation protocol in process, with costs.

Random integer inputs, a dropout schedule, the protocol chosen with ``--protocol``:

``secagg``
    Bonawitz et al. 2017 over the complete graph (:func:`heprim.net.simulate.simulate`);
``secagg+``
    Bell et al. 2020 over a sparse Harary graph when it meets the bounds (the default);
``paillier``
    packed threshold Paillier (:mod:`heprim.secagg.he_paillier`, run by
    :func:`heprim.net.simulate.simulate_he`): a dealer makes a ``--threshold``-of-
    ``--decryptors`` key for a committee of decryptors (party ids ``n + 1`` on), clients
    encrypt, the server adds, the committee decrypts;
``bfv``
    batched multiparty BFV, one value per SIMD slot, decrypted by a ``--threshold``-of-
    ``--decryptors`` committee with smudging that meets the ``lambda >= 40`` floor. With
    ``--bfv-keys client`` (the default, :mod:`heprim.secagg.he_bfv_client_keys`) every client
    Shamir-shares its own key to the committee once (setup bytes reported under the table) and
    uploads ONE polynomial per ciphertext under a common ``a`` (2.8x a float32 at 3 primes);
    with ``--bfv-keys collective`` (:mod:`heprim.secagg.he_bfv`) the committee generates a key
    collectively and clients upload modulus-switched public-key ciphertexts (two polynomials,
    5.6x). ``--insecure-smudging`` uploads at 2 primes, with its weaker ``lambda`` printed as a
    warning;

then an exactness check of the result against the plaintext sum of the surviving clients, and
one cost table whatever the protocol, so that protocols compare by measured cost.

``secagg setup``, ``secagg serve`` and ``secagg client``, the same protocols across processes
and machines, live in :mod:`heprim.cli.secagg_network`.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import numpy.typing as npt

from heprim.cli.progress import Reporter
from heprim.errors import InsecureParametersWarning, ParameterError
from heprim.math.prng import PRNG, KeyedPRNG, default_rng
from heprim.net.simulate import DropoutSchedule, HESimulationResult, SimulationResult, simulate
from heprim.secagg.cost import format_cost_table
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.graph import GraphParams, choose_graph
from heprim.secagg.he_aggregation import (
    HEDeployment,
)
from heprim.secagg.messages import Round

if TYPE_CHECKING:
    pass
__all__ = [
    "DEFAULT_KEY_BITS",
    "PROTOCOLS",
    "add_arguments",
    "committee_from_args",
    "graph_from_args",
    "register",
    "run",
]

#: The protocols ``--protocol`` accepts.
PROTOCOLS = ("secagg", "secagg+", "paillier", "bfv")
DEFAULT_KEY_BITS = 2048


def register(subparsers: Any) -> None:
    """Add the ``secagg`` command: ``simulate`` here, ``setup``, ``serve`` and ``client`` from
    :mod:`heprim.cli.secagg_network` (imported here: it builds on this module's helpers)."""
    from heprim.cli.secagg_network import add_network_commands

    parser = subparsers.add_parser(
        "secagg",
        help="secure aggregation (SecAgg / SecAgg+ / threshold Paillier / multiparty BFV) tools",
        description=(
            "Secure aggregation: Bonawitz et al. 2017 (SecAgg), Bell et al. 2020 (SecAgg+), "
            "packed threshold Paillier (Damgard-Jurik 2001 + BatchCrypt 2020), multiparty BFV "
            "(Mouchet et al. 2021); in process (simulate) or over TCP (setup, serve, client)"
        ),
    )
    commands = parser.add_subparsers(dest="secagg_command", metavar="SUBCOMMAND", required=True)
    simulate_parser = commands.add_parser(
        "simulate",
        help="run clients and server in process with dropouts; check the sum; print costs",
        description=(
            "Run one aggregation session in process with the chosen protocol, random 'bits'-bit "
            "inputs and dropouts; check the sum against the plaintext sum of the survivors and "
            "print the cost table (the same columns for every protocol)."
        ),
    )
    add_arguments(simulate_parser)
    simulate_parser.set_defaults(run=run, check=_check, parser=simulate_parser)
    add_network_commands(commands)


def _check(args: argparse.Namespace) -> None:
    if args.clients < 2 or args.dim < 1:
        args.parser.error("--clients must be at least 2 and --dim at least 1")
    if not 0.0 <= args.dropout < 1.0:
        args.parser.error("--dropout must be in [0, 1)")
    if args.protocol in ("paillier", "bfv"):
        if args.decryptors < 1:
            args.parser.error("--decryptors must be at least 1")
        if args.decryptor_dropout < 0 or args.decryptor_dropout >= args.decryptors:
            args.parser.error("--decryptor-dropout must be in [0, --decryptors)")
        if args.protocol == "paillier" and args.key_bits < 2048 and not args.insecure_test_key:
            args.parser.error(
                f"--key-bits {args.key_bits} is below 2048 and therefore insecure; use 2048 or "
                "more (or --insecure-test-key for a throwaway test key)"
            )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m heprim secagg simulate`` (for the CLI to mount)."""
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="secagg+",
        help="secagg (complete graph), secagg+ (sparse graph; default), paillier (packed "
        "threshold Paillier)",
    )
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
    parser.add_argument(
        "--threshold",
        type=int,
        default=None,
        help="force the threshold t (paillier, bfv: decryption shares needed; default a majority)",
    )
    parser.add_argument(
        "--decryptors", type=int, default=5, help="paillier, bfv: key holders l (default 5)"
    )
    parser.add_argument(
        "--decryptor-dropout",
        type=int,
        default=0,
        help="paillier, bfv: how many decryptors stay silent in the decryption round",
    )
    parser.add_argument(
        "--key-bits",
        type=int,
        default=DEFAULT_KEY_BITS,
        help=f"paillier: modulus size (default {DEFAULT_KEY_BITS})",
    )
    parser.add_argument(
        "--no-proofs", action="store_true", help="paillier: no proofs of correct decryption"
    )
    parser.add_argument(
        "--insecure-test-key",
        action="store_true",
        help="paillier: allow --key-bits below 2048 (tests only)",
    )
    parser.add_argument(
        "--ring-degree",
        type=int,
        default=4096,
        help="bfv: ring degree N, the SIMD slots per ciphertext (default 4096; below 4096 is "
        "insecure with the aggregation modulus and for tests only)",
    )
    parser.add_argument(
        "--insecure-smudging",
        action="store_true",
        help="bfv: upload at 2 primes although the decryptors' smudging then hides the "
        "aggregate's noise only to about 2^-11 (collective keys, 4x a float32) or 2^-14 (client "
        "keys, 1.9x) instead of the 2^-40 floor (measurement only; the default keeps 3 primes)",
    )
    parser.add_argument(
        "--bfv-keys",
        choices=["client", "collective"],
        default="client",
        help="bfv: client (default: each client's own key, Shamir-shared once to the "
        "decryptors; one polynomial per upload) or collective (a collective public key; two "
        "polynomials per upload, no per-client setup)",
    )
    parser.add_argument("--bits", type=int, default=16, help="bits per input value (integers)")
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def graph_from_args(args: argparse.Namespace, n: int) -> GraphParams | None:
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
    if args.protocol not in PROTOCOLS:
        raise ParameterError(f"--protocol must be one of {', '.join(PROTOCOLS)}")
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
    reporter = Reporter(stream, bars=None if not args.no_progress else False)
    result: SimulationResult | HESimulationResult
    notes: list[str] = []
    if args.protocol == "paillier":
        result = _run_paillier(args, inputs, encoding, dim=dim, rng=rng, reporter=reporter)
    elif args.protocol == "bfv":
        result = _run_bfv(args, inputs, encoding, dim=dim, rng=rng, reporter=reporter, notes=notes)
    else:
        result = _run_secagg(args, inputs, encoding, dim=dim, rng=rng, reporter=reporter)
    stream.write(format_cost_table(result.server_cost, result.client_costs) + "\n")
    for note in notes:  # one-time costs outside every session's table
        stream.write(note + "\n")
    stream.write(
        f"compute: server {result.server_cost.total.seconds:.2f} s, parties "
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


Inputs = Mapping[int, Callable[[], npt.NDArray[np.int64]]]


def _run_secagg(
    args: argparse.Namespace,
    inputs: Inputs,
    encoding: VectorEncoding,
    *,
    dim: int,
    rng: PRNG,
    reporter: Reporter,
) -> SimulationResult:
    n = len(inputs)
    schedule = DropoutSchedule.random(
        list(inputs), float(args.dropout), Round[args.dropout_round.upper()], rng
    )
    if args.protocol == "secagg":
        args.graph = "complete"
    with reporter.progress("secagg messages") as progress:
        result = simulate(
            inputs,
            encoding,
            dim=dim,
            graph=graph_from_args(args, n),
            profile=args.profile,
            corrupted_fraction=float(args.corrupted),
            dropout_rate=float(args.dropout),
            dropouts=schedule,
            rng=rng,
            progress=None if args.no_progress else progress,
        )
    g = result.config.graph
    kind = "SecAgg (complete graph)" if g.complete else "SecAgg+ (Harary graph)"
    reporter.line(
        f"{kind}: n={g.n} k={g.k} t={g.t} profile={g.profile} modulus=2^{result.config.width} "
        f"(privacy 2^-{g.security_bits:.1f}, correctness 2^-{g.correctness_bits:.1f})"
    )
    dropped = schedule.dropped_by(Round.UNMASK)
    reporter.line(
        f"dropped: {sorted(dropped)[:10]}{' ...' if len(dropped) > 10 else ''} "
        f"({len(dropped)} at round {args.dropout_round})"
    )
    return result


def committee_from_args(args: argparse.Namespace, n: int) -> tuple[int, int, list[int]]:
    """``l`` decryptors (ids after the ``n`` clients) and the threshold ``t`` (default: a
    majority)."""
    l_parties = int(args.decryptors)
    t = int(args.threshold) if args.threshold is not None else l_parties // 2 + 1
    return l_parties, t, list(range(n + 1, n + 1 + l_parties))


def _simulate_he(
    args: argparse.Namespace,
    inputs: Inputs,
    encoding: VectorEncoding,
    deployment: HEDeployment,
    committee: list[int],
    *,
    dim: int,
    rng: PRNG,
    reporter: Reporter,
) -> tuple[HESimulationResult, tuple[DropoutSchedule, DropoutSchedule]]:
    """One HE aggregation session with random client and decryptor dropouts; the result and
    the two schedules (clients before their input, silent decryptors)."""
    from heprim.net.simulate import simulate_he
    from heprim.secagg.he_messages import HERound

    dropped = DropoutSchedule.random(list(inputs), float(args.dropout), HERound.INPUT, rng)
    silent = DropoutSchedule.random(
        committee, int(args.decryptor_dropout) / len(committee), HERound.DECRYPT, rng
    )
    schedule = DropoutSchedule({**dropped.at, **silent.at})
    with reporter.progress(f"{deployment.name} messages") as progress:
        result = simulate_he(
            inputs,
            encoding,
            deployment,
            dim=dim,
            dropouts=schedule,
            rng=rng,
            progress=None if args.no_progress else progress,
        )
    return result, (dropped, silent)


def _report_he_dropouts(
    reporter: Reporter,
    result: HESimulationResult,
    committee: list[int],
    dropped: DropoutSchedule,
    silent: DropoutSchedule,
) -> None:
    from heprim.secagg.he_messages import HERound

    lost = dropped.dropped_by(HERound.DECRYPT)
    reporter.line(
        f"dropped: {sorted(lost)[:10]}{' ...' if len(lost) > 10 else ''} ({len(lost)} clients "
        f"before their input; decryptors silent: {sorted(silent.dropped_by(HERound.DECRYPT))})"
    )
    decrypt = [result.client_costs[d].rounds[HERound.DECRYPT].seconds for d in committee]
    reporter.line(
        f"decryption: {max(decrypt):.2f} s per decryptor (max), server combination "
        f"{result.server_cost.rounds[HERound.DECRYPT].seconds:.2f} s"
    )


def _run_paillier(
    args: argparse.Namespace,
    inputs: Inputs,
    encoding: VectorEncoding,
    *,
    dim: int,
    rng: PRNG,
    reporter: Reporter,
) -> HESimulationResult:
    from heprim.secagg.he_paillier import PaillierDeployment, packing_layout

    n = len(inputs)
    l_parties, t, committee = committee_from_args(args, n)
    insecure = int(args.key_bits) < 2048
    start = time.perf_counter()
    with warnings.catch_warnings(), reporter.progress("dealer key generation") as progress:
        if insecure:
            warnings.simplefilter("ignore", InsecureParametersWarning)
        deployment = PaillierDeployment.generate(
            committee,
            t,
            n_bits=int(args.key_bits),
            rng=rng,
            allow_insecure=insecure,
            progress=None if args.no_progress else progress,
            proofs=not args.no_proofs,
        )
    dealt = time.perf_counter() - start
    result, dropouts = _simulate_he(
        args, inputs, encoding, deployment, committee, dim=dim, rng=rng, reporter=reporter
    )
    layout = packing_layout(deployment.public.public_key, encoding, n)
    reporter.line(
        f"packed threshold Paillier: n={n} decryptors l={l_parties} t={t} key={args.key_bits} "
        f"bits (dealt in {dealt:.1f} s) proofs={'on' if not args.no_proofs else 'off'}; "
        f"{layout.slots_per_ciphertext} slots of {layout.slot_width} bits per ciphertext, "
        f"{layout.ciphertexts_for(encoding.length(dim))} ciphertexts per client"
    )
    _report_he_dropouts(reporter, result, committee, *dropouts)
    return result


def _run_bfv(
    args: argparse.Namespace,
    inputs: Inputs,
    encoding: VectorEncoding,
    *,
    dim: int,
    rng: PRNG,
    reporter: Reporter,
    notes: list[str],
) -> HESimulationResult:
    """A BFV session with client keys or a collective key (``--bfv-keys``); the client-key
    setup traffic goes to ``notes``, printed under the cost table."""
    from heprim.bfv.multiparty import SMUDGING_SECURITY_FLOOR
    from heprim.secagg.he_bfv import BFVDeployment, aggregation_parameters
    from heprim.secagg.he_bfv_client_keys import ClientKeyDeployment

    n = len(inputs)
    l_parties, t, committee = committee_from_args(args, n)
    degree = int(args.ring_degree)
    weak = bool(args.insecure_smudging)
    client_keys = getattr(args, "bfv_keys", "client") == "client"
    label = "client key setup" if client_keys else "collective key generation"
    deployment: BFVDeployment | ClientKeyDeployment
    with warnings.catch_warnings(), reporter.progress(label) as progress:
        if degree < 4096 or weak:  # said on the report instead
            warnings.simplefilter("ignore", InsecureParametersWarning)
        params = aggregation_parameters(
            encoding.modulus_bits(n), degree=degree, allow_insecure=degree < 4096
        )
        if client_keys:
            deployment = ClientKeyDeployment.generate(
                list(inputs),
                committee,
                t,
                params,
                upload_level=min(2, params.max_level) if weak else None,
                max_contributors=n,
                allow_insecure=weak,
                rng=rng,
                progress=None if args.no_progress else progress,
            )
        else:
            deployment = BFVDeployment.generate(
                committee,
                t,
                params,
                upload_level=min(2, params.max_level) if weak else None,
                max_contributors=n,
                allow_insecure=weak,
                rng=rng,
                progress=None if args.no_progress else progress,
            )
    with warnings.catch_warnings():
        if weak:
            warnings.simplefilter("ignore", InsecureParametersWarning)
        result, dropouts = _simulate_he(
            args, inputs, encoding, deployment, committee, dim=dim, rng=rng, reporter=reporter
        )
    length = encoding.length(dim)
    bits, security = deployment.smudging_security(n)  # the session's worst case
    sizes = "+".join(str(q.bit_length()) for q in params.q)
    if isinstance(deployment, ClientKeyDeployment):
        kind, polys, seconds = "client keys", "1 polynomial", deployment.setup_seconds
        setup = deployment.setup_bytes_per_client()
        notes.append(
            f"setup (once per deployment, not in the table): {setup:,} bytes per client "
            f"({setup * n:,} in total) of Shamir key shares to the {l_parties} decryptors over "
            "private channels"
        )
    else:
        kind, polys, seconds = "collective key", "2 polynomials", deployment.keygen_seconds
    reporter.line(
        f"multiparty BFV ({kind}): n={n} decryptors l={l_parties} t={t} N={degree} "
        f"t_plain={params.plain_modulus} Q={sizes} bits, upload {polys} at "
        f"{deployment.upload_level} primes ({deployment.upload_bytes_per_value():.1f} bytes "
        f"per value, {deployment.upload_bytes_per_value() / 4:.2f}x float32), "
        f"{-(-length // degree)} ciphertexts per client; keys in "
        f"{seconds:.2f} s; smudging 2^{bits} (lambda {security:.0f} bits)"
    )
    if weak:
        reporter.line(
            f"WARNING: --insecure-smudging: lambda = {security:.1f} bits, below the floor of "
            f"{SMUDGING_SECURITY_FLOOR}: the decryption shares hide the aggregate's noise only "
            f"up to a statistical distance of 2^-{security:.0f}; never for real data"
        )
    _report_he_dropouts(reporter, result, committee, *dropouts)
    return result


# ============================================================================ serve / client
