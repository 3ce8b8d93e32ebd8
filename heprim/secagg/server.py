"""The server of SecAgg / SecAgg+ as a sans-I/O state machine.

Bonawitz et al. (CCS 2017), figure 4, server side, over the sharing graph of Bell et al.
(CCS 2020). The server relays keys and encrypted shares, sums the masked inputs as they arrive,
and finally rebuilds, for every client u in U_3 (survivors), its self-mask seed b_u, and for
every client v in U_2 minus U_3 (dropped after sharing its keys), its mask key c_v^SK, from
which it recomputes and removes v's pairwise masks with its surviving neighbours:

    z = sum_{u in U_3} y_u - sum_{u in U_3} PRG(b_u)
          + sum_{v dropped} sum_{u in N(v) & U_3} -+PRG(s_{u,v})

The object does no I/O. :meth:`SecAggServer.start` returns the setup messages; each client
message goes to :meth:`SecAggServer.handle`, which returns the next round's messages as soon as
every expected client has answered; a driver with a deadline calls
:meth:`SecAggServer.close_round` to go on with whoever answered (the others have dropped out).

Dropouts are handled at every round. After rounds 0 and 1 a client left with fewer than t live
neighbours is excluded (its secrets could not be rebuilt), repeatedly until stable; after
rounds 2, 3 and 4 the server checks that every secret it needs still has t live holders, and
otherwise *aborts* with a reason naming the client, sending :class:`~heprim.secagg.messages.Abort`
to everyone still in the session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from heprim.errors import ParameterError, ProtocolError
from heprim.math.prng import PRNG, default_rng
from heprim.secagg import shamir
from heprim.secagg.client import consistency_payload, keys_payload
from heprim.secagg.cost import CostLedger
from heprim.secagg.crypto import AgreementKeyPair, mask_seed, verify_signature
from heprim.secagg.encoding import Aggregate, VectorEncoding
from heprim.secagg.graph import GraphParams, Profile, choose_graph, graph_seed, neighbours
from heprim.secagg.masking import dtype_for_bits, mask_into
from heprim.secagg.messages import (
    SERVER,
    SESSION_BYTES,
    Abort,
    AdvertiseKeys,
    ConsistencyCheck,
    ConsistencySignature,
    EncryptedShares,
    KeyBook,
    MaskedInput,
    Message,
    PeerKeys,
    Round,
    SecretKind,
    Setup,
    SharesDelivery,
    UnmaskRequest,
    UnmaskShares,
    check_server_envelope,
)

__all__ = ["SecAggServer", "ServerStage", "SessionAbortedError", "SessionConfig"]


class SessionAbortedError(ProtocolError):
    """The session ended without a result (too few clients left to rebuild a secret)."""


class ServerStage(Enum):
    """Which client messages the server is collecting."""

    IDLE = "not started"
    COLLECT_KEYS = "collecting advertised keys"
    COLLECT_SHARES = "collecting encrypted shares"
    COLLECT_MASKED = "collecting masked inputs"
    COLLECT_SIGNATURES = "collecting consistency signatures"
    COLLECT_UNMASK = "collecting unmasking shares"
    DONE = "done"
    ABORTED = "aborted"


_STAGE_MESSAGE: dict[ServerStage, tuple[type[Message], Round]] = {
    ServerStage.COLLECT_KEYS: (AdvertiseKeys, Round.ADVERTISE_KEYS),
    ServerStage.COLLECT_SHARES: (EncryptedShares, Round.SHARE_KEYS),
    ServerStage.COLLECT_MASKED: (MaskedInput, Round.MASKED_INPUT),
    ServerStage.COLLECT_SIGNATURES: (ConsistencySignature, Round.CONSISTENCY),
    ServerStage.COLLECT_UNMASK: (UnmaskShares, Round.UNMASK),
}


@dataclass(frozen=True)
class SessionConfig:
    """Everything fixed before a session starts; build it with :meth:`create`.

    Attributes:
        participants: the sorted client ids.
        dim: the length of each client's vector.
        encoding: how vectors become integers modulo R.
        graph: the sharing graph and threshold (``graph.n == len(participants)``).
        width: log2 R, the transport width in bits (8, 16, 32 or 64).
        session: the 16-byte session id (public, fresh for every session).
        verify_keys: the clients' Ed25519 public keys (active profile).
    """

    participants: tuple[int, ...]
    dim: int
    encoding: VectorEncoding
    graph: GraphParams
    width: int
    session: bytes
    verify_keys: Mapping[int, bytes] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def create(
        cls,
        participants: Sequence[int],
        dim: int,
        encoding: VectorEncoding,
        *,
        graph: GraphParams | None = None,
        profile: Profile = "semi-honest",
        corrupted_fraction: float = 0.1,
        dropout_rate: float = 0.1,
        verify_keys: Mapping[int, bytes] | None = None,
        session: bytes | None = None,
        rng: PRNG | None = None,
    ) -> SessionConfig:
        """Validate the setting and derive the graph (:func:`~heprim.secagg.graph.choose_graph`)
        and the modulus (:meth:`~heprim.secagg.encoding.VectorEncoding.width`)."""
        ids = tuple(sorted(int(p) for p in participants))
        if len(set(ids)) != len(ids) or any(not 0 < p < 2**32 for p in ids):
            raise ParameterError("participant ids must be distinct integers in [1, 2^32)")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ParameterError(f"dim must be a positive integer, got {dim!r}")
        if not isinstance(encoding, VectorEncoding):
            raise ParameterError("encoding must be a VectorEncoding (integers(...) or floats(...))")
        if graph is None:
            graph = choose_graph(
                len(ids),
                corrupted_fraction=corrupted_fraction,
                dropout_rate=dropout_rate,
                profile=profile,
            )
        if graph.n != len(ids):
            raise ParameterError(f"the graph is for {graph.n} clients, not {len(ids)}")
        if graph.profile == "active" and (verify_keys is None or set(verify_keys) != set(ids)):
            raise ParameterError("the active profile needs every participant's verify key")
        if session is None:
            session = default_rng(rng).random_bytes(SESSION_BYTES)
        if len(session) != SESSION_BYTES:
            raise ParameterError(f"a session id is {SESSION_BYTES} bytes")
        return cls(
            ids,
            dim,
            encoding,
            graph,
            encoding.width(len(ids)),
            bytes(session),
            MappingProxyType(dict(verify_keys or {})),
        )

    @property
    def active(self) -> bool:
        """Whether the active-adversary profile (signatures, consistency round) is on."""
        return self.graph.profile == "active"


class SecAggServer:
    """The server of one secure-aggregation session.

    Args:
        config: the session configuration.

    Attributes:
        stage: the current :class:`ServerStage`.
        cost: time and traffic per round.
        abort_reason: why the session aborted, if it did.
    """

    def __init__(self, config: SessionConfig) -> None:
        if not isinstance(config, SessionConfig):
            raise ParameterError("SecAggServer needs a SessionConfig (SessionConfig.create(...))")
        self.config = config
        self.stage = ServerStage.IDLE
        self.cost = CostLedger()
        self.abort_reason: str | None = None
        self._t = config.graph.t
        self._nbrs = neighbours(config.participants, config.graph.k, graph_seed(config.session))
        self._expected: set[int] = set()
        self._answered: set[int] = set()
        self._keys: dict[int, AdvertiseKeys] = {}
        self._u1: set[int] = set()
        self._u2: set[int] = set()
        self._u3: set[int] = set()
        self._u4: set[int] = set()
        self._ciphertexts: dict[int, dict[int, bytes]] = {}
        self._sum: npt.NDArray[np.unsignedinteger[Any]] | None = None
        self._signatures: dict[int, bytes] = {}
        self._requests: dict[int, tuple[frozenset[int], frozenset[int]]] = {}
        self._unmask: dict[int, UnmaskShares] = {}
        self._result: Aggregate | None = None

    def __repr__(self) -> str:
        return f"SecAggServer(n={len(self.config.participants)}, stage={self.stage.value!r})"

    # ------------------------------------------------------------------ public API
    @property
    def collecting(self) -> bool:
        """Whether a round is open (client messages are expected)."""
        return self.stage in _STAGE_MESSAGE

    @property
    def waiting_for(self) -> frozenset[int]:
        """The clients whose message for the current round has not arrived yet."""
        return frozenset(self._expected - self._answered)

    @property
    def survivors(self) -> frozenset[int]:
        """U_3: the clients whose inputs are in the sum (known after round 2)."""
        return frozenset(self._u3)

    @property
    def result(self) -> Aggregate:
        """The aggregate; :class:`SessionAbortedError` if the session aborted."""
        if self.stage is ServerStage.ABORTED:
            raise SessionAbortedError(f"secure aggregation aborted: {self.abort_reason}")
        if self._result is None:
            raise ProtocolError(f"no result yet: the server is {self.stage.value}")
        return self._result

    def start(self) -> list[Message]:
        """Round 0: the setup message for every participant."""
        if self.stage is not ServerStage.IDLE:
            raise ProtocolError("the session has already started")
        cfg = self.config
        with self.cost.timing(Round.ADVERTISE_KEYS):
            out: list[Message] = [
                Setup(
                    cfg.session,
                    SERVER,
                    u,
                    cfg.participants,
                    cfg.graph.k,
                    cfg.graph.t,
                    cfg.dim,
                    cfg.width,
                    cfg.active,
                    cfg.encoding,
                )
                for u in cfg.participants
            ]
            self._enter(ServerStage.COLLECT_KEYS, set(cfg.participants))
        self.cost.sent(out, Round.ADVERTISE_KEYS)
        return out

    def handle(self, message: Message) -> list[Message]:
        """Take one client message; return the next round's messages once all have answered.

        Raises:
            ProtocolError: wrong session, unknown or excluded sender, wrong stage, replay, or
                content inconsistent with what the server sent (the message is ignored).
        """
        if self.stage not in _STAGE_MESSAGE:
            raise ProtocolError(
                f"the server is {self.stage.value}; {type(message).__name__} from client "
                f"{getattr(message, 'sender', '?')} is late or replayed"
            )
        expected_type, round_ = _STAGE_MESSAGE[self.stage]
        self._check_envelope(message, expected_type)
        with self.cost.timing(round_):
            self._accept(message)
            self._answered.add(message.sender)
        self.cost.received(message, round_)
        if self._answered >= self._expected:
            return self.close_round()
        return []

    def close_round(self) -> list[Message]:
        """End the current round with the clients that answered; the rest have dropped out."""
        if self.stage not in _STAGE_MESSAGE:
            raise ProtocolError(f"no round to close: the server is {self.stage.value}")
        round_ = _STAGE_MESSAGE[self.stage][1]
        with self.cost.timing(round_):
            out = self._advance()
        self.cost.sent(out, round_)
        return out

    # ------------------------------------------------------------------ validation
    def _check_envelope(self, m: Message, expected_type: type[Message]) -> None:
        check_server_envelope(
            m,
            expected_type,
            session=self.config.session,
            known=self._nbrs,
            expected=self._expected,
            answered=self._answered,
            stage=self.stage.value,
        )

    def _accept(self, m: Message) -> None:
        u = m.sender
        if isinstance(m, AdvertiseKeys):
            if self.config.active:
                payload = keys_payload(self.config.session, u, m.mask_key, m.channel_key)
                if not verify_signature(self.config.verify_keys[u], m.signature, payload):
                    raise ProtocolError(f"client {u}'s keys are not signed with its identity")
            self._keys[u] = m
        elif isinstance(m, EncryptedShares):
            recipients = [v for v, _ in m.shares]
            if (
                len(set(recipients)) != len(recipients)
                or set(recipients) != self._nbrs[u] & self._u1
            ):
                raise ProtocolError(
                    f"client {u} must send exactly one share ciphertext to each live neighbour"
                )
            self._ciphertexts[u] = dict(m.shares)
        elif isinstance(m, MaskedInput):
            self._add_masked(m)
        elif isinstance(m, ConsistencySignature):
            payload = consistency_payload(self.config.session, tuple(sorted(self._u3)))
            if not verify_signature(self.config.verify_keys[u], m.signature, payload):
                raise ProtocolError(f"client {u}'s consistency signature is invalid")
            self._signatures[u] = m.signature
        elif isinstance(m, UnmaskShares):
            survivors, dropped = self._requests[u]
            asked = {(v, SecretKind.SELF_MASK) for v in survivors}
            asked |= {(v, SecretKind.MASK_KEY) for v in dropped}
            given = [(v, kind) for v, kind, _ in m.shares]
            if len(given) != len(asked) or set(given) != asked:
                raise ProtocolError(f"client {u} did not answer exactly the shares requested")
            self._unmask[u] = m

    def _add_masked(self, m: MaskedInput) -> None:
        cfg = self.config
        dtype = dtype_for_bits(cfg.width)
        length = cfg.encoding.length(cfg.dim)
        if m.vector.dtype.itemsize * 8 != cfg.width or m.vector.shape != (length,):
            raise ProtocolError(
                f"client {m.sender}'s masked vector must be {length} words of {cfg.width} bits"
            )
        if self._sum is None:
            self._sum = np.zeros(length, dtype=dtype)
        np.add(self._sum, m.vector.astype(dtype, copy=False), out=self._sum)

    # ------------------------------------------------------------------ rounds
    def _enter(self, stage: ServerStage, expected: set[int]) -> None:
        self.stage, self._expected, self._answered = stage, expected, set()

    def _prune(self, alive: set[int]) -> set[int]:
        """Drop clients with fewer than t live neighbours until none is left with too few."""
        alive = set(alive)
        while True:
            weak = {u for u in alive if len(self._nbrs[u] & alive) < self._t}
            if not weak:
                return alive
            alive -= weak

    def _abort(self, reason: str) -> list[Message]:
        recipients = sorted(self._expected)
        self.stage, self.abort_reason = ServerStage.ABORTED, reason
        return [Abort(self.config.session, SERVER, u, reason) for u in recipients]

    def _advance(self) -> list[Message]:
        done = set(self._answered)
        if self.stage is ServerStage.COLLECT_KEYS:
            return self._after_keys(done)
        if self.stage is ServerStage.COLLECT_SHARES:
            return self._after_shares(done)
        if self.stage is ServerStage.COLLECT_MASKED:
            return self._after_masked(done)
        if self.stage is ServerStage.COLLECT_SIGNATURES:
            return self._after_signatures(done)
        return self._after_unmask(done)

    def _after_keys(self, done: set[int]) -> list[Message]:
        self._u1 = self._prune(done)
        if not self._u1:
            return self._abort(
                f"after key advertisement no client has t = {self._t} live neighbours "
                f"({len(done)} of {len(self.config.participants)} clients answered)"
            )
        session = self.config.session
        out: list[Message] = []
        for u in sorted(self._u1):
            peers = tuple(
                PeerKeys(
                    v, self._keys[v].mask_key, self._keys[v].channel_key, self._keys[v].signature
                )
                for v in sorted(self._nbrs[u] & self._u1)
            )
            out.append(KeyBook(session, SERVER, u, peers))
        self._enter(ServerStage.COLLECT_SHARES, set(self._u1))
        return out

    def _after_shares(self, done: set[int]) -> list[Message]:
        self._u2 = self._prune(done)
        if not self._u2:
            return self._abort(
                f"after key sharing no client has t = {self._t} live neighbours "
                f"({len(done)} clients shared their keys)"
            )
        out: list[Message] = []
        for u in sorted(self._u2):
            shares = tuple((v, self._ciphertexts[v][u]) for v in sorted(self._nbrs[u] & self._u2))
            out.append(SharesDelivery(self.config.session, SERVER, u, shares))
        self._ciphertexts = {}
        self._enter(ServerStage.COLLECT_MASKED, set(self._u2))
        return out

    def _owners(self) -> dict[tuple[int, SecretKind], frozenset[int]]:
        """Every secret to rebuild and its possible holders (the owner's neighbours in U_3)."""
        owners = {(u, SecretKind.SELF_MASK): self._nbrs[u] & self._u3 for u in self._u3}
        for v in self._u2 - self._u3:
            if self._nbrs[v] & self._u3:
                owners[(v, SecretKind.MASK_KEY)] = self._nbrs[v] & self._u3
        return {key: frozenset(holders) for key, holders in owners.items()}

    def _check_holders(self, live: set[int], when: str) -> str | None:
        for (owner, kind), holders in sorted(self._owners().items()):
            if len(holders & live) < self._t:
                what = "self-mask seed" if kind is SecretKind.SELF_MASK else "mask key"
                return (
                    f"{when}, client {owner}'s {what} has {len(holders & live)} live holders, "
                    f"fewer than the threshold t = {self._t}"
                )
        return None

    def _after_masked(self, done: set[int]) -> list[Message]:
        self._u3 = done
        if not self._u3:
            return self._abort("no client sent a masked input")
        problem = self._check_holders(self._u3, "after the masked inputs")
        if problem:
            return self._abort(problem)
        session = self.config.session
        if self.config.active:
            u3 = tuple(sorted(self._u3))
            out: list[Message] = [ConsistencyCheck(session, SERVER, u, u3) for u in u3]
            self._enter(ServerStage.COLLECT_SIGNATURES, set(self._u3))
            return out
        return self._send_unmask_requests(self._u3)

    def _after_signatures(self, done: set[int]) -> list[Message]:
        self._u4 = done
        problem = self._check_holders(self._u4, "after the consistency check")
        if problem:
            return self._abort(problem)
        return self._send_unmask_requests(self._u4)

    def _send_unmask_requests(self, recipients: set[int]) -> list[Message]:
        out: list[Message] = []
        for u in sorted(recipients):
            survivors = self._nbrs[u] & self._u3
            dropped = (self._nbrs[u] & self._u2) - self._u3
            self._requests[u] = (frozenset(survivors), frozenset(dropped))
            sigs: tuple[tuple[int, bytes], ...] = ()
            if self.config.active:
                sigs = tuple(
                    (v, self._signatures[v]) for v in sorted((self._nbrs[u] | {u}) & recipients)
                )
            out.append(
                UnmaskRequest(
                    self.config.session,
                    SERVER,
                    u,
                    tuple(sorted(survivors)),
                    tuple(sorted(dropped)),
                    sigs,
                )
            )
        self._enter(ServerStage.COLLECT_UNMASK, set(recipients))
        return out

    def _after_unmask(self, done: set[int]) -> list[Message]:
        problem = self._check_holders(done, "during unmasking")
        if problem:
            return self._abort(problem)
        # Gather shares per secret, then rebuild all secrets that share a holder set at once.
        received: dict[tuple[int, SecretKind], dict[int, int]] = {}
        for holder in done:
            for owner, kind, value in self._unmask[holder].shares:
                received.setdefault((owner, kind), {})[holder] = value
        groups: dict[tuple[int, ...], list[tuple[int, SecretKind]]] = {}
        for key in self._owners():
            holders = tuple(sorted(received[key])[: self._t])
            groups.setdefault(holders, []).append(key)
        secrets: dict[tuple[int, SecretKind], int] = {}
        for holders, keys in groups.items():
            rows = [[received[key][h] for key in keys] for h in holders]
            for key, value in zip(keys, shamir.reconstruct(holders, rows), strict=True):
                secrets[key] = value
        return self._unmask_sum(secrets)

    def _unmask_sum(self, secrets: dict[tuple[int, SecretKind], int]) -> list[Message]:
        cfg = self.config
        total = np.array(self._sum, copy=True)
        for (owner, kind), value in sorted(secrets.items()):
            if value >= 2**256:
                return self._abort(f"the shares of client {owner}'s secret are inconsistent")
            raw = value.to_bytes(32, "big")
            if kind is SecretKind.SELF_MASK:
                mask_into(total, raw, -1)
                continue
            pair = AgreementKeyPair(raw)
            if pair.public_bytes != self._keys[owner].mask_key:
                return self._abort(
                    f"the shares of client {owner}'s mask key do not match its public key: a "
                    "client sent wrong shares"
                )
            for u in sorted(self._nbrs[owner] & self._u3):
                seed = mask_seed(pair.agree(self._keys[u].mask_key), cfg.session, u, owner)
                # u added +PRG(s_uv) if u < v, else -PRG(s_uv): take it back out.
                mask_into(total, seed, -1 if u < owner else +1)
        self._result = cfg.encoding.decode(total, len(self._u3))
        self._sum = None
        self.stage, self._expected, self._answered = ServerStage.DONE, set(), set()
        return []
