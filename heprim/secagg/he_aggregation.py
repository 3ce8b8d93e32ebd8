"""Aggregation by homomorphic encryption: the framework every HE protocol plugs into.

SecAgg hides each input under masks that cancel in the sum; the HE protocols hide it under a
public-key encryption whose secret key is *shared* among decryptors, so that the server can add
the ciphertexts but needs ``t`` decryptors to open the sum:

1. **input round** (:attr:`HERound.INPUT`): the server sends the session setup; each client
   encrypts its encoded vector under the collective public key and uploads it. The server
   multiplies the ciphertexts as they arrive. A client that drops out simply is not in the sum:
   there is no recovery round, because nothing of its was ever entangled with the others'.
2. **decrypt round** (:attr:`HERound.DECRYPT`): the server sends the aggregate and the list of
   contributors to every decryptor; any ``t`` of them answering with decryption shares suffice
   (decryptors may drop out down to ``t``), and the server combines them and decodes the sum.

A protocol whose keys are generated collectively (multiparty BFV) adds a key-generation round
(:attr:`HERound.KEYGEN`) before the input round.

The pieces are the same as SecAgg's, so drivers, cost tables and the command line treat every
protocol alike: typed messages in SecAgg's wire format (:mod:`heprim.secagg.he_messages`), a
server and parties as sans-I/O state machines (``start``, ``handle(message) -> replies``,
``close_round`` at a deadline; :class:`~heprim.errors.ProtocolError` for anything out of order),
per-round :class:`~heprim.secagg.cost.CostLedger` accounting, the inputs encoded by a
:class:`~heprim.secagg.encoding.VectorEncoding` (same clipping, quantisation and weights) and the
result an :class:`~heprim.secagg.encoding.Aggregate`. A protocol provides an
:class:`HEDeployment` (what its key setup produced: it builds the server and the parties), and
:func:`heprim.net.simulate.simulate_he` runs it. Packed threshold Paillier is
:class:`~heprim.secagg.he_paillier.PaillierDeployment`.

Trust model: the server is honest but curious (it follows the protocol); decryptors are honest
but curious and fewer than ``t`` of them collude with the server. Each decryptor answers a single
decryption request per session, and only for a sum of at least ``min_contributors`` inputs, so a
server that wanted a single client's vector would have to deviate from the protocol (an actively
malicious server is out of scope, as in SecAgg's semi-honest profile).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from heprim.errors import ParameterError, ProtocolError
from heprim.math.prng import PRNG, default_rng
from heprim.secagg.cost import CostLedger
from heprim.secagg.encoding import Aggregate, VectorEncoding
from heprim.secagg.he_messages import HERound
from heprim.secagg.messages import (
    SERVER,
    SESSION_BYTES,
    Abort,
    Message,
    check_server_envelope,
)
from heprim.secagg.server import SessionAbortedError

__all__ = [
    "HEAggregationParty",
    "HEAggregationServer",
    "HEDeployment",
    "HEPartyStage",
    "HERound",
    "HEServerStage",
    "HESessionConfig",
]

InputValue = npt.ArrayLike | Callable[[], npt.ArrayLike]


def _check_ids(values: Sequence[int], what: str) -> tuple[int, ...]:
    ids: list[int] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or not 0 < int(v) < 2**32:
            raise ParameterError(f"{what} must be integers in [1, 2^32), got {v!r}")
        ids.append(int(v))
    if len(set(ids)) != len(ids):
        raise ParameterError(f"{what} must be distinct")
    return tuple(sorted(ids))


@dataclass(frozen=True)
class HESessionConfig:
    """Everything fixed before an HE aggregation starts; build it with :meth:`create`.

    Attributes:
        participants: the sorted ids of the clients whose vectors are summed.
        decryptors: each key holder's party id and its share index (a party may be both a
            client and a decryptor, like a hospital that holds a key share).
        threshold: ``t``, the number of decryption shares needed.
        dim: the length of each client's vector.
        encoding: how vectors become integers (clipping, quantisation, weights).
        session: the 16-byte session id (public, fresh for every session).
        min_contributors: decryptors refuse to open a sum of fewer inputs.
    """

    participants: tuple[int, ...]
    decryptors: Mapping[int, int]
    threshold: int
    dim: int
    encoding: VectorEncoding
    session: bytes
    min_contributors: int = 2

    @classmethod
    def create(
        cls,
        participants: Sequence[int],
        dim: int,
        encoding: VectorEncoding,
        *,
        decryptors: Mapping[int, int],
        threshold: int,
        min_contributors: int = 2,
        session: bytes | None = None,
        rng: PRNG | None = None,
    ) -> HESessionConfig:
        """Validate the setting; every refusal says what to change."""
        ids = _check_ids(participants, "participant ids")
        if not ids:
            raise ParameterError("an aggregation needs at least one participant")
        holders = _check_ids(list(decryptors), "decryptor ids")
        indices = [decryptors[h] for h in holders]
        if len(set(indices)) != len(indices) or any(
            isinstance(i, bool) or not isinstance(i, int) or i < 1 for i in indices
        ):
            raise ParameterError("decryptors need distinct positive share indices")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ParameterError(f"dim must be a positive integer, got {dim!r}")
        if not isinstance(encoding, VectorEncoding):
            raise ParameterError("encoding must be a VectorEncoding (integers(...) or floats(...))")
        if isinstance(threshold, bool) or not isinstance(threshold, int):
            raise ParameterError(f"threshold must be an integer, got {threshold!r}")
        if not 1 <= threshold <= len(holders):
            raise ParameterError(
                f"the threshold t = {threshold} must be between 1 and the number of decryptors "
                f"({len(holders)})"
            )
        if isinstance(min_contributors, bool) or not isinstance(min_contributors, int):
            raise ParameterError(f"min_contributors must be an integer, got {min_contributors!r}")
        if not 1 <= min_contributors <= len(ids):
            raise ParameterError(
                f"min_contributors = {min_contributors} must be between 1 and the number of "
                f"participants ({len(ids)})"
            )
        if session is None:
            session = default_rng(rng).random_bytes(SESSION_BYTES)
        if len(session) != SESSION_BYTES:
            raise ParameterError(f"a session id is {SESSION_BYTES} bytes")
        return cls(
            ids,
            MappingProxyType({h: int(decryptors[h]) for h in holders}),
            threshold,
            dim,
            encoding,
            bytes(session),
            min_contributors,
        )

    @property
    def parties(self) -> tuple[int, ...]:
        """Every party of the session: the clients and the decryptors."""
        return tuple(sorted(set(self.participants) | set(self.decryptors)))


class HEServerStage(Enum):
    """Which party messages the server is collecting."""

    IDLE = "not started"
    COLLECT_KEYS = "collecting key-generation shares"
    COLLECT_INPUTS = "collecting encrypted inputs"
    COLLECT_READY = "collecting decryptors' readiness"
    COLLECT_SHARES = "collecting decryption shares"
    DONE = "done"
    ABORTED = "aborted"


class HEAggregationServer(ABC):
    """The server of an HE aggregation: stages, checks and cost accounting shared by protocols.

    A protocol subclasses it and provides :meth:`_setup_factory` (its setup message, which
    :meth:`_start` sends to every party), :meth:`_accept` (take one party message, already
    checked to be expected) and :meth:`_advance` (close the current stage with the parties that
    answered). :attr:`STAGES` maps each collecting stage to
    the message type it expects and the round it belongs to; :attr:`FIRST_ROUND` is the round
    of the setup (``KEYGEN`` for a protocol with collective key generation).

    Attributes:
        stage: the current :class:`HEServerStage`.
        cost: time and traffic per :class:`HERound`.
        abort_reason: why the session aborted, if it did.
    """

    STAGES: ClassVar[Mapping[HEServerStage, tuple[type[Message], HERound]]] = {}
    FIRST_ROUND: ClassVar[HERound] = HERound.INPUT

    def __init__(self, config: HESessionConfig) -> None:
        if not isinstance(config, HESessionConfig):
            raise ParameterError("the server needs an HESessionConfig (HESessionConfig.create)")
        self.config = config
        self.stage = HEServerStage.IDLE
        self.cost = CostLedger.for_rounds(HERound)
        self.abort_reason: str | None = None
        self._parties = frozenset(config.parties)
        self._expected: set[int] = set()
        self._answered: set[int] = set()
        self._contributors: frozenset[int] = frozenset()
        self._result: Aggregate | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n={len(self.config.participants)}, "
            f"decryptors={len(self.config.decryptors)}, stage={self.stage.value!r})"
        )

    # ------------------------------------------------------------------ public API
    @property
    def collecting(self) -> bool:
        """Whether a round is open (party messages are expected)."""
        return self.stage in self.STAGES

    @property
    def waiting_for(self) -> frozenset[int]:
        """The parties whose message for the current round has not arrived yet."""
        return frozenset(self._expected - self._answered)

    @property
    def survivors(self) -> frozenset[int]:
        """The clients whose inputs are in the sum (known after the input round)."""
        return self._contributors

    @property
    def result(self) -> Aggregate:
        """The aggregate; :class:`~heprim.secagg.server.SessionAbortedError` if aborted."""
        if self.stage is HEServerStage.ABORTED:
            raise SessionAbortedError(f"HE aggregation aborted: {self.abort_reason}")
        if self._result is None:
            raise ProtocolError(f"no result yet: the server is {self.stage.value}")
        return self._result

    def start(self) -> list[Message]:
        """The first round's messages (the setup for every party)."""
        if self.stage is not HEServerStage.IDLE:
            raise ProtocolError("the session has already started")
        first = self.FIRST_ROUND
        with self.cost.timing(first):
            out = self._start()
        self.cost.sent(out, first)
        return out

    def handle(self, message: Message) -> list[Message]:
        """Take one party message; return the next round's messages once all have answered.

        Raises:
            ProtocolError: wrong session, unknown or unexpected sender, wrong stage, replay, or
                content that does not fit the session (the message is then ignored).
        """
        if self.stage not in self.STAGES:
            raise ProtocolError(
                f"the server is {self.stage.value}; {type(message).__name__} from party "
                f"{getattr(message, 'sender', '?')} is late or replayed"
            )
        expected_type, round_ = self.STAGES[self.stage]
        self._check_envelope(message, expected_type)
        with self.cost.timing(round_):
            self._accept(message)
            self._answered.add(message.sender)
        self.cost.received(message, round_)
        if self._answered >= self._expected:
            return self.close_round()
        return []

    def close_round(self) -> list[Message]:
        """End the current round with the parties that answered; the rest have dropped out."""
        if self.stage not in self.STAGES:
            raise ProtocolError(f"no round to close: the server is {self.stage.value}")
        round_ = self.STAGES[self.stage][1]
        with self.cost.timing(round_):
            out = self._advance(set(self._answered))
        self.cost.sent(out, round_)
        return out

    # ------------------------------------------------------------------ for subclasses
    def _start(self) -> list[Message]:
        """The setup for every party; then the participants' inputs are due."""
        cfg = self.config
        decryptors = tuple(sorted(cfg.decryptors.items()))
        setup = self._setup_factory()
        out = [
            setup(
                cfg.session,
                SERVER,
                party,
                cfg.participants,
                decryptors,
                cfg.threshold,
                cfg.dim,
                cfg.encoding,
            )
            for party in cfg.parties
        ]
        self._enter(HEServerStage.COLLECT_INPUTS, set(cfg.participants))
        return out

    @abstractmethod
    def _setup_factory(self) -> Callable[..., Message]:
        """The protocol's setup message with its key fingerprint, ``min_contributors`` and own
        fields bound by keyword: :meth:`_start` gives the envelope and the common fields up to
        the encoding (see :class:`~heprim.secagg.he_messages.PaillierSetup`)."""

    @abstractmethod
    def _accept(self, message: Message) -> None:
        """Take one expected message (raise ProtocolError to refuse it)."""

    @abstractmethod
    def _advance(self, done: set[int]) -> list[Message]:
        """Close the current stage with the parties in ``done``."""

    def _enter(self, stage: HEServerStage, expected: set[int]) -> None:
        self.stage, self._expected, self._answered = stage, set(expected), set()

    def _enough_inputs(self, done: set[int]) -> bool:
        """Record the contributors; whether they are enough to open (``min_contributors``)."""
        self._contributors = frozenset(done)
        return len(done) >= self.config.min_contributors

    def _abort_few_inputs(self, done: set[int]) -> list[Message]:
        return self._abort(
            f"only {len(done)} encrypted inputs arrived, fewer than min_contributors = "
            f"{self.config.min_contributors}: the decryptors would refuse to open such a sum"
        )

    def _request_decryption(
        self, stage: HEServerStage, request: Callable[[bytes, int, int], Message]
    ) -> list[Message]:
        """Send ``request(session, SERVER, decryptor)`` to every decryptor; enter ``stage``."""
        cfg = self.config
        out = [request(cfg.session, SERVER, party) for party in sorted(cfg.decryptors)]
        self._enter(stage, set(cfg.decryptors))
        return out

    def _abort(self, reason: str) -> list[Message]:
        recipients = sorted(self._expected)
        self.stage, self.abort_reason = HEServerStage.ABORTED, reason
        self._expected, self._answered = set(), set()
        return [Abort(self.config.session, SERVER, u, reason) for u in recipients]

    def _finish(self, raw: npt.NDArray[np.uint64]) -> list[Message]:
        """Decode the exact sum of the contributors' encoded vectors; the session is done."""
        self._result = self.config.encoding.decode(raw, len(self._contributors))
        self.stage, self._expected, self._answered = HEServerStage.DONE, set(), set()
        return []

    def _check_envelope(self, m: Message, expected_type: type[Message]) -> None:
        check_server_envelope(
            m,
            expected_type,
            session=self.config.session,
            known=self._parties,
            expected=self._expected,
            answered=self._answered,
            stage=self.stage.value,
            what="an aggregation message",
            role="party",
            absent="has no role in it",
        )


class HEPartyStage(Enum):
    """Where a party (client, decryptor, or both) is."""

    AWAIT_SETUP = "await setup"
    AWAIT_REQUEST = "await decryption request"
    DONE = "done"
    ABORTED = "aborted"


class HEAggregationParty(ABC):
    """A client and/or decryptor of an HE aggregation: envelope checks and cost accounting.

    A protocol subclasses it and provides :meth:`_dispatch` (answer one message that passed the
    checks). Feed every server message to :meth:`handle` and send what it returns; give the
    vector with :meth:`set_input` before the input round.

    Attributes:
        id: the party's id, as the server knows it.
        stage: the current :class:`HEPartyStage`.
        cost: time and traffic per :class:`HERound`.
    """

    def __init__(self, party_id: int, *, rng: PRNG | None = None) -> None:
        if isinstance(party_id, bool) or not isinstance(party_id, int) or not 0 < party_id < 2**32:
            raise ParameterError(f"a party id is an integer in [1, 2^32), got {party_id!r}")
        self.id = party_id
        self.stage = HEPartyStage.AWAIT_SETUP
        self.cost = CostLedger.for_rounds(HERound)
        self.abort_reason: str | None = None
        self._rng = default_rng(rng)
        self._input: InputValue | None = None
        self._weight: int | None = None
        self._session: bytes | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id}, stage={self.stage.value!r})"

    def set_input(self, values: InputValue, *, weight: int | None = None) -> None:
        """The vector to aggregate (or a callable producing it at the input round)."""
        if self.stage in (HEPartyStage.DONE, HEPartyStage.ABORTED):
            raise ProtocolError("this session is over; start a new party for a new round")
        self._input, self._weight = values, weight

    def _take_input(self) -> tuple[npt.ArrayLike, int | None]:
        if self._input is None:
            raise ParameterError(
                f"party {self.id} has no input: call set_input() before the input round"
            )
        values = self._input() if callable(self._input) else self._input
        weight = self._weight
        self._input = None  # the plaintext leaves the object as soon as it is encrypted
        return values, weight

    def handle(self, message: Message) -> list[Message]:
        """Process one server message; return the replies to send to the server."""
        finished = self.stage is HEPartyStage.ABORTED or (
            self.stage is HEPartyStage.DONE and not isinstance(message, Abort)
        )
        if finished:
            raise ProtocolError(
                f"party {self.id} got a {type(message).__name__} after the session ended "
                f"({self.stage.value}): replayed or late"
            )
        if not isinstance(message, Message):
            raise ProtocolError(f"not an aggregation message: {type(message).__name__}")
        if message.sender != SERVER:
            raise ProtocolError(f"party {self.id} only accepts messages from the server (0)")
        if message.recipient != self.id:
            raise ProtocolError(f"message for party {message.recipient} delivered to {self.id}")
        if self._session is not None and message.session != self._session:
            raise ProtocolError("message from another session (session id mismatch)")
        round_ = message.ROUND if message.ROUND is not None else HERound.DECRYPT
        if isinstance(message, Abort):
            self.cost.received(message, round_)
            self.stage, self.abort_reason = HEPartyStage.ABORTED, message.reason
            return []
        with self.cost.timing(round_):
            replies = self._dispatch(message)
        self.cost.received(message, round_)
        self.cost.sent(replies, round_)
        return replies

    @abstractmethod
    def _dispatch(self, message: Message) -> list[Message]:
        """Answer one message from the server (raise ProtocolError if it does not belong)."""

    def _out_of_order(self, message: Message) -> ProtocolError:
        """The error for a message :meth:`_dispatch` has no use for at this stage."""
        return ProtocolError(
            f"party {self.id} is at '{self.stage.value}' and cannot take a "
            f"{type(message).__name__}: out of order or replayed"
        )

    @staticmethod
    def _setup_roles(
        participants: tuple[int, ...], decryptors: tuple[tuple[int, int], ...]
    ) -> tuple[set[int], dict[int, int]]:
        """A setup's participants and ``{decryptor: share index}``, refused if ids repeat or
        name the server."""
        ids, holders = set(participants), dict(decryptors)
        if len(ids) != len(participants) or len(holders) != len(decryptors):
            raise ProtocolError("the setup repeats party ids")
        if SERVER in ids or SERVER in holders:
            raise ProtocolError("party 0 is the server, not a participant")
        return ids, holders


class HEDeployment(Protocol):
    """What a protocol's key setup produced, able to build a session's server and parties.

    :func:`heprim.net.simulate.simulate_he` needs nothing else from a protocol.
    """

    @property
    def name(self) -> str:
        """A short name for reports (``"paillier"``, ``"bfv"``)."""
        ...

    @property
    def decryptors(self) -> Mapping[int, int]:
        """Each key holder's party id and share index."""
        ...

    @property
    def threshold(self) -> int:
        """How many decryptors must answer."""
        ...

    def prepare(self) -> None:
        """One-off work per key, done before sessions and outside their costs (tables)."""
        ...

    def server(self, config: HESessionConfig) -> HEAggregationServer:
        """The server of one session."""
        ...

    def party(self, party_id: int, *, rng: PRNG | None = None) -> HEAggregationParty:
        """The party ``party_id`` (a client, a decryptor, or both) for one session."""
        ...
