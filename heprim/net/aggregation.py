"""Secure aggregation over TCP: one server process, many party processes, one connection each.

The asyncio driver of the sans-I/O aggregation state machines on a real network: SecAgg /
SecAgg+ (:class:`~heprim.secagg.server.SecAggServer`, :class:`~heprim.secagg.client.SecAggClient`;
:func:`serve_async`, :func:`run_client_async`) and the HE aggregation protocols (any
:class:`~heprim.secagg.he_aggregation.HEAggregationServer` with its
:class:`~heprim.secagg.he_aggregation.HEAggregationParty` clients and decryptors: threshold
Paillier, multiparty BFV with a collective key or with client keys; :func:`serve_he_async`,
:func:`run_party_async`). It moves messages and nothing else, exactly as the in-process
:func:`heprim.net.simulate.drive` does; what the network adds is *time*: a party that
disconnects or stays silent past a round's deadline is a dropout, which is precisely what
Bonawitz et al. (CCS 2017, section 4) designed SecAgg to survive, and what the HE protocols
tolerate by construction (a client's input is simply not in the sum; decryptors may drop out
down to the threshold ``t``).

Both families share one server loop: the joining, the reading and writing, the deadlines and
the handling of misbehaviour are the same code; a small adapter per family says what is
particular to it (its round enum, and what becomes of a party the next round leaves out: a
dropout in SecAgg, a party whose part is over, or not needed, in HE).

Every message goes between a party and the server (SecAgg's client-to-client shares travel
inside :class:`~heprim.secagg.messages.EncryptedShares`, sealed for their recipient, and the
server only routes them), one :func:`heprim.secagg.messages.encode` frame per message,
length-prefixed by :func:`heprim.net.tcp.write_frame`.

**Joining.** A party's first frame is a 9-byte hello ``b"HAGG" | version (1) | party id (4,
big-endian)``. The server accepts ids it expects (for SecAgg any distinct ids in ``[1, 2^32)``
when it was only told how many clients to wait for; for HE the parties of the
:class:`~heprim.secagg.he_aggregation.HESessionConfig`), refuses a repeated id, a stranger, a
malformed hello or a latecomer with an :class:`~heprim.secagg.messages.Abort` naming the
reason, and starts the session once everyone has joined or, at the join deadline, with whoever
joined if they can still reach a result (SecAgg: at least ``min_clients``; HE: ``t``
decryptors and ``min_contributors`` clients; an HE party that never joined is a dropout). The
session's parameters then travel in the protocol's own setup message; a party can check the
dimension and the encoding against what it expects (``dim=``, ``encoding=``), and an HE party
checks the key fingerprint itself.

**Rounds and deadlines.** The server feeds each received frame to the state machine (decode,
then ``handle``) and routes every message it emits to its recipient's connection. A round ends
when every expected party has answered, when all those still owing an answer have
disconnected, or ``round_timeout`` seconds after it opened; then ``close_round`` goes on
without the missing parties. SecAgg clients the server leaves out of the next round (dropped,
or left with fewer than t live neighbours) receive an ``Abort`` saying so and are
disconnected, so no client process waits for nothing; so do the ready BFV decryptors the
server did not pick among its ``t`` (they are *released*, not dropped), and, when a session
aborts, every party still connected. A malformed frame, a message claiming another sender, or
anything the state machine refuses is that party's :class:`~heprim.errors.ProtocolError`: the
party is disconnected and counted as dropped (:attr:`ServerReport.dropped` says why); the
session goes on. An HE decryptor whose well-formed shares fail their proof is not dropped but
*rejected* by the protocol (:attr:`ServerReport.rejected`), and the sum is decrypted from ``t``
others if there are.

Long computations (the unmasking's Shamir reconstruction, the HE decryption, a party's masking
or encryption) run in a worker thread, so the event loop keeps every connection served.

**Security.** Frames travel in the clear unless :class:`ssl.SSLContext` objects are given
(``ssl=``, as in :mod:`heprim.net.tcp`). The semi-honest model of these protocols assumes
authenticated and private channels between each party and the server: in particular the
hello's party id is only as trustworthy as the channel, so use TLS with client certificates (or
a network the parties trust) in deployment. SecAgg's client-to-client secrets are protected end
to end by the protocol itself (X25519 + ChaCha20-Poly1305) whatever the transport; HE inputs
are encrypted under the decryptors' key whatever the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import numbers
import ssl as ssl_module
import struct
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, ClassVar, Final, Generic, Protocol, TypeVar

from heprim.errors import HeprimError, ParameterError, ProtocolError, SerializationError
from heprim.math.prng import PRNG, default_rng
from heprim.net.tcp import (
    DEFAULT_MAX_FRAME,
    DEFAULT_TIMEOUT,
    TransportReport,
    connect_async,
    parse_address,
    read_frame,
    write_frame,
)
from heprim.secagg.client import ClientStage, SecAggClient
from heprim.secagg.cost import CostLedger
from heprim.secagg.encoding import Aggregate, VectorEncoding
from heprim.secagg.graph import GraphParams, Profile
from heprim.secagg.he_aggregation import (
    HEAggregationParty,
    HEAggregationServer,
    HEDeployment,
    HEPartyStage,
    HESessionConfig,
)
from heprim.secagg.he_bfv import BFVAggregationServer
from heprim.secagg.he_bfv_client_keys import ClientKeyServer
from heprim.secagg.he_messages import BFVSetup, HERound, PaillierSetup
from heprim.secagg.he_paillier import PaillierAggregationServer
from heprim.secagg.messages import (
    CIPHERTEXT_BYTES,
    HEADER_BYTES,
    SERVER,
    SESSION_BYTES,
    Abort,
    Message,
    Round,
    Setup,
    decode,
    encode,
)
from heprim.secagg.server import SecAggServer, SessionConfig
from heprim.secagg.shamir import SHARE_BYTES

__all__ = [
    "HELLO_BYTES",
    "HELLO_MAGIC",
    "HELLO_VERSION",
    "MAX_PENDING_FRAMES",
    "RELEASED",
    "ClientReport",
    "HEPartyEndpoint",
    "SecAggEndpoint",
    "ServerReport",
    "decode_hello",
    "encode_hello",
    "run_client",
    "run_client_async",
    "run_party",
    "run_party_async",
    "serve",
    "serve_async",
    "serve_he",
    "serve_he_async",
]

HELLO_MAGIC: Final = b"HAGG"
HELLO_VERSION: Final = 1
_HELLO: Final = struct.Struct(">4sBI")
HELLO_BYTES: Final = _HELLO.size
_CLOSE_GRACE: Final = 5.0  # seconds to flush the last frames (an abort) before hanging up
#: Frames a party may have waiting for the session loop. The protocols ask one message per
#: round of a party, so a party further ahead than this is flooding: it is dropped instead of
#: filling the server's memory.
MAX_PENDING_FRAMES: Final = 4
#: How the abort reason of a released HE decryptor begins (:attr:`ClientReport.released`).
RELEASED: Final = "not needed"

Progress = Callable[[int, int], None]
Events = Callable[[str], None]


def encode_hello(client_id: int) -> bytes:
    """The first frame a party sends: ``b"HAGG" | version | party id``."""
    if isinstance(client_id, bool) or not isinstance(client_id, int) or not 0 < client_id < 2**32:
        raise ParameterError(f"a client id is an integer in [1, 2^32), got {client_id!r}")
    return _HELLO.pack(HELLO_MAGIC, HELLO_VERSION, client_id)


def decode_hello(frame: bytes) -> int:
    """The party id of a hello frame; :class:`~heprim.errors.ProtocolError` if it is not one."""
    if len(frame) != HELLO_BYTES:
        raise ProtocolError(f"a hello frame is {HELLO_BYTES} bytes, got {len(frame)}")
    magic, version, client_id = _HELLO.unpack(frame)
    if magic != HELLO_MAGIC:
        raise ProtocolError("the first frame is not a secure-aggregation hello (bad magic)")
    if version != HELLO_VERSION:
        raise ProtocolError(
            f"hello version {version}, this server speaks version {HELLO_VERSION}: upgrade the "
            "older side"
        )
    if not 0 < client_id < 2**32:
        raise ProtocolError("client id 0 is the server's")
    return int(client_id)


def _max_client_frame(dim: int, encoding: VectorEncoding, n_clients: int) -> int:
    """A bound on the frames an honest client of a SecAgg session of at most ``n_clients``
    sends (its masked input, or its shares for at most ``n_clients - 1`` neighbours): anything
    longer is refused before it is buffered."""
    masked = HEADER_BYTES + 9 + encoding.length(dim) * encoding.width(n_clients) // 8
    shares = HEADER_BYTES + 4 + n_clients * (4 + CIPHERTEXT_BYTES)
    unmask = HEADER_BYTES + 4 + n_clients * (5 + SHARE_BYTES)
    return max(masked, shares, unmask) + 1024


def _max_party_frame(server: HEAggregationServer) -> int:
    """A bound on the frames an honest party of an HE session sends: its encrypted input or
    its decryption shares, whichever is larger (:data:`~heprim.net.tcp.DEFAULT_MAX_FRAME` for a
    protocol this driver does not know the sizes of)."""
    cfg = server.config
    length = cfg.encoding.length(cfg.dim)
    if isinstance(server, PaillierAggregationServer):
        # One word of n^2 per ciphertext or share; a proof is a 256-bit challenge and a
        # response of at most |n^2| + |Delta| + 384 bits (heprim.paillier.threshold).
        public = server.public
        width = (int(public.public_key.nsquare).bit_length() + 7) // 8
        proof = 32 + width + (int(public.delta).bit_length() + 7) // 8 + 48
        body = server.encoder.ciphertexts_for(length) * width + proof
    elif isinstance(server, BFVAggregationServer | ClientKeyServer):
        params = server.public.params if isinstance(server, BFVAggregationServer) else server.params
        # Two polynomials of at most 32-bit residues per chunk of N slots.
        chunks = -(-length // params.degree)
        body = chunks * 2 * server.upload_level * params.degree * 4
    else:
        return DEFAULT_MAX_FRAME
    return HEADER_BYTES + body + 1024


# ============================================================================ party side
class _StateMachine(Protocol):
    """What the driver needs of every sans-I/O state machine, server or party."""

    @property
    def stage(self) -> Enum: ...

    @property
    def abort_reason(self) -> str | None: ...

    def handle(self, message: Message) -> list[Message]: ...


class _Party(_StateMachine, Protocol):
    """What an endpoint needs of a party: SecAgg's client and every HE party."""

    @property
    def id(self) -> int: ...

    @property
    def cost(self) -> CostLedger: ...


P = TypeVar("P", bound=_Party)


class _PartyEndpoint(Generic[P]):
    """A sans-I/O party as a :class:`heprim.net.tcp.Endpoint`: sends the hello, then decodes
    each server frame, checks a setup against what the party expects, hands the message to the
    party and encodes the replies. A subclass names the party class and its final stages."""

    _PARTY: ClassVar[type]
    _DONE: ClassVar[Enum]
    _ABORTED: ClassVar[Enum]

    def __init__(
        self,
        party: P,
        *,
        dim: int | None = None,
        encoding: VectorEncoding | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> None:
        if not isinstance(party, self._PARTY):
            raise ParameterError(f"{type(self).__name__} drives a {self._PARTY.__name__}")
        self.party = party
        self.dim = dim
        self.encoding = encoding
        self.before_send = before_send

    @property
    def finished(self) -> bool:
        """Whether the party sent its last message (or the server ended its part)."""
        return self.party.stage in (self._DONE, self._ABORTED)

    @property
    def completed(self) -> bool:
        """Whether the party did its whole part (a SecAgg client sent its unmasking shares, an
        HE party its input and, as a decryptor, its decryption shares)."""
        return self.party.stage is self._DONE

    def initial(self) -> list[bytes]:
        """The hello frame."""
        return [encode_hello(self.party.id)]

    def receive(self, frame: bytes) -> list[bytes]:
        """One server frame in, the party's reply frames out."""
        try:
            message = decode(frame)
        except SerializationError as exc:
            raise ProtocolError(f"the server sent a malformed frame: {exc}") from None
        if isinstance(message, Setup | PaillierSetup | BFVSetup):
            self._check_setup(message.dim, message.encoding)
        replies = [encode(reply) for reply in self.party.handle(message)]
        if replies and self.before_send is not None:
            self.before_send()  # e.g. store a client key's used seeds before its upload leaves
        return replies

    def _check_setup(self, dim: int, encoding: VectorEncoding) -> None:
        if self.dim is not None and dim != self.dim:
            raise ProtocolError(
                f"the server's session aggregates vectors of {dim} values, this client "
                f"has {self.dim}: check --dim on both sides"
            )
        if self.encoding is not None and encoding != self.encoding:
            raise ProtocolError(
                f"the server's session encodes {encoding}, this client expects {self.encoding}"
            )

    def abort_frame(self, reason: str) -> bytes | None:
        """No party-side abort message exists: the server sees a dropout."""
        return None


class SecAggEndpoint(_PartyEndpoint[SecAggClient]):
    """A :class:`~heprim.secagg.client.SecAggClient` as a :class:`heprim.net.tcp.Endpoint`.

    Sends the hello, then decodes each server frame, hands it to the client and encodes the
    replies. ``dim`` and ``encoding``, when given, are what this client expects of the session:
    a :class:`~heprim.secagg.messages.Setup` announcing anything else is refused before any key
    is generated.
    """

    _PARTY = SecAggClient
    _DONE, _ABORTED = ClientStage.DONE, ClientStage.ABORTED

    @property
    def client(self) -> SecAggClient:
        """The client (:attr:`party` by its SecAgg name)."""
        return self.party


class HEPartyEndpoint(_PartyEndpoint[HEAggregationParty]):
    """An :class:`~heprim.secagg.he_aggregation.HEAggregationParty` (a client, a decryptor, or
    both: ``deployment.party(id)``) as a :class:`heprim.net.tcp.Endpoint`; ``dim`` and
    ``encoding`` as in :class:`SecAggEndpoint` (the party checks the setup's key fingerprint
    itself)."""

    _PARTY = HEAggregationParty
    _DONE, _ABORTED = HEPartyStage.DONE, HEPartyStage.ABORTED


@dataclass
class ClientReport(TransportReport):
    """What one party's connection carried, and how its session ended.

    Attributes:
        client: the party id.
        completed: whether the party did its whole part (a SecAgg client sent its unmasking
            shares; an HE party its input and, as a decryptor, its shares). The server may
            still abort afterwards, which the party is not always told.
        abort_reason: the server's reason when it aborted the session, excluded this party or
            released it (an HE decryptor not needed for the decryption).
        cost: the party's per-round compute time and message bytes.
    """

    client: int = 0
    completed: bool = False
    abort_reason: str | None = None
    cost: CostLedger = field(default_factory=CostLedger)

    @property
    def released(self) -> bool:
        """Whether the server ended this party's part because it was not needed (an HE
        decryptor that was ready, beyond the ``t`` the server asked for their shares)."""
        return not self.completed and (self.abort_reason or "").startswith(RELEASED)


async def run_party_async(
    party: SecAggClient | HEAggregationParty,
    host: str,
    port: int,
    *,
    dim: int | None = None,
    encoding: VectorEncoding | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    connect_timeout: float = 30.0,
    max_frame: int = DEFAULT_MAX_FRAME,
    ssl: ssl_module.SSLContext | None = None,
    before_send: Callable[[], None] | None = None,
) -> ClientReport:
    """Connect to a :func:`serve_async` or :func:`serve_he_async` server (retrying until
    ``connect_timeout``), run ``party`` through the session and report.

    ``party`` is a :class:`~heprim.secagg.client.SecAggClient` or an HE party (a
    ``deployment.party(id)``); it must already have its input if it is a client
    (``set_input``, possibly a callable evaluated at the input round). ``timeout`` bounds the
    silence between two server messages; make it longer than the server's round deadline. An
    abort by the server is reported (``abort_reason``), not raised; a broken connection or a
    message the party refuses raises :class:`~heprim.errors.ProtocolError`.
    ``before_send()``, when given, runs each time the party has produced messages and before
    they leave: the place to store state that must outlive the process (a client-key BFV
    client's used seeds, a decryptor's answered sessions; see
    :mod:`heprim.serialize.client_keys`). :func:`run_client_async` is the same function.
    """
    endpoint: SecAggEndpoint | HEPartyEndpoint
    if isinstance(party, HEAggregationParty):
        endpoint = HEPartyEndpoint(party, dim=dim, encoding=encoding, before_send=before_send)
    else:
        endpoint = SecAggEndpoint(party, dim=dim, encoding=encoding, before_send=before_send)
    transport = await connect_async(
        endpoint,
        host,
        port,
        timeout=timeout,
        connect_timeout=connect_timeout,
        max_frame=max_frame,
        ssl=ssl,
    )
    return ClientReport(
        **vars(transport),
        client=party.id,
        completed=endpoint.completed,
        abort_reason=party.abort_reason,
        cost=party.cost,
    )


def run_party(
    party: SecAggClient | HEAggregationParty, address: str, **kwargs: object
) -> ClientReport:
    """Blocking :func:`run_party_async` to ``address`` (``"host:port"``); :func:`run_client` is
    the same function."""
    host, port = parse_address(address)
    if port == 0:
        raise ParameterError("connect to a definite port (got port 0)")
    return asyncio.run(run_party_async(party, host, port, **kwargs))  # type: ignore[arg-type]


#: SecAgg's name for :func:`run_party_async` (a SecAgg client is a party).
run_client_async = run_party_async
#: SecAgg's name for :func:`run_party`.
run_client = run_party


# ============================================================================ server side
@dataclass
class ServerReport:
    """What one served session produced, who dropped and why, and what it cost.

    Attributes:
        aggregate: the decoded sum, or ``None`` if the session aborted.
        abort_reason: why it aborted (too few parties joined, or the protocol's abort), or
            ``None``.
        survivors: the clients whose inputs are in the sum (SecAgg's U_3).
        joined: the parties that joined (SecAgg: the session's participants).
        dropped: every party that did not finish its part, with the reason (never joined,
            disconnected, silent past a deadline, excluded by the server, or a protocol error
            it committed).
        refused: connections refused while joining or after the start, with the reason.
        config: the session configuration (a :class:`~heprim.secagg.server.SessionConfig` or
            an :class:`~heprim.secagg.he_aggregation.HESessionConfig`; ``None`` if a SecAgg
            session never started).
        server_cost: the server's per-round compute time and message bytes.
        client_costs: each party's per-round traffic *as the server saw it* (its compute time
            is not observable here and stays 0).
        transport: bytes and frames on the wire over all connections (prefixes and hellos
            included).
        address: the ``host:port`` the server listened on.
        seconds: wall-clock time from listening to the end.
        session_seconds: wall-clock time of the protocol itself, from the setup messages to
            the end (the joining excluded).
        protocol: ``"secagg"``, or the HE deployment's name (``"paillier"``, ``"bfv"``,
            ``"bfv-client-keys"``).
        rejected: HE decryptors whose well-formed shares the protocol rejected (a failed
            proof), with the reason.
        released: HE decryptors that were ready but not needed (the server asked ``t``
            others for their shares).
    """

    aggregate: Aggregate | None
    abort_reason: str | None
    survivors: frozenset[int]
    joined: tuple[int, ...]
    dropped: dict[int, str]
    refused: list[str]
    config: SessionConfig | HESessionConfig | None
    server_cost: CostLedger
    client_costs: dict[int, CostLedger]
    transport: TransportReport
    address: str
    seconds: float
    session_seconds: float = 0.0
    protocol: str = "secagg"
    rejected: dict[int, str] = field(default_factory=dict)
    released: tuple[int, ...] = ()


class _Connection:
    """One joined client: its streams, an outbox drained by a writer task, and its fate."""

    def __init__(
        self, client: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.id = client
        self.reader = reader
        self.writer = writer
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.closed: str | None = None  # why, once the server stops talking to it
        self.tasks: list[asyncio.Task[None]] = []
        self.pending = 0  # frames read but not yet taken by the session loop

    def send(self, frame: bytes) -> None:
        if self.closed is None:
            self.outbox.put_nowait(frame)

    def close(self, reason: str) -> None:
        """Flush what is queued, then hang up (idempotent; the first reason stays)."""
        if self.closed is None:
            self.closed = reason
            self.outbox.put_nowait(None)


# (connection, frame, None) for a frame, (connection, None, why) when it closed.
_Event = tuple[_Connection, bytes | None, str | None]


class _Hub:
    """The server's side of the sockets: joining, reading, writing, and the session loop."""

    def __init__(
        self,
        *,
        expected: frozenset[int] | None,
        n_clients: int,
        max_frame: int,
        round_timeout: float,
        hello_timeout: float,
        events: Events | None,
    ) -> None:
        self.expected = expected
        self.n_clients = n_clients
        self.max_frame = max_frame
        self.round_timeout = round_timeout
        self.hello_timeout = hello_timeout
        self.on_event = events
        self.conns: dict[int, _Connection] = {}
        self.full = asyncio.Event()
        self.queue: asyncio.Queue[_Event] = asyncio.Queue()
        self.started = False
        self.session = bytes(SESSION_BYTES)  # a placeholder until the session exists
        self.refused: list[str] = []
        self.wire = TransportReport()
        self.tasks: set[asyncio.Task[None]] = set()

    def event(self, text: str) -> None:
        if self.on_event is not None:
            self.on_event(text)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # ------------------------------------------------------------------ joining
    def on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.spawn(self._handshake(reader, writer))

    async def _refuse(
        self, writer: asyncio.StreamWriter, client: int | None, reason: str, peer: str
    ) -> None:
        self.refused.append(f"{peer}: {reason}")
        self.event(f"refused {peer}: {reason}")
        with contextlib.suppress(Exception):
            if client is not None:
                abort = encode(Abort(self.session, SERVER, client, reason))
                self.wire.bytes_sent += await asyncio.wait_for(
                    write_frame(writer, abort), _CLOSE_GRACE
                )
                self.wire.frames_sent += 1
        await _hang_up(writer)

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer_info = writer.get_extra_info("peername")
        peer = f"{peer_info[0]}:{peer_info[1]}" if isinstance(peer_info, tuple) else str(peer_info)
        try:
            frame = await read_frame(reader, timeout=self.hello_timeout, max_frame=HELLO_BYTES)
            if frame is None:
                raise ProtocolError("closed the connection before saying hello")
            self.wire.bytes_received += 4 + len(frame)
            self.wire.frames_received += 1
            client = decode_hello(frame)
        except (ProtocolError, ConnectionError, OSError) as exc:
            await self._refuse(writer, None, str(exc) or type(exc).__name__, peer)
            return
        reason = None
        if self.started:
            reason = "the session has already started; wait for the next one"
        elif self.expected is not None and client not in self.expected:
            reason = f"client {client} is not a participant of this session"
        elif client in self.conns:
            reason = f"client {client} has already joined (a second connection with its id)"
        elif len(self.conns) >= self.n_clients:
            reason = f"the session is full ({self.n_clients} clients)"
        if reason is not None:
            await self._refuse(writer, client, reason, f"{peer} (client {client})")
            return
        conn = _Connection(client, reader, writer)
        self.conns[client] = conn
        conn.tasks = [self.spawn(self._read_loop(conn)), self.spawn(self._write_loop(conn))]
        self.event(f"client {client} joined from {peer} ({len(self.conns)}/{self.n_clients})")
        if len(self.conns) >= self.n_clients:
            self.full.set()

    async def _read_loop(self, conn: _Connection) -> None:
        reason = "disconnected"
        try:
            while True:
                frame = await read_frame(conn.reader, timeout=None, max_frame=self.max_frame)
                if frame is None:
                    break
                self.wire.bytes_received += 4 + len(frame)
                self.wire.frames_received += 1
                if conn.pending >= MAX_PENDING_FRAMES:
                    reason = (
                        f"sent more than {MAX_PENDING_FRAMES} frames ahead of the protocol, "
                        "which asks one message per round (flooding)"
                    )
                    break
                conn.pending += 1
                self.queue.put_nowait((conn, frame, None))
        except ProtocolError as exc:
            reason = f"broke the framing: {exc}"
        except (ConnectionError, OSError) as exc:
            reason = f"connection error: {exc}"
        if not self.started and self.conns.get(conn.id) is conn:
            # Left before the session: free its place for someone else.
            del self.conns[conn.id]
            self.full.clear()
            conn.close(reason)
            self.event(f"client {conn.id} left before the start ({reason})")
            return
        self.queue.put_nowait((conn, None, reason))

    async def _write_loop(self, conn: _Connection) -> None:
        try:
            while (frame := await conn.outbox.get()) is not None:
                sent = await asyncio.wait_for(write_frame(conn.writer, frame), self.round_timeout)
                self.wire.bytes_sent += sent
                self.wire.frames_sent += 1
        except (TimeoutError, ConnectionError, OSError) as exc:
            if conn.closed is None:
                self.queue.put_nowait((conn, None, f"could not be written to: {exc!r}"))
        finally:
            await _hang_up(conn.writer)

    async def abort_all(self, reason: str) -> None:
        """Tell every joined party why there is no session, and hang up."""
        for conn in self.conns.values():
            conn.send(encode(Abort(self.session, SERVER, conn.id, reason)))
        await self.close_all(reason)

    async def close_all(self, reason: str) -> None:
        for conn in self.conns.values():
            conn.close(reason)
        writers = [c.tasks[1] for c in self.conns.values() if c.tasks]
        if writers:
            await asyncio.wait(writers, timeout=_CLOSE_GRACE)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _hang_up(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), _CLOSE_GRACE)


# ============================================================================ protocol families
class _Server(_StateMachine, Protocol):
    """What the session loop needs of a server: SecAgg's and every HE protocol's."""

    @property
    def collecting(self) -> bool: ...

    @property
    def waiting_for(self) -> frozenset[int]: ...

    @property
    def survivors(self) -> frozenset[int]: ...

    @property
    def result(self) -> Aggregate: ...

    @property
    def config(self) -> SessionConfig | HESessionConfig: ...

    @property
    def cost(self) -> CostLedger: ...

    def start(self) -> list[Message]: ...

    def close_round(self) -> list[Message]: ...


class _Family(ABC):
    """What the session loop needs to know of a protocol family beyond its state machine.

    Attributes:
        server: the state machine.
        parties: every party of the session.
        session: the session id.
        rounds: the family's round enum (messages name their round by its value).
        total: the party messages of a session without dropouts (for ``progress``).
    """

    server: _Server
    parties: tuple[int, ...]
    session: bytes
    rounds: type[IntEnum]
    total: int

    @abstractmethod
    def leaves(self, party: int, round_: IntEnum) -> tuple[str, bool] | None:
        """When ``round_`` opens without ``party`` (still in the session): why it leaves and
        whether that makes it a dropout; ``None`` if it stays connected (its part is over, or
        still to come)."""

    def outcome(self) -> dict[str, Any]:
        """The :class:`ServerReport` fields of the session's end."""
        server = self.server
        done = server.abort_reason is None
        return {
            "aggregate": server.result if done else None,
            "survivors": server.survivors if done else frozenset(),
            "config": server.config,
            "server_cost": server.cost,
        }


class _SecAggFamily(_Family):
    """SecAgg / SecAgg+: every client takes part in every round, so a client left out of the
    next round is excluded from the session (a dropout)."""

    rounds = Round

    def __init__(self, server: SecAggServer) -> None:
        cfg = server.config
        self.server = server
        self.parties, self.session = tuple(cfg.participants), cfg.session
        self.total = (5 if cfg.active else 4) * len(cfg.participants)

    def leaves(self, party: int, round_: IntEnum) -> tuple[str, bool] | None:
        return f"excluded by the server before round {round_.name.lower()}", True


class _HEFamily(_Family):
    """The HE aggregation protocols: clients send one input and are done; decryptors wait for
    the decrypt round, and a ready decryptor the server does not pick among its ``t`` is
    released."""

    rounds = HERound

    def __init__(self, server: HEAggregationServer, protocol: str) -> None:
        cfg = server.config
        self.server = server
        self.parties, self.session = cfg.parties, cfg.session
        self.protocol = protocol
        self.decryptors = frozenset(cfg.decryptors)
        # The inputs, then one message per decryptor per decryption stage.
        stages = len(server.STAGES) - 1
        self.total = len(cfg.participants) + stages * len(cfg.decryptors)

    def leaves(self, party: int, round_: IntEnum) -> tuple[str, bool] | None:
        if party in self.decryptors and round_ is HERound.DECRYPT:
            asked = sorted(self.server.waiting_for)
            return f"{RELEASED}: the server asked decryptors {asked} for their shares", False
        return None

    def outcome(self) -> dict[str, Any]:
        rejected = dict(getattr(self.server, "rejected", {}))
        return {**super().outcome(), "protocol": self.protocol, "rejected": rejected}


class _Session:
    """The session loop: frames in, state machine, messages out, rounds closed on deadlines."""

    def __init__(self, hub: _Hub, family: _Family, progress: Progress | None) -> None:
        self.hub = hub
        self.family = family
        self.server = family.server
        self.progress = progress
        self.dropped: dict[int, str] = {}
        self.released: list[int] = []
        self.told: set[int] = set()  # parties that received an Abort
        self.client_costs = {u: CostLedger.for_rounds(family.rounds) for u in family.parties}
        self.round: IntEnum = next(iter(family.rounds))
        self.handled = 0

    def _gone(self, party: int) -> str | None:
        """Why the server no longer hears from ``party`` (``None``: it is connected)."""
        conn = self.hub.conns.get(party)
        return "never joined" if conn is None else conn.closed

    def _tell(self, conn: _Connection, reason: str) -> None:
        """Send ``conn`` an Abort with ``reason`` (once, and only while it is connected)."""
        if conn.closed is None and conn.id not in self.told:
            self.told.add(conn.id)
            conn.send(encode(Abort(self.family.session, SERVER, conn.id, reason)))

    def _drop(self, party: int, reason: str) -> None:
        """Take ``party`` out of the session: record why, tell it, hang up."""
        self.dropped.setdefault(party, reason)
        conn = self.hub.conns.get(party)
        if conn is None or conn.closed is None:
            self.hub.event(f"client {party} dropped: {reason}")
        if conn is not None:
            self._tell(conn, reason)
            conn.close(reason)

    def _dispatch(self, out: list[tuple[Message, bytes]], *, new_round: bool) -> None:
        for message, frame in out:
            if message.ROUND is not None:
                self.round = self.family.rounds(message.ROUND)
            conn = self.hub.conns.get(message.recipient)
            if conn is None:
                continue  # never joined: it is a dropout of the round
            if isinstance(message, Abort):
                self.told.add(message.recipient)
            self.client_costs[message.recipient].received(message, self.round)
            conn.send(frame)
        if new_round and self.server.collecting:
            # A round just opened, so nobody has answered it yet and ``waiting_for`` is the
            # whole round: the family says what becomes of the parties it leaves out.
            expected = self.server.waiting_for
            for u, conn in self.hub.conns.items():
                verdict = None if u in expected else self.family.leaves(u, self.round)
                if verdict is None or u in self.dropped:
                    continue
                why, dropout = verdict
                if dropout:
                    self._drop(u, f"{conn.closed}; {why}" if conn.closed else why)
                elif conn.closed is None:
                    self.released.append(u)
                    self.hub.event(f"client {u} released: {why}")
                    self._tell(conn, why)
                    conn.close(why)

    def _handle(self, client: int, frame: bytes) -> tuple[Message, list[tuple[Message, bytes]]]:
        try:
            message = decode(frame)
        except SerializationError as exc:
            raise ProtocolError(f"malformed frame: {exc}") from None
        if message.sender != client:
            raise ProtocolError(
                f"client {client} sent a message in the name of party {message.sender}"
            )
        return message, [(m, encode(m)) for m in self.server.handle(message)]

    def _close_round(self) -> list[tuple[Message, bytes]]:
        return [(m, encode(m)) for m in self.server.close_round()]

    async def run(self) -> None:
        server, hub = self.server, self.hub
        loop = asyncio.get_running_loop()
        out = await asyncio.to_thread(lambda: [(m, encode(m)) for m in server.start()])
        self._dispatch(out, new_round=True)
        while server.collecting:
            stage = server.stage
            deadline = loop.time() + hub.round_timeout
            while server.collecting and server.stage is stage:
                waiting = server.waiting_for
                late = [u for u in waiting if self._gone(u) is None]
                remaining = deadline - loop.time()
                if not late or remaining <= 0:
                    for u in sorted(waiting):
                        why = self._gone(u) or f"silent past the {hub.round_timeout} s deadline"
                        self._drop(u, f"{why} ({stage.value})")
                    hub.event(f"{stage.value}: round closed with {len(waiting)} missing client(s)")
                    self._dispatch(await asyncio.to_thread(self._close_round), new_round=True)
                    break
                try:
                    conn, frame, closed = await asyncio.wait_for(hub.queue.get(), remaining)
                except TimeoutError:
                    continue
                client = conn.id
                if frame is not None:
                    conn.pending -= 1
                if hub.conns.get(client) is not conn:
                    continue  # a connection that left before the start
                if frame is None:
                    if conn.closed is None:
                        conn.close(closed or "disconnected")
                    continue
                if conn.closed is not None:
                    continue  # already out of the session: its late frames are ignored
                try:
                    message, out = await asyncio.to_thread(self._handle, client, frame)
                except HeprimError as exc:
                    self._drop(client, f"protocol error: {exc}")
                    continue
                self.client_costs[client].sent([message], self.round)
                self.handled += 1
                if self.progress is not None:
                    self.progress(min(self.handled, self.family.total), self.family.total)
                self._dispatch(out, new_round=server.stage is not stage)
        if server.abort_reason is not None:
            hub.event(f"session aborted: {server.abort_reason}")
            for conn in hub.conns.values():  # nobody still connected waits for nothing
                self._tell(conn, server.abort_reason)
        if self.progress is not None:
            self.progress(self.family.total, self.family.total)


# ============================================================================ serving
Report = Callable[..., ServerReport]


async def _serve(
    hub: _Hub,
    start: Callable[[list[int], Report], Awaitable[ServerReport]],
    *,
    host: str,
    port: int,
    join_timeout: float,
    ready: Callable[[str, int], None] | None,
    ssl: ssl_module.SSLContext | None,
) -> ServerReport:
    """Listen, wait for the parties to join (all of them, or until ``join_timeout``), then
    ``start(joined, report)``; ``report(**fields)`` fills the fields known only at the end."""
    if join_timeout <= 0 or hub.round_timeout <= 0:
        raise ParameterError("the join and round timeouts must be positive")
    start_time = time.perf_counter()
    listener = await asyncio.start_server(hub.on_connect, host, port, ssl=ssl)
    bound = listener.sockets[0].getsockname()
    address = f"{bound[0]}:{bound[1]}"
    if ready is not None:
        ready(str(bound[0]), int(bound[1]))

    def report(**kw: object) -> ServerReport:  # the fields known so far, the rest empty
        base: dict[str, object] = {
            "aggregate": None,
            "abort_reason": None,
            "survivors": frozenset(),
            "joined": tuple(sorted(hub.conns)),
            "dropped": {},
            "refused": hub.refused,
            "config": None,
            "server_cost": CostLedger(),
            "client_costs": {},
            "transport": hub.wire,
            "address": address,
        }
        base.update(kw)
        hub.wire.seconds = time.perf_counter() - start_time
        return ServerReport(seconds=hub.wire.seconds, **base)  # type: ignore[arg-type]

    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hub.full.wait(), join_timeout)
        hub.started = True
        return await start(sorted(hub.conns), report)
    finally:
        listener.close()
        await hub.close_all("server stopped")


async def _run_session(
    hub: _Hub, family: _Family, joined: list[int], report: Report, progress: Progress | None
) -> ServerReport:
    """Run the session to its end; the report of what it produced."""
    session = _Session(hub, family, progress)
    session_start = time.perf_counter()
    await session.run()
    session_seconds = time.perf_counter() - session_start
    await hub.close_all("session over")
    return report(
        abort_reason=family.server.abort_reason,
        joined=tuple(joined),
        dropped=session.dropped,
        released=tuple(session.released),
        client_costs=session.client_costs,
        session_seconds=session_seconds,
        **family.outcome(),
    )


def _graph_for(
    graph: GraphParams | Callable[[int], GraphParams] | None, n: int
) -> GraphParams | None:
    return graph(n) if callable(graph) else graph


async def serve_async(
    dim: int,
    encoding: VectorEncoding,
    *,
    clients: int | Sequence[int],
    host: str = "127.0.0.1",
    port: int = 0,
    min_clients: int | None = None,
    graph: GraphParams | Callable[[int], GraphParams] | None = None,
    profile: Profile = "semi-honest",
    corrupted_fraction: float = 0.1,
    dropout_rate: float = 0.1,
    verify_keys: Mapping[int, bytes] | None = None,
    join_timeout: float = 300.0,
    round_timeout: float = 120.0,
    ready: Callable[[str, int], None] | None = None,
    events: Events | None = None,
    progress: Progress | None = None,
    ssl: ssl_module.SSLContext | None = None,
    rng: PRNG | None = None,
) -> ServerReport:
    """Listen on ``host:port``, run one SecAgg / SecAgg+ session with the clients that join.

    Args:
        dim: the length of every client's vector.
        encoding: how vectors become integers (:class:`~heprim.secagg.encoding.VectorEncoding`);
            it travels to the clients in the setup message.
        clients: how many clients to wait for (any distinct ids), or exactly which ids.
        min_clients: start at the join deadline with at least this many (default: all of
            ``clients``); fewer ends the session without a result.
        graph: force the sharing graph, or a function of the number of joined clients giving
            it; by default :func:`~heprim.secagg.graph.choose_graph` from ``profile``,
            ``corrupted_fraction`` and ``dropout_rate`` (the SecAgg+ graph when it meets the
            bounds).
        verify_keys: the clients' Ed25519 public keys (active profile; the participants are
            then among its ids).
        join_timeout: seconds to wait for the clients to join.
        round_timeout: each round's deadline in seconds: a client silent that long after the
            round opened is a dropout.
        ready: called with the bound ``(host, port)`` once the socket listens.
        events: called with one line per notable event (joined, refused, dropped, round
            closed); the library itself prints nothing.
        progress: called with (client messages handled, expected total).
        ssl: a server-side TLS context.
        rng: randomness of the session id.

    An abort is reported (``aggregate`` is ``None``, ``abort_reason`` says why), not raised;
    so is every misbehaving client. A bad configuration (e.g. no threshold can meet the bounds
    for the joined clients) raises :class:`~heprim.errors.ParameterError` after telling the
    clients.
    """
    if isinstance(dim, bool) or not isinstance(dim, int | numbers.Integral) or dim < 1:
        raise ParameterError(f"dim must be a positive integer, got {dim!r}")
    dim = int(dim)
    if not isinstance(encoding, VectorEncoding):
        raise ParameterError("encoding must be a VectorEncoding (integers(...) or floats(...))")
    if isinstance(clients, bool):
        raise ParameterError("clients is a number of clients or a list of client ids")
    if isinstance(clients, int | numbers.Integral):
        expected: frozenset[int] | None = None
        n_clients = int(clients)
    else:
        ids = [int(c) for c in clients]
        if len(set(ids)) != len(ids) or any(not 0 < c < 2**32 for c in ids):
            raise ParameterError("participant ids must be distinct integers in [1, 2^32)")
        expected, n_clients = frozenset(ids), len(ids)
    if verify_keys is not None:
        keyed = frozenset(int(c) for c in verify_keys)
        if expected is not None and not expected <= keyed:
            raise ParameterError("verify_keys must hold a key for every expected client")
        expected = expected or keyed
        profile = "active"
    if n_clients < 2:
        raise ParameterError(f"secure aggregation needs at least 2 clients, got {n_clients}")
    minimum = n_clients if min_clients is None else int(min_clients)
    if not 2 <= minimum <= n_clients:
        raise ParameterError(f"min_clients must be in [2, {n_clients}], got {min_clients}")
    rng = default_rng(rng)
    hub = _Hub(
        expected=expected,
        n_clients=n_clients,
        max_frame=_max_client_frame(dim, encoding, n_clients),
        round_timeout=round_timeout,
        hello_timeout=min(join_timeout, 30.0),
        events=events,
    )

    async def start(joined: list[int], report: Report) -> ServerReport:
        if len(joined) < minimum:
            reason = (
                f"only {len(joined)} of {n_clients} clients joined within {join_timeout} s "
                f"(at least {minimum} needed)"
            )
            await hub.abort_all(reason)
            return report(abort_reason=reason)
        keys = None if verify_keys is None else {u: verify_keys[u] for u in joined}
        try:
            config = SessionConfig.create(
                joined,
                dim,
                encoding,
                graph=_graph_for(graph, len(joined)),
                profile=profile,
                corrupted_fraction=corrupted_fraction,
                dropout_rate=dropout_rate,
                verify_keys=keys,
                rng=rng,
            )
        except HeprimError as exc:
            await hub.abort_all(f"server setup: {exc}")
            raise
        hub.session = config.session
        family = _SecAggFamily(SecAggServer(config))
        return await _run_session(hub, family, joined, report, progress)

    return await _serve(
        hub, start, host=host, port=port, join_timeout=join_timeout, ready=ready, ssl=ssl
    )


def serve(dim: int, encoding: VectorEncoding, **kwargs: object) -> ServerReport:
    """Blocking :func:`serve_async` (runs its own event loop)."""
    return asyncio.run(serve_async(dim, encoding, **kwargs))  # type: ignore[arg-type]


ServerFactory = Callable[[HESessionConfig], HEAggregationServer]
#: The report's name of a protocol whose server was not built by a named deployment.
_PROTOCOLS: Final[Mapping[type[HEAggregationServer], str]] = {
    PaillierAggregationServer: "paillier",
    BFVAggregationServer: "bfv",
    ClientKeyServer: "bfv-client-keys",
}


async def serve_he_async(
    source: HEDeployment | ServerFactory,
    config: HESessionConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl: ssl_module.SSLContext | None = None,
    join_timeout: float = 300.0,
    round_timeout: float = 120.0,
    ready: Callable[[str, int], None] | None = None,
    events: Events | None = None,
    progress: Progress | None = None,
) -> ServerReport:
    """Listen on ``host:port``, run one HE aggregation session with the parties that join.

    Args:
        source: the protocol: a deployment (a
            :class:`~heprim.secagg.he_paillier.PaillierDeployment`, a
            :class:`~heprim.secagg.he_bfv.BFVDeployment`, a
            :class:`~heprim.secagg.he_bfv_client_keys.ClientKeyDeployment` or the server's
            :class:`~heprim.secagg.he_bfv_client_keys.PublicClientKeyDeployment`: only its
            ``server(config)`` is used, no secret), or a function building the server of a
            session from its configuration.
        config: the session (:meth:`HESessionConfig.create
            <heprim.secagg.he_aggregation.HESessionConfig.create>` with the deployment's
            ``decryptors`` and ``threshold``, as :func:`~heprim.net.simulate.simulate_he`
            does): its parties, and only they, may join. A fresh one for every session (its
            session id must never repeat).
        host, port, ssl, join_timeout, round_timeout, ready, events, progress: as in
            :func:`serve_async`, for parties instead of clients.

    A party that has not joined at the join deadline is a dropout (a client's input is not in
    the sum; a decryptor is tolerated down to ``t``); when fewer than ``t`` decryptors or
    ``min_contributors`` clients joined, the session ends at once without a result. An abort is
    reported, not raised, and so is every misbehaving party. A server that cannot be built for
    ``config`` raises :class:`~heprim.errors.ParameterError` before listening.
    """
    if not isinstance(config, HESessionConfig):
        raise ParameterError("config must be an HESessionConfig (HESessionConfig.create)")
    server = source(config) if callable(source) else source.server(config)
    if not isinstance(server, HEAggregationServer):
        raise ParameterError("the source must build an HEAggregationServer for the session")
    protocol = getattr(source, "name", None) or _PROTOCOLS.get(type(server), type(server).__name__)
    hub = _Hub(
        expected=frozenset(config.parties),
        n_clients=len(config.parties),
        max_frame=_max_party_frame(server),
        round_timeout=round_timeout,
        hello_timeout=min(join_timeout, 30.0),
        events=events,
    )
    hub.session = config.session
    family = _HEFamily(server, str(protocol))

    async def start(joined: list[int], report: Report) -> ServerReport:
        present = set(joined)
        decryptors = len(present & set(config.decryptors))
        clients = len(present & set(config.participants))
        reason = None
        if decryptors < config.threshold:
            reason = (
                f"only {decryptors} of {len(config.decryptors)} decryptors joined within "
                f"{join_timeout} s (t = {config.threshold} needed)"
            )
        elif clients < config.min_contributors:
            reason = (
                f"only {clients} of {len(config.participants)} clients joined within "
                f"{join_timeout} s (min_contributors = {config.min_contributors})"
            )
        if reason is not None:
            await hub.abort_all(reason)
            return report(abort_reason=reason, config=config, protocol=family.protocol)
        return await _run_session(hub, family, joined, report, progress)

    return await _serve(
        hub, start, host=host, port=port, join_timeout=join_timeout, ready=ready, ssl=ssl
    )


def serve_he(
    source: HEDeployment | ServerFactory, config: HESessionConfig, **kwargs: object
) -> ServerReport:
    """Blocking :func:`serve_he_async` (runs its own event loop)."""
    return asyncio.run(serve_he_async(source, config, **kwargs))  # type: ignore[arg-type]
