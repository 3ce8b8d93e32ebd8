"""Paillier keys for the benchmarks, from heprim's fixed test primes (no prime search per run).

The primes are those of ``tests/vectors/paillier_test_primes.json`` (provenance in
``tests/vectors/README.md``); :func:`phe_pair` gives python-paillier the very same key, so the
two libraries are timed on the same modulus.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from heprim.errors import InsecureParametersWarning
from heprim.math.prng import KeyedPRNG
from heprim.paillier import PrivateKey

PRIMES = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "paillier_test_primes.json"


def fixed_key(bits: int, *, seed: int = 1) -> PrivateKey:
    """The ``bits``-bit test key, its ``h_s`` drawn from ``KeyedPRNG.from_int(seed)``."""
    entry = json.loads(PRIMES.read_text())["keys"][str(bits)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        return PrivateKey.from_primes(
            int(entry["p"], 16),
            int(entry["q"], 16),
            allow_insecure=True,  # smoke runs may use the small test keys
            rng=KeyedPRNG.from_int(seed),
        )


def phe_pair(sk: PrivateKey) -> tuple[Any, Any]:
    """python-paillier's ``(public, private)`` key on the primes of ``sk`` (skips without phe)."""
    paillier = pytest.importorskip("phe.paillier")
    pub = paillier.PaillierPublicKey(int(sk.public_key.n))
    return pub, paillier.PaillierPrivateKey(pub, int(sk.p), int(sk.q))
