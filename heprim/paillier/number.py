"""EncryptedNumber: a Paillier ciphertext of an encoded number, with its arithmetic.

Paillier is additively homomorphic (Paillier 1999, section 8): for ciphertexts ``c1, c2`` of
``m1, m2`` and a plaintext integer ``k``,

* ``c1 * c2 mod n**2`` encrypts ``m1 + m2 mod n``;
* ``c1 ** k mod n**2`` encrypts ``k * m1 mod n``;
* ``c1 * (1 + m2 n) mod n**2`` encrypts ``m1 + m2`` for a *plaintext* ``m2`` (a trivial encryption).

On top of the encoding of :mod:`heprim.paillier.encoding`, this gives ``+`` and ``-`` between
encrypted numbers and with plain ints and floats (exponents aligned by lowering the larger one),
``*`` and ``/`` by plain scalars (exponents add), and unary minus. The product of two encrypted
numbers is not defined by the scheme.

**Re-randomisation is explicit.** Results of ``+``, ``-`` and ``*`` are deterministic functions of
their inputs: whoever sees an input ciphertext and a result can test guesses of the plaintext
operand. Call :meth:`EncryptedNumber.obfuscate` before sending a computed result to anyone
(python-paillier does the same when its ``ciphertext()`` is read; here the ciphertext attribute is
always the raw value and the choice is yours). ``encrypt()`` output is always fresh.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import TYPE_CHECKING, TypeVar

from heprim.errors import KeyMismatchError, ParameterError
from heprim.paillier.encoding import BASE, EncodedNumber
from heprim.paillier.keys import Mode, PublicKey, _check_int

if TYPE_CHECKING:
    from heprim.math.prng import PRNG
    from heprim.paillier.pool import RandomnessPool

__all__ = ["EncryptedNumber"]

_Addend = TypeVar("_Addend", EncodedNumber, "EncryptedNumber")


def _is_plain_scalar(value: object) -> bool:
    """An int or a float (numpy scalars included), but never a bool."""
    return isinstance(value, Real) and not isinstance(value, bool)


class EncryptedNumber:
    """The encryption of ``mantissa * 16**exponent`` under ``public_key``.

    Args:
        public_key: the key it is encrypted under.
        ciphertext: the raw ciphertext, checked to be in ``(0, n**2)`` and coprime to ``n``.
        exponent: the public base-16 exponent of the encoding (0 for integers).
    """

    __slots__ = ("_ciphertext", "exponent", "public_key")

    public_key: PublicKey
    exponent: int
    _ciphertext: int

    def __init__(self, public_key: PublicKey, ciphertext: int, exponent: int = 0) -> None:
        if not isinstance(public_key, PublicKey):
            raise ParameterError(
                f"public_key must be a heprim PublicKey, got {type(public_key).__name__}"
            )
        exp = int(_check_int(exponent, "exponent"))
        self._ciphertext = public_key.check_ciphertext(ciphertext)
        self.public_key = public_key
        self.exponent = exp

    @classmethod
    def _trusted(cls, public_key: PublicKey, ciphertext: int, exponent: int) -> EncryptedNumber:
        """Build from a ciphertext computed here (no validation on the hot path)."""
        self = cls.__new__(cls)
        self.public_key = public_key
        self._ciphertext = ciphertext
        self.exponent = exponent
        return self

    @property
    def ciphertext(self) -> int:
        """The raw ciphertext (as is: no implicit re-randomisation)."""
        return self._ciphertext

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the key this number is encrypted under."""
        return self.public_key.fingerprint

    # ------------------------------------------------------------------ randomisation, exponent

    def obfuscate(
        self,
        *,
        rng: PRNG | None = None,
        mode: Mode = "djn",
        pool: RandomnessPool | None = None,
    ) -> None:
        """Re-randomise in place: multiply by a fresh random ``n``-th residue.

        The plaintext is unchanged; the new ciphertext is unlinkable to the old one. Do this before
        sharing the result of homomorphic operations.
        """
        self._ciphertext = self.public_key.raw_obfuscate(
            self._ciphertext, rng=rng, mode=mode, pool=pool
        )

    def decrease_exponent_to(self, new_exp: int) -> EncryptedNumber:
        """The same value at the lower exponent ``new_exp``: multiply by ``16**(exponent - new)``.

        Raises:
            ParameterError: ``new_exp`` exceeds the current exponent.
        """
        new = int(_check_int(new_exp, "new_exp"))
        if new > self.exponent:
            raise ParameterError(
                f"new exponent {new} must not exceed the current exponent {self.exponent}: an "
                "exponent can only be lowered without decrypting"
            )
        if new == self.exponent:
            return EncryptedNumber._trusted(self.public_key, self._ciphertext, new)
        pk = self.public_key
        c = pk.raw_mul(self._ciphertext, BASE ** (self.exponent - new))
        return EncryptedNumber._trusted(pk, c, new)

    # ------------------------------------------------------------------ helpers

    def _same_key(self, other_key: PublicKey, what: str) -> None:
        if other_key is not self.public_key and other_key != self.public_key:
            raise KeyMismatchError(
                f"cannot combine numbers under different keys ({self.public_key.fingerprint[:8]} "
                f"and {other_key.fingerprint[:8]} for {what})"
            )

    def _aligned(self, other: _Addend) -> tuple[EncryptedNumber, _Addend]:
        """Both addends at the smaller of their exponents (phe's alignment before adding)."""
        if self.exponent > other.exponent:
            return self.decrease_exponent_to(other.exponent), other
        if self.exponent < other.exponent:
            return self, other.decrease_exponent_to(self.exponent)
        return self, other

    def _add_encoded(self, encoded: EncodedNumber) -> EncryptedNumber:
        """``E(a) * (1 + b n)``: adding a plaintext needs no randomness (a trivial encryption)."""
        self._same_key(encoded.public_key, "addition")
        a, b = self._aligned(encoded)
        pk = self.public_key
        c = a._ciphertext * (1 + b.encoding * pk.n) % pk.nsquare
        return EncryptedNumber._trusted(pk, c, a.exponent)

    def _add_encrypted(self, other: EncryptedNumber) -> EncryptedNumber:
        self._same_key(other.public_key, "addition")
        a, b = self._aligned(other)
        pk = self.public_key
        return EncryptedNumber._trusted(pk, a._ciphertext * b._ciphertext % pk.nsquare, a.exponent)

    def _mul_encoded(self, encoded: EncodedNumber) -> EncryptedNumber:
        self._same_key(encoded.public_key, "multiplication")
        pk = self.public_key
        c = pk.raw_mul(self._ciphertext, encoded.encoding)
        return EncryptedNumber._trusted(pk, c, self.exponent + encoded.exponent)

    # ------------------------------------------------------------------ operators

    def __add__(self, other: object) -> EncryptedNumber:
        if isinstance(other, EncryptedNumber):
            return self._add_encrypted(other)
        if isinstance(other, EncodedNumber):
            return self._add_encoded(other)
        if _is_plain_scalar(other):
            if isinstance(other, Integral) and other == 0 and self.exponent <= 0:
                # sum() starts from 0: adding an exact zero is the identity (an int 0 encodes at
                # exponent 0, so only a positive exponent would be lowered, as in phe).
                return EncryptedNumber._trusted(self.public_key, self._ciphertext, self.exponent)
            encoded = EncodedNumber.encode(
                self.public_key,
                other,  # type: ignore[arg-type]
                max_exponent=self.exponent,
            )
            return self._add_encoded(encoded)
        return NotImplemented

    __radd__ = __add__

    def __neg__(self) -> EncryptedNumber:
        pk = self.public_key
        return EncryptedNumber._trusted(pk, pk.raw_mul(self._ciphertext, -1), self.exponent)

    def __sub__(self, other: object) -> EncryptedNumber:
        if isinstance(other, EncryptedNumber):
            return self._add_encrypted(-other)
        if isinstance(other, EncodedNumber):
            self._same_key(other.public_key, "subtraction")
            negated = EncodedNumber._trusted(
                other.public_key, (-other.encoding) % other.public_key.n, other.exponent
            )
            return self._add_encoded(negated)
        if _is_plain_scalar(other):
            return self.__add__(-other)  # type: ignore[operator]
        return NotImplemented

    def __rsub__(self, other: object) -> EncryptedNumber:
        if isinstance(other, EncodedNumber) or _is_plain_scalar(other):
            return (-self).__add__(other)
        return NotImplemented

    def __mul__(self, other: object) -> EncryptedNumber:
        if isinstance(other, EncodedNumber):
            return self._mul_encoded(other)
        if _is_plain_scalar(other):
            return self._mul_encoded(
                EncodedNumber.encode(self.public_key, other)  # type: ignore[arg-type]
            )
        # EncryptedNumber * EncryptedNumber is not computable under Paillier: TypeError.
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> EncryptedNumber:
        if _is_plain_scalar(other):
            if other == 0:
                raise ParameterError("division of an encrypted number by zero")
            return self.__mul__(1 / other)  # type: ignore[operator]
        return NotImplemented

    def __repr__(self) -> str:
        return f"EncryptedNumber(exponent={self.exponent}, key={self.public_key.fingerprint[:8]})"
