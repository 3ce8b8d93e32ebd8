"""heprim.math.ntheory: the gmpy2 wrappers, primality, CRT and random primes.

The oracles are Python's own integers (pow, math.gcd, math.isqrt, brute force) and published
pseudoprimes, never gmpy2 itself.
"""

from __future__ import annotations

import math
import threading

import gmpy2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import ParameterError
from heprim.math import ntheory as nt
from heprim.math.prng import KeyedPRNG

# Published: OEIS A001262 (strong pseudoprimes to base 2) and A014233 (smallest numbers that are
# strong pseudoprimes to all of the first k prime bases); A002997 (Carmichael numbers).
STRONG_PSEUDOPRIMES_BASE_2 = [2047, 3277, 4033, 4681, 8321, 15841, 29341, 42799, 49141, 52633]
STRONG_PSEUDOPRIMES_MANY_BASES = [3215031751, 2152302898747, 3474749660383, 341550071728321]
CARMICHAEL = [561, 1105, 1729, 2465, 2821, 6601, 8911, 41041, 825265]
MERSENNE_PRIMES = [2**61 - 1, 2**89 - 1, 2**107 - 1, 2**127 - 1, 2**521 - 1]


def _trial_division_is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % d for d in range(2, math.isqrt(n) + 1))


def test_small_numbers_against_trial_division() -> None:
    for n in range(-5, 5000):
        assert nt.is_probable_prime(n) == _trial_division_is_prime(n), n


@pytest.mark.parametrize(
    "n", STRONG_PSEUDOPRIMES_BASE_2 + STRONG_PSEUDOPRIMES_MANY_BASES + CARMICHAEL
)
def test_pseudoprimes_are_composite(n: int) -> None:
    assert not nt.is_probable_prime(n)


@pytest.mark.parametrize("p", MERSENNE_PRIMES)
def test_mersenne_primes(p: int) -> None:
    assert nt.is_probable_prime(p)
    assert not nt.is_probable_prime(p * (2**31 - 1))
    assert not nt.is_probable_prime(p + 2)  # 2^odd + 1 is divisible by 3


def test_powmod_family_against_python() -> None:
    m = 2**127 - 1
    assert nt.powmod(3, 10**6, m) == pow(3, 10**6, m)
    assert nt.powmod(3, -1, m) == pow(3, -1, m)
    assert nt.powmod_sec(5, 12345, m) == pow(5, 12345, m)
    assert nt.powmod_base_list([2, 3, 5], 77, m) == [pow(b, 77, m) for b in (2, 3, 5)]
    assert nt.powmod_exp_list(7, [0, 1, 99], m) == [pow(7, e, m) for e in (0, 1, 99)]


def test_invert_and_its_error() -> None:
    assert nt.invert(3, 7) * 3 % 7 == 1
    with pytest.raises(ParameterError, match="no inverse"):
        nt.invert(6, 9)


@given(st.integers(min_value=-(2**200), max_value=2**200), st.integers(1, 2**200))
def test_gcd_lcm_against_math(a: int, b: int) -> None:
    assert nt.gcd(a, b) == math.gcd(a, b)
    assert nt.lcm(a, b) == math.lcm(a, b)


@given(st.integers(min_value=0, max_value=2**300))
def test_isqrt_and_is_square(a: int) -> None:
    assert nt.isqrt(a) == math.isqrt(a)
    assert nt.is_square(a * a)
    assert nt.is_square(a) == (math.isqrt(a) ** 2 == a)


def test_mpz_conversions() -> None:
    assert nt.mpz(5) == 5 and isinstance(nt.mpz(5), type(gmpy2.mpz(0)))
    assert nt.mpz("123456789123456789123") == 123456789123456789123
    import numpy as np

    assert nt.mpz(np.int64(-7)) == -7


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=3, max_size=3))
def test_crt_reconstructs(values: list[int]) -> None:
    moduli = [1009, 1013, 1019]
    x = nt.crt([v % m for v, m in zip(values, moduli, strict=True)], moduli)
    assert 0 <= x < 1009 * 1013 * 1019
    assert all(x % m == v % m for v, m in zip(values, moduli, strict=True))


def test_crt_against_brute_force() -> None:
    moduli = [3, 5, 7]
    for x in range(105):
        assert nt.crt([x % 3, x % 5, x % 7], moduli) == x


@pytest.mark.parametrize(("residues", "moduli"), [([1, 2], [3]), ([], []), ([1], [])])
def test_crt_errors(residues: list[int], moduli: list[int]) -> None:
    with pytest.raises(ParameterError):
        nt.crt(residues, moduli)


@pytest.mark.parametrize("bits", [16, 64, 257])
def test_random_prime_size_and_primality(bits: int) -> None:
    rng = KeyedPRNG.from_int(bits)
    p = nt.random_prime(bits, rng)
    assert p.bit_length() == bits
    assert p >> (bits - 2) == 0b11  # the top two bits are forced
    assert pow(2, p - 1, p) == 1 and pow(3, p - 1, p) == 1  # Fermat, independent of gmpy2
    assert nt.random_prime(bits, KeyedPRNG.from_int(bits)) == p  # reproducible from the seed


def test_random_prime_residue_and_top_bits() -> None:
    rng = KeyedPRNG.from_int(99)
    for _ in range(5):
        p = nt.random_prime(64, rng, residue=(3, 4))
        assert p % 4 == 3 and p.bit_length() == 64
    q = nt.random_prime(40, rng, residue=(1, 2**10), top_bits=1)
    assert q % 2**10 == 1 and q.bit_length() == 40


@pytest.mark.parametrize(("bits", "top"), [(15, 2), (64, 0), (64, 3)])
def test_random_prime_errors(bits: int, top: int) -> None:
    with pytest.raises(ParameterError):
        nt.random_prime(bits, KeyedPRNG.from_int(0), top_bits=top)


def test_gil_released_restores_the_context_flag() -> None:
    ctx = gmpy2.get_context()
    before = ctx.allow_release_gil
    with nt.gil_released():
        assert gmpy2.get_context().allow_release_gil
        assert nt.powmod(3, 2**2000 + 1, 2**2203 - 1) == pow(3, 2**2000 + 1, 2**2203 - 1)
    assert gmpy2.get_context().allow_release_gil == before

    seen: list[bool] = []

    def worker() -> None:  # the setting is per thread
        seen.append(gmpy2.get_context().allow_release_gil)

    with nt.gil_released():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert seen == [False]
