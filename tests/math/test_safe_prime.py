"""random_safe_prime: safe, of the right size, reproducible, and drawn from all of them."""

from __future__ import annotations

import gmpy2
import pytest

from heprim.errors import ParameterError
from heprim.math.ntheory import is_probable_prime, random_safe_prime
from heprim.math.prng import KeyedPRNG


def _all_safe_primes(bits: int) -> set[int]:
    """Every safe prime of exactly ``bits`` bits with the two top bits set (gmpy2 as oracle)."""
    low, high = 3 << (bits - 2), 1 << bits
    return {
        p for p in range(low | 3, high, 4) if gmpy2.is_prime(p) and gmpy2.is_prime((p - 1) // 2)
    }


@pytest.mark.parametrize("bits", [16, 17, 24, 64, 256, 512])
def test_safe_primes_have_the_size_and_the_form(bits: int) -> None:
    for seed in range(3):
        p = random_safe_prime(bits, KeyedPRNG.from_int(1000 * bits + seed))
        assert p.bit_length() == bits and p >> (bits - 2) == 3
        assert is_probable_prime(p) and is_probable_prime((p - 1) // 2)
        assert p % 4 == 3


def test_outputs_cover_the_safe_primes_of_a_small_size() -> None:
    universe = _all_safe_primes(16)
    drawn = {random_safe_prime(16, KeyedPRNG.from_int(seed)) for seed in range(200)}
    assert drawn <= universe
    assert len(drawn) >= len(universe) // 3  # not stuck on a few of them


def test_reproducible_and_progress_ends_at_total() -> None:
    seen: list[tuple[int, int]] = []
    p = random_safe_prime(384, KeyedPRNG.from_int(4), progress=lambda d, t: seen.append((d, t)))
    assert p == random_safe_prime(384, KeyedPRNG.from_int(4))
    assert seen and seen[-1][0] == seen[-1][1]
    assert all(0 <= d <= t for d, t in seen)


@pytest.mark.parametrize("bits", [15, 0, -3, True, 16.0])
def test_refuses_tiny_or_non_integer_sizes(bits: object) -> None:
    with pytest.raises(ParameterError, match="16 bits"):
        random_safe_prime(bits)  # type: ignore[arg-type]
