"""heprim.math.prng: the generators, exact integer sampling and the lattice samplers.

Statistical checks use fixed seeds, so they are deterministic (never flaky); their thresholds are
chi-square critical values at a 1e-4 level, so a correct sampler passes for essentially every seed
and a biased one fails.
"""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction

import gmpy2
import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import ParameterError
from heprim.math.prng import (
    PRNG,
    KeyedPRNG,
    SystemPRNG,
    default_rng,
    sample_centered_binomial,
    sample_discrete_gaussian,
    sample_ternary,
    sample_uniform_mod,
)


def chi_square(observed: np.ndarray, expected: np.ndarray) -> float:
    return float(((observed - expected) ** 2 / expected).sum())


# chi-square critical values at p = 1e-4 for the degrees of freedom used below
CHI2_1E4 = {1: 15.14, 2: 18.42, 6: 27.86, 15: 42.31, 38: 73.4}


# ---------------------------------------------------------------------------- KeyedPRNG


def test_keyed_prng_is_aes256_ctr_keystream() -> None:
    """Independent oracle: the AES-256-CTR keystream (zero IV) of the seed, from cryptography."""
    seed = bytes(range(32))
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(b"\x00" * 16)).encryptor()
    assert KeyedPRNG(seed).random_bytes(100) == encryptor.update(bytes(100))


def test_keyed_prng_is_deterministic_and_streams() -> None:
    a, b = KeyedPRNG(b"\x01" * 32), KeyedPRNG(b"\x01" * 32)
    assert a.random_bytes(10) + a.random_bytes(22) == b.random_bytes(32)
    assert KeyedPRNG(b"\x02" * 32).random_bytes(32) != KeyedPRNG(b"\x01" * 32).random_bytes(32)
    assert KeyedPRNG(bytearray(32)).random_bytes(8) == KeyedPRNG(bytes(32)).random_bytes(8)


def test_from_int_is_reproducible_and_documented() -> None:
    expected = hashlib.sha3_256(b"heprim.test-seed:7").digest()
    assert KeyedPRNG.from_int(7).seed == expected
    assert KeyedPRNG.from_int(7).random_bytes(16) == KeyedPRNG(expected).random_bytes(16)
    assert KeyedPRNG.from_int(7).seed != KeyedPRNG.from_int(8).seed


def test_derive_gives_independent_deterministic_streams() -> None:
    root = KeyedPRNG.from_int(1)
    a, b = root.derive("mask"), root.derive(b"mask")
    assert a.seed == b.seed  # str labels are their UTF-8 bytes
    assert root.derive("mask").seed != root.derive("masK").seed
    assert root.derive("x").seed != root.seed
    assert KeyedPRNG.from_int(2).derive("mask").seed != a.seed
    # independent of how much of the parent stream was consumed
    consumed = KeyedPRNG.from_int(1)
    consumed.random_bytes(1000)
    assert consumed.derive("mask").seed == a.seed
    # the documented construction: SHAKE-256 over a domain tag and length-prefixed inputs
    shake = hashlib.shake_256()
    shake.update(b"heprim.prng.derive")
    shake.update((32).to_bytes(2, "big") + root.seed)
    shake.update((4).to_bytes(4, "big") + b"mask")
    assert a.seed == shake.digest(32)


@pytest.mark.parametrize("seed", [b"short", b"\x00" * 33, b""])
def test_keyed_prng_rejects_wrong_seed_length(seed: bytes) -> None:
    with pytest.raises(ParameterError, match="32 bytes"):
        KeyedPRNG(seed)


def test_keyed_prng_rejects_non_bytes_seed() -> None:
    with pytest.raises(ParameterError, match="bytes"):
        KeyedPRNG("a" * 32)  # type: ignore[arg-type]


def test_repr_hides_the_seed() -> None:
    rng = KeyedPRNG(b"\xab" * 32)
    assert "ab" not in repr(rng).lower()
    assert repr(SystemPRNG()) == "SystemPRNG()"


def test_negative_byte_counts_are_rejected() -> None:
    with pytest.raises(ParameterError):
        KeyedPRNG.from_int(0).random_bytes(-1)
    with pytest.raises(ParameterError):
        SystemPRNG().random_bytes(-1)


def test_system_prng_draws_bytes() -> None:
    rng = SystemPRNG()
    assert len(rng.random_bytes(64)) == 64
    assert rng.random_bytes(32) != rng.random_bytes(32)  # 2^-256 chance of a false failure


# ---------------------------------------------------------------------------- integer sampling


def test_randbits_range_and_errors(rng: KeyedPRNG) -> None:
    assert rng.randbits(0) == 0
    values = [rng.randbits(13) for _ in range(500)]
    assert all(0 <= v < 2**13 for v in values)
    assert max(values) >= 2**12  # the top bit is used
    with pytest.raises(ParameterError):
        rng.randbits(-1)


def test_randbits_matches_the_byte_stream() -> None:
    a, b = KeyedPRNG.from_int(3), KeyedPRNG.from_int(3)
    assert a.randbits(12) == int.from_bytes(b.random_bytes(2), "little") >> 4


def test_randbelow_is_in_range_and_uniform() -> None:
    rng = KeyedPRNG.from_int(11)
    n, draws = 7, 14_000
    counts = np.bincount([rng.randbelow(n) for _ in range(draws)], minlength=n)
    assert counts.size == n
    assert chi_square(counts, np.full(n, draws / n)) < CHI2_1E4[6]


def test_randbelow_rejects_instead_of_reducing() -> None:
    """n = 2^k + 1 would be badly biased by a modular reduction of k+1 bits; rejection is not."""
    rng = KeyedPRNG.from_int(12)
    n, draws = 3, 9000  # 2-bit words: 0, 1, 2 kept, 3 rejected
    counts = np.bincount([rng.randbelow(n) for _ in range(draws)], minlength=n)
    assert chi_square(counts, np.full(n, draws / n)) < CHI2_1E4[2]


@pytest.mark.parametrize("bad", [0, -5])
def test_randbelow_rejects_non_positive_bounds(bad: int) -> None:
    with pytest.raises(ParameterError):
        KeyedPRNG.from_int(0).randbelow(bad)


def test_randrange(rng: KeyedPRNG) -> None:
    assert all(-3 <= rng.randrange(-3, 4) < 4 for _ in range(200))
    assert rng.randrange(5, 6) == 5
    with pytest.raises(ParameterError, match="empty range"):
        rng.randrange(4, 4)


@given(st.integers(min_value=1, max_value=2**300))
def test_randbelow_property(n: int) -> None:
    assert 0 <= KeyedPRNG.from_int(n % 1000).randbelow(n) < n


def test_default_rng() -> None:
    assert isinstance(default_rng(None), SystemPRNG)
    rng = KeyedPRNG.from_int(0)
    assert default_rng(rng) is rng
    with pytest.raises(ParameterError, match="PRNG"):
        default_rng(np.random.default_rng(0))  # type: ignore[arg-type]


def test_custom_prng_subclass_gets_integer_sampling() -> None:
    class Counter(PRNG):
        def random_bytes(self, n: int) -> bytes:
            return bytes(range(n))

    assert Counter().randbits(16) == int.from_bytes(bytes([0, 1]), "little")
    assert Counter().random_uint32(1)[0] == int.from_bytes(bytes([0, 1, 2, 3]), "little")


# ---------------------------------------------------------------------------- bulk words


def test_random_words_are_the_little_endian_byte_stream() -> None:
    a, b = KeyedPRNG.from_int(4), KeyedPRNG.from_int(4)
    words = a.random_uint32(5)
    raw = b.random_bytes(20)
    assert words.dtype == np.uint32
    assert [int(w) for w in words] == [
        int.from_bytes(raw[4 * i : 4 * i + 4], "little") for i in range(5)
    ]
    wide = a.random_uint64(3)
    raw = b.random_bytes(24)
    assert wide.dtype == np.uint64
    assert [int(w) for w in wide] == [
        int.from_bytes(raw[8 * i : 8 * i + 8], "little") for i in range(3)
    ]
    assert wide.flags.writeable
    assert a.random_uint32(0).size == 0


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_random_words_reject_bad_counts(bad: object) -> None:
    with pytest.raises(ParameterError):
        KeyedPRNG.from_int(0).random_uint32(bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- uniform mod q


def test_uniform_mod_range_shape_and_determinism() -> None:
    moduli = [2, 7, 1 << 16, 1073479681, (1 << 40) + 15, (1 << 63) - 25]
    values = sample_uniform_mod(moduli, 3000, KeyedPRNG.from_int(5))
    assert values.shape == (6, 3000)
    assert values.dtype == np.uint64
    for row, q in zip(values, moduli, strict=True):
        assert int(row.max()) < q
        assert int(row.max()) >= (q - 1) * 0.99  # the whole range is reached
    again = sample_uniform_mod(moduli, 3000, KeyedPRNG.from_int(5))
    assert np.array_equal(values, again)  # a seed regenerates the residues


def test_uniform_mod_is_uniform() -> None:
    q, draws = 39, 39_000  # 6-bit words: 25 of 64 values rejected
    values = sample_uniform_mod([q], draws, KeyedPRNG.from_int(6))[0]
    counts = np.bincount(values.astype(np.int64), minlength=q)
    assert chi_square(counts, np.full(q, draws / q)) < CHI2_1E4[38]


def test_uniform_mod_uses_rejection_not_reduction() -> None:
    """q = 3: a reduction of 2-bit words would make 0 twice as likely."""
    draws = 30_000
    values = sample_uniform_mod([3], draws, KeyedPRNG.from_int(7))[0]
    counts = np.bincount(values.astype(np.int64), minlength=3)
    assert chi_square(counts, np.full(3, draws / 3)) < CHI2_1E4[2]


def test_uniform_mod_draws_from_the_given_stream() -> None:
    """q = 2^16 keeps every word, so the output is the masked 32-bit word stream itself."""
    values = sample_uniform_mod([1 << 16], 10, KeyedPRNG.from_int(8))[0]
    words = KeyedPRNG.from_int(8).random_uint32(10 * 11 // 10 + 16)
    assert [int(v) for v in values] == [int(w) & 0xFFFF for w in words[:10]]


@pytest.mark.parametrize("modulus", [1, 0, -7, 1 << 63, 2.5, True])
def test_uniform_mod_rejects_bad_moduli(modulus: object) -> None:
    with pytest.raises(ParameterError):
        sample_uniform_mod([modulus], 4, KeyedPRNG.from_int(0))  # type: ignore[list-item]


def test_uniform_mod_accepts_gmpy2_and_numpy_moduli() -> None:
    values = sample_uniform_mod([gmpy2.mpz(97), np.int64(101)], 50, KeyedPRNG.from_int(0))
    assert int(values[0].max()) < 97 and int(values[1].max()) < 101


@given(st.integers(min_value=2, max_value=2**62), st.integers(min_value=0, max_value=300))
def test_uniform_mod_property(q: int, count: int) -> None:
    values = sample_uniform_mod([q], count, KeyedPRNG.from_int(q % 97))
    assert values.shape == (1, count)
    assert all(int(v) < q for v in values[0])


# ---------------------------------------------------------------------------- small samplers


def test_ternary_values_and_uniformity() -> None:
    draws = 30_000
    values = sample_ternary(draws, KeyedPRNG.from_int(9))
    assert values.dtype == np.int64 and values.shape == (draws,)
    assert set(np.unique(values).tolist()) == {-1, 0, 1}
    counts = np.bincount(values + 1, minlength=3)
    assert chi_square(counts, np.full(3, draws / 3)) < CHI2_1E4[2]
    assert np.array_equal(values, sample_ternary(draws, KeyedPRNG.from_int(9)))
    assert sample_ternary(0).size == 0


def test_centered_binomial_distribution() -> None:
    eta, draws = 3, 40_000
    values = sample_centered_binomial(draws, eta, KeyedPRNG.from_int(10))
    assert values.min() >= -eta and values.max() <= eta
    # exact law: P(x) = C(2 eta, eta + x) / 4^eta
    expected = np.array([math.comb(2 * eta, eta + x) / 4**eta for x in range(-eta, eta + 1)])
    counts = np.bincount(values + eta, minlength=2 * eta + 1)
    assert chi_square(counts, expected * draws) < CHI2_1E4[6]
    wide = sample_centered_binomial(draws, 21, KeyedPRNG.from_int(10))
    assert abs(wide.var() - 10.5) < 0.4 and abs(wide.mean()) < 0.06


@pytest.mark.parametrize("eta", [0, 65, -1, 2.0, True])
def test_centered_binomial_rejects_bad_eta(eta: object) -> None:
    with pytest.raises(ParameterError):
        sample_centered_binomial(4, eta, KeyedPRNG.from_int(0))  # type: ignore[arg-type]


def test_discrete_gaussian_matches_the_exact_law() -> None:
    sigma, draws = 3.19, 60_000
    values = sample_discrete_gaussian(draws, sigma, KeyedPRNG.from_int(13))
    bound = math.floor(6 * sigma)
    assert values.min() >= -bound and values.max() <= bound
    assert abs(values.mean()) < 0.05
    assert abs(values.std() - sigma) < 0.05
    # chi-square against rho(x) = exp(-x^2 / 2 sigma^2), pooling the tails beyond 7
    support = np.arange(-bound, bound + 1)
    rho = np.exp(-(support.astype(float) ** 2) / (2 * sigma**2))
    law = rho / rho.sum()
    counts = np.bincount(values + bound, minlength=support.size)
    inner = np.abs(support) <= 7
    observed = np.append(counts[inner], counts[~inner].sum())
    expected = np.append(law[inner], law[~inner].sum()) * draws
    assert chi_square(observed, expected) < CHI2_1E4[15]


def test_discrete_gaussian_table_probabilities() -> None:
    """The CDT cell of 0 has mass rho(0) / sum rho to within 2^-60 (checked with Fractions)."""
    from heprim.math.prng import _gaussian_cdt

    bound, table = _gaussian_cdt(3.19, 6.0)
    assert table.size == 2 * bound
    assert np.all(np.diff(table.astype(object)) > 0)
    weights = [math.exp(-(x * x) / (2 * 3.19**2)) for x in range(-bound, bound + 1)]
    p0 = Fraction(int(table[bound]) - int(table[bound - 1]), 1 << 64)
    assert abs(float(p0) - weights[bound] / sum(weights)) < 1e-12


def test_discrete_gaussian_other_widths_and_errors() -> None:
    narrow = sample_discrete_gaussian(5000, 0.5, KeyedPRNG.from_int(14), tail=4)
    assert narrow.min() >= -2 and narrow.max() <= 2
    for bad in ({"sigma": 0.0}, {"sigma": -1.0}, {"sigma": "3"}, {"tail": 0.5}, {"tail": 30}):
        with pytest.raises(ParameterError):
            sample_discrete_gaussian(4, rng=KeyedPRNG.from_int(0), **bad)  # type: ignore[arg-type]


def test_samplers_default_to_the_system_prng() -> None:
    assert sample_ternary(8).shape == (8,)
    assert sample_discrete_gaussian(8).shape == (8,)
    assert sample_centered_binomial(8).shape == (8,)
    assert sample_uniform_mod([97], 8).shape == (1, 8)


@pytest.mark.parametrize("q", [2**32 - 1, 2**32, 2**32 + 1])
def test_uniform_mod_at_the_word_size(q: int) -> None:
    values = sample_uniform_mod([q], 500, KeyedPRNG.from_int(1))[0]
    assert int(values.max()) < q and int(values.max()) > q // 2
