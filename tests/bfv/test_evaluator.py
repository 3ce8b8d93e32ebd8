"""heprim.bfv.evaluator: relinearization, every rotation step, slot sums, key checks."""

from __future__ import annotations

import numpy as np
import pytest

from heprim import bfv
from heprim.bfv.evaluator import _naf
from heprim.errors import KeyMismatchError, ParameterError
from heprim.math.prng import KeyedPRNG

from .conftest import SMALL, KeySet, centered, make_keys

T = 65537


def _decode(keys: KeySet, ct: bfv.Ciphertext) -> np.ndarray:
    return bfv.BatchEncoder(keys.params).decode(keys.decryptor.decrypt(ct))


def _rows(values: np.ndarray, steps: int) -> np.ndarray:
    half = len(values) // 2
    return np.concatenate([np.roll(values[:half], -steps), np.roll(values[half:], -steps)])


def test_every_rotation_step(tiny: KeySet) -> None:
    rng = KeyedPRNG.from_int(5)
    values = tiny.random_slots(rng)
    ct = tiny.encryptor.encrypt(bfv.BatchEncoder(tiny.params).encode(values))
    row = tiny.params.degree // 2
    for steps in range(-row + 1, row):
        rotated = tiny.evaluator.rotate_rows(ct, steps)
        assert np.array_equal(_decode(tiny, rotated), _rows(values, steps)), steps
    assert tiny.evaluator.rotate_rows(ct, row) is ct  # a full turn: nothing to do
    swapped = tiny.evaluator.rotate_columns(ct)
    assert np.array_equal(_decode(tiny, swapped), np.concatenate([values[row:], values[:row]]))


@pytest.mark.parametrize("fixture", ["small", "multi"])
def test_relinearize_and_rotate(fixture: str, request: pytest.FixtureRequest) -> None:
    keys: KeySet = request.getfixturevalue(fixture)
    rng = KeyedPRNG.from_int(6)
    encoder = bfv.BatchEncoder(keys.params)
    x, y = keys.random_slots(rng), keys.random_slots(rng)
    a, b = keys.encryptor.encrypt(encoder.encode(x)), keys.symmetric.encrypt(encoder.encode(y))
    ev = keys.evaluator
    product = ev.multiply(a, b)
    relin = ev.relinearize(product)
    assert product.size == 3 and relin.size == 2 and ev.relinearize(relin) is relin
    assert np.array_equal(_decode(keys, relin), centered(x * y, T))
    assert np.array_equal(_decode(keys, ev.multiply_relin(a, b)), centered(x * y, T))
    assert np.array_equal(_decode(keys, ev.square_relin(a)), centered(x * x, T))
    assert np.array_equal(_decode(keys, ev.rotate_rows(relin, 3)), centered(_rows(x * y, 3), T))
    # at lower levels the keys are projected
    for level in (2, 1):
        low = ev.mod_switch_to(a, level)
        assert np.array_equal(_decode(keys, ev.rotate_rows(low, -1)), _rows(x, -1))
    low = ev.mod_switch_to(ev.multiply(a, a), 2)
    assert np.array_equal(_decode(keys, ev.relinearize(low)), centered(x * x, T))


def test_keyless_methods_match_operators(small: KeySet) -> None:
    ev = small.evaluator
    encoder = bfv.BatchEncoder(small.params)
    x = np.arange(1024) - 512
    a = small.encryptor.encrypt(encoder.encode(x))
    p = encoder.encode(x[::-1].copy())
    assert ev.add(a, a) == a + a and ev.sub(a, a) == a - a and ev.negate(a) == -a
    assert ev.add_plain(a, p) == a + p and ev.sub_plain(a, p) == a - p
    assert ev.multiply_plain(a, p) == a * p and ev.multiply_scalar(a, 7) == a * 7
    assert ev.square(a) == a * a and ev.multiply(a, a) == a * a
    assert ev.mod_switch_to_next(a).level == 3
    assert np.array_equal(_decode(small, ev.mod_switch_to_next(a)), x)
    bottom = ev.mod_switch_to(a, 1)
    with pytest.raises(ParameterError, match="no prime left"):
        ev.mod_switch_to_next(bottom)


def test_sum_slots_and_dot_product(small: KeySet) -> None:
    rng = KeyedPRNG.from_int(8)
    encoder = bfv.BatchEncoder(small.params)
    x = small.random_slots(rng) % 100
    w = small.random_slots(rng) % 100
    ct = small.encryptor.encrypt(encoder.encode(x))
    total = small.evaluator.sum_slots(ct)
    assert np.array_equal(_decode(small, total), centered(np.full(1024, int(x.sum())), T))
    dot = small.evaluator.sum_slots(ct * encoder.encode(w))
    assert _decode(small, dot)[0] == centered(np.array([int(x @ w)]), T)[0]


def test_apply_galois_with_a_chosen_element(small: KeySet) -> None:
    keys = small.keygen.galois_keys(steps=[], row_swap=False, elements=[5])
    ev = bfv.Evaluator(small.params, galois_keys=keys)
    coefficients = bfv.CoefficientEncoder(small.params)
    values = np.arange(1, 11)
    ct = small.encryptor.encrypt(coefficients.encode(values))
    moved = coefficients.decode(small.decryptor.decrypt(ev.apply_galois(ct, 5)))
    expected = np.zeros(1024, dtype=np.int64)
    for i, v in enumerate(values.tolist()):  # X^i -> X^(5i), negated past N
        e = 5 * i % 2048
        expected[e % 1024] += v if e < 1024 else -v
    assert np.array_equal(moved, expected)
    assert ev.apply_galois(ct, 1) is ct and ev.apply_galois(ct, 2049) is ct
    with pytest.raises(ParameterError, match="no Galois key"):
        ev.apply_galois(ct, 7)
    with pytest.raises(ParameterError, match="an int"):
        ev.apply_galois(ct, 5.0)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="relinearize"):
        ev.apply_galois(ct * ct, 5)


def test_rotation_plans_use_the_keys_available(small: KeySet) -> None:
    only_positive = small.keygen.galois_keys(steps=[1, 2, 4, 8, 16, 32, 64, 128, 256])
    ev = bfv.Evaluator(small.params, galois_keys=only_positive)
    encoder = bfv.BatchEncoder(small.params)
    values = np.arange(1024)
    ct = small.encryptor.encrypt(encoder.encode(values))
    for steps in (7, -1, 255, 300):
        assert np.array_equal(_decode(small, ev.rotate_rows(ct, steps)), _rows(values, steps))
    assert ev._rotation_plan(ct, 7) and len(ev._rotation_plan(ct, 7)) == 3  # 4 + 2 + 1
    assert len(small.evaluator._rotation_plan(ct, 7)) == 2  # 8 - 1 with both signs
    assert len(small.evaluator._rotation_plan(ct, 1)) == 1
    assert small.evaluator._rotation_plan(ct, 511) == [pow(3, -1, 2048)]  # 512 - 1: a turn less one
    sparse = bfv.Evaluator(small.params, galois_keys=small.keygen.galois_keys(steps=[2]))
    with pytest.raises(ParameterError, match="no Galois key"):
        sparse.rotate_rows(ct, 1)


def test_naf() -> None:
    for value in range(0, 600):
        terms = _naf(value)
        assert sum(terms) == value
        assert all(abs(t) & (abs(t) - 1) == 0 for t in terms)
    assert _naf(7) == [-1, 8] and _naf(0) == []


def test_missing_keys_and_mismatches(small: KeySet, multi: KeySet) -> None:
    encoder = bfv.BatchEncoder(small.params)
    ct = small.encryptor.encrypt(encoder.encode([1]))
    bare = bfv.Evaluator(small.params)
    assert "keys=[]" in repr(bare) and "relin" in repr(small.evaluator)
    with pytest.raises(ParameterError, match="relin_keys"):
        bare.relinearize(ct * ct)
    with pytest.raises(ParameterError, match="galois_keys"):
        bare.rotate_rows(ct, 1)
    with pytest.raises(ParameterError, match="size 3 to 2"):
        small.evaluator.relinearize(ct * ct * ct)
    stranger = make_keys(SMALL, 31, galois=False)
    with pytest.raises(KeyMismatchError, match="evaluation keys"):
        stranger.evaluator.relinearize(ct * ct)
    with pytest.raises(KeyMismatchError, match="evaluation keys"):
        stranger.evaluator.rotate_rows(ct, 1)
    with pytest.raises(KeyMismatchError, match="different key sets"):
        bfv.Evaluator(small.params, relin_keys=small.relin_keys, galois_keys=stranger.galois_keys)
    with pytest.raises(KeyMismatchError, match="other BFV parameters"):
        bfv.Evaluator(multi.params, relin_keys=small.relin_keys)
    with pytest.raises(KeyMismatchError, match="other BFV parameters"):
        multi.evaluator.add(ct, ct)
    with pytest.raises(ParameterError, match="Ciphertext"):
        small.evaluator.negate(1)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="Parameters"):
        bfv.Evaluator(None)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="RelinKeys"):
        bfv.Evaluator(small.params, relin_keys=small.galois_keys)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="GaloisKeys"):
        bfv.Evaluator(small.params, galois_keys=small.relin_keys)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="steps must be an int"):
        small.evaluator.rotate_rows(ct, 1.0)  # type: ignore[arg-type]


def test_rotations_need_batching(even: KeySet) -> None:
    ct = even.encryptor.encrypt(bfv.Plaintext(even.params, [1]))
    with pytest.raises(ParameterError, match="batching needs"):
        even.evaluator.rotate_rows(ct, 1)
    with pytest.raises(ParameterError, match="batching needs"):
        even.evaluator.rotate_columns(ct)
