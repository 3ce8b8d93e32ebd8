"""Circuits of the depth each preset allows, on random inputs, against numpy modulo t.

The depth is :func:`heprim.bfv.estimate_depth` (5 at N = 8192, 12 at N = 16384): a chain of that
many ciphertext multiplications (each relinearized, with a plaintext addition and a rotation
mixed in) must decrypt to the plaintext result. N = 32768 is kept to one multiplication.
"""

from __future__ import annotations

import numpy as np
import pytest

from heprim import bfv
from heprim.math.prng import KeyedPRNG


def _random_slots(rng: KeyedPRNG, n: int, t: int) -> np.ndarray:
    return (np.frombuffer(rng.random_bytes(8 * n), dtype=np.uint64) % np.uint64(t)).astype(np.int64)


def _chain(name: str, depth: int | None = None) -> None:
    params = bfv.Parameters.preset(name)
    n, t = params.degree, params.plain_modulus
    rng = KeyedPRNG.from_int(params.degree)
    keygen = bfv.KeyGenerator(params, rng=rng)
    evaluator = bfv.Evaluator(
        params, relin_keys=keygen.relin_keys(), galois_keys=keygen.galois_keys(steps=[1])
    )
    encoder = bfv.BatchEncoder(params)
    encryptor = bfv.Encryptor(keygen.public_key(), rng=rng)
    decryptor = bfv.Decryptor(keygen.secret_key)
    depth = bfv.estimate_depth(params) if depth is None else depth
    assert depth >= 1
    expected = _random_slots(rng, n, t)
    ct = encryptor.encrypt(encoder.encode(expected))
    half = n // 2
    for level in range(depth):
        factor = _random_slots(rng, n, t)
        ct = evaluator.multiply_relin(ct, encryptor.encrypt(encoder.encode(factor)))
        expected = expected * factor % t
        if level == 0:  # a rotation and a plaintext addition along the way
            ct = evaluator.rotate_rows(ct, 1) + encoder.encode(factor)
            rows = np.concatenate([np.roll(expected[:half], -1), np.roll(expected[half:], -1)])
            expected = (rows + factor) % t
    budget = bfv.invariant_noise_budget(ct, keygen.secret_key)
    assert budget > 0
    decoded = encoder.decode(decryptor.decrypt(ct), signed=False)
    assert np.array_equal(decoded, expected)


def test_depth_n4096() -> None:
    assert bfv.estimate_depth(bfv.Parameters.preset("N4096-128")) == 1
    _chain("N4096-128")


def test_depth_n8192() -> None:
    assert bfv.estimate_depth(bfv.Parameters.preset("N8192-128")) == 5
    _chain("N8192-128")


@pytest.mark.slow
def test_depth_n16384() -> None:
    assert bfv.estimate_depth(bfv.Parameters.preset("N16384-128")) == 12
    _chain("N16384-128")


@pytest.mark.slow
def test_one_multiplication_n32768() -> None:
    assert bfv.estimate_depth(bfv.Parameters.preset("N32768-128")) == 24
    _chain("N32768-128", depth=1)
