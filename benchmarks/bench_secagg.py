"""Secure aggregation: heprim's SecAgg+ against Flower 1.42's SecAgg+, same n, k, t, dropouts.

Default sizes are a smoke test (seconds). ``HEPRIM_BENCH_FULL=1`` selects the issue's sizes:

* ``secagg-n100``: n = 100 clients, 100,000 values, 10% of the clients drop out after sending
  their masked input; heprim and Flower run with the same degree k and threshold t (Flower's
  ``num_shares`` is k + 1: it counts the client itself). Flower is driven through its real
  ``SecAggPlusWorkflow`` and ``secaggplus_mod`` over an in-process ``Grid`` (no network, no
  serialisation), so both sides are timed on protocol compute only.
* ``secagg-n1000``: heprim alone, n = 1,000, 100,000 values, 10% dropout before the masked
  input (the expensive case: the server rebuilds each dropped client's mask key and removes
  its k pairwise masks).

``extra_info`` records the compute time of the server and of all clients, and the upload per
client against the bytes of the packed masked vector. Run:

    HEPRIM_BENCH_FULL=1 pytest benchmarks/bench_secagg.py --benchmark-enable -s
"""

from __future__ import annotations

import copy
import os
import time
from typing import Any

import numpy as np
import pytest

from heprim.math.prng import KeyedPRNG
from heprim.net.simulate import DropoutSchedule, simulate
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.graph import choose_graph
from heprim.secagg.messages import Round

FULL = os.environ.get("HEPRIM_BENCH_FULL") == "1"
N100, DIM100 = (100, 100_000) if FULL else (20, 20_000)
N1000, DIM1000 = (1000, 100_000) if FULL else (40, 2_000)
DROPOUT = 0.1
CLIP = 1.0
QUANT_BITS = 22  # Flower's default quantisation range is 2^22


def _float_inputs(n: int, dim: int) -> dict[int, Any]:
    rng = KeyedPRNG.from_int(n)
    out = {}
    for u in range(1, n + 1):
        words = np.frombuffer(rng.random_bytes(8 * dim), dtype="<u8")
        out[u] = (words >> np.uint64(11)).astype(np.float64) * 2.0**-52 - 1.0  # in [-1, 1)
    return out


def _report(benchmark: Any, label: str, info: dict[str, float]) -> None:
    benchmark.extra_info.update(info)
    if FULL:
        pairs = ", ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items()
        )
        print(f"\n[{label}] {pairs}")


# ------------------------------------------------------------------------------------ heprim
def _heprim_session(n: int, dim: int, drop_round: Round) -> dict[str, float]:
    inputs = _float_inputs(n, dim)
    ids = list(inputs)
    graph = choose_graph(n, corrupted_fraction=0.1, dropout_rate=DROPOUT)
    rng = KeyedPRNG.from_int(7)
    schedule = DropoutSchedule.random(ids, DROPOUT, drop_round, rng)
    res = simulate(
        inputs,
        VectorEncoding.floats(-CLIP, CLIP, QUANT_BITS),
        graph=graph,
        dropouts=schedule,
        rng=rng,
    )
    if res.aggregate is None:
        raise AssertionError(res.abort_reason)
    expected = sum(inputs[u] for u in res.survivors)
    # Stochastic rounding: each client errs by < 1 level, so the sum by < n levels.
    assert np.max(np.abs(res.aggregate.sum - expected)) <= n * 2 * CLIP / (2**QUANT_BITS - 1)
    packed = dim * res.config.width // 8
    upload = max(c.total.bytes_sent for c in res.client_costs.values())
    if dim >= 20_000:  # the key-sharing bytes are amortised only over a real model
        assert upload <= 1.1 * packed
    clients = sum(c.total.seconds for c in res.client_costs.values())
    return {
        "n": n,
        "k": graph.k,
        "t": graph.t,
        "server_s": res.server_cost.total.seconds,
        "clients_s": clients,
        "per_client_s": clients / n,
        "compute_s": res.compute_seconds,
        "upload_ratio": upload / packed,
    }


@pytest.mark.benchmark(group="secagg-n100")
def test_heprim_secaggplus_n100(benchmark: Any) -> None:
    info: dict[str, float] = {}
    benchmark.pedantic(
        lambda: info.update(_heprim_session(N100, DIM100, Round.UNMASK)), rounds=1, iterations=1
    )
    _report(benchmark, "heprim n100", info)


@pytest.mark.benchmark(group="secagg-n1000")
def test_heprim_secaggplus_n1000(benchmark: Any) -> None:
    info: dict[str, float] = {}
    benchmark.pedantic(
        lambda: info.update(_heprim_session(N1000, DIM1000, Round.MASKED_INPUT)),
        rounds=1,
        iterations=1,
    )
    _report(benchmark, "heprim n1000", info)


# ------------------------------------------------------------------------------------ Flower
def _flower_session(n: int, dim: int) -> dict[str, float]:
    """Flower 1.42's SecAggPlusWorkflow + secaggplus_mod over an in-process Grid."""
    flwr = pytest.importorskip("flwr")
    import flwr.compat.common.recorddict_compat as compat
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
    from flwr.client.mod import secaggplus_mod
    from flwr.common import FitRes, Status, ndarrays_to_parameters
    from flwr.common.typing import Code
    from flwr.server.client_manager import SimpleClientManager
    from flwr.server.client_proxy import ClientProxy
    from flwr.server.compat.legacy_context import LegacyContext
    from flwr.server.strategy import FedAvg
    from flwr.server.workflow import SecAggPlusWorkflow
    from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
    from flwr.serverapp import Grid
    from flwr.supercore.task_identity import TaskIdentity

    del flwr
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 0
    inputs = _float_inputs(n, dim)
    graph = choose_graph(n, corrupted_fraction=0.1, dropout_rate=DROPOUT)
    node_ids = list(range(1, n + 1))
    dropped = DropoutSchedule.random(node_ids, DROPOUT, Round.UNMASK, KeyedPRNG.from_int(7))
    dropped_ids = dropped.dropped_by(Round.UNMASK)
    contexts = {
        u: Context(run_id=1, node_id=u, node_config={}, state=RecordDict(), run_config={})
        for u in node_ids
    }
    timer = {"client": 0.0, "stage": 0}

    class Proxy(ClientProxy):
        def __init__(self, node_id: int) -> None:
            super().__init__(str(node_id))
            self.node_id = node_id

        def get_properties(self, *a: Any, **k: Any) -> Any:  # pragma: no cover
            raise NotImplementedError

        def get_parameters(self, *a: Any, **k: Any) -> Any:  # pragma: no cover
            raise NotImplementedError

        def fit(self, *a: Any, **k: Any) -> Any:  # pragma: no cover
            raise NotImplementedError

        def evaluate(self, *a: Any, **k: Any) -> Any:  # pragma: no cover
            raise NotImplementedError

        def reconnect(self, *a: Any, **k: Any) -> Any:  # pragma: no cover
            raise NotImplementedError

    class LocalGrid(Grid):
        """Delivers each message to the node's mod in process; dropped nodes stay silent."""

        def set_run(self, run: Any) -> None:  # pragma: no cover
            pass

        @property
        def run(self) -> Any:  # pragma: no cover
            return None

        def create_message(self, *a: Any, **k: Any) -> Any:  # pragma: no cover
            raise NotImplementedError

        def get_node_ids(self) -> list[int]:
            return node_ids

        def push_messages(self, messages: Any) -> Any:  # pragma: no cover
            raise NotImplementedError

        def pull_messages(self, message_ids: Any) -> Any:  # pragma: no cover
            raise NotImplementedError

        def send_and_receive(self, messages: Any, *, timeout: float | None = None) -> Any:
            replies = []
            stage = timer["stage"]
            timer["stage"] += 1
            for sent in messages:
                node = sent.metadata.dst_node_id
                if stage == 3 and node in dropped_ids:
                    continue
                TaskIdentity.node_id = node
                # A real transport gives every node its own copy (the mod pops keys from it).
                msg = Message(
                    content=copy.deepcopy(sent.content),
                    dst_node_id=node,
                    message_type=sent.metadata.message_type,
                    group_id=sent.metadata.group_id,
                )

                def train(m: Message, ctx: Context, node: int = node) -> Message:
                    fitres = FitRes(
                        Status(Code.OK, ""), ndarrays_to_parameters([inputs[node]]), 1, {}
                    )
                    return Message(compat.fitres_to_recorddict(fitres, True), reply_to=m)

                start = time.perf_counter()
                replies.append(secaggplus_mod(msg, contexts[node], train))
                timer["client"] += time.perf_counter() - start
            TaskIdentity.node_id = 0
            return replies

    manager = SimpleClientManager()
    for u in node_ids:
        manager.register(Proxy(u))
    base = Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={})
    strategy = FedAvg(fraction_fit=1.0, min_fit_clients=n, min_available_clients=n)
    context = LegacyContext(base, strategy=strategy, client_manager=manager)
    context.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord({"current_round": 1})
    context.state.array_records[MAIN_PARAMS_RECORD] = ArrayRecord([np.zeros(dim)])
    workflow = SecAggPlusWorkflow(
        num_shares=graph.k + 1,
        reconstruction_threshold=graph.t,
        max_weight=1.0,
        clipping_range=CLIP,
        quantization_range=2**QUANT_BITS,
    )
    start = time.perf_counter()
    workflow(LocalGrid(), context)
    total = time.perf_counter() - start
    result = context.state.array_records[MAIN_PARAMS_RECORD].to_numpy_ndarrays()[0]
    # FedAvg divides by the summed weights (all 1): the mean over the survivors.
    survivors = node_ids  # dropped after masked input: still in the sum
    expected = sum(inputs[u] for u in survivors) / len(survivors)
    assert np.max(np.abs(result - expected)) < 1e-3
    return {
        "n": n,
        "k": graph.k,
        "t": graph.t,
        "server_s": total - timer["client"],
        "clients_s": timer["client"],
        "per_client_s": timer["client"] / n,
        "compute_s": total,
        "upload_ratio": 2.0,  # int64 words for 32-bit values
    }


@pytest.mark.peer
@pytest.mark.benchmark(group="secagg-n100")
def test_flower_secaggplus_n100(benchmark: Any) -> None:
    pytest.importorskip("flwr")
    info: dict[str, float] = {}
    benchmark.pedantic(lambda: info.update(_flower_session(N100, DIM100)), rounds=1, iterations=1)
    _report(benchmark, "flower n100", info)
