"""HE aggregation: multiparty BFV and packed threshold Paillier against SecAgg+, same workload.

Default sizes are a smoke test (seconds). ``HEPRIM_BENCH_FULL=1`` selects the issue's sizes:
n = 100 clients, 100,000 16-bit values each, 10 % of the clients drop out before their input,
a 3-of-5 committee of decryptors (2048-bit key) of which 2 stay silent (decryption still
succeeds with t = 3); SecAgg+ runs the same inputs with the same 10 % dropout (after sharing
keys, before the masked input: its expensive case). Both in group ``he-aggregation`` so that
pytest-benchmark lists them side by side.

The key comes from the fixed safe primes of ``tests/vectors/paillier_safe_primes.json`` (key
generation is not what is measured); its DJN table is built before the clock starts.
``extra_info`` records the client time (mean, encryption), the server time (aggregation, and
verification plus combination), the decryption time per decryptor and the bytes per client.
Multiparty BFV uses :func:`~heprim.secagg.he_bfv.aggregation_parameters` for ``n`` clients
(``N = 4096``, ``Q = 30+30+30+16`` bits) and a 3-of-5 committee generated collectively (outside
the clock too), in two rows: the secure default (the cheapest upload whose smudging reaches
``lambda >= 40``: 3 primes) and the explicit 4x-float32 opt-in (2 primes,
``allow_insecure=True``); their ``extra_info`` adds the upload against the plaintext float32
size (``upload_vs_float32``) and the smudging security ``lambda`` for the session. A third BFV
row, ``test_bfv_client_keys``, runs the client-key mode of
:mod:`heprim.secagg.he_bfv_client_keys` on the same workload (every client's key Shamir-shared
once to the same 3-of-5 committee, outside the clock; ONE polynomial per upload), with the same
columns plus ``setup_bytes_per_client`` (the one-time key shares a client sends). Run:

    HEPRIM_BENCH_FULL=1 pytest benchmarks/bench_he_aggregation.py --benchmark-enable -s
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from heprim.errors import InsecureParametersWarning
from heprim.math.prng import KeyedPRNG
from heprim.net.simulate import DropoutSchedule, simulate, simulate_he
from heprim.paillier.threshold import deal
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.graph import choose_graph
from heprim.secagg.he_aggregation import HEDeployment
from heprim.secagg.he_bfv import BFVDeployment, aggregation_parameters
from heprim.secagg.he_bfv_client_keys import ClientKeyDeployment
from heprim.secagg.he_messages import HERound
from heprim.secagg.he_paillier import PaillierDeployment
from heprim.secagg.messages import Round

FULL = os.environ.get("HEPRIM_BENCH_FULL") == "1"
N, DIM, KEY_BITS = (100, 100_000, 2048) if FULL else (10, 2_000, 1024)
DECRYPTORS, THRESHOLD, SILENT = 5, 3, 2
DROPOUT = 0.1
ENCODING = VectorEncoding.integers(0, 2**16 - 1)
PRIMES = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "paillier_safe_primes.json"


def _inputs() -> dict[int, np.ndarray]:
    rng = KeyedPRNG.from_int(N)
    return {
        u: np.frombuffer(rng.random_bytes(2 * DIM), dtype="<u2").astype(np.int64)
        for u in range(1, N + 1)
    }


def _report(benchmark: Any, label: str, info: dict[str, float]) -> None:
    benchmark.extra_info.update(info)
    if FULL:
        pairs = ", ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items()
        )
        print(f"\n[{label}] {pairs}")


def _deployment() -> PaillierDeployment:
    entry = json.loads(PRIMES.read_text())["keys"][str(KEY_BITS)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        public, shares = deal(
            int(entry["p"], 16),
            int(entry["q"], 16),
            parties=DECRYPTORS,
            threshold=THRESHOLD,
            rng=KeyedPRNG.from_int(1),
            allow_insecure=KEY_BITS < 2048,
        )
    committee = list(range(N + 1, N + 1 + DECRYPTORS))
    deployment = PaillierDeployment.from_shares(public, shares, committee)
    deployment.prepare()
    return deployment


def _he_session(inputs: dict[int, np.ndarray], deployment: HEDeployment) -> dict[str, float]:
    """One session with DROPOUT of the clients and SILENT decryptors gone; exact, and its costs."""
    rng = KeyedPRNG.from_int(7)
    dropped = DropoutSchedule.random(list(inputs), DROPOUT, HERound.INPUT, rng)
    committee = sorted(deployment.decryptors)
    schedule = DropoutSchedule({**dropped.at, HERound.DECRYPT: frozenset(committee[:SILENT])})
    res = simulate_he(inputs, ENCODING, deployment, dropouts=schedule, rng=rng)
    if res.aggregate is None:
        raise AssertionError(res.abort_reason)
    expected = sum(inputs[u] for u in res.survivors)
    assert np.array_equal(res.aggregate.sum, expected)
    clients = [res.client_costs[u] for u in sorted(res.survivors)]
    decrypting = [res.client_costs[d] for d in committee[SILENT:]]
    return {
        "client_s": sum(c.rounds[HERound.INPUT].seconds for c in clients) / len(clients),
        "server_aggregate_s": res.server_cost.rounds[HERound.INPUT].seconds,
        "server_decrypt_s": res.server_cost.rounds[HERound.DECRYPT].seconds,
        "server_s": res.server_cost.total.seconds,
        "decrypt_s": max(c.rounds[HERound.DECRYPT].seconds for c in decrypting),
        "bytes_per_client": max(c.rounds[HERound.INPUT].bytes_sent for c in clients),
        "compute_s": res.compute_seconds,
    }


def _paillier_session() -> dict[str, float]:
    return {"n": N, "dim": DIM, "key_bits": KEY_BITS, **_he_session(_inputs(), _deployment())}


def _secaggplus_session() -> dict[str, float]:
    inputs = _inputs()
    rng = KeyedPRNG.from_int(7)
    schedule = DropoutSchedule.random(list(inputs), DROPOUT, Round.MASKED_INPUT, rng)
    graph = choose_graph(N, corrupted_fraction=0.1, dropout_rate=DROPOUT)
    res = simulate(inputs, ENCODING, graph=graph, dropouts=schedule, rng=rng)
    if res.aggregate is None:
        raise AssertionError(res.abort_reason)
    expected = sum(inputs[u] for u in res.survivors)
    assert np.array_equal(res.aggregate.sum, expected)
    clients = [res.client_costs[u] for u in sorted(res.survivors)]
    return {
        "n": N,
        "dim": DIM,
        "k": graph.k,
        "t": graph.t,
        "client_s": sum(c.total.seconds for c in clients) / len(clients),
        "server_s": res.server_cost.total.seconds,
        "server_unmask_s": res.server_cost.rounds[Round.UNMASK].seconds,
        "bytes_per_client": max(c.total.bytes_sent for c in clients),
        "compute_s": res.compute_seconds,
    }


@pytest.mark.benchmark(group="he-aggregation")
def test_packed_threshold_paillier(benchmark: Any) -> None:
    info: dict[str, float] = {}
    benchmark.pedantic(lambda: info.update(_paillier_session()), rounds=1, iterations=1)
    _report(benchmark, "paillier", info)


@pytest.mark.benchmark(group="he-aggregation")
def test_secaggplus_same_workload(benchmark: Any) -> None:
    info: dict[str, float] = {}
    benchmark.pedantic(lambda: info.update(_secaggplus_session()), rounds=1, iterations=1)
    _report(benchmark, "secagg+", info)


def _bfv_session(*, insecure_4x: bool) -> dict[str, float]:
    inputs = _inputs()
    committee = list(range(N + 1, N + 1 + DECRYPTORS))
    params = aggregation_parameters(ENCODING.modulus_bits(N))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)  # reported as lambda below
        deployment = BFVDeployment.generate(
            committee,
            THRESHOLD,
            params,
            upload_level=2 if insecure_4x else None,
            max_contributors=N,
            allow_insecure=insecure_4x,
            rng=KeyedPRNG.from_int(1),
        )
        costs = _he_session(inputs, deployment)
    return {
        "n": N,
        "dim": DIM,
        "degree": params.degree,
        "upload_level": deployment.upload_level,
        "slot_vs_float32": deployment.upload_bytes_per_value() / 4,
        "smudging_lambda": deployment.smudging_security(N)[1],
        **costs,
        "upload_vs_float32": costs["bytes_per_client"] / (4 * DIM),
        "keygen_s": deployment.keygen_seconds,
    }


@pytest.mark.benchmark(group="he-aggregation")
def test_multiparty_bfv(benchmark: Any) -> None:
    """The secure default: lambda >= 40 (3 of 4 primes uploaded)."""
    info: dict[str, float] = {}
    benchmark.pedantic(lambda: info.update(_bfv_session(insecure_4x=False)), rounds=1, iterations=1)
    assert info["smudging_lambda"] >= 40
    _report(benchmark, "bfv", info)


@pytest.mark.benchmark(group="he-aggregation")
def test_multiparty_bfv_insecure_4x_float32(benchmark: Any) -> None:
    """The opt-in 4x-float32 upload (2 primes): its lambda is recorded, far below 40."""
    info: dict[str, float] = {}
    benchmark.pedantic(lambda: info.update(_bfv_session(insecure_4x=True)), rounds=1, iterations=1)
    assert info["slot_vs_float32"] <= 4  # per slot; small smoke sizes also pay padding
    _report(benchmark, "bfv-insecure-4x", info)


def _bfv_client_keys_session() -> dict[str, float]:
    inputs = _inputs()
    committee = list(range(N + 1, N + 1 + DECRYPTORS))
    params = aggregation_parameters(ENCODING.modulus_bits(N))
    deployment = ClientKeyDeployment.generate(
        list(inputs), committee, THRESHOLD, params, rng=KeyedPRNG.from_int(1)
    )
    costs = _he_session(inputs, deployment)
    return {
        "n": N,
        "dim": DIM,
        "degree": params.degree,
        "upload_level": deployment.upload_level,
        "slot_vs_float32": deployment.upload_bytes_per_value() / 4,
        "smudging_lambda": deployment.smudging_security(N)[1],
        **costs,
        "upload_vs_float32": costs["bytes_per_client"] / (4 * DIM),
        "setup_bytes_per_client": deployment.setup_bytes_per_client(),
        "keygen_s": deployment.setup_seconds,
    }


@pytest.mark.benchmark(group="he-aggregation")
def test_bfv_client_keys(benchmark: Any) -> None:
    """Client keys with a common a: one polynomial per upload at lambda >= 40 (3 primes)."""
    info: dict[str, float] = {}
    benchmark.pedantic(lambda: info.update(_bfv_client_keys_session()), rounds=1, iterations=1)
    assert info["smudging_lambda"] >= 40 and info["slot_vs_float32"] < 3
    _report(benchmark, "bfv-client-keys", info)
