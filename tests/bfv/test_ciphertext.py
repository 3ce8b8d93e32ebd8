"""heprim.bfv.ciphertext: keyless arithmetic and operators against numpy modulo t."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim import bfv
from heprim.bfv import ciphertext as ops
from heprim.errors import KeyMismatchError, ParameterError
from heprim.math.prng import KeyedPRNG

from .conftest import SMALL, KeySet, centered, make_keys

T = 65537


def _decode(keys: KeySet, ct: bfv.Ciphertext) -> np.ndarray:
    return bfv.BatchEncoder(keys.params).decode(keys.decryptor.decrypt(ct))


@given(st.integers(0, 2**32), st.integers(-(2**40), 2**40))
def test_operators_match_numpy(small: KeySet, seed: int, scalar: int) -> None:
    rng = KeyedPRNG.from_int(seed)
    encoder = bfv.BatchEncoder(small.params)
    x, y, z = (small.random_slots(rng) for _ in range(3))
    a = small.encryptor.encrypt(encoder.encode(x), rng=rng)
    b = small.symmetric.encrypt(encoder.encode(y), rng=rng)
    p = encoder.encode(z)
    cases = {
        "add": (a + b, x + y),
        "sub": (a - b, x - y),
        "neg": (-a, -x),
        "add_plain": (a + p, x + z),
        "radd_plain": (p + a, x + z),
        "sub_plain": (a - p, x - z),
        "rsub_plain": (p - a, z - x),
        "mul_plain": (a * p, x * z),
        "rmul_plain": (p * a, x * z),
        "add_int": (a + scalar, x + scalar),
        "radd_int": (scalar + a, x + scalar),
        "sub_int": (a - scalar, x - scalar),
        "rsub_int": (scalar - a, scalar - x),
        "mul_int": (a * scalar, x * (scalar % T)),
        "rmul_numpy_int": (np.int64(3) * a, 3 * x),
        "mul": (a * b, x * y),
        "square": (a * a, x * x),
    }
    for name, (ct, expected) in cases.items():
        got = _decode(small, ct)
        assert np.array_equal(got, centered(np.array(expected, dtype=object) % T, T)), name


def test_product_sizes_and_further_arithmetic(small: KeySet) -> None:
    encoder = bfv.BatchEncoder(small.params)
    x = np.arange(1024) % 50 - 25
    a = small.encryptor.encrypt(encoder.encode(x))
    three = a * a
    assert three.size == 3
    four = three * a  # size 3 x size 2: 4 polynomials, decryptable with s^3
    assert four.size == 4
    assert np.array_equal(_decode(small, four), centered(x**3, T))
    mixed = three + a  # sizes 3 and 2 add (the shorter is padded)
    assert mixed.size == 3 and np.array_equal(_decode(small, mixed), centered(x**2 + x, T))
    assert np.array_equal(_decode(small, a - three), centered(x - x**2, T))
    assert np.array_equal(_decode(small, three * 2), centered(2 * x**2, T))


def test_levels_align_automatically(small: KeySet) -> None:
    encoder = bfv.BatchEncoder(small.params)
    x = np.arange(1024)
    a = small.encryptor.encrypt(encoder.encode(x))
    low = ops.mod_switch(a, 2)
    for result in (a + low, low + a, a * low, a - low):
        assert result.level == 2
    assert np.array_equal(_decode(small, a * low), centered(x * x, T))
    assert ops.mod_switch(a, a.level) is a


def test_mod_switch_shrinks_and_refuses(small: KeySet) -> None:
    a = small.encryptor.encrypt(bfv.Plaintext(small.params, [1]))
    low = ops.mod_switch(a, 1)
    assert low.residues().shape == (2, 1, 1024) and low.level == 1
    with pytest.raises(ParameterError, match="only goes down"):
        ops.mod_switch(low, 2)
    with pytest.raises(ParameterError, match="level"):
        ops.mod_switch(a, 0)
    big_t = make_keys(
        bfv.ParametersLiteral(1024, (1 << 25) + 1, log_q=(27,) * 3, log_p=(28,)), 5, galois=False
    )
    ct = big_t.encryptor.encrypt(bfv.Plaintext(big_t.params, [1]))
    assert ops.mod_switch(ct, 2).level == 2
    with pytest.raises(ParameterError, match="smaller than 4t"):
        ops.mod_switch(ct, 1)


def test_mixing_keys_and_parameters_raises(small: KeySet, multi: KeySet) -> None:
    plain = bfv.Plaintext(small.params, [1])
    a = small.encryptor.encrypt(plain)
    stranger = make_keys(SMALL, 77, galois=False)
    b = stranger.encryptor.encrypt(plain)
    for op in (lambda: a + b, lambda: a - b, lambda: a * b):
        with pytest.raises(KeyMismatchError, match="different keys"):
            op()
    c = multi.encryptor.encrypt(bfv.Plaintext(multi.params, [1]))
    with pytest.raises(KeyMismatchError, match="different BFV parameters"):
        a + c
    with pytest.raises(KeyMismatchError, match="other BFV parameters"):
        c + plain
    with pytest.raises(KeyMismatchError, match="other BFV parameters"):
        c * plain


def test_unknown_operands(small: KeySet) -> None:
    a = small.encryptor.encrypt(bfv.Plaintext(small.params, [1]))
    for bad in (1.5, "x", True, None):
        with pytest.raises(TypeError):
            a + bad  # type: ignore[operator]
        with pytest.raises(TypeError):
            a * bad  # type: ignore[operator]
        with pytest.raises(TypeError):
            bad - a  # type: ignore[operator]
    with pytest.raises(TypeError):
        a - 1.5  # type: ignore[operator]
    with pytest.raises(ParameterError, match="integer scalar"):
        ops.multiply_scalar(a, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="Plaintext"):
        ops.add_plain(a, [1])  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="Ciphertext"):
        ops.negate("a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Encryptor"):
        bfv.Ciphertext()
    with pytest.raises(TypeError):
        hash(a)


def test_from_residues(small: KeySet) -> None:
    a = small.encryptor.encrypt(bfv.Plaintext(small.params, [3]))
    key_id = small.secret_key.key_id
    again = bfv.Ciphertext.from_residues(small.params, a.residues(), key_id=key_id)
    assert again == a and "level=4" in repr(again)
    in_ntt = bfv.Ciphertext.from_residues(small.params, a.polys.ntt().data, key_id=key_id, ntt=True)
    assert in_ntt == a
    for bad, message in (
        (a.residues()[:1], "shape"),
        (a.residues()[:, :, :10], "shape"),
        (np.zeros((2, 5, 1024), dtype=np.uint64), "level"),
    ):
        with pytest.raises(ParameterError, match=message):
            bfv.Ciphertext.from_residues(small.params, bad, key_id=key_id)
    too_big = a.residues()
    too_big[0, 0, 0] = small.params.q[0]
    with pytest.raises(ParameterError, match="below q_l"):
        bfv.Ciphertext.from_residues(small.params, too_big, key_id=key_id)
    with pytest.raises(ParameterError, match="hexadecimal"):
        bfv.Ciphertext.from_residues(small.params, a.residues(), key_id="k")
    with pytest.raises(ParameterError, match="Parameters"):
        bfv.Ciphertext.from_residues(None, a.residues(), key_id=key_id)  # type: ignore[arg-type]


def test_too_large_products_are_refused(small: KeySet) -> None:
    a = small.encryptor.encrypt(bfv.Plaintext(small.params, [1]))
    big = (a * a) * (a * a)  # size 5
    assert big.size == 5
    with pytest.raises(ParameterError, match="9 polynomials; relinearize"):
        big * big
    with pytest.raises(ParameterError, match="relinearize after each"):
        bfv.context_of(small.params).aux_moduli(4, 1 << 400)
