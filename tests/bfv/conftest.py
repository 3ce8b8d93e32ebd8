"""Shared BFV fixtures: small (insecure) parameter sets and their keys, built once per session.

The sizes are chosen for speed, not security (hence ``allow_insecure=True``): the logic does not
depend on ``N``, and the presets have their own depth tests (``test_depth.py``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pytest

from heprim import bfv
from heprim.math.prng import KeyedPRNG

T = 65537


def insecure(literal: bfv.ParametersLiteral) -> bfv.Parameters:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bfv.Parameters(literal, allow_insecure=True)


#: N = 1024, Q of 4 x 27 bits, one special prime: depth 2 at t = 65537.
SMALL = bfv.ParametersLiteral(1024, T, log_q=(27,) * 4, log_p=(28,))
#: N = 256: cheap enough to test every rotation step.
TINY = bfv.ParametersLiteral(256, T, log_q=(27,) * 3, log_p=(28,))
#: Two special primes: digits of two primes (the last digit has one), the BaseConverter path.
MULTI = bfv.ParametersLiteral(512, T, log_q=(25,) * 5, log_p=(26, 26))
#: An even plain modulus (no batching): the coefficient encoder and the mod-4t decryption path.
EVEN = bfv.ParametersLiteral(512, 1 << 12, log_q=(27,) * 3, log_p=(28,))


@dataclass
class KeySet:
    params: bfv.Parameters
    keygen: bfv.KeyGenerator
    secret_key: bfv.SecretKey
    public_key: bfv.PublicKey
    relin_keys: bfv.RelinKeys
    galois_keys: bfv.GaloisKeys
    evaluator: bfv.Evaluator
    encryptor: bfv.Encryptor
    symmetric: bfv.Encryptor
    decryptor: bfv.Decryptor

    def random_slots(self, rng: KeyedPRNG) -> np.ndarray:
        """Uniform values modulo t, as signed integers in (-t/2, t/2]."""
        t = self.params.plain_modulus
        raw = np.frombuffer(rng.random_bytes(8 * self.params.degree), dtype=np.uint64)
        values = (raw % np.uint64(t)).astype(np.int64)
        values[values > t // 2] -= t
        return values


def make_keys(literal: bfv.ParametersLiteral, seed: int, *, galois: bool = True) -> KeySet:
    params = insecure(literal)
    rng = KeyedPRNG.from_int(seed)
    keygen = bfv.KeyGenerator(params, rng=rng)
    relin = keygen.relin_keys()
    gk = keygen.galois_keys() if galois else keygen.galois_keys(steps=[1])
    return KeySet(
        params=params,
        keygen=keygen,
        secret_key=keygen.secret_key,
        public_key=keygen.public_key(),
        relin_keys=relin,
        galois_keys=gk,
        evaluator=bfv.Evaluator(params, relin_keys=relin, galois_keys=gk),
        encryptor=bfv.Encryptor(keygen.public_key(), rng=rng),
        symmetric=bfv.Encryptor(keygen.secret_key, rng=rng),
        decryptor=bfv.Decryptor(keygen.secret_key),
    )


@pytest.fixture(scope="session")
def small() -> KeySet:
    return make_keys(SMALL, 1)


@pytest.fixture(scope="session")
def tiny() -> KeySet:
    return make_keys(TINY, 2)


@pytest.fixture(scope="session")
def multi() -> KeySet:
    return make_keys(MULTI, 3)


@pytest.fixture(scope="session")
def even() -> KeySet:
    return make_keys(EVEN, 4, galois=False)


def centered(values: np.ndarray, t: int) -> np.ndarray:
    """Reduce integers modulo t into (-t/2, t/2], as the decoders return them."""
    out = np.mod(values, t).astype(np.int64)
    out[out > t // 2] -= t
    return out
