"""heprim.ring.rns: decomposition, composition, HPS base conversion and scale-and-round.

The oracle is exact rational arithmetic on Python integers (``fractions.Fraction``): every
vectorised float64 result is compared with ``x mod p`` or ``round(t x / D) mod p`` computed
directly. Where the documented float64 precision leaves a choice (inputs within about
``2^-40 Q`` of ``+-Q/2``, or ``t x / D`` within about ``2^-24`` of a half-integer), both admissible
answers are accepted and the test says so.
"""

from __future__ import annotations

import math
from fractions import Fraction

import gmpy2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import ParameterError
from heprim.ring.primes import ntt_primes
from heprim.ring.rns import (
    MAX_BASIS_SIZE,
    BaseConverter,
    RNSBasis,
    ScaleRounder,
    base_converter,
    scale_rounder,
)

PRIMES = ntt_primes(1024, 40)
Q_MODULI, P_MODULI = PRIMES[:6], PRIMES[6:13]
BASIS = RNSBasis(Q_MODULI)
Q = BASIS.modulus


def round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def centered(x: int, m: int) -> int:
    x %= m
    return x - m if x > m // 2 else x


def sample_ints(count: int, bound: int, seed: int) -> list[int]:
    from heprim.math.prng import KeyedPRNG

    rng = KeyedPRNG.from_int(seed)
    return [rng.randrange(-bound, bound) for _ in range(count)]


# ---------------------------------------------------------------------------- the basis


def test_basis_properties() -> None:
    assert len(BASIS) == 6 and BASIS.moduli == Q_MODULI
    assert math.prod(Q_MODULI) == Q
    assert RNSBasis(list(Q_MODULI)) == BASIS and hash(RNSBasis(Q_MODULI)) == hash(BASIS)
    assert RNSBasis(P_MODULI) != BASIS and BASIS.__eq__(3) is NotImplemented
    assert "RNSBasis" in repr(BASIS)
    assert RNSBasis([3, 5, 4]).modulus == 60  # any pairwise coprime moduli


@pytest.mark.parametrize(
    "moduli",
    [[], [6, 9], [1], [2**30 + 3], [5, True], [5.0], "abc", 7, list(range(3, 3 + 2 * 65, 2))],
)
def test_basis_rejects(moduli: object) -> None:
    with pytest.raises(ParameterError):
        RNSBasis(moduli)  # type: ignore[arg-type]


def test_basis_size_limit() -> None:
    assert len(RNSBasis(ntt_primes(64, MAX_BASIS_SIZE))) == 64
    with pytest.raises(ParameterError, match="1 to 64"):
        RNSBasis(ntt_primes(64, 65))


# ---------------------------------------------------------------------------- decompose / compose


@given(st.lists(st.integers(min_value=-(4**200), max_value=4**200), min_size=1, max_size=40))
def test_decompose_compose_round_trip(values: list[int]) -> None:
    residues = BASIS.decompose(values)
    assert residues.shape == (6, len(values)) and residues.dtype == np.uint64
    for limb, q in enumerate(Q_MODULI):
        assert residues[limb].tolist() == [v % q for v in values]
    assert BASIS.compose(residues) == [v % Q for v in values]
    assert BASIS.compose(residues, centered=True) == [centered(v, Q) for v in values]


def test_worst_case_values() -> None:
    values = [0, 1, -1, Q - 1, Q, Q + 1, Q // 2, Q // 2 + 1, -(Q // 2), Q * 7 - 3, -(Q**3)]
    assert BASIS.compose(BASIS.decompose(values)) == [v % Q for v in values]
    # every residue q_i - 1 composes to -1 mod Q
    top = np.array(Q_MODULI, dtype=np.uint64)[:, None] - np.ones((1, 5), dtype=np.uint64)
    assert BASIS.compose(top) == [Q - 1] * 5
    assert BASIS.compose(top, centered=True) == [-1] * 5
    assert BASIS.compose(np.zeros((6, 3), dtype=np.uint64)) == [0, 0, 0]


def test_compose_near_integer_boundaries() -> None:
    """floor(sum y_i / q_i) is computed in float64; values next to 0 and Q test its repair."""
    values = [0, 1, 2, Q - 1, Q - 2, Q // 2, Q // 2 + 1] + [Q - k for k in range(1, 50)]
    assert BASIS.compose(BASIS.decompose(values)) == [v % Q for v in values]


def test_decompose_accepts_integer_types_and_batches() -> None:
    values = [[gmpy2.mpz(-5), np.int64(7), 2**300], [True, 0, np.uint64(2**64 - 1)]]
    residues = BASIS.decompose(values)
    assert residues.shape == (2, 6, 3)
    assert BASIS.compose(residues) == [[-5 % Q, 7, 2**300 % Q], [1, 0, (2**64 - 1) % Q]]


def test_decompose_numpy_fast_paths() -> None:
    signed = np.array([[-(2**63), -1, 0, 2**63 - 1]], dtype=np.int64)
    unsigned = np.array([0, 1, 2**64 - 1], dtype=np.uint64)
    small = np.array([-3, 3], dtype=np.int8)
    assert BASIS.compose(BASIS.decompose(signed)) == [[v % Q for v in signed[0].tolist()]]
    assert BASIS.compose(BASIS.decompose(unsigned)) == [0, 1, 2**64 - 1]
    assert BASIS.compose(BASIS.decompose(small)) == [Q - 3, 3]


@pytest.mark.parametrize("bad", [[1.5, 2], ["1"], 5, np.int64(3), np.array(3)])
def test_decompose_rejects(bad: object) -> None:
    with pytest.raises(ParameterError):
        BASIS.decompose(bad)


def test_compose_rejects_bad_shapes() -> None:
    with pytest.raises(ParameterError, match="shape"):
        BASIS.compose(np.zeros((5, 3), dtype=np.uint64))
    with pytest.raises(ParameterError, match="shape"):
        BASIS.compose([[0] * 3] * 6)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- base conversion


def admissible_conversions(x: int, modulus: int, p: int) -> set[int]:
    """The centered lift of x, plus the other one when x is in the float64 ambiguity zone."""
    lift = centered(x, modulus)
    options = {lift % p}
    if abs(abs(Fraction(lift, modulus)) - Fraction(1, 2)) < Fraction(1, 2**38):
        options.add((lift - modulus if lift > 0 else lift + modulus) % p)
    return options


def check_conversion(values: list[int], target: tuple[int, ...]) -> None:
    out = base_converter(Q_MODULI, target).convert(BASIS.decompose(values))
    assert out.shape == (len(target), len(values))
    for j, p in enumerate(target):
        for i, x in enumerate(values):
            assert int(out[j, i]) in admissible_conversions(x, Q, p), (x, p)


@given(st.lists(st.integers(min_value=0, max_value=Q - 1), min_size=1, max_size=30))
def test_exact_base_conversion(values: list[int]) -> None:
    check_conversion(values, P_MODULI)


def test_base_conversion_worst_cases() -> None:
    half = Q // 2
    values = [0, 1, Q - 1, half, half + 1, half - 1, half + 2, 2**100, Q - 2**100]
    check_conversion(values, P_MODULI)
    # away from the +-Q/2 ambiguity zone the answer is unique and exact
    far = Q >> 30
    out = base_converter(Q_MODULI, P_MODULI).convert(BASIS.decompose([half - far, half + far]))
    assert out[:, 0].tolist() == [(half - far) % p for p in P_MODULI]
    assert out[:, 1].tolist() == [(half + far - Q) % p for p in P_MODULI]


def test_base_conversion_to_small_and_shared_moduli() -> None:
    target = (Q_MODULI[2], 65537, 2**16, Q_MODULI[0], 3)
    values = sample_ints(50, Q // 2 - (Q >> 20), seed=1)
    out = base_converter(Q_MODULI, target).convert(BASIS.decompose(values))
    for j, p in enumerate(target):
        assert out[j].tolist() == [x % p for x in values]  # centered inputs: the lift is x itself


def test_plain_fast_base_conversion_is_off_by_a_multiple_of_q() -> None:
    values = sample_ints(60, Q // 2, seed=2)
    converter = BaseConverter(BASIS, P_MODULI)
    plain = converter.convert(BASIS.decompose(values), exact=False)
    for i, x in enumerate(values):
        candidates = [{(x % Q + a * Q) % p for p in P_MODULI} for a in range(6)]
        got = [int(plain[j, i]) for j in range(len(P_MODULI))]
        assert any(got == [(x % Q + a * Q) % p for p in P_MODULI] for a in range(len(Q_MODULI))), (
            candidates
        )


def test_base_conversion_batches_and_errors() -> None:
    values = np.array(sample_ints(24, Q // 4, seed=3), dtype=object).reshape(2, 3, 4).tolist()
    residues = BASIS.decompose(values)
    out = base_converter(Q_MODULI, P_MODULI).convert(residues)
    assert out.shape == (2, 3, len(P_MODULI), 4)
    flat = base_converter(Q_MODULI, P_MODULI).convert(residues.reshape(6, 6, 4)[1])
    assert np.array_equal(out.reshape(6, len(P_MODULI), 4)[1], flat)
    with pytest.raises(ParameterError, match="shape"):
        base_converter(Q_MODULI, P_MODULI).convert(np.zeros((5, 4), dtype=np.uint64))
    assert base_converter(Q_MODULI, P_MODULI) is base_converter(Q_MODULI, P_MODULI)


# ---------------------------------------------------------------------------- scale and round


def admissible_roundings(value: Fraction, moduli: tuple[int, ...]) -> list[set[int]]:
    exact = round_half_up(value)
    near_half = abs(value - math.floor(value) - Fraction(1, 2)) < Fraction(1, 2**20)
    options = {exact, exact - 1, exact + 1} if near_half else {exact}
    return [{v % p for v in options} for p in moduli]


@pytest.mark.parametrize("t", [2, 3, 65537, 2**16, 1032193])
def test_decryption_scaling(t: int) -> None:
    """round(t x / Q) mod t, the last step of BFV decryption."""
    values = [*sample_ints(80, Q, seed=t), 0, Q - 1, Q // 2, Q // 2 + 1]
    out = scale_rounder(Q_MODULI, t, (t,)).apply(BASIS.decompose(values))
    for i, x in enumerate(values):
        assert int(out[0, i]) in admissible_roundings(Fraction(t * (x % Q), Q), (t,))[0]


def test_scaling_into_the_auxiliary_basis() -> None:
    """HPS multiplication: x mod QP -> round(t x / Q) mod P (independent of the representative)."""
    t = 65537
    qp = RNSBasis(Q_MODULI + P_MODULI)
    values = sample_ints(60, qp.modulus, seed=4)
    out = scale_rounder(qp.moduli, t, P_MODULI).apply(qp.decompose(values))
    for i, x in enumerate(values):
        expected = admissible_roundings(Fraction(t * x, Q), P_MODULI)
        for j in range(len(P_MODULI)):
            assert int(out[j, i]) in expected[j]


def test_mod_down_divides_by_the_special_primes() -> None:
    """Hybrid key switching: x mod QP -> round(x / P) mod Q."""
    qp = RNSBasis(P_MODULI + Q_MODULI)  # the dropped moduli need not come last
    p = math.prod(P_MODULI)
    values = sample_ints(60, qp.modulus // 2, seed=5)
    out = ScaleRounder(qp, 1, Q_MODULI).apply(qp.decompose(values))
    for i, x in enumerate(values):
        expected = admissible_roundings(Fraction(x, p), Q_MODULI)
        for j in range(len(Q_MODULI)):
            assert int(out[j, i]) in expected[j]


def test_modulus_switching_drops_the_last_prime() -> None:
    values = sample_ints(60, Q, seed=6)
    lower = Q_MODULI[:-1]
    out = scale_rounder(Q_MODULI, 1, lower).apply(BASIS.decompose(values))
    for i, x in enumerate(values):
        expected = admissible_roundings(Fraction(x, Q_MODULI[-1]), lower)
        assert all(int(out[j, i]) in expected[j] for j in range(len(lower)))


def test_scale_rounder_with_a_kept_modulus_and_a_numerator_divisor() -> None:
    t = 2 * 3 * 5
    kept = (Q_MODULI[1], 5, Q_MODULI[4])
    values = sample_ints(40, Q, seed=7)
    dropped = Q // (Q_MODULI[1] * Q_MODULI[4])
    out = scale_rounder(Q_MODULI, t, kept).apply(BASIS.decompose(values))
    for i, x in enumerate(values):
        expected = admissible_roundings(Fraction(t * x, dropped), kept)
        assert all(int(out[j, i]) in expected[j] for j in range(3))


def test_scale_rounder_errors() -> None:
    with pytest.raises(ParameterError, match="divisor of the numerator"):
        ScaleRounder(BASIS, 65537, [7])
    with pytest.raises(ParameterError, match="at least one"):
        ScaleRounder(BASIS, 3, Q_MODULI)
    for bad in (0, -3, True, 2.0):
        with pytest.raises(ParameterError, match="numerator"):
            ScaleRounder(BASIS, bad, [2])  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="shape"):
        ScaleRounder(BASIS, 2, [2]).apply(np.zeros((3, 4), dtype=np.uint64))


def test_scale_rounder_with_a_big_numerator() -> None:
    """round(P x / Q) into P: the numerator may be any integer, here the product of P."""
    p = math.prod(P_MODULI)
    values = sample_ints(40, Q, seed=8)
    out = scale_rounder(Q_MODULI, p, P_MODULI).apply(BASIS.decompose(values))
    for i, x in enumerate(values):
        expected = admissible_roundings(Fraction(p * (x % Q), Q), P_MODULI)
        assert all(int(out[j, i]) in expected[j] for j in range(len(P_MODULI)))
