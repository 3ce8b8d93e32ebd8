"""heprim's SecAgg+ inside Flower (``pip install heprim[flower]``): a client mod, a server workflow.

Flower 1.42's own SecAgg+ (``flwr.client.mod.secaggplus_mod``) folds pairwise seeds to 32 bits
and expands them with numpy's Mersenne Twister, clips silently at 8, never checks the modulus
against the number of clients and uploads int64 words. This integration runs heprim's protocol
objects unchanged inside Flower instead: the same :class:`~heprim.secagg.client.SecAggClient` and
:class:`~heprim.secagg.server.SecAggServer` as the in-process simulator, their messages carried in
a Flower ``ConfigRecord`` under :data:`RECORD_KEY`.

* Client side: add :func:`secagg_mod` to the ``ClientApp``'s mods. It answers the protocol's
  messages and, at the masked-input round, calls the app's ``train`` function, flattens the
  returned ``ArrayRecord``, masks it and sends *only* the masked vector (the plaintext arrays and
  metrics never leave the node). With a weighted encoding the weight is the ``num-examples``
  entry of the reply's ``MetricRecord``. The client state lives in the node's
  ``context.state`` between rounds (Flower may run every message in a fresh process).
* Server side: :class:`SecAggWorkflow` runs one aggregation over a ``Grid`` from a
  ``ServerApp``'s ``main``: four (or five, active profile) ``send_and_receive`` rounds; a node
  that errs, times out or misbehaves counts as dropped.

Only the semi-honest profile is wired up: the active profile needs a PKI of client signing keys
that Flower does not provide.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from heprim.errors import ParameterError, ProtocolError, SerializationError
from heprim.math.prng import PRNG, default_rng
from heprim.secagg.client import SecAggClient
from heprim.secagg.encoding import Aggregate, VectorEncoding
from heprim.secagg.graph import GraphParams
from heprim.secagg.messages import Message as SecAggMessage
from heprim.secagg.messages import SharesDelivery, decode, encode
from heprim.secagg.server import SecAggServer, ServerStage, SessionConfig

if TYPE_CHECKING:  # flwr is optional: without it these names are Any for the type checker
    from flwr.app import (  # type: ignore[import-not-found,unused-ignore]
        ArrayRecord,
        Context,
        Message,
        RecordDict,
    )
    from flwr.serverapp import Grid  # type: ignore[import-not-found,unused-ignore]

__all__ = ["RECORD_KEY", "SecAggWorkflow", "flatten", "secagg_mod", "unflatten"]

RECORD_KEY: Final = "heprim.secagg"
"""The ConfigRecord that carries a heprim secure-aggregation message."""
_FIELD: Final = "message"
_STATE_KEY: Final = "heprim.secagg.state"


def flatten(arrays: ArrayRecord) -> npt.NDArray[np.float64]:
    """All arrays of a Flower ``ArrayRecord`` as one float64 vector, in record order."""
    parts = [np.asarray(a, dtype=np.float64).ravel() for a in arrays.to_numpy_ndarrays()]
    return np.concatenate(parts) if parts else np.zeros(0)


def unflatten(vector: npt.ArrayLike, like: ArrayRecord) -> ArrayRecord:
    """The inverse of :func:`flatten`: cut ``vector`` into arrays shaped like those of ``like``."""
    from flwr.app import ArrayRecord

    flat = np.asarray(vector).ravel()
    templates = like.to_numpy_ndarrays()
    total = sum(a.size for a in templates)
    if total != flat.shape[0]:
        raise ParameterError(f"a vector of {flat.shape[0]} values cannot fill arrays of {total}")
    arrays, offset = [], 0
    for a in templates:
        arrays.append(flat[offset : offset + a.size].reshape(a.shape).astype(a.dtype, copy=False))
        offset += a.size
    return ArrayRecord(arrays)


def _wrap(message: SecAggMessage) -> RecordDict:
    from flwr.app import ConfigRecord, RecordDict

    return RecordDict({RECORD_KEY: ConfigRecord({_FIELD: encode(message)})})


def _unwrap(content: RecordDict) -> SecAggMessage | None:
    record = content.config_records.get(RECORD_KEY)
    if record is None or _FIELD not in record:
        return None
    data = record[_FIELD]
    if not isinstance(data, bytes):
        raise SerializationError("the heprim.secagg record must hold bytes")
    return decode(data)


def secagg_mod(
    msg: Message, ctxt: Context, call_next: Callable[[Message, Context], Message]
) -> Message:
    """Flower client mod: run heprim's SecAgg+ client around the app's ``train`` function.

    Messages without a :data:`RECORD_KEY` record pass straight through to ``call_next``.
    """
    from flwr.app import ConfigRecord, Message, MessageType, RecordDict

    if msg.metadata.message_type != MessageType.TRAIN:
        return call_next(msg, ctxt)
    incoming = _unwrap(msg.content)
    if incoming is None:
        return call_next(msg, ctxt)
    stored = ctxt.state.config_records.get(_STATE_KEY)
    if stored is not None and incoming.KIND != 1:  # anything but a Setup continues a session
        client = SecAggClient.from_state(_state_bytes(stored))
    else:
        client = SecAggClient(incoming.recipient)
    if isinstance(incoming, SharesDelivery):
        # The masked-input round: train now, on the content the server sent with the shares
        # (the app's train function ignores the heprim record, as it ignores Flower's own).
        reply = call_next(msg, ctxt)
        arrays = next(iter(reply.content.array_records.values()), None)
        if arrays is None:
            raise ParameterError("the train function must reply with an ArrayRecord")
        setup = client.setup
        weight = None
        if setup is not None and setup.encoding.weighted:
            metrics = next(iter(reply.content.metric_records.values()), None)
            count = None if metrics is None else metrics.get("num-examples")
            if not isinstance(count, int | float):
                raise ParameterError("a weighted session needs 'num-examples' in a MetricRecord")
            weight = int(count)
        values: npt.NDArray[Any] = flatten(arrays)
        if setup is not None and setup.encoding.kind == "int":
            values = np.rint(values).astype(np.int64)
        client.set_input(values, weight=weight)
    replies = client.handle(incoming)
    ctxt.state.config_records[_STATE_KEY] = ConfigRecord({"blob": client.export_state()})
    out = _wrap(replies[0]) if replies else RecordDict()
    return Message(out, reply_to=msg)


def _state_bytes(record: Any) -> bytes:
    blob = record.get("blob")
    if not isinstance(blob, bytes):
        raise SerializationError("corrupt heprim.secagg client state in the node context")
    return blob


class SecAggWorkflow:
    """Server side: one secure aggregation over a Flower ``Grid``.

    Args:
        encoding: how clients encode their flattened model (e.g.
            ``VectorEncoding.floats(-1, 1, 16, max_weight=10_000)``).
        corrupted_fraction, dropout_rate: drive :func:`~heprim.secagg.graph.choose_graph`.
        graph: or force the graph.
        timeout: seconds to wait for the replies of each round (``None``: wait for all).
        rng: randomness for the session id.
    """

    def __init__(
        self,
        encoding: VectorEncoding,
        *,
        corrupted_fraction: float = 0.1,
        dropout_rate: float = 0.1,
        graph: GraphParams | None = None,
        timeout: float | None = None,
        rng: PRNG | None = None,
    ) -> None:
        self.encoding = encoding
        self.corrupted_fraction = corrupted_fraction
        self.dropout_rate = dropout_rate
        self.graph = graph
        self.timeout = timeout
        self._rng = default_rng(rng)
        self.last_server: SecAggServer | None = None

    def run(
        self,
        grid: Grid,
        node_ids: Sequence[int],
        dim: int,
        *,
        train_content: RecordDict | None = None,
        group_id: str = "",
    ) -> Aggregate:
        """Aggregate the ``dim``-long vectors that ``node_ids`` produce by training.

        ``train_content`` (e.g. the global model's ``ArrayRecord``) reaches each client's
        ``train`` function at the masked-input round.

        Raises:
            SessionAbortedError: too many nodes dropped out (the reason says which secret).
        """
        from flwr.app import Message, MessageType

        nodes = sorted(int(x) for x in node_ids)
        client_of = {node: i + 1 for i, node in enumerate(nodes)}
        node_of = {i + 1: node for i, node in enumerate(nodes)}
        config = SessionConfig.create(
            list(node_of),
            dim,
            self.encoding,
            graph=self.graph,
            corrupted_fraction=self.corrupted_fraction,
            dropout_rate=self.dropout_rate,
            rng=self._rng,
        )
        server = SecAggServer(config)
        self.last_server = server
        outbox = server.start()
        while outbox:
            messages = []
            for m in outbox:
                content = _wrap(m)
                if isinstance(m, SharesDelivery) and train_content is not None:
                    for key, record in train_content.items():
                        content[key] = record
                messages.append(
                    Message(
                        content=content,
                        dst_node_id=node_of[m.recipient],
                        message_type=MessageType.TRAIN,
                        group_id=group_id,
                    )
                )
            replies = grid.send_and_receive(messages, timeout=self.timeout)
            if server.stage is ServerStage.ABORTED:
                break  # what was just sent were the abort notices
            next_box: list[SecAggMessage] = []
            for reply in replies:
                if reply.has_error() or reply.metadata.src_node_id not in client_of:
                    continue
                try:
                    incoming = _unwrap(reply.content)
                    if incoming is not None:
                        next_box.extend(server.handle(incoming))
                except (ProtocolError, SerializationError):
                    continue  # a misbehaving node is treated as dropped
            if not next_box and server.collecting:
                next_box = server.close_round()
            outbox = next_box
        return server.result
