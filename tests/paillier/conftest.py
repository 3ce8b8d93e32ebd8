"""Shared Paillier fixtures: key pairs from the fixed primes of tests/vectors (no key generation).

``paillier_keypair(bits)`` returns ``(public_key, private_key)`` for 512, 1024, 2048 or 3072 bits;
keys below 2048 bits are test-only and built with ``allow_insecure=True`` (the warning is
silenced here). The session fixtures ``keys512``, ``keys1024`` and ``keys2048`` wrap it.
"""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import pytest

from heprim.errors import InsecureParametersWarning
from heprim.math.prng import KeyedPRNG
from heprim.paillier.keys import PrivateKey, PublicKey

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


@functools.cache
def fixed_primes(bits: int) -> tuple[int, int]:
    entry = json.loads((VECTORS / "paillier_test_primes.json").read_text())["keys"][str(bits)]
    return int(entry["p"], 16), int(entry["q"], 16)


@functools.cache
def paillier_keypair(bits: int) -> tuple[PublicKey, PrivateKey]:
    p, q = fixed_primes(bits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        sk = PrivateKey.from_primes(p, q, allow_insecure=True, rng=KeyedPRNG.from_int(bits))
    return sk.public_key, sk


@pytest.fixture(scope="session")
def keys512() -> tuple[PublicKey, PrivateKey]:
    return paillier_keypair(512)


@pytest.fixture(scope="session")
def keys1024() -> tuple[PublicKey, PrivateKey]:
    return paillier_keypair(1024)


@pytest.fixture(scope="session")
def keys2048() -> tuple[PublicKey, PrivateKey]:
    return paillier_keypair(2048)
