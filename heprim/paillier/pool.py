"""Offline randomness for Paillier: precompute the expensive part, encrypt with one multiplication.

A Paillier encryption ``(1 + m n) * x mod n**2`` spends nearly all its time on the random
``n``-th residue ``x``, which does not depend on the message. A :class:`RandomnessPool` computes
such terms ahead of time (idle time, a background thread), so that the online encryption is a
single multiplication: the "offline/online" split of Paillier noted already by Paillier (1999,
section 7) and used by Intel's IPCL and by secure-aggregation deployments.

Rules that keep it secure:

* **Every term is used at most once.** :meth:`RandomnessPool.take` pops it; two ciphertexts
  sharing a term would reveal the difference of their plaintexts to anyone who divides them.
* **A pool never crosses ``fork()``.** A child process would otherwise hold a copy of the same
  terms as its parent. Pools record the creating process id; a hook registered with
  :func:`os.register_at_fork` wipes every pool in the child, and using a pool from another process
  raises :class:`~heprim.errors.ParameterError`.
* When the pool is empty, a fresh term is computed on the spot (``strict=False``, the default) or
  :class:`~heprim.errors.ParameterError` is raised (``strict=True``), never a reused one.

Python cannot wipe integers from memory; dropping the pool only drops the references.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from collections.abc import Callable

from heprim.errors import ParameterError
from heprim.math.ntheory import gil_released
from heprim.math.prng import PRNG, KeyedPRNG, SystemPRNG, default_rng
from heprim.paillier.keys import Mode, PrivateKey, PublicKey, _check_int, _check_mode

__all__ = ["RandomnessPool"]

_LIVE_POOLS: weakref.WeakSet[RandomnessPool] = weakref.WeakSet()


def _wipe_pools_in_child() -> None:
    """Fork hook: the child must not own its parent's randomness (no locks taken here)."""
    for pool in list(_LIVE_POOLS):
        pool._wipe_after_fork()


os.register_at_fork(after_in_child=_wipe_pools_in_child)


class RandomnessPool:
    """A single-use store of precomputed random ``n``-th residues for one key.

    Args:
        public_key: the key to encrypt under. A :class:`~heprim.paillier.keys.PrivateKey` is
            accepted too: its terms are then computed by CRT (textbook distribution, ~3.5x faster
            than ``"standard"``) and ``mode`` is ignored.
        size: how many terms to hold (the target of :meth:`refill`).
        rng: randomness source. A given generator seeds the pool's own stream (so the pool never
            shares a generator with other threads); default: the OS CSPRNG.
        mode: ``"djn"`` (``h_s**a``, default) or ``"standard"`` (``r**n``).
        background: fill in a daemon thread (``wait()`` joins it); terms become available as they
            are computed.
        progress: optional ``progress(done, total)`` callback for the initial fill (called from
            the filling thread).
        strict: raise instead of computing a fresh term when the pool is empty.
    """

    def __init__(
        self,
        public_key: PublicKey | PrivateKey,
        size: int,
        *,
        rng: PRNG | None = None,
        mode: Mode = "djn",
        background: bool = False,
        progress: Callable[[int, int], None] | None = None,
        strict: bool = False,
    ) -> None:
        if isinstance(public_key, PrivateKey):
            self._private: PrivateKey | None = public_key
            self.public_key: PublicKey = public_key.public_key
        elif isinstance(public_key, PublicKey):
            self._private = None
            self.public_key = public_key
        else:
            raise ParameterError(
                f"a RandomnessPool needs a PublicKey or PrivateKey, got {type(public_key).__name__}"
            )
        size = int(_check_int(size, "size"))
        if size < 1:
            raise ParameterError(f"size must be a positive integer, got {size}")
        self.mode: Mode = _check_mode(mode)
        self.size = int(size)
        self.strict = bool(strict)
        source = default_rng(rng)
        # An own stream: the caller's generator may be used by other threads meanwhile.
        self._rng: PRNG | None = (
            source if isinstance(source, SystemPRNG) else KeyedPRNG(source.random_bytes(32))
        )
        self._rng_lock = threading.Lock()
        self._entries: deque[int] = deque()
        self._pid = os.getpid()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        _LIVE_POOLS.add(self)
        if self.mode == "djn" and self._private is None:
            self.public_key.precompute()  # build the h_s table once, in this thread
        if background:
            self._thread = threading.Thread(
                target=self._fill_in_background,
                args=(self.size, progress),
                name="heprim-paillier-pool",
                daemon=True,
            )
            self._thread.start()
        else:
            self._fill(self.size, progress)

    # ------------------------------------------------------------------ filling

    def _draw_term(self) -> int:
        """One fresh term; the generator is touched under a lock, the arithmetic outside it."""
        with self._rng_lock:
            rng = self._rng
            if rng is None:
                raise ParameterError(
                    "this randomness pool was wiped by fork(); create a new pool in this process"
                )
            if self._private is not None:
                u_p = rng.randrange(1, int(self._private.p))
                u_q = rng.randrange(1, int(self._private.q))
            else:
                drawn = self.public_key._draw(rng, self.mode)
        if self._private is not None:
            return self._private._residue(u_p, u_q)
        return self.public_key._term(drawn, self.mode)

    def _fill(self, count: int, progress: Callable[[int, int], None] | None) -> None:
        for i in range(count):
            if self._stop.is_set() or self._pid != os.getpid():
                return
            self._entries.append(self._draw_term())
            if progress is not None:
                progress(i + 1, count)

    def _fill_in_background(self, count: int, progress: Callable[[int, int], None] | None) -> None:
        with gil_released():  # long gmpy2 operations let the foreground thread run
            self._fill(count, progress)

    def _check_process(self) -> None:
        if self._pid != os.getpid():
            raise ParameterError(
                f"this randomness pool was created in process {self._pid} and cannot be used in "
                f"process {os.getpid()} (after fork its entries would repeat the parent's); "
                "create a new pool in this process"
            )

    def _wipe_after_fork(self) -> None:
        # Called in the child right after fork(): locks may be held by threads that no longer
        # exist, so replace them rather than acquiring them.
        self._entries = deque()
        self._rng = None
        self._rng_lock = threading.Lock()
        self._thread = None
        self._stop = threading.Event()
        self._stop.set()

    # ------------------------------------------------------------------ public API

    def take(self) -> int:
        """Pop one term (never returned again); compute a fresh one if empty (unless strict)."""
        self._check_process()
        try:
            return self._entries.popleft()
        except IndexError:
            if self.strict:
                raise ParameterError(
                    "the randomness pool is empty (strict=True); call refill() or create it with "
                    "strict=False to compute fresh terms on demand"
                ) from None
            return self._draw_term()

    def refill(self, n: int | None = None) -> None:
        """Compute terms now: ``n`` more, or (default) up to ``size``."""
        self._check_process()
        if n is None:
            count = self.size - len(self._entries)
        else:
            count = int(_check_int(n, "the refill count"))
            if count < 0:
                raise ParameterError(f"refill needs a non-negative count, got {count}")
        self._fill(max(count, 0), None)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background fill to finish; return whether it has."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def close(self) -> None:
        """Stop a background fill and drop every remaining term."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        self._entries.clear()
        if self._pid == os.getpid():
            self._stop.clear()  # refill() may fill it again

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        kind = "crt" if self._private is not None else self.mode
        return (
            f"RandomnessPool(key={self.public_key.fingerprint[:8]}, mode={kind!r}, "
            f"available={len(self._entries)}, size={self.size})"
        )
