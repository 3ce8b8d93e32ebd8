"""Fixed-base exponentiation with a precomputed window table.

When the same base ``g`` is raised to many different exponents, as the DJN ``h_s`` is for every
encryption, the squarings of square-and-multiply can be paid once, ahead of time. Write the
exponent in radix ``2**w``::

    e = sum_i d_i * 2**(w*i),   0 <= d_i < 2**w

then ``g**e = prod_i T[i][d_i]`` with the table ``T[i][d] = g**(d * 2**(w*i)) mod N``. An
exponentiation is then ``ceil(t/w) - 1`` modular multiplications and no squaring at all, for
``t``-bit exponents. This is the simplest member of the family of Brickell, Gordon, McCurley and
Wilson, "Fast exponentiation with precomputation" (EUROCRYPT '92, section 3: the table of all
digit multiples of each power of the radix), also in Menezes, van Oorschot and Vanstone, *Handbook
of Applied Cryptography*, section 14.6.3. Their cheaper-memory variants (Yao's two-pass method,
Lim-Lee combs) trade table size for extra multiplications; here memory is cheap and every saved
multiplication is ~2-3 % of an encryption, so we keep the full table.

Sizes: with ``w = 8`` a 1024-bit exponent (DJN at a 2048-bit key) needs 128 rows of 256 entries of
4096-bit numbers: 16 MiB, and 127 multiplications mod ``n**2`` per exponentiation (about 0.8 ms
here, against 10.5 ms for the full ``r**n`` of textbook Paillier).
The key holder keeps two tables instead, of ``h_s mod p**2`` and ``h_s mod q**2`` (half-size
numbers, the same 16 MiB in all), and recombines by CRT (:class:`heprim.paillier.keys.PrivateKey`).

Side channels: the table index is a digit of the (secret) exponent, so the memory access pattern
depends on it. Like the rest of a pure-Python library, this is not constant-time.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral
from typing import Final

from heprim.errors import ParameterError
from heprim.math.ntheory import gcd, mpz, powmod

__all__ = ["DEFAULT_WINDOW", "FixedBaseTable", "table_rows"]

DEFAULT_WINDOW: Final = 8
_MAX_WINDOW: Final = 16


def _as_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ParameterError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _check_window(window: object) -> int:
    w = _as_int(window, "window")
    if not 1 <= w <= _MAX_WINDOW:
        raise ParameterError(
            f"window must be between 1 and {_MAX_WINDOW} bits (got {w}); the table holds "
            "2**window entries per row"
        )
    return w


def table_rows(exp_bits: int, window: int) -> int:
    """The number of rows (radix-``2**window`` digits) of a table for ``exp_bits``-bit exponents."""
    return -(-_as_int(exp_bits, "exp_bits") // _check_window(window))


class FixedBaseTable:
    """``base ** e mod modulus`` for any ``0 <= e < 2**exp_bits`` by table lookup and products.

    Args:
        base: the fixed base, a unit modulo ``modulus``.
        modulus: an odd modulus greater than 2.
        exp_bits: the largest exponent bit length the table serves directly; larger exponents
            fall back to :func:`~heprim.math.ntheory.powmod` (still correct, just not faster).
        window: the radix is ``2**window``; 8 is the sweet spot for DJN (byte-sized digits come
            straight out of ``int.to_bytes``). Memory grows as ``2**window / window``.
        progress: optional ``progress(done, total)`` callback, called once per table row.
    """

    __slots__ = ("_base", "_digit_mask", "_exp_bits", "_modulus", "_rows", "_window")

    def __init__(
        self,
        base: int,
        modulus: int,
        exp_bits: int,
        *,
        window: int = DEFAULT_WINDOW,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        base = _as_int(base, "base")
        modulus = _as_int(modulus, "modulus")
        exp_bits = _as_int(exp_bits, "exp_bits")
        window = _check_window(window)
        if modulus < 3 or modulus % 2 == 0:
            raise ParameterError(f"the modulus must be odd and at least 3, got {modulus}")
        if exp_bits < 1:
            raise ParameterError(f"exp_bits must be at least 1, got {exp_bits}")
        base_m = mpz(base) % mpz(modulus)
        if gcd(base_m, modulus) != 1:
            raise ParameterError("the base must be a unit modulo the modulus (gcd(base, N) = 1)")
        self._base = base_m
        self._modulus = mpz(modulus)
        self._exp_bits = int(exp_bits)
        self._window = window
        self._digit_mask = (1 << window) - 1
        n_rows = table_rows(self._exp_bits, window)
        n_digits = 1 << window
        rows: list[list[int]] = []
        row_base = self._base  # g ** (2 ** (w * i))
        for i in range(n_rows):
            row = [mpz(1)] * n_digits
            acc = mpz(1)
            for d in range(1, n_digits):
                acc = acc * row_base % self._modulus
                row[d] = acc
            rows.append(row)
            # The next row's base is row_base ** (2**w) = row[last] * row_base.
            row_base = acc * row_base % self._modulus
            if progress is not None:
                progress(i + 1, n_rows)
        self._rows = rows

    @property
    def base(self) -> int:
        """The fixed base, reduced modulo the modulus."""
        return self._base

    @property
    def modulus(self) -> int:
        """The modulus of every product."""
        return self._modulus

    @property
    def exp_bits(self) -> int:
        """Exponents below ``2**exp_bits`` are served from the table."""
        return self._exp_bits

    @property
    def window(self) -> int:
        """The digit width in bits."""
        return self._window

    @property
    def memory_bytes(self) -> int:
        """An estimate of the table's size: entries times the byte length of the modulus."""
        entries = len(self._rows) * (1 << self._window)
        return entries * ((self._modulus.bit_length() + 7) // 8)

    def pow(self, exponent: int) -> int:
        """``base ** exponent mod modulus`` for a non-negative integer ``exponent``."""
        e = _as_int(exponent, "the exponent")
        if e < 0:
            raise ParameterError("FixedBaseTable.pow needs a non-negative exponent")
        if e.bit_length() > self._exp_bits:
            return powmod(self._base, e, self._modulus)
        modulus = self._modulus
        rows = self._rows
        if self._window == 8:
            # Byte-sized digits come straight out of the little-endian byte string.
            digits: bytes | list[int] = e.to_bytes(len(rows), "little")
        else:
            w, mask = self._window, self._digit_mask
            digits = [(e >> (w * i)) & mask for i in range(len(rows))]
        acc = None
        for row, d in zip(rows, digits, strict=True):
            if d:  # a zero digit contributes g**0 = 1: skip the multiplication
                acc = row[d] if acc is None else acc * row[d] % modulus
        return mpz(1) if acc is None else acc

    def __repr__(self) -> str:
        mib = self.memory_bytes / 2**20
        return (
            f"FixedBaseTable(modulus_bits={self._modulus.bit_length()}, exp_bits={self._exp_bits}, "
            f"window={self._window}, ~{mib:.1f} MiB)"
        )
