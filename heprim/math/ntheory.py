"""Number theory on big integers: the only place heprim touches gmpy2.

Everything above this layer calls these thin, typed wrappers, so that the choice of big-integer
backend (GMP through gmpy2) stays in one file. The values returned are ``gmpy2.mpz`` objects typed
as ``int``: they behave as Python integers (``+``, ``*``, ``%``, comparisons, ``int(x)``) and keep
GMP's speed in the hot loops of the schemes.

Primality uses the Baillie-PSW test (Baillie and Wagstaff, "Lucas pseudoprimes", Math. Comp. 35,
1980; FIPS 186-5 appendix B.3 accepts it for random primes): a strong base-2 Fermat test followed
by a strong Lucas test, after trial division by the small primes. No BPSW pseudoprime is known.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, cast

import gmpy2

from heprim.errors import ParameterError
from heprim.math.prng import PRNG, default_rng

__all__ = [
    "crt",
    "gcd",
    "gil_released",
    "invert",
    "is_probable_prime",
    "is_square",
    "isqrt",
    "jacobi",
    "lcm",
    "mpz",
    "powmod",
    "powmod_base_list",
    "powmod_exp_list",
    "powmod_sec",
    "random_prime",
    "random_safe_prime",
]

_SMALL_PRIMES: Final = tuple(int(p) for p in range(3, 2000) if gmpy2.is_prime(p))
_SMALL_PRIMORIAL: Final = gmpy2.primorial(1999) // 2  # odd primes below 2000


def mpz(x: int | str) -> int:
    """Convert to a GMP integer (accepts ``int``, ``gmpy2.mpz`` and numpy integers)."""
    return cast(int, gmpy2.mpz(int(x) if not isinstance(x, str) else x))


def powmod(base: int, exponent: int, modulus: int) -> int:
    """``base ** exponent mod modulus`` (negative exponents use the modular inverse)."""
    return cast(int, gmpy2.powmod(base, exponent, modulus))


def powmod_sec(base: int, exponent: int, modulus: int) -> int:
    """Like :func:`powmod` but with GMP's side-channel-resistant ``mpz_powm_sec``.

    The modulus must be odd and the exponent positive. It hides the exponent's bit pattern from
    timing and cache observers *at the GMP level*; the surrounding Python code is not constant-time.
    """
    return cast(int, gmpy2.powmod_sec(base, exponent, modulus))


def powmod_base_list(bases: Sequence[int], exponent: int, modulus: int) -> list[int]:
    """``[b ** exponent mod modulus for b in bases]`` in one GMP call (releases the GIL)."""
    return cast(list[int], gmpy2.powmod_base_list(list(bases), exponent, modulus))


def powmod_exp_list(base: int, exponents: Sequence[int], modulus: int) -> list[int]:
    """``[base ** e mod modulus for e in exponents]`` in one GMP call (releases the GIL)."""
    return cast(list[int], gmpy2.powmod_exp_list(base, list(exponents), modulus))


def invert(a: int, modulus: int) -> int:
    """The inverse of ``a`` modulo ``modulus``; :class:`ParameterError` when it does not exist."""
    try:
        return cast(int, gmpy2.invert(a, modulus))
    except ZeroDivisionError:
        raise ParameterError(f"{a} has no inverse modulo the given modulus") from None


def gcd(a: int, b: int) -> int:
    """Greatest common divisor."""
    return cast(int, gmpy2.gcd(a, b))


def lcm(a: int, b: int) -> int:
    """Least common multiple."""
    return cast(int, gmpy2.lcm(a, b))


def isqrt(a: int) -> int:
    """``floor(sqrt(a))`` for ``a >= 0``."""
    return cast(int, gmpy2.isqrt(a))


def is_square(a: int) -> bool:
    """Whether ``a`` is a perfect square."""
    return bool(gmpy2.is_square(a))


def crt(residues: Sequence[int], moduli: Sequence[int]) -> int:
    """The unique ``x mod prod(moduli)`` with ``x = r_i mod m_i`` (pairwise coprime moduli).

    Garner-free textbook form: ``x = sum r_i * M_i * (M_i^-1 mod m_i) mod M`` with ``M_i = M/m_i``.
    """
    if len(residues) != len(moduli) or not moduli:
        raise ParameterError("crt needs as many residues as moduli, and at least one of each")
    modulus = gmpy2.mpz(1)
    for m in moduli:
        modulus *= m
    x = gmpy2.mpz(0)
    for r, m in zip(residues, moduli, strict=True):
        partial = modulus // m
        x += r * partial * invert(partial % m, m)
    return cast(int, x % modulus)


def is_probable_prime(n: int) -> bool:
    """Baillie-PSW probable-prime test after trial division by the primes below 2000."""
    if n < 2:
        return False
    if n == 2:
        return True
    if n % 2 == 0:
        return False
    if n < 2000:
        return n in _SMALL_PRIMES
    if gmpy2.gcd(n, _SMALL_PRIMORIAL) != 1:
        return False
    return bool(gmpy2.is_bpsw_prp(n))


def random_prime(
    bits: int,
    rng: PRNG | None = None,
    *,
    residue: tuple[int, int] | None = None,
    top_bits: int = 2,
) -> int:
    """A uniformly chosen prime of exactly ``bits`` bits from the CSPRNG, BPSW-checked.

    Candidates are drawn afresh for every attempt (no incremental search, whose output is biased
    towards primes that follow long gaps).

    Args:
        bits: the bit length (at least 16).
        rng: randomness source (default: the OS CSPRNG).
        residue: ``(a, m)`` to only accept primes ``p = a mod m``, e.g. ``(3, 4)`` for Blum primes.
        top_bits: how many of the top bits are forced to 1; 2 makes the product of two such primes
            have exactly ``2 * bits`` bits.
    """
    if bits < 16:
        raise ParameterError(f"random_prime needs at least 16 bits, got {bits}")
    if not 1 <= top_bits <= 2:
        raise ParameterError("top_bits must be 1 or 2")
    rng = default_rng(rng)
    top = ((1 << top_bits) - 1) << (bits - top_bits)
    while True:
        candidate = rng.randbits(bits) | top | 1
        if residue is not None:
            a, m = residue
            # Move to the residue class with the low bits, keeping the forced top bits.
            candidate = candidate - (candidate % m) + a
            if candidate.bit_length() != bits or candidate < top:
                continue
        if is_probable_prime(candidate):
            return mpz(candidate)


@contextlib.contextmanager
def gil_released() -> Iterator[None]:
    """Let gmpy2 release the GIL during long operations in this thread (for thread pools).

    gmpy2 keeps the setting in a thread-local context, so each worker thread enters this itself.
    """
    ctx: Any = gmpy2.get_context()
    previous = ctx.allow_release_gil
    ctx.allow_release_gil = True
    try:
        yield
    finally:
        ctx.allow_release_gil = previous


def jacobi(a: int, n: int) -> int:
    """The Jacobi symbol ``(a / n)`` for odd ``n > 0``: the Legendre symbol when ``n`` is prime.

    For a prime ``p`` it is ``1`` for a non-zero square, ``-1`` for a non-square and ``0`` for a
    multiple of ``p``: a quadratic-residuosity test far cheaper than Euler's ``a**((p-1)/2)``.
    """
    if n <= 0 or n % 2 == 0:
        raise ParameterError(f"the Jacobi symbol needs an odd positive modulus, got {n}")
    return int(gmpy2.jacobi(a, n))


_SAFE_SIEVE_BOUND: Final = 1 << 16  # sieve q and 2q + 1 by the odd primes below this
_SAFE_WINDOW: Final = 1 << 17  # candidates q0, q0 + 2, ..., q0 + 2 (W - 1) per random window
_SIEVE_PRIMES: tuple[int, ...] | None = None


def _sieve_primes() -> tuple[int, ...]:
    """The odd primes below :data:`_SAFE_SIEVE_BOUND` (computed once, on first use)."""
    global _SIEVE_PRIMES  # noqa: PLW0603 (a cache)
    if _SIEVE_PRIMES is None:
        bound = _SAFE_SIEVE_BOUND
        sieve = bytearray([1]) * bound
        sieve[0:2] = b"\x00\x00"
        for i in range(2, int(bound**0.5) + 1):
            if sieve[i]:
                sieve[i * i :: i] = bytes(len(range(i * i, bound, i)))
        _SIEVE_PRIMES = tuple(i for i in range(3, bound) if sieve[i])
    return _SIEVE_PRIMES


def random_safe_prime(
    bits: int,
    rng: PRNG | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """A random *safe* prime ``p = 2 p' + 1`` (``p'`` prime too) of exactly ``bits`` bits.

    Threshold Paillier (Damgard-Jurik, PKC 2001, section 4, after Shoup, EUROCRYPT 2000) needs
    them: the squares modulo ``p q`` then form a cyclic group of order ``p' q'`` without small
    factors. The two top bits are set (a product of two has exactly ``2 * bits`` bits) and
    ``p = 3 mod 4`` follows from ``p'`` odd.

    Safe primes are rare (about one in ``(ln p)**2 / 1.32`` integers), so this draws a random
    window of ``2**17`` odd candidates ``p'``, sieves ``p'`` and ``2 p' + 1`` at once by the
    primes below ``2**16`` (a candidate survives when ``p' mod r`` is neither 0 nor ``(r - 1) /
    2``), tests the survivors in a random order -- a base-2 Fermat test on ``p'`` and on ``p``
    first, then Baillie-PSW on both -- and draws a fresh window when none is left. Testing in
    random order inside a window, instead of scanning upwards from a random start (OpenSSL's
    ``BN_generate_prime_ex``), avoids favouring the safe primes that follow long gaps; a window
    holds less than one safe prime on average, so the output is close to uniform.

    Args:
        bits: the bit length of ``p`` (at least 16).
        rng: randomness source (default: the OS CSPRNG).
        progress: called as ``progress(candidates tested, expected number)``; the expectation is
            a heuristic, so the count may pass it before a prime is found. The last call is
            ``progress(total, total)``.

    About 0.5 s at 1024 bits and 2 s at 1536 bits on one core here, with a wide spread.
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or bits < 16:
        raise ParameterError(f"random_safe_prime needs an integer of at least 16 bits, got {bits}")
    rng = default_rng(rng)
    import numpy as np  # only this sieve needs numpy in this module

    q_bits = bits - 1
    top = 3 << (q_bits - 2)  # p' >= 3 * 2**(bits-3), so p = 2p' + 1 has its two top bits set
    limit = 1 << q_bits
    primes = [r for r in _sieve_primes() if r * r < limit]
    # For a sieved candidate, P(prime) ~ e^gamma ln(B) / ln(x) (Mertens' third theorem), so a
    # pair survives both tests about once in this many: only a scale for the progress callback.
    expected = max(1, math.ceil((bits * math.log(2) / (1.781 * math.log(_SAFE_SIEVE_BOUND))) ** 2))
    window = min(_SAFE_WINDOW, max(1, (limit - top) // 2 // 4))
    tested = 0
    while True:
        start = mpz(rng.randbits(q_bits) | top | 1)
        if start + 2 * window >= limit:
            start -= 2 * window
        alive = np.ones(window, dtype=bool)
        for r in primes:
            a = int(start % r)
            half_inverse = (r + 1) // 2  # 2**-1 mod r
            alive[(-a * half_inverse) % r :: r] = False  # r divides p'
            alive[(((r - 1) // 2 - a) * half_inverse) % r :: r] = False  # r divides 2p' + 1
        offsets = np.flatnonzero(alive)
        if offsets.size == 0:
            continue
        keys = np.frombuffer(rng.random_bytes(8 * offsets.size), dtype="<u8")
        for k in offsets[np.argsort(keys, kind="stable")].tolist():
            q = start + 2 * k
            tested += 1
            if progress is not None and tested % 64 == 0:
                progress(min(tested, expected - 1) if expected > 1 else 0, expected)
            if gmpy2.powmod(2, q - 1, q) != 1:
                continue
            p = 2 * q + 1
            if gmpy2.powmod(2, p - 1, p) != 1:
                continue
            if is_probable_prime(q) and is_probable_prime(p):
                if progress is not None:
                    progress(expected, expected)
                return cast(int, p)
