"""Shared fixtures for private intersection-sum: fixed Paillier keys and hand-driven sessions.

Keys come from the fixed primes of ``tests/vectors/paillier_test_primes.json`` (no key generation
in tests); 1024-bit keys are insecure and built with ``allow_insecure=True``, warnings silenced.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from heprim.errors import InsecureParametersWarning
from heprim.math.prng import KeyedPRNG
from heprim.paillier.keys import PrivateKey
from heprim.pjc.messages import Message, decode, encode
from heprim.pjc.party import IdentifierParty, ValueParty

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


@functools.cache
def private_key(bits: int = 1024) -> PrivateKey:
    entry = json.loads((VECTORS / "paillier_test_primes.json").read_text())["keys"][str(bits)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        return PrivateKey.from_primes(
            int(entry["p"], 16),
            int(entry["q"], 16),
            allow_insecure=True,
            rng=KeyedPRNG.from_int(bits),
        )


@dataclass
class Session:
    """Two parties driven by hand, every message through the codec, the transcript kept."""

    a: IdentifierParty
    b: ValueParty
    wire: list[tuple[str, bytes]] = field(default_factory=list)

    def send(self, sender: str, messages: Sequence[Message]) -> list[Message]:
        """Deliver ``messages`` from ``sender`` ('A' or 'B'); return the receiver's replies."""
        replies: list[Message] = []
        receiver = self.b if sender == "A" else self.a
        for m in messages:
            data = encode(m)
            self.wire.append((sender, data))
            replies.extend(receiver.handle(decode(data)))
        return replies

    def hello(self) -> list[Message]:
        return self.a.start()

    def reply(self) -> list[Message]:
        return self.send("A", self.hello())

    def masked(self) -> list[Message]:
        return self.send("B", self.reply())

    def revealed(self) -> list[Message]:
        return self.send("A", self.masked())

    def run(self) -> None:
        self.send("B", self.revealed())


def make_session(
    left: Sequence[Any],
    right: Sequence[Any],
    values: Any = None,
    *,
    want_sum: bool | None = None,
    seed: int = 0,
    group: str = "x25519",
    **b_options: Any,
) -> Session:
    rng = KeyedPRNG.from_int(seed)
    a = IdentifierParty(
        left,
        want_sum=values is not None if want_sum is None else want_sum,
        group=group,
        allow_insecure=True,
        rng=rng.derive("a"),
    )
    b_options.setdefault("private_key", private_key())
    b = ValueParty(
        right, values, group=group, allow_insecure=True, rng=rng.derive("b"), **b_options
    )
    return Session(a, b)


@pytest.fixture(autouse=True)
def _quiet_insecure_keys() -> Any:
    """Tests use 1024-bit keys on purpose; the warning itself is tested explicitly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        yield
