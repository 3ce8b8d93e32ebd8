"""Hashing identifiers into prime-order groups, as RFC 9380 specifies it.

A commutative cipher ``E_k(x) = H(x)**k`` is only as good as its hash ``H``: it must behave like a
random oracle *into the group* (Ion et al., EuroS&P 2020, section 3.1, model ``H`` as a random
oracle into ``G``). Two shortcuts break that and are avoided here:

* hashing to an integer used as the exponent of a fixed generator (``g**h(x)``) makes every
  discrete logarithm public: ``E_k(x)`` of a guessed identifier follows from one ciphertext;
* hashing into a group with small subgroups (all of ``Z*_p``, or the full Curve25519 group of
  order ``8 l``) leaks ``x`` modulo the small orders, which exponentiation does not mix.

Two constructions, both from RFC 9380 ("Hashing to Elliptic Curves", Faz-Hernandez, Scott,
Sullivan, Wahby and Wood, August 2023):

``curve25519_XMD:SHA-512_ELL2_RO_`` (section 8.5, the suite heprim's X25519 group uses)
    ``expand_message_xmd`` with SHA-512 (section 5.3.1) gives two field elements (``hash_to_field``,
    section 5.2, ``L = 48`` bytes each); each is mapped to the curve by Elligator 2 (section 6.7.1,
    ``map_to_curve_elligator2`` with ``Z = 2``); the two points are added (so the result is
    indistinguishable from a random point: a random oracle, not merely an encoding) and the
    cofactor 8 is cleared (section 7), landing in the subgroup of prime order ``l``. The RFC's
    appendix J.4.1 test vectors are heprim's known answers.
MODP (RFC 3526 group 14, a safe prime ``p = 2q + 1``)
    ``hash_to_field`` over ``GF(p)`` with ``expand_message_xof`` and SHAKE-256 (section 5.3.2) with
    ``L = ceil((2048 + 128) / 8) = 272`` bytes, so the reduction modulo ``p`` is within ``2**-128``
    of uniform; the result is squared, which maps ``Z*_p`` two-to-one onto the quadratic residues:
    exactly the subgroup of prime order ``q``.

Field arithmetic is on ``gmpy2`` integers through :mod:`heprim.math.ntheory`. None of this is
constant time (Python is not); identifiers are hashed by their owner on their owner's machine, so
the timing of the hash is not observable by the other party of the protocol.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final

from heprim.errors import ParameterError
from heprim.math.ntheory import invert, jacobi, mpz, powmod

__all__ = [
    "CURVE25519_A",
    "CURVE25519_DST",
    "CURVE25519_ORDER",
    "CURVE25519_P",
    "MODP_DST",
    "MontgomeryPoint",
    "clear_cofactor_curve25519",
    "expand_message_xmd",
    "expand_message_xof",
    "hash_to_curve25519",
    "hash_to_field",
    "hash_to_modp_subgroup",
    "map_to_curve_elligator2",
    "montgomery_add",
    "montgomery_double",
    "on_curve25519",
]

# --------------------------------------------------------------------------- Curve25519
CURVE25519_P: Final = mpz(2**255 - 19)
"""The field prime of Curve25519 (RFC 7748 section 4.1)."""
CURVE25519_A: Final = mpz(486662)
"""``A`` of the Montgomery equation ``v**2 = u**3 + A u**2 + u`` (RFC 9380: ``J``, ``K = 1``)."""
CURVE25519_ORDER: Final = mpz(2**252 + 27742317777372353535851937790883648493)
"""``l``, the prime order of the subgroup that hashing lands in (RFC 7748 section 4.1)."""
CURVE25519_DST: Final = b"HEPRIM-V01-CS01-with-curve25519_XMD:SHA-512_ELL2_RO_"
"""heprim's domain separation tag for identifiers (format of RFC 9380 section 8.10)."""

_Z: Final = mpz(2)  # Elligator 2's non-square (RFC 9380 section 8.5: Z = 2 for curve25519)
_SQRT_M1: Final = powmod(2, (CURVE25519_P - 1) // 4, CURVE25519_P)  # a square root of -1
_SQRT_EXP: Final = (CURVE25519_P + 3) // 8  # p = 5 mod 8: Atkin's candidate root x**((p+3)/8)
_L_25519: Final = 48  # ceil((ceil(log2 p) + k) / 8) with k = 128 (RFC 9380 section 5)

MontgomeryPoint = tuple[int, int] | None
"""An affine point ``(u, v)`` of Curve25519 (Montgomery form); ``None`` is the point at infinity."""

# --------------------------------------------------------------------------- MODP group 14
MODP_DST: Final = b"HEPRIM-V01-CS01-with-modp2048_XOF:SHAKE-256_SQUARE_RO_"
"""heprim's domain separation tag for identifiers hashed into RFC 3526 group 14."""
_L_MODP: Final = 272  # ceil((2048 + 128) / 8)


def _check_dst(dst: bytes) -> bytes:
    if not isinstance(dst, bytes | bytearray):
        raise ParameterError(f"a domain separation tag is bytes, got {type(dst).__name__}")
    if not 0 < len(dst) <= 255:
        raise ParameterError(
            f"a domain separation tag has 1 to 255 bytes (got {len(dst)}); RFC 9380 section "
            "5.3.3 hashes longer tags first, which heprim's fixed tags never need"
        )
    return bytes(dst) + bytes([len(dst)])


def _check_length(length: int, limit: int) -> int:
    if isinstance(length, bool) or not isinstance(length, int) or not 0 < length <= limit:
        raise ParameterError(f"len_in_bytes must be an integer in [1, {limit}], got {length!r}")
    return length


def expand_message_xmd(
    msg: bytes, dst: bytes, len_in_bytes: int, *, hash_name: str = "sha512"
) -> bytes:
    """``expand_message_xmd(msg, DST, len_in_bytes)`` of RFC 9380 section 5.3.1.

    With ``H`` a Merkle-Damgard hash (SHA-512 by default: ``b_in_bytes = 64``,
    ``s_in_bytes = 128``)::

        msg' = Z_pad(s_in_bytes) || msg || I2OSP(len_in_bytes, 2) || I2OSP(0, 1) || DST'
        b_0 = H(msg');  b_1 = H(b_0 || I2OSP(1, 1) || DST')
        b_i = H((b_0 XOR b_(i-1)) || I2OSP(i, 1) || DST')
        output = (b_1 || ... || b_ell)[:len_in_bytes]

    where ``DST' = DST || I2OSP(len(DST), 1)``.
    """
    dst_prime = _check_dst(dst)
    hasher = hashlib.new(hash_name)
    b_in_bytes, s_in_bytes = hasher.digest_size, hasher.block_size
    ell = -(-_check_length(len_in_bytes, 65535) // b_in_bytes)
    if ell > 255:
        raise ParameterError(
            f"expand_message_xmd with {hash_name} produces at most {255 * b_in_bytes} bytes"
        )
    hasher.update(bytes(s_in_bytes))
    hasher.update(bytes(msg))
    hasher.update(len_in_bytes.to_bytes(2, "big") + b"\x00" + dst_prime)
    b_0 = hasher.digest()
    blocks: list[bytes] = []
    previous = bytes(b_in_bytes)
    for i in range(1, ell + 1):
        mixed = bytes(x ^ y for x, y in zip(b_0, previous, strict=True)) if i > 1 else b_0
        previous = hashlib.new(hash_name, mixed + bytes([i]) + dst_prime).digest()
        blocks.append(previous)
    return b"".join(blocks)[:len_in_bytes]


def expand_message_xof(
    msg: bytes, dst: bytes, len_in_bytes: int, *, xof: str = "shake_256"
) -> bytes:
    """``expand_message_xof(msg, DST, len_in_bytes)`` of RFC 9380 section 5.3.2.

    ``output = H(msg || I2OSP(len_in_bytes, 2) || DST || I2OSP(len(DST), 1), len_in_bytes)`` for
    an extendable-output function ``H`` (SHAKE-256 by default).
    """
    dst_prime = _check_dst(dst)
    length = _check_length(len_in_bytes, 65535)
    shake = hashlib.new(xof)
    shake.update(bytes(msg) + length.to_bytes(2, "big") + dst_prime)
    digest: bytes = shake.digest(length)  # type: ignore[call-arg]
    return digest


def hash_to_field(
    msg: bytes,
    count: int,
    *,
    p: int,
    dst: bytes,
    length: int,
    expand: Callable[[bytes, bytes, int], bytes] = expand_message_xmd,
) -> list[int]:
    """``hash_to_field(msg, count)`` of RFC 9380 section 5.2 for a prime field (``m = 1``).

    ``count`` elements of ``GF(p)``, each the big-endian integer of ``length`` uniform bytes
    reduced modulo ``p``; ``length = ceil((ceil(log2 p) + k) / 8)`` makes the bias at most
    ``2**-k``.
    """
    uniform = expand(msg, dst, count * length)
    return [
        mpz(int.from_bytes(uniform[i * length : (i + 1) * length], "big")) % p for i in range(count)
    ]


# --------------------------------------------------------------------------- Elligator 2


def _sqrt_25519(x: int) -> int | None:
    """A square root of ``x`` modulo ``2**255 - 19``, or ``None`` (Atkin's method for p = 5 mod 8).

    ``c = x**((p+3)/8)`` satisfies ``c**2 = +-x`` when ``x`` is a square; in the minus case
    ``c * sqrt(-1)`` is the root (RFC 9380 appendix I.2 computes the same in constant time).
    """
    p = CURVE25519_P
    c = powmod(x, _SQRT_EXP, p)
    c2 = c * c % p
    if c2 == x:
        return c
    if c2 == (-x) % p:
        return c * _SQRT_M1 % p
    return None


def _curve_rhs(u: int) -> int:
    """``u**3 + A u**2 + u mod p``: the right-hand side of Curve25519's equation at ``u``."""
    return u * (u * (u + CURVE25519_A) + 1) % CURVE25519_P


def map_to_curve_elligator2(u: int) -> tuple[int, int]:
    """Elligator 2 for Curve25519: RFC 9380 section 6.7.1 with ``J = 486662``, ``K = 1``, ``Z = 2``.

    Steps (``inv0(0) = 0``; ``sgn0(y) = y mod 2``)::

        x1 = -J * inv0(1 + Z u**2);  if x1 == 0: x1 = -J
        gx1 = x1**3 + J x1**2 + x1;  x2 = -x1 - J;  gx2 = x2**3 + J x2**2 + x2
        if is_square(gx1): (x, y) = (x1, sqrt(gx1)) with sgn0(y) == 1
        else:              (x, y) = (x2, sqrt(gx2)) with sgn0(y) == 0

    ``gx1 gx2 = Z u**2 gx1**2`` is never a square unless ``gx1`` is, so exactly one branch holds.
    The sign conventions make the result deterministic (and equal to the RFC's straight-line
    version of appendix G.2.1, whose test vectors check it).
    """
    p, J = CURVE25519_P, CURVE25519_A
    denominator = (1 + _Z * u * u) % p
    x1 = (-J * invert(denominator, p)) % p if denominator else (-J) % p
    if x1 == 0:  # cannot happen for J != 0; kept to mirror the RFC's step 2
        x1 = (-J) % p
    gx1 = _curve_rhs(x1)
    if jacobi(gx1, p) >= 0:  # 0 is a square (is_square of RFC 9380 section 4)
        x, y, sign = x1, _sqrt_25519(gx1), 1
    else:
        x = (-x1 - J) % p
        y, sign = _sqrt_25519(_curve_rhs(x)), 0
    if y is None:  # pragma: no cover - excluded by the Legendre symbol above
        raise ArithmeticError("Elligator 2: the chosen branch has no square root")
    if y % 2 != sign:
        y = (-y) % p
    return x, y


# --------------------------------------------------------------------------- curve arithmetic


def on_curve25519(point: MontgomeryPoint) -> bool:
    """Whether ``point`` is on ``v**2 = u**3 + 486662 u**2 + u`` (infinity counts)."""
    if point is None:
        return True
    u, v = point
    p = CURVE25519_P
    return bool(0 <= u < p and 0 <= v < p and v * v % p == _curve_rhs(u))


def montgomery_double(point: MontgomeryPoint) -> MontgomeryPoint:
    """``2 P`` in affine Montgomery coordinates (``B = 1``; Okeya-Sakurai, CHES 2001, section 2)."""
    if point is None:
        return None
    u, v = point
    if v == 0:  # a point of order 2
        return None
    p, A = CURVE25519_P, CURVE25519_A
    slope = (3 * u * u + 2 * A * u + 1) * invert(2 * v % p, p) % p
    u3 = (slope * slope - A - 2 * u) % p
    return u3, (slope * (u - u3) - v) % p


def montgomery_add(first: MontgomeryPoint, second: MontgomeryPoint) -> MontgomeryPoint:
    """``P + Q`` in affine Montgomery coordinates, with every special case of the group law."""
    if first is None:
        return second
    if second is None:
        return first
    u1, v1 = first
    u2, v2 = second
    p, A = CURVE25519_P, CURVE25519_A
    if u1 == u2:
        if (v1 + v2) % p == 0:  # Q = -P
            return None
        return montgomery_double(first)
    slope = (v2 - v1) * invert((u2 - u1) % p, p) % p
    u3 = (slope * slope - A - u1 - u2) % p
    return u3, (slope * (u1 - u3) - v1) % p


def clear_cofactor_curve25519(point: MontgomeryPoint) -> MontgomeryPoint:
    """``8 P`` (RFC 9380 section 8.5: ``h_eff = 8``), three doublings."""
    for _ in range(3):
        point = montgomery_double(point)
    return point


def hash_to_curve25519(msg: bytes, dst: bytes = CURVE25519_DST) -> tuple[int, int]:
    """``hash_to_curve`` of suite ``curve25519_XMD:SHA-512_ELL2_RO_`` (RFC 9380 sections 3, 8.5).

    ``u = hash_to_field(msg, 2)``; ``P = clear_cofactor(map(u[0]) + map(u[1]))``. Returns the
    affine point ``(u, v)``, of prime order ``l``.

    Raises:
        ArithmeticError: the sum is a point of small order (probability about ``2**-250``: not
            expected to ever happen; it would mean a hash collision with a torsion point).
    """
    u0, u1 = hash_to_field(
        msg, 2, p=CURVE25519_P, dst=dst, length=_L_25519, expand=expand_message_xmd
    )
    point = clear_cofactor_curve25519(
        montgomery_add(map_to_curve_elligator2(u0), map_to_curve_elligator2(u1))
    )
    if point is None:  # pragma: no cover - probability ~2**-250
        raise ArithmeticError("this identifier hashes to the point at infinity")
    return point


# --------------------------------------------------------------------------- MODP


def hash_to_modp_subgroup(msg: bytes, p: int, dst: bytes = MODP_DST) -> int:
    """``h(msg)**2 mod p`` with ``h = hash_to_field`` over ``GF(p)`` (SHAKE-256, ``L = 272``).

    For a safe prime ``p = 2q + 1`` the squares form the subgroup of prime order ``q``, and
    squaring maps the near-uniform ``h`` to a near-uniform element of it.

    Raises:
        ArithmeticError: ``h = 0`` or ``h = +-1`` (probability about ``2**-2046``).
    """
    (h,) = hash_to_field(msg, 1, p=p, dst=dst, length=_L_MODP, expand=expand_message_xof)
    square = h * h % p
    if square in (0, 1):  # pragma: no cover - probability ~2**-2046
        raise ArithmeticError("this identifier hashes to a degenerate element")
    return square
