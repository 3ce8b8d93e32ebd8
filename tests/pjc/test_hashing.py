"""RFC 9380 hashing: the RFC's own test vectors, curve arithmetic against X25519, MODP group 14.

Known answers: ``tests/vectors/pjc_rfc9380.json`` (RFC 9380 appendices J.4.1, K.3, K.6; see the
vectors README). Differential oracle for the curve arithmetic: X25519 of pyca/cryptography
(OpenSSL), an implementation independent of heprim's affine Montgomery formulas. The RFC 3526
prime is rederived from its defining formula with gmpy2's pi.
"""

from __future__ import annotations

import json
from pathlib import Path

import gmpy2
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import ParameterError
from heprim.pjc.group import MODP2048_P
from heprim.pjc.hashing import (
    CURVE25519_DST,
    CURVE25519_ORDER,
    CURVE25519_P,
    clear_cofactor_curve25519,
    expand_message_xmd,
    expand_message_xof,
    hash_to_curve25519,
    hash_to_field,
    hash_to_modp_subgroup,
    map_to_curve_elligator2,
    montgomery_add,
    montgomery_double,
    on_curve25519,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "pjc_rfc9380.json").read_text()
)
H2C = VECTORS["hash_to_curve_curve25519_ro"]


def _hex(x: int) -> str:
    return format(int(x), "064x")


def _multiply(k: int, point):  # plain double-and-add: the test's own scalar multiplication
    result = None
    for bit in bin(k)[2:]:
        result = montgomery_double(result)
        if bit == "1":
            result = montgomery_add(result, point)
    return result


# ----------------------------------------------------------------------------- known answers
@pytest.mark.parametrize(
    "case",
    VECTORS["expand_message_xmd_sha512"]["vectors"],
    ids=lambda c: f"{c['msg'][:8]!r}-{c['len_in_bytes']}",
)
def test_expand_message_xmd_sha512_rfc9380_k3(case: dict) -> None:
    dst = VECTORS["expand_message_xmd_sha512"]["dst"].encode()
    out = expand_message_xmd(case["msg"].encode(), dst, case["len_in_bytes"])
    assert out.hex() == case["uniform_bytes"]


@pytest.mark.parametrize(
    "case",
    VECTORS["expand_message_xof_shake256"]["vectors"],
    ids=lambda c: f"{c['msg'][:8]!r}-{c['len_in_bytes']}",
)
def test_expand_message_xof_shake256_rfc9380_k6(case: dict) -> None:
    dst = VECTORS["expand_message_xof_shake256"]["dst"].encode()
    out = expand_message_xof(case["msg"].encode(), dst, case["len_in_bytes"])
    assert out.hex() == case["uniform_bytes"]


@pytest.mark.parametrize("case", H2C["vectors"], ids=lambda c: repr(c["msg"][:8]))
def test_hash_to_curve25519_rfc9380_j41(case: dict) -> None:
    dst = H2C["dst"].encode()
    msg = case["msg"].encode()
    u0, u1 = hash_to_field(msg, 2, p=CURVE25519_P, dst=dst, length=48)
    assert [_hex(u0), _hex(u1)] == case["u"]
    q0, q1 = map_to_curve_elligator2(u0), map_to_curve_elligator2(u1)
    assert (_hex(q0[0]), _hex(q0[1])) == (case["Q0"]["x"], case["Q0"]["y"])
    assert (_hex(q1[0]), _hex(q1[1])) == (case["Q1"]["x"], case["Q1"]["y"])
    point = hash_to_curve25519(msg, dst)
    assert (_hex(point[0]), _hex(point[1])) == (case["P"]["x"], case["P"]["y"])


def test_the_known_answers_can_fail() -> None:
    """Another DST gives another point: the KAT above is not vacuous."""
    case = H2C["vectors"][1]
    point = hash_to_curve25519(case["msg"].encode(), CURVE25519_DST)
    assert _hex(point[0]) != case["P"]["x"]


# ----------------------------------------------------------------------------- properties
@given(st.binary(max_size=64))
def test_hashed_points_are_on_the_curve_and_of_prime_order(msg: bytes) -> None:
    point = hash_to_curve25519(msg)
    assert on_curve25519(point)
    assert _multiply(int(CURVE25519_ORDER), point) is None  # l P = O: the prime-order subgroup


@given(st.binary(max_size=32), st.binary(min_size=32, max_size=32))
def test_curve_arithmetic_agrees_with_x25519(msg: bytes, scalar: bytes) -> None:
    """[k] P by our affine formulas equals X25519(k, u(P)) computed by OpenSSL."""
    point = hash_to_curve25519(msg)
    clamped = bytearray(scalar)
    clamped[0] &= 248
    clamped[31] = (clamped[31] & 127) | 64
    k = int.from_bytes(clamped, "little")
    expected = X25519PrivateKey.from_private_bytes(scalar).exchange(
        X25519PublicKey.from_public_bytes(int(point[0]).to_bytes(32, "little"))
    )
    ours = _multiply(k, point)
    assert ours is not None
    assert int(ours[0]).to_bytes(32, "little") == expected


@given(st.integers(min_value=0, max_value=int(CURVE25519_P) - 1))
def test_elligator2_lands_on_the_curve(u: int) -> None:
    x, y = map_to_curve_elligator2(gmpy2.mpz(u))
    assert on_curve25519((x, y))


def test_elligator2_edge_inputs() -> None:
    # u = 0: the denominator 1 + 2u^2 is 1, x1 = -J; u with 1 + 2u^2 = 0 takes inv0(0) = 0.
    for u in (0, 1, int(CURVE25519_P) - 1):
        assert on_curve25519(map_to_curve_elligator2(gmpy2.mpz(u)))
    # A root of 1 + 2 u^2 = 0 exists iff -1/2 is a square; then x1 falls back to -J.
    half_inv = pow(-pow(2, -1, int(CURVE25519_P)), 1, int(CURVE25519_P))
    if gmpy2.jacobi(half_inv, CURVE25519_P) == 1:
        root = int(gmpy2.powmod(half_inv, (CURVE25519_P + 3) // 8, CURVE25519_P))
        assert on_curve25519(map_to_curve_elligator2(gmpy2.mpz(root)))


def test_group_law_special_cases() -> None:
    point = hash_to_curve25519(b"heprim")
    neg = (point[0], (-point[1]) % CURVE25519_P)
    assert montgomery_add(point, neg) is None
    assert montgomery_add(None, point) == point and montgomery_add(point, None) == point
    assert montgomery_add(point, point) == montgomery_double(point)
    assert montgomery_double(None) is None
    assert montgomery_double((gmpy2.mpz(0), gmpy2.mpz(0))) is None  # (0, 0) has order 2
    assert clear_cofactor_curve25519((gmpy2.mpz(0), gmpy2.mpz(0))) is None
    assert not on_curve25519((gmpy2.mpz(1), gmpy2.mpz(1)))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: expand_message_xmd(b"", b"", 32), "domain separation tag"),
        (lambda: expand_message_xmd(b"", b"x" * 256, 32), "domain separation tag"),
        (lambda: expand_message_xmd(b"", "str", 32), "domain separation tag"),  # type: ignore[arg-type]
        (lambda: expand_message_xmd(b"", b"d", 0), "len_in_bytes"),
        (lambda: expand_message_xmd(b"", b"d", 64 * 255 + 1), "at most"),
        (lambda: expand_message_xof(b"", b"d", 70000), "len_in_bytes"),
    ],
)
def test_expand_message_refuses_bad_arguments(call, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        call()


# ----------------------------------------------------------------------------- MODP
def test_rfc3526_group14_prime_from_its_formula() -> None:
    """p = 2^2048 - 2^1984 - 1 + 2^64 (floor(2^1918 pi) + 124476) (RFC 3526 section 3)."""
    with gmpy2.context(precision=2200):
        pi_term = int(gmpy2.floor(gmpy2.const_pi() * gmpy2.mpz(2) ** 1918))
    p = 2**2048 - 2**1984 - 1 + 2**64 * (pi_term + 124476)
    assert p == MODP2048_P
    assert gmpy2.is_bpsw_prp(p) and gmpy2.is_bpsw_prp((p - 1) // 2)  # a safe prime


@given(st.binary(max_size=64))
def test_modp_hash_lands_in_the_prime_order_subgroup(msg: bytes) -> None:
    x = hash_to_modp_subgroup(msg, MODP2048_P)
    assert 1 < x < MODP2048_P - 1
    assert gmpy2.powmod(x, (MODP2048_P - 1) // 2, MODP2048_P) == 1  # order divides q


def test_modp_hash_is_deterministic_and_separated() -> None:
    assert hash_to_modp_subgroup(b"ann", MODP2048_P) == hash_to_modp_subgroup(b"ann", MODP2048_P)
    assert hash_to_modp_subgroup(b"ann", MODP2048_P) != hash_to_modp_subgroup(b"bob", MODP2048_P)
    assert hash_to_modp_subgroup(b"ann", MODP2048_P) != hash_to_modp_subgroup(
        b"ann", MODP2048_P, dst=b"other"
    )
