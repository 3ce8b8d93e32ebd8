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

import decimal
import functools
import hashlib
import math
import numbers
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from heprim.errors import ParameterError

__all__ = [
    "PRNG",
    "KeyedPRNG",
    "SystemPRNG",
    "default_rng",
    "sample_centered_binomial",
    "sample_discrete_gaussian",
    "sample_ternary",
    "sample_uniform_mod",
]

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

    def random_uint32(self, count: int) -> npt.NDArray[np.uint32]:
        """Return ``count`` uniform 32-bit words as a numpy array (the next ``4 count`` bytes)."""
        return np.frombuffer(bytearray(self.random_bytes(4 * _count(count))), dtype="<u4")

    def random_uint64(self, count: int) -> npt.NDArray[np.uint64]:
        """Return ``count`` uniform 64-bit words as a numpy array (the next ``8 count`` bytes)."""
        return np.frombuffer(bytearray(self.random_bytes(8 * _count(count))), dtype="<u8")


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


# --------------------------------------------------------------------------------------------
# Samplers for lattice cryptography: vectorised draws from any PRNG. The output of each sampler
# is a deterministic function of the byte stream, so a KeyedPRNG seed regenerates it exactly.


def _integer(value: object, what: str) -> int:
    """``value`` as an ``int`` if it is an integer (``int``, ``gmpy2.mpz``, numpy), not a bool."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _count(count: object) -> int:
    value = _integer(count, "the number of samples")
    if value < 0:
        raise ParameterError(f"the number of samples must be non-negative, got {value}")
    return value


def sample_uniform_mod(
    moduli: Sequence[int], count: int, rng: PRNG | None = None
) -> npt.NDArray[np.uint64]:
    """``count`` uniform residues modulo each modulus: an array of shape ``(len(moduli), count)``.

    Rejection sampling without bias: a word masked to the bit length of ``q - 1`` is kept when
    it is below ``q`` (so each is kept with probability above 1/2), never reduced modulo ``q``.
    The moduli are drawn one after the other, each from the next bytes of ``rng``: with a
    :class:`KeyedPRNG` the whole array is a function of the seed (a uniform polynomial can be
    sent as its 32-byte seed).

    Args:
        moduli: moduli ``2 <= q < 2**63``.
        count: samples per modulus.
        rng: randomness source (default: the OS CSPRNG).
    """
    rng = default_rng(rng)
    count = _count(count)
    out = np.empty((len(moduli), count), dtype=np.uint64)
    for row, modulus in enumerate(moduli):
        q = _integer(modulus, "a modulus")
        if not 2 <= q < 1 << 63:
            raise ParameterError(f"moduli must lie in [2, 2**63), got {q}")
        bits = (q - 1).bit_length()
        wide = q > 0xFFFFFFFF  # the bound itself must fit the word type
        mask = np.uint64((1 << bits) - 1) if wide else np.uint32((1 << bits) - 1)
        bound = np.uint64(q) if wide else np.uint32(q)
        filled = 0
        while filled < count:
            need = count - filled
            # Expected acceptance is q / 2^bits > 1/2: ask for 10% more than expected.
            draw = need * (1 << bits) // q * 11 // 10 + 16
            words = rng.random_uint64(draw) if wide else rng.random_uint32(draw)
            words &= mask
            accepted = words[words < bound][:need]
            out[row, filled : filled + accepted.size] = accepted
            filled += accepted.size
    return out


def sample_ternary(count: int, rng: PRNG | None = None) -> npt.NDArray[np.int64]:
    """``count`` values uniform in ``{-1, 0, 1}`` (as int64), e.g. BFV secret keys.

    Each random byte yields four 2-bit values; ``0, 1, 2`` map to ``-1, 0, 1`` and ``3`` is
    rejected, so the three values are exactly equally likely.
    """
    rng = default_rng(rng)
    count = _count(count)
    out = np.empty(count, dtype=np.int64)
    filled = 0
    while filled < count:
        need = count - filled
        raw = np.frombuffer(rng.random_bytes(need // 3 + 8), dtype=np.uint8)
        crumbs = np.stack([(raw >> shift) & 3 for shift in (0, 2, 4, 6)], axis=1).reshape(-1)
        accepted = crumbs[crumbs < 3][:need]
        out[filled : filled + accepted.size] = accepted.astype(np.int64) - 1
        filled += accepted.size
    return out


def sample_centered_binomial(
    count: int, eta: int = 21, rng: PRNG | None = None
) -> npt.NDArray[np.int64]:
    """``count`` draws of the centered binomial distribution ``B_eta`` (as int64).

    ``B_eta = sum of eta bits - sum of eta other bits`` (Kyber's noise, FIPS 203 section 4.2.2):
    values in ``[-eta, eta]``, mean 0, variance ``eta / 2``; ``eta = 21`` has standard deviation
    3.24, close to the HE standard's 3.19.
    """
    rng = default_rng(rng)
    count = _count(count)
    eta = _integer(eta, "eta")
    if not 1 <= eta <= 64:
        raise ParameterError(f"eta must lie in [1, 64], got {eta}")
    nbits = 2 * eta * count
    raw = np.frombuffer(rng.random_bytes((nbits + 7) // 8), dtype=np.uint8)
    bits = np.unpackbits(raw, bitorder="little")[:nbits].reshape(count, 2, eta)
    sums: npt.NDArray[np.int64] = bits.sum(axis=2, dtype=np.int64)
    return sums[:, 0] - sums[:, 1]


def _real(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{what} must be a real number, got {value!r}")
    return float(value)


@functools.lru_cache(maxsize=16)
def _gaussian_cdt(sigma: float, tail: float) -> tuple[int, npt.NDArray[np.uint64]]:
    """The cumulative table of D_{Z,sigma} cut at |x| <= floor(tail sigma), scaled by 2^64."""
    bound = math.floor(tail * sigma)
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        two_sigma_sq = 2 * decimal.Decimal(sigma) ** 2
        weights = [(-decimal.Decimal(x * x) / two_sigma_sq).exp() for x in range(-bound, bound + 1)]
        total = sum(weights, decimal.Decimal(0))
        cumulative = decimal.Decimal(0)
        table = []
        for w in weights[:-1]:
            cumulative += w
            table.append(int(cumulative / total * (1 << 64)))
    return bound, np.array(table, dtype=np.uint64)


def sample_discrete_gaussian(
    count: int, sigma: float = 3.19, rng: PRNG | None = None, *, tail: float = 6.0
) -> npt.NDArray[np.int64]:
    """``count`` draws of the discrete Gaussian ``D_{Z, sigma}`` cut at ``|x| <= tail * sigma``.

    Inversion of a 64-bit cumulative distribution table (CDT): a uniform 64-bit word ``u`` maps
    to the ``x`` whose cumulative interval contains it. The table is computed with 60-digit
    decimal arithmetic, so each probability is within ``2^-64`` of ``rho(x) / sum rho``; the
    statistical distance to the tail-cut distribution is below ``(2 tail sigma + 1) 2^-64``. With
    ``sigma = 3.19`` and ``tail = 6`` (SEAL's and the HE standard's choice) values lie in
    ``[-19, 19]``; the mass cut off is about ``2^-29``.

    Not constant-time (numpy's binary search branches); see SECURITY.md.
    """
    rng = default_rng(rng)
    count = _count(count)
    sigma, tail = _real(sigma, "sigma"), _real(tail, "tail")
    if not 0 < sigma <= 1e6:
        raise ParameterError(f"sigma must be positive (and at most 1e6), got {sigma}")
    if not 1 <= tail <= 20:
        raise ParameterError(f"tail must be between 1 and 20 standard deviations, got {tail}")
    bound, table = _gaussian_cdt(sigma, tail)
    words = rng.random_uint64(count)
    return np.searchsorted(table, words, side="right").astype(np.int64) - bound
