"""An asyncio TCP driver: moves a sans-I/O protocol's frames between two processes.

The driver knows nothing of any protocol. It moves opaque frames for an :class:`Endpoint`, the
byte-level face of a sans-I/O party (``initial() -> frames``, ``receive(frame) -> frames``,
``finished``, ``abort_frame(reason)``); :class:`heprim.pjc.driver.WireEndpoint` is one, and any
other protocol with a codec gets one in a few lines.

Framing: every frame is a 4-byte big-endian length then that many bytes. A length above
``max_frame`` (default 1 GiB) is refused before anything is allocated, a connection closed in
the middle of a frame or before the endpoint finished is a :class:`~heprim.errors.ProtocolError`,
and so is a peer silent for longer than ``timeout`` seconds.

Each side runs one connection: :func:`serve` listens and accepts a single peer, :func:`connect`
dials (retrying until ``connect_timeout`` while the peer is not yet listening). The endpoint's
work runs in a worker thread, so the event loop keeps the connection alive while the party
computes (for minutes, if it must). When the endpoint raises, the driver sends its
``abort_frame`` so that the peer learns why, closes, and re-raises.

Security: frames travel in the clear unless an :class:`ssl.SSLContext` is given (``ssl=``); the
semi-honest protocols above assume an authenticated channel (TLS with certificates, or a network
the parties trust), which this driver does not provide on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as ssl_module
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from heprim.errors import ParameterError, ProtocolError

__all__ = [
    "DEFAULT_MAX_FRAME",
    "DEFAULT_TIMEOUT",
    "Endpoint",
    "TransportReport",
    "connect",
    "connect_async",
    "parse_address",
    "read_frame",
    "run_endpoint",
    "serve",
    "serve_async",
    "write_frame",
]

DEFAULT_MAX_FRAME: Final = 1 << 30
DEFAULT_TIMEOUT: Final = 600.0
_PREFIX: Final = struct.Struct(">I")


class Endpoint(Protocol):
    """The byte-level face of a sans-I/O party, as the driver sees it."""

    @property
    def finished(self) -> bool:
        """Whether the party has nothing more to send or receive."""
        ...

    def initial(self) -> list[bytes]:
        """Frames to send as soon as the connection is up (possibly none)."""
        ...

    def receive(self, frame: bytes) -> list[bytes]:
        """Handle one frame from the peer; return the frames to send back."""
        ...

    def abort_frame(self, reason: str) -> bytes | None:
        """End the session locally; return a frame telling the peer why, or ``None``."""
        ...


@dataclass
class TransportReport:
    """What the connection carried, counted on the wire (length prefixes included)."""

    bytes_sent: int = 0
    bytes_received: int = 0
    frames_sent: int = 0
    frames_received: int = 0
    seconds: float = 0.0
    peer: str = ""


def parse_address(address: str) -> tuple[str, int]:
    """``"host:port"`` (or ``"[v6]:port"``) as ``(host, port)``; port 0 picks a free one."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host:
        raise ParameterError(f"an address is HOST:PORT (e.g. 127.0.0.1:9000), got {address!r}")
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        raise ParameterError(f"the port of {address!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ParameterError(f"a port is in [0, 65535], got {port}")
    return host, port


async def read_frame(
    reader: asyncio.StreamReader,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_frame: int = DEFAULT_MAX_FRAME,
) -> bytes | None:
    """The next frame, or ``None`` when the peer closed the connection between frames."""
    try:
        prefix = await asyncio.wait_for(reader.readexactly(_PREFIX.size), timeout)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("the connection closed inside a frame's length prefix") from None
    except TimeoutError:
        raise ProtocolError(f"the peer sent nothing for {timeout} s; giving up") from None
    (length,) = _PREFIX.unpack(prefix)
    if length > max_frame:
        raise ProtocolError(
            f"the peer announced a frame of {length} bytes, above the {max_frame}-byte limit"
        )
    try:
        return await asyncio.wait_for(reader.readexactly(length), timeout)
    except asyncio.IncompleteReadError:
        raise ProtocolError("the connection closed in the middle of a frame") from None
    except TimeoutError:
        raise ProtocolError(f"a frame stalled for {timeout} s; giving up") from None


async def write_frame(writer: asyncio.StreamWriter, frame: bytes) -> int:
    """Send one frame; return the bytes written (prefix included)."""
    if len(frame) >= 1 << 32:
        raise ParameterError("a frame is below 4 GiB")
    writer.write(_PREFIX.pack(len(frame)))
    writer.write(frame)
    await writer.drain()
    return _PREFIX.size + len(frame)


async def _drive(
    endpoint: Endpoint,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    timeout: float | None,
    max_frame: int,
) -> TransportReport:
    report = TransportReport()
    peer = writer.get_extra_info("peername")
    report.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
    start = time.perf_counter()

    async def send(frames: list[bytes]) -> None:
        for frame in frames:
            report.bytes_sent += await write_frame(writer, frame)
            report.frames_sent += 1

    try:
        await send(await asyncio.to_thread(endpoint.initial))
        while not endpoint.finished:
            frame = await read_frame(reader, timeout=timeout, max_frame=max_frame)
            if frame is None:
                raise ProtocolError("the peer closed the connection before the protocol finished")
            report.bytes_received += _PREFIX.size + len(frame)
            report.frames_received += 1
            await send(await asyncio.to_thread(endpoint.receive, frame))
    except Exception as exc:
        abort = endpoint.abort_frame(f"the peer failed: {exc}")
        if abort is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(write_frame(writer, abort), 5.0)
        raise
    finally:
        report.seconds = time.perf_counter() - start
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return report


async def serve_async(
    endpoint: Endpoint,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ready: Callable[[str, int], None] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    accept_timeout: float | None = DEFAULT_TIMEOUT,
    max_frame: int = DEFAULT_MAX_FRAME,
    ssl: ssl_module.SSLContext | None = None,
) -> TransportReport:
    """Listen on ``host:port``, run ``endpoint`` with the first peer that connects, return.

    ``ready(host, port)`` is called once the socket listens (with the port actually bound when
    ``port`` is 0). Later connections are refused: one session, one peer.
    """
    accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
        asyncio.get_running_loop().create_future()
    )

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if accepted.done():
            writer.close()  # a second peer: this session already has one
            return
        accepted.set_result((reader, writer))

    server = await asyncio.start_server(on_connect, host, port, ssl=ssl)
    try:
        bound = server.sockets[0].getsockname()
        if ready is not None:
            ready(str(bound[0]), int(bound[1]))
        try:
            reader, writer = await asyncio.wait_for(accepted, accept_timeout)
        except TimeoutError:
            raise ProtocolError(f"no peer connected within {accept_timeout} s") from None
    finally:
        server.close()
    return await _drive(endpoint, reader, writer, timeout=timeout, max_frame=max_frame)


async def connect_async(
    endpoint: Endpoint,
    host: str,
    port: int,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    connect_timeout: float = 30.0,
    max_frame: int = DEFAULT_MAX_FRAME,
    ssl: ssl_module.SSLContext | None = None,
) -> TransportReport:
    """Connect to ``host:port`` (retrying while nobody listens yet) and run ``endpoint``."""
    deadline = time.monotonic() + connect_timeout
    delay = 0.05
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port, ssl=ssl)
            break
        except (ConnectionRefusedError, ConnectionResetError, OSError) as exc:
            if time.monotonic() + delay > deadline:
                raise ProtocolError(
                    f"cannot connect to {host}:{port} within {connect_timeout} s ({exc})"
                ) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
    return await _drive(endpoint, reader, writer, timeout=timeout, max_frame=max_frame)


def serve(
    endpoint: Endpoint, host: str = "127.0.0.1", port: int = 0, **kwargs: object
) -> TransportReport:
    """Blocking :func:`serve_async` (runs its own event loop)."""
    return asyncio.run(serve_async(endpoint, host, port, **kwargs))  # type: ignore[arg-type]


def connect(endpoint: Endpoint, host: str, port: int, **kwargs: object) -> TransportReport:
    """Blocking :func:`connect_async` (runs its own event loop)."""
    return asyncio.run(connect_async(endpoint, host, port, **kwargs))  # type: ignore[arg-type]


def run_endpoint(
    endpoint: Endpoint,
    address: str,
    *,
    listen: bool,
    ready: Callable[[str, int], None] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    connect_timeout: float = 30.0,
) -> TransportReport:
    """Serve on (``listen=True``) or connect to ``address`` (``"host:port"``) and run the session.

    The one entry point command lines need (``heprim.cli.pjc`` uses it as its peer runner).
    """
    host, port = parse_address(address)
    if listen:
        return asyncio.run(serve_async(endpoint, host, port, ready=ready, timeout=timeout))
    if port == 0:
        raise ParameterError("connect to a definite port (got port 0)")
    return asyncio.run(
        connect_async(endpoint, host, port, timeout=timeout, connect_timeout=connect_timeout)
    )
