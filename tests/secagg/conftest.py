"""Helpers to drive sessions by hand (tests that tamper with messages need the raw objects)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pytest

from heprim.math.prng import KeyedPRNG
from heprim.secagg.client import SecAggClient
from heprim.secagg.crypto import SigningKey
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.graph import GraphParams
from heprim.secagg.messages import Message, decode, encode
from heprim.secagg.server import SecAggServer, SessionConfig


@dataclass
class Session:
    config: SessionConfig
    server: SecAggServer
    clients: dict[int, SecAggClient]
    inputs: dict[int, np.ndarray]
    signing: dict[int, SigningKey]

    def deliver(
        self,
        outbox: Iterable[Message],
        *,
        silent: Iterable[int] = (),
        tamper: Callable[[Message], Message] | None = None,
    ) -> list[Message]:
        """Send server messages to clients, their replies to the server; close if needed."""
        silent = set(silent)
        nxt: list[Message] = []
        for m in outbox:
            if m.recipient in silent:
                continue
            for reply in self.clients[m.recipient].handle(decode(encode(m))):
                sent = tamper(reply) if tamper is not None else reply
                nxt.extend(self.server.handle(decode(encode(sent))))
        if not nxt and self.server.waiting_for:
            nxt = self.server.close_round()
        return nxt


def make_session(
    n: int,
    *,
    dim: int = 4,
    profile: str = "semi-honest",
    graph: GraphParams | None = None,
    encoding: VectorEncoding | None = None,
    seed: int = 0,
) -> Session:
    rng = KeyedPRNG.from_int(seed)
    ids = list(range(1, n + 1))
    signing = {u: SigningKey(rng=rng.derive(f"id{u}")) for u in ids}
    verify = {u: k.public_bytes for u, k in signing.items()} if profile == "active" else None
    enc = encoding or VectorEncoding.integers(0, 1000)
    config = SessionConfig.create(
        ids,
        dim,
        enc,
        graph=graph,
        profile=profile,
        verify_keys=verify,  # type: ignore[arg-type]
        rng=rng,
    )
    clients = {
        u: SecAggClient(
            u,
            profile=config.graph.profile,
            signing_key=signing[u] if profile == "active" else None,
            verify_keys=verify,
            rng=rng.derive(f"c{u}"),
        )
        for u in ids
    }
    inputs = {u: (np.arange(dim) * u + 7 * u) % 1001 for u in ids}
    for u in ids:
        clients[u].set_input(inputs[u])
    return Session(config, SecAggServer(config), clients, inputs, signing)


@pytest.fixture
def session_factory() -> Callable[..., Session]:
    return make_session
