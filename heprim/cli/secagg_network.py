"""``python -m heprim secagg serve | client | setup``: secure aggregation across processes.

``secagg serve`` and ``secagg client`` run SecAgg / SecAgg+ across processes
or machines (:mod:`heprim.net.aggregation`): one server waits for ``--clients`` clients, each
client dials it with its ``--id`` and its vector (a ``.npy`` file, or a seeded random vector for
demos and tests, which ``--check-seed`` lets the server verify exactly)::

    python -m heprim secagg serve --listen 0.0.0.0:9000 --clients 20 --dim 10000
    python -m heprim secagg client --connect server:9000 --id 7 --input update.npy --dim 10000

The HE protocols run the same way from the files of ``secagg setup`` (a dealer's threshold
Paillier key, or BFV client keys or a collective key, generated in this one process: a stand-in
for a real key ceremony), the public deployment for the server and one secret file per party::

    python -m heprim secagg setup --protocol bfv --clients 20 --decryptors 3 --out keys/
    python -m heprim secagg serve --protocol bfv --deployment keys/deployment.json --dim 10000 \
        --listen 0.0.0.0:9000
    python -m heprim secagg client --key keys/party-7.json --connect server:9000 --dim 10000 \
        --input update.npy
    python -m heprim secagg client --key keys/party-21.json --connect server:9000 --dim 10000
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

import numpy as np
import numpy.typing as npt

from heprim.bfv.keys import PublicKey as BFVPublicKey
from heprim.cli.progress import Reporter
from heprim.cli.secagg import DEFAULT_KEY_BITS, committee_from_args, graph_from_args
from heprim.errors import InsecureParametersWarning, ParameterError
from heprim.math.prng import KeyedPRNG
from heprim.paillier.threshold import ThresholdPublicKey
from heprim.secagg.cost import format_cost_table
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.graph import GraphParams, choose_graph
from heprim.secagg.he_aggregation import (
    HEAggregationParty,
    HEAggregationServer,
    HESessionConfig,
)
from heprim.secagg.he_bfv_client_keys import PublicClientKeyDeployment

if TYPE_CHECKING:
    from heprim.net.aggregation import ClientReport, ServerReport
__all__ = [
    "HE_PROTOCOLS",
    "HEDeploymentFile",
    "HEPartyFile",
    "add_client_arguments",
    "add_network_commands",
    "add_serve_arguments",
    "add_setup_arguments",
    "load_deployment",
    "run_client",
    "run_serve",
    "run_setup",
    "seeded_input",
]


def seeded_input(seed: int, client: int, dim: int, encoding: VectorEncoding) -> npt.NDArray[Any]:
    """The demo vector of ``client`` for ``--random-seed seed``: uniform over the encoding's
    range (integers) or interval (floats), from ``KeyedPRNG.from_int(seed)``.

    A function of ``(seed, client, dim, encoding)`` only, so that ``secagg serve --check-seed``
    can recompute every survivor's input and check the sum exactly.
    """
    words = np.frombuffer(
        KeyedPRNG.from_int(seed).derive(f"secagg-input-{client}").random_bytes(8 * dim), dtype="<u8"
    )
    if encoding.kind == "int":
        span = int(encoding.high) - int(encoding.low) + 1
        offsets = (words % np.uint64(span)) if span < 2**64 else words
        # low + offset lies in [low, high], inside int64: add modulo 2^64, read as signed.
        return (offsets + np.uint64(int(encoding.low) % 2**64)).view(np.int64)
    unit = (words >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return float(encoding.low) + unit * (float(encoding.high) - float(encoding.low))


def _namespace(
    add: Callable[[argparse.ArgumentParser], None], args: argparse.Namespace | Mapping[str, Any]
) -> argparse.Namespace:
    if isinstance(args, argparse.Namespace):
        return args
    parser = argparse.ArgumentParser()
    add(parser)
    defaults = {action.dest: action.default for action in parser._actions}
    defaults.pop("help", None)
    unknown = set(args) - set(defaults)
    if unknown:
        raise ParameterError(f"unknown options: {', '.join(sorted(unknown))}")
    defaults.update(args)
    return argparse.Namespace(**defaults)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m heprim secagg serve``."""
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default="127.0.0.1:0",
        help="where to listen (default 127.0.0.1:0, a free port, printed on the first line)",
    )
    parser.add_argument("--clients", type=int, default=None, help="SecAgg clients to wait for, n")
    parser.add_argument("--dim", type=int, required=True, help="values per client")
    parser.add_argument(
        "--protocol",
        choices=["secagg", "secagg+", *HE_PROTOCOLS],
        default="secagg+",
        help="secagg (complete graph), secagg+ (sparse graph when it meets the bounds; "
        "default), or an HE protocol with --deployment: paillier, bfv (client or collective keys)",
    )
    parser.add_argument("--deployment", metavar="FILE", help="HE: its 'secagg setup' file")
    parser.add_argument(
        "--bits", type=int, default=16, help="inputs are integers in [0, 2^bits) (default 16)"
    )
    parser.add_argument(
        "--corrupted", type=float, default=0.1, help="tolerated fraction of corrupted clients"
    )
    parser.add_argument(
        "--dropout",
        type=float,
        default=0.1,
        help="fraction of clients that may drop out (sizes the threshold; default 0.1)",
    )
    parser.add_argument("--degree", type=int, default=None, help="force the degree k")
    parser.add_argument("--threshold", type=int, default=None, help="force the threshold t")
    parser.add_argument(
        "--min-clients",
        type=int,
        default=None,
        help="at the join deadline, start with at least this many (default: all --clients); "
        "HE: the fewest inputs the decryptors open (min_contributors, default 2)",
    )
    parser.add_argument(
        "--join-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the clients to join (default 300)",
    )
    parser.add_argument(
        "--round-timeout",
        type=float,
        default=120.0,
        help="each round's deadline in seconds: a client silent that long drops out (default 120)",
    )
    parser.add_argument(
        "--check-seed",
        type=int,
        default=None,
        metavar="S",
        help="the clients used --random-seed S: check the sum of the survivors' inputs exactly",
    )
    parser.add_argument("--output", metavar="FILE.npy", help="also save the sum to this file")
    parser.add_argument("--tls-cert", metavar="PEM", help="serve TLS with this certificate chain")
    parser.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    parser.add_argument(
        "--tls-client-ca",
        metavar="PEM",
        help="require client certificates signed by this CA (authenticated channels)",
    )
    parser.add_argument("--quiet", action="store_true", help="no per-client event lines")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m heprim secagg client``."""
    parser.add_argument("--connect", metavar="HOST:PORT", required=True, help="the server")
    parser.add_argument("--id", type=int, default=None, help="this client's id, in [1, 2^32)")
    parser.add_argument("--key", metavar="FILE", help="HE: this party's file of 'secagg setup'")
    parser.add_argument("--dim", type=int, required=True, help="values in the vector")
    parser.add_argument("--bits", type=int, default=16, help="HE: values in [0, 2^bits) (16)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="FILE.npy", help="the vector (a 1-d numpy array)")
    source.add_argument(
        "--random-seed",
        type=int,
        metavar="S",
        help="a seeded random vector over the session's range (demos and tests)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds of server silence before giving up (default 600; keep it above the "
        "server's --round-timeout)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=60.0,
        help="seconds to keep retrying while the server is not listening yet (default 60)",
    )
    parser.add_argument("--tls-ca", metavar="PEM", help="use TLS; trust this CA for the server")
    parser.add_argument("--tls-cert", metavar="PEM", help="client certificate (with --tls-ca)")
    parser.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")


def _usage_errors(
    checks: Callable[[argparse.Namespace], None],
) -> Callable[[argparse.Namespace], None]:
    """``checks`` reporting its :class:`~heprim.errors.ParameterError` as a usage error."""

    def check(args: argparse.Namespace) -> None:
        try:
            checks(args)
        except ParameterError as error:
            args.parser.error(str(error))

    return check


def _serve_checks(args: argparse.Namespace) -> None:
    if args.protocol in HE_PROTOCOLS:
        if not args.deployment or args.clients is not None:
            raise ParameterError(
                f"--protocol {args.protocol} takes its parties from --deployment (written by "
                "'secagg setup'), not --clients"
            )
    elif args.deployment:
        raise ParameterError("--deployment is for the HE protocols (--protocol paillier or bfv)")
    elif args.clients is None or args.clients < 2:
        raise ParameterError("--clients must be at least 2")
    if args.dim < 1:
        raise ParameterError("--dim must be at least 1")
    if not 1 <= args.bits <= 62:
        raise ParameterError("--bits must be in [1, 62]")
    if args.round_timeout <= 0 or args.join_timeout <= 0:
        raise ParameterError("--round-timeout and --join-timeout must be positive")
    if args.min_clients is not None and not 2 <= args.min_clients <= (args.clients or 2**32):
        raise ParameterError("--min-clients must be in [2, --clients]")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ParameterError("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        raise ParameterError("--tls-client-ca needs --tls-cert and --tls-key")


def _client_checks(args: argparse.Namespace) -> None:
    if args.key is None and (args.id is None or (args.input is None and args.random_seed is None)):
        raise ParameterError("give --id and --input or --random-seed (or an HE party's --key)")
    if args.id is not None and not 0 < args.id < 2**32:
        raise ParameterError("--id must be in [1, 2^32)")
    if not 1 <= args.bits <= 62:
        raise ParameterError("--bits must be in [1, 62]")
    if args.dim < 1:
        raise ParameterError("--dim must be at least 1")
    if (args.tls_cert or args.tls_key) and not (args.tls_ca and args.tls_cert and args.tls_key):
        raise ParameterError("a client certificate needs --tls-ca, --tls-cert and --tls-key")


def _server_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.tls_cert, args.tls_key)
    if args.tls_client_ca:
        context.load_verify_locations(args.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _client_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.tls_ca:
        return None
    context = ssl.create_default_context(cafile=args.tls_ca)
    if args.tls_cert:
        context.load_cert_chain(args.tls_cert, args.tls_key)
    return context


def _describe(config: Any) -> str:
    g = config.graph
    kind = "SecAgg (complete graph)" if g.complete else "SecAgg+ (Harary graph)"
    return (
        f"{kind}: n={g.n} k={g.k} t={g.t} profile={g.profile} modulus=2^{config.width} "
        f"(privacy 2^-{g.security_bits:.1f}, correctness 2^-{g.correctness_bits:.1f})"
    )


def run_serve(args: argparse.Namespace | Mapping[str, Any], out: TextIO | None = None) -> int:
    """``secagg serve``: one session over TCP; the sum, the costs, and an optional exact check.

    SecAgg / SecAgg+ with ``--clients`` clients, or an HE protocol with the parties of a
    ``secagg setup`` ``--deployment``. Returns 0 with a result (that matches the seeded inputs
    under ``--check-seed``), 1 when the session aborted or the check failed.
    """
    args = _namespace(add_serve_arguments, args)
    _serve_checks(args)
    stream = out if out is not None else sys.stdout
    reporter = Reporter(stream, bars=None if not args.no_progress else False)
    encoding = VectorEncoding.integers(0, (1 << int(args.bits)) - 1)
    describe: str | None
    if args.protocol in HE_PROTOCOLS:
        report, describe = _serve_he(args, reporter, encoding)
    else:
        report = _serve_secagg(args, reporter, encoding)
        describe = _describe(report.config) if report.config is not None else None
    return _print_served(args, reporter, encoding, report, describe)


def _serve_secagg(
    args: argparse.Namespace, reporter: Reporter, encoding: VectorEncoding
) -> ServerReport:
    from heprim.net.aggregation import serve as serve_session

    options = argparse.Namespace(
        corrupted=args.corrupted,
        dropout=args.dropout,
        profile="semi-honest",
        degree=args.degree,
        threshold=args.threshold,
        graph="complete" if args.protocol == "secagg" else "auto",
    )

    def graph(n: int) -> GraphParams:
        chosen = graph_from_args(options, n)
        if chosen is None:
            chosen = choose_graph(n, corrupted_fraction=args.corrupted, dropout_rate=args.dropout)
        return chosen

    with reporter.progress("secagg messages") as progress:
        return serve_session(
            int(args.dim),
            encoding,
            clients=int(args.clients),
            min_clients=args.min_clients,
            graph=graph,
            **_server_options(args, reporter, progress),
        )


def _server_options(
    args: argparse.Namespace, reporter: Reporter, progress: Callable[[int, int], None]
) -> dict[str, Any]:
    """What every served session takes from the command line: where to listen, the
    deadlines, TLS, and the lines and progress it reports."""
    from heprim.net.tcp import parse_address

    host, port = parse_address(args.listen)
    return {
        "host": host,
        "port": port,
        "join_timeout": float(args.join_timeout),
        "round_timeout": float(args.round_timeout),
        "ready": lambda h, p: reporter.line(f"listening on {h}:{p}"),
        "events": None if args.quiet else (lambda text: reporter.line(f"  {text}")),
        "progress": None if args.no_progress else progress,
        "ssl": _server_tls(args),
    }


def _print_served(
    args: argparse.Namespace,
    reporter: Reporter,
    encoding: VectorEncoding,
    report: ServerReport,
    describe: str | None,
) -> int:
    """The served session's description, costs, dropouts and sum (checked under
    ``--check-seed``); the exit code."""
    if describe is not None:
        reporter.line(describe)
        reporter.line(format_cost_table(report.server_cost, report.client_costs))
        reporter.line(
            "(client columns: traffic as the server saw it; client compute is not observable "
            "from the server)"
        )
    wire = report.transport
    reporter.line(
        f"compute: server {report.server_cost.total.seconds:.2f} s; wall {report.seconds:.2f} s "
        f"({report.session_seconds:.2f} s after the last join); "
        f"on the wire: sent {wire.bytes_sent:,} B, received {wire.bytes_received:,} B "
        f"({wire.frames_sent + wire.frames_received:,} frames)"
    )
    for client, why in sorted(report.dropped.items()):
        reporter.line(f"dropped: client {client}: {why}")
    for party in report.released:
        reporter.line(f"released: decryptor {party} (ready, but t others were asked)")
    for party, why in sorted(report.rejected.items()):
        reporter.line(f"rejected: decryptor {party}: {why}")
    if report.aggregate is None:
        reporter.line(f"ABORTED: {report.abort_reason}")
        return 1
    total = np.asarray(report.aggregate.sum)
    survivors = sorted(report.survivors)
    if args.output:
        np.save(args.output, total, allow_pickle=False)
    summary = np.array2string(total, threshold=20, edgeitems=4, max_line_width=1_000_000)
    reporter.line(f"sum of {len(survivors)} survivors: {summary}")
    if args.check_seed is None:
        return 0
    expected = np.zeros(int(args.dim), dtype=np.int64)
    for u in survivors:
        expected += seeded_input(int(args.check_seed), u, int(args.dim), encoding)
    exact = bool(np.array_equal(total.astype(np.int64), expected))
    reporter.line(
        f"sum of {len(survivors)} survivors: {'EXACT' if exact else 'MISMATCH'} "
        f"(checked against the seeded inputs of --check-seed {args.check_seed})"
    )
    return 0 if exact else 1


def run_client(args: argparse.Namespace | Mapping[str, Any], out: TextIO | None = None) -> int:
    """``secagg client``: join a session with one vector (or, with ``--key``, as the HE party
    of a ``secagg setup`` file); 0 when this party did its part (or was not needed)."""
    from heprim.net.aggregation import run_client as run_session
    from heprim.secagg.client import SecAggClient

    args = _namespace(add_client_arguments, args)
    _client_checks(args)
    stream = out if out is not None else sys.stdout
    if args.key is not None:
        return _run_he_party(args, stream)
    dim = int(args.dim)
    client = SecAggClient(int(args.id))
    if args.input is not None:
        client.set_input(_read_vector(args.input, dim))
    else:
        seed = int(args.random_seed)

        def produce() -> npt.NDArray[Any]:
            setup = client.setup  # the session's encoding decides the range
            if setup is None:  # pragma: no cover - the input is read after the setup
                raise ParameterError("no session setup yet")
            return seeded_input(seed, client.id, dim, setup.encoding)

        client.set_input(produce)
    report = run_session(
        client,
        args.connect,
        dim=dim,
        timeout=float(args.timeout),
        connect_timeout=float(args.connect_timeout),
        ssl=_client_tls(args),
    )
    return _print_party(f"client {client.id}", report, stream)


def _read_vector(path: str, dim: int) -> npt.NDArray[Any]:
    try:
        vector = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ParameterError(f"cannot read {path}: {exc}") from None
    if vector.shape != (dim,):
        raise ParameterError(
            f"{path} holds an array of shape {vector.shape}, not a vector of --dim {dim} values"
        )
    return vector  # type: ignore[no-any-return]


def _print_party(who: str, report: ClientReport, stream: TextIO) -> int:
    traffic = (
        f"sent {report.bytes_sent:,} B, received {report.bytes_received:,} B in "
        f"{report.seconds:.2f} s"
    )
    if report.released:
        print(f"{who}: {report.abort_reason} ({traffic})", file=stream, flush=True)
        return 0
    if not report.completed:
        print(
            f"{who}: ABORTED by the server: {report.abort_reason} ({traffic})",
            file=stream,
            flush=True,
        )
        return 1
    print(f"{who}: done ({traffic})", file=stream, flush=True)
    return 0


# ============================================================================ HE over TCP
#: ``--protocol`` of the HE sessions over TCP, and the deployments (by name) each covers.
HE_PROTOCOLS: Final = {"paillier": ("paillier",), "bfv": ("bfv-client-keys", "bfv")}
#: What each deployment stores as its public part.
_PUBLIC_TYPES: Final = {
    "paillier": ThresholdPublicKey,
    "bfv-client-keys": PublicClientKeyDeployment,
    "bfv": BFVPublicKey,
}
_DEPLOYMENT_KIND: Final = "secagg.deployment"
_PARTY_KIND: Final = "secagg.party"
PublicPart = ThresholdPublicKey | PublicClientKeyDeployment | BFVPublicKey


@dataclass(frozen=True)
class HEDeploymentFile:
    """A deployment as ``secagg setup`` stores it: the public facts a server (and every party)
    needs, and the party ids.

    Attributes:
        protocol: the deployment's name: ``"paillier"`` (a dealer's threshold key),
            ``"bfv-client-keys"`` or ``"bfv"`` (a collective key).
        clients: the clients' party ids (their inputs are summed).
        decryptors: each decryptor's party id and share index.
        threshold: how many decryptors open a sum.
        public: the threshold Paillier public key, the client-key BFV public deployment, or
            the collective BFV public key.
        upload_level: the primes of a collective-key BFV upload (0 for the others).
    """

    protocol: str
    clients: tuple[int, ...]
    decryptors: Mapping[int, int]
    threshold: int
    public: PublicPart
    upload_level: int = 0

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``deployment.json`` (embedded in every party file)."""
        from heprim import serialize

        return {
            "heprim-cli": _DEPLOYMENT_KIND,
            "version": 1,
            "protocol": self.protocol,
            "clients": list(self.clients),
            "decryptors": [[party, index] for party, index in sorted(self.decryptors.items())],
            "threshold": self.threshold,
            "upload_level": self.upload_level,
            "public": serialize.dumps(self.public),
        }

    @classmethod
    def from_json(cls, doc: object, where: str) -> HEDeploymentFile:
        """Parse and check a :meth:`to_json` object; ``where`` names it in the errors."""
        from heprim import serialize

        if not isinstance(doc, dict) or doc.get("heprim-cli") != _DEPLOYMENT_KIND:
            raise ParameterError(f"{where} is not a deployment written by 'secagg setup'")
        try:
            protocol = str(doc["protocol"])
            clients = tuple(int(u) for u in doc["clients"])
            decryptors = {int(p): int(i) for p, i in doc["decryptors"]}
            threshold, level = int(doc["threshold"]), int(doc["upload_level"])
            public = serialize.loads(str(doc["public"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(f"{where}: a malformed deployment ({exc!r})") from None
        if not isinstance(
            public, ThresholdPublicKey | PublicClientKeyDeployment | BFVPublicKey
        ) or not isinstance(public, _PUBLIC_TYPES.get(protocol, ())):
            raise ParameterError(
                f"{where}: a {protocol!r} deployment holding a {type(public).__name__}"
            )
        if isinstance(public, ThresholdPublicKey | PublicClientKeyDeployment) and (
            threshold != public.threshold
        ):
            raise ParameterError(f"{where}: t = {threshold}, but its key says {public.threshold}")
        if isinstance(public, PublicClientKeyDeployment) and (
            frozenset(clients) != public.clients or decryptors != dict(public.decryptors)
        ):
            raise ParameterError(f"{where}: the party ids do not match the deployment's")
        return cls(protocol, clients, decryptors, threshold, public, level)

    def server(self, config: HESessionConfig) -> HEAggregationServer:
        """The server of one session (public facts only)."""
        public = self.public
        if isinstance(public, ThresholdPublicKey):
            from heprim.secagg.he_paillier import PaillierAggregationServer

            return PaillierAggregationServer(config, public)
        if isinstance(public, PublicClientKeyDeployment):
            return public.server(config)
        from heprim.secagg.he_bfv import BFVAggregationServer

        parties = len(self.decryptors)  # the collective key's additive shares
        return BFVAggregationServer(config, public, parties=parties, upload_level=self.upload_level)

    def load_secret(self, text: str) -> object:
        """A party's secret document, checked against this deployment's key."""
        from heprim import serialize

        if isinstance(self.public, ThresholdPublicKey):
            return serialize.loads(text, public_key=self.public)
        return serialize.loads(text, context=self.public)

    def party(self, party_id: int, secret: object | None) -> HEAggregationParty:
        """Party ``party_id`` of one session, with its secret (if it has one)."""
        from heprim.bfv.multiparty import ClientKey, ThresholdShare
        from heprim.paillier.threshold import KeyShare
        from heprim.secagg.he_bfv import BFVParty
        from heprim.secagg.he_bfv_client_keys import DecryptorKeyShares
        from heprim.secagg.he_paillier import PaillierParty

        public = self.public
        if isinstance(public, ThresholdPublicKey):
            share = secret if isinstance(secret, KeyShare) else None
            return PaillierParty(party_id, public, key_share=share)
        if isinstance(public, PublicClientKeyDeployment):
            key = secret if isinstance(secret, ClientKey) else None
            shares = secret if isinstance(secret, DecryptorKeyShares) else None
            return public.party(party_id, key=key, shares=shares)
        tsk = secret if isinstance(secret, ThresholdShare) else None
        return BFVParty(party_id, public, parties=len(self.decryptors), share=tsk)


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ParameterError(f"cannot read {path}: {exc}") from None


def load_deployment(path: Path) -> HEDeploymentFile:
    """The deployment in ``path`` (``DIR/deployment.json`` of ``secagg setup``)."""
    return HEDeploymentFile.from_json(_read_json(path), str(path))


@dataclass
class HEPartyFile:
    """One party's file as ``secagg setup`` writes it: the deployment and the party's secret
    (a threshold Paillier key share; a client-key BFV client key or decryptor shares; a
    collective BFV threshold share).

    Client-key BFV secrets carry state that must outlive the process (a key's used seeds, a
    decryptor's answered sessions): :meth:`save` writes them back before a party's message
    leaves (:func:`~heprim.net.aggregation.run_party`'s ``before_send``).
    """

    path: Path
    party: int
    deployment: HEDeploymentFile
    secret: object | None

    @classmethod
    def load(cls, path: Path) -> HEPartyFile:
        """Read and check ``path`` (a ``DIR/party-ID.json``)."""
        doc = _read_json(path)
        if not isinstance(doc, dict) or doc.get("heprim-cli") != _PARTY_KIND:
            raise ParameterError(f"{path} is not a party file written by 'secagg setup'")
        deployment = HEDeploymentFile.from_json(doc.get("deployment"), str(path))
        party, text = doc.get("party"), doc.get("secret")
        if not isinstance(party, int) or party not in {*deployment.clients, *deployment.decryptors}:
            raise ParameterError(f"{path}: party {party!r} has no role in its deployment")
        secret = None if text is None else deployment.load_secret(str(text))
        return cls(path, party, deployment, secret)

    def build(self) -> HEAggregationParty:
        """The party of one session, with its secret."""
        return self.deployment.party(self.party, self.secret)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the file."""
        from heprim import serialize

        secret = None
        if self.secret is not None:
            secret = serialize.dumps(self.secret, include_secret=True)
        return {
            "heprim-cli": _PARTY_KIND,
            "version": 1,
            "party": self.party,
            "deployment": self.deployment.to_json(),
            "secret": secret,
        }

    def save(self, *, force: bool = True) -> None:
        """Write the file (owner-only: it holds the party's secret)."""
        from heprim.cli.keygen import SECRET_MODE, write_file

        write_file(self.path, json.dumps(self.to_json()) + "\n", mode=SECRET_MODE, force=force)


def add_setup_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m heprim secagg setup``."""
    parser.add_argument(
        "--protocol",
        choices=sorted(HE_PROTOCOLS),
        required=True,
        help="paillier (a dealer's threshold key) or bfv (client or collective keys)",
    )
    parser.add_argument(
        "--bfv-keys",
        choices=["client", "collective"],
        default="client",
        help="BFV: every client's own key Shamir-shared to the decryptors (default), or one "
        "key the decryptors generate together",
    )
    parser.add_argument("--clients", type=int, required=True, help="clients n (ids 1 .. n)")
    parser.add_argument(
        "--decryptors", type=int, required=True, help="decryptors l (ids n + 1 .. n + l)"
    )
    parser.add_argument(
        "--threshold", type=int, default=None, help="decryptors t that open a sum (a majority)"
    )
    parser.add_argument("--out", metavar="DIR", required=True, help="where to write the files")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.add_argument(
        "--key-bits", type=int, default=DEFAULT_KEY_BITS, help="Paillier modulus bits (2048)"
    )
    parser.add_argument(
        "--insecure-test-key",
        action="store_true",
        help="allow --key-bits below 2048 or --ring-degree below 4096 (throwaway test keys)",
    )
    parser.add_argument(
        "--bits", type=int, default=16, help="BFV: inputs are integers in [0, 2^bits) (16)"
    )
    parser.add_argument(
        "--ring-degree", type=int, default=4096, help="BFV ring degree N (4096; smaller: tests)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _setup_checks(args: argparse.Namespace) -> None:
    if args.clients < 2 or args.decryptors < 1:
        raise ParameterError("--clients must be at least 2 and --decryptors at least 1")
    if args.threshold is not None and not 1 <= args.threshold <= args.decryptors:
        raise ParameterError("--threshold must be in [1, --decryptors]")
    if not 1 <= args.bits <= 62:
        raise ParameterError("--bits must be in [1, 62]")
    small = args.key_bits < 2048 if args.protocol == "paillier" else args.ring_degree < 4096
    if small and not args.insecure_test_key:
        raise ParameterError(
            "--key-bits below 2048 or --ring-degree below 4096 is insecure: add "
            "--insecure-test-key for a throwaway test deployment"
        )


def run_setup(args: argparse.Namespace | Mapping[str, Any], out: TextIO | None = None) -> int:
    """``secagg setup``: generate an HE deployment and write one file per party.

    ``DIR/deployment.json`` holds the public facts (what ``secagg serve --deployment`` reads;
    mode 0644); ``DIR/party-ID.json`` each party's own file with its secret (mode 0600): a
    Paillier decryptor's key share, a BFV client's key or a BFV decryptor's shares of every
    client's key. Clients are ids 1 .. n, decryptors n + 1 .. n + l.
    """
    from heprim.cli.keygen import PUBLIC_MODE, write_file

    args = _namespace(add_setup_arguments, args)
    _setup_checks(args)
    reporter = Reporter(out if out is not None else sys.stdout, bars=not args.no_progress)
    n = int(args.clients)
    clients = tuple(range(1, n + 1))
    _, t, committee = committee_from_args(args, n)
    if args.protocol == "paillier":
        protocol = "paillier"
    else:  # the deployments' names
        protocol = "bfv-client-keys" if args.bfv_keys == "client" else "bfv"
    folder = Path(args.out)
    if (folder / "deployment.json").exists() and not args.force:  # before the key generation
        raise ParameterError(
            f"{folder / 'deployment.json'} already exists; choose another --out or pass --force "
            "to overwrite the deployment"
        )
    start = time.perf_counter()
    with warnings.catch_warnings(), reporter.progress("key setup") as progress:
        if args.insecure_test_key:
            warnings.simplefilter("ignore", InsecureParametersWarning)
        public, secrets, level = _generate(
            args, protocol, clients, committee, t=t, progress=None if args.no_progress else progress
        )
    indices = {party: i for i, party in enumerate(committee, 1)}
    deployment = HEDeploymentFile(protocol, clients, indices, t, public, level)
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(deployment.to_json()) + "\n"
    write_file(folder / "deployment.json", text, mode=PUBLIC_MODE, force=bool(args.force))
    for party in (*clients, *committee):
        path = folder / f"party-{party}.json"
        HEPartyFile(path, party, deployment, secrets.get(party)).save(force=bool(args.force))
    reporter.line(
        f"{protocol}: {n} clients (ids 1-{n}), {len(committee)} decryptors (ids "
        f"{committee[0]}-{committee[-1]}), t = {t}; keys in {time.perf_counter() - start:.1f} s"
    )
    reporter.line(
        f"wrote {folder / 'deployment.json'} (public: for 'secagg serve --deployment') and "
        f"{n + len(committee)} party files {folder / 'party-ID.json'} (secret, mode 0600: give "
        "each party its own)"
    )
    return 0


def _generate(
    args: argparse.Namespace,
    protocol: str,
    clients: tuple[int, ...],
    committee: list[int],
    *,
    t: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[PublicPart, dict[int, object], int]:
    """The keys of a ``protocol`` deployment: its public part, each party's secret, and the
    upload level of a collective BFV key (0 otherwise)."""
    insecure = bool(args.insecure_test_key)
    if protocol == "paillier":
        from heprim.secagg.he_paillier import PaillierDeployment

        dealt = PaillierDeployment.generate(
            committee, t, n_bits=int(args.key_bits), allow_insecure=insecure, progress=progress
        )
        return dealt.public, dict(dealt.shares), 0
    from heprim.secagg.he_bfv import BFVDeployment, aggregation_parameters
    from heprim.secagg.he_bfv_client_keys import ClientKeyDeployment

    n = len(clients)
    encoding = VectorEncoding.integers(0, (1 << int(args.bits)) - 1)
    params = aggregation_parameters(
        encoding.modulus_bits(n), degree=int(args.ring_degree), allow_insecure=insecure
    )
    if protocol == "bfv":
        made = BFVDeployment.generate(committee, t, params, max_contributors=n, progress=progress)
        return made.public, dict(made.shares), made.upload_level
    keys = ClientKeyDeployment.generate(clients, committee, t, params, progress=progress)
    return keys.public, {**keys.keys, **keys.shares}, 0


def _serve_he(
    args: argparse.Namespace, reporter: Reporter, encoding: VectorEncoding
) -> tuple[ServerReport, str]:
    """An HE session of ``--deployment``'s parties; the report and a line describing it."""
    from heprim.net.aggregation import serve_he

    files = load_deployment(Path(args.deployment))
    if files.protocol not in HE_PROTOCOLS[args.protocol]:
        raise ParameterError(
            f"{args.deployment} is a {files.protocol} deployment, not --protocol {args.protocol}"
        )
    config = HESessionConfig.create(
        files.clients,
        int(args.dim),
        encoding,
        decryptors=files.decryptors,
        threshold=files.threshold,
        min_contributors=args.min_clients or 2,
    )
    with reporter.progress(f"{files.protocol} messages") as progress:
        report = serve_he(files.server, config, **_server_options(args, reporter, progress))
    describe = (
        f"{files.protocol}: n={len(files.clients)} clients, decryptors l={len(files.decryptors)} "
        f"t={files.threshold}"
    )
    return report, describe


def _run_he_party(args: argparse.Namespace, stream: TextIO) -> int:
    """``secagg client --key``: the party of a ``secagg setup`` file, client or decryptor."""
    from heprim.net.aggregation import run_party

    stored = HEPartyFile.load(Path(args.key))
    if args.id is not None and args.id != stored.party:
        raise ParameterError(f"{args.key} is party {stored.party}'s file, not --id {args.id}'s")
    party, dim = stored.build(), int(args.dim)
    encoding = VectorEncoding.integers(0, (1 << int(args.bits)) - 1)
    has_input = args.input is not None or args.random_seed is not None
    if stored.party in stored.deployment.clients:
        if not has_input:
            raise ParameterError(f"party {stored.party} is a client: give --input or --random-seed")
        vector = (
            _read_vector(args.input, dim)
            if args.input is not None
            else seeded_input(int(args.random_seed), stored.party, dim, encoding)
        )
        party.set_input(vector)
    elif args.input is not None:  # a seed is harmless: scripts start every party alike
        raise ParameterError(
            f"party {stored.party} is a decryptor only: it has no input (drop --input)"
        )
    stateful = stored.deployment.protocol == "bfv-client-keys"
    report = run_party(
        party,
        args.connect,
        dim=dim,
        encoding=encoding,
        timeout=float(args.timeout),
        connect_timeout=float(args.connect_timeout),
        ssl=_client_tls(args),
        before_send=stored.save if stateful else None,
    )
    return _print_party(f"party {stored.party}", report, stream)


def add_network_commands(commands: Any) -> None:
    """Add ``secagg setup``, ``secagg serve`` and ``secagg client`` to the ``secagg`` command's
    subparsers (``commands``)."""
    setup_parser = commands.add_parser(
        "setup",
        help="generate an HE deployment (threshold Paillier, BFV): one file per party",
        description=(
            "Generate the keys of an HE aggregation for --clients clients and --decryptors "
            "decryptors; write the public deployment (for 'secagg serve --deployment') and one "
            "secret file per party (for 'secagg client --key')."
        ),
    )
    add_setup_arguments(setup_parser)
    setup_parser.set_defaults(
        run=run_setup, check=_usage_errors(_setup_checks), parser=setup_parser
    )
    serve_parser = commands.add_parser(
        "serve",
        help="serve one aggregation session (SecAgg / SecAgg+ / HE) over TCP; print the sum",
        description=(
            "Wait for the parties to connect (--clients SecAgg clients, or every party of an HE "
            "--deployment), run one session with them (a party silent past --round-timeout is a "
            "dropout), print the sum and the costs."
        ),
    )
    add_serve_arguments(serve_parser)
    serve_parser.set_defaults(
        run=run_serve, check=_usage_errors(_serve_checks), parser=serve_parser
    )
    client_parser = commands.add_parser(
        "client",
        help="join a 'secagg serve' session with one vector (or as an HE decryptor)",
        description=(
            "Connect to a 'secagg serve' server as client --id and contribute one vector "
            "(a .npy file or a seeded random vector) to its sum; with --key, as the HE party "
            "of a 'secagg setup' file (a client with its vector, or a decryptor)."
        ),
    )
    add_client_arguments(client_parser)
    client_parser.set_defaults(
        run=run_client, check=_usage_errors(_client_checks), parser=client_parser
    )
