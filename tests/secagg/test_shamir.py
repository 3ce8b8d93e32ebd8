"""Shamir sharing over GF(2^256 + 297): the field, reconstruction from any t, errors."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import ParameterError
from heprim.math.ntheory import is_probable_prime
from heprim.math.prng import KeyedPRNG
from heprim.secagg import shamir


def test_prime_is_the_smallest_prime_above_2_256() -> None:
    assert shamir.PRIME == 2**256 + 297
    assert is_probable_prime(shamir.PRIME)
    assert not any(is_probable_prime(x) for x in range(2**256 + 1, shamir.PRIME))
    assert shamir.PRIME.bit_length() <= 8 * shamir.SHARE_BYTES


def test_known_line_reconstructs() -> None:
    """f(x) = s + 5x by hand, independent of share(): two points give back s."""
    s = 2**256 - 1
    points = [(7, (s + 5 * 7) % shamir.PRIME), (11, (s + 5 * 11) % shamir.PRIME)]
    assert shamir.reconstruct([x for x, _ in points], [[y] for _, y in points]) == [s]


def test_lagrange_coefficients_sum_to_one() -> None:
    # The constant polynomial 1 must reconstruct to 1.
    assert sum(shamir.lagrange_at_zero([2, 5, 9, 30])) % shamir.PRIME == 1


@given(
    secrets=st.lists(st.integers(0, shamir.PRIME - 1), min_size=1, max_size=3),
    n=st.integers(1, 9),
    data=st.data(),
)
def test_any_t_shares_reconstruct(secrets: list[int], n: int, data: st.DataObject) -> None:
    t = data.draw(st.integers(1, n))
    holders = data.draw(st.lists(st.integers(1, 2**32 - 1), min_size=n, max_size=n, unique=True))
    shares = shamir.share(secrets, holders, t, KeyedPRNG.from_int(n * 1000 + t))
    subset = data.draw(st.lists(st.sampled_from(range(n)), min_size=t, max_size=t, unique=True))
    got = shamir.reconstruct([holders[i] for i in subset], [shares[i] for i in subset])
    assert got == secrets


def test_fewer_than_t_shares_do_not_reconstruct(rng) -> None:
    secrets = [123456789, 2**255]
    holders = [1, 2, 3, 4, 5]
    shares = shamir.share(secrets, holders, 3, rng)
    for subset in itertools.combinations(range(5), 2):
        got = shamir.reconstruct([holders[i] for i in subset], [shares[i] for i in subset])
        assert got != secrets


def test_share_errors(rng) -> None:
    with pytest.raises(ParameterError, match="distinct"):
        shamir.share([1], [1, 1], 1, rng)
    with pytest.raises(ParameterError, match="holder id"):
        shamir.share([1], [0, 1], 1, rng)
    with pytest.raises(ParameterError, match="threshold"):
        shamir.share([1], [1, 2], 3, rng)
    with pytest.raises(ParameterError, match="field element"):
        shamir.share([shamir.PRIME], [1, 2], 2, rng)


def test_reconstruct_errors() -> None:
    with pytest.raises(ParameterError):
        shamir.reconstruct([], [])
    with pytest.raises(ParameterError):
        shamir.reconstruct([1, 2], [[1]])
    with pytest.raises(ParameterError):
        shamir.reconstruct([1, 2], [[1], [1, 2]])
    with pytest.raises(ParameterError):
        shamir.reconstruct([1, 2], [[1], [shamir.PRIME]])
