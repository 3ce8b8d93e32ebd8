"""Prime-order groups for the commutative cipher of private intersection (DDH-based PSI).

Ion et al. ("On Deploying Secure Computing: Private Intersection-Sum-with-Cardinality", EuroS&P
2020, section 3.2) blind identifiers by exponentiation in a group ``G`` where DDH is hard: party
``P1`` sends ``H(v)**k1``, party ``P2`` raises those to ``k2``, and ``H(v)**(k1 k2) =
H(w)**(k2 k1)`` exactly when ``v = w``. Exponentiation commutes, and under DDH the blinded values
look random to whoever lacks the exponent. Two groups implement that here:

``x25519`` (the default)
    The prime-order subgroup of Curve25519 (order ``l ~ 2**252``, ~128-bit security). Identifiers
    are hashed to it by RFC 9380's ``curve25519_XMD:SHA-512_ELL2_RO_`` (:mod:`.hashing`); the
    exponentiation is X25519 (RFC 7748) from the ``cryptography`` package: a constant-time
    Montgomery ladder on the ``u``-coordinate, ``x -> [k] x`` with a clamped scalar ``k = 2**254
    + 8 s``. Clamped scalars commute like any others, and being multiples of 8 they also annihilate
    any small-order component a malicious peer could smuggle into an element. An element is its
    32-byte little-endian ``u``-coordinate (it stands for the pair ``+-P``; equality tests only
    need that). About 60 us per exponentiation here.
``modp2048``
    The quadratic residues modulo the RFC 3526 group 14 safe prime ``p = 2q + 1`` (order ``q``,
    ~112-bit security). Identifiers are hashed by squaring a 2176-bit SHAKE-256 hash
    (:func:`.hashing.hash_to_modp_subgroup`). Exponents are short: 256 uniform bits, as NIST SP
    800-56A rev. 3 section 5.6.1.1.1 allows for safe-prime groups (at least ``2s = 224`` bits for
    ``s = 112``); this rests on the short-exponent DDH assumption (Koshiba and Kurosawa, PKC 2004).
    Elements are 256 bytes. About 0.46 ms per exponentiation (gmpy2): 8x slower than X25519.

Every element received from the other party is validated before use: canonical encoding, on the
curve (not its twist) or a quadratic residue, not of small order. A failed check raises
:class:`~heprim.errors.ParameterError` naming the element; the protocol turns it into a
:class:`~heprim.errors.ProtocolError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from heprim.errors import ParameterError
from heprim.math.ntheory import jacobi, mpz, powmod, powmod_base_list
from heprim.math.prng import PRNG, default_rng
from heprim.pjc.hashing import (
    CURVE25519_A,
    CURVE25519_P,
    hash_to_curve25519,
    hash_to_modp_subgroup,
)

__all__ = [
    "DEFAULT_GROUP",
    "GROUPS",
    "MODP2048_P",
    "Group",
    "GroupKey",
    "ModpGroup",
    "X25519Group",
    "get_group",
    "group_by_code",
]

Progress = Callable[[int, int], None] | None

_REPORT_EVERY: Final = 512  # progress granularity (items)

MODP2048_P: Final = mpz(
    int(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
        "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
        "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836"
        "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804"
        "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6"
        "955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
        16,
    )
)
"""The 2048-bit MODP group of RFC 3526 section 3 (group 14): ``2**2048 - 2**1984 - 1 +
2**64 (floor(2**1918 pi) + 124476)``, a safe prime."""


def _report(progress: Progress, done: int, total: int) -> None:
    if progress is not None and (done % _REPORT_EVERY == 0 or done == total):
        progress(done, total)


class GroupKey(ABC):
    """A secret exponent ``k`` of one group: the key of the commutative cipher ``x -> x**k``."""

    __slots__ = ()

    @property
    @abstractmethod
    def group(self) -> Group:
        """The group the exponent acts on."""

    @abstractmethod
    def exponentiate(self, element: bytes) -> bytes:
        """``element**k`` for an element this party produced (not validated again)."""

    @abstractmethod
    def exponentiate_checked(self, element: bytes) -> bytes:
        """``element**k`` for an element from the other party, validated first.

        Raises:
            ParameterError: the element is not a valid element of the prime-order group.
        """

    def hash_and_exponentiate(
        self, identifiers: Sequence[bytes], *, progress: Progress = None
    ) -> list[bytes]:
        """``H(x)**k`` for each identifier (the first blinding of Ion et al., round 1)."""
        group, total, out = self.group, len(identifiers), []
        for i, identifier in enumerate(identifiers, 1):
            out.append(self.exponentiate(group.hash_to_element(identifier)))
            _report(progress, i, total)
        return out

    def exponentiate_many(
        self, elements: Sequence[bytes], *, progress: Progress = None
    ) -> list[bytes]:
        """``e**k`` for each element received from the other party, each validated.

        Raises:
            ParameterError: naming the index of the first invalid element.
        """
        total, out = len(elements), []
        for i, element in enumerate(elements):
            try:
                out.append(self.exponentiate_checked(element))
            except ParameterError as exc:
                raise ParameterError(f"element {i}: {exc}") from None
            _report(progress, i + 1, total)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(group={self.group.name!r}, <exponent hidden>)"


class Group(ABC):
    """A prime-order group with a hash onto it: what the commutative cipher needs."""

    name: str
    """The name used in APIs and on the command line."""
    code: int
    """The byte that identifies the group on the wire."""
    element_bytes: int
    """Size of one encoded element."""
    security_bits: int
    """Approximate security level of discrete logarithms and DDH in the group."""

    @abstractmethod
    def hash_to_element(self, identifier: bytes) -> bytes:
        """``H(identifier)``: a random-oracle hash onto the prime-order group, encoded."""

    @abstractmethod
    def generate_key(self, rng: PRNG | None = None) -> GroupKey:
        """A fresh uniformly random secret exponent."""

    @abstractmethod
    def check_element(self, element: bytes) -> None:
        """Raise :class:`ParameterError` unless ``element`` encodes a valid group element."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Group):
            return NotImplemented
        return self.code == other.code

    def __hash__(self) -> int:
        return hash(self.code)


# --------------------------------------------------------------------------- X25519


def _check_u(element: bytes) -> int:
    """The ``u``-coordinate of a canonical encoding of a point on Curve25519 (not the twist)."""
    if not isinstance(element, bytes) or len(element) != 32:
        raise ParameterError("an x25519 element is 32 bytes")
    u = int.from_bytes(element, "little")
    if u >= CURVE25519_P:  # includes a set top bit, which RFC 7748 would silently drop
        raise ParameterError("the u-coordinate is not canonical (not below 2**255 - 19)")
    # On the curve iff u**3 + A u**2 + u is a non-zero square; 0 (u = 0, a point of order 2) and
    # non-squares (points of the quadratic twist, whose order has small factors) are refused.
    p = CURVE25519_P
    if jacobi(u * (u * (u + CURVE25519_A) + 1) % p, p) != 1:
        raise ParameterError("the point is not on Curve25519 (it lies on the twist, or is 0)")
    return u


class _X25519Key(GroupKey):
    __slots__ = ("_group", "_key")

    def __init__(self, group: X25519Group, scalar: bytes) -> None:
        self._group = group
        self._key = X25519PrivateKey.from_private_bytes(scalar)

    @property
    def group(self) -> Group:
        return self._group

    def exponentiate(self, element: bytes) -> bytes:
        try:
            return self._key.exchange(X25519PublicKey.from_public_bytes(element))
        except ValueError:
            # cryptography refuses an all-zero result: the input had small order only.
            raise ParameterError(
                "the point has small order (its multiple is the identity)"
            ) from None

    def exponentiate_checked(self, element: bytes) -> bytes:
        _check_u(element)
        return self.exponentiate(element)


class X25519Group(Group):
    """Curve25519's prime-order subgroup, X25519 exponentiation, RFC 9380 hashing (default)."""

    name = "x25519"
    code = 1
    element_bytes = 32
    security_bits = 128

    def hash_to_element(self, identifier: bytes) -> bytes:
        u, _ = hash_to_curve25519(identifier)
        return int(u).to_bytes(32, "little")

    def generate_key(self, rng: PRNG | None = None) -> GroupKey:
        # X25519 clamps the 32 bytes to 2**254 + 8 s with s uniform in [0, 2**251).
        return _X25519Key(self, default_rng(rng).random_bytes(32))

    def check_element(self, element: bytes) -> None:
        _check_u(element)


# --------------------------------------------------------------------------- MODP


_MODP_EXPONENT_BITS: Final = 256


def _check_residue(element: bytes, p: int, size: int) -> int:
    if not isinstance(element, bytes) or len(element) != size:
        raise ParameterError(f"a modp2048 element is {size} bytes")
    x = mpz(int.from_bytes(element, "big"))
    if not 1 < x < p - 1:
        raise ParameterError("the element is 0, 1, -1 or not reduced modulo p")
    if jacobi(x, p) != 1:  # for a safe prime, the order-q subgroup is the quadratic residues
        raise ParameterError("the element is not a quadratic residue (not in the order-q subgroup)")
    return x


class _ModpKey(GroupKey):
    __slots__ = ("_exponent", "_group")

    def __init__(self, group: ModpGroup, exponent: int) -> None:
        self._group = group
        self._exponent = mpz(exponent)

    @property
    def group(self) -> Group:
        return self._group

    def _encode(self, x: int) -> bytes:
        return int(x).to_bytes(self._group.element_bytes, "big")

    def exponentiate(self, element: bytes) -> bytes:
        x = mpz(int.from_bytes(element, "big"))
        return self._encode(powmod(x, self._exponent, self._group.p))

    def exponentiate_checked(self, element: bytes) -> bytes:
        x = _check_residue(element, self._group.p, self._group.element_bytes)
        return self._encode(powmod(x, self._exponent, self._group.p))

    def hash_and_exponentiate(
        self, identifiers: Sequence[bytes], *, progress: Progress = None
    ) -> list[bytes]:
        p, total = self._group.p, len(identifiers)
        out: list[bytes] = []
        for start in range(0, total, _REPORT_EVERY):
            batch = [
                hash_to_modp_subgroup(x, p) for x in identifiers[start : start + _REPORT_EVERY]
            ]
            # One GMP call per batch (it releases the GIL for other threads).
            out.extend(self._encode(y) for y in powmod_base_list(batch, self._exponent, p))
            _report(progress, len(out), total)
        return out


class ModpGroup(Group):
    """The order-``q`` subgroup of ``Z*_p`` for RFC 3526 group 14, with 256-bit exponents."""

    name = "modp2048"
    code = 2
    element_bytes = 256
    security_bits = 112

    def __init__(self) -> None:
        self.p = MODP2048_P
        self.q = (MODP2048_P - 1) // 2

    def hash_to_element(self, identifier: bytes) -> bytes:
        return int(hash_to_modp_subgroup(identifier, self.p)).to_bytes(self.element_bytes, "big")

    def generate_key(self, rng: PRNG | None = None) -> GroupKey:
        return _ModpKey(self, default_rng(rng).randrange(1, 1 << _MODP_EXPONENT_BITS))

    def check_element(self, element: bytes) -> None:
        _check_residue(element, self.p, self.element_bytes)


# --------------------------------------------------------------------------- registry

GROUPS: Final[dict[str, Group]] = {g.name: g for g in (X25519Group(), ModpGroup())}
"""The groups heprim offers, by name."""
DEFAULT_GROUP: Final = "x25519"


def get_group(group: str | Group) -> Group:
    """A :class:`Group` from its name (``"x25519"`` or ``"modp2048"``) or itself."""
    if isinstance(group, Group):
        return group
    found = GROUPS.get(group) if isinstance(group, str) else None
    if found is None:
        raise ParameterError(
            f"unknown group {group!r}; choose one of {', '.join(sorted(GROUPS))} "
            f"({DEFAULT_GROUP} is the default)"
        )
    return found


def group_by_code(code: int) -> Group | None:
    """The group with wire code ``code``, or ``None``."""
    for group in GROUPS.values():
        if group.code == code:
            return group
    return None
