"""The pickle-free fork workers: frames, life cycle, failures, fork hygiene, and no pickle at all.

The oracle for the vector results is the sequential path (workers=1), itself checked against
exact arithmetic in test_vector.py; the frame codec is checked by round trips and by every way a
frame can be cut or padded.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.reduction
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import HeprimError, InsecureParametersWarning, ParameterError, ProtocolError
from heprim.math.prng import KeyedPRNG
from heprim.paillier import _workers
from heprim.paillier._workers import ForkWorkerPool, Task
from heprim.paillier.keys import PrivateKey, PublicKey
from heprim.paillier.vector import (
    CHUNK_SIZE,
    close_worker_pools,
    decrypt_vector,
    encrypt_vector,
    raw_obfuscate_many,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::heprim.errors.InsecureParametersWarning"),
    pytest.mark.skipif(not _workers.fork_available(), reason="needs the fork start method"),
]


@pytest.fixture(autouse=True)
def _no_pools_left_behind() -> Iterator[None]:
    yield
    close_worker_pools()


def fresh_keys(keys: tuple[PublicKey, PrivateKey]) -> tuple[PublicKey, PrivateKey]:
    """New key objects for the same key (each object gets its own worker pool)."""
    pk, sk = keys
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        public = PublicKey(pk.n, hs=pk.hs)
    return public, PrivateKey(public, sk.p, sk.q)


def echo(op: int, mode: int, seed: bytes | None, items: list[int]) -> list[int]:
    """A handler whose output depends on every field of the request."""
    salt = int.from_bytes(seed, "big") if seed is not None else 0
    return [x * op + mode + salt for x in items]


def worker_pids(pool: ForkWorkerPool | None) -> tuple[int, ...]:
    assert pool is not None
    return pool.pids


# --------------------------------------------------------------------------- frames

ints = st.lists(st.integers(min_value=0, max_value=2**5000), max_size=8)
seeds = st.one_of(st.none(), st.binary(min_size=32, max_size=32))


@given(index=st.integers(0, 2**32 - 1), op=st.integers(0, 255), mode=st.integers(0, 255),
       seed=seeds, items=ints)  # fmt: skip
def test_request_frames_round_trip(
    index: int, op: int, mode: int, seed: bytes | None, items: list[int]
) -> None:
    decoded = _workers.decode_request(_workers.encode_request(index, Task(op, mode, seed, items)))
    assert decoded is not None
    got_index, task = decoded
    assert (got_index, task.op, task.mode, task.seed, list(task.items)) == (
        index,
        op,
        mode,
        seed,
        items,
    )


@given(index=st.integers(0, 2**32 - 1), items=ints)
def test_result_frames_round_trip(index: int, items: list[int]) -> None:
    assert _workers.decode_reply(_workers.encode_result(index, items)) == (index, items)


def test_error_frames_keep_heprim_classes() -> None:
    index, exc = _workers.decode_reply(_workers.encode_error(7, ParameterError("m not in [0, n)")))
    assert index == 7 and type(exc) is ParameterError and str(exc) == "m not in [0, n)"
    index, exc = _workers.decode_reply(_workers.encode_error(3, ZeroDivisionError("oops")))
    assert index == 3 and type(exc) is HeprimError
    assert "chunk 3" in str(exc) and "ZeroDivisionError: oops" in str(exc)
    assert _workers.decode_request(bytes([0])) is None  # shutdown


def test_malformed_frames_are_protocol_errors() -> None:
    request = _workers.encode_request(1, Task(1, 0, bytes(32), [5, 2**100]))
    result = _workers.encode_result(1, [5, 2**100])
    bad_requests = [
        b"",
        request[:10],  # truncated header
        request[:-1],  # truncated integer
        request + b"\x00",  # trailing byte
        b"\x07" + request[1:],  # unknown kind
        request[:3] + b"\x02" + request[4:],  # unknown flags
        request[:40] + (2**31).to_bytes(4, "big"),  # a count that cannot fit
    ]
    for frame in bad_requests:
        with pytest.raises(ProtocolError, match="malformed"):
            _workers.decode_request(frame)
    bad_replies = [b"", b"\x01", result[:-3], result + b"\x01", b"\x09" + result[1:], b"\x02\x00"]
    bad_replies.append(b"\x02\x00\x00\x00\x01\x09abc")  # class name longer than the frame
    for frame in bad_replies:
        with pytest.raises(ProtocolError, match="malformed"):
            _workers.decode_reply(frame)


def test_encoding_refuses_what_it_cannot_carry() -> None:
    with pytest.raises(ParameterError, match="non-negative"):
        _workers.encode_request(0, Task(1, 0, None, [-1]))
    with pytest.raises(ParameterError, match="32 bytes"):
        _workers.encode_request(0, Task(1, 0, b"short", [1]))


# --------------------------------------------------------------------------- the pool itself


def test_pool_maps_in_order_and_is_reused() -> None:
    tasks = [Task(op, 1, bytes(31) + bytes([op]), [op, 10 * op, 2**600]) for op in range(1, 8)]
    finished: list[int] = []
    with ForkWorkerPool(echo, 2) as pool:
        assert pool.workers == 2 and pool.usable and os.getpid() not in pool.pids
        first = pool.map(tasks, finished.append)
        assert first == [echo(t.op, t.mode, t.seed, list(t.items)) for t in tasks]
        assert sorted(finished) == list(range(7))
        pids = pool.pids
        assert pool.map(tasks[:1]) == first[:1] and pool.map([]) == []
        assert pool.pids == pids  # the same processes: no fork per call
        assert "usable" in repr(pool)
    assert not pool.usable and "closed" in repr(pool)
    pool.close()  # idempotent
    with pytest.raises(HeprimError, match="closed"):
        pool.map(tasks)


def test_worker_exceptions_come_back_as_heprim_errors_and_the_pool_survives() -> None:
    def picky(op: int, mode: int, seed: bytes | None, items: list[int]) -> list[int]:
        if 13 in items:
            raise ParameterError("13 is not welcome in [0, n)")
        if 0 in items:
            return [1 // x for x in items]
        return items

    with ForkWorkerPool(picky, 2) as pool:
        tasks = [Task(1, 0, None, [i]) for i in range(1, 20)]
        with pytest.raises(ParameterError, match=r"13 is not welcome in \[0, n\)"):
            pool.map(tasks)
        with pytest.raises(HeprimError, match="ZeroDivisionError"):
            pool.map([Task(1, 0, None, [0])])
        assert pool.usable
        assert pool.map(tasks[:3]) == [[1], [2], [3]]
        # Input a frame cannot carry is refused before anything is sent; the pool survives.
        with pytest.raises(ParameterError, match="non-negative"):
            pool.map([Task(1, 0, None, [1]), Task(1, 0, None, [-1])])
        assert pool.usable and pool.map(tasks[:1]) == [[1]]


def test_a_killed_worker_is_reported_not_waited_for() -> None:
    pool = ForkWorkerPool(echo, 2)
    os.kill(pool.pids[0], signal.SIGKILL)
    start = time.monotonic()
    # Seen before sending (the worker is already reaped) or while waiting for its reply.
    with pytest.raises(HeprimError, match=r"closed or lost a worker|worker process \d+"):
        pool.map([Task(1, 0, None, [i]) for i in range(4)])
    pool.close()

    def dies(op: int, mode: int, seed: bytes | None, items: list[int]) -> list[int]:
        if items == [3]:
            os._exit(3)
        return items

    pool = ForkWorkerPool(dies, 2)
    with pytest.raises(HeprimError, match=r"worker process \d+ exited with code 3 .* chunk 3"):
        pool.map([Task(1, 0, None, [i]) for i in range(6)])
    assert not pool.usable  # terminated: every worker is gone
    assert time.monotonic() - start < 10


def test_a_silent_worker_times_out() -> None:
    def sleepy(op: int, mode: int, seed: bytes | None, items: list[int]) -> list[int]:
        time.sleep(60)
        return items

    pool = ForkWorkerPool(sleepy, 1, timeout=0.3)
    start = time.monotonic()
    with pytest.raises(HeprimError, match=r"silent for 0.3 s on chunks \[0\]"):
        pool.map([Task(1, 0, None, [1])])
    assert time.monotonic() - start < 5
    assert not pool.usable


def test_a_malformed_reply_is_a_protocol_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Patched before the fork: only the children reply with garbage.
    monkeypatch.setattr(_workers, "encode_result", lambda index, values: b"\x01\x00")
    pool = ForkWorkerPool(echo, 1)
    monkeypatch.undo()
    with pytest.raises(ProtocolError, match="malformed worker reply"):
        pool.map([Task(1, 0, None, [1])])
    assert not pool.usable


def test_workers_refused_where_they_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ParameterError, match="workers"):
        ForkWorkerPool(echo, 0)
    monkeypatch.delattr(os, "fork")  # as on Windows
    assert not _workers.fork_available()
    with pytest.raises(ParameterError, match="fork"):
        ForkWorkerPool(echo, 1)


# --------------------------------------------------------------------------- no pickle at all


def test_no_pickle_is_used(
    keys512: tuple[PublicKey, PrivateKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every pickling entry point raises; workers=2 encryption and decryption still work."""
    pk, sk = fresh_keys(keys512)  # new key objects: their pools fork under the patch
    values = np.arange(-50, 3 * CHUNK_SIZE)
    expected = encrypt_vector(pk, values, rng=KeyedPRNG.from_int(1))
    expected_sk = encrypt_vector(sk, values, rng=KeyedPRNG.from_int(2))

    def no_pickle(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickle was used")

    for name in ("dumps", "loads", "dump", "load"):
        monkeypatch.setattr(pickle, name, no_pickle)
    forking = multiprocessing.reduction.ForkingPickler
    monkeypatch.setattr(forking, "dumps", classmethod(no_pickle))
    monkeypatch.setattr(forking, "loads", no_pickle)
    # The patch bites: what ProcessPoolExecutor does for every argument now fails.
    left, right = multiprocessing.Pipe()
    with pytest.raises(AssertionError, match="pickle was used"):
        left.send(("encrypt", [1, 2, 3]))
    left.close()
    right.close()

    par = encrypt_vector(pk, values, rng=KeyedPRNG.from_int(1), workers=2, backend="process")
    assert par.ciphertexts == expected.ciphertexts
    par_sk = encrypt_vector(sk, values, rng=KeyedPRNG.from_int(2), workers=2, backend="process")
    assert par_sk.ciphertexts == expected_sk.ciphertexts
    out = decrypt_vector(sk, par, workers=2, backend="process")
    np.testing.assert_array_equal(out, values)
    again = raw_obfuscate_many(pk, list(par.ciphertexts), workers=2, rng=KeyedPRNG.from_int(3))
    assert again == raw_obfuscate_many(pk, list(par.ciphertexts), rng=KeyedPRNG.from_int(3))


# --------------------------------------------------------------------------- the cache


def test_pools_are_cached_per_key_and_rebuilt_when_needed(
    keys512: tuple[PublicKey, PrivateKey],
) -> None:
    pk, sk = fresh_keys(keys512)
    values = np.arange(2 * CHUNK_SIZE)
    encrypt_vector(pk, values, workers=2)
    pids = worker_pids(_workers.cached_pool(pk))
    encrypt_vector(pk, values, workers=2, mode="standard", backend="process")
    assert worker_pids(_workers.cached_pool(pk)) == pids  # reused across calls and modes
    encrypt_vector(pk, values, workers=3)  # another size: a new pool
    assert len(worker_pids(_workers.cached_pool(pk))) == 3
    # A private-key pool first used for decryption only has no DJN tables in its children; the
    # first DJN call builds them here and forks again, instead of every child building its own.
    vec = encrypt_vector(pk, values)
    decrypt_vector(sk, vec, workers=2, backend="process")
    assert sk._tables is None
    first = worker_pids(_workers.cached_pool(sk))
    encrypt_vector(sk, values, workers=2)
    assert sk._tables is not None and worker_pids(_workers.cached_pool(sk)) != first
    # A pool that lost a worker between calls is replaced by the next call.
    pool = _workers.cached_pool(pk)
    assert pool is not None
    victim = pool._workers[0]
    os.kill(victim.pid, signal.SIGKILL)
    victim.reap(5)
    assert victim.exitcode == -signal.SIGKILL
    out = decrypt_vector(sk, encrypt_vector(pk, values, workers=3), workers=1)
    np.testing.assert_array_equal(out, values)


def test_cache_is_bounded_and_follows_the_keys_lifetime(
    keys512: tuple[PublicKey, PrivateKey],
) -> None:
    keys = [fresh_keys(keys512)[0] for _ in range(_workers.MAX_CACHED_POOLS + 1)]
    pools = []
    for key in keys:
        encrypt_vector(key, np.arange(2 * CHUNK_SIZE), workers=2)
        pools.append(_workers.cached_pool(key))
    assert pools[0] is not None and not pools[0].usable  # least recently used: evicted
    assert all(p is not None and p.usable for p in pools[1:])
    last = pools[-1]
    assert last is not None
    pids = last.pids
    del keys, pools, key  # the loop variable too
    gc.collect()
    assert not last.usable  # its key was collected: the pool was closed with it
    assert not any(_exists(pid) for pid in pids)  # exited and reaped


def test_an_error_in_the_progress_callback_does_not_poison_the_cache(
    keys512: tuple[PublicKey, PrivateKey],
) -> None:
    pk, sk = fresh_keys(keys512)
    values = np.arange(3 * CHUNK_SIZE)

    def progress(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        encrypt_vector(pk, values, workers=2, progress=progress)
    broken = _workers.cached_pool(pk)
    assert broken is not None and not broken.usable  # terminated mid-exchange
    vec = encrypt_vector(pk, values, workers=2)
    assert _workers.cached_pool(pk) is not broken
    np.testing.assert_array_equal(decrypt_vector(sk, vec), values)


def test_concurrent_callers_share_a_pool_safely(keys512: tuple[PublicKey, PrivateKey]) -> None:
    pk, _ = fresh_keys(keys512)
    values = np.arange(2 * CHUNK_SIZE)
    expected = encrypt_vector(pk, values, rng=KeyedPRNG.from_int(9)).ciphertexts
    encrypt_vector(pk, values, workers=2)  # fork before starting the threads (see the caveat)
    outputs: list[tuple[int, ...]] = []

    def run() -> None:
        outputs.append(encrypt_vector(pk, values, rng=KeyedPRNG.from_int(9), workers=2).ciphertexts)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outputs == [expected] * 3


# --------------------------------------------------------------------------- fork hygiene


def _child_checks(n: int, hs: int, p: int, q: int, pool_pids: tuple[int, ...]) -> None:
    """Run in a forked child: no pool of the parent survives; new pools work."""
    code = 0
    if _workers._CACHE or len(_workers._LIVE_POOLS) or _workers._HANDLERS:
        code = 10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        sk = PrivateKey(PublicKey(n, hs=hs), p, q)
    values = np.arange(2 * CHUNK_SIZE)
    vec = encrypt_vector(sk.public_key, values, workers=2)  # its own workers: grandchildren
    own = _workers.cached_pool(sk.public_key)
    if own is None or set(own.pids) & set(pool_pids):
        code = code or 11
    if not (decrypt_vector(sk, vec) == values).all():
        code = code or 12
    close_worker_pools()
    os._exit(code)


def test_a_forked_child_does_not_inherit_the_parents_pools(
    keys512: tuple[PublicKey, PrivateKey],
) -> None:
    pk, sk = fresh_keys(keys512)
    encrypt_vector(pk, np.arange(2 * CHUNK_SIZE), workers=2)
    pool = _workers.cached_pool(pk)
    assert pool is not None
    child = multiprocessing.get_context("fork").Process(
        target=_child_checks, args=(int(pk.n), int(pk.hs), int(sk.p), int(sk.q), pool.pids)
    )
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert pool.usable  # the child closed only its copies of the pipes
    encrypt_vector(pk, np.arange(2 * CHUNK_SIZE), workers=2)
    assert _workers.cached_pool(pk) is pool


def test_workers_stop_at_interpreter_exit(keys512: tuple[PublicKey, PrivateKey]) -> None:
    pk, _ = keys512
    script = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "import numpy as np\n"
        "from heprim.paillier import PublicKey, encrypt_vector\n"
        "from heprim.paillier import _workers\n"
        f"pk = PublicKey({int(pk.n)}, hs={int(pk.hs)})\n"
        "encrypt_vector(pk, np.arange(64), workers=2)\n"
        "print(*_workers.cached_pool(pk).pids)\n"
    )
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert time.monotonic() - start < 30
    pids = [int(x) for x in done.stdout.split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_exists(pid) for pid in pids):
        time.sleep(0.05)
    assert not any(_exists(pid) for pid in pids)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_vector_handler_refuses_unknown_codes(keys512: tuple[PublicKey, PrivateKey]) -> None:
    from heprim.paillier.vector import _worker_handler

    pk, sk = keys512
    handle = _worker_handler(sk)
    assert handle(2, 0, None, [pk.raw_encrypt(5, rng=KeyedPRNG.from_int(1))]) == [5]
    for op, mode in ((9, 0), (1, 7)):
        with pytest.raises(ProtocolError, match="unknown op"):
            handle(op, mode, None, [1])


def test_workers_do_not_hold_the_parents_descriptors() -> None:
    import select

    read_end, write_end = os.pipe()
    try:
        with ForkWorkerPool(echo, 2) as pool:
            assert pool.map([Task(1, 0, None, [1])]) == [[1]]
            os.close(write_end)  # the last writer, unless a worker kept a copy
            write_end = -1
            readable, _, _ = select.select([read_end], [], [], 5)
            assert readable and os.read(read_end, 1) == b""  # end-of-file: nobody kept it
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
