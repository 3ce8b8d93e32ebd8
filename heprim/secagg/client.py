"""The client of SecAgg / SecAgg+ as a sans-I/O state machine.

Bonawitz et al. (CCS 2017), figure 4 ("Detailed description of the protocol", client side)
with the neighbourhoods of Bell et al. (CCS 2020): a client talks only to the server, and only
about its k neighbours. The object does no I/O: :meth:`SecAggClient.handle` takes one message
from the server and returns the messages to send back. Anything that does not fit the current
stage (a replay, a message for another client or session, a stranger in a list) raises
:class:`~heprim.errors.ProtocolError` and leaves the state unchanged.

The two privacy-critical checks of the paper are explicit here:

* before unmasking, the survivor and dropped lists must be disjoint and must cover exactly the
  neighbours whose shares this client holds, so it never reveals both the self-mask share and
  the mask-key share of one peer (it answers a single unmasking request per session);
* it refuses to unmask when fewer than t clients (itself included) are said to have survived,
  so the server cannot isolate a few inputs by pretending everyone else dropped.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from enum import Enum

import numpy as np
import numpy.typing as npt

from heprim.errors import (
    EncodingOverflowError,
    ParameterError,
    ProtocolError,
    SerializationError,
)
from heprim.math.prng import PRNG, default_rng
from heprim.secagg import shamir
from heprim.secagg.cost import CostLedger
from heprim.secagg.crypto import (
    KEY_BYTES,
    AgreementKeyPair,
    SigningKey,
    channel_key,
    mask_seed,
    open_share,
    seal_share,
    verify_signature,
)
from heprim.secagg.graph import Profile, graph_seed, neighbours_of
from heprim.secagg.masking import dtype_for_bits, mask_into
from heprim.secagg.messages import (
    SERVER,
    Abort,
    AdvertiseKeys,
    ConsistencyCheck,
    ConsistencySignature,
    EncryptedShares,
    KeyBook,
    MaskedInput,
    Message,
    Round,
    SecretKind,
    Setup,
    SharesDelivery,
    UnmaskRequest,
    UnmaskShares,
    decode,
    encode,
)

__all__ = ["ClientStage", "SecAggClient", "consistency_payload", "keys_payload"]


class ClientStage(Enum):
    """Where a client is: the message it waits for next."""

    AWAIT_SETUP = "await setup"
    AWAIT_KEYS = "await key book"
    AWAIT_SHARES = "await shares"
    AWAIT_CONSISTENCY = "await consistency check"
    AWAIT_UNMASK = "await unmask request"
    DONE = "done"
    ABORTED = "aborted"


_EXPECTED: dict[ClientStage, type[Message]] = {
    ClientStage.AWAIT_SETUP: Setup,
    ClientStage.AWAIT_KEYS: KeyBook,
    ClientStage.AWAIT_SHARES: SharesDelivery,
    ClientStage.AWAIT_CONSISTENCY: ConsistencyCheck,
    ClientStage.AWAIT_UNMASK: UnmaskRequest,
}


def keys_payload(session: bytes, client: int, mask_key: bytes, channel_key_: bytes) -> bytes:
    """What a client signs in the active profile when it advertises its keys (round 0)."""
    return b"heprim.secagg.v1.keys" + session + struct.pack(">I", client) + mask_key + channel_key_


def consistency_payload(session: bytes, survivors: tuple[int, ...]) -> bytes:
    """What a client signs in the consistency round: the session and the sorted U_3."""
    ids = np.asarray(sorted(survivors), dtype=">u4").tobytes()
    return b"heprim.secagg.v1.consistency" + session + ids


class SecAggClient:
    """One client of a secure-aggregation session.

    Args:
        client_id: this client's id, in ``[1, 2^32)``, as the server knows it.
        profile: ``"semi-honest"`` or ``"active"``; the client refuses a session announced
            with another profile (the server must not be able to downgrade it).
        signing_key: the client's Ed25519 identity (active profile).
        verify_keys: the Ed25519 public keys of the other clients, from a PKI the server does
            not control (active profile).
        rng: randomness for keys, seeds, shares and stochastic rounding.

    Usage: feed every server message to :meth:`handle` and send what it returns; provide the
    vector with :meth:`set_input` any time before the masked-input round.
    """

    def __init__(
        self,
        client_id: int,
        *,
        profile: Profile = "semi-honest",
        signing_key: SigningKey | None = None,
        verify_keys: dict[int, bytes] | None = None,
        rng: PRNG | None = None,
    ) -> None:
        if (
            isinstance(client_id, bool)
            or not isinstance(client_id, int)
            or not 0 < client_id < 2**32
        ):
            raise ParameterError(f"a client id is an integer in [1, 2^32), got {client_id!r}")
        if profile not in ("semi-honest", "active"):
            raise ParameterError(f"profile must be 'semi-honest' or 'active', got {profile!r}")
        if profile == "active" and (signing_key is None or verify_keys is None):
            raise ParameterError(
                "the active profile needs the client's signing_key and the verify_keys of its peers"
            )
        self.id = client_id
        self.profile: Profile = profile
        self.stage = ClientStage.AWAIT_SETUP
        self.cost = CostLedger()
        self.abort_reason: str | None = None
        self._signing_key = signing_key
        self._verify_keys = dict(verify_keys or {})
        self._rng = default_rng(rng)
        self._input: npt.ArrayLike | Callable[[], npt.ArrayLike] | None = None
        self._weight: int | None = None
        # session state
        self._setup: Setup | None = None
        self._neighbours: frozenset[int] = frozenset()
        self._mask_pair: AgreementKeyPair | None = None
        self._channel_pair: AgreementKeyPair | None = None
        self._book: dict[int, tuple[bytes, bytes]] = {}
        self._channel_keys: dict[int, bytes] = {}
        self._self_mask_seed = b""
        self._held: dict[int, tuple[int, int]] = {}  # peer -> (share of b_v, share of c_v^SK)
        self._survivors_signed: tuple[int, ...] | None = None
        self.revealed_self_mask_shares: frozenset[int] = frozenset()
        self.revealed_mask_key_shares: frozenset[int] = frozenset()

    def __repr__(self) -> str:
        return f"SecAggClient(id={self.id}, stage={self.stage.value!r})"

    @property
    def setup(self) -> Setup | None:
        """The session's setup message, once received."""
        return self._setup

    # ------------------------------------------------------------------ input
    def set_input(
        self, values: npt.ArrayLike | Callable[[], npt.ArrayLike], *, weight: int | None = None
    ) -> None:
        """The vector to aggregate (or a callable producing it at the masked-input round)."""
        if self.stage in (ClientStage.DONE, ClientStage.ABORTED):
            raise ProtocolError("this session is over; start a new client for a new round")
        self._input, self._weight = values, weight

    # ------------------------------------------------------------------ dispatch
    def handle(self, message: Message) -> list[Message]:
        """Process one server message; return the replies to send to the server."""
        finished = self.stage is ClientStage.ABORTED or (
            self.stage is ClientStage.DONE and not isinstance(message, Abort)
        )
        if finished:
            raise ProtocolError(
                f"client {self.id} got a {type(message).__name__} after the session ended "
                f"({self.stage.value}): replayed or late"
            )
        round_ = _ROUND_OF_STAGE[self.stage]
        self._check_envelope(message)
        if isinstance(message, Abort):  # the server may abort even after our last answer
            self.cost.received(message, round_)
            self.stage, self.abort_reason = ClientStage.ABORTED, message.reason
            return []
        expected = _EXPECTED[self.stage]
        if not isinstance(message, expected):
            raise ProtocolError(
                f"client {self.id} expected {expected.__name__} ({self.stage.value}) but got "
                f"{type(message).__name__}: out of order or replayed"
            )
        with self.cost.timing(round_):
            replies = self._dispatch(message)
        self.cost.received(message, round_)
        self.cost.sent(replies, round_)
        return replies

    def _dispatch(self, message: Message) -> list[Message]:
        if isinstance(message, Setup):
            return self._on_setup(message)
        if isinstance(message, KeyBook):
            return self._on_key_book(message)
        if isinstance(message, SharesDelivery):
            return self._on_shares(message)
        if isinstance(message, ConsistencyCheck):
            return self._on_consistency(message)
        if isinstance(message, UnmaskRequest):
            return self._on_unmask(message)
        raise ProtocolError(f"unexpected message {type(message).__name__}")  # pragma: no cover

    def _check_envelope(self, message: Message) -> None:
        if not isinstance(message, Message):
            raise ProtocolError(f"not a secure-aggregation message: {type(message).__name__}")
        if message.sender != SERVER:
            raise ProtocolError(f"client {self.id} only accepts messages from the server (0)")
        if message.recipient != self.id:
            raise ProtocolError(
                f"message for client {message.recipient} delivered to client {self.id}"
            )
        if self._setup is not None and message.session != self._setup.session:
            raise ProtocolError("message from another session (session id mismatch)")

    # ------------------------------------------------------------------ round 0
    def _on_setup(self, m: Setup) -> list[Message]:
        participants = m.participants
        if len(set(participants)) != len(participants) or self.id not in participants:
            raise ProtocolError("the participant list repeats ids or omits this client")
        if SERVER in participants:
            raise ProtocolError("party 0 is the server, not a participant")
        if m.active != (self.profile == "active"):
            raise ProtocolError(
                f"the server announced the {'active' if m.active else 'semi-honest'} profile "
                f"but this client runs the {self.profile} one"
            )
        n = len(participants)
        try:
            self._neighbours = neighbours_of(self.id, participants, m.degree, graph_seed(m.session))
        except ParameterError as exc:
            raise ProtocolError(f"invalid sharing graph in setup: {exc}") from exc
        if not 1 <= m.threshold <= m.degree:
            raise ProtocolError(f"threshold {m.threshold} outside [1, k = {m.degree}]")
        if m.active and 2 * m.threshold <= m.degree:
            raise ProtocolError("the active profile needs a threshold above k / 2")
        if m.dim < 1:
            raise ProtocolError("the vector dimension must be positive")
        try:
            m.encoding.check_width(m.width, n)
        except (ParameterError, EncodingOverflowError) as exc:
            raise ProtocolError(f"unsafe modulus in setup: {exc}") from exc
        self._setup = m
        self._mask_pair = AgreementKeyPair(rng=self._rng)
        self._channel_pair = AgreementKeyPair(rng=self._rng)
        signature = b""
        if self._signing_key is not None and m.active:
            signature = self._signing_key.sign(
                keys_payload(
                    m.session,
                    self.id,
                    self._mask_pair.public_bytes,
                    self._channel_pair.public_bytes,
                )
            )
        self.stage = ClientStage.AWAIT_KEYS
        return [
            AdvertiseKeys(
                m.session,
                self.id,
                SERVER,
                self._mask_pair.public_bytes,
                self._channel_pair.public_bytes,
                signature,
            )
        ]

    # ------------------------------------------------------------------ round 1
    def _on_key_book(self, m: KeyBook) -> list[Message]:
        setup, own_pair, chan_pair = self._session()
        book: dict[int, tuple[bytes, bytes]] = {}
        seen_keys = {own_pair.public_bytes, chan_pair.public_bytes}
        for peer in m.peers:
            if peer.client not in self._neighbours:
                raise ProtocolError(f"key book lists client {peer.client}, not a neighbour")
            if peer.client in book:
                raise ProtocolError(f"key book lists client {peer.client} twice")
            if len(peer.mask_key) != KEY_BYTES or len(peer.channel_key) != KEY_BYTES:
                raise ProtocolError("a public key in the key book is malformed")
            if peer.mask_key in seen_keys or peer.channel_key in seen_keys:
                raise ProtocolError("two parties advertise the same public key")
            seen_keys |= {peer.mask_key, peer.channel_key}
            if setup.active:
                vk = self._verify_keys.get(peer.client)
                if vk is None or not verify_signature(
                    vk,
                    peer.signature,
                    keys_payload(setup.session, peer.client, peer.mask_key, peer.channel_key),
                ):
                    raise ProtocolError(f"the keys of client {peer.client} are not signed by it")
            book[peer.client] = (peer.mask_key, peer.channel_key)
        if len(book) < setup.threshold:
            raise ProtocolError(
                f"only {len(book)} live neighbours, fewer than the threshold {setup.threshold}: "
                "the secrets could not be recovered"
            )
        # Figure 4, round 1: share b_u and c_u^SK among the live neighbours, t-out-of-|book|.
        self_mask_seed = self._rng.random_bytes(32)
        holders = sorted(book)
        shares = shamir.share(
            [int.from_bytes(self_mask_seed, "big"), int.from_bytes(own_pair.private_bytes, "big")],
            holders,
            setup.threshold,
            self._rng,
        )
        out = []
        for v, (b_share, sk_share) in zip(holders, shares, strict=True):
            key = channel_key(chan_pair.agree(book[v][1]), setup.session, self.id, v)
            self._channel_keys[v] = key
            plaintext = (
                struct.pack(">II", self.id, v)
                + b_share.to_bytes(shamir.SHARE_BYTES, "big")
                + sk_share.to_bytes(shamir.SHARE_BYTES, "big")
            )
            out.append(
                (
                    v,
                    seal_share(
                        key,
                        plaintext,
                        session=setup.session,
                        round_=Round.SHARE_KEYS,
                        sender=self.id,
                        recipient=v,
                    ),
                )
            )
        self._book, self._self_mask_seed = book, self_mask_seed
        self.stage = ClientStage.AWAIT_SHARES
        return [EncryptedShares(setup.session, self.id, SERVER, tuple(out))]

    # ------------------------------------------------------------------ round 2
    def _on_shares(self, m: SharesDelivery) -> list[Message]:
        setup, own_pair, _ = self._session()
        if self._input is None:
            raise ParameterError(
                f"client {self.id} has no input: call set_input() before the masked-input round"
            )
        held: dict[int, tuple[int, int]] = {}
        for v, ciphertext in m.shares:
            if v not in self._book:
                raise ProtocolError(f"shares from client {v}, which is not a live neighbour")
            if v in held:
                raise ProtocolError(f"two share ciphertexts from client {v}")
            plaintext = open_share(
                self._channel_keys[v],
                ciphertext,
                session=setup.session,
                round_=Round.SHARE_KEYS,
                sender=v,
                recipient=self.id,
            )
            src, dst = struct.unpack(">II", plaintext[:8])
            if (src, dst) != (v, self.id):
                raise ProtocolError(f"shares relabelled: claims {src}->{dst}, sent {v}->{self.id}")
            b_share = int.from_bytes(plaintext[8 : 8 + shamir.SHARE_BYTES], "big")
            sk_share = int.from_bytes(plaintext[8 + shamir.SHARE_BYTES :], "big")
            if b_share >= shamir.PRIME or sk_share >= shamir.PRIME:
                raise ProtocolError(f"client {v} sent shares outside the field")
            held[v] = (b_share, sk_share)
        if len(held) < setup.threshold:
            raise ProtocolError(
                f"only {len(held)} neighbours completed the key sharing, fewer than the "
                f"threshold {setup.threshold}"
            )
        values = self._input() if callable(self._input) else self._input
        vector = setup.encoding.encode(values, setup.width, weight=self._weight, rng=self._rng)
        expected = setup.encoding.length(setup.dim)
        if vector.shape[0] != expected:
            raise ParameterError(
                f"client {self.id}'s input has {vector.shape[0]} coordinates once encoded, the "
                f"session expects {expected}"
            )
        y = np.array(vector, dtype=dtype_for_bits(setup.width))
        # y_u = x_u + PRG(b_u) + sum_v (+-) PRG(s_{u,v}) over the neighbours in U_2.
        mask_into(y, self._self_mask_seed, +1)
        for v in sorted(held):
            shared = own_pair.agree(self._book[v][0])
            mask_into(y, mask_seed(shared, setup.session, self.id, v), +1 if self.id < v else -1)
        self._held = held
        self._input = None  # the plaintext leaves memory as soon as it is masked
        self.stage = ClientStage.AWAIT_CONSISTENCY if setup.active else ClientStage.AWAIT_UNMASK
        return [MaskedInput(setup.session, self.id, SERVER, y)]

    # ------------------------------------------------------------------ round 3 (active)
    def _on_consistency(self, m: ConsistencyCheck) -> list[Message]:
        setup, _, _ = self._session()
        survivors = m.survivors
        if len(set(survivors)) != len(survivors) or self.id not in survivors:
            raise ProtocolError("the survivor list repeats ids or omits this client")
        if not set(survivors) <= set(setup.participants):
            raise ProtocolError("the survivor list names non-participants")
        if self._signing_key is None:  # pragma: no cover - excluded by the constructor
            raise ProtocolError("no signing key")
        self._survivors_signed = tuple(sorted(survivors))
        sig = self._signing_key.sign(consistency_payload(setup.session, self._survivors_signed))
        self.stage = ClientStage.AWAIT_UNMASK
        return [ConsistencySignature(setup.session, self.id, SERVER, sig)]

    # ------------------------------------------------------------------ round 4
    def _on_unmask(self, m: UnmaskRequest) -> list[Message]:
        setup, _, _ = self._session()
        survivors, dropped = set(m.survivors), set(m.dropped)
        if len(survivors) != len(m.survivors) or len(dropped) != len(m.dropped):
            raise ProtocolError("the unmask request repeats ids")
        if survivors & dropped:
            raise ProtocolError(
                f"clients {sorted(survivors & dropped)} are listed as both survived and dropped: "
                "revealing both shares would expose their inputs"
            )
        if survivors | dropped != set(self._held):
            raise ProtocolError(
                "the unmask request must classify exactly the neighbours whose shares this "
                "client holds"
            )
        if len(survivors) + 1 < setup.threshold:
            raise ProtocolError(
                f"only {len(survivors) + 1} survivors around client {self.id}, fewer than the "
                f"threshold {setup.threshold}: refusing to unmask"
            )
        if setup.active:
            self._check_consistency(setup, m, survivors, dropped)
        shares: list[tuple[int, SecretKind, int]] = [
            (v, SecretKind.SELF_MASK, self._held[v][0]) for v in sorted(survivors)
        ]
        shares += [(v, SecretKind.MASK_KEY, self._held[v][1]) for v in sorted(dropped)]
        self.revealed_self_mask_shares = frozenset(survivors)
        self.revealed_mask_key_shares = frozenset(dropped)
        self.stage = ClientStage.DONE
        self._held = {}
        return [UnmaskShares(setup.session, self.id, SERVER, tuple(shares))]

    def _check_consistency(
        self, setup: Setup, m: UnmaskRequest, survivors: set[int], dropped: set[int]
    ) -> None:
        signed = self._survivors_signed
        if signed is None:  # pragma: no cover - the stage order forbids it
            raise ProtocolError("no consistency check happened")
        u3 = set(signed)
        if survivors != u3 & set(self._held) or dropped != set(self._held) - u3:
            raise ProtocolError("the unmask request contradicts the survivor list signed earlier")
        payload = consistency_payload(setup.session, signed)
        valid = set()
        for client, sig in m.signatures:
            if client not in (self._neighbours | {self.id}) or client not in u3:
                raise ProtocolError(f"a consistency signature from client {client}, not expected")
            vk = self._verify_keys.get(client)
            if vk is None or not verify_signature(vk, sig, payload):
                raise ProtocolError(
                    f"client {client}'s consistency signature does not match the survivor list "
                    "this client signed: the server showed different clients different lists"
                )
            valid.add(client)
        if len(valid) < setup.threshold:
            raise ProtocolError(
                f"only {len(valid)} neighbours confirmed the survivor list, fewer than the "
                f"threshold {setup.threshold}"
            )

    # ------------------------------------------------------------------ persistence
    def export_state(self) -> bytes:
        """The session state as JSON bytes, for drivers that cannot keep the object alive.

        Flower may run each message of a session in a fresh process, so its mod stores this
        blob in the node's local context between rounds. It holds the client's *secrets*
        (private keys, its self-mask seed, the shares it holds): keep it on the client, like
        the object itself. The input vector, the signing key and the PRNG are not included.
        """
        state = {
            "v": 1,
            "id": self.id,
            "profile": self.profile,
            "stage": self.stage.name,
            "abort": self.abort_reason,
            "setup": None if self._setup is None else encode(self._setup).hex(),
            "mask_sk": None if self._mask_pair is None else self._mask_pair.private_bytes.hex(),
            "chan_sk": None
            if self._channel_pair is None
            else self._channel_pair.private_bytes.hex(),
            "book": {str(v): [a.hex(), b.hex()] for v, (a, b) in self._book.items()},
            "chan_keys": {str(v): key.hex() for v, key in self._channel_keys.items()},
            "seed": self._self_mask_seed.hex(),
            "held": {str(v): [str(b), str(k)] for v, (b, k) in self._held.items()},
            "signed": None if self._survivors_signed is None else list(self._survivors_signed),
            "revealed_b": sorted(self.revealed_self_mask_shares),
            "revealed_sk": sorted(self.revealed_mask_key_shares),
        }
        return json.dumps(state, separators=(",", ":")).encode()

    @classmethod
    def from_state(
        cls,
        data: bytes,
        *,
        signing_key: SigningKey | None = None,
        verify_keys: dict[int, bytes] | None = None,
        rng: PRNG | None = None,
    ) -> SecAggClient:
        """Rebuild a client from :meth:`export_state` output.

        Raises:
            SerializationError: the blob is not a client state of this version.
        """
        try:
            st = json.loads(data)
            if st.get("v") != 1:
                raise SerializationError(f"unknown secure-aggregation client state {st.get('v')}")
            client = cls(
                int(st["id"]),
                profile=st["profile"],
                signing_key=signing_key,
                verify_keys=verify_keys,
                rng=rng,
            )
            client.stage = ClientStage[st["stage"]]
            client.abort_reason = st["abort"]
            if st["setup"] is not None:
                setup = decode(bytes.fromhex(st["setup"]))
                if not isinstance(setup, Setup):
                    raise SerializationError("the stored setup message is not a Setup")
                client._setup = setup
                client._neighbours = neighbours_of(
                    client.id, setup.participants, setup.degree, graph_seed(setup.session)
                )
            if st["mask_sk"] is not None:
                client._mask_pair = AgreementKeyPair(bytes.fromhex(st["mask_sk"]))
            if st["chan_sk"] is not None:
                client._channel_pair = AgreementKeyPair(bytes.fromhex(st["chan_sk"]))
            client._book = {
                int(v): (bytes.fromhex(a), bytes.fromhex(b)) for v, (a, b) in st["book"].items()
            }
            client._channel_keys = {int(v): bytes.fromhex(k) for v, k in st["chan_keys"].items()}
            client._self_mask_seed = bytes.fromhex(st["seed"])
            client._held = {int(v): (int(b), int(k)) for v, (b, k) in st["held"].items()}
            signed = st["signed"]
            client._survivors_signed = None if signed is None else tuple(int(x) for x in signed)
            client.revealed_self_mask_shares = frozenset(int(x) for x in st["revealed_b"])
            client.revealed_mask_key_shares = frozenset(int(x) for x in st["revealed_sk"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SerializationError(f"malformed secure-aggregation client state: {exc}") from exc
        return client

    # ------------------------------------------------------------------ helpers
    def _session(self) -> tuple[Setup, AgreementKeyPair, AgreementKeyPair]:
        if self._setup is None or self._mask_pair is None or self._channel_pair is None:
            raise ProtocolError("no setup received")  # pragma: no cover - stage order
        return self._setup, self._mask_pair, self._channel_pair


_ROUND_OF_STAGE: dict[ClientStage, Round] = {
    ClientStage.AWAIT_SETUP: Round.ADVERTISE_KEYS,
    ClientStage.AWAIT_KEYS: Round.SHARE_KEYS,
    ClientStage.AWAIT_SHARES: Round.MASKED_INPUT,
    ClientStage.AWAIT_CONSISTENCY: Round.CONSISTENCY,
    ClientStage.AWAIT_UNMASK: Round.UNMASK,
    ClientStage.DONE: Round.UNMASK,
    ClientStage.ABORTED: Round.UNMASK,
}
