"""SecAgg / SecAgg+ over TCP: many clients, one server, dropouts on deadlines, misbehaviour.

Every session runs over loopback sockets in one event loop, on ports the OS picks. The oracle
is numpy's plaintext sum of the surviving clients' inputs (exact integers).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import ssl
import threading
import warnings
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from heprim.errors import InsecureParametersWarning, ParameterError, ProtocolError
from heprim.math.prng import KeyedPRNG
from heprim.net.aggregation import (
    HELLO_BYTES,
    ClientReport,
    HEPartyEndpoint,
    SecAggEndpoint,
    ServerReport,
    decode_hello,
    encode_hello,
    run_client,
    run_client_async,
    run_party,
    run_party_async,
    serve,
    serve_async,
    serve_he,
    serve_he_async,
)
from heprim.net.tcp import connect_async, read_frame, write_frame
from heprim.paillier.threshold import deal
from heprim.secagg.client import ClientStage, SecAggClient
from heprim.secagg.crypto import SigningKey
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.graph import choose_graph
from heprim.secagg.he_aggregation import HEPartyStage, HESessionConfig
from heprim.secagg.he_bfv import BFVDeployment, aggregation_parameters
from heprim.secagg.he_bfv_client_keys import ClientKeyDeployment
from heprim.secagg.he_messages import DecryptRequest, PartialDecryption
from heprim.secagg.he_paillier import PaillierDeployment
from heprim.secagg.messages import (
    SERVER,
    Abort,
    AdvertiseKeys,
    Setup,
    decode,
    encode,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
ENCODING = VectorEncoding.integers(0, 2**16 - 1)
DIM = 40
LIMIT = 30.0  # no test session may take longer than this


def inputs_for(ids: list[int], dim: int = DIM, seed: int = 0) -> dict[int, np.ndarray]:
    words = KeyedPRNG.from_int(seed).random_bytes(8 * dim * len(ids))
    table = (np.frombuffer(words, dtype="<u8") % 2**16).astype(np.int64).reshape(len(ids), dim)
    return {u: table[i] for i, u in enumerate(ids)}


def make_client(u: int, values: np.ndarray, **kwargs: Any) -> SecAggClient:
    client = SecAggClient(u, rng=KeyedPRNG.from_int(1000 + u), **kwargs)
    client.set_input(values)
    return client


def expected_sum(inputs: Mapping[int, np.ndarray], survivors: frozenset[int]) -> np.ndarray:
    return np.sum([inputs[u] for u in sorted(survivors)], axis=0)


async def run_session(
    start: Callable[[Callable[[str, int], None]], Awaitable[ServerReport]],
    parties: Callable[[int], list[Awaitable[Any]]],
) -> tuple[ServerReport, list[Any]]:
    """Start a server (``start(ready)``) on a free port, run the parties against it, return
    every outcome."""
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(start(lambda host, port: bound.set_result(port)))
    await asyncio.wait([bound, server], timeout=LIMIT, return_when=asyncio.FIRST_COMPLETED)
    if server.done():  # it failed before listening
        return server.result(), []
    port = bound.result()
    outcomes = await asyncio.wait_for(asyncio.gather(*parties(port), return_exceptions=True), LIMIT)
    return await asyncio.wait_for(server, LIMIT), list(outcomes)


async def with_server(
    parties: Callable[[int], list[Awaitable[Any]]], **server_kwargs: Any
) -> tuple[ServerReport, list[Any]]:
    """A SecAgg server on a free port, the parties against it, every outcome."""
    options: dict[str, Any] = {"round_timeout": 10.0, "join_timeout": 10.0, "dim": DIM}
    options.update(server_kwargs)
    dim = options.pop("dim")
    return await run_session(
        lambda ready: serve_async(dim, ENCODING, ready=ready, rng=KeyedPRNG.from_int(7), **options),
        parties,
    )


async def hello(
    port: int, client: int | bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    frame = client if isinstance(client, bytes) else encode_hello(client)
    await write_frame(writer, frame)
    return reader, writer


async def frames_until_close(reader: asyncio.StreamReader) -> list[bytes]:
    out = []
    while (frame := await read_frame(reader, timeout=LIMIT)) is not None:
        out.append(frame)
    return out


# ----------------------------------------------------------------------------- hello frame
def test_hello_round_trip_and_its_refusals() -> None:
    frame = encode_hello(2**32 - 1)
    assert len(frame) == HELLO_BYTES and decode_hello(frame) == 2**32 - 1
    with pytest.raises(ProtocolError, match="9 bytes"):
        decode_hello(frame + b"\0")
    with pytest.raises(ProtocolError, match="bad magic"):
        decode_hello(b"HTTP" + frame[4:])
    with pytest.raises(ProtocolError, match="version 2"):
        decode_hello(frame[:4] + b"\x02" + frame[5:])
    with pytest.raises(ProtocolError, match="server's"):
        decode_hello(frame[:5] + bytes(4))
    for bad in (0, 2**32, True, "1"):
        with pytest.raises(ParameterError, match="client id"):
            encode_hello(bad)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- full sessions
def test_secagg_plus_session_of_eight_clients_is_exact() -> None:
    ids = list(range(1, 9))
    inputs = inputs_for(ids)
    lines: list[str] = []
    ticks: list[tuple[int, int]] = []

    def parties(port: int) -> list[Awaitable[ClientReport]]:
        return [
            run_client_async(make_client(u, inputs[u]), "127.0.0.1", port, dim=DIM) for u in ids
        ]

    report, clients = asyncio.run(
        with_server(
            parties, clients=8, events=lines.append, progress=lambda d, t: ticks.append((d, t))
        )
    )
    assert report.abort_reason is None and report.aggregate is not None
    assert report.config is not None and not report.config.graph.complete  # SecAgg+: k < n - 1
    assert report.survivors == frozenset(ids) and report.joined == tuple(ids)
    assert np.array_equal(report.aggregate.sum, expected_sum(inputs, report.survivors))
    assert report.dropped == {} and report.refused == []
    assert all(isinstance(c, ClientReport) and c.completed for c in clients), clients
    # What the clients sent is what the server received, prefixes included.
    assert report.transport.bytes_received == sum(c.bytes_sent for c in clients)
    assert report.transport.bytes_sent == sum(c.bytes_received for c in clients)
    assert report.client_costs[3].total.bytes_sent == clients[2].cost.total.bytes_sent
    assert sum(line.count("joined") for line in lines) == 8
    assert ticks[-1] == (32, 32)


def test_client_disconnecting_after_sharing_keys_is_recovered() -> None:
    ids = list(range(1, 9))
    inputs = inputs_for(ids, seed=1)

    class LeavesAfterSharing(SecAggEndpoint):
        def receive(self, frame: bytes) -> list[bytes]:
            if self.client.stage is ClientStage.AWAIT_SHARES:  # its shares are with the server
                raise ConnectionAbortedError("client 5 loses its network")
            return super().receive(frame)

    async def leaver(port: int) -> None:
        from heprim.net.tcp import connect_async

        await connect_async(LeavesAfterSharing(make_client(5, inputs[5])), "127.0.0.1", port)

    def parties(port: int) -> list[Awaitable[Any]]:
        honest = [
            run_client_async(make_client(u, inputs[u]), "127.0.0.1", port) for u in ids if u != 5
        ]
        return [*honest, leaver(port)]

    report, outcomes = asyncio.run(with_server(parties, clients=8))
    assert report.aggregate is not None, report.abort_reason
    assert report.survivors == frozenset(ids) - {5}
    assert np.array_equal(report.aggregate.sum, expected_sum(inputs, report.survivors))
    assert list(report.dropped) == [5] and "collecting masked inputs" in report.dropped[5]
    assert isinstance(outcomes[-1], ConnectionAbortedError)
    assert all(c.completed for c in outcomes[:-1])


def test_a_client_sending_garbage_is_dropped_and_the_session_completes() -> None:
    ids = [1, 2, 3, 4, 5, 6, 7]
    inputs = inputs_for(ids, seed=2)

    async def garbage(port: int) -> list[bytes]:
        reader, writer = await hello(port, 8)
        setup = await read_frame(reader, timeout=LIMIT)
        assert setup is not None and isinstance(decode(setup), Setup)
        await write_frame(writer, b"HSA\x01 this is not a secure-aggregation message")
        frames = await frames_until_close(reader)
        writer.close()
        return frames

    def parties(port: int) -> list[Awaitable[Any]]:
        return [
            *(run_client_async(make_client(u, inputs[u]), "127.0.0.1", port) for u in ids),
            garbage(port),
        ]

    report, outcomes = asyncio.run(with_server(parties, clients=8))
    assert report.aggregate is not None, report.abort_reason
    assert report.survivors == frozenset(ids)
    assert np.array_equal(report.aggregate.sum, expected_sum(inputs, report.survivors))
    assert report.dropped[8].startswith("protocol error: malformed frame")
    abort = decode(outcomes[-1][-1])
    assert isinstance(abort, Abort) and "malformed" in abort.reason


def test_silent_impersonating_and_oversized_clients_are_dropped() -> None:
    honest = [1, 2, 3, 4, 5]
    inputs = inputs_for(honest, seed=3)

    async def silent(port: int) -> list[bytes]:
        reader, writer = await hello(port, 6)
        frames = await frames_until_close(reader)  # setup, then the abort at the deadline
        writer.close()
        return frames

    async def impersonator(port: int) -> list[bytes]:
        reader, writer = await hello(port, 7)
        setup = decode(await read_frame(reader, timeout=LIMIT) or b"")
        forged = AdvertiseKeys(setup.session, 1, SERVER, bytes(range(32)), bytes(32))
        await write_frame(writer, encode(forged))  # in client 1's name
        frames = await frames_until_close(reader)
        writer.close()
        return frames

    async def oversized(port: int) -> None:
        reader, writer = await hello(port, 8)
        await read_frame(reader, timeout=LIMIT)
        writer.write((1 << 30).to_bytes(4, "big"))  # announces a 1 GiB frame
        await writer.drain()
        await frames_until_close(reader)
        writer.close()

    def parties(port: int) -> list[Awaitable[Any]]:
        clients = [run_client_async(make_client(u, inputs[u]), "127.0.0.1", port) for u in honest]
        return [*clients, silent(port), impersonator(port), oversized(port)]

    graph = choose_graph(8, corrupted_fraction=0.0, dropout_rate=0.4)  # tolerates 3 dropouts
    report, outcomes = asyncio.run(with_server(parties, clients=8, graph=graph, round_timeout=1.5))
    assert report.aggregate is not None, report.abort_reason
    assert report.survivors == frozenset(honest)
    assert np.array_equal(report.aggregate.sum, expected_sum(inputs, report.survivors))
    assert "silent past the 1.5 s deadline" in report.dropped[6]
    assert "in the name of party 1" in report.dropped[7]
    assert "above the" in report.dropped[8] and "byte limit" in report.dropped[8]
    silent_abort = decode(outcomes[5][-1])
    assert isinstance(silent_abort, Abort) and "silent" in silent_abort.reason
    assert isinstance(decode(outcomes[6][-1]), Abort)


def test_joining_refuses_strangers_duplicates_bad_hellos_and_latecomers() -> None:
    inputs = inputs_for([1, 2])
    refusals: dict[str, list[bytes]] = {}
    first_joined = asyncio.Event()
    in_session, late_refused = threading.Event(), threading.Event()

    def on_event(text: str) -> None:
        if text.startswith("client 1 joined"):
            first_joined.set()

    async def refused(port: int, name: str, who: int | bytes) -> None:
        reader, writer = await hello(port, who)
        refusals[name] = await frames_until_close(reader)
        writer.close()

    async def first(port: int) -> ClientReport:
        return await run_client_async(make_client(1, inputs[1]), "127.0.0.1", port)

    async def duplicate(port: int) -> None:
        await first_joined.wait()
        await refused(port, "duplicate", 1)

    def input_of_2() -> np.ndarray:  # runs mid-session: hold the session until the late refusal
        in_session.set()
        late_refused.wait(LIMIT)
        return inputs[2]

    async def second(port: int, before: list[Awaitable[None]]) -> ClientReport:
        await asyncio.gather(*before)  # the session starts when client 2 joins
        client = SecAggClient(2, rng=KeyedPRNG.from_int(2))
        client.set_input(input_of_2)
        return await run_client_async(client, "127.0.0.1", port)

    async def late(port: int) -> None:
        while not in_session.is_set():
            await asyncio.sleep(0.01)
        await refused(port, "late", 2)
        late_refused.set()

    def parties(port: int) -> list[Awaitable[Any]]:
        before = [
            refused(port, "stranger", 3),
            duplicate(port),
            refused(port, "bad hello", b"GET / HTTP/1.1\r\n"),
        ]
        return [first(port), second(port, before), late(port)]

    graph = choose_graph(2, corrupted_fraction=0.0, dropout_rate=0.0)
    report, outcomes = asyncio.run(
        with_server(parties, clients=[1, 2], graph=graph, events=on_event)
    )
    assert report.aggregate is not None and report.survivors == {1, 2}
    assert all(not isinstance(o, BaseException) for o in outcomes), outcomes
    reasons = {name: decode(frames[0]).reason for name, frames in refusals.items() if frames}
    assert "not a participant" in reasons["stranger"]
    assert "already joined" in reasons["duplicate"]
    assert refusals["bad hello"] == []  # no id to address an abort to: just hung up
    assert "already started" in reasons["late"]
    assert len(report.refused) == 4


def test_join_deadline_starts_with_enough_clients_or_aborts() -> None:
    inputs = inputs_for([1, 2, 3])
    graph = lambda n: choose_graph(n, corrupted_fraction=0.0, dropout_rate=0.0)  # noqa: E731

    def two(port: int) -> list[Awaitable[ClientReport]]:
        return [run_client_async(make_client(u, inputs[u]), "127.0.0.1", port) for u in (1, 2)]

    report, _ = asyncio.run(
        with_server(two, clients=3, min_clients=2, join_timeout=1.0, graph=graph)
    )
    assert report.aggregate is not None and report.joined == (1, 2)
    assert np.array_equal(report.aggregate.sum, inputs[1] + inputs[2])

    report, outcomes = asyncio.run(with_server(two, clients=3, join_timeout=1.0, graph=graph))
    assert report.aggregate is None and report.config is None
    assert report.abort_reason == "only 2 of 3 clients joined within 1.0 s (at least 3 needed)"
    assert all(not o.completed and "only 2 of 3" in (o.abort_reason or "") for o in outcomes)


def test_setup_is_checked_against_what_the_client_expects() -> None:
    ids = [1, 2, 3]
    inputs = inputs_for(ids)
    graph = choose_graph(3, corrupted_fraction=0.0, dropout_rate=0.3)

    def parties(port: int) -> list[Awaitable[Any]]:
        wrong_dim = run_client_async(make_client(3, inputs[3]), "127.0.0.1", port, dim=DIM + 1)
        honest = [run_client_async(make_client(u, inputs[u]), "127.0.0.1", port) for u in (1, 2)]
        return [*honest, wrong_dim]

    report, outcomes = asyncio.run(with_server(parties, clients=3, graph=graph))
    assert isinstance(outcomes[2], ProtocolError) and "check --dim" in str(outcomes[2])
    assert report.aggregate is not None and report.survivors == {1, 2}
    assert "disconnected" in report.dropped[3]
    endpoint = SecAggEndpoint(make_client(3, inputs[3]), encoding=VectorEncoding.integers(0, 255))
    setup = Setup(bytes(16), SERVER, 3, (1, 2, 3), 2, 1, DIM, 32, False, ENCODING)
    with pytest.raises(ProtocolError, match="encodes"):
        endpoint.receive(encode(setup))
    with pytest.raises(ProtocolError, match="malformed frame"):
        endpoint.receive(b"garbage")
    assert endpoint.abort_frame("why") is None
    with pytest.raises(ParameterError, match="SecAggClient"):
        SecAggEndpoint("client")  # type: ignore[arg-type]


def test_active_profile_over_tcp() -> None:
    ids = [1, 2, 3, 4, 5]
    inputs = inputs_for(ids, seed=4)
    signing = {u: SigningKey(rng=KeyedPRNG.from_int(50 + u)) for u in ids}
    verify = {u: key.public_bytes for u, key in signing.items()}

    def parties(port: int) -> list[Awaitable[ClientReport]]:
        return [
            run_client_async(
                make_client(
                    u, inputs[u], profile="active", signing_key=signing[u], verify_keys=verify
                ),
                "127.0.0.1",
                port,
            )
            for u in ids
        ]

    report, clients = asyncio.run(with_server(parties, clients=5, verify_keys=verify))
    assert report.aggregate is not None, report.abort_reason
    assert report.config is not None and report.config.active
    assert np.array_equal(report.aggregate.sum, expected_sum(inputs, report.survivors))
    assert all(c.completed and c.frames_received == 5 for c in clients)


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_session(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    ids = [1, 2, 3]
    inputs = inputs_for(ids, seed=5)
    graph = choose_graph(3, corrupted_fraction=0.0, dropout_rate=0.0)

    async def tls_client(u: int, port: int) -> ClientReport:
        return await run_client_async(make_client(u, inputs[u]), "localhost", port, ssl=client_ctx)

    report, clients = asyncio.run(
        with_server(
            lambda port: [tls_client(u, port) for u in ids],
            clients=3,
            graph=graph,
            ssl=server_ctx,
            host="localhost",
        )
    )
    assert report.aggregate is not None, (report.abort_reason, clients)
    assert np.array_equal(report.aggregate.sum, expected_sum(inputs, report.survivors))


# ----------------------------------------------------------------------------- blocking API
def test_blocking_wrappers_and_bad_arguments() -> None:
    with pytest.raises(ParameterError, match="definite port"):
        run_client(make_client(1, np.zeros(DIM)), "127.0.0.1:0")
    with pytest.raises(ProtocolError, match="cannot connect"):
        run_client(make_client(1, np.zeros(DIM)), "127.0.0.1:1", connect_timeout=0.2)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"clients": 1}, "at least 2 clients"),
        ({"clients": np.int64(1)}, "at least 2 clients"),
        ({"clients": 3, "dim": 0}, "dim must be"),
        ({"clients": 3, "encoding": "ints"}, "VectorEncoding"),
        ({"clients": True}, "number of clients"),
        ({"clients": [1, 1]}, "distinct"),
        ({"clients": 3, "min_clients": 1}, "min_clients"),
        ({"clients": 3, "round_timeout": 0}, "positive"),
        ({"clients": [1, 2], "verify_keys": {1: b""}}, "every expected client"),
    ]
    for kwargs, match in bad:
        arguments = {"dim": DIM, "encoding": ENCODING, **kwargs}
        with pytest.raises(ParameterError, match=match):
            serve(arguments.pop("dim"), arguments.pop("encoding"), **arguments)


def test_bad_configuration_is_raised_after_telling_the_clients() -> None:
    inputs = inputs_for([1, 2])

    def parties(port: int) -> list[Awaitable[ClientReport]]:
        return [run_client_async(make_client(u, inputs[u]), "127.0.0.1", port) for u in (1, 2)]

    with pytest.raises(ParameterError):  # no threshold tolerates 10% of 2 clients dropping
        asyncio.run(with_server(parties, clients=2))


def test_insecure_graph_warning_still_runs() -> None:
    ids = list(range(1, 9))
    inputs = inputs_for(ids, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        graph = choose_graph(8, k=4, t=3)

    def parties(port: int) -> list[Awaitable[ClientReport]]:
        return [run_client_async(make_client(u, inputs[u]), "127.0.0.1", port) for u in ids]

    report, _ = asyncio.run(with_server(parties, clients=8, graph=graph))
    assert report.config is not None and report.config.graph.k == 4
    assert report.aggregate is not None
    assert np.array_equal(report.aggregate.sum, expected_sum(inputs, report.survivors))


def test_a_protocol_abort_reaches_every_client() -> None:
    ids = [1, 2, 3]
    inputs = inputs_for(ids)

    async def vanishes(port: int) -> None:
        reader, writer = await hello(port, 4)
        await read_frame(reader, timeout=LIMIT)  # the setup, then gone
        writer.close()

    def parties(port: int) -> list[Awaitable[Any]]:
        clients = [run_client_async(make_client(u, inputs[u]), "127.0.0.1", port) for u in ids]
        return [*clients, vanishes(port)]

    # t = k = 3: nobody can lose a neighbour, so one dropout leaves no client recoverable.
    graph = choose_graph(4, k=3, t=3, corrupted_fraction=0.0, dropout_rate=0.0)
    report, outcomes = asyncio.run(with_server(parties, clients=4, graph=graph))
    assert report.aggregate is None and report.survivors == frozenset()
    assert report.abort_reason is not None and "no client has t = 3" in report.abort_reason
    assert "disconnected" in report.dropped[4]
    for outcome in outcomes[:3]:
        assert not outcome.completed and outcome.abort_reason == report.abort_reason


def test_a_client_flooding_frames_is_dropped_without_buffering_them() -> None:
    """A client far ahead of the protocol (it asks one message per round) is cut off after
    MAX_PENDING_FRAMES queued frames; its place is freed and the session runs without it."""
    from heprim.net.aggregation import MAX_PENDING_FRAMES

    ids = [1, 2, 3, 4]
    inputs = inputs_for(ids, seed=5)
    events: list[str] = []

    async def flood_then_honest(port: int) -> list[Any]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        junk = b"".join(len(f).to_bytes(4, "big") + f for f in [b"x" * 16] * 50)
        writer.write(len(encode_hello(4)).to_bytes(4, "big") + encode_hello(4) + junk)
        await writer.drain()
        await frames_until_close(reader)  # the server hangs up on the flooder
        writer.close()
        clients = (run_client_async(make_client(u, inputs[u]), "127.0.0.1", port) for u in ids)
        return list(await asyncio.gather(*clients))

    report, _ = asyncio.run(
        with_server(lambda port: [flood_then_honest(port)], clients=4, events=events.append)
    )
    assert report.aggregate is not None, report.abort_reason
    assert report.survivors == frozenset(ids)
    assert np.array_equal(report.aggregate.sum, expected_sum(inputs, report.survivors))
    flooded = [e for e in events if "flooding" in e]
    assert flooded and f"more than {MAX_PENDING_FRAMES} frames" in flooded[0]


# ============================================================================= HE aggregation
# The same driver runs the HE protocols: small keys and N = 1024 (insecure on purpose: the
# protocol and the driver do not depend on the size), the oracle still numpy's exact sum.
DECRYPTORS = (101, 102, 103)


def _paillier(decryptors: tuple[int, ...] = DECRYPTORS, threshold: int = 2) -> PaillierDeployment:
    entry = json.loads((VECTORS / "paillier_safe_primes.json").read_text())["keys"]["512"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        public, shares = deal(
            int(entry["p"], 16),
            int(entry["q"], 16),
            parties=len(decryptors),
            threshold=threshold,
            rng=KeyedPRNG.from_int(len(decryptors)),
            allow_insecure=True,
        )
    return PaillierDeployment.from_shares(public, shares, list(decryptors))


def _bfv_params(clients: int) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        return aggregation_parameters(
            ENCODING.modulus_bits(clients), degree=1024, allow_insecure=True
        )


def he_config(
    deployment: Any, clients: list[int], *, seed: int = 0, **kwargs: Any
) -> HESessionConfig:
    return HESessionConfig.create(
        clients,
        DIM,
        ENCODING,
        decryptors=deployment.decryptors,
        threshold=deployment.threshold,
        rng=KeyedPRNG.from_int(100 + seed),
        **kwargs,
    )


def he_party(deployment: Any, u: int, inputs: Mapping[int, np.ndarray]) -> Any:
    party = deployment.party(u, rng=KeyedPRNG.from_int(2000 + u))
    if u in inputs:
        party.set_input(inputs[u])
    return party


def honest(
    deployment: Any, ids: list[int], inputs: Mapping[int, np.ndarray], port: int, **kw: Any
) -> list[Awaitable[ClientReport]]:
    return [
        run_party_async(he_party(deployment, u, inputs), "127.0.0.1", port, dim=DIM, **kw)
        for u in ids
    ]


async def with_he_server(
    deployment: Any,
    config: HESessionConfig,
    parties: Callable[[int], list[Awaitable[Any]]],
    **server_kwargs: Any,
) -> tuple[ServerReport, list[Any]]:
    options: dict[str, Any] = {"round_timeout": 10.0, "join_timeout": 10.0}
    options.update(server_kwargs)
    return await run_session(
        lambda ready: serve_he_async(deployment, config, ready=ready, **options), parties
    )


def run_honest(
    deployment: Any,
    config: HESessionConfig,
    ids: list[int],
    inputs: Mapping[int, np.ndarray],
    **server_kwargs: Any,
) -> tuple[ServerReport, list[Any]]:
    """An HE session of honest parties ``ids`` (deployment: what the server is built from)."""
    source = server_kwargs.pop("source", deployment)
    return asyncio.run(
        with_he_server(
            source, config, lambda port: honest(deployment, ids, inputs, port), **server_kwargs
        )
    )


class SilentDecryptor(HEPartyEndpoint):
    """Joins, takes every message, answers none (until the server gives up on it)."""

    def receive(self, frame: bytes) -> list[bytes]:
        super().receive(frame)
        return []

    @property
    def finished(self) -> bool:
        return self.party.stage is HEPartyStage.ABORTED


def test_threshold_paillier_session_over_tls_is_exact(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    # Party 1 is a client and a decryptor (it holds share 1): one connection, both roles.
    deployment = _paillier(decryptors=(1, 102, 103))
    clients = [1, 2, 3, 4, 5]
    inputs = inputs_for(clients, seed=11)
    config = he_config(deployment, clients, seed=1)
    ticks: list[tuple[int, int]] = []

    def parties(port: int) -> list[Awaitable[ClientReport]]:
        everyone = [*clients, 102, 103]
        return [
            run_party_async(
                he_party(deployment, u, inputs), "localhost", port, dim=DIM, ssl=client_ctx
            )
            for u in everyone
        ]

    report, outcomes = asyncio.run(
        with_he_server(
            deployment,
            config,
            parties,
            ssl=server_ctx,
            host="localhost",
            progress=lambda d, t: ticks.append((d, t)),
        )
    )
    assert report.aggregate is not None, (report.abort_reason, outcomes)
    assert report.protocol == "paillier" and report.config == config
    assert report.survivors == frozenset(clients)
    assert np.array_equal(report.aggregate.sum, expected_sum(inputs, report.survivors))
    assert report.dropped == {} and report.rejected == {} and report.released == ()
    assert all(isinstance(o, ClientReport) and o.completed for o in outcomes), outcomes
    assert report.transport.bytes_received == sum(o.bytes_sent for o in outcomes)
    # Party 1 sent its ciphertexts and its decryption shares on one connection.
    assert outcomes[0].frames_sent == 3 and report.client_costs[1].total.messages_sent == 2
    assert ticks[-1] == (8, 8)


def test_client_key_bfv_with_a_client_dropping_and_a_silent_decryptor() -> None:
    clients = [1, 2, 3, 4, 5, 6]
    deployment = ClientKeyDeployment.generate(
        clients, DECRYPTORS, 2, _bfv_params(len(clients)), rng=KeyedPRNG.from_int(3)
    )
    inputs = inputs_for(clients, seed=12)
    config = he_config(deployment, clients, seed=2)

    class LeavesAtSetup(HEPartyEndpoint):
        def receive(self, frame: bytes) -> list[bytes]:
            raise ConnectionAbortedError("client 5 loses its network before encrypting")

    async def endpoint(port: int, cls: type[HEPartyEndpoint], u: int) -> None:
        await connect_async(cls(he_party(deployment, u, inputs)), "127.0.0.1", port)

    def parties(port: int) -> list[Awaitable[Any]]:  # client 6 never connects
        return [
            *honest(deployment, [1, 2, 3, 4, 101, 102], inputs, port),
            endpoint(port, LeavesAtSetup, 5),
            endpoint(port, SilentDecryptor, 103),
        ]

    report, outcomes = asyncio.run(
        with_he_server(deployment.public, config, parties, join_timeout=1.0, round_timeout=2.0)
    )
    assert report.aggregate is not None, report.abort_reason
    assert report.protocol == "bfv-client-keys"
    assert report.survivors == frozenset({1, 2, 3, 4})
    assert np.array_equal(report.aggregate.sum, expected_sum(inputs, report.survivors))
    assert report.joined == (1, 2, 3, 4, 5, 101, 102, 103)
    assert report.dropped[6] == "never joined (collecting encrypted inputs)"
    assert report.dropped[5].startswith("disconnected")
    assert "silent past the 2.0 s deadline" in report.dropped[103]
    assert all(o.completed for o in outcomes[:6]), outcomes
    assert isinstance(outcomes[6], ConnectionAbortedError)


def test_collective_bfv_session_is_exact_and_releases_the_spare_decryptor() -> None:
    clients = [1, 2, 3, 4]
    deployment = BFVDeployment.generate(
        DECRYPTORS,
        2,
        _bfv_params(len(clients)),
        max_contributors=len(clients),
        rng=KeyedPRNG.from_int(4),
    )
    inputs = inputs_for(clients, seed=13)
    config = he_config(deployment, clients, seed=3)
    report, outcomes = run_honest(deployment, config, [*clients, *DECRYPTORS], inputs)
    assert report.aggregate is not None, report.abort_reason
    assert report.protocol == "bfv" and report.survivors == frozenset(clients)
    assert np.array_equal(report.aggregate.sum, expected_sum(inputs, report.survivors))
    # t = 2 of 3 ready decryptors: the lowest share indices decrypt, the third is released.
    assert report.released == (103,) and report.dropped == {}
    spare = outcomes[-1]
    assert spare.released and not spare.completed and "not needed" in (spare.abort_reason or "")
    assert all(o.completed for o in outcomes[:-1])


class GarbageShares(HEPartyEndpoint):
    """An honest client-facing party whose decryption-share frame is replaced by garbage."""

    def receive(self, frame: bytes) -> list[bytes]:
        replies = super().receive(frame)
        return [b"garbage"] if isinstance(decode(frame), DecryptRequest) else replies


class WrongShares(HEPartyEndpoint):
    """Sends well-formed decryption shares that are not its key's (the proof fails)."""

    def receive(self, frame: bytes) -> list[bytes]:
        replies = super().receive(frame)
        if not isinstance(decode(frame), DecryptRequest):
            return replies
        share = decode(replies[0])
        assert isinstance(share, PartialDecryption)
        forged = dataclasses.replace(
            share, shares=tuple(v * 4 % 2**1000 or 1 for v in share.shares)
        )
        return [encode(forged)]


@pytest.mark.parametrize("bad", [2, 3])
def test_misbehaving_decryptors_are_dropped_or_rejected(bad: int) -> None:
    """Five decryptors, t = 3: one sends garbage (dropped), one wrong shares (rejected by their
    proof), and with ``bad = 3`` a second one wrong shares too, which leaves fewer than t."""
    decryptors = (101, 102, 103, 104, 105)
    deployment = _paillier(decryptors, threshold=3)
    clients = [1, 2, 3, 4]
    inputs = inputs_for(clients, seed=14)
    config = he_config(deployment, clients, seed=4)
    liars = {
        101: GarbageShares,
        102: WrongShares,
        103: WrongShares if bad == 3 else HEPartyEndpoint,
    }

    async def decryptor(port: int, u: int) -> None:
        await connect_async(liars[u](he_party(deployment, u, inputs)), "127.0.0.1", port)

    def parties(port: int) -> list[Awaitable[Any]]:
        return [
            *honest(deployment, [*clients, 104, 105], inputs, port),
            *(decryptor(port, u) for u in liars),
        ]

    report, _ = asyncio.run(with_he_server(deployment, config, parties))
    assert report.dropped[101].startswith("protocol error: malformed frame")
    assert "proof" in report.rejected[102]
    if bad == 2:
        assert report.aggregate is not None, report.abort_reason
        assert np.array_equal(report.aggregate.sum, expected_sum(inputs, frozenset(clients)))
    else:
        assert report.aggregate is None and set(report.rejected) == {102, 103}
        assert "only 2 valid decryption shares" in (report.abort_reason or "")
        assert "fewer than the threshold t = 3" in (report.abort_reason or "")


def test_he_session_ends_at_once_without_enough_decryptors() -> None:
    deployment = _paillier()
    clients = [1, 2, 3]
    inputs = inputs_for(clients, seed=15)
    config = he_config(deployment, clients, seed=5)
    report, outcomes = run_honest(deployment, config, [*clients, 101], inputs, join_timeout=1.0)
    assert report.aggregate is None and report.config == config
    assert report.abort_reason == "only 1 of 3 decryptors joined within 1.0 s (t = 2 needed)"
    assert all(not o.completed and o.abort_reason == report.abort_reason for o in outcomes)
    report, _ = run_honest(deployment, config, [1, *DECRYPTORS], inputs, join_timeout=0.5)
    assert report.abort_reason == ("only 1 of 3 clients joined within 0.5 s (min_contributors = 2)")


def test_he_abort_in_the_input_round_reaches_the_waiting_decryptors() -> None:
    deployment = _paillier()
    clients = [1, 2, 3]
    inputs = inputs_for(clients, seed=16)
    config = he_config(deployment, clients, seed=6, min_contributors=3)

    async def vanishes(port: int) -> None:
        reader, writer = await hello(port, 3)
        await read_frame(reader, timeout=LIMIT)  # the setup, then gone
        writer.close()

    def parties(port: int) -> list[Awaitable[Any]]:
        return [*honest(deployment, [1, 2, *DECRYPTORS], inputs, port), vanishes(port)]

    report, outcomes = asyncio.run(with_he_server(deployment, config, parties))
    assert report.aggregate is None
    assert "fewer than min_contributors = 3" in (report.abort_reason or "")
    # The decryptors had no part in the input round, yet they are told and end cleanly.
    for outcome in outcomes[2:5]:
        assert outcome.abort_reason == report.abort_reason, outcome


def test_he_driver_refuses_bad_arguments() -> None:
    deployment = _paillier()
    config = he_config(deployment, [1, 2])
    with pytest.raises(ParameterError, match="HESessionConfig"):
        serve_he(deployment, "config")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="HEAggregationServer"):
        serve_he(lambda cfg: "server", config)  # type: ignore[arg-type,return-value]
    with pytest.raises(ParameterError, match="positive"):
        serve_he(deployment, config, round_timeout=0)
    with pytest.raises(ParameterError, match="HEAggregationParty"):
        HEPartyEndpoint(make_client(1, np.zeros(DIM)))  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="definite port"):
        run_party(he_party(deployment, 1, {1: np.zeros(DIM)}), "127.0.0.1:0")
    # A server factory instead of a deployment: the report names the protocol all the same.
    inputs = inputs_for([1, 2], seed=17)
    report, _ = run_honest(
        deployment, config, [1, 2, *DECRYPTORS], inputs, source=deployment.server
    )
    assert report.aggregate is not None and report.protocol == "paillier"
    assert np.array_equal(report.aggregate.sum, inputs[1] + inputs[2])
