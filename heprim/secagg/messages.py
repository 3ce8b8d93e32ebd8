"""The typed, versioned messages of secure aggregation and their compact binary form.

One class per message of Bonawitz et al. (2017, figure 4) with the SecAgg+ variations of Bell
et al. (2020). The server is party 0; clients are numbered 1 .. 2^32 - 1.

=======  ==============================  ========  ==============================================
round    message                         from      content
=======  ==============================  ========  ==============================================
0        :class:`Setup`                  server    session configuration, participant list
0        :class:`AdvertiseKeys`          client    c_u^PK (masks), s_u^PK (channel), [signature]
1        :class:`KeyBook`                server    the live neighbours' public keys
1        :class:`EncryptedShares`        client    one AEAD ciphertext of shares per neighbour
2        :class:`SharesDelivery`         server    the ciphertexts addressed to this client
2        :class:`MaskedInput`            client    y_u, packed in the smallest unsigned width
3        :class:`ConsistencyCheck`       server    U_3, the survivors (active profile only)
3        :class:`ConsistencySignature`   client    signature of U_3 (active profile only)
4        :class:`UnmaskRequest`          server    survivors and dropped neighbours, [signatures]
4        :class:`UnmaskShares`           client    b-shares of survivors, sk-shares of dropouts
any      :class:`Abort`                  server    the reason the session stopped
=======  ==============================  ========  ==============================================

Wire format: a 29-byte header ``b"HSA" | version (1) | kind (1) | session id (16) | sender (4)
| recipient (4)`` then the body, all integers big-endian except vector words (little-endian,
numpy's native order here). Lists are a 4-byte count then fixed-size items; there are no
variable-size items except the abort reason, so a truncated or extended message is always
detected. :func:`decode` raises :class:`~heprim.errors.SerializationError` for anything
malformed; the state machines then raise :class:`~heprim.errors.ProtocolError` for messages
that parse but do not belong (wrong stage, replay, stranger, wrong session).
"""

from __future__ import annotations

import struct
from collections.abc import Container
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, Final

import numpy as np
import numpy.typing as npt

from heprim.errors import ProtocolError, SerializationError
from heprim.secagg.crypto import KEY_BYTES, SIGNATURE_BYTES, TAG_BYTES
from heprim.secagg.encoding import ENCODING_BYTES, VectorEncoding
from heprim.secagg.masking import DTYPES
from heprim.secagg.shamir import PRIME, SHARE_BYTES
from heprim.secagg.wire import Reader, abort_body, parse_abort_reason, unpack_header

__all__ = [
    "CIPHERTEXT_BYTES",
    "HEADER_BYTES",
    "SERVER",
    "SESSION_BYTES",
    "VERSION",
    "Abort",
    "AdvertiseKeys",
    "ConsistencyCheck",
    "ConsistencySignature",
    "EncryptedShares",
    "KeyBook",
    "MaskedInput",
    "Message",
    "PeerKeys",
    "Round",
    "SecretKind",
    "Setup",
    "SharesDelivery",
    "UnmaskRequest",
    "UnmaskShares",
    "check_server_envelope",
    "decode",
    "encode",
    "register_kind",
]

MAGIC: Final = b"HSA"
VERSION: Final = 1
SERVER: Final = 0
SESSION_BYTES: Final = 16
_HEADER: Final = struct.Struct(">3sBB16sII")
HEADER_BYTES: Final = _HEADER.size
PLAINTEXT_BYTES: Final = 8 + 2 * SHARE_BYTES
"""A share plaintext: sender (4) | recipient (4) | share of b_u | share of c_u^SK."""
CIPHERTEXT_BYTES: Final = PLAINTEXT_BYTES + TAG_BYTES


class Round(IntEnum):
    """The rounds of the protocol (Bonawitz et al. figure 4 numbering)."""

    ADVERTISE_KEYS = 0
    SHARE_KEYS = 1
    MASKED_INPUT = 2
    CONSISTENCY = 3
    UNMASK = 4


class SecretKind(IntEnum):
    """Which of a peer's two secrets an unmasking share belongs to."""

    SELF_MASK = 0  # b_v: the peer survived, its self mask must be removed
    MASK_KEY = 1  # c_v^SK: the peer dropped, its pairwise masks must be removed


class _Reader(Reader):
    __slots__ = ()
    WHAT: ClassVar[str] = "secure-aggregation message"

    def ids(self) -> tuple[int, ...]:
        n = self.count(4)
        return tuple(int(x) for x in np.frombuffer(self.take(4 * n), dtype=">u4"))


def _ids(values: tuple[int, ...]) -> bytes:
    return struct.pack(">I", len(values)) + np.asarray(values, dtype=">u4").tobytes()


def _check_ids(values: tuple[int, ...]) -> None:
    for v in values:
        if not 0 <= v < 2**32:
            raise SerializationError(f"party id {v} does not fit in 32 bits")


@dataclass(frozen=True, slots=True)
class Message:
    """Fields every message carries: the session id, the sender and the recipient."""

    KIND: ClassVar[int] = 0
    # Round for SecAgg; the HE aggregation protocols (heprim.secagg.he_*) use their own enum.
    ROUND: ClassVar[IntEnum | None] = None

    session: bytes
    sender: int
    recipient: int

    def _body(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> Message:
        raise NotImplementedError

    @property
    def nbytes(self) -> int:
        """The size of :func:`encode`'s output (cheap: vectors are not copied)."""
        return HEADER_BYTES + len(self._body())


@dataclass(frozen=True, slots=True)
class Setup(Message):
    """Round 0, server to client: the session's configuration (everyone gets the same).

    The sharing graph is not sent: every client recomputes its own neighbourhood from the
    public session id, the participant list and the degree (:mod:`heprim.secagg.graph`), so
    the server cannot hand a client a hand-picked neighbourhood.
    """

    KIND: ClassVar[int] = 1
    ROUND: ClassVar[Round | None] = Round.ADVERTISE_KEYS
    participants: tuple[int, ...]
    degree: int
    threshold: int
    dim: int
    width: int
    active: bool
    encoding: VectorEncoding

    def _body(self) -> bytes:
        head = struct.pack(">IIQBB", self.degree, self.threshold, self.dim, self.width, self.active)
        return head + self.encoding.to_bytes() + _ids(self.participants)

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> Setup:
        degree, threshold, dim, width, active = r.unpack(">IIQBB")
        if active not in (0, 1) or width not in DTYPES:
            raise SerializationError("invalid setup flags")
        encoding = VectorEncoding.from_bytes(bytes(r.take(ENCODING_BYTES)))
        participants = r.ids()
        return cls(
            session,
            sender,
            recipient,
            participants,
            degree,
            threshold,
            dim,
            width,
            bool(active),
            encoding,
        )


@dataclass(frozen=True, slots=True)
class AdvertiseKeys(Message):
    """Round 0, client to server: c_u^PK (pairwise masks) and s_u^PK (share channel).

    In the active profile ``signature`` signs both keys with the client's Ed25519 identity.
    """

    KIND: ClassVar[int] = 2
    ROUND: ClassVar[Round | None] = Round.ADVERTISE_KEYS
    mask_key: bytes
    channel_key: bytes
    signature: bytes = b""

    def _body(self) -> bytes:
        return self.mask_key + self.channel_key + bytes([len(self.signature)]) + self.signature

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> AdvertiseKeys:
        mask_key, channel_key = bytes(r.take(KEY_BYTES)), bytes(r.take(KEY_BYTES))
        (n,) = r.unpack(">B")
        if n not in (0, SIGNATURE_BYTES):
            raise SerializationError("a key signature is 0 or 64 bytes")
        return cls(session, sender, recipient, mask_key, channel_key, bytes(r.take(n)))


@dataclass(frozen=True, slots=True)
class PeerKeys:
    """One entry of a :class:`KeyBook`: a neighbour's advertised keys."""

    client: int
    mask_key: bytes
    channel_key: bytes
    signature: bytes = b""


@dataclass(frozen=True, slots=True)
class KeyBook(Message):
    """Round 1, server to client: the advertised keys of the client's live neighbours."""

    KIND: ClassVar[int] = 3
    ROUND: ClassVar[Round | None] = Round.SHARE_KEYS
    peers: tuple[PeerKeys, ...]

    def _body(self) -> bytes:
        sig_len = len(self.peers[0].signature) if self.peers else 0
        parts = [struct.pack(">IB", len(self.peers), sig_len)]
        for p in self.peers:
            if len(p.signature) != sig_len:
                raise SerializationError("all key signatures in a key book have one length")
            parts.append(struct.pack(">I", p.client) + p.mask_key + p.channel_key + p.signature)
        return b"".join(parts)

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> KeyBook:
        n, sig_len = r.unpack(">IB")
        if sig_len not in (0, SIGNATURE_BYTES):
            raise SerializationError("a key signature is 0 or 64 bytes")
        r_count = n * (4 + 2 * KEY_BYTES + sig_len)
        block = r.take(r_count)
        peers = []
        step = 4 + 2 * KEY_BYTES + sig_len
        for i in range(n):
            item = block[i * step : (i + 1) * step]
            peers.append(
                PeerKeys(
                    int.from_bytes(item[:4], "big"),
                    bytes(item[4 : 4 + KEY_BYTES]),
                    bytes(item[4 + KEY_BYTES : 4 + 2 * KEY_BYTES]),
                    bytes(item[4 + 2 * KEY_BYTES :]),
                )
            )
        return cls(session, sender, recipient, tuple(peers))


def _pack_addressed(items: tuple[tuple[int, bytes], ...]) -> bytes:
    parts = [struct.pack(">I", len(items))]
    for party, ciphertext in items:
        if len(ciphertext) != CIPHERTEXT_BYTES:
            raise SerializationError(f"a share ciphertext is {CIPHERTEXT_BYTES} bytes")
        parts.append(struct.pack(">I", party) + ciphertext)
    return b"".join(parts)


def _parse_addressed(r: _Reader) -> tuple[tuple[int, bytes], ...]:
    step = 4 + CIPHERTEXT_BYTES
    n = r.count(step)
    block = r.take(n * step)
    return tuple(
        (
            int.from_bytes(block[i * step : i * step + 4], "big"),
            bytes(block[i * step + 4 : (i + 1) * step]),
        )
        for i in range(n)
    )


@dataclass(frozen=True, slots=True)
class EncryptedShares(Message):
    """Round 1, client to server: ``(recipient, ciphertext)`` for each live neighbour."""

    KIND: ClassVar[int] = 4
    ROUND: ClassVar[Round | None] = Round.SHARE_KEYS
    shares: tuple[tuple[int, bytes], ...]

    def _body(self) -> bytes:
        return _pack_addressed(self.shares)

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> EncryptedShares:
        return cls(session, sender, recipient, _parse_addressed(r))


@dataclass(frozen=True, slots=True)
class SharesDelivery(Message):
    """Round 2, server to client: ``(sender, ciphertext)`` for the shares addressed to it."""

    KIND: ClassVar[int] = 5
    ROUND: ClassVar[Round | None] = Round.MASKED_INPUT
    shares: tuple[tuple[int, bytes], ...]

    def _body(self) -> bytes:
        return _pack_addressed(self.shares)

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> SharesDelivery:
        return cls(session, sender, recipient, _parse_addressed(r))


@dataclass(frozen=True, slots=True, eq=False)
class MaskedInput(Message):
    """Round 2, client to server: y_u as words of the session's width (8 to 64 bits)."""

    KIND: ClassVar[int] = 6
    ROUND: ClassVar[Round | None] = Round.MASKED_INPUT
    vector: npt.NDArray[np.unsignedinteger[Any]] = field(repr=False)

    def _body(self) -> bytes:
        width = self.vector.dtype.itemsize * 8
        if self.vector.dtype.kind != "u" or width not in DTYPES or self.vector.ndim != 1:
            raise SerializationError("a masked vector is a flat unsigned array")
        le = self.vector.astype(self.vector.dtype.newbyteorder("<"), copy=False)
        return struct.pack(">BQ", width, self.vector.shape[0]) + le.tobytes()

    @property
    def nbytes(self) -> int:
        return HEADER_BYTES + 9 + self.vector.nbytes

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> MaskedInput:
        width, length = r.unpack(">BQ")
        if width not in DTYPES:
            raise SerializationError(f"unsupported masked-vector width {width}")
        dtype = np.dtype(DTYPES[width]).newbyteorder("<")
        raw = r.take(length * dtype.itemsize)
        return cls(session, sender, recipient, np.frombuffer(raw, dtype=dtype))


@dataclass(frozen=True, slots=True)
class ConsistencyCheck(Message):
    """Round 3 (active profile), server to client: U_3, the clients whose inputs are summed."""

    KIND: ClassVar[int] = 7
    ROUND: ClassVar[Round | None] = Round.CONSISTENCY
    survivors: tuple[int, ...]

    def _body(self) -> bytes:
        return _ids(self.survivors)

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> ConsistencyCheck:
        return cls(session, sender, recipient, r.ids())


@dataclass(frozen=True, slots=True)
class ConsistencySignature(Message):
    """Round 3 (active profile), client to server: the client's signature of U_3."""

    KIND: ClassVar[int] = 8
    ROUND: ClassVar[Round | None] = Round.CONSISTENCY
    signature: bytes

    def _body(self) -> bytes:
        if len(self.signature) != SIGNATURE_BYTES:
            raise SerializationError("a consistency signature is 64 bytes")
        return self.signature

    @classmethod
    def _parse(
        cls, session: bytes, sender: int, recipient: int, r: _Reader
    ) -> ConsistencySignature:
        return cls(session, sender, recipient, bytes(r.take(SIGNATURE_BYTES)))


@dataclass(frozen=True, slots=True)
class UnmaskRequest(Message):
    """Round 4, server to client: which neighbours survived and which dropped.

    In the active profile ``signatures`` carries ``(client, signature of U_3)`` pairs that
    convince the client at least t of its neighbours saw the same U_3.
    """

    KIND: ClassVar[int] = 9
    ROUND: ClassVar[Round | None] = Round.UNMASK
    survivors: tuple[int, ...]
    dropped: tuple[int, ...]
    signatures: tuple[tuple[int, bytes], ...] = ()

    def _body(self) -> bytes:
        parts = [_ids(self.survivors), _ids(self.dropped), struct.pack(">I", len(self.signatures))]
        for client, sig in self.signatures:
            if len(sig) != SIGNATURE_BYTES:
                raise SerializationError("a consistency signature is 64 bytes")
            parts.append(struct.pack(">I", client) + sig)
        return b"".join(parts)

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> UnmaskRequest:
        survivors, dropped = r.ids(), r.ids()
        step = 4 + SIGNATURE_BYTES
        n = r.count(step)
        block = r.take(n * step)
        sigs = tuple(
            (
                int.from_bytes(block[i * step : i * step + 4], "big"),
                bytes(block[i * step + 4 : (i + 1) * step]),
            )
            for i in range(n)
        )
        return cls(session, sender, recipient, survivors, dropped, sigs)


@dataclass(frozen=True, slots=True)
class UnmaskShares(Message):
    """Round 4, client to server: ``(owner, kind, share)`` for every neighbour asked about."""

    KIND: ClassVar[int] = 10
    ROUND: ClassVar[Round | None] = Round.UNMASK
    shares: tuple[tuple[int, SecretKind, int], ...]

    def _body(self) -> bytes:
        parts = [struct.pack(">I", len(self.shares))]
        for owner, kind, value in self.shares:
            if not 0 <= value < PRIME:
                raise SerializationError("a share is a field element")
            parts.append(struct.pack(">IB", owner, kind) + value.to_bytes(SHARE_BYTES, "big"))
        return b"".join(parts)

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> UnmaskShares:
        step = 5 + SHARE_BYTES
        n = r.count(step)
        block = r.take(n * step)
        shares = []
        for i in range(n):
            item = block[i * step : (i + 1) * step]
            kind = item[4]
            if kind not in (0, 1):
                raise SerializationError(f"unknown secret kind {kind}")
            value = int.from_bytes(item[5:], "big")
            if value >= PRIME:
                raise SerializationError("a share is a field element")
            shares.append((int.from_bytes(item[:4], "big"), SecretKind(kind), value))
        return cls(session, sender, recipient, tuple(shares))


@dataclass(frozen=True, slots=True)
class Abort(Message):
    """Any round, server to client: the session is over without a result, and why."""

    KIND: ClassVar[int] = 11
    reason: str

    def _body(self) -> bytes:
        return abort_body(self.reason)

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> Abort:
        return cls(session, sender, recipient, parse_abort_reason(r))


_KINDS: Final[dict[int, type[Message]]] = {
    cls.KIND: cls
    for cls in (
        Setup,
        AdvertiseKeys,
        KeyBook,
        EncryptedShares,
        SharesDelivery,
        MaskedInput,
        ConsistencyCheck,
        ConsistencySignature,
        UnmaskRequest,
        UnmaskShares,
        Abort,
    )
}


def encode(message: Message) -> bytes:
    """The compact binary form of ``message`` (header then body)."""
    if len(message.session) != SESSION_BYTES:
        raise SerializationError(f"a session id is {SESSION_BYTES} bytes")
    _check_ids((message.sender, message.recipient))
    header = _HEADER.pack(
        MAGIC, VERSION, message.KIND, message.session, message.sender, message.recipient
    )
    return header + message._body()


def decode(data: bytes | bytearray | memoryview) -> Message:
    """Parse one message; :class:`SerializationError` if it is malformed in any way."""
    view, (kind, session, sender, recipient) = unpack_header(
        data, _HEADER, MAGIC, VERSION, _Reader.WHAT
    )
    cls = _KINDS.get(kind)
    if cls is None:
        raise SerializationError(f"unknown secure-aggregation message kind {kind}")
    reader = _Reader(view, HEADER_BYTES)
    message = cls._parse(bytes(session), sender, recipient, reader)
    reader.finish()
    return message


def check_server_envelope(
    m: object,
    expected_type: type[Message],
    *,
    session: bytes,
    known: Container[int],
    expected: Container[int],
    answered: Container[int],
    stage: str,
    what: str = "a secure-aggregation message",
    role: str = "client",
    absent: str = "was excluded",
) -> None:
    """The checks every server state machine makes on an incoming message, in this order: a
    message of this protocol family, of this session, addressed to the server, from a known
    party that is part of the current round, not already answered (a replay), and of the type
    the round expects. Raises :class:`~heprim.errors.ProtocolError` naming what is wrong."""
    if not isinstance(m, Message):
        raise ProtocolError(f"not {what}: {type(m).__name__}")
    if m.session != session:
        raise ProtocolError("message from another session (session id mismatch)")
    if m.recipient != SERVER:
        raise ProtocolError(f"message for party {m.recipient} delivered to the server")
    if m.sender not in known:
        raise ProtocolError(f"message from unknown party {m.sender}")
    if m.sender not in expected:
        raise ProtocolError(
            f"{role} {m.sender} is not part of this round ({stage}): it dropped out earlier "
            f"or {absent}"
        )
    if m.sender in answered:
        raise ProtocolError(f"{role} {m.sender} already answered this round: replayed")
    if not isinstance(m, expected_type):
        raise ProtocolError(
            f"the server is {stage} but {role} {m.sender} sent {type(m).__name__}: out of order"
        )


def register_kind(cls: type[Message]) -> type[Message]:
    """Make :func:`decode` parse one more message class (a class decorator).

    The HE aggregation protocols (:mod:`heprim.secagg.he_messages`) share this header and
    codec with kinds of their own; SecAgg uses kinds 1-11, Paillier aggregation 16-31, and
    kinds from 32 on are left for further protocols. A kind is registered once.
    """
    kind = cls.KIND
    if not 0 < kind < 256:
        raise SerializationError(f"a message kind is a byte in [1, 255], got {kind}")
    if _KINDS.get(kind, cls) is not cls:
        raise SerializationError(f"message kind {kind} is already {_KINDS[kind].__name__}")
    _KINDS[kind] = cls
    return cls
