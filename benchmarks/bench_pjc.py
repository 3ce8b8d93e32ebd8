"""Private intersection-sum (Ion et al. 2020): end-to-end time and bytes, in process and over TCP.

Default sizes are a smoke test (200 x 200 identifiers). ``HEPRIM_BENCH_FULL=1`` selects the
issue's size: 10,000 x 10,000 identifiers with 50% overlap, one integer value per row of the
right party, Paillier keys from the fixed primes of ``tests/vectors`` (key generation is timed
separately: it is a one-off), X25519 (default) and the RFC 3526 MODP group for comparison.

* ``pjc-e2e``: both parties in one process, one after the other (the sum of both parties'
  compute), for 2048- and 3072-bit Paillier keys; and the size-only variant.
* ``pjc-tcp``: the right party in a second process serving on loopback, the left party here:
  one process per party, so the right party's offline encryption overlaps the left party's
  first round. Wall-clock time of the whole session as the left party sees it.

``extra_info`` records per-round seconds and bytes of each party. Run:

    HEPRIM_BENCH_FULL=1 pytest benchmarks/bench_pjc.py --benchmark-enable -s

No peer library implements this protocol in Python (Google's private-join-and-compute is C++
with its own Bazel build), so there is no comparison group.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from _paillier_keys import PRIMES, fixed_key

from heprim.errors import InsecureParametersWarning
from heprim.net.tcp import connect
from heprim.paillier.keys import generate_keypair
from heprim.pjc import (
    IdentifierParty,
    PJCRun,
    ValueParty,
    WireEndpoint,
    intersection_sum,
    run_in_process,
)
from heprim.pjc.cost import CostLedger, format_bytes, format_costs
from heprim.pjc.messages import Round

FULL = os.environ.get("HEPRIM_BENCH_FULL") == "1"
SIZE = 10_000 if FULL else 200
ROOT = Path(__file__).resolve().parents[1]


def _data(n: int) -> tuple[list[str], list[str], list[int], int, int]:
    """``n`` left and ``n`` right identifiers sharing ``n / 2``; values; expected size and sum."""
    left = [f"customer-{i:08d}@example.org" for i in range(n)]
    right = [f"customer-{i:08d}@example.org" for i in range(n // 2, n + n // 2)]
    values = [(i * 7919 + 13) % 1_000_000 for i in range(n)]
    shared = set(left)
    total = sum(v for r, v in zip(right, values, strict=True) if r in shared)
    return left, right, values, len(shared & set(right)), total


def _info(left: CostLedger | None, right: CostLedger | None) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for name, ledger in (("A", left), ("B", right)):
        if ledger is None:
            continue
        for r in Round:
            cost = ledger.rounds[r]
            if cost.seconds or cost.bytes_sent:
                info[f"{name}_{r.name.lower()}_s"] = round(cost.seconds, 3)
                info[f"{name}_{r.name.lower()}_sent"] = cost.bytes_sent
    return info


def _report(benchmark: Any, label: str, info: dict[str, Any], table: str) -> None:
    benchmark.extra_info.update(info)
    if FULL:
        print(f"\n[{label}] " + ", ".join(f"{k}={v}" for k, v in info.items()))
        print(table)


E2E_CASES = [("x25519", 2048), ("x25519", 3072), ("modp2048", 2048)] if FULL else [("x25519", 2048)]
TCP_BITS = [2048, 3072] if FULL else [2048]


@pytest.mark.parametrize(("group", "bits"), E2E_CASES)
def test_pjc_in_process(benchmark: Any, group: str, bits: int) -> None:
    benchmark.group = "pjc-e2e"
    left, right, values, size, total = _data(SIZE)
    key = fixed_key(bits)
    box: list[PJCRun] = []

    def session() -> None:
        box.append(
            intersection_sum(left, right, values, group=group, private_key=key, allow_insecure=True)
        )

    benchmark.pedantic(session, rounds=1, iterations=1)
    run = box[-1]
    assert run.left is not None and run.left.size == size and run.left.sum == total
    info = {"n": SIZE, "bits": bits, "group": group, "seconds": round(run.seconds, 2)}
    info["bytes"] = run.total_bytes
    info.update(_info(run.left_cost, run.right_cost))
    _report(
        benchmark,
        f"pjc {group} {bits}",
        info,
        format_costs(run.left_cost, run.right_cost) + f"\n{format_bytes(run.total_bytes)}",
    )


def test_pjc_size_only(benchmark: Any) -> None:
    benchmark.group = "pjc-e2e"
    left, right, _, size, _ = _data(SIZE)
    box: list[PJCRun] = []
    benchmark.pedantic(lambda: box.append(intersection_sum(left, right)), rounds=1, iterations=1)
    run = box[-1]
    assert run.left is not None and run.left.size == size and run.left.sums is None
    info = {"n": SIZE, "seconds": round(run.seconds, 2), "bytes": run.total_bytes}
    _report(benchmark, "pjc size only", info, format_costs(run.left_cost, run.right_cost))


def test_pjc_key_generation(benchmark: Any) -> None:
    """The one-off cost the end-to-end figures leave out (random 1024/1536-bit Blum primes)."""
    benchmark.group = "pjc-keygen"
    bits = 3072 if FULL else 1024
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        benchmark.pedantic(
            lambda: generate_keypair(bits, allow_insecure=True), rounds=1, iterations=1
        )


PEER = """
import json, sys, warnings
from heprim.errors import InsecureParametersWarning
from heprim.math.prng import KeyedPRNG
from heprim.net.tcp import serve
from heprim.paillier.keys import PrivateKey
from heprim.pjc import ValueParty, WireEndpoint
warnings.simplefilter("ignore", InsecureParametersWarning)
n, bits, primes = int(sys.argv[1]), sys.argv[2], sys.argv[3]
entry = json.load(open(primes))["keys"][bits]
key = PrivateKey.from_primes(int(entry["p"], 16), int(entry["q"], 16), allow_insecure=True,
                             rng=KeyedPRNG.from_int(1))
right = [f"customer-{i:08d}@example.org" for i in range(n // 2, n + n // 2)]
values = [(i * 7919 + 13) % 1_000_000 for i in range(n)]
party = ValueParty(right, values, private_key=key, allow_insecure=True)
def ready(host, port):
    print(port, flush=True)
report = serve(WireEndpoint(party), "127.0.0.1", 0, ready=ready)
print(json.dumps({"prepare_s": party.cost.rounds[0].seconds, "sent": report.bytes_sent}))
"""


@pytest.mark.parametrize("bits", TCP_BITS)
def test_pjc_two_processes(benchmark: Any, bits: int) -> None:
    benchmark.group = "pjc-tcp"
    left, _, _, size, total = _data(SIZE)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    box: list[tuple[IdentifierParty, float]] = []

    def session() -> None:
        with subprocess.Popen(
            [sys.executable, "-c", PEER, str(SIZE), str(bits), str(PRIMES)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        ) as peer:
            assert peer.stdout is not None
            port = int(peer.stdout.readline())
            party = IdentifierParty(left, allow_insecure=True)
            start = time.perf_counter()
            report = connect(WireEndpoint(party), "127.0.0.1", port)
            seconds = time.perf_counter() - start
            peer_info = json.loads(peer.stdout.readline())
            peer.wait(60)
        box.append((party, seconds))
        benchmark.extra_info.update(
            {
                "bytes": report.bytes_sent + report.bytes_received,
                "B_prepare_s": round(peer_info["prepare_s"], 2),
            }
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        benchmark.pedantic(session, rounds=1, iterations=1)
    party, seconds = box[-1]
    assert party.result is not None and party.result.size == size and party.result.sum == total
    info = {"n": SIZE, "bits": bits, "wall_s": round(seconds, 2), **benchmark.extra_info}
    info.update(_info(party.cost, None))
    _report(benchmark, f"pjc tcp {bits}", info, format_costs(party.cost, None))


def test_run_in_process_matches_the_parties(benchmark: Any) -> None:
    """Smoke: the sans-I/O parties driven by hand give what the recipe gives."""
    benchmark.group = "pjc-e2e"
    left, right, values, size, total = _data(50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        a = IdentifierParty(left, allow_insecure=True)
        b = ValueParty(right, values, private_key=fixed_key(1024), allow_insecure=True)
        run = benchmark.pedantic(lambda: run_in_process(a, b), rounds=1, iterations=1)
    assert run.left is not None and (run.left.size, run.left.sum) == (size, total)
