"""Randomness pools: single use, fallback or strict, background filling, never across fork()."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from heprim.errors import KeyMismatchError, ParameterError
from heprim.math.prng import KeyedPRNG
from heprim.paillier.keys import PrivateKey, PublicKey
from heprim.paillier.pool import RandomnessPool

Keys = tuple[PublicKey, PrivateKey]


@pytest.mark.parametrize("mode", ["djn", "standard"])
def test_entries_are_nth_residues_used_once(keys512: Keys, mode: str) -> None:
    pk, sk = keys512
    pool = RandomnessPool(pk, 4, rng=KeyedPRNG.from_int(1), mode=mode)  # type: ignore[arg-type]
    assert len(pool) == 4
    taken = [pool.take() for _ in range(4)]
    assert len(set(taken)) == 4 and len(pool) == 0
    assert all(sk.raw_decrypt(x) == 0 for x in taken)  # encryptions of zero: n-th residues


def test_encrypt_with_a_pool_consumes_it(keys512: Keys) -> None:
    pk, sk = keys512
    pool = RandomnessPool(pk, 3, rng=KeyedPRNG.from_int(2))
    mirror = RandomnessPool(pk, 3, rng=KeyedPRNG.from_int(2))  # same seed: same entries
    first = mirror.take()
    c = pk.raw_encrypt(9, pool=pool)
    assert c == (1 + 9 * pk.n) * first % pk.nsquare
    assert sk.decrypt(pk.encrypt(-4.5, pool=pool)) == -4.5
    assert sk.decrypt(sk.encrypt(8, pool=pool)) == 8
    assert len(pool) == 0
    e = pk.encrypt(1)
    e.obfuscate(pool=pool)  # empty, not strict: a fresh term
    assert sk.decrypt(e) == 1


def test_private_key_pool_uses_crt(keys512: Keys) -> None:
    pk, sk = keys512
    pool = RandomnessPool(sk, 3, mode="djn")
    assert pool.public_key is pk and "crt" in repr(pool)
    assert all(sk.raw_decrypt(pool.take()) == 0 for _ in range(3))
    assert sk.raw_decrypt(pool.take()) == 0  # fallback also by CRT


def test_strict_pool_raises_when_empty_and_refill(keys512: Keys) -> None:
    pk, sk = keys512
    pool = RandomnessPool(pk, 2, strict=True, mode="standard")
    pool.take()
    pool.take()
    with pytest.raises(ParameterError, match="empty"):
        pool.take()
    with pytest.raises(ParameterError, match="empty"):
        pk.raw_encrypt(1, pool=pool)
    pool.refill()
    assert len(pool) == 2
    pool.refill(3)
    assert len(pool) == 5
    pool.refill()
    assert len(pool) == 5  # already above size
    pool.refill(0)
    assert len(pool) == 5
    for bad in (-1, 1.5, True):
        with pytest.raises(ParameterError, match="refill"):
            pool.refill(bad)  # type: ignore[arg-type]
    pool.close()
    assert len(pool) == 0
    pool.refill(1)
    assert sk.raw_decrypt(pool.take()) == 0


def test_background_fill_with_progress(keys512: Keys) -> None:
    pk, sk = keys512
    seen: list[tuple[int, int]] = []
    pool = RandomnessPool(pk, 6, background=True, progress=lambda *a: seen.append(a))
    assert pool.wait(timeout=30)
    assert len(pool) == 6 and seen[-1] == (6, 6) and len(seen) == 6
    # taking concurrently with a second background fill never yields the same entry twice
    pool2 = RandomnessPool(pk, 20, background=True, rng=KeyedPRNG.from_int(3))
    got: list[int] = []
    lock = threading.Lock()

    def consume() -> None:
        for _ in range(15):
            x = pool2.take()
            with lock:
                got.append(x)

    threads = [threading.Thread(target=consume) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pool2.wait()
    got.extend(pool2.take() for _ in range(len(pool2)))
    assert len(got) == len(set(got)) >= 30
    assert all(sk.raw_decrypt(x) == 0 for x in got[:3])
    pool2.close()
    assert pool.wait() and RandomnessPool(pk, 1).wait()


def test_constructor_refusals(keys512: Keys, keys1024: Keys) -> None:
    pk, _ = keys512
    for size in (0, -3, 2.0, True, None):
        with pytest.raises(ParameterError, match="size"):
            RandomnessPool(pk, size)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="PublicKey or PrivateKey"):
        RandomnessPool(pk.n, 2)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="mode"):
        RandomnessPool(pk, 2, mode="fast")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="PRNG"):
        RandomnessPool(pk, 2, rng=object())  # type: ignore[arg-type]
    other, _ = keys1024
    pool = RandomnessPool(pk, 1)
    with pytest.raises(KeyMismatchError):
        other.raw_encrypt(1, pool=pool)
    with pytest.raises(ParameterError, match="either r or pool"):
        pk.raw_encrypt(1, 5, pool=pool)
    with pytest.raises(ParameterError, match="RandomnessPool"):
        pk.raw_encrypt(1, pool=[1, 2])  # type: ignore[arg-type]
    assert pk.fingerprint[:8] in repr(pool) and "available=1" in repr(pool)


def _in_child(action: object) -> int:
    """Run ``action`` in a forked child; return its exit code (0: raised ParameterError)."""
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 3
        try:
            action()  # type: ignore[operator]
            code = 1
        except ParameterError:
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_pool_is_wiped_and_refused_after_fork(keys512: Keys) -> None:
    pk, _ = keys512
    pool = RandomnessPool(pk, 4, rng=KeyedPRNG.from_int(4))
    before = len(pool)

    def child_take() -> None:
        if len(pool) != 0:  # the fork hook wiped the child's copy
            os._exit(2)
        pool.take()

    assert _in_child(child_take) == 0
    assert _in_child(lambda: pk.raw_encrypt(1, pool=pool)) == 0
    assert _in_child(lambda: pool.refill(1)) == 0
    # the parent's pool is untouched and still works
    assert len(pool) == before
    pool.take()
    assert len(pool) == before - 1


@pytest.mark.skipif(sys.platform == "win32", reason="fork() only")
def test_the_fork_check_also_catches_a_stale_pid(keys512: Keys) -> None:
    pk, _ = keys512
    pool = RandomnessPool(pk, 2)
    pool._pid = -1  # as if created by another process without the hook having run
    with pytest.raises(ParameterError, match="process"):
        pool.take()
