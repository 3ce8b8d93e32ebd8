"""Secure aggregation over TCP: the network driver against the in-process simulator.

Both run SecAgg+ on the same inputs, graph and seed; the TCP run puts the server and every
client in one asyncio event loop on the loopback interface (:mod:`heprim.net.aggregation`:
every message is a length-prefixed frame on a real socket, party computations in worker
threads), so the difference is the driver's cost: sockets, framing, the join and the per-round
scheduling. No dropouts here (a dropout costs a round deadline over a network, which is a
setting, not a cost). ``extra_info`` holds the wall time from the first join to the sum, the
protocol compute of the in-process run and the bytes on the wire. Default sizes are a smoke
test; ``HEPRIM_BENCH_FULL=1`` runs n = 100 clients of 100,000 values:

    HEPRIM_BENCH_FULL=1 pytest benchmarks/bench_network.py --benchmark-enable -s
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import numpy as np
import pytest

from heprim.math.prng import KeyedPRNG
from heprim.net.aggregation import run_client_async, serve_async
from heprim.net.simulate import simulate
from heprim.secagg.client import SecAggClient
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.graph import choose_graph

FULL = os.environ.get("HEPRIM_BENCH_FULL") == "1"
N, DIM = (100, 100_000) if FULL else (8, 2_000)
ENCODING = VectorEncoding.integers(0, 2**16 - 1)


def _inputs() -> dict[int, np.ndarray]:
    words = KeyedPRNG.from_int(N).random_bytes(8 * N * DIM)
    table = (np.frombuffer(words, dtype="<u8") % 2**16).astype(np.int64).reshape(N, DIM)
    return {u: table[u - 1] for u in range(1, N + 1)}


def _graph() -> Any:
    return choose_graph(N, corrupted_fraction=0.1, dropout_rate=0.1)


async def _tcp_session(inputs: dict[int, np.ndarray]) -> dict[str, float]:
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    started = time.perf_counter()
    server = asyncio.create_task(
        serve_async(
            DIM,
            ENCODING,
            clients=sorted(inputs),
            graph=_graph(),
            ready=lambda host, port: bound.set_result(port),
            rng=KeyedPRNG.from_int(7),
        )
    )
    port = await bound
    parties = []
    for u, values in inputs.items():
        client = SecAggClient(u, rng=KeyedPRNG.from_int(1000 + u))
        client.set_input(values)
        parties.append(run_client_async(client, "127.0.0.1", port))
    await asyncio.gather(*parties)
    report = await server
    wall = time.perf_counter() - started
    if report.aggregate is None:
        raise AssertionError(report.abort_reason)
    expected = np.sum([inputs[u] for u in sorted(report.survivors)], axis=0)
    assert np.array_equal(report.aggregate.sum, expected)
    return {
        "wall_s": wall,
        "session_s": report.session_seconds,
        "server_compute_s": report.server_cost.total.seconds,
        "wire_mb": (report.transport.bytes_sent + report.transport.bytes_received) / 1e6,
    }


def _in_process(inputs: dict[int, np.ndarray]) -> dict[str, float]:
    started = time.perf_counter()
    res = simulate(inputs, ENCODING, graph=_graph(), rng=KeyedPRNG.from_int(7))
    wall = time.perf_counter() - started
    if res.aggregate is None:
        raise AssertionError(res.abort_reason)
    return {"wall_s": wall, "compute_s": res.compute_seconds}


def _report(benchmark: Any, label: str, info: dict[str, float]) -> None:
    benchmark.extra_info.update({"n": N, "dim": DIM, **info})
    if FULL:
        print(f"\n[{label}] n={N} dim={DIM} " + ", ".join(f"{k}={v:.3f}" for k, v in info.items()))


@pytest.mark.benchmark(group="secagg-network")
def test_secaggplus_over_loopback_tcp(benchmark: Any) -> None:
    inputs = _inputs()
    info: dict[str, float] = {}
    benchmark.pedantic(
        lambda: info.update(asyncio.run(_tcp_session(inputs))), rounds=1, iterations=1
    )
    _report(benchmark, "tcp", info)


@pytest.mark.benchmark(group="secagg-network")
def test_secaggplus_in_process(benchmark: Any) -> None:
    inputs = _inputs()
    info: dict[str, float] = {}
    benchmark.pedantic(lambda: info.update(_in_process(inputs)), rounds=1, iterations=1)
    _report(benchmark, "in process", info)
