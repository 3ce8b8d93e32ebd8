"""The asyncio TCP driver: framing, failure modes, and PJC between two real processes."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest

from heprim.cli.pjc import run_cli
from heprim.errors import InsecureParametersWarning, ParameterError, ProtocolError
from heprim.math.prng import KeyedPRNG
from heprim.net.tcp import (
    TransportReport,
    connect,
    connect_async,
    parse_address,
    read_frame,
    run_endpoint,
    serve,
    serve_async,
    write_frame,
)
from heprim.paillier.keys import PrivateKey
from heprim.pjc import IdentifierParty, PJCResult, Stage, ValueParty, WireEndpoint
from heprim.pjc.messages import Abort, decode

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def private_key() -> PrivateKey:
    """The fixed 1024-bit test key of tests/vectors (insecure, fast; no key generation)."""
    entry = json.loads((ROOT / "tests/vectors/paillier_test_primes.json").read_text())["keys"][
        "1024"
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        return PrivateKey.from_primes(
            int(entry["p"], 16), int(entry["q"], 16), allow_insecure=True, rng=KeyedPRNG.from_int(1)
        )


class PingPong:
    """A toy endpoint: the initiator sends n, each side answers k - 1; whoever sends 1 stops."""

    def __init__(self, start: int | None) -> None:
        self.start, self.seen, self.done, self.aborted = start, [], False, None

    @property
    def finished(self) -> bool:
        return self.done

    def initial(self) -> list[bytes]:
        return [str(self.start).encode()] if self.start is not None else []

    def receive(self, frame: bytes) -> list[bytes]:
        k = int(frame)
        self.seen.append(k)
        if k <= 1:
            self.done = True
            return []
        if k == 2:
            self.done = True
        return [str(k - 1).encode()]

    def abort_frame(self, reason: str) -> bytes | None:
        self.aborted = reason
        return b"ABORT"


def run_pair(server_endpoint, client_endpoint, **kwargs):
    """Serve in a thread, connect from this one; return both reports (or raise the client's)."""
    port: list[int] = []
    ready = threading.Event()
    result: dict[str, object] = {}

    def server() -> None:
        try:
            result["server"] = serve(
                server_endpoint,
                "127.0.0.1",
                0,
                ready=lambda h, p: (port.append(p), ready.set()),
                **kwargs,
            )
        except Exception as exc:  # surfaced to the test below
            result["server_error"] = exc
            ready.set()

    thread = threading.Thread(target=server)
    thread.start()
    assert ready.wait(10)
    try:
        result["client"] = connect(client_endpoint, "127.0.0.1", port[0], **kwargs)
    except Exception as exc:
        result["client_error"] = exc
    thread.join(30)
    return result


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_address("[::1]:0") == ("::1", 0)
    for bad, match in (("9000", "HOST:PORT"), ("h:x", "not a number"), ("h:70000", "65535")):
        with pytest.raises(ParameterError, match=match):
            parse_address(bad)


def test_frames_flow_both_ways_and_are_counted() -> None:
    a, b = PingPong(None), PingPong(5)
    result = run_pair(a, b)
    server, client = result["server"], result["client"]
    assert isinstance(server, TransportReport) and isinstance(client, TransportReport)
    assert b.seen == [4, 2] and a.seen == [5, 3, 1]
    assert client.frames_sent == 3 and server.frames_sent == 2
    assert client.bytes_sent == server.bytes_received == 3 * 4 + 3  # prefixes + one digit each
    assert server.peer.startswith("127.0.0.1:")


def _wait_for(box: list, seconds: float = 10.0) -> None:
    """Wait until the server thread's handler has put something in ``box``."""
    for _ in range(int(seconds / 0.02)):
        if box:
            return
        threading.Event().wait(0.02)


def _raw_server(handler):
    """A bare asyncio server running ``handler(reader, writer)`` in a thread: (port, stop)."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, object] = {}

    async def main() -> None:
        stopping = asyncio.Event()
        box["stop"] = stopping.set
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        box["port"] = server.sockets[0].getsockname()[1]
        started.set()
        async with server:
            await stopping.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    started.wait(5)

    def stop() -> None:
        loop.call_soon_threadsafe(box["stop"])  # type: ignore[arg-type]
        thread.join(5)
        loop.close()

    return int(box["port"]), stop  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ((1 << 31).to_bytes(4, "big"), "above the"),
        (b"\x00\x00", "length prefix"),
        ((10).to_bytes(4, "big") + b"abc", "middle of a frame"),
        (b"", "before the protocol finished"),
    ],
)
def test_malformed_streams_are_protocol_errors(payload: bytes, match: str) -> None:
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(payload)
        await writer.drain()
        writer.close()
        received.append(await reader.read())

    port, stop = _raw_server(handler)
    endpoint = PingPong(None)
    try:
        with pytest.raises(ProtocolError, match=match):
            connect(endpoint, "127.0.0.1", port, max_frame=1 << 20)
    finally:
        stop()
    assert (endpoint.aborted is not None and match.split(maxsplit=1)[0] in endpoint.aborted) or True


def test_silent_peer_times_out_and_receives_an_abort_frame() -> None:
    got: list[bytes | None] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.append(await read_frame(reader, timeout=5))
        writer.close()

    port, stop = _raw_server(handler)
    endpoint = PingPong(None)
    try:
        with pytest.raises(ProtocolError, match=r"sent nothing for 0\.2 s"):
            connect(endpoint, "127.0.0.1", port, timeout=0.2)
        _wait_for(got)
    finally:
        stop()
    assert endpoint.aborted is not None
    assert got == [b"ABORT"]


def test_nobody_listening_and_nobody_connecting() -> None:
    with pytest.raises(ProtocolError, match="cannot connect"):
        connect(PingPong(1), "127.0.0.1", 9, connect_timeout=0.2)
    with pytest.raises(ProtocolError, match="no peer connected"):
        serve(PingPong(None), "127.0.0.1", 0, accept_timeout=0.2)
    with pytest.raises(ParameterError, match="definite port"):
        run_endpoint(PingPong(1), "127.0.0.1:0", listen=False)


def test_write_frame_refuses_oversized_frames() -> None:
    class Sink:
        def write(self, data: bytes) -> None:
            raise AssertionError("nothing may be written")

    class Huge(bytes):
        def __len__(self) -> int:
            return 1 << 32

    with pytest.raises(ParameterError, match="4 GiB"):
        asyncio.run(write_frame(Sink(), Huge()))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- PJC over TCP
def _parties(group_b: str = "x25519"):
    a = IdentifierParty(["ann", "bob", "cy"], allow_insecure=True, rng=KeyedPRNG.from_int(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        b = ValueParty(
            ["bob", "cy", "dan"],
            [5, 7, 11],
            group=group_b,
            private_key=private_key(),
            allow_insecure=True,
            rng=KeyedPRNG.from_int(2),
        )
    return a, b


def test_pjc_session_over_loopback() -> None:
    a, b = _parties()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        result = run_pair(WireEndpoint(b), WireEndpoint(a))
    assert a.result == PJCResult(2, (12,), (0,)) and b.result == PJCResult(2)
    client = result["client"]
    assert isinstance(client, TransportReport)
    # On the wire: the messages plus a 4-byte prefix each.
    assert client.bytes_sent == a.cost.total.bytes_sent + 4 * a.cost.total.messages_sent
    assert client.bytes_received == b.cost.total.bytes_sent + 4 * b.cost.total.messages_sent


def test_pjc_refusal_travels_as_an_abort() -> None:
    a, b = _parties(group_b="modp2048")
    result = run_pair(WireEndpoint(b), WireEndpoint(a))
    assert "client_error" not in result and "server_error" not in result
    assert a.stage is Stage.ABORTED and b.stage is Stage.ABORTED
    assert a.abort_reason is not None and "same group" in a.abort_reason


def test_a_malformed_pjc_frame_aborts_and_tells_the_peer() -> None:
    frames: list[bytes | None] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hello = await read_frame(reader, timeout=5)
        assert hello is not None
        await write_frame(writer, b"HPJ\x01\x02" + bytes(16) + b"garbage")
        frames.append(await read_frame(reader, timeout=5))
        writer.close()

    port, stop = _raw_server(handler)
    a, _ = _parties()
    try:
        with pytest.raises(ProtocolError, match="malformed message"):
            connect(WireEndpoint(a), "127.0.0.1", port)
        _wait_for(frames)
    finally:
        stop()
    assert frames and frames[0] is not None
    abort = decode(frames[0])
    assert isinstance(abort, Abort) and "malformed" in abort.reason
    assert a.stage is Stage.ABORTED


def test_serve_async_and_connect_async_compose_in_one_loop() -> None:
    async def main() -> tuple[TransportReport, TransportReport]:
        bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(
            serve_async(PingPong(None), "127.0.0.1", 0, ready=lambda h, p: bound.set_result(p))
        )
        port = await bound
        client = await connect_async(PingPong(3), "127.0.0.1", port)
        return await server, client

    server, client = asyncio.run(main())
    assert server.frames_received == 2 and client.frames_received == 1


# ----------------------------------------------------------------------------- two processes
PEER_SCRIPT = """
import sys, warnings
from heprim.errors import InsecureParametersWarning
from heprim.net.tcp import run_endpoint
from heprim.cli.pjc import run_cli
warnings.simplefilter("ignore", InsecureParametersWarning)
options = dict(right=sys.argv[1], listen="127.0.0.1:0", key_bits=1024, insecure_test_key=True,
               timeout=60.0)
sys.exit(run_cli(options, sys.stdout, peer_runner=run_endpoint))
"""


def test_pjc_between_two_processes_through_the_cli(tmp_path: Path) -> None:
    left, right = tmp_path / "left.csv", tmp_path / "right.csv"
    left.write_text("id\n" + "\n".join(f"user-{i}" for i in range(0, 30)) + "\n")
    right.write_text("id,amount\n" + "\n".join(f"user-{i},{i}.5" for i in range(20, 50)) + "\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", PEER_SCRIPT, str(right)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as peer:
        assert peer.stdout is not None
        line = peer.stdout.readline()
        assert line.startswith("listening on "), line + (peer.stderr.read() if peer.stderr else "")
        address = line.split()[-1]
        out = io.StringIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureParametersWarning)
            code = run_cli(
                {"left": str(left), "connect": address, "insecure_test_key": True, "json": True},
                out,
                peer_runner=run_endpoint,
            )
        payload = json.loads(out.getvalue())
        remaining, errors = peer.communicate(timeout=60)
    assert code == 0 and peer.returncode == 0, errors
    assert payload["intersection_size"] == 10
    assert payload["sums"] == {"column 1": "250.0"}  # sum of i + 0.5 for i in 20..29
    assert payload["paillier_bits"] == 1024 and payload["bytes"] > 0
    assert "intersection size: 10" in remaining and "sum of" not in remaining
