"""Secure aggregation over TCP: one server process, n client processes, one connection each.

The asyncio driver of the sans-I/O SecAgg / SecAgg+ state machines
(:class:`~heprim.secagg.server.SecAggServer`, :class:`~heprim.secagg.client.SecAggClient`) on a
real network. It moves messages and nothing else, exactly as the in-process
:func:`heprim.net.simulate.drive` does; what the network adds is *time*: a client that
disconnects or stays silent past a round's deadline is a dropout, which is precisely what
Bonawitz et al. (CCS 2017, section 4) designed the protocol to survive.

Every message goes between a client and the server (client-to-client shares travel inside
:class:`~heprim.secagg.messages.EncryptedShares`, sealed for their recipient, and the server
only routes them), one :func:`heprim.secagg.messages.encode` frame per message, length-prefixed
by :func:`heprim.net.tcp.write_frame`.

**Joining.** A client's first frame is a 9-byte hello ``b"HAGG" | version (1) | client id (4,
big-endian)``. The server accepts ids it expects (any distinct ids in ``[1, 2^32)`` when it was
only told how many clients to wait for), refuses a repeated id, a stranger, a malformed hello
or a latecomer with an :class:`~heprim.secagg.messages.Abort` naming the reason, and starts the
session once ``clients`` have joined or, at the join deadline, with whoever joined if that is at
least ``min_clients``. The session's parameters (participants, degree, threshold, dimension,
modulus, encoding) then travel in the protocol's own :class:`~heprim.secagg.messages.Setup`;
a client can check them against what it expects (``dim=``, ``encoding=``).

**Rounds and deadlines.** The server feeds each received frame to the state machine (decode,
then :meth:`~heprim.secagg.server.SecAggServer.handle`) and routes every message it emits to its
recipient's connection. A round ends when every expected client has answered, when all those
still owing an answer have disconnected, or ``round_timeout`` seconds after it opened; then
:meth:`~heprim.secagg.server.SecAggServer.close_round` goes on without the missing clients.
Clients the server leaves out of the next round (dropped, or left with fewer than t live
neighbours) receive an ``Abort`` saying so and are disconnected, so no client process waits for
nothing. A malformed frame, a message claiming another sender, or anything the state machine
refuses is that client's :class:`~heprim.errors.ProtocolError`: the client is disconnected and
counted as dropped (:attr:`ServerReport.dropped` says why); the session goes on.

Long computations (the unmasking's Shamir reconstruction and PRG expansions on the server, the
masking on a client) run in a worker thread, so the event loop keeps every connection served.

**Security.** Frames travel in the clear unless :class:`ssl.SSLContext` objects are given
(``ssl=``, as in :mod:`heprim.net.tcp`). The semi-honest model of SecAgg assumes authenticated
and private channels between each client and the server: in particular the hello's client id is
only as trustworthy as the channel, so use TLS with client certificates (or a network the parties
trust) in deployment. Client-to-client secrets are protected end to end by the protocol itself
(X25519 + ChaCha20-Poly1305) whatever the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import numbers
import ssl as ssl_module
import struct
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

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
from heprim.secagg.server import SecAggServer, ServerStage, SessionConfig
from heprim.secagg.shamir import SHARE_BYTES

__all__ = [
    "HELLO_BYTES",
    "HELLO_MAGIC",
    "HELLO_VERSION",
    "MAX_PENDING_FRAMES",
    "ClientReport",
    "SecAggEndpoint",
    "ServerReport",
    "decode_hello",
    "encode_hello",
    "run_client",
    "run_client_async",
    "serve",
    "serve_async",
]

HELLO_MAGIC: Final = b"HAGG"
HELLO_VERSION: Final = 1
_HELLO: Final = struct.Struct(">4sBI")
HELLO_BYTES: Final = _HELLO.size
_CLOSE_GRACE: Final = 5.0  # seconds to flush the last frames (an abort) before hanging up
#: Frames a client may have waiting for the session loop. The protocol asks one message per
#: round of a client, so a client further ahead than this is flooding: it is dropped instead of
#: filling the server's memory.
MAX_PENDING_FRAMES: Final = 4

Progress = Callable[[int, int], None]
Events = Callable[[str], None]


def encode_hello(client_id: int) -> bytes:
    """The first frame a client sends: ``b"HAGG" | version | client id``."""
    if isinstance(client_id, bool) or not isinstance(client_id, int) or not 0 < client_id < 2**32:
        raise ParameterError(f"a client id is an integer in [1, 2^32), got {client_id!r}")
    return _HELLO.pack(HELLO_MAGIC, HELLO_VERSION, client_id)


def decode_hello(frame: bytes) -> int:
    """The client id of a hello frame; :class:`~heprim.errors.ProtocolError` if it is not one."""
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
    """A bound on the frames an honest client of a session of at most ``n_clients`` sends
    (its masked input, or its shares for at most ``n_clients - 1`` neighbours): anything
    longer is refused before it is buffered."""
    masked = HEADER_BYTES + 9 + encoding.length(dim) * encoding.width(n_clients) // 8
    shares = HEADER_BYTES + 4 + n_clients * (4 + CIPHERTEXT_BYTES)
    unmask = HEADER_BYTES + 4 + n_clients * (5 + SHARE_BYTES)
    return max(masked, shares, unmask) + 1024


# ============================================================================ client side
class SecAggEndpoint:
    """A :class:`~heprim.secagg.client.SecAggClient` as a :class:`heprim.net.tcp.Endpoint`.

    Sends the hello, then decodes each server frame, hands it to the client and encodes the
    replies. ``dim`` and ``encoding``, when given, are what this client expects of the session:
    a :class:`~heprim.secagg.messages.Setup` announcing anything else is refused before any key
    is generated.
    """

    def __init__(
        self,
        client: SecAggClient,
        *,
        dim: int | None = None,
        encoding: VectorEncoding | None = None,
    ) -> None:
        if not isinstance(client, SecAggClient):
            raise ParameterError("SecAggEndpoint drives a SecAggClient")
        self.client = client
        self.dim = dim
        self.encoding = encoding

    @property
    def finished(self) -> bool:
        """Whether the client sent its last message (or the server aborted the session)."""
        return self.client.stage in (ClientStage.DONE, ClientStage.ABORTED)

    def initial(self) -> list[bytes]:
        """The hello frame."""
        return [encode_hello(self.client.id)]

    def receive(self, frame: bytes) -> list[bytes]:
        """One server frame in, the client's reply frames out."""
        try:
            message = decode(frame)
        except SerializationError as exc:
            raise ProtocolError(f"the server sent a malformed frame: {exc}") from None
        if isinstance(message, Setup):
            self._check_setup(message)
        return [encode(reply) for reply in self.client.handle(message)]

    def _check_setup(self, setup: Setup) -> None:
        if self.dim is not None and setup.dim != self.dim:
            raise ProtocolError(
                f"the server's session aggregates vectors of {setup.dim} values, this client "
                f"has {self.dim}: check --dim on both sides"
            )
        if self.encoding is not None and setup.encoding != self.encoding:
            raise ProtocolError(
                f"the server's session encodes {setup.encoding}, this client expects "
                f"{self.encoding}"
            )

    def abort_frame(self, reason: str) -> bytes | None:
        """SecAgg has no client-side abort message: the server sees a dropout."""
        return None


@dataclass
class ClientReport(TransportReport):
    """What one client's connection carried, and how its session ended.

    Attributes:
        client: the client id.
        completed: whether the client sent its unmasking shares (its part is done; the server
            may still abort afterwards, which the client is not told).
        abort_reason: the server's reason when it aborted the session or excluded this client.
        cost: the client's per-round compute time and message bytes.
    """

    client: int = 0
    completed: bool = False
    abort_reason: str | None = None
    cost: CostLedger = field(default_factory=CostLedger)


async def run_client_async(
    client: SecAggClient,
    host: str,
    port: int,
    *,
    dim: int | None = None,
    encoding: VectorEncoding | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    connect_timeout: float = 30.0,
    max_frame: int = DEFAULT_MAX_FRAME,
    ssl: ssl_module.SSLContext | None = None,
) -> ClientReport:
    """Connect to a :func:`serve_async` server (retrying until ``connect_timeout``), run
    ``client`` through the session and report.

    ``client`` must already have its input (:meth:`~heprim.secagg.client.SecAggClient.set_input`,
    possibly a callable evaluated at the masked-input round). ``timeout`` bounds the silence
    between two server messages; make it longer than the server's round deadline. An abort by
    the server is reported (``abort_reason``), not raised; a broken connection or a message the
    client refuses raises :class:`~heprim.errors.ProtocolError`.
    """
    endpoint = SecAggEndpoint(client, dim=dim, encoding=encoding)
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
        client=client.id,
        completed=client.stage is ClientStage.DONE,
        abort_reason=client.abort_reason,
        cost=client.cost,
    )


def run_client(client: SecAggClient, address: str, **kwargs: object) -> ClientReport:
    """Blocking :func:`run_client_async` to ``address`` (``"host:port"``)."""
    host, port = parse_address(address)
    if port == 0:
        raise ParameterError("connect to a definite port (got port 0)")
    return asyncio.run(run_client_async(client, host, port, **kwargs))  # type: ignore[arg-type]


# ============================================================================ server side
@dataclass
class ServerReport:
    """What one served session produced, who dropped and why, and what it cost.

    Attributes:
        aggregate: the decoded sum, or ``None`` if the session aborted.
        abort_reason: why it aborted (too few clients joined, or the protocol's abort), or
            ``None``.
        survivors: U_3, the clients whose inputs are in the sum.
        joined: the clients that joined (the session's participants).
        dropped: every participant that did not finish, with the reason (disconnected, silent
            past a deadline, excluded by the server, or a protocol error it committed).
        refused: connections refused while joining or after the start, with the reason.
        config: the session configuration (``None`` if the session never started).
        server_cost: the server's per-round compute time and message bytes.
        client_costs: each participant's per-round traffic *as the server saw it* (its
            compute time is not observable here and stays 0).
        transport: bytes and frames on the wire over all connections (prefixes and hellos
            included).
        address: the ``host:port`` the server listened on.
        seconds: wall-clock time from listening to the end.
        session_seconds: wall-clock time of the protocol itself, from the setup messages to
            the end (the joining excluded).
    """

    aggregate: Aggregate | None
    abort_reason: str | None
    survivors: frozenset[int]
    joined: tuple[int, ...]
    dropped: dict[int, str]
    refused: list[str]
    config: SessionConfig | None
    server_cost: CostLedger
    client_costs: dict[int, CostLedger]
    transport: TransportReport
    address: str
    seconds: float
    session_seconds: float = 0.0


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
    if round_timeout <= 0 or join_timeout <= 0:
        raise ParameterError("the join and round timeouts must be positive")
    rng = default_rng(rng)

    start = time.perf_counter()
    hub = _Hub(
        expected=expected,
        n_clients=n_clients,
        max_frame=_max_client_frame(dim, encoding, n_clients),
        round_timeout=round_timeout,
        hello_timeout=min(join_timeout, 30.0),
        events=events,
    )
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
        hub.wire.seconds = time.perf_counter() - start
        return ServerReport(seconds=hub.wire.seconds, **base)  # type: ignore[arg-type]

    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hub.full.wait(), join_timeout)
        hub.started = True
        joined = sorted(hub.conns)
        if len(joined) < minimum:
            reason = (
                f"only {len(joined)} of {n_clients} clients joined within {join_timeout} s "
                f"(at least {minimum} needed)"
            )
            for conn in hub.conns.values():
                conn.send(encode(Abort(hub.session, SERVER, conn.id, reason)))
            await hub.close_all(reason)
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
            for conn in hub.conns.values():
                conn.send(encode(Abort(hub.session, SERVER, conn.id, f"server setup: {exc}")))
            await hub.close_all("bad configuration")
            raise
        hub.session = config.session
        session = _Session(hub, SecAggServer(config), progress)
        session_start = time.perf_counter()
        await session.run()
        session_seconds = time.perf_counter() - session_start
        await hub.close_all("session over")
        server = session.server
        done = server.stage is ServerStage.DONE
        return report(
            aggregate=server.result if done else None,
            abort_reason=server.abort_reason,
            survivors=server.survivors if done else frozenset(),
            joined=tuple(joined),
            dropped=session.dropped,
            config=config,
            server_cost=server.cost,
            client_costs=session.client_costs,
            session_seconds=session_seconds,
        )
    finally:
        listener.close()
        await hub.close_all("server stopped")


class _Session:
    """The session loop: frames in, state machine, messages out, rounds closed on deadlines."""

    def __init__(self, hub: _Hub, server: SecAggServer, progress: Progress | None) -> None:
        self.hub = hub
        self.server = server
        self.progress = progress
        self.dropped: dict[int, str] = {}
        self.client_costs = {u: CostLedger() for u in server.config.participants}
        self.round = Round.ADVERTISE_KEYS
        self.handled = 0
        rounds = 5 if server.config.active else 4
        self.total = rounds * len(server.config.participants)

    def _drop(self, client: int, reason: str) -> None:
        """Take ``client`` out of the session: record why, tell it, hang up."""
        self.dropped.setdefault(client, reason)
        conn = self.hub.conns[client]
        if conn.closed is None:
            self.hub.event(f"client {client} dropped: {reason}")
            conn.send(encode(Abort(self.server.config.session, SERVER, client, reason)))
        conn.close(reason)

    def _dispatch(self, out: list[tuple[Message, bytes]], *, new_round: bool) -> None:
        for message, frame in out:
            if message.ROUND is not None:
                self.round = Round(message.ROUND)
            self.client_costs[message.recipient].received(message, self.round)
            self.hub.conns[message.recipient].send(frame)
        if new_round and self.server.collecting:
            # A round just opened, so nobody has answered it yet and ``waiting_for`` is the
            # whole round: whoever is not in it is out of the session.
            expected = self.server.waiting_for
            why = f"excluded by the server before round {self.round.name.lower()}"
            for u, conn in self.hub.conns.items():
                if u not in expected:
                    self._drop(u, f"{conn.closed}; {why}" if conn.closed else why)

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
                late = [u for u in waiting if hub.conns[u].closed is None]
                remaining = deadline - loop.time()
                if not late or remaining <= 0:
                    for u in sorted(waiting):
                        why = hub.conns[u].closed or (
                            f"silent past the {hub.round_timeout} s deadline"
                        )
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
                    self.progress(min(self.handled, self.total), self.total)
                self._dispatch(out, new_round=server.stage is not stage)
        if server.stage is ServerStage.ABORTED:
            hub.event(f"session aborted: {server.abort_reason}")
        if self.progress is not None:
            self.progress(self.total, self.total)


def serve(dim: int, encoding: VectorEncoding, **kwargs: object) -> ServerReport:
    """Blocking :func:`serve_async` (runs its own event loop)."""
    return asyncio.run(serve_async(dim, encoding, **kwargs))  # type: ignore[arg-type]
