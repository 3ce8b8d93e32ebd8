"""The in-process driver: one server and n clients in one Python process, with dropouts.

The simulator moves messages and nothing else: the protocol lives in the sans-I/O
:class:`~heprim.secagg.server.SecAggServer` and :class:`~heprim.secagg.client.SecAggClient`
(:func:`simulate`), or in the server and parties of an HE aggregation protocol
(:func:`simulate_he`, for any :class:`~heprim.secagg.he_aggregation.HEDeployment`). Both run the
same loop (:func:`drive`). Every message is serialised and parsed on the way
(:func:`heprim.secagg.messages.encode` and ``decode``), so the bytes counted are the bytes a
network would carry and the codec is exercised end to end. A :class:`DropoutSchedule` says which
parties go silent at which round; the server then closes the round without them, as a network
driver would on a deadline.

``python -m heprim secagg simulate`` (:mod:`heprim.cli.secagg`) runs either.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt

from heprim.errors import ParameterError
from heprim.math.prng import PRNG, KeyedPRNG, default_rng
from heprim.secagg.client import SecAggClient
from heprim.secagg.cost import CostLedger
from heprim.secagg.crypto import SigningKey
from heprim.secagg.encoding import Aggregate, VectorEncoding
from heprim.secagg.graph import GraphParams, Profile
from heprim.secagg.he_aggregation import HEDeployment, HESessionConfig
from heprim.secagg.he_messages import HERound
from heprim.secagg.messages import Message, Round, decode, encode
from heprim.secagg.server import SecAggServer, SessionConfig

__all__ = [
    "DropoutSchedule",
    "HESimulationResult",
    "SimulationResult",
    "drive",
    "simulate",
    "simulate_he",
]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DropoutSchedule:
    """Which clients go silent, and from which round on.

    ``at[r]`` holds the clients that send nothing from round ``r`` on. For SecAgg
    (:class:`~heprim.secagg.messages.Round`) round 0 means they never advertise keys, round 1
    that they drop before sharing keys, round 2 after sharing keys (before their masked input),
    round 3 or 4 after their masked input (during the consistency check or the unmasking). For
    the HE protocols (:class:`~heprim.secagg.he_messages.HERound`) ``INPUT`` means they never
    send their ciphertexts (nor decrypt), ``DECRYPT`` that a decryptor is silent when asked for
    its shares.
    """

    at: Mapping[IntEnum, frozenset[int]] = field(default_factory=dict)

    @classmethod
    def none(cls) -> DropoutSchedule:
        """No dropouts."""
        return cls({})

    @classmethod
    def random(
        cls,
        participants: Sequence[int],
        rate: float,
        round_: IntEnum = Round.UNMASK,
        rng: PRNG | None = None,
    ) -> DropoutSchedule:
        """Drop ``round(rate * n)`` uniformly chosen clients at ``round_``."""
        if not 0.0 <= rate <= 1.0:
            raise ParameterError(f"a dropout rate is in [0, 1], got {rate}")
        rng = default_rng(rng)
        pool = sorted(participants)
        chosen: set[int] = set()
        for _ in range(round(rate * len(pool))):
            pick = pool.pop(rng.randbelow(len(pool)))
            chosen.add(pick)
        return cls({round_: frozenset(chosen)})

    def dropped_by(self, round_: IntEnum) -> frozenset[int]:
        """The clients silent in ``round_`` (they dropped at that round or earlier)."""
        out: frozenset[int] = frozenset()
        for r, clients in self.at.items():
            if r <= round_:
                out |= clients
        return out


@dataclass
class SimulationResult:
    """What one simulated session produced and cost.

    Attributes:
        aggregate: the decoded sum, or ``None`` if the session aborted.
        abort_reason: why it aborted, or ``None``.
        survivors: U_3, the clients whose inputs are in the sum.
        config: the session configuration (graph, threshold, modulus width).
        server_cost, client_costs: per-round time and traffic.
        seconds: wall-clock time of the whole simulation.
    """

    aggregate: Aggregate | None
    abort_reason: str | None
    survivors: frozenset[int]
    config: SessionConfig
    server_cost: CostLedger
    client_costs: dict[int, CostLedger]
    seconds: float
    clients: dict[int, SecAggClient] = field(repr=False, default_factory=dict)

    @property
    def compute_seconds(self) -> float:
        """Server plus all clients' protocol compute time (what a 1-core deployment would pay)."""
        return self.server_cost.total.seconds + sum(
            c.total.seconds for c in self.client_costs.values()
        )


def _client_rng(rng: PRNG, u: int) -> PRNG:
    return rng.derive(f"secagg-client-{u}") if isinstance(rng, KeyedPRNG) else rng


def simulate(
    inputs: Mapping[int, npt.ArrayLike | Callable[[], npt.ArrayLike]],
    encoding: VectorEncoding,
    *,
    dim: int | None = None,
    weights: Mapping[int, int] | None = None,
    graph: GraphParams | None = None,
    profile: Profile = "semi-honest",
    corrupted_fraction: float = 0.1,
    dropout_rate: float = 0.1,
    dropouts: DropoutSchedule | None = None,
    rng: PRNG | None = None,
    progress: Progress | None = None,
) -> SimulationResult:
    """Run one secure-aggregation session in process and return the result and its costs.

    Args:
        inputs: each client id's vector, or a callable producing it when it is needed (keeps
            memory flat for large simulations).
        encoding: the :class:`~heprim.secagg.encoding.VectorEncoding` of the session.
        dim: the vector length (required when every input is a callable).
        weights: each client's weight (weighted encodings only).
        graph: force the graph; by default chosen from ``corrupted_fraction`` and
            ``dropout_rate`` (:func:`~heprim.secagg.graph.choose_graph`).
        profile: ``"semi-honest"`` or ``"active"`` (signatures and a consistency round).
        dropouts: who drops out when; none by default.
        rng: randomness for everything (a seeded KeyedPRNG makes the run reproducible).
        progress: called with (client messages handled, expected total).

    An abort is not an exception here: it is reported in the result, since it is a legitimate
    outcome under heavy dropout. Protocol violations (which the honest parties of a simulation
    never commit) propagate as :class:`~heprim.errors.ProtocolError`.
    """
    rng = default_rng(rng)
    ids = sorted(inputs)
    if dim is None:
        sample = next((v for v in inputs.values() if not callable(v)), None)
        if sample is None:
            raise ParameterError("give dim= when every input is a callable")
        dim = int(np.asarray(sample).shape[0])
    signing: dict[int, SigningKey] = {}
    verify: dict[int, bytes] | None = None
    if profile == "active" or (graph is not None and graph.profile == "active"):
        profile = "active"
        signing = {u: SigningKey(rng=_client_rng(rng, -u)) for u in ids}
        verify = {u: key.public_bytes for u, key in signing.items()}
    config = SessionConfig.create(
        ids,
        dim,
        encoding,
        graph=graph,
        profile=profile,
        corrupted_fraction=corrupted_fraction,
        dropout_rate=dropout_rate,
        verify_keys=verify,
        rng=rng,
    )
    clients = {
        u: SecAggClient(
            u,
            profile=config.graph.profile,
            signing_key=signing.get(u),
            verify_keys=verify,
            rng=_client_rng(rng, u),
        )
        for u in ids
    }
    for u, client in clients.items():
        client.set_input(inputs[u], weight=None if weights is None else weights[u])
    schedule = dropouts or DropoutSchedule.none()
    server = SecAggServer(config)
    rounds = 5 if config.active else 4
    seconds = drive(
        server,
        clients,
        schedule,
        last_round=Round.UNMASK,
        progress=progress,
        total=rounds * len(ids),
    )
    aggregate = None if server.abort_reason else server.result
    return SimulationResult(
        aggregate=aggregate,
        abort_reason=server.abort_reason,
        survivors=server.survivors if aggregate is not None else frozenset(),
        config=config,
        server_cost=server.cost,
        client_costs={u: c.cost for u, c in clients.items()},
        seconds=seconds,
        clients=clients,
    )


class _Server(Protocol):
    """What :func:`drive` needs of a server: SecAgg's and every HE protocol's."""

    @property
    def collecting(self) -> bool: ...

    def start(self) -> list[Message]: ...

    def handle(self, message: Message) -> list[Message]: ...

    def close_round(self) -> list[Message]: ...


class _Party(Protocol):
    def handle(self, message: Message) -> list[Message]: ...


def drive(
    server: _Server,
    parties: Mapping[int, _Party],
    schedule: DropoutSchedule,
    *,
    last_round: IntEnum,
    progress: Progress | None = None,
    total: int = 0,
) -> float:
    """Move messages between ``server`` and ``parties`` until the session ends; wall seconds.

    Every message is encoded and decoded on the way. A message for a party that the schedule
    has silenced by the message's round (``last_round`` for round-less messages such as aborts)
    is dropped, and a round whose parties have all answered or gone silent is closed, as a
    network driver would at its deadline. ``progress(party messages handled, total)``.
    """
    done = 0
    start = time.perf_counter()
    outbox: list[Message] = server.start()
    while outbox:
        next_box: list[Message] = []
        for message in outbox:
            wire = decode(encode(message))
            round_ = message.ROUND if message.ROUND is not None else last_round
            # A dropped party hears nothing more, not even an abort.
            if message.recipient in schedule.dropped_by(round_):
                continue
            replies = parties[message.recipient].handle(wire)
            done += 1
            if progress is not None:
                progress(min(done, total), total)
            for reply in replies:
                next_box.extend(server.handle(decode(encode(reply))))
        if not next_box and server.collecting:
            next_box = server.close_round()
        outbox = next_box
    if progress is not None:
        progress(total, total)
    return time.perf_counter() - start


@dataclass
class HESimulationResult:
    """What one simulated HE aggregation produced and cost (fields as :class:`SimulationResult`).

    Attributes:
        aggregate: the decoded sum, or ``None`` if the session aborted.
        abort_reason: why it aborted, or ``None``.
        survivors: the clients whose inputs are in the sum.
        config: the session configuration.
        protocol: the deployment's name (``"paillier"``, ...).
        server_cost, client_costs: per-round time and traffic of the server and of every party
            (clients and decryptors).
        seconds: wall-clock time of the whole simulation.
        rejected: decryptors whose shares the server rejected, with the reason.
    """

    aggregate: Aggregate | None
    abort_reason: str | None
    survivors: frozenset[int]
    config: HESessionConfig
    protocol: str
    server_cost: CostLedger
    client_costs: dict[int, CostLedger]
    seconds: float
    rejected: dict[int, str] = field(default_factory=dict)

    @property
    def compute_seconds(self) -> float:
        """Server plus all parties' protocol compute time (what a 1-core deployment would pay)."""
        return self.server_cost.total.seconds + sum(
            c.total.seconds for c in self.client_costs.values()
        )


def simulate_he(
    inputs: Mapping[int, npt.ArrayLike | Callable[[], npt.ArrayLike]],
    encoding: VectorEncoding,
    deployment: HEDeployment,
    *,
    dim: int | None = None,
    weights: Mapping[int, int] | None = None,
    min_contributors: int = 2,
    dropouts: DropoutSchedule | None = None,
    rng: PRNG | None = None,
    progress: Progress | None = None,
) -> HESimulationResult:
    """Run one HE aggregation session in process and return the result and its costs.

    Args:
        inputs: each client id's vector, or a callable producing it when it is needed.
        encoding: the :class:`~heprim.secagg.encoding.VectorEncoding` of the session (the same
            as for :func:`simulate`, so results and costs compare).
        deployment: the protocol and its keys, e.g. a
            :class:`~heprim.secagg.he_paillier.PaillierDeployment`; its decryptors may be
            clients too (they are then one party with both roles) or extra parties.
        dim: the vector length (required when every input is a callable).
        weights: each client's weight (weighted encodings only).
        min_contributors: the fewest inputs the decryptors will open a sum of.
        dropouts: who goes silent when (:class:`~heprim.secagg.he_messages.HERound` keys).
        rng: randomness for everything (a seeded KeyedPRNG makes it reproducible).
        progress: called with (party messages handled, expected total).

    The deployment's one-off work (``deployment.prepare()``, e.g. fixed-base tables) runs first,
    outside the costs. An abort is reported in the result, not raised.
    """
    rng = default_rng(rng)
    ids = sorted(inputs)
    if dim is None:
        sample = next((v for v in inputs.values() if not callable(v)), None)
        if sample is None:
            raise ParameterError("give dim= when every input is a callable")
        dim = int(np.asarray(sample).shape[0])
    config = HESessionConfig.create(
        ids,
        dim,
        encoding,
        decryptors=deployment.decryptors,
        threshold=deployment.threshold,
        min_contributors=min_contributors,
        rng=rng,
    )
    deployment.prepare()
    parties = {u: deployment.party(u, rng=_client_rng(rng, u)) for u in config.parties}
    for u in ids:
        parties[u].set_input(inputs[u], weight=None if weights is None else weights[u])
    server = deployment.server(config)
    schedule = dropouts or DropoutSchedule.none()
    total = len(config.parties) + len(config.decryptors)
    seconds = drive(
        server, parties, schedule, last_round=HERound.DECRYPT, progress=progress, total=total
    )
    aggregate = None if server.abort_reason else server.result
    return HESimulationResult(
        aggregate=aggregate,
        abort_reason=server.abort_reason,
        survivors=server.survivors if aggregate is not None else frozenset(),
        config=config,
        protocol=deployment.name,
        server_cost=server.cost,
        client_costs={u: p.cost for u, p in parties.items()},
        seconds=seconds,
        rejected=dict(getattr(server, "rejected", {})),
    )
