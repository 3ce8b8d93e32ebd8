"""``heprim demo``: hospitals train a model together without revealing their updates.

A federated-learning run (McMahan et al., "Communication-efficient learning of deep networks
from decentralized data", AISTATS 2017: federated averaging) on real data:

1. ``--hospitals`` hospitals each hold part of a dataset: scikit-learn's bundled Wisconsin
   breast-cancer data (569 patients, 30 features; the ``ml`` extra) when it is installed, else a
   generated dataset of the same shape from a keyed PRNG. Each keeps a fifth of its patients
   for testing and standardises its features with its own statistics (nothing is pooled).
2. Every round each hospital trains the global logistic-regression model on its own patients
   (a few epochs of gradient descent) and produces an update (new weights minus old), clipped
   to ``[-clip, clip]``; some hospitals drop out (``--dropout``) before uploading.
3. The updates, weighted by each hospital's number of patients, are summed with the chosen
   ``--protocol``: ``paillier`` (packed threshold Paillier: hospitals 1..l hold key shares and
   a majority of them decrypt the sum; the default), ``bfv`` (batched multiparty BFV, no dealer:
   with ``--bfv-keys client``, the default, every hospital Shamir-shares its own key to the same
   hospitals once and uploads one polynomial per ciphertext; with ``collective`` they generate
   one threshold key together), ``secagg+`` or ``secagg`` (masking), or
   ``plain`` (no protection, for reference). Every message is serialised as on a network.
4. The server moves the global model by the weighted mean of the updates. A round whose
   session aborts (too few decryptors left, say) leaves the model where it was.

Alongside, the same run is repeated with exact plaintext federated averaging, and every round
prints both test accuracies (over all hospitals' test patients), the gap between the models,
the aggregation error against its bound, and the protocol's cost.

**The bound.** The protocols quantise each clipped update to ``L = 2**b - 1`` levels over
``[-clip, clip]`` by unbiased stochastic rounding (:class:`~heprim.secagg.encoding.VectorEncoding`),
so each hospital's coordinate is off by less than one level ``2 clip / L``, and so is the
weighted mean: per round, ``|aggregated mean - exact mean of the same updates| < 2 clip / (2**b -
1)`` per weight (``6.1e-5`` with the defaults), which the demo checks. The two trajectories then
differ by a few levels, far below anything that moves the accuracy.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import numpy.typing as npt

from heprim.cli.progress import Reporter
from heprim.errors import InsecureParametersWarning, ParameterError
from heprim.math.prng import PRNG, KeyedPRNG, SystemPRNG

if TYPE_CHECKING:  # imported when run: `heprim --version` should not load the schemes
    from heprim.secagg.encoding import VectorEncoding
    from heprim.secagg.he_bfv import BFVDeployment
    from heprim.secagg.he_bfv_client_keys import ClientKeyDeployment
    from heprim.secagg.he_paillier import PaillierDeployment

__all__ = [
    "PROTOCOLS",
    "Dataset",
    "Hospital",
    "RoundRecord",
    "federated_run",
    "load_dataset",
    "register",
    "run",
    "split_hospitals",
    "synthetic_dataset",
]

PROTOCOLS = ("paillier", "bfv", "secagg+", "secagg", "plain")
BFV_KEYS = ("client", "collective")
DEFAULT_HOSPITALS = 10
DEFAULT_ROUNDS = 8
DEFAULT_BITS = 2048
DEFAULT_QUANT_BITS = 16
DEFAULT_CLIP = 2.0
DEFAULT_DROPOUT = 0.1
LOCAL_EPOCHS = 5
LEARNING_RATE = 0.5
L2 = 1e-3
TEST_FRACTION = 0.2
SYNTHETIC_SHAPE = (569, 30)

Float64Array = npt.NDArray[np.float64]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="federated learning across hospitals, aggregated with threshold Paillier or SecAgg",
        description=(
            "Hospitals train a logistic-regression model together: each round every hospital "
            "trains locally and the updates are summed with the chosen protocol, so that no "
            "update is seen alone. Prints the accuracy per round next to plaintext federated "
            "averaging, and the cost of each round."
        ),
    )
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="paillier",
        help="how updates are aggregated (default paillier: packed threshold Paillier)",
    )
    parser.add_argument(
        "--hospitals",
        "--clients",
        dest="hospitals",
        type=_positive,
        default=DEFAULT_HOSPITALS,
        help=f"number of hospitals (default {DEFAULT_HOSPITALS})",
    )
    parser.add_argument(
        "--rounds",
        type=_positive,
        default=DEFAULT_ROUNDS,
        help=f"federated rounds (default {DEFAULT_ROUNDS})",
    )
    parser.add_argument(
        "--dataset",
        choices=["auto", "breast-cancer", "synthetic"],
        default="auto",
        help="auto: scikit-learn's breast-cancer data if installed, else synthetic",
    )
    parser.add_argument(
        "--dropout",
        type=float,
        default=DEFAULT_DROPOUT,
        help=f"fraction of hospitals that drop out each round (default {DEFAULT_DROPOUT})",
    )
    parser.add_argument(
        "--quant-bits",
        type=int,
        default=DEFAULT_QUANT_BITS,
        help=f"quantisation bits of the updates (default {DEFAULT_QUANT_BITS})",
    )
    parser.add_argument(
        "--clip",
        type=float,
        default=DEFAULT_CLIP,
        help=f"updates are clipped to [-clip, clip] (default {DEFAULT_CLIP})",
    )
    parser.add_argument(
        "--bits",
        type=int,
        default=DEFAULT_BITS,
        help=f"Paillier modulus size (default {DEFAULT_BITS}; 3072 for ~128-bit security)",
    )
    parser.add_argument(
        "--decryptors",
        type=_positive,
        default=None,
        help="paillier, bfv: hospitals holding key shares, a majority of whom decrypt (default: "
        "5, or all when fewer)",
    )
    parser.add_argument(
        "--bfv-keys",
        choices=BFV_KEYS,
        default="client",
        help="bfv: each hospital's own key, Shamir-shared once to the decryptors, one polynomial "
        "per upload (client, the default), or one collective threshold key, two polynomials "
        "(collective)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the data split and the dropouts (default: a fresh one, printed)",
    )
    parser.add_argument(
        "--insecure-test-key",
        action="store_true",
        help="allow --bits below 2048: such keys can be factored; for tests only",
    )
    parser.set_defaults(run=run, check=_check, parser=parser)


def _check(args: argparse.Namespace) -> None:
    if args.bits < 2048 and not args.insecure_test_key:
        args.parser.error(
            f"--bits {args.bits} is below 2048 and therefore insecure; use --bits 2048 or more "
            "(or --insecure-test-key for a throwaway test key)"
        )
    if not 0.0 <= args.dropout < 1.0:
        args.parser.error("--dropout must be in [0, 1)")
    if not 1 <= args.quant_bits <= 30:
        args.parser.error("--quant-bits must be in [1, 30]")
    if not (math.isfinite(args.clip) and args.clip > 0):
        args.parser.error("--clip must be positive")
    if args.hospitals < 2:
        args.parser.error("--hospitals must be at least 2 (a sum of one reveals it)")
    if args.decryptors is not None and args.decryptors > args.hospitals:
        args.parser.error("--decryptors cannot exceed --hospitals")


# ------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Dataset:
    """Features, 0/1 labels and where they come from."""

    features: Float64Array
    labels: Float64Array
    source: str


def _uniform(rng: PRNG, count: int) -> Float64Array:
    words = np.frombuffer(rng.random_bytes(8 * count), dtype="<u8")
    return ((words >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53  # in (0, 1)


def _normal(rng: PRNG, count: int) -> Float64Array:
    """Standard normal draws by Box-Muller from the keyed PRNG (never numpy.random)."""
    half = (count + 1) // 2
    u, v = _uniform(rng, half), _uniform(rng, half)
    radius = np.sqrt(-2.0 * np.log(u))
    return np.concatenate([radius * np.cos(2 * np.pi * v), radius * np.sin(2 * np.pi * v)])[:count]


def synthetic_dataset(seed: int) -> Dataset:
    """A breast-cancer-shaped problem (569 x 30, correlated features, some overlap) from a PRNG.

    Two classes (about 37 % / 63 %, as in the real data) with Gaussian features whose means
    differ along a random direction, mixed by a random matrix so that features correlate.
    """
    rng = KeyedPRNG(hashlib.sha3_256(f"heprim.demo.synthetic:{seed}".encode()).digest())
    m, d = SYNTHETIC_SHAPE
    labels = (_uniform(rng, m) < 0.63).astype(np.float64)
    direction = _normal(rng, d)
    direction /= np.linalg.norm(direction)
    mixing = np.eye(d) + 0.3 * _normal(rng, d * d).reshape(d, d)
    noise = _normal(rng, m * d).reshape(m, d) @ mixing
    features = noise + np.outer(2.2 * labels - 1.1, direction) * 2.0 + 5.0
    return Dataset(features, labels, f"synthetic ({m} x {d}, keyed PRNG seed {seed})")


def load_dataset(name: str = "auto", seed: int = 0) -> Dataset:
    """The demo's data: scikit-learn's breast-cancer set, or the synthetic stand-in.

    ``auto`` uses scikit-learn when it is importable (``pip install heprim[ml]``) and falls back
    to :func:`synthetic_dataset`; ``breast-cancer`` insists on scikit-learn.
    """
    if name not in ("auto", "breast-cancer", "synthetic"):
        raise ParameterError(f"unknown dataset {name!r}: auto, breast-cancer or synthetic")
    if name != "synthetic":
        try:
            from sklearn.datasets import load_breast_cancer
        except ImportError:
            if name == "breast-cancer":
                raise ParameterError(
                    "the breast-cancer dataset ships with scikit-learn: pip install "
                    "'heprim[ml]' (or use --dataset synthetic)"
                ) from None
        else:
            bunch = load_breast_cancer()
            features = np.asarray(bunch.data, dtype=np.float64)
            labels = np.asarray(bunch.target, dtype=np.float64)
            m, d = features.shape
            return Dataset(features, labels, f"breast cancer, Wisconsin ({m} x {d}, scikit-learn)")
    return synthetic_dataset(seed)


@dataclass
class Hospital:
    """One hospital's standardised train and test data (features with a bias column)."""

    x_train: Float64Array
    y_train: Float64Array
    x_test: Float64Array
    y_test: Float64Array

    @property
    def weight(self) -> int:
        """Its weight in federated averaging: the number of training patients."""
        return int(self.y_train.shape[0])


def split_hospitals(data: Dataset, hospitals: int, seed: int) -> list[Hospital]:
    """Shuffle the patients, deal them to hospitals in unequal shares, split train/test.

    Each hospital standardises with the mean and deviation of its own training patients.
    """
    m = data.labels.shape[0]
    if hospitals * 5 > m:
        raise ParameterError(f"{m} patients are too few for {hospitals} hospitals (5 each)")
    rng = KeyedPRNG(hashlib.sha3_256(f"heprim.demo.split:{seed}".encode()).digest())
    order = np.argsort(_uniform(rng, m), kind="stable")
    # Unequal shares (0.5x to 1.5x the average), so that the weighting matters.
    shares = 0.5 + _uniform(rng, hospitals)
    bounds = np.round(np.cumsum(shares) / shares.sum() * m).astype(int)
    out: list[Hospital] = []
    start = 0
    for stop in bounds:
        idx = order[start:stop]
        start = int(stop)
        n_test = max(1, round(TEST_FRACTION * idx.size))
        train, test = idx[n_test:], idx[:n_test]
        mean = data.features[train].mean(axis=0)
        std = data.features[train].std(axis=0) + 1e-9
        x_train, x_test = ((data.features[rows] - mean) / std for rows in (train, test))
        out.append(
            Hospital(
                np.hstack([x_train, np.ones((train.size, 1))]),
                data.labels[train],
                np.hstack([x_test, np.ones((test.size, 1))]),
                data.labels[test],
            )
        )
    return out


# ------------------------------------------------------------------------------------ model


def _sigmoid(z: Float64Array) -> Float64Array:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def local_update(hospital: Hospital, weights: Float64Array, clip: float) -> Float64Array:
    """A few epochs of full-batch gradient descent on the logistic loss; the clipped delta."""
    w = weights.copy()
    x, y = hospital.x_train, hospital.y_train
    for _ in range(LOCAL_EPOCHS):
        gradient = x.T @ (_sigmoid(x @ w) - y) / y.shape[0] + L2 * w
        w -= LEARNING_RATE * gradient
    return np.clip(w - weights, -clip, clip)


def accuracy(hospitals: Sequence[Hospital], weights: Float64Array) -> float:
    """Federated evaluation: correct predictions over all hospitals' test patients."""
    correct = sum(int(((h.x_test @ weights > 0) == (h.y_test > 0.5)).sum()) for h in hospitals)
    return correct / sum(int(h.y_test.shape[0]) for h in hospitals)


# ---------------------------------------------------------------------------- aggregation


@dataclass
class RoundRecord:
    """What one federated round did and cost."""

    round: int
    contributors: int
    accuracy_plain: float
    accuracy_protocol: float
    aggregation_error: float  # max |protocol mean - exact mean of the same updates|
    bound: float  # 2 clip / (2**b - 1)
    model_gap: float  # max |protocol model - plaintext FedAvg model|
    server_seconds: float = 0.0
    client_seconds: float = 0.0  # mean over the contributing hospitals
    upload_bytes: float = 0.0  # mean over the contributing hospitals
    decrypt_seconds: float = 0.0  # slowest decryptor (paillier)
    wall_seconds: float = 0.0
    aborted: str | None = None  # why the protocol's session aborted (the model did not move)


def _mean_update(
    protocol: str,
    *,
    updates: Mapping[int, Float64Array],
    weights: Mapping[int, int],
    dropped: frozenset[int],
    encoding: VectorEncoding,
    deployment: PaillierDeployment | BFVDeployment | ClientKeyDeployment | None,
    rng: PRNG,
) -> tuple[Float64Array, RoundRecord]:
    """Aggregate one round's updates with the protocol; the weighted mean and the costs."""
    from heprim.net.simulate import DropoutSchedule, simulate, simulate_he
    from heprim.secagg.he_messages import HERound
    from heprim.secagg.messages import Round

    record = RoundRecord(0, 0, 0.0, 0.0, 0.0, 0.0, 0.0)
    start = time.perf_counter()
    if protocol == "plain":
        alive = [u for u in sorted(updates) if u not in dropped]
        total = sum(weights[u] * updates[u] for u in alive)
        mean = np.asarray(total, dtype=np.float64) / sum(weights[u] for u in alive)
        record.contributors = len(alive)
        record.wall_seconds = time.perf_counter() - start
        return mean, record
    result: Any
    if protocol in ("paillier", "bfv"):
        if deployment is None:  # pragma: no cover - federated_run always deals a key first
            raise ParameterError(f"the {protocol} protocol needs a key")
        result = simulate_he(
            dict(updates),
            encoding,
            deployment,
            weights=dict(weights),
            dropouts=DropoutSchedule({HERound.INPUT: dropped}),
            rng=rng,
        )
        decryptors = [result.client_costs[d] for d in deployment.decryptors]
        record.decrypt_seconds = max(
            (c.rounds[HERound.DECRYPT].seconds for c in decryptors), default=0.0
        )
    else:
        from heprim.secagg.graph import choose_graph

        n, rate = len(updates), max(len(dropped) / len(updates), 0.01)
        sparse = protocol == "secagg+"
        try:
            graph = choose_graph(n, corrupted_fraction=0.1, dropout_rate=rate, sparse=sparse)
        except ParameterError:  # a handful of hospitals: no corrupted one can be tolerated
            graph = choose_graph(n, corrupted_fraction=0.0, dropout_rate=rate, sparse=sparse)
        result = simulate(
            dict(updates),
            encoding,
            weights=dict(weights),
            graph=graph,
            dropouts=DropoutSchedule({Round.MASKED_INPUT: dropped}),
            rng=rng,
        )
    record.wall_seconds = time.perf_counter() - start
    if result.aggregate is None:  # the round fails; the model stays where it was
        record.aborted = str(result.abort_reason)
        return np.zeros(len(next(iter(updates.values())))), record
    contributors = sorted(result.survivors)
    costs = [result.client_costs[u].total for u in contributors]
    record.contributors = len(contributors)
    record.server_seconds = result.server_cost.total.seconds
    record.client_seconds = sum(c.seconds for c in costs) / len(costs)
    record.upload_bytes = sum(c.bytes_sent for c in costs) / len(costs)
    return np.asarray(result.aggregate.mean(), dtype=np.float64), record


def _deal(
    decryptors: int,
    bits: int,
    rng: PRNG,
    report: Reporter | None,
) -> tuple[PaillierDeployment, float]:
    """The dealer: a ``majority``-of-``decryptors`` key for hospitals 1 .. decryptors."""
    from heprim.secagg.he_paillier import PaillierDeployment

    threshold = decryptors // 2 + 1
    insecure = bits < 2048
    holders = list(range(1, decryptors + 1))
    start = time.perf_counter()
    with warnings.catch_warnings():
        if insecure:
            warnings.simplefilter("ignore", InsecureParametersWarning)
        if report is not None:
            with report.progress("dealer: safe primes") as progress:
                deployment = PaillierDeployment.generate(
                    holders,
                    threshold,
                    n_bits=bits,
                    rng=rng,
                    allow_insecure=insecure,
                    progress=progress,
                )
        else:
            deployment = PaillierDeployment.generate(
                holders, threshold, n_bits=bits, rng=rng, allow_insecure=insecure
            )
    return deployment, time.perf_counter() - start


def _bfv_keys(
    decryptors: int | None,
    hospitals: int,
    encoding: VectorEncoding,
    rng: PRNG,
    mode: str = "client",
) -> BFVDeployment | ClientKeyDeployment:
    """Hospitals 1 .. decryptors hold the keys a majority of them decrypt with: shares of every
    hospital's own key (``client``) or of one key they generate together (``collective``)."""
    from heprim.secagg.he_bfv import BFVDeployment, aggregation_parameters
    from heprim.secagg.he_bfv_client_keys import ClientKeyDeployment

    holders = decryptors if decryptors is not None else min(5, hospitals)
    params = aggregation_parameters(encoding.modulus_bits(hospitals))
    committee = list(range(1, holders + 1))
    # Every hospital may contribute: the cheapest upload whose smudging meets the floor for them.
    if mode == "client":
        return ClientKeyDeployment.generate(
            list(range(1, hospitals + 1)),
            committee,
            holders // 2 + 1,
            params,
            max_contributors=hospitals,
            rng=rng,
        )
    if mode != "collective":
        raise ParameterError(f"unknown BFV key mode {mode!r}: one of {', '.join(BFV_KEYS)}")
    return BFVDeployment.generate(
        committee, holders // 2 + 1, params, max_contributors=hospitals, rng=rng
    )


def federated_run(
    protocol: str = "paillier",
    *,
    hospitals: int = DEFAULT_HOSPITALS,
    rounds: int = DEFAULT_ROUNDS,
    dataset: str = "auto",
    dropout: float = DEFAULT_DROPOUT,
    quant_bits: int = DEFAULT_QUANT_BITS,
    clip: float = DEFAULT_CLIP,
    bits: int = DEFAULT_BITS,
    decryptors: int | None = None,
    seed: int = 0,
    report: Reporter | None = None,
    bfv_keys: str = "client",
) -> tuple[list[RoundRecord], dict[str, Any]]:
    """Train with federated averaging twice, over ``protocol`` and in plaintext, side by side.

    Returns one :class:`RoundRecord` per round and a summary (dataset, bound, key, final
    models). ``report``, when given, receives the per-round lines as they are computed.
    ``bfv_keys`` picks the BFV key mode (``client`` or ``collective``, see the module).
    """
    from heprim.secagg.encoding import VectorEncoding

    if protocol not in PROTOCOLS:
        raise ParameterError(f"unknown protocol {protocol!r}: one of {', '.join(PROTOCOLS)}")
    data = load_dataset(dataset, seed)
    sites = split_hospitals(data, hospitals, seed)
    weights = {u: h.weight for u, h in enumerate(sites, start=1)}
    # The weight bound is public: the largest hospital's training-set size, rounded up.
    max_weight = 1 << max(weights.values()).bit_length()
    encoding = VectorEncoding.floats(-clip, clip, quant_bits, max_weight=max_weight)
    requested_bits = quant_bits
    # BFV slots hold sums below its plain modulus (< 2^28 here): fewer quantisation levels.
    while protocol == "bfv" and encoding.modulus_bits(hospitals) > 28 and quant_bits > 1:
        quant_bits -= 1
        encoding = VectorEncoding.floats(-clip, clip, quant_bits, max_weight=max_weight)
    bound = 2 * clip / ((1 << quant_bits) - 1)
    rng = KeyedPRNG(hashlib.sha3_256(f"heprim.demo.run:{seed}".encode()).digest())
    summary: dict[str, Any] = {"dataset": data.source, "bound": bound, "weights": weights}
    deployment: PaillierDeployment | None = None
    keys: BFVDeployment | ClientKeyDeployment | None = None
    if protocol == "paillier":
        holders = decryptors if decryptors is not None else min(5, hospitals)
        deployment, dealt = _deal(holders, bits, rng.derive("dealer"), report)
        summary["dealer_seconds"] = dealt
        summary["decryptors"] = holders
        summary["threshold"] = deployment.threshold
        if report is not None:
            report.line(
                f"dealer: {bits}-bit threshold Paillier key, hospitals 1-{holders} hold shares, "
                f"any {deployment.threshold} decrypt ({dealt:.1f} s, then forgotten)"
            )
    if protocol == "bfv":
        keys = _bfv_keys(decryptors, hospitals, encoding, rng.derive("keygen"), bfv_keys)
        summary["decryptors"] = len(keys.decryptors)
        summary["threshold"] = keys.threshold
        summary["quant_bits"] = quant_bits
        summary["bfv_keys"] = bfv_keys
        if report is not None:
            from heprim.secagg.he_bfv import BFVDeployment

            params = keys.public.params if isinstance(keys, BFVDeployment) else keys.params
            holders = len(keys.decryptors)
            what = f"(N={params.degree}, t={params.plain_modulus})"
            if isinstance(keys, BFVDeployment):
                line = (
                    f"collective BFV key {what}: hospitals 1-{holders} hold threshold shares, "
                    f"any {keys.threshold} decrypt ({keys.keygen_seconds:.2f} s)"
                )
            else:
                line = (
                    f"BFV client keys {what}: every hospital Shamir-shares its own key to "
                    f"hospitals 1-{holders} once ({keys.setup_bytes_per_client() / 1024:,.0f} KiB "
                    f"each, {keys.setup_seconds:.2f} s in all), any {keys.threshold} decrypt"
                )
            if quant_bits != requested_bits:
                line += (
                    f"; quantisation {quant_bits} bits instead of {requested_bits} so that the "
                    "weighted sum fits the plain modulus"
                )
            report.line(line)
    d = sites[0].x_train.shape[1]
    w_plain = np.zeros(d)
    w_protocol = np.zeros(d)
    records: list[RoundRecord] = []
    if report is not None:
        report.line("")
        report.line(
            f"{'round':>5} {'hosp':>4} {'acc plain':>9} {'acc ' + protocol:>13} "
            f"{'agg err':>8} {'model gap':>9} {'server s':>8} {'client s':>8} "
            f"{'upload':>8} {'decrypt s':>9}"
        )
    ids = list(weights)
    for r in range(1, rounds + 1):
        round_rng = rng.derive(f"round {r}")
        pool = list(ids)
        dropped = frozenset(
            pool.pop(round_rng.randbelow(len(pool))) for _ in range(round(dropout * hospitals))
        )
        alive = [u for u in ids if u not in dropped]
        # Plaintext FedAvg on its own trajectory.
        plain_updates = {u: local_update(sites[u - 1], w_plain, clip) for u in alive}
        total_w = sum(weights[u] for u in alive)
        w_plain = w_plain + sum(weights[u] * plain_updates[u] for u in alive) / total_w
        # The protocol's trajectory; every hospital trains, the dropped ones never upload.
        updates = {u: local_update(sites[u - 1], w_protocol, clip) for u in ids}
        mean, record = _mean_update(
            protocol,
            updates=updates,
            weights=weights,
            dropped=dropped,
            encoding=encoding,
            deployment=deployment if keys is None else keys,
            rng=round_rng.derive("protocol"),
        )
        exact = sum(weights[u] * updates[u] for u in alive) / total_w
        if record.aborted is not None:
            exact = mean  # nothing was aggregated: no aggregation error to measure
        w_protocol = w_protocol + mean
        record.round = r
        record.aggregation_error = float(np.max(np.abs(mean - exact)))
        record.bound = bound if protocol != "plain" else 0.0
        record.accuracy_plain = accuracy(sites, w_plain)
        record.accuracy_protocol = accuracy(sites, w_protocol)
        record.model_gap = float(np.max(np.abs(w_protocol - w_plain)))
        records.append(record)
        if report is not None:
            report.line(_row(record, protocol))
    summary["w_plain"], summary["w_protocol"] = w_plain, w_protocol
    return records, summary


def _size(n_bytes: float) -> str:
    if n_bytes < 1024:
        return f"{n_bytes:,.0f} B"
    return f"{n_bytes / 1024:,.1f} KiB"


def _row(rec: RoundRecord, protocol: str) -> str:
    head = f"{rec.round:>5} {rec.contributors:>4} {rec.accuracy_plain:>9.3f} "
    head += f"{rec.accuracy_protocol:>13.3f} "
    if rec.aborted is not None:
        return head + f"ABORTED ({rec.aborted}); the model stays"
    cost = (
        f"{rec.server_seconds:>8.3f} {rec.client_seconds:>8.3f} {_size(rec.upload_bytes):>8} "
        f"{rec.decrypt_seconds:>9.3f}"
        if protocol != "plain"
        else f"{'-':>8} {'-':>8} {'-':>8} {'-':>9}"
    )
    return head + f"{rec.aggregation_error:>8.1e} {rec.model_gap:>9.1e} {cost}"


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run the federated demo and print the report; 0 when every round meets the bound."""
    report = Reporter(out)
    seed = args.seed if args.seed is not None else SystemPRNG().randbits(32)
    start = time.perf_counter()
    protocol = args.protocol
    data = load_dataset(args.dataset, seed)
    report.line(
        f"heprim demo: {args.hospitals} hospitals train a logistic regression for "
        f"{args.rounds} rounds, updates aggregated with {protocol}"
    )
    report.line(f"data: {data.source}; seed {seed} (rerun with --seed {seed})")
    if protocol != "plain":
        report.line(
            f"updates clipped to [-{args.clip:g}, {args.clip:g}], quantised to "
            f"{args.quant_bits} bits, weighted by patients; about {args.dropout:.0%} of the "
            "hospitals drop out each round"
        )
    if args.bits < 2048 and protocol == "paillier":
        report.line(f"WARNING: {args.bits}-bit test key (--insecure-test-key): never for real data")
    records, summary = federated_run(
        protocol,
        hospitals=args.hospitals,
        rounds=args.rounds,
        dataset=args.dataset,
        dropout=args.dropout,
        quant_bits=args.quant_bits,
        clip=args.clip,
        bits=args.bits,
        decryptors=args.decryptors,
        seed=seed,
        report=report,
        bfv_keys=args.bfv_keys,
    )
    bound = summary["bound"]
    worst = max(rec.aggregation_error for rec in records)
    final = records[-1]
    report.line("")
    report.line(
        f"final accuracy: {final.accuracy_protocol:.3f} with {protocol}, "
        f"{final.accuracy_plain:.3f} with plaintext federated averaging "
        f"(models differ by at most {final.model_gap:.1e} per weight)"
    )
    ok = protocol == "plain" or worst <= bound
    if protocol != "plain":
        report.line(
            f"aggregation error at most {worst:.1e} per weight, bound 2*clip/(2^b - 1) = "
            f"{bound:.1e}: {'OK' if ok else 'EXCEEDED'}"
        )
    aborted = sum(rec.aborted is not None for rec in records)
    if aborted:
        report.line(f"{aborted} of {len(records)} rounds aborted (the model skipped them)")
    report.line(f"demo {'passed' if ok else 'FAILED'} in {time.perf_counter() - start:.1f} s")
    return 0 if ok else 1
