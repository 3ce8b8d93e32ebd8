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
from collections.abc import Iterator, Sequence
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
    "lcm",
    "mpz",
    "powmod",
    "powmod_base_list",
    "powmod_exp_list",
    "powmod_sec",
    "random_prime",
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
