"""heprim.bfv.keys: key generation, seeds, key ids, the key-switching equation, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from heprim import bfv
from heprim.bfv.context import context_of
from heprim.bfv.keys import check_key_id, expand_uniform
from heprim.errors import KeyMismatchError, ParameterError
from heprim.math.prng import KeyedPRNG

from .conftest import MULTI, SMALL, KeySet, insecure


def test_secret_key_is_ternary_and_balanced(small: KeySet) -> None:
    s = small.secret_key.coefficients
    assert s.dtype == np.int8 and set(np.unique(s).tolist()) == {-1, 0, 1}
    counts = np.bincount(s.astype(np.int64) + 1, minlength=3)
    assert counts.min() > small.params.degree / 3 - 100  # uniform on {-1, 0, 1}
    assert len(small.secret_key.key_id) == 32 and "SecretKey" in repr(small.secret_key)


def test_keys_are_reproducible_from_the_rng() -> None:
    params = insecure(SMALL)
    a = bfv.KeyGenerator(params, rng=KeyedPRNG.from_int(9))
    b = bfv.KeyGenerator(params, rng=KeyedPRNG.from_int(9))
    assert a.secret_key == b.secret_key and a.public_key() == b.public_key()
    c = bfv.KeyGenerator(params, rng=KeyedPRNG.from_int(10))
    assert a.secret_key != c.secret_key and a.secret_key.__eq__(1) is NotImplemented


def test_public_key_equation(small: KeySet) -> None:
    """b + a s is a small error (the RLWE sample of PublicKeyGen)."""
    pk, s = small.public_key, small.secret_key
    ring = pk.b.ring
    error = (pk.b + pk.a * s.ntt_qp.convert_basis(ring)).intt().to_centered_ints()
    assert max(abs(e) for e in error) <= 19  # Gaussian cut at 6 sigma
    assert pk.a == expand_uniform(ring, pk.seed, ())  # a is a function of the seed
    assert pk.__eq__(0) is NotImplemented and "PublicKey" in repr(pk)


@pytest.mark.parametrize("fixture", ["small", "multi"])
def test_key_switching_key_equation(fixture: str, request: pytest.FixtureRequest) -> None:
    """b_j + a_j s = P g_j s^2 + e_j modulo QP, digit by digit (GHS / Han-Ki)."""
    keys: KeySet = request.getfixturevalue(fixture)
    params, sk = keys.params, keys.secret_key
    ctx = context_of(params)
    ring = ctx.ring_qp(params.max_level)
    key = keys.relin_keys.key
    s = sk.ntt_qp
    s2 = s * s
    p_modulus = params.p_modulus
    for j, group in enumerate(ctx.digits(params.max_level)):
        b = ring.from_array(key.data[j, 0], ntt=True)
        a = ring.from_array(key.data[j, 1], ntt=True)
        lhs = (b + a * s).intt()
        gadget = np.zeros((len(ring.moduli), params.degree), dtype=np.int64)
        for i in group:
            gadget[i] = p_modulus % params.q[i]
        target = (ring.from_array(gadget, ntt=True) * s2).intt()
        error = (lhs - target).to_centered_ints()
        assert max(abs(e) for e in error) <= 19


def test_galois_key_set(small: KeySet) -> None:
    n = small.params.degree
    gk = small.galois_keys
    steps = bfv.default_rotation_steps(n)
    assert len(steps) == 2 * 9 - 1 and 128 in steps and -128 in steps and 256 in steps
    assert -256 not in steps and 512 not in steps  # -256 = 256 in a row of 512 slots
    assert set(gk) == {pow(3, s, 2 * n) for s in steps} | {2 * n - 1}
    assert len(gk) == 18 and "18 elements" in repr(gk)
    assert all(isinstance(gk[k], bfv.KeySwitchKey) for k in gk)
    assert gk == gk and gk.__eq__(1) is NotImplemented
    # one seed per key, all distinct
    assert len({gk[k].seed for k in gk}) == len(gk)


def test_galois_keys_for_chosen_steps_and_elements(small: KeySet) -> None:
    n = small.params.degree
    gk = small.keygen.galois_keys(steps=[3], row_swap=False, elements=[5, 2 * n + 7])
    assert set(gk) == {27, 5, 7}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": [0]}, "identity"),
        ({"steps": [512]}, "identity"),
        ({"steps": [1.0]}, "ints"),
        ({"steps": [True]}, "ints"),
        ({"row_swap": 1}, "True or False"),
        ({"elements": [4]}, "odd"),
        ({"elements": [2049]}, "odd and not 1"),
        ({"elements": ["3"]}, "ints"),
    ],
)
def test_galois_key_refusals(small: KeySet, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        small.keygen.galois_keys(**kwargs)  # type: ignore[arg-type]


def test_no_special_primes_no_evaluation_keys() -> None:
    params = insecure(bfv.ParametersLiteral(1024, 65537, log_q=(27,) * 3))
    keygen = bfv.KeyGenerator(params, rng=KeyedPRNG.from_int(1))
    keygen.public_key()
    with pytest.raises(ParameterError, match="no special primes"):
        keygen.relin_keys()
    with pytest.raises(ParameterError, match="no special primes"):
        keygen.galois_keys()


def test_keygenerator_reuses_a_secret_key(small: KeySet) -> None:
    again = bfv.KeyGenerator(small.params, secret_key=small.secret_key, rng=KeyedPRNG.from_int(2))
    assert again.secret_key is small.secret_key and "KeyGenerator" in repr(again)
    assert again.public_key().key_id == small.secret_key.key_id
    with pytest.raises(KeyMismatchError):
        bfv.KeyGenerator(insecure(MULTI), secret_key=small.secret_key)
    with pytest.raises(ParameterError, match="SecretKey"):
        bfv.KeyGenerator(small.params, secret_key="s")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="PRNG"):
        bfv.KeyGenerator(small.params, rng=np.random.default_rng())  # type: ignore[arg-type]


def test_constructor_refusals(small: KeySet) -> None:
    params = small.params
    n = params.degree
    key_id = small.secret_key.key_id
    with pytest.raises(ParameterError, match="ternary"):
        bfv.SecretKey(params, np.full(n, 2), key_id)
    with pytest.raises(ParameterError, match="integer coefficients"):
        bfv.SecretKey(params, np.zeros(n - 1, dtype=np.int64), key_id)
    with pytest.raises(ParameterError, match="hexadecimal"):
        bfv.SecretKey(params, np.zeros(n, dtype=np.int64), "xyz")
    with pytest.raises(ParameterError, match="hexadecimal"):
        check_key_id("g" * 32)
    with pytest.raises(ParameterError, match="32 bytes"):
        bfv.PublicKey(params, key_id, small.public_key.b, b"short")
    with pytest.raises(ParameterError, match="NTT-form"):
        bfv.PublicKey(params, key_id, small.public_key.b.intt(), small.public_key.seed)
    key = small.relin_keys.key
    with pytest.raises(ParameterError, match="shape"):
        bfv.KeySwitchKey(params, key_id, key.b[:1], key.seed)
    bad = np.array(key.b, dtype=np.uint64)
    bad[0, 0, 0] = params.q[0]
    with pytest.raises(ParameterError, match="below its prime"):
        bfv.KeySwitchKey(params, key_id, bad, key.seed)
    with pytest.raises(ParameterError, match="KeySwitchKey"):
        bfv.RelinKeys("k")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="Galois element"):
        bfv.GaloisKeys(params, key_id, {4: key})
    with pytest.raises(ParameterError, match="ints"):
        bfv.GaloisKeys(params, key_id, {3.0: key})  # type: ignore[dict-item]
    with pytest.raises(ParameterError, match="KeySwitchKey"):
        bfv.GaloisKeys(params, key_id, {3: "k"})  # type: ignore[dict-item]
    with pytest.raises(KeyMismatchError, match="same key set"):
        bfv.GaloisKeys(params, "0" * 32, {3: key})


def test_key_levels_project(small: KeySet) -> None:
    key = small.relin_keys.key
    top = key.at_level(small.params.max_level)
    low = key.at_level(2)
    assert low.shape == (2, 2, 3, small.params.degree)
    assert np.array_equal(low[:, :, :2], top[:2, :, :2])
    assert np.array_equal(low[:, :, 2], top[:2, :, -1])  # the special prime's limb
    assert key.at_level(2) is low  # cached
    assert small.relin_keys == small.relin_keys and "RelinKeys" in repr(small.relin_keys)
    assert small.relin_keys.__eq__(0) is NotImplemented and "KeySwitchKey" in repr(key)
    assert key.__eq__(0) is NotImplemented
