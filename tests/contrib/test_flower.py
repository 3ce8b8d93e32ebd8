"""heprim's SecAgg+ inside Flower: the mod and the workflow, run through Flower's engine.

The end-to-end test starts Flower's simulation runtime (Ray backend), so it needs
``heprim[flower]`` and ``ray`` (``flwr[simulation]``); it is skipped cleanly without them.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

flwr = pytest.importorskip("flwr")

from flwr.app import (  # noqa: E402
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MetricRecord,
    RecordDict,
)

from heprim.contrib.flower import SecAggWorkflow, flatten, secagg_mod, unflatten  # noqa: E402
from heprim.errors import ParameterError  # noqa: E402
from heprim.secagg import VectorEncoding  # noqa: E402


def test_flatten_roundtrip() -> None:
    like = ArrayRecord([np.zeros((2, 3), dtype=np.float32), np.zeros(4)])
    vec = flatten(ArrayRecord([np.arange(6.0).reshape(2, 3), np.arange(4.0)]))
    assert vec.tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3]
    back = unflatten(vec, like).to_numpy_ndarrays()
    assert back[0].shape == (2, 3) and back[0].dtype == np.float32
    assert back[1].tolist() == [0, 1, 2, 3]
    with pytest.raises(ParameterError, match="cannot fill"):
        unflatten(np.zeros(3), like)


DIM = 12


def _apps(results: list, n: int):
    pytest.importorskip("ray")
    from flwr.clientapp import ClientApp
    from flwr.serverapp import ServerApp

    client_app = ClientApp(mods=[secagg_mod])

    @client_app.train()
    def train(msg: Message, context: Context) -> Message:
        pid = int(context.node_config["partition-id"])
        fail = msg.content.config_records["task"]["fail"]
        if pid == fail:
            raise RuntimeError("this node crashes during training")
        update = np.arange(DIM, dtype=np.float64) + 10.0 * (pid + 1)
        content = RecordDict(
            {"arrays": ArrayRecord([update]), "metrics": MetricRecord({"num-examples": pid + 1})}
        )
        return Message(content, reply_to=msg)

    server_app = ServerApp()

    @server_app.main()
    def main(grid, context: Context) -> None:
        deadline = time.monotonic() + 60
        nodes: list[int] = []
        while len(nodes) < n and time.monotonic() < deadline:
            nodes = list(grid.get_node_ids())
            time.sleep(0.05)
        workflow = SecAggWorkflow(
            VectorEncoding.integers(0, 1000), corrupted_fraction=0.0, dropout_rate=0.25
        )
        for fail in (-1, n - 1):  # first nobody fails, then the last node crashes
            task = RecordDict({"task": ConfigRecord({"fail": fail})})
            agg = workflow.run(grid, nodes, DIM, train_content=task, group_id=str(fail))
            results.append((fail, agg.count, agg.sum.tolist()))

    return server_app, client_app


@pytest.mark.peer
@pytest.mark.slow
def test_secagg_through_flower_simulation_is_exact() -> None:
    from flwr.simulation import run_simulation

    n, results = 4, []
    server_app, client_app = _apps(results, n)
    run_simulation(
        server_app,
        client_app,
        num_supernodes=n,
        backend_config={
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"num_cpus": 2},
        },
    )
    expected_all = (np.arange(DIM) * n + 10.0 * sum(range(1, n + 1))).tolist()
    expected_drop = (np.arange(DIM) * (n - 1) + 10.0 * sum(range(1, n))).tolist()
    assert results == [(-1, n, expected_all), (n - 1, n - 1, expected_drop)]
