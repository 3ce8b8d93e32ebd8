"""ClientApp: trains locally; heprim's ``secagg_mod`` masks the result before it leaves."""

from __future__ import annotations

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from flower_secagg.task import local_step
from heprim.contrib.flower import secagg_mod

app = ClientApp(mods=[secagg_mod])


@app.train()
def train(msg: Message, context: Context) -> Message:
    """One local step from the global weights; the mod turns the reply into a masked vector."""
    weights = msg.content.array_records["arrays"].to_numpy_ndarrays()[0]
    partition_id = int(context.node_config["partition-id"])
    lr = float(context.run_config.get("learning-rate", 1.0))
    new_weights, examples = local_step(weights, partition_id, lr)
    content = RecordDict(
        {
            "arrays": ArrayRecord([new_weights]),
            "metrics": MetricRecord({"num-examples": examples}),
        }
    )
    return Message(content, reply_to=msg)
