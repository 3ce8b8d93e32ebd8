"""heprim.bfv.noise: the measured budget against its definition, the estimates, exhaustion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heprim import bfv
from heprim.bfv.scheme import decrypt_raw
from heprim.errors import KeyMismatchError, NoiseBudgetExhausted, ParameterError
from heprim.math.prng import KeyedPRNG

from .conftest import SMALL, KeySet, make_keys


def _budget_by_definition(ct: bfv.Ciphertext, keys: KeySet) -> int:
    """-log2(2 ||v||) from v = t/Q (c_0 + c_1 s) - m - t k, in exact rationals."""
    from fractions import Fraction

    q = ct.params.q_modulus_at(ct.level)
    t = ct.params.plain_modulus
    x = decrypt_raw(ct, keys.secret_key).to_ints()
    norm = Fraction(0)
    for value in x:
        scaled = Fraction(t * value, q)
        norm = max(norm, abs(scaled - round(scaled)))
    return max(0, q.bit_length() - (int(norm * q)).bit_length() - 1)


def test_budget_matches_the_definition(small: KeySet) -> None:
    encoder = bfv.BatchEncoder(small.params)
    ct = small.encryptor.encrypt(encoder.encode(np.arange(1024)))
    for current in (ct, small.evaluator.square_relin(ct), small.evaluator.mod_switch_to(ct, 2)):
        measured = bfv.invariant_noise_budget(current, small.secret_key)
        assert abs(measured - _budget_by_definition(current, small)) <= 1


def test_budget_decreases_as_expected(small: KeySet) -> None:
    encoder = bfv.BatchEncoder(small.params)
    sk = small.secret_key
    ev = small.evaluator
    ct = small.encryptor.encrypt(encoder.encode(np.arange(1024)))
    fresh = bfv.invariant_noise_budget(ct, sk)
    assert abs(fresh - bfv.estimate_fresh_budget(small.params)) <= 3
    symmetric = small.symmetric.encrypt(encoder.encode(np.arange(1024)))
    assert bfv.invariant_noise_budget(symmetric, sk) > fresh  # one error instead of three
    # additions cost at most a bit, plaintext products about log2(||m|| sqrt N)
    assert fresh - bfv.invariant_noise_budget(ct + ct, sk) <= 1
    assert fresh - bfv.invariant_noise_budget(ct + 5, sk) <= 1
    small_plain = encoder.encode(np.ones(1024, dtype=np.int64))
    after_plain = bfv.invariant_noise_budget(ct * small_plain, sk)
    assert 0 <= fresh - after_plain <= 5 + math.log2(1024) / 2 + 17
    # each multiplication costs about log2(t N / 3) bits (the estimate adds one bit of margin)
    cost = bfv.multiplication_cost_bits(small.params)
    budgets = [fresh]
    for _ in range(bfv.estimate_depth(small.params)):
        ct = ev.square_relin(ct)
        budgets.append(bfv.invariant_noise_budget(ct, sk))
    consumed = -np.diff(budgets)
    assert all(cost - 5 <= c <= cost + 1 for c in consumed), (budgets, cost)
    assert budgets[-1] > 0
    # modulus switching keeps the budget while the noise dominates the rounding
    switched = ev.mod_switch_to(ct, ct.level - 1)
    assert abs(bfv.invariant_noise_budget(switched, sk) - budgets[-1]) <= 2
    # and beyond the depth the budget is gone and decryption refuses
    ct = ev.square_relin(ev.square_relin(ct))
    assert bfv.invariant_noise_budget(ct, sk) == 0
    with pytest.raises(NoiseBudgetExhausted):
        small.decryptor.decrypt(ct)


def test_modulus_switching_of_a_fresh_ciphertext_costs_the_dropped_bits(small: KeySet) -> None:
    ct = small.encryptor.encrypt(bfv.Plaintext(small.params, [1]))
    fresh = bfv.invariant_noise_budget(ct, small.secret_key)
    low = small.evaluator.mod_switch_to(ct, 3)
    dropped = small.params.q[3].bit_length()
    lost = fresh - bfv.invariant_noise_budget(low, small.secret_key)
    assert dropped - 10 <= lost <= dropped  # the rounding noise replaces the fresh one


def test_estimates_are_monotone_in_the_presets() -> None:
    depths = [bfv.estimate_depth(bfv.Parameters.preset(n)) for n in bfv.PRESETS]
    assert depths == sorted(depths) and depths[0] >= 1
    assert bfv.estimate_fresh_budget(bfv.Parameters.preset("N8192-128"), level=1) < 10
    with pytest.raises(ParameterError, match="Parameters"):
        bfv.estimate_depth("N8192-128")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="Parameters"):
        bfv.multiplication_cost_bits(None)  # type: ignore[arg-type]


def test_budget_needs_the_matching_key(small: KeySet) -> None:
    ct = small.encryptor.encrypt(bfv.Plaintext(small.params, [1]))
    stranger = make_keys(SMALL, 41, galois=False)
    with pytest.raises(KeyMismatchError):
        bfv.invariant_noise_budget(ct, stranger.secret_key)


def test_seeded_randomness_gives_the_same_budget(small: KeySet) -> None:
    plain = bfv.Plaintext(small.params, [1])
    a = small.encryptor.encrypt(plain, rng=KeyedPRNG.from_int(3))
    b = small.encryptor.encrypt(plain, rng=KeyedPRNG.from_int(3))
    assert bfv.invariant_noise_budget(a, small.secret_key) == bfv.invariant_noise_budget(
        b, small.secret_key
    )
