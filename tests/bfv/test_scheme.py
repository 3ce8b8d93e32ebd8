"""heprim.bfv.scheme: public- and secret-key encryption, decryption and its noise check."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim import bfv
from heprim.bfv.scheme import decrypt_raw
from heprim.errors import KeyMismatchError, NoiseBudgetExhausted, ParameterError
from heprim.math.prng import KeyedPRNG

from .conftest import SMALL, KeySet, centered, make_keys


@given(st.integers(0, 2**32))
def test_public_and_secret_key_encryption_round_trip(small: KeySet, seed: int) -> None:
    rng = KeyedPRNG.from_int(seed)
    values = small.random_slots(rng)
    encoder = bfv.BatchEncoder(small.params)
    plain = encoder.encode(values)
    for encryptor in (small.encryptor, small.symmetric):
        ct = encryptor.encrypt(plain, rng=rng)
        assert ct.level == small.params.max_level and ct.size == 2
        assert np.array_equal(encoder.decode(small.decryptor.decrypt(ct)), values)


def test_encryption_is_randomised_and_reproducible(small: KeySet) -> None:
    plain = bfv.BatchEncoder(small.params).encode([1, 2, 3])
    a = small.encryptor.encrypt(plain, rng=KeyedPRNG.from_int(1))
    b = small.encryptor.encrypt(plain, rng=KeyedPRNG.from_int(1))
    c = small.encryptor.encrypt(plain, rng=KeyedPRNG.from_int(2))
    assert a == b and a != c and a.__eq__(0) is NotImplemented
    assert a.seed is None


def test_symmetric_ciphertexts_carry_the_seed_of_c1(small: KeySet) -> None:
    from heprim.bfv.keys import expand_uniform

    ct = small.symmetric.encrypt(bfv.Plaintext(small.params, [5]))
    assert ct.seed is not None and len(ct.seed) == 32
    ring = ct.polys.ring
    assert ct.polys[1] == expand_uniform(ring, ct.seed, ()).intt()
    assert small.symmetric.symmetric and not small.encryptor.symmetric
    assert (ct + ct).seed is None  # derived ciphertexts lose it


def test_fresh_noise_is_small(small: KeySet) -> None:
    """c_0 + c_1 s - round(Q m / t) is the error: e for symmetric, e_0 + e_1 s - e u otherwise."""
    plain = bfv.BatchEncoder(small.params).encode(np.arange(100))
    for encryptor, bound in ((small.symmetric, 19), (small.encryptor, 19 * (1 + 2 * 1024))):
        ct = encryptor.encrypt(plain)
        error = (decrypt_raw(ct, small.secret_key) - plain.scaled(ct.level)).to_centered_ints()
        assert 0 < max(abs(e) for e in error) <= bound


def test_decrypt_at_every_level(small: KeySet) -> None:
    values = np.arange(-500, 524)
    encoder = bfv.BatchEncoder(small.params)
    ct = small.encryptor.encrypt(encoder.encode(values))
    for level in range(small.params.max_level, 0, -1):
        low = small.evaluator.mod_switch_to(ct, level)
        assert low.level == level
        assert np.array_equal(encoder.decode(small.decryptor.decrypt(low)), values)


def test_even_plain_modulus(even: KeySet) -> None:
    encoder = bfv.CoefficientEncoder(even.params)
    values = np.arange(-2048, 2048, 8)
    for encryptor in (even.encryptor, even.symmetric):
        ct = encryptor.encrypt(encoder.encode(values))
        decoded = encoder.decode(even.decryptor.decrypt(ct))[: len(values)]
        assert np.array_equal(decoded, centered(values, 4096))
        doubled = ct + ct
        expected = centered(2 * values, 4096)
        assert np.array_equal(
            encoder.decode(even.decryptor.decrypt(doubled))[: len(values)], expected
        )


def test_exhausted_noise_raises_instead_of_returning_garbage(small: KeySet) -> None:
    encoder = bfv.BatchEncoder(small.params)
    ct = small.encryptor.encrypt(encoder.encode(np.arange(1024)))
    for _ in range(bfv.estimate_depth(small.params) + 2):  # two beyond the depth
        ct = small.evaluator.square_relin(ct)
    with pytest.raises(NoiseBudgetExhausted, match="too large"):
        small.decryptor.decrypt(ct)


def test_random_ciphertexts_are_caught() -> None:
    """A ciphertext of uniform noise (no valid encryption) is refused, not decoded."""
    keys = make_keys(SMALL, 11, galois=False)
    rng = KeyedPRNG.from_int(12)
    ring = keys.params.ring_q
    residues = np.array(ring.sample_uniform(rng, shape=(2,)).data)
    ct = bfv.Ciphertext.from_residues(keys.params, residues, key_id=keys.secret_key.key_id)
    with pytest.raises(NoiseBudgetExhausted):
        keys.decryptor.decrypt(ct)


def test_refusals(small: KeySet, multi: KeySet) -> None:
    plain = bfv.Plaintext(small.params, [1])
    with pytest.raises(ParameterError, match=r"PublicKey or bfv\.SecretKey"):
        bfv.Encryptor("key")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="Plaintext"):
        small.encryptor.encrypt([1])  # type: ignore[arg-type]
    with pytest.raises(KeyMismatchError, match="other BFV parameters"):
        multi.encryptor.encrypt(plain)
    with pytest.raises(ParameterError, match="SecretKey"):
        bfv.Decryptor(small.public_key)  # type: ignore[arg-type]
    ct = small.encryptor.encrypt(plain)
    with pytest.raises(KeyMismatchError, match="other BFV parameters"):
        multi.decryptor.decrypt(ct)
    stranger = make_keys(SMALL, 99, galois=False)
    with pytest.raises(KeyMismatchError, match="not under this secret key"):
        stranger.decryptor.decrypt(ct)
    with pytest.raises(ParameterError, match="Ciphertext"):
        small.decryptor.decrypt(plain)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="SecretKey"):
        decrypt_raw(ct, small.public_key)  # type: ignore[arg-type]
    assert "public key" in repr(small.encryptor) and "Decryptor" in repr(small.decryptor)
