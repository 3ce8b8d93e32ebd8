"""Paillier against python-paillier (phe): encrypt (DJN, key holder, standard), decrypt, add, mul.

    pytest benchmarks/bench_paillier.py --benchmark-enable            # 2048-bit keys
    HEPRIM_BENCH_FULL=1 pytest benchmarks/bench_paillier.py --benchmark-enable   # + 3072 bits

Both libraries use the same key (phe's keys are built from heprim's fixed test primes), and every
group ("encrypt-2048", "decrypt-2048", ...) holds heprim's variants next to phe's. The DJN table
of ``h_s`` (and the key holder's tables modulo ``p**2`` and ``q**2``) are built before timing
(``precompute()``), as a long-lived key would have them. Targets: public DJN >= 10x phe's encrypt,
key-holder encryption (DJN by CRT, its default) >= 3x (expected 15-25x), the key holder's
``standard`` mode (textbook distribution by CRT) ~3.5x, decrypt/add/mul no slower.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import pytest
from _paillier_keys import fixed_key, phe_pair

from heprim.paillier import PrivateKey, PublicKey

SIZES = [2048, 3072] if os.environ.get("HEPRIM_BENCH_FULL") == "1" else [2048]
VALUE = 1234567891011
SCALAR = 2**31 - 19


@cache
def heprim_keys(bits: int) -> tuple[PublicKey, PrivateKey]:
    sk = fixed_key(bits, seed=bits)
    sk.public_key.precompute()
    sk.precompute()
    return sk.public_key, sk


@cache
def phe_keys(bits: int) -> tuple[Any, Any]:
    return phe_pair(heprim_keys(bits)[1])


def _group(benchmark: Any, op: str, bits: int, lib: str) -> None:
    benchmark.group = f"{op}-{bits}"
    benchmark.extra_info["library"] = lib


# ------------------------------------------------------------------ encrypt


@pytest.mark.parametrize("bits", SIZES)
def test_encrypt_heprim_djn(benchmark: Any, bits: int) -> None:
    pk, _ = heprim_keys(bits)
    _group(benchmark, "encrypt", bits, "heprim djn")
    benchmark(pk.encrypt, VALUE)


@pytest.mark.parametrize("bits", SIZES)
def test_encrypt_heprim_keyholder_djn(benchmark: Any, bits: int) -> None:
    pk, sk = heprim_keys(bits)
    _group(benchmark, "encrypt", bits, "heprim key holder djn (crt)")
    x = benchmark(sk.encrypt, VALUE)
    assert sk.decrypt(x) == VALUE and x.public_key == pk


@pytest.mark.parametrize("bits", SIZES)
def test_encrypt_heprim_keyholder_standard(benchmark: Any, bits: int) -> None:
    _, sk = heprim_keys(bits)
    _group(benchmark, "encrypt", bits, "heprim key holder standard (crt)")
    x = benchmark(sk.encrypt, VALUE, mode="standard")
    assert sk.decrypt(x) == VALUE


@pytest.mark.parametrize("bits", SIZES)
def test_encrypt_heprim_standard(benchmark: Any, bits: int) -> None:
    pk, _ = heprim_keys(bits)
    _group(benchmark, "encrypt", bits, "heprim standard")
    benchmark(pk.encrypt, VALUE, mode="standard")


@pytest.mark.parametrize("bits", SIZES)
def test_encrypt_phe(benchmark: Any, bits: int) -> None:
    pub, _ = phe_keys(bits)
    _group(benchmark, "encrypt", bits, "phe")
    benchmark(pub.encrypt, VALUE)


# ------------------------------------------------------------------ decrypt


@pytest.mark.parametrize("bits", SIZES)
def test_decrypt_heprim(benchmark: Any, bits: int) -> None:
    pk, sk = heprim_keys(bits)
    x = pk.encrypt(VALUE)
    _group(benchmark, "decrypt", bits, "heprim")
    assert benchmark(sk.decrypt, x) == VALUE


@pytest.mark.parametrize("bits", SIZES)
def test_decrypt_phe(benchmark: Any, bits: int) -> None:
    pub, priv = phe_keys(bits)
    x = pub.encrypt(VALUE)
    _group(benchmark, "decrypt", bits, "phe")
    assert benchmark(priv.decrypt, x) == VALUE


# ------------------------------------------------------------------ ct + ct, ct * scalar


@pytest.mark.parametrize("bits", SIZES)
def test_add_heprim(benchmark: Any, bits: int) -> None:
    pk, _ = heprim_keys(bits)
    a, b = pk.encrypt(VALUE), pk.encrypt(-VALUE)
    _group(benchmark, "add", bits, "heprim")
    benchmark(a.__add__, b)


@pytest.mark.parametrize("bits", SIZES)
def test_add_phe(benchmark: Any, bits: int) -> None:
    pub, _ = phe_keys(bits)
    a, b = pub.encrypt(VALUE), pub.encrypt(-VALUE)
    _group(benchmark, "add", bits, "phe")
    benchmark(a.__add__, b)


@pytest.mark.parametrize("bits", SIZES)
def test_mul_heprim(benchmark: Any, bits: int) -> None:
    pk, _ = heprim_keys(bits)
    a = pk.encrypt(VALUE)
    _group(benchmark, "mul", bits, "heprim")
    benchmark(a.__mul__, SCALAR)


@pytest.mark.parametrize("bits", SIZES)
def test_mul_phe(benchmark: Any, bits: int) -> None:
    pub, _ = phe_keys(bits)
    a = pub.encrypt(VALUE)
    _group(benchmark, "mul", bits, "phe")
    benchmark(a.__mul__, SCALAR)
