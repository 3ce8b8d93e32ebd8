"""heprim.bfv.params: literals, validation (every refusal), presets against the HE standard."""

from __future__ import annotations

import json
import math
import warnings

import pytest

from heprim import bfv
from heprim.bfv.params import (
    HE_STANDARD_MAX_BITS,
    PRESETS,
    Parameters,
    ParametersLiteral,
    aux_count,
    max_modulus_bits,
)
from heprim.errors import InsecureParametersWarning, ParameterError
from heprim.math.ntheory import is_probable_prime
from heprim.ring import ntt_primes
from heprim.ring.rns import MAX_BASIS_SIZE

from .conftest import SMALL, insecure

# The HomomorphicEncryption.org standard (Albrecht et al. 2018), Table 1, "uniform ternary"
# secrets, classical security, copied from the published table (also SEAL's hestdparms.h).
STANDARD_128 = {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881}


def test_standard_table_is_the_published_one() -> None:
    assert dict(HE_STANDARD_MAX_BITS[128]) == STANDARD_128
    assert HE_STANDARD_MAX_BITS[192][8192] == 152
    assert HE_STANDARD_MAX_BITS[256][32768] == 476
    assert max_modulus_bits(4096) == 109
    assert max_modulus_bits(512) is None
    with pytest.raises(ParameterError, match="security"):
        max_modulus_bits(4096, 100)


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_are_128_bit_secure_and_batch(name: str) -> None:
    params = Parameters.preset(name)
    assert params.security_level == 128
    assert params.total_bits <= STANDARD_128[params.degree]
    # Counted as SEAL does (sum of bit lengths) -- never below log2(QP):
    assert params.total_bits >= math.log2(params.q_modulus * params.p_modulus)
    assert params.batching and params.slots == params.degree
    assert params.plain_modulus == 65537
    # Special primes at least as large as every ciphertext prime (key-switching noise / P).
    assert min(params.p) >= max(params.q) or len(params.p) > 1
    for prime in params.q + params.p:
        assert prime < 1 << 30 and prime % (2 * params.degree) == 1 and is_probable_prime(prime)
    # The whole budget is used: one more prime of the same size would not fit.
    size = max(p.bit_length() for p in params.q)
    assert params.total_bits + size > STANDARD_128[params.degree]
    assert Parameters.preset(name) is params  # cached


def test_preset_sizes() -> None:
    assert [len(Parameters.preset(n).q) for n in PRESETS] == [3, 7, 14, 27]
    assert [len(Parameters.preset(n).p) for n in PRESETS] == [1, 1, 1, 3]


def test_unknown_preset() -> None:
    with pytest.raises(ParameterError, match="N8192-128"):
        Parameters.preset("N8192")


def test_literal_with_explicit_primes_equals_generated() -> None:
    generated = Parameters(ParametersLiteral(4096, 65537, log_q=(27,) * 3, log_p=(27,)))
    explicit = Parameters(generated.literal)
    assert explicit == generated and hash(explicit) == hash(generated)
    assert explicit.fingerprint == generated.fingerprint
    assert explicit == Parameters.preset("N4096-128")
    # The special prime is the largest of its size (drawn first).
    assert generated.p[0] > max(generated.q)
    assert generated.q == tuple(sorted(generated.q, reverse=True))


def test_literal_from_mapping_and_to_dict() -> None:
    literal = PRESETS["N4096-128"]
    text = json.dumps(literal.to_dict())
    assert Parameters(json.loads(text)) == Parameters.preset("N4096-128")
    with pytest.raises(ParameterError, match="literal"):
        Parameters({"degree": 4096, "bogus": 1})
    with pytest.raises(ParameterError, match="ParametersLiteral"):
        Parameters(4096)  # type: ignore[arg-type]


def test_immutable() -> None:
    params = Parameters.preset("N4096-128")
    with pytest.raises(AttributeError):
        params.degree = 8192  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del params.degree  # type: ignore[misc]


def test_fingerprint_depends_on_everything() -> None:
    base = insecure(SMALL)
    other_t = insecure(ParametersLiteral(1024, 12289, q=base.q, p=base.p))
    other_q = insecure(ParametersLiteral(1024, 65537, q=base.q[:3], p=base.p))
    other_p = insecure(ParametersLiteral(1024, 65537, q=base.q, p=()))
    prints = {p.fingerprint for p in (base, other_t, other_q, other_p)}
    assert len(prints) == 4
    assert base != other_t and base != "params"


def test_insecure_refused_then_warns() -> None:
    literal = ParametersLiteral(4096, 65537, log_q=(27,) * 4, log_p=(27,))  # 135 > 109 bits
    with pytest.raises(ParameterError, match="109"):
        Parameters(literal)
    with pytest.warns(InsecureParametersWarning, match="135 bits"):
        params = Parameters(literal, allow_insecure=True)
    assert params.security_level is None and "INSECURE" in repr(params)
    with pytest.raises(ParameterError, match="no 128-bit entry"):
        Parameters(ParametersLiteral(512, 65537, log_q=(20,)))
    with pytest.raises(ParameterError, match="allow_insecure"):
        Parameters(literal, allow_insecure="yes")  # type: ignore[arg-type]


def test_higher_security_levels_are_reported() -> None:
    params = Parameters(ParametersLiteral(8192, 65537, log_q=(27,) * 3, log_p=(27,)))
    assert params.security_level == 256  # 108 bits <= 118
    params = Parameters(ParametersLiteral(8192, 65537, log_q=(27,) * 4, log_p=(27,)))
    assert params.security_level == 192  # 135 bits <= 152


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        (ParametersLiteral(1000, 65537, log_q=(27,)), "power of two"),
        (ParametersLiteral(True, 65537, log_q=(27,)), "must be an int"),  # type: ignore[arg-type]
        (ParametersLiteral(4096, 1, log_q=(27,)), r"\[2, 2\^30\)"),
        (ParametersLiteral(4096, 1 << 30, log_q=(27,)), r"\[2, 2\^30\)"),
        (ParametersLiteral(4096, 1 << 28, log_q=(27,)), "even plain modulus"),
        (ParametersLiteral(4096, 65537.0, log_q=(27,)), "integer"),  # type: ignore[arg-type]
        (ParametersLiteral(4096, 65537), "at least one ciphertext prime"),
        (ParametersLiteral(4096, 65537, q=(12289,), log_q=(27,)), "not both"),
        (ParametersLiteral(4096, 65537, p=(12289,), log_p=(27,)), "not both"),
        (ParametersLiteral(4096, 65537, q=(65537 * 3,)), "NTT-friendly"),
        (ParametersLiteral(4096, 65537, log_q=(31,)), r"\[2, 30\]"),
        (ParametersLiteral(4096, 65537, log_q=(14,) * 50), "primes q = 1 mod 8192 exist"),
        (ParametersLiteral(1024, 65537, log_q=(15,) * 2), "fewer than 2 primes of exactly 15"),
        (ParametersLiteral(4096, 65537, log_q="27"), "sequence"),  # type: ignore[arg-type]
        (ParametersLiteral(4096, 65537, log_q=(27.0,)), "integer"),  # type: ignore[arg-type]
    ],
)
def test_refusals_explain(literal: ParametersLiteral, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        insecure(literal)


def test_prime_refusals() -> None:
    q = ntt_primes(1024, 3, bits=27)
    with pytest.raises(ParameterError, match="distinct"):
        insecure(ParametersLiteral(1024, 65537, q=(q[0], q[1]), p=(q[0],)))
    with pytest.raises(ParameterError, match="distinct"):
        insecure(ParametersLiteral(1024, 65537, q=(q[0], q[0])))
    # A prime that is NTT-friendly for N = 1024 but not for N = 4096.
    small_n = next(p for p in ntt_primes(1024, 20, bits=27) if p % 8192 != 1)
    with pytest.raises(ParameterError, match="1 mod 2N"):
        insecure(ParametersLiteral(4096, 65537, q=(small_n,)))
    # t equal to a ciphertext prime
    with pytest.raises(ParameterError, match="must not be one of"):
        insecure(ParametersLiteral(1024, q[1], q=(q[0], q[1])))
    with pytest.raises(ParameterError, match="far smaller than Q"):
        insecure(ParametersLiteral(1024, q[0] * 2 + 1, q=(q[0],)))


def test_too_many_primes_for_the_exact_multiplication() -> None:
    with pytest.raises(ParameterError, match="HPS multiplication"):
        insecure(ParametersLiteral(1024, 65537, log_q=(25,) * 35))


def test_auxiliary_basis_bound() -> None:
    params = Parameters.preset("N8192-128")
    count = aux_count(params.q_modulus, params.plain_modulus, params.degree, 2, params.aux_primes)
    assert count is not None and len(params.q) + count <= MAX_BASIS_SIZE
    aux = math.prod(params.aux_primes[:count])
    assert aux > 2 * params.plain_modulus * 2 * params.degree * params.q_modulus
    assert math.prod(params.aux_primes[: count - 1]) <= 4 * 65537 * 8192 * params.q_modulus
    assert not set(params.aux_primes) & set(params.q + params.p)
    assert aux_count(params.q_modulus, 65537, 8192, 2, params.aux_primes[:2]) is None


def test_batching_explanations() -> None:
    assert "slots" in Parameters.preset("N4096-128").explain_batching()
    not_prime = insecure(ParametersLiteral(1024, 1 << 12, log_q=(27,) * 2))
    assert not not_prime.batching and not_prime.slots == 0
    assert "is not prime" in not_prime.explain_batching()
    assert insecure(ParametersLiteral(1024, 40961, log_q=(27,) * 2)).batching  # 1 mod 2048
    wrong = insecure(ParametersLiteral(1024, 257, log_q=(27,) * 2))
    assert "is not 1 mod 2N = 2048" in wrong.explain_batching()
    assert "12289" in wrong.explain_batching()  # the first prime = 1 mod 2048 suggested
    with pytest.raises(ParameterError, match="batching needs a prime"):
        bfv.BatchEncoder(wrong)


def test_derived_quantities() -> None:
    params = Parameters.preset("N8192-128")
    assert params.max_level == 7
    assert params.q_modulus == math.prod(params.q) == params.q_modulus_at(7)
    assert params.q_modulus_at(1) == params.q[0]
    assert params.ring_q.moduli == params.q
    assert "N=8192" in repr(params) and "128-bit" in repr(params)


def test_insecure_warning_names_the_category() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        insecure_params = Parameters(SMALL, allow_insecure=True)
    assert insecure_params.allow_insecure
    assert any(issubclass(w.category, InsecureParametersWarning) for w in caught)
