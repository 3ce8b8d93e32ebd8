"""heprim.ring.poly: Ring and RingElement against schoolbook and exact big-integer oracles.

Oracles: the schoolbook negacyclic product on Python integers (small N) and an exact product by
Kronecker substitution with gmpy2 big integers (N up to 16384, Q of about 210 bits); the
definition of ``X -> X^k``; ``fractions.Fraction`` for the scalings.
"""

from __future__ import annotations

import math
from fractions import Fraction

import gmpy2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import KeyMismatchError, ParameterError
from heprim.math.prng import KeyedPRNG
from heprim.ring import Ring, RingElement, galois_element, ntt_primes


def schoolbook(a: list[int], b: list[int], q: int) -> list[int]:
    n = len(a)
    c = [0] * n
    for i, x in enumerate(a):
        if x:
            for j, y in enumerate(b):
                if i + j < n:
                    c[i + j] += x * y
                else:
                    c[i + j - n] -= x * y
    return [v % q for v in c]


def kronecker(a: list[int], b: list[int], q: int) -> list[int]:
    """Exact negacyclic product mod q: pack into big integers, one gmpy2 product, unpack."""
    n = len(a)
    slot = (2 * q.bit_length() + n.bit_length() + 8 + 7) // 8

    def pack(v: list[int]) -> object:
        return gmpy2.mpz(int.from_bytes(b"".join(x.to_bytes(slot, "little") for x in v), "little"))

    raw = int(pack(a) * pack(b)).to_bytes(2 * n * slot, "little")  # type: ignore[operator]
    c = [int.from_bytes(raw[i * slot : (i + 1) * slot], "little") for i in range(2 * n)]
    return [(c[i] - c[i + n]) % q for i in range(n)]


def automorphism_definition(a: list[int], k: int, q: int) -> list[int]:
    n = len(a)
    out = [0] * n
    for i, c in enumerate(a):
        e = i * k % (2 * n)
        if e < n:
            out[e] = (out[e] + c) % q
        else:
            out[e - n] = (out[e - n] - c) % q
    return out


@pytest.fixture(scope="module")
def ring() -> Ring:
    return Ring(32, ntt_primes(32, 3))


def small(ring: Ring, seed: int, shape: tuple[int, ...] = ()) -> RingElement:
    return ring.sample_uniform(KeyedPRNG.from_int(seed), shape=shape)


# ---------------------------------------------------------------------------- construction


def test_ring_properties(ring: Ring) -> None:
    assert ring.degree == 32 and len(ring.moduli) == 3
    assert ring.modulus == math.prod(ring.moduli)
    assert ring == Ring(32, list(ring.moduli)) and hash(ring) == hash(Ring(32, ring.moduli))
    assert ring != Ring(64, ntt_primes(64, 3)) and ring.__eq__(1) is NotImplemented
    assert "Ring(degree=32" in repr(ring)
    assert ring.q_array.shape == (3, 32) and not ring.q_array.flags.writeable
    assert ring.ntt_tables is ring.ntt_tables
    assert ring.extend(ntt_primes(32, 5)[3:]).moduli == ntt_primes(32, 5)
    assert ring.truncate(2).moduli == ring.moduli[:2]
    for bad in (0, 4, 1.0, True):
        with pytest.raises(ParameterError):
            ring.truncate(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("degree", "moduli", "message"),
    [
        (48, [97], "power of two"),
        (16, [101], "1 mod 2N"),
        (16, [97, 97], "twice"),
        (16, [1057], "not prime"),
        (16, [2**31 + 1], "bits"),
        (16, [], "at least one"),
    ],
)
def test_ring_validation(degree: int, moduli: list[int], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        Ring(degree, moduli)


def test_from_ints_and_to_ints(ring: Ring) -> None:
    q = ring.modulus
    values = [(-1) ** i * (7**i) for i in range(32)]
    element = ring.from_ints(values)
    assert not element.is_ntt and element.shape == ()
    assert element.to_ints() == [v % q for v in values]
    assert element.to_centered_ints() == values
    batch = ring.from_ints([values, [0] * 32])
    assert batch.shape == (2,) and batch.to_ints()[1] == [0] * 32
    fast = ring.from_ints(np.arange(-16, 16, dtype=np.int64))
    assert fast.to_centered_ints() == list(range(-16, 16))
    with pytest.raises(ParameterError, match="32 coefficients"):
        ring.from_ints([1, 2, 3])
    with pytest.raises(ParameterError):
        ring.from_ints([0.5] * 32)


def test_from_array(ring: Ring) -> None:
    element = small(ring, 1)
    again = ring.from_array(element.data, ntt=True)
    assert again.is_ntt and np.array_equal(again.data, element.data)
    assert again.data is not element.data  # copied
    with pytest.raises(ParameterError, match="shape"):
        ring.from_array(np.zeros((2, 32), dtype=np.uint64))
    with pytest.raises(ParameterError, match="below q_l"):
        ring.from_array(np.full((3, 32), ring.moduli[0], dtype=np.uint64))
    with pytest.raises(ParameterError, match="non-negative"):
        ring.from_array(np.full((3, 32), -1, dtype=np.int64))
    with pytest.raises(ParameterError, match="integers"):
        ring.from_array(np.zeros((3, 32), dtype=np.float64))


def test_elements_are_values(ring: Ring) -> None:
    element = small(ring, 2)
    with pytest.raises(ValueError):
        element.data[0, 0] = 1  # read-only view
    copy = element.copy()
    assert copy == element and copy.data is not element.data
    with pytest.raises(TypeError):
        RingElement()
    with pytest.raises(TypeError):
        hash(element)
    assert "coefficients" in repr(element) and "ntt" in repr(element.ntt())


def test_batch_indexing(ring: Ring) -> None:
    batch = small(ring, 3, (2, 3))
    assert batch.shape == (2, 3) and len(batch) == 2
    assert batch[1].shape == (3,) and batch[1, 2].shape == ()
    assert batch[1, 2].to_ints() == batch.to_ints()[1][2]
    assert [e.shape for e in batch] == [(3,), (3,)]
    assert batch[:, 1:].shape == (2, 2)
    assert ring.stack([batch[0, 0], batch[1, 1]]).to_ints() == [
        batch.to_ints()[0][0],
        batch.to_ints()[1][1],
    ]
    single = batch[0, 0]
    with pytest.raises(TypeError):
        len(single)
    with pytest.raises(ParameterError):
        single[0]
    with pytest.raises(ParameterError):
        batch[0, 0, 0]
    with pytest.raises(ParameterError):
        batch[..., 0]


# ---------------------------------------------------------------------------- arithmetic


@given(st.integers(min_value=0, max_value=2**32), st.sampled_from([2, 8, 32]))
def test_arithmetic_against_schoolbook(seed: int, degree: int) -> None:
    ring = Ring(degree, ntt_primes(degree, 2))
    q = ring.modulus
    a, b = ring.sample_uniform(KeyedPRNG.from_int(seed), shape=(2,))
    x, y = a.to_ints(), b.to_ints()
    assert (a * b).to_ints() == schoolbook(x, y, q)
    assert (a.ntt() * b.ntt()).intt().to_ints() == schoolbook(x, y, q)
    assert (a * a).to_ints() == schoolbook(x, x, q)
    assert (a + b).to_ints() == [(u + v) % q for u, v in zip(x, y, strict=True)]
    assert (a - b).to_ints() == [(u - v) % q for u, v in zip(x, y, strict=True)]
    assert (-a).to_ints() == [(-u) % q for u in x]
    assert (a.ntt() + b.ntt()).intt() == a + b
    assert (a.ntt() - b.ntt()).intt() == a - b
    assert (-a.ntt()).intt() == -a


def test_boundary_coefficients(ring: Ring) -> None:
    """Every residue q - 1 (the polynomial -sum X^i) through every operation."""
    q = ring.modulus
    top = ring.from_ints([-1] * 32)
    assert np.array_equal(top.data, ring.q_array - 1)
    minus = [q - 1] * 32
    assert (top * top).to_ints() == schoolbook(minus, minus, q)
    assert (top + top).to_ints() == [q - 2] * 32
    assert (top - top).to_ints() == [0] * 32
    assert (-top).to_ints() == [1] * 32
    assert (top * (q - 1)).to_ints() == [1] * 32
    zero = ring.zero()
    assert (top * zero).to_ints() == [0] * 32 and (-zero).to_ints() == [0] * 32


def test_scalars(ring: Ring) -> None:
    q = ring.modulus
    a = small(ring, 4)
    x = a.to_ints()
    for scalar in (3, -5, 2**200, gmpy2.mpz(7), np.int64(-2), np.uint64(9)):
        s = int(scalar)
        assert (a * scalar).to_ints() == [s * v % q for v in x]
        assert (scalar * a).to_ints() == [s * v % q for v in x]
        assert (a.ntt() * scalar).intt() == a * scalar
    assert (a + 5).to_ints() == [(x[0] + 5) % q, *x[1:]]
    assert (5 + a).to_ints() == (a + 5).to_ints()
    assert (a - 5).to_ints() == [(x[0] - 5) % q, *x[1:]]
    assert (5 - a).to_ints() == [(5 - x[0]) % q, *[-v % q for v in x[1:]]]
    assert (a.ntt() + 5).intt() == a + 5 and (5 - a.ntt()).intt() == 5 - a
    with pytest.raises(ParameterError, match="integer"):
        a * True
    for bad in (1.5, "2", None):
        with pytest.raises(TypeError):
            a * bad  # type: ignore[operator]
        with pytest.raises(TypeError):
            a + bad  # type: ignore[operator]
        with pytest.raises(TypeError):
            bad - a  # type: ignore[operator]


def test_broadcasting_batches(ring: Ring) -> None:
    keys = small(ring, 5, (2, 3))
    digits = small(ring, 6, (3,))
    product = keys * digits
    assert product.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert product[i, j] == keys[i, j] * digits[j]
    assert (keys + digits)[1, 2] == keys[1, 2] + digits[2]
    with pytest.raises(ParameterError, match="broadcast"):
        keys + small(ring, 7, (2,))


def test_dot_matches_the_sum_of_products(ring: Ring) -> None:
    for terms in (1, 3, 17, 40):  # 17 and 40 cross the lazy-reduction boundary of 16 products
        a = small(ring, 8, (terms, 2)).ntt()
        b = small(ring, 9, (terms, 2)).ntt()
        expected = a[0] * b[0]
        for j in range(1, terms):
            expected = expected + a[j] * b[j]
        assert ring.dot(a, b) == expected
    broadcast = ring.dot(small(ring, 10, (4, 2)).ntt(), small(ring, 11, (4,)).ntt())
    assert broadcast.shape == (2,)


def test_dot_errors(ring: Ring) -> None:
    a = small(ring, 12, (3,))
    with pytest.raises(ParameterError, match="NTT form"):
        ring.dot(a, a)
    with pytest.raises(ParameterError, match="first batch axis"):
        ring.dot(a.ntt(), small(ring, 13, (2,)).ntt())
    with pytest.raises(ParameterError, match="first batch axis"):
        ring.dot(a[0].ntt(), a[0].ntt())
    with pytest.raises(ParameterError, match="RingElements"):
        ring.dot(a.ntt(), 3)  # type: ignore[arg-type]


def test_mixing_forms_and_rings_is_refused(ring: Ring) -> None:
    a = small(ring, 14)
    with pytest.raises(ParameterError, match="NTT form"):
        a + a.ntt()
    with pytest.raises(ParameterError, match="NTT form"):
        a.ntt() * a
    with pytest.raises(ParameterError, match="NTT form"):
        ring.stack([a, a.ntt()])
    other = Ring(32, ntt_primes(32, 4)[1:])
    b = other.sample_uniform(KeyedPRNG.from_int(1))
    for operation in (lambda: a + b, lambda: a - b, lambda: a * b, lambda: ring.stack([a, b])):
        with pytest.raises(KeyMismatchError, match="belongs to"):
            operation()
    with pytest.raises(ParameterError):
        ring.stack([])
    with pytest.raises(ParameterError, match="batch shapes"):
        ring.stack([a, small(ring, 1, (2,))])
    with pytest.raises(ParameterError):
        ring.stack([a, 3])  # type: ignore[list-item]


def test_equality_across_forms(ring: Ring) -> None:
    a = small(ring, 15)
    assert a == a.ntt() and a.ntt() == a
    assert a.ntt().intt() == a
    assert a != a + 1
    assert a != Ring(32, ntt_primes(32, 4)[1:]).zero()
    assert a != small(ring, 15, (1,))
    assert (a == 3) is False
    assert a.ntt().ntt().is_ntt and a.intt() is a


# ---------------------------------------------------------------------------- exact large products


@pytest.mark.parametrize("degree", [1024, 16384])
def test_product_against_kronecker(degree: int) -> None:
    """N up to 16384 with a 210-bit Q (7 limbs): the NTT product equals the exact product."""
    ring = Ring(degree, ntt_primes(degree, 7))
    q = ring.modulus
    a, b = ring.sample_uniform(KeyedPRNG.from_int(degree), shape=(2,))
    assert (a * b).to_ints() == kronecker(a.to_ints(), b.to_ints(), q)


def test_large_boundary_product_against_kronecker() -> None:
    degree = 4096
    ring = Ring(degree, ntt_primes(degree, 7))
    q = ring.modulus
    top = ring.from_ints([q - 1] * degree)
    mixed = ring.from_ints([(q - 1) if i % 3 else 0 for i in range(degree)])
    assert (top * mixed).to_ints() == kronecker(top.to_ints(), mixed.to_ints(), q)


# ---------------------------------------------------------------------------- automorphisms


@pytest.mark.parametrize("k", [1, 3, 5, 63, 65, 127])
def test_automorphism_definition(ring: Ring, k: int) -> None:
    a = small(ring, 16)
    expected = automorphism_definition(a.to_ints(), k, ring.modulus)
    assert a.automorphism(k).to_ints() == expected
    assert a.ntt().automorphism(k).intt().to_ints() == expected  # a permutation of the slots
    assert a.automorphism(k + 2 * ring.degree) == a.automorphism(k)


def test_automorphisms_compose(ring: Ring) -> None:
    a = small(ring, 17, (2,)).ntt()
    n2 = 2 * ring.degree
    for k, m in [(3, 5), (5, 63), (9, 27), (galois_element(32, 1), galois_element(32, -1))]:
        assert a.automorphism(k).automorphism(m) == a.automorphism(k * m % n2)
    assert a.automorphism(1) == a
    assert a.automorphism(galois_element(32, 1)).automorphism(galois_element(32, -1)) == a
    c = a.intt()
    assert c.automorphism(3).automorphism(11) == c.automorphism(33)
    assert (c * c).automorphism(5) == c.automorphism(5) * c.automorphism(5)  # a ring morphism


def test_automorphism_errors(ring: Ring) -> None:
    a = small(ring, 18)
    for bad in (2, 64, 0):
        with pytest.raises(ParameterError, match="odd"):
            a.automorphism(bad)
    for bad in (True, 3.0):
        with pytest.raises(ParameterError, match="integer"):
            a.automorphism(bad)  # type: ignore[arg-type]


def test_galois_element() -> None:
    assert galois_element(8, 0) == 1 and galois_element(8, 1) == 3 and galois_element(8, 2) == 9
    assert galois_element(8, -1) * 3 % 16 == 1
    with pytest.raises(ParameterError):
        galois_element(12, 1)


# ---------------------------------------------------------------------------- changing bases


def test_convert_basis_and_projection() -> None:
    degree = 64
    primes = ntt_primes(degree, 9)
    ring_q, ring_p = Ring(degree, primes[:4]), Ring(degree, primes[4:])
    ring_qp = ring_q.extend(primes[4:])
    values = [(-1) ** i * 3**i * 1000 for i in range(degree)]  # |x| << Q/2
    x = ring_q.from_ints(values)
    lifted = x.convert_basis(ring_qp)
    assert lifted.to_centered_ints() == values  # the centered lift, exactly
    assert x.convert_basis(ring_p).to_centered_ints() == values  # |x| < P/2 as well
    digit = Ring(degree, primes[1:3])
    projected = x.ntt().convert_basis(digit)  # a projection works in NTT form too
    assert projected.is_ntt and projected.intt().to_ints() == [v % digit.modulus for v in values]
    plain = x.convert_basis(ring_p, exact=False)
    assert plain.shape == () and plain.ring == ring_p


def test_convert_basis_errors() -> None:
    ring_q = Ring(64, ntt_primes(64, 3))
    x = ring_q.sample_uniform(KeyedPRNG.from_int(1))
    with pytest.raises(ParameterError, match="intt"):
        x.ntt().convert_basis(Ring(64, ntt_primes(64, 5)[3:]))
    with pytest.raises(KeyMismatchError, match="degrees"):
        x.convert_basis(Ring(128, ntt_primes(128, 2)))
    with pytest.raises(ParameterError, match="Ring"):
        x.convert_basis(ntt_primes(64, 2))  # type: ignore[arg-type]


def test_scale_and_round_for_bfv() -> None:
    degree, t = 64, 65537
    primes = ntt_primes(degree, 7)
    ring_q = Ring(degree, primes[:3])
    q = ring_q.modulus
    x = ring_q.sample_uniform(KeyedPRNG.from_int(2), shape=(2,))
    plain = x.scale_and_round(t, t)
    assert plain.shape == (2, degree) and plain.dtype == np.uint64
    for row, ints in zip(plain, x.to_ints(), strict=True):
        for got, v in zip(row.tolist(), ints, strict=True):
            exact = math.floor(Fraction(t * v, q) + Fraction(1, 2))
            assert got in {exact % t, (exact - 1) % t, (exact + 1) % t}
            if abs(Fraction(t * v, q) % 1 - Fraction(1, 2)) > Fraction(1, 2**20):
                assert got == exact % t
    # ModDown: Q u P -> Q divides by P with rounding
    ring_qp = ring_q.extend(primes[3:])
    p = ring_qp.modulus // q
    y = ring_qp.sample_uniform(KeyedPRNG.from_int(3))
    down = y.scale_and_round(1, ring_q)
    assert down.ring == ring_q
    expected = [math.floor(Fraction(v, p) + Fraction(1, 2)) % q for v in y.to_ints()]
    assert sum(a != b for a, b in zip(down.to_ints(), expected, strict=True)) <= 1
    with pytest.raises(ParameterError, match="intt"):
        y.ntt().scale_and_round(1, ring_q)
    with pytest.raises(KeyMismatchError):
        y.scale_and_round(1, Ring(128, ntt_primes(128, 1)))
    with pytest.raises(ParameterError):
        y.scale_and_round(1, 2.5)  # type: ignore[call-overload]
    with pytest.raises(ParameterError):
        y.scale_and_round(t, 7)


# ---------------------------------------------------------------------------- sampling


def test_uniform_sampling_regenerates_from_a_seed(ring: Ring) -> None:
    seed = bytes(range(32))
    a = ring.sample_uniform(KeyedPRNG(seed), shape=(2,), ntt=True)
    b = ring.sample_uniform(KeyedPRNG(seed), shape=(2,), ntt=True)
    assert a.is_ntt and np.array_equal(a.data, b.data)
    assert (a.data < np.array(ring.moduli, dtype=np.uint64)[:, None]).all()
    # element by element, limb by limb: the batch is the concatenation of single draws
    rng = KeyedPRNG(seed)
    first, second = ring.sample_uniform(rng), ring.sample_uniform(rng)
    assert np.array_equal(a.data[0], first.data) and np.array_equal(a.data[1], second.data)


def test_small_samplers(ring: Ring) -> None:
    rng = KeyedPRNG.from_int(20)
    s = ring.sample_ternary(rng, shape=(3,))
    assert s.shape == (3,) and {v for row in s.to_centered_ints() for v in row} <= {-1, 0, 1}
    e = ring.sample_gaussian(rng)
    assert max(abs(v) for v in e.to_centered_ints()) <= 19
    c = ring.sample_centered_binomial(rng, eta=2, ntt=True)
    assert c.is_ntt and max(abs(v) for v in c.to_centered_ints()) <= 2
    assert s[0].convert_basis(ring.truncate(1)).to_centered_ints() == s[0].to_centered_ints()
    assert ring.sample_ternary(KeyedPRNG.from_int(5)) == ring.sample_ternary(KeyedPRNG.from_int(5))
    with pytest.raises(ParameterError):
        ring.sample_ternary(rng, shape=(-1,))
    with pytest.raises(ParameterError):
        ring.sample_uniform(np.random.default_rng(0))  # type: ignore[arg-type]


def test_products_do_not_share_buffers(ring: Ring) -> None:
    """A product reuses a scratch array for its second operand: earlier results must not move."""
    a, b, c = small(ring, 40, ()), small(ring, 41, ()), small(ring, 42, ())
    first = a * b
    kept = first.to_ints()
    second = a * c
    assert first.to_ints() == kept
    assert second == c * a
    assert b * b == b * b.copy()  # squaring (one transform) and a product of equal operands
