"""Persistent, pickle-free fork workers for the chunked Paillier vector operations.

heprim has no pickle anywhere, and that includes the plumbing of parallelism:
:class:`concurrent.futures.ProcessPoolExecutor` pickles every argument and every result. The pool
here moves nothing but bytes in frames whose layout is written out below, over
:class:`multiprocessing.connection.Connection` pairs (``send_bytes`` / ``recv_bytes``, which never
pickle). What a worker needs besides those bytes -- the key, its precomputed fixed-base tables, the
function that processes a chunk -- it inherits from the parent's memory through :func:`os.fork`,
which copies the process and serialises nothing. (``os.fork`` rather than
``multiprocessing.Process``: the worker must close the descriptors it inherited, and
multiprocessing keeps an unrecorded one open in the child to signal its exit.)

Life cycle
    A pool is forked once and reused: :func:`lease` hands out the pool cached for a key (one per
    key object, at most :data:`MAX_CACHED_POOLS`, least recently used evicted), creating it on
    first use after the caller has built everything the children should inherit. A cached pool is
    closed when its key is garbage-collected (:func:`weakref.finalize`), when it is evicted, by
    :func:`close_all` and at interpreter exit (:mod:`atexit`). :class:`ForkWorkerPool` is also a
    context manager with :meth:`~ForkWorkerPool.close`.

Failure
    A worker's death shows as end-of-file on its pipe (it alone holds the other end) and its exit
    status is collected with :func:`os.waitpid`. A worker that dies, replies with a malformed
    frame, or stays silent for ``timeout`` seconds on a chunk makes :meth:`~ForkWorkerPool.map`
    kill the whole pool and raise :class:`~heprim.errors.HeprimError` (its subclass
    :class:`~heprim.errors.ProtocolError` for a bad frame); the next :func:`lease` forks a fresh
    one. An exception raised *by the work* in a child (bad input, say) travels back as an error
    frame and is re-raised in the parent with its heprim class and message, once the other
    workers' chunks are in: the pool stays usable.

Fork safety
    ``fork()`` copies only the calling thread. A lock held by another thread at that moment stays
    locked forever in the child, so the children must need no lock another thread could hold: the
    parent builds the key's tables *before* forking (the children only read them), the children
    draw randomness from fresh :class:`~heprim.math.prng.KeyedPRNG` objects seeded by the parent,
    and they never log, import or start threads. Keep it that way -- and as a caller, let the
    first parallel call (which forks) happen before you start threads that might hold locks in
    libraries the children use (OpenSSL inside ``cryptography``, for one). Forking happens once per
    cached pool, not per call. After any ``fork()`` a hook (:func:`os.register_at_fork`) empties
    the child's pool cache and closes its copies of the parent's pipes, so a child never talks to
    (or keeps alive) its parent's workers; a worker inherits no other pool either, and it closes
    every file descriptor it inherited but its pipe and the standard streams.

Frames (all integers big-endian; ``Connection`` adds its own 4-byte length prefix)::

    request   kind u8 (1 = chunk, 0 = shutdown) | op u8 | mode u8 | flags u8 (bit 0: seed given)
              | chunk index u32 | seed 32 bytes (zero if none) | count u32 | count x INT
    result    kind u8 = 1 | chunk index u32 | count u32 | count x INT
    error     kind u8 = 2 | chunk index u32 | name length u8 | exception class name (ASCII)
              | message (UTF-8, the rest)
    INT       length u32 | magnitude, big-endian, ``length`` bytes (non-negative integers only)

The meaning of ``op`` and ``mode`` belongs to the handler (here :mod:`heprim.paillier.vector`).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import multiprocessing
import os
import signal
import struct
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Final, TypeAlias

from heprim import errors
from heprim.errors import HeprimError, ParameterError, ProtocolError
from heprim.math.ntheory import mpz

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_CACHED_POOLS",
    "ForkWorkerPool",
    "Handler",
    "Task",
    "cached_pool",
    "close_all",
    "fork_available",
    "lease",
]

Handler: TypeAlias = Callable[[int, int, bytes | None, list[int]], list[int]]
"""``handler(op, mode, seed, items) -> outputs``: the work of one chunk, run in a child."""

DEFAULT_TIMEOUT: Final = 300.0
"""Seconds a busy worker may stay silent before the pool is declared hung (generous: one chunk of
textbook encryptions at 8192 bits takes a few seconds)."""

MAX_CACHED_POOLS: Final = 4
"""Pools kept alive by :func:`lease`; each holds its worker processes and their copy of a key."""

SEED_BYTES: Final = 32
_MAX_FRAME: Final = 1 << 28  # a chunk of 32 ciphertexts is ~16-64 KiB; refuse absurd lengths
_JOIN_SECONDS: Final = 2.0

_KIND_SHUTDOWN: Final = 0
_KIND_CHUNK: Final = 1
_KIND_RESULT: Final = 1
_KIND_ERROR: Final = 2

_REQUEST: Final = struct.Struct(">BBBBI32sI")  # kind, op, mode, flags, index, seed, count
_RESULT: Final = struct.Struct(">BII")  # kind, index, count
_ERROR: Final = struct.Struct(">BIB")  # kind, index, name length
_LENGTH: Final = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Task:
    """One chunk of work: the handler's ``op`` and ``mode``, an optional 32-byte seed, and the
    non-negative integers to process."""

    op: int
    mode: int
    seed: bytes | None
    items: Sequence[int]


# --------------------------------------------------------------------------- frames


def _encode_ints(values: Sequence[int]) -> list[bytes]:
    parts = [_LENGTH.pack(len(values))]
    for value in values:
        v = int(value)
        if v < 0:
            raise ParameterError("worker frames carry non-negative integers only")
        body = v.to_bytes((v.bit_length() + 7) // 8, "big")
        parts.append(_LENGTH.pack(len(body)))
        parts.append(body)
    return parts


def _decode_ints(frame: bytes, offset: int) -> list[int]:
    """The INT list that starts at ``offset`` and must end exactly at the end of ``frame``."""
    view = memoryview(frame)
    if offset + 4 > len(view):
        raise ProtocolError("malformed worker frame: truncated before the integer count")
    (count,) = _LENGTH.unpack_from(view, offset)
    offset += 4
    if count > (len(view) - offset) // 4:
        raise ProtocolError(f"malformed worker frame: {count} integers cannot fit")
    out: list[int] = []
    for _ in range(count):
        if offset + 4 > len(view):
            raise ProtocolError("malformed worker frame: truncated integer length")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if offset + length > len(view):
            raise ProtocolError("malformed worker frame: truncated integer")
        out.append(mpz(int.from_bytes(view[offset : offset + length], "big")))
        offset += length
    if offset != len(view):
        raise ProtocolError(f"malformed worker frame: {len(view) - offset} trailing bytes")
    return out


def encode_request(index: int, task: Task) -> bytes:
    """The request frame for chunk ``index``."""
    seed = task.seed
    if seed is not None and len(seed) != SEED_BYTES:
        raise ParameterError(f"a chunk seed has {SEED_BYTES} bytes, got {len(seed)}")
    head = _REQUEST.pack(
        _KIND_CHUNK,
        task.op,
        task.mode,
        0 if seed is None else 1,
        index,
        seed or bytes(SEED_BYTES),
        0,
    )
    # The count is the first field of the INT list, so drop the placeholder count of the header.
    return b"".join([head[:-4], *_encode_ints(task.items)])


def decode_request(frame: bytes) -> tuple[int, Task] | None:
    """``(index, task)``, or ``None`` for a shutdown frame."""
    if len(frame) >= 1 and frame[0] == _KIND_SHUTDOWN:
        return None
    if len(frame) < _REQUEST.size or frame[0] != _KIND_CHUNK:
        raise ProtocolError("malformed worker request frame")
    _, op, mode, flags, index, seed, _ = _REQUEST.unpack_from(frame)
    if flags not in (0, 1):
        raise ProtocolError(f"malformed worker request frame: flags {flags}")
    items = _decode_ints(frame, _REQUEST.size - 4)
    return index, Task(op, mode, seed if flags else None, items)


def encode_result(index: int, values: Sequence[int]) -> bytes:
    """The result frame of chunk ``index``."""
    return b"".join([_RESULT.pack(_KIND_RESULT, index, 0)[:-4], *_encode_ints(values)])


def encode_error(index: int, exc: BaseException) -> bytes:
    """The error frame of chunk ``index``: the exception's class name and message."""
    name = type(exc).__name__.encode("ascii", "replace")[:255]
    return _ERROR.pack(_KIND_ERROR, index, len(name)) + name + str(exc).encode("utf-8", "replace")


# heprim's own exceptions are re-raised as themselves; anything else (a bug) as HeprimError.
_ERROR_CLASSES: Final[dict[str, type[HeprimError]]] = {
    name: cls
    for name in errors.__all__
    if isinstance(cls := getattr(errors, name), type) and issubclass(cls, HeprimError)
}


def decode_reply(frame: bytes) -> tuple[int, list[int] | HeprimError]:
    """``(index, outputs)`` for a result frame, ``(index, exception)`` for an error frame."""
    if len(frame) >= _RESULT.size - 4 and frame[0] == _KIND_RESULT:
        (index,) = _LENGTH.unpack_from(frame, 1)
        return index, _decode_ints(frame, 5)
    if len(frame) >= _ERROR.size and frame[0] == _KIND_ERROR:
        _, index, name_length = _ERROR.unpack_from(frame)
        end = _ERROR.size + name_length
        if end > len(frame):
            raise ProtocolError("malformed worker error frame: truncated class name")
        name = bytes(frame[_ERROR.size : end]).decode("ascii", "replace")
        message = bytes(frame[end:]).decode("utf-8", "replace")
        cls = _ERROR_CLASSES.get(name)
        if cls is not None:
            return index, cls(message)
        return index, HeprimError(f"a worker process failed on chunk {index}: {name}: {message}")
    raise ProtocolError("malformed worker reply frame (unknown kind or truncated header)")


# --------------------------------------------------------------------------- the child

# Handlers waiting to be inherited: set just before fork(), removed right after, so that the
# parent's pool object never holds the key (and the key can be garbage-collected).
_HANDLERS: dict[int, Handler] = {}
_TOKENS = itertools.count(1)


def _close_inherited_fds(keep: set[int]) -> None:
    """Close every file descriptor ``fork()`` copied except ``keep``.

    A worker lives as long as its pool: were it to keep the parent's sockets, pipes and files
    open, a server socket closed by the parent would stay bound, and a pipe's reader would never
    see end-of-file.
    """
    low = 0
    for fd in sorted(keep):
        if low < fd:  # never empty: os.closerange(0, 0) closes *every* descriptor (CPython 3.11)
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, max(_max_fd(), low + 1))


def _max_fd() -> int:
    try:
        return max(int(os.sysconf("SC_OPEN_MAX")), 256)
    except (ValueError, OSError):  # pragma: no cover - every POSIX system has it
        return 65536


def _serve(conn: Connection, token: int) -> None:
    """The worker loop: read a request, run the handler, reply; until shutdown or EOF."""
    handler = _HANDLERS[token]
    _HANDLERS.clear()
    _close_inherited_fds({0, 1, 2, conn.fileno()})
    # Ctrl-C reaches the whole process group: let only the parent handle it (it stops us). The
    # parent's own handlers (and its wake-up fd, closed above) are not ours either.
    with contextlib.suppress(ValueError, OSError):  # only ever refused outside a main thread
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
    while True:
        try:
            frame = conn.recv_bytes(_MAX_FRAME)
        except (EOFError, OSError):  # the parent went away
            break
        index = 0
        try:
            request = decode_request(frame)
            if request is None:
                break
            index, task = request
            reply = encode_result(index, handler(task.op, task.mode, task.seed, list(task.items)))
        except Exception as exc:  # the parent re-raises it; the worker stays up
            reply = encode_error(index, exc)
        try:
            conn.send_bytes(reply)
        except OSError:
            break
    conn.close()


# --------------------------------------------------------------------------- the parent


def fork_available() -> bool:
    """Whether this platform can fork (Linux, BSD; not Windows)."""
    return hasattr(os, "fork")


def _start_worker(token: int) -> _Worker:
    """Fork one worker; in the child, serve until told to stop and never return."""
    parent_end, child_end = multiprocessing.Pipe(duplex=True)
    try:
        pid = os.fork()
    except BaseException:
        parent_end.close()
        child_end.close()
        raise
    if pid == 0:  # the child: never return into the caller's stack
        code = 0
        try:
            _serve(child_end, token)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    child_end.close()
    return _Worker(pid, parent_end)


@dataclass(slots=True)
class _Worker:
    pid: int
    conn: Connection
    exitcode: int | None = None  # once reaped; negative: killed by that signal

    def alive(self) -> bool:
        """Reap the worker if it has exited (never blocks)."""
        if self.exitcode is not None:
            return False
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else (os.wait() in the application)
            self.exitcode = -1
            return False
        if pid == 0:
            return True
        self.exitcode = os.waitstatus_to_exitcode(status)
        return False

    def reap(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the worker to exit, then kill it."""
        deadline, pause = time.monotonic() + timeout, 0.001
        while self.alive() and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(2 * pause, 0.05)
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                _, status = os.waitpid(self.pid, 0)
                self.exitcode = os.waitstatus_to_exitcode(status)


_LIVE_POOLS: weakref.WeakSet[ForkWorkerPool] = weakref.WeakSet()


class ForkWorkerPool:
    """``workers`` forked processes that run ``handler`` on chunks sent to them as bytes.

    The children are forked here, so everything the handler needs must exist before the
    constructor runs (see the module docstring, "Fork safety"). The pool keeps no reference to
    ``handler``.

    Args:
        handler: ``handler(op, mode, seed, items) -> outputs`` (non-negative integers).
        workers: the number of processes.
        timeout: seconds a busy worker may stay silent (default :data:`DEFAULT_TIMEOUT`).
    """

    def __init__(self, handler: Handler, workers: int, *, timeout: float | None = None) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ParameterError(f"workers must be a positive integer, got {workers!r}")
        if not fork_available():
            raise ParameterError("worker processes need fork() (Linux, BSD); use backend='thread'")
        self.timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
        self._workers: list[_Worker] = []
        self._lock = threading.RLock()  # re-entered by map() inside lease()
        self._closed = False
        self._pid = os.getpid()
        _LIVE_POOLS.add(self)  # before forking: later siblings must close earlier pipes
        token = next(_TOKENS)
        _HANDLERS[token] = handler
        try:
            for _ in range(workers):
                self._workers.append(_start_worker(token))
        except BaseException:
            self._terminate()
            raise
        finally:
            _HANDLERS.pop(token, None)

    # ------------------------------------------------------------------ state

    @property
    def workers(self) -> int:
        """The number of worker processes."""
        return len(self._workers)

    @property
    def pids(self) -> tuple[int, ...]:
        """The workers' process ids."""
        return tuple(w.pid for w in self._workers)

    @property
    def usable(self) -> bool:
        """Open, owned by this process, and every worker alive."""
        return (
            not self._closed and self._pid == os.getpid() and all(w.alive() for w in self._workers)
        )

    # ------------------------------------------------------------------ work

    def map(
        self,
        tasks: Sequence[Task],
        on_result: Callable[[int], None] | None = None,
    ) -> list[list[int]]:
        """Run every task, each on whichever worker is free; results in task order.

        Each worker has at most one chunk in flight, so neither side can block on a full pipe
        while the other does too. ``on_result(i)`` is called in this thread as task ``i`` finishes.

        Raises:
            HeprimError: a worker died or stayed silent for ``timeout`` seconds (the pool is
                terminated), or the pool is closed; ProtocolError for a malformed reply.
            The heprim exception a task raised in a worker, or that a task's input cannot be
                framed, once the chunks in flight are in (the pool stays usable).
        """
        with self._lock:
            if not self.usable:
                raise HeprimError(
                    "this worker pool is closed or lost a worker; lease a new one (encrypt_vector "
                    "and friends do that by themselves)"
                )
            try:
                return self._dispatch(tasks, on_result)
            except _ChunkError as failure:
                raise failure.error from None
            except BaseException:
                self._terminate()  # a half-done exchange cannot be resumed: start afresh
                raise

    def _dispatch(
        self, tasks: Sequence[Task], on_result: Callable[[int], None] | None
    ) -> list[list[int]]:
        results: list[list[int] | None] = [None] * len(tasks)
        pending = deque(range(len(tasks)))
        idle = deque(self._workers)
        busy: dict[Connection, tuple[_Worker, int]] = {}
        first_error: HeprimError | None = None
        while busy or (pending and first_error is None):
            while idle and pending and first_error is None:
                index = pending.popleft()
                try:
                    frame = encode_request(index, tasks[index])
                except HeprimError as exc:  # bad input: like a failed chunk, the pool is fine
                    first_error = exc
                    break
                worker = idle.popleft()
                try:
                    worker.conn.send_bytes(frame)
                except OSError:
                    raise self._died(worker, index) from None
                busy[worker.conn] = (worker, index)
            if not busy:
                break
            ready = wait(list(busy), self.timeout)
            if not ready:
                indices = sorted(i for _, i in busy.values())
                raise HeprimError(
                    f"worker processes stayed silent for {self.timeout:g} s on chunks {indices}; "
                    "the pool was terminated (raise the timeout for very slow chunks)"
                )
            for conn in ready:
                if not isinstance(conn, Connection):  # pragma: no cover - we wait on those only
                    continue
                worker, index = busy.pop(conn)
                try:
                    frame = conn.recv_bytes(_MAX_FRAME)
                except (EOFError, OSError):  # end-of-file: the worker is gone
                    raise self._died(worker, index) from None
                got, outcome = decode_reply(frame)
                if got != index:
                    raise ProtocolError(
                        f"malformed worker reply: chunk {got} arrived for chunk {index}"
                    )
                idle.append(worker)
                if isinstance(outcome, HeprimError):
                    first_error = first_error or outcome
                    continue
                if len(outcome) != len(tasks[index].items):
                    raise ProtocolError(
                        f"malformed worker reply: {len(outcome)} results for "
                        f"{len(tasks[index].items)} inputs in chunk {index}"
                    )
                results[index] = outcome
                if on_result is not None:
                    on_result(index)
        if first_error is not None:
            raise _ChunkError(first_error)
        return [r if r is not None else [] for r in results]

    def _died(self, worker: _Worker, index: int) -> HeprimError:
        worker.reap(0.5)
        code = worker.exitcode
        how = (
            f"was killed by signal {-code}"
            if code is not None and code < 0
            else (f"exited with code {code}")
        )
        return HeprimError(
            f"worker process {worker.pid} {how} while working on chunk {index}; the pool was "
            "terminated (out of memory? killed?) and the next call starts a new one"
        )

    # ------------------------------------------------------------------ shutdown

    def close(self, timeout: float = _JOIN_SECONDS) -> None:
        """Ask the workers to exit, wait up to ``timeout`` seconds, then kill stragglers.

        Idempotent. Waits for a :meth:`map` running in another thread (up to ``timeout``).
        """
        acquired = self._lock.acquire(timeout=timeout)
        try:
            if self._closed:
                return
            self._closed = True
            if self._pid != os.getpid():
                self._forget()
                return
            for worker in self._workers:
                with contextlib.suppress(OSError):
                    worker.conn.send_bytes(bytes([_KIND_SHUTDOWN]))
            for worker in self._workers:
                worker.reap(timeout)
            self._terminate()
        finally:
            if acquired:
                self._lock.release()

    def _terminate(self) -> None:
        """Kill and reap every worker, close every pipe (no waiting on a lock)."""
        self._closed = True
        for worker in self._workers:
            worker.reap(0.0)
            with contextlib.suppress(OSError):
                worker.conn.close()
        _LIVE_POOLS.discard(self)

    def _forget(self) -> None:
        """In a forked child: drop the parent's workers without signalling them (not ours)."""
        self._closed = True
        for worker in self._workers:
            with contextlib.suppress(OSError):
                worker.conn.close()
        self._workers = []

    def __enter__(self) -> ForkWorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "usable" if self.usable else "closed"
        return f"ForkWorkerPool(workers={self.workers}, pids={self.pids}, {state})"


class _ChunkError(Exception):
    """Carries a worker-side exception out of the dispatch loop without terminating the pool."""

    def __init__(self, error: HeprimError) -> None:
        super().__init__(str(error))
        self.error = error


# --------------------------------------------------------------------------- the cache


@dataclass(slots=True)
class _Entry:
    ref: weakref.ref[Any]
    pool: ForkWorkerPool
    features: frozenset[str]
    finalizer: weakref.finalize[[ForkWorkerPool], object]


_CACHE: OrderedDict[int, _Entry] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _close_quietly(pool: ForkWorkerPool) -> None:
    with contextlib.suppress(Exception):
        pool.close()


def _evict(pool: ForkWorkerPool) -> None:
    """Finalizer of a key: close its pool.

    It takes no cache lock: a finalizer runs wherever garbage collection strikes, possibly inside
    :func:`_lookup` in this very thread. The dead entry is dropped by the next lookup.
    """
    _close_quietly(pool)


def cached_pool(owner: object) -> ForkWorkerPool | None:
    """The pool cached for ``owner``, if any (for tests and diagnostics)."""
    with _CACHE_LOCK:
        entry = _CACHE.get(id(owner))
        if entry is None or entry.ref() is not owner:
            return None
        return entry.pool


def _lookup(
    owner: object,
    workers: int,
    needs: frozenset[str],
    prepare: Callable[[frozenset[str]], None],
    handler: Callable[[], Handler],
) -> tuple[ForkWorkerPool, list[ForkWorkerPool]]:
    """The usable pool for ``owner`` (created if needed) and pools to close (outside the lock)."""
    stale: list[ForkWorkerPool] = []
    with _CACHE_LOCK:
        for dead in [k for k, e in _CACHE.items() if e.ref() is None]:
            stale.append(_CACHE.pop(dead).pool)  # their finalizers already closed them
        key = id(owner)
        entry = _CACHE.get(key)
        if entry is not None and entry.ref() is not owner:  # an id reused after collection
            entry.finalizer.detach()
            stale.append(entry.pool)
            del _CACHE[key]
            entry = None
        if (
            entry is not None
            and entry.pool.usable
            and entry.pool.workers == workers
            and needs <= entry.features
        ):
            _CACHE.move_to_end(key)
            return entry.pool, stale
        features = needs
        if entry is not None:  # replaced: keep what the old children had (already built here)
            features |= entry.features
            entry.finalizer.detach()
            stale.append(entry.pool)
            del _CACHE[key]
        prepare(features)  # build what the children inherit, BEFORE forking them
        pool = ForkWorkerPool(handler(), workers)
        finalizer = weakref.finalize(owner, _evict, pool)
        finalizer.atexit = False  # close_all() handles exit, in one place
        _CACHE[key] = _Entry(weakref.ref(owner), pool, features, finalizer)
        while len(_CACHE) > MAX_CACHED_POOLS:
            _, oldest = _CACHE.popitem(last=False)
            oldest.finalizer.detach()
            stale.append(oldest.pool)
        return pool, stale


@contextlib.contextmanager
def lease(
    owner: object,
    workers: int,
    *,
    needs: frozenset[str],
    prepare: Callable[[frozenset[str]], None],
    handler: Callable[[], Handler],
) -> Iterator[ForkWorkerPool]:
    """The cached pool of ``owner`` with ``workers`` processes, exclusively for this block.

    A pool is (re)created when there is none, when it is not :attr:`~ForkWorkerPool.usable`, when
    the worker count differs, or when ``needs`` (names of precomputations the children must
    inherit) is not covered by what its children inherited. Then ``prepare(features)`` runs in
    this process first, and ``handler()`` gives the function the new children run (it may hold
    ``owner``: only the children keep it). ``owner`` must support weak references.
    """
    for _ in range(3):
        pool, stale = _lookup(owner, workers, needs, prepare, handler)
        for old in stale:
            _close_quietly(old)
        with pool._lock:
            if pool.usable:
                yield pool
                return
        # Evicted by another thread between lookup and lock, or a worker died already: again.
    raise HeprimError(
        "could not get a working pool of worker processes (workers keep dying at start?); "
        "use backend='thread'"
    )


def close_all() -> None:
    """Close every pool of this process, cached or not (registered with :mod:`atexit`)."""
    with _CACHE_LOCK:
        entries = list(_CACHE.values())
        _CACHE.clear()
    for entry in entries:
        entry.finalizer.detach()
        _close_quietly(entry.pool)
    for pool in list(_LIVE_POOLS):
        _close_quietly(pool)


def _after_fork_in_child() -> None:
    """After any fork(): the child owns none of its parent's pools (no lock may be taken here)."""
    global _CACHE_LOCK  # noqa: PLW0603 (the parent's lock may be held by a thread that is gone)
    _CACHE_LOCK = threading.Lock()
    for entry in _CACHE.values():
        entry.finalizer.detach()
    _CACHE.clear()
    for pool in list(_LIVE_POOLS):
        pool._forget()
    _LIVE_POOLS.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(close_all)
