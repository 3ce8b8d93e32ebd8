"""heprim.ring.primes: NTT-friendly primes and SEAL's minimal primitive roots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import ParameterError
from heprim.ring.primes import (
    MAX_MODULUS_BITS,
    check_degree,
    check_moduli,
    is_ntt_prime,
    minimal_primitive_root,
    ntt_primes,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "ring_ntt_known_answers.json").read_text()
)


def miller_rabin(n: int) -> bool:
    """Deterministic Miller-Rabin for n < 3.3e24 (bases 2..41), independent of heprim and gmpy2."""
    if n < 2:
        return False
    small = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41]
    if n in small:
        return True
    if any(n % p == 0 for p in small):
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in small:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


@pytest.mark.parametrize(("degree", "count"), [(2, 5), (1024, 10), (8192, 20), (32768, 30)])
def test_ntt_primes_are_the_largest_friendly_primes(degree: int, count: int) -> None:
    primes = ntt_primes(degree, count)
    assert len(primes) == count == len(set(primes))
    assert list(primes) == sorted(primes, reverse=True)
    for q in primes:
        assert q < 2**MAX_MODULUS_BITS and q % (2 * degree) == 1 and miller_rabin(q)
    # no friendly prime was skipped between 2^30 and the last one
    candidate = (2**30 - 1) // (2 * degree) * (2 * degree) + 1
    expected = []
    while len(expected) < count:
        if candidate < 2**30 and miller_rabin(candidate):
            expected.append(candidate)
        candidate -= 2 * degree
    assert list(primes) == expected


def test_ntt_primes_are_cached_and_deterministic() -> None:
    assert ntt_primes(4096, 6) is ntt_primes(4096, 6)
    assert ntt_primes(4096, 6)[:3] == ntt_primes(4096, 3)


def test_ntt_primes_with_fewer_bits() -> None:
    primes = ntt_primes(1024, 4, bits=20)
    assert all(q < 2**20 and q % 2048 == 1 and miller_rabin(q) for q in primes)


@pytest.mark.parametrize(
    ("degree", "count", "bits"),
    [(1000, 2, 30), (8, 0, 30), (8, 2, 31), (1024, 2, 11), (1024, 10**4, 16), (8, True, 30)],
)
def test_ntt_primes_errors(degree: int, count: int, bits: int) -> None:
    with pytest.raises(ParameterError):
        ntt_primes(degree, count, bits=bits)


@pytest.mark.parametrize("degree", [0, 1, 3, 6, 1000, 2**18, -4])
def test_check_degree_rejects(degree: int) -> None:
    with pytest.raises(ParameterError, match="power of two"):
        check_degree(degree)


@pytest.mark.parametrize("degree", [2.0, True, "8"])
def test_check_degree_rejects_non_ints(degree: object) -> None:
    with pytest.raises(ParameterError, match="must be an int"):
        check_degree(degree)  # type: ignore[arg-type]


def test_check_moduli() -> None:
    q = ntt_primes(16, 3)
    assert check_moduli(16, list(q)) == q
    with pytest.raises(ParameterError, match="twice"):
        check_moduli(16, [q[0], q[1], q[0]])
    with pytest.raises(ParameterError, match="1 mod 2N"):
        check_moduli(16, [101])  # prime, but 101 = 5 mod 32
    with pytest.raises(ParameterError, match="not prime"):
        check_moduli(16, [33 * 32 + 1])  # 1057 = 7 * 151
    with pytest.raises(ParameterError, match="bits"):
        check_moduli(16, [2**31 + 1])
    with pytest.raises(ParameterError, match="at least one"):
        check_moduli(16, [])
    with pytest.raises(ParameterError, match="sequence"):
        check_moduli(16, 97)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="integers"):
        check_moduli(16, [97.0])  # type: ignore[list-item]


def test_is_ntt_prime() -> None:
    assert is_ntt_prime(97, 16)  # 97 = 3 * 32 + 1
    assert not is_ntt_prime(97, 64)
    assert not is_ntt_prime(1057, 16)


def brute_force_minimal_root(order: int, q: int) -> int:
    return min(x for x in range(2, q) if pow(x, order // 2, q) == q - 1)


@pytest.mark.parametrize(("order", "q"), [(4, 13), (8, 17), (16, 97), (32, 97), (64, 193), (8, 73)])
def test_minimal_primitive_root_against_brute_force(order: int, q: int) -> None:
    assert minimal_primitive_root(order, q) == brute_force_minimal_root(order, q)


def test_minimal_primitive_root_seal_hexl_vectors() -> None:
    """SEAL ntt.cpp and HEXL test-ntt.cpp: root_powers[1] for N = 2 and root_powers[2] for N = 4
    are the minimal primitive 4th and 8th roots modulo 0xffffffffffc0001."""
    seal = VECTORS["seal_ntt_cpp"]
    q = seal["modulus"]
    powers = {(e["degree"], e["index"]): e["value"] for e in seal["root_powers"]}
    assert minimal_primitive_root(4, q) == powers[2, 1]
    assert minimal_primitive_root(8, q) == powers[4, 2]


@given(st.sampled_from([(16, 97), (256, 7681), (1024, 12289), (4096, 40961)]))
def test_minimal_primitive_root_is_primitive(case: tuple[int, int]) -> None:
    degree, q = case
    psi = minimal_primitive_root(2 * degree, q)
    assert pow(psi, degree, q) == q - 1
    # minimal among the odd powers of itself (every primitive root is one)
    assert all(pow(psi, j, q) >= psi for j in range(1, 2 * degree, 2))


@pytest.mark.parametrize(("order", "q"), [(6, 97), (1, 97), (64, 97), (4, 91)])
def test_minimal_primitive_root_errors(order: int, q: int) -> None:
    with pytest.raises(ParameterError):
        minimal_primitive_root(order, q)
