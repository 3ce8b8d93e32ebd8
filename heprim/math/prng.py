"""The only sources of randomness in heprim.

* :class:`SystemPRNG` draws from the operating system's CSPRNG (:func:`os.urandom`). It is the
  default everywhere a function takes ``rng=None``.
* :class:`KeyedPRNG` is a deterministic generator keyed by a 32-byte seed: AES-256 in counter mode
  (NIST SP 800-38A) through the ``cryptography`` package. Tests inject it to be reproducible;
  protocols use it to expand short shared seeds into long masks, and lattice schemes use it to
  regenerate a uniform polynomial from its seed. Independent streams are derived from one seed with
  :meth:`KeyedPRNG.derive` (SHAKE-256 over a length-prefixed label).

Both implement the :class:`PRNG` interface: bytes, bits, and unbiased integers below a bound
(rejection sampling, never a modular reduction of a too-short draw).

Nothing here may use :mod:`random` or :mod:`numpy.random`; a ruff rule bans them in ``heprim/``.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from heprim.errors import ParameterError

__all__ = ["PRNG", "KeyedPRNG", "SystemPRNG", "default_rng"]

SEED_BYTES: Final = 32


class PRNG(ABC):
    """A source of uniformly random bytes, with exact integer sampling on top."""

    @abstractmethod
    def random_bytes(self, n: int) -> bytes:
        """Return ``n`` uniformly random bytes."""

    def randbits(self, k: int) -> int:
        """Return a uniform integer in ``[0, 2**k)``."""
        if k < 0:
            raise ParameterError(f"randbits needs k >= 0, got {k}")
        if k == 0:
            return 0
        nbytes = (k + 7) // 8
        value = int.from_bytes(self.random_bytes(nbytes), "little")
        return value >> (8 * nbytes - k)

    def randbelow(self, n: int) -> int:
        """Return a uniform integer in ``[0, n)`` by rejection sampling (no modulo bias)."""
        if n <= 0:
            raise ParameterError(f"randbelow needs a positive bound, got {n}")
        k = (n - 1).bit_length()
        while True:
            value = self.randbits(k)
            if value < n:
                return value

    def randrange(self, low: int, high: int) -> int:
        """Return a uniform integer in ``[low, high)``."""
        if high <= low:
            raise ParameterError(f"empty range [{low}, {high})")
        return low + self.randbelow(high - low)


class SystemPRNG(PRNG):
    """The operating system's CSPRNG (``getrandom(2)`` on Linux through :func:`os.urandom`).

    It holds no state, so it is safe across ``fork()`` and between threads.
    """

    def random_bytes(self, n: int) -> bytes:
        if n < 0:
            raise ParameterError(f"cannot draw a negative number of bytes ({n})")
        return os.urandom(n)

    def __repr__(self) -> str:
        return "SystemPRNG()"


class KeyedPRNG(PRNG):
    """A deterministic generator: the AES-256-CTR keystream under a 32-byte seed.

    The same seed always yields the same stream, so it is for tests, for expanding a secret seed
    shared between parties, and for regenerating public uniform data from its seed. The seed
    itself is as secret as whatever is drawn from it.

    Args:
        seed: exactly 32 bytes, itself drawn from a CSPRNG (``SystemPRNG().random_bytes(32)``).
    """

    __slots__ = ("_encryptor", "_seed")

    def __init__(self, seed: bytes) -> None:
        if not isinstance(seed, bytes | bytearray):
            raise ParameterError(f"KeyedPRNG seed must be bytes, got {type(seed).__name__}")
        if len(seed) != SEED_BYTES:
            raise ParameterError(
                f"KeyedPRNG seed must be exactly {SEED_BYTES} bytes (got {len(seed)}); draw one "
                "with SystemPRNG().random_bytes(32)"
            )
        self._seed = bytes(seed)
        cipher = Cipher(algorithms.AES(self._seed), modes.CTR(b"\x00" * 16))
        self._encryptor = cipher.encryptor()

    @classmethod
    def from_int(cls, value: int) -> KeyedPRNG:
        """A reproducible generator for tests: the seed is SHA3-256 of the integer's text."""
        return cls(hashlib.sha3_256(f"heprim.test-seed:{value}".encode()).digest())

    @property
    def seed(self) -> bytes:
        """The 32-byte seed (secret: whoever holds it can replay the stream)."""
        return self._seed

    def derive(self, label: bytes | str) -> KeyedPRNG:
        """An independent generator for ``label``: seed' = SHAKE-256(len(seed)||seed||label)."""
        if isinstance(label, str):
            label = label.encode()
        shake = hashlib.shake_256()
        shake.update(b"heprim.prng.derive")
        shake.update(len(self._seed).to_bytes(2, "big") + self._seed)
        shake.update(len(label).to_bytes(4, "big") + label)
        return KeyedPRNG(shake.digest(SEED_BYTES))

    def random_bytes(self, n: int) -> bytes:
        if n < 0:
            raise ParameterError(f"cannot draw a negative number of bytes ({n})")
        return self._encryptor.update(bytes(n))

    def __repr__(self) -> str:
        return "KeyedPRNG(<seed hidden>)"


def default_rng(rng: PRNG | None) -> PRNG:
    """Return ``rng`` when given, else a :class:`SystemPRNG`; reject anything that is not a PRNG."""
    if rng is None:
        return SystemPRNG()
    if not isinstance(rng, PRNG):
        raise ParameterError(
            f"rng must be a heprim.math.prng.PRNG (SystemPRNG or KeyedPRNG), got "
            f"{type(rng).__name__}; the random module and numpy.random are not accepted"
        )
    return rng
