"""ServerApp: FedAvg where the server only learns the weighted sum, through heprim's SecAgg+."""

from __future__ import annotations

import time

import numpy as np
from flwr.app import ArrayRecord, Context, RecordDict
from flwr.serverapp import Grid, ServerApp

from flower_secagg.task import FEATURES, TRUE_WEIGHTS
from heprim.contrib.flower import SecAggWorkflow, unflatten
from heprim.secagg import VectorEncoding

app = ServerApp()
DEFAULTS = {  # the values of pyproject.toml, for runners that do not read it
    "num-server-rounds": 5,
    "num-clients": 10,
    "clip": 1.0,
    "quantization-bits": 16,
    "dropout-rate": 0.1,
}


def _wait_for_nodes(grid: Grid, count: int, timeout: float = 120.0) -> list[int]:
    deadline = time.monotonic() + timeout
    nodes: list[int] = []
    while time.monotonic() < deadline:
        nodes = list(grid.get_node_ids())
        if len(nodes) >= count:
            break
        time.sleep(0.2)
    return nodes


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run FedAvg rounds; each round is one SecAgg+ session over the connected nodes."""
    cfg = {**DEFAULTS, **context.run_config}
    clip = float(cfg["clip"])
    # The clipping range is the user's choice, and so is the precision: no hidden default.
    encoding = VectorEncoding.floats(-clip, clip, int(cfg["quantization-bits"]), max_weight=10_000)
    workflow = SecAggWorkflow(encoding, dropout_rate=float(cfg["dropout-rate"]))
    model = ArrayRecord([np.zeros(FEATURES)])
    for server_round in range(1, int(cfg["num-server-rounds"]) + 1):
        nodes = _wait_for_nodes(grid, int(cfg["num-clients"]))
        aggregate = workflow.run(
            grid,
            nodes,
            FEATURES,
            train_content=RecordDict({"arrays": model}),
            group_id=str(server_round),
        )
        model = unflatten(aggregate.mean(), model)
        error = float(np.linalg.norm(model.to_numpy_ndarrays()[0] - TRUE_WEIGHTS))
        graph = workflow.last_server.config.graph if workflow.last_server else None
        print(
            f"round {server_round}: {aggregate.count} of {len(nodes)} clients summed "
            f"(k={graph.k if graph else '?'}, t={graph.t if graph else '?'}), "
            f"|w - w*| = {error:.4f}"
        )
