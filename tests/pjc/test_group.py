"""The commutative cipher's groups: commutativity, validation of the peer's elements, registry."""

from __future__ import annotations

import gmpy2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heprim.errors import ParameterError
from heprim.math.prng import KeyedPRNG
from heprim.pjc.group import GROUPS, MODP2048_P, ModpGroup, X25519Group, get_group, group_by_code
from heprim.pjc.hashing import CURVE25519_P, hash_to_curve25519

X25519 = GROUPS["x25519"]
MODP = GROUPS["modp2048"]

# u-coordinates of the points of order 1, 2, 4 and 8 and non-canonical encodings of them, as
# listed by libsodium's and Bernstein's X25519 "small order" tables (derived here, not copied:
# each is checked to be on the curve or non-canonical before being used).
SMALL_ORDER_U = [
    0,
    1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
    int(CURVE25519_P) - 1,
    int(CURVE25519_P),
    int(CURVE25519_P) + 1,
]


@given(st.lists(st.binary(max_size=12), max_size=4, unique=True), st.integers(0, 2**32))
def test_exponentiation_commutes_x25519(ids: list[bytes], seed: int) -> None:
    rng = KeyedPRNG.from_int(seed)
    a, b = X25519.generate_key(rng), X25519.generate_key(rng)
    ab = b.exponentiate_many(a.hash_and_exponentiate(ids))
    ba = a.exponentiate_many(b.hash_and_exponentiate(ids))
    assert ab == ba
    assert len(set(ab)) == len(ids)  # distinct identifiers stay distinct


@settings(max_examples=5)
@given(st.lists(st.binary(max_size=12), min_size=1, max_size=3, unique=True))
def test_exponentiation_commutes_modp(ids: list[bytes]) -> None:
    rng = KeyedPRNG.from_int(len(ids))
    a, b = MODP.generate_key(rng), MODP.generate_key(rng)
    assert b.exponentiate_many(a.hash_and_exponentiate(ids)) == a.exponentiate_many(
        b.hash_and_exponentiate(ids)
    )


def test_modp_batch_matches_single_exponentiation() -> None:
    key = MODP.generate_key(KeyedPRNG.from_int(1))
    ids = [b"x%d" % i for i in range(3)]
    assert key.hash_and_exponentiate(ids) == [
        key.exponentiate(MODP.hash_to_element(i)) for i in ids
    ]


def test_x25519_element_is_the_u_coordinate_of_the_rfc9380_point() -> None:
    u, _ = hash_to_curve25519(b"ann")
    assert X25519.hash_to_element(b"ann") == int(u).to_bytes(32, "little")


def test_keys_differ_and_hide_their_exponent() -> None:
    rng = KeyedPRNG.from_int(3)
    a, b = X25519.generate_key(rng), X25519.generate_key(rng)
    e = X25519.hash_to_element(b"ann")
    assert a.exponentiate(e) != b.exponentiate(e)
    assert "hidden" in repr(a) and "hidden" in repr(MODP.generate_key(rng))


@pytest.mark.parametrize("u", SMALL_ORDER_U)
def test_x25519_refuses_small_order_and_non_canonical_points(u: int) -> None:
    element = (u % 2**256).to_bytes(32, "little")
    key = X25519.generate_key(KeyedPRNG.from_int(4))
    with pytest.raises(ParameterError):
        key.exponentiate_checked(element)
    with pytest.raises(ParameterError):
        key.exponentiate_many([X25519.hash_to_element(b"ok"), element])


def test_x25519_refuses_twist_points_and_bad_lengths() -> None:
    p = int(CURVE25519_P)
    twist = next(u for u in range(2, 100) if gmpy2.jacobi((u**3 + 486662 * u * u + u) % p, p) == -1)
    for bad in (twist.to_bytes(32, "little"), b"\x09" * 31, b"\x09" * 33, "u" * 32):
        with pytest.raises(ParameterError):
            X25519.check_element(bad)  # type: ignore[arg-type]
    X25519.check_element((9).to_bytes(32, "little"))  # the base point is fine


def test_x25519_small_order_point_on_the_curve_is_caught_by_the_exchange() -> None:
    """u = 1 lies on the curve (order 4): the Legendre test passes, the exchange refuses."""
    p = int(CURVE25519_P)
    on_curve = [
        u for u in SMALL_ORDER_U[:5] if gmpy2.jacobi((u**3 + 486662 * u * u + u) % p, p) == 1
    ]
    assert on_curve  # the table holds on-curve points of small order
    key = X25519.generate_key(KeyedPRNG.from_int(5))
    for u in on_curve:
        with pytest.raises(ParameterError, match="small order"):
            key.exponentiate_checked(u.to_bytes(32, "little"))


def test_modp_refuses_degenerate_and_non_residue_elements() -> None:
    p = int(MODP2048_P)
    non_residue = next(x for x in range(2, 100) if gmpy2.jacobi(x, p) == -1)
    for bad in (0, 1, p - 1, p, p + 5, non_residue):
        element = (bad % 2**2048).to_bytes(256, "big")
        with pytest.raises(ParameterError):
            MODP.check_element(element)
    with pytest.raises(ParameterError, match="256 bytes"):
        MODP.check_element(b"\x04")
    key = MODP.generate_key(KeyedPRNG.from_int(6))
    with pytest.raises(ParameterError, match="element 0"):
        key.exponentiate_many([non_residue.to_bytes(256, "big")])
    MODP.check_element((4).to_bytes(256, "big"))  # 2^2 is a residue


def test_registry() -> None:
    assert get_group("x25519") is X25519 and get_group(MODP) is MODP
    assert isinstance(X25519, X25519Group) and isinstance(MODP, ModpGroup)
    assert group_by_code(1) is X25519 and group_by_code(2) is MODP and group_by_code(9) is None
    assert X25519 != MODP and hash(X25519) == hash(X25519Group())
    assert X25519Group() == X25519
    assert X25519.__eq__(3) is NotImplemented
    assert "X25519Group" in repr(X25519)
    for bad in ("p256", 3, None):
        with pytest.raises(ParameterError, match="unknown group"):
            get_group(bad)  # type: ignore[arg-type]
