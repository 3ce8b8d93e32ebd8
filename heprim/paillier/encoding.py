"""Signed integers and fixed-point floats as Paillier plaintexts, the python-paillier way.

Paillier encrypts integers modulo ``n``. Signed and fractional numbers are carried by the encoding
of python-paillier's ``EncodedNumber`` (Data61, ``phe/encoding.py``), so that a number encrypted
by phe decrypts to the same value here and the other way round:

* a value ``x`` is represented as ``mantissa * BASE**exponent`` with ``BASE = 16``; the integer
  ``mantissa`` is stored modulo ``n``, so a negative mantissa becomes ``n - |mantissa|``;
* only mantissas with ``|mantissa| <= max_int = n // 3`` are valid. The band
  ``(max_int, n - max_int)`` is never produced by encoding and is kept free to *detect* overflow: a
  sum or product that left the valid range decrypts into that band and :meth:`decode` raises
  :class:`~heprim.errors.EncodingOverflowError` instead of returning a wrong number (as long as it
  did not wrap past the band, which needs about ``n/3`` of excess);
* the exponent is public (it travels next to the ciphertext). Sums need equal exponents, which
  :meth:`EncodedNumber.decrease_exponent_to` provides by multiplying the mantissa by a power of 16;
  products add exponents.

Floats are encoded exactly by default: the exponent is chosen so that the float's least
significant bit is kept (``precision=None``), or from a requested absolute ``precision``, as in phe.
Rounding is Python's round-half-even of the exact rational ``x / BASE**exponent``.

phe uses ``max_int = n // 3 - 1``; ours is one larger, so every number phe can encode decodes the
same here, and only the single value ``+-(n // 3)`` would be refused by phe.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Final

from heprim.errors import EncodingOverflowError, KeyMismatchError, ParameterError
from heprim.paillier.keys import PublicKey

__all__ = ["BASE", "LOG2_BASE", "EncodedNumber"]

BASE: Final = 16
LOG2_BASE: Final = 4
FLOAT_MANTISSA_BITS: Final = 53  # IEEE 754 binary64: sys.float_info.mant_dig


def _round_half_even(num: int, den: int) -> int:
    """``round(num / den)`` with ties to even, exactly, for ``den > 0`` (what ``round(Fraction)``
    does, without building Fractions)."""
    q, r = divmod(num, den)  # floor division: 0 <= r < den, also for negative num
    twice = 2 * r
    if twice > den or (twice == den and q & 1):
        q += 1
    return q


def _as_scalar(value: object, what: str) -> int | float:
    """Accept Python and numpy integers and floats; refuse bools and everything else."""
    if isinstance(value, bool):
        raise ParameterError(
            f"{what} is a bool; encrypt int({value}) explicitly if you really mean 0 or 1"
        )
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        x = float(value)
        if not math.isfinite(x):
            raise ParameterError(
                f"{what} must be finite, got {x}; NaN and infinity cannot be encoded"
            )
        return x
    raise ParameterError(
        f"{what} must be an int or a float (numpy scalars are fine), got {type(value).__name__}"
    )


def _check_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ParameterError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _check_precision(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ParameterError(f"precision must be a positive number, got {value!r}")
    prec = float(value)
    if not (math.isfinite(prec) and prec > 0):
        raise ParameterError(f"precision must be a positive finite number, got {prec}")
    return prec


class EncodedNumber:
    """A plaintext ``encoding`` in ``[0, n)`` standing for ``mantissa * BASE**exponent``.

    Build one with :meth:`encode`; the constructor is for values that are already encoded
    (decrypted plaintexts, deserialised data) and only checks ranges.

    Args:
        public_key: the key whose modulus ``n`` the encoding lives under.
        encoding: the integer plaintext, ``0 <= encoding < n``.
        exponent: the public base-16 exponent.
    """

    __slots__ = ("encoding", "exponent", "public_key")

    BASE: Final = BASE
    LOG2_BASE: Final = LOG2_BASE
    FLOAT_MANTISSA_BITS: Final = FLOAT_MANTISSA_BITS

    encoding: int
    exponent: int
    public_key: PublicKey

    def __init__(self, public_key: PublicKey, encoding: int, exponent: int) -> None:
        if not isinstance(public_key, PublicKey):
            raise ParameterError(
                f"public_key must be a heprim PublicKey, got {type(public_key).__name__}"
            )
        enc = _check_int(encoding, "encoding")
        if not 0 <= enc < public_key.n:
            raise ParameterError(
                "encoding must be in [0, n): it is a plaintext modulo the key's n (negative "
                "numbers are stored as n - |x|; use EncodedNumber.encode for signed values)"
            )
        self.public_key = public_key
        self.encoding = enc
        self.exponent = _check_int(exponent, "exponent")

    @classmethod
    def _trusted(cls, public_key: PublicKey, encoding: int, exponent: int) -> EncodedNumber:
        """Build without checks (values computed here, already in range)."""
        self = cls.__new__(cls)
        self.public_key = public_key
        self.encoding = encoding
        self.exponent = exponent
        return self

    @classmethod
    def encode(
        cls,
        public_key: PublicKey,
        scalar: int | float,
        precision: float | None = None,
        max_exponent: int | None = None,
    ) -> EncodedNumber:
        """Encode an int or a float for ``public_key``, exactly as python-paillier does.

        The exponent is (phe's ``EncodedNumber.encode``):

        * ``precision=None``: 0 for an int; for a float, ``floor((e2 - 53) / 4)`` where ``2**e2``
          bounds the float (``math.frexp``), so that its least significant bit is kept;
        * else ``floor(log_16(precision))``: the largest exponent resolving ``precision``;
        * then at most ``max_exponent`` when given (used to align with a ciphertext's exponent).

        Raises:
            EncodingOverflowError: when ``|mantissa| > max_int``.
            ParameterError: for bools, non-numbers, NaN/inf, a non-positive precision.
        """
        if not isinstance(public_key, PublicKey):
            raise ParameterError(
                f"public_key must be a heprim PublicKey, got {type(public_key).__name__}"
            )
        x = _as_scalar(scalar, "the value to encode")
        if precision is None:
            if isinstance(x, int):
                exponent = 0
            else:
                bin_lsb_exponent = math.frexp(x)[1] - FLOAT_MANTISSA_BITS
                exponent = bin_lsb_exponent // LOG2_BASE
        else:
            prec = _check_precision(precision)
            # Same float computation as phe, so both libraries pick the same exponent.
            exponent = math.floor(math.log(prec, BASE))
        if max_exponent is not None:
            exponent = min(exponent, _check_int(max_exponent, "max_exponent"))

        if isinstance(x, int):
            if exponent <= 0:
                mantissa = x * BASE**-exponent
            else:
                mantissa = _round_half_even(x, BASE**exponent)
        else:
            num, den = x.as_integer_ratio()  # exact: den is a power of two
            if exponent <= 0:
                mantissa = _round_half_even(num * BASE**-exponent, den)
            else:
                mantissa = _round_half_even(num, den * BASE**exponent)

        if abs(mantissa) > public_key.max_int:
            raise EncodingOverflowError(
                f"{scalar!r} needs a mantissa of {abs(mantissa).bit_length()} bits at exponent "
                f"{exponent}, beyond max_int = n // 3 ({public_key.max_int.bit_length()} bits); "
                "use a larger key, a coarser precision, or split the value"
            )
        return cls._trusted(public_key, mantissa % public_key.n, exponent)

    def decode(self) -> int | float:
        """The value: an ``int`` when ``exponent >= 0``, else a ``float``.

        Raises:
            EncodingOverflowError: the encoding lies in the overflow band ``(max_int, n - max_int)``
                (a homomorphic result left the representable range), or the value is too large
                for a float.
        """
        n = self.public_key.n
        max_int = self.public_key.max_int
        if self.encoding <= max_int:
            mantissa = int(self.encoding)
        elif self.encoding >= n - max_int:
            mantissa = int(self.encoding) - int(n)
        else:
            raise EncodingOverflowError(
                "overflow detected in a decrypted number: the plaintext lies between n/3 and 2n/3, "
                "so a sum or product exceeded max_int = n // 3; use smaller values or a larger key"
            )
        if self.exponent >= 0:
            scale: int = BASE**self.exponent
            return mantissa * scale
        divisor: int = BASE**-self.exponent
        try:
            return mantissa / divisor  # exact rational, correctly rounded to float
        except OverflowError:
            raise EncodingOverflowError(
                "the decoded value is too large for a float; call decrypt_encoded() and read "
                "the mantissa and exponent instead"
            ) from None

    def decrease_exponent_to(self, new_exp: int) -> EncodedNumber:
        """The same value at the lower exponent ``new_exp`` (mantissa times ``16**(exp - new)``).

        Raises:
            ParameterError: ``new_exp`` is above the current exponent (that would need division).
        """
        new_exp = _check_int(new_exp, "new_exp")
        if new_exp > self.exponent:
            raise ParameterError(
                f"new exponent {new_exp} must not exceed the current exponent {self.exponent}: "
                "an exponent can only be lowered"
            )
        factor = BASE ** (self.exponent - new_exp)
        n = self.public_key.n
        return EncodedNumber._trusted(self.public_key, self.encoding * factor % n, new_exp)

    def _check_key(self, public_key: PublicKey) -> None:
        if self.public_key is not public_key and self.public_key != public_key:
            raise KeyMismatchError(
                f"this EncodedNumber was encoded for key {self.public_key.fingerprint[:8]}, not "
                f"{public_key.fingerprint[:8]}; encode it again under the right key"
            )

    def __repr__(self) -> str:
        # The encoding is the user's plaintext: keep it out of logs.
        return f"EncodedNumber(exponent={self.exponent}, key={self.public_key.fingerprint[:8]})"
