"""Residue number system (RNS) bases: decomposition, composition, exact base conversion, scaling.

An integer ``x`` modulo ``Q = q_1 ... q_L`` (pairwise coprime ``q_i < 2^30``) is stored as its
residues ``x_i = x mod q_i``; by the Chinese remainder theorem

    x = sum_i [x_i * qhat_i^-1]_{q_i} * qhat_i  -  v * Q,      qhat_i = Q / q_i,

for the integer ``v = floor(sum_i y_i / q_i)`` with ``y_i = [x_i qhat_i^-1]_{q_i}``. Arithmetic
mod ``Q`` is limb-wise; what needs care is leaving the RNS: composing back to integers, changing
basis, and dividing with rounding. This module does all three with numpy, without a Python loop
over coefficients.

**Exact arithmetic in float64.** A float64 holds every integer below ``2^53`` exactly and BLAS
multiplies matrices of them fast. Splitting each ``y_i < 2^30`` into 15-bit halves
``y_i = 2^15 hi_i + lo_i`` makes every product with a 30-bit weight smaller than ``2^45``, so a
matrix product over ``2k`` such terms is *exact* as long as ``2k * 2^45 <= 2^53``, i.e. for bases
of up to ``k = 128`` moduli. heprim allows :data:`MAX_BASIS_SIZE` ``= 64``.

**The HPS correction** (Halevi, Polyakov, Shoup, "An Improved RNS Variant of the BFV Homomorphic
Encryption Scheme", CT-RSA 2019, sections 2.2 and 2.4). A fast base conversion
``sum_i y_i [qhat_i]_p`` returns ``x + a Q`` modulo ``p`` for an unknown ``0 <= a < k``; HPS remove
the ``a Q`` by computing ``v = round(sum_i y_i / q_i)`` in floating point. Each term is below 1 and
carries a relative error of ``2^-53``, so the computed sum is within ``k (k + 2) 2^-53 < 2^-40``
(for ``k <= 64``) of the true one: ``v`` is exact unless ``x`` lies within ``2^-40 Q`` of
``+-Q/2``, where either of the two centered representatives comes out (both are lifts of ``x`` of
size at most ``Q/2 (1 + 2^-39)``, which is all BFV needs).

**Scale and round.** ``round(t x / Q)`` needs the fractional parts of ``x_i t qhat_i^-1 / q_i``;
with the same 15-bit split the products of a half (``< 2^15``) with a float64 fraction are within
``2^-38`` and the float64 sum of ``2k`` of them within ``k (k + 1) 2^-36``, i.e. ``2^-24`` for
``k = 64``: the result is the exact rounding unless ``t x / Q`` is within that distance of a
half-integer. BFV's decryption noise bound already keeps it at least ``1/4`` away.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt

from heprim.errors import ParameterError
from heprim.math.ntheory import gcd
from heprim.ring.modarith import mul_scalars, reduce_rows
from heprim.ring.primes import MAX_MODULUS_BITS

__all__ = [
    "MAX_BASIS_SIZE",
    "BaseConverter",
    "RNSBasis",
    "ScaleRounder",
    "base_converter",
    "scale_rounder",
]

U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]

#: The largest number of moduli in one basis (float64 products stay exact up to 128).
MAX_BASIS_SIZE: Final = 64

_HALF_BITS: Final = 15
_HALF: Final = 1 << _HALF_BITS
_WORD_BITS: Final = 16


def _check_moduli(moduli: Sequence[int]) -> tuple[int, ...]:
    if isinstance(moduli, int | str | bytes) or not isinstance(moduli, Sequence):
        raise ParameterError("an RNS basis is a sequence of moduli")
    if not 1 <= len(moduli) <= MAX_BASIS_SIZE:
        raise ParameterError(
            f"an RNS basis has 1 to {MAX_BASIS_SIZE} moduli, got {len(moduli)}; the float64 "
            "base conversion is exact only up to that size"
        )
    result: list[int] = []
    for modulus in moduli:
        if isinstance(modulus, bool) or not hasattr(modulus, "__index__"):
            raise ParameterError(f"RNS moduli must be integers, got {type(modulus).__name__}")
        q = operator.index(modulus)
        if not 2 <= q < 1 << MAX_MODULUS_BITS:
            raise ParameterError(f"RNS moduli must lie in [2, 2**{MAX_MODULUS_BITS}), got {q}")
        for p in result:
            if gcd(p, q) != 1:
                raise ParameterError(f"RNS moduli must be pairwise coprime: {p} and {q} are not")
        result.append(q)
    return tuple(result)


def _reduce_exact_floats(values: F64, moduli: Sequence[int]) -> U64:
    """Exact float64 integers in ``[0, 2^53)`` (``(..., m, n)``) reduced modulo ``moduli[l]``."""
    as_int = values.astype(np.uint64)
    return reduce_rows(as_int, moduli, out=as_int)


class _SplitMatrixProduct:
    """The shared kernel of base conversion and scale-and-round.

    For residues ``x`` (``k`` limbs) it computes, for each output modulus ``o_j``,

        out_j = ( sum_i W[j, i] hi_i + W[j, k + i] lo_i  +  c_j rint(F) )  mod o_j,
        F     =   sum_i W[m, i] hi_i + W[m, k + i] lo_i,

    where ``hi_i, lo_i`` are the 15-bit halves of ``y_i = [x_i c_i]_{q_i}`` (or of ``x_i`` when
    there is no premultiplication), the ``W[j, .]`` are integers below ``2^30`` and the last row
    ``W[m, .]`` holds fractions. Every integer row is an exact float64 sum: ``2k`` products below
    ``2^45``, at most ``k 2^46 <= 2^52`` for ``k <= 64``; adding ``c_j rint(F)`` (below ``2^37``)
    keeps it below ``2^53``.

    The matrix product runs over column blocks small enough (``rows x cols x block <= 2^18``)
    that OpenBLAS computes each on the calling thread: on a loaded machine, waking BLAS worker
    threads for such small products costs milliseconds.
    """

    def __init__(
        self,
        source: tuple[int, ...],
        weights: list[list[float]],
        correction: Sequence[int] | None,
        out_moduli: tuple[int, ...],
        premultiply: Sequence[int] | None,
    ) -> None:
        self.weights = np.array(weights, dtype=np.float64)  # (m + 1, 2k)
        self.correction = (
            None if correction is None else np.array(correction, np.float64).reshape(-1, 1)
        )
        self.out_moduli = out_moduli
        self.source = source
        block = max(256, (1 << 18) // self.weights.size)
        self.block = 1 << (block.bit_length() - 1)
        self.premultiply = None if premultiply is None else tuple(premultiply)

    def apply(self, x: U64, out: U64) -> None:
        """``x``: ``(..., k, n)`` residues below ``q_i``; ``out``: ``(..., m, n)`` (written)."""
        k, n = x.shape[-2], x.shape[-1]
        xs, outs = x.reshape(-1, k, n), out.reshape(-1, out.shape[-2], n)
        for b in range(xs.shape[0]):  # one polynomial at a time: bounded temporaries
            self._one(xs[b], outs[b])

    def _one(self, x: U64, out: U64) -> None:
        k, n = x.shape
        if self.premultiply is not None:
            x = mul_scalars(x, self.premultiply, self.source)  # y_i = [x_i c_i]_{q_i}
        z = np.empty((2 * k, n), dtype=np.float64)
        np.right_shift(x, np.uint64(_HALF_BITS), out=z[:k], casting="unsafe")
        np.bitwise_and(x, np.uint64(_HALF - 1), out=z[k:], casting="unsafe")
        sums = np.empty((self.weights.shape[0], n), dtype=np.float64)
        for c0 in range(0, n, self.block):
            c1 = min(n, c0 + self.block)
            np.matmul(self.weights, z[:, c0:c1], out=sums[:, c0:c1])
        combined, rounded = sums[:-1], np.rint(sums[-1:])
        if self.correction is None:
            combined += rounded
        else:
            combined += rounded * self.correction
        as_int = np.empty(combined.shape, dtype=np.int64)  # exact: below 2^53
        np.copyto(as_int, combined, casting="unsafe")
        reduce_rows(as_int.view(np.uint64), self.out_moduli, out=out)


class RNSBasis:
    """An RNS basis ``{q_1, ..., q_k}``: pairwise coprime moduli in ``[2, 2^30)``.

    Residue arrays have the limb axis at ``-2``: shape ``(..., k, n)``.

    Args:
        moduli: the moduli, in the order of the limbs (1 to :data:`MAX_BASIS_SIZE` of them).
    """

    def __init__(self, moduli: Sequence[int]) -> None:
        self.moduli: tuple[int, ...] = _check_moduli(moduli)
        #: ``Q``, the product of the moduli.
        self.modulus: int = functools.reduce(operator.mul, self.moduli, 1)
        hats = [self.modulus // q for q in self.moduli]
        self._hat_inverse = tuple(pow(h % q, -1, q) for h, q in zip(hats, self.moduli, strict=True))
        words = (self.modulus.bit_length() + _WORD_BITS - 1) // _WORD_BITS + 1
        # Row i: the 16-bit words of qhat_i; one extra word absorbs the sum of k of them.
        self._hat_words = np.array(
            [[(h >> (_WORD_BITS * j)) & 0xFFFF for j in range(words)] for h in hats],
            dtype=np.float64,
        )
        self._inv_floats = np.array([1.0 / q for q in self.moduli], dtype=np.float64)
        self._decompose_tables: dict[int, F64] = {}

    def __len__(self) -> int:
        return len(self.moduli)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RNSBasis):
            return NotImplemented
        return self.moduli == other.moduli

    def __hash__(self) -> int:
        return hash(self.moduli)

    def __repr__(self) -> str:
        return f"RNSBasis({list(self.moduli)})"

    # ------------------------------------------------------------------ integers -> residues

    def decompose(self, values: Any) -> U64:
        """Residues of integers: shape ``(..., n)`` -> ``(..., k, n)``, each entry ``x mod q_i``.

        Args:
            values: a numpy integer array (fast path for 64-bit values), or a (nested) sequence
                of integers of any size and sign (Python ``int``, ``gmpy2.mpz``, numpy integers).

        Big integers are converted in bulk: their two's-complement bytes are joined, read as
        16-bit words and multiplied by the table ``2^(16 j) mod q_i`` in one exact float64 matrix
        product (words ``< 2^16`` times weights ``< 2^30``, at most 128 words: sums ``< 2^53``).
        """
        if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
            return self._decompose_machine(values)
        array = np.asarray(values, dtype=object)
        if array.ndim == 0:
            raise ParameterError("decompose takes a sequence of integers, not a single value")
        try:
            flat = list(map(operator.index, array.reshape(-1)))
        except TypeError:
            raise ParameterError(
                "coefficients must be integers (int, gmpy2.mpz, numpy integers); round floats "
                "explicitly before encoding them"
            ) from None
        residues = self._decompose_ints(flat)  # (k, count)
        out = residues.reshape((len(self.moduli), *array.shape))
        return np.ascontiguousarray(np.moveaxis(out, 0, -2))

    def _decompose_machine(self, values: npt.NDArray[np.integer[Any]]) -> U64:
        if values.ndim == 0:
            raise ParameterError("decompose takes a sequence of integers, not a single value")
        shape = (*values.shape[:-1], len(self.moduli), values.shape[-1])
        out = np.empty(shape, dtype=np.uint64)
        if values.dtype.kind == "u":
            unsigned = values.astype(np.uint64, copy=False)
            for limb, q in enumerate(self.moduli):
                reduce_rows(unsigned[..., None, :], (q,), out=out[..., limb : limb + 1, :])
            return out
        signed = values.astype(np.int64, copy=False)
        quotient = np.empty(signed.shape, dtype=np.int64)
        for limb, q in enumerate(self.moduli):
            qq = np.int64(q)
            np.floor_divide(signed, qq, out=quotient)  # floor: the remainder below is >= 0
            np.multiply(quotient, qq, out=quotient)
            np.subtract(signed, quotient, out=out[..., limb, :], casting="unsafe")
        return out

    def _decompose_ints(self, flat: list[int]) -> U64:
        count = len(flat)
        nbytes = (self.modulus.bit_length() + 8) // 8 + 1
        nbytes += nbytes % 2  # whole 16-bit words
        to_bytes = operator.methodcaller("to_bytes", nbytes, "little", signed=True)
        try:
            raw = b"".join(map(to_bytes, flat))
        except OverflowError:  # |value| >= 2^(8 nbytes - 1): reduce mod Q first
            modulus = self.modulus
            raw = b"".join(map(to_bytes, (v % modulus for v in flat)))
        words = np.frombuffer(raw, dtype="<u2").reshape(count, nbytes // 2)
        weights = self._decompose_weights(nbytes // 2)  # (words + 1, k)
        negative = (words[:, -1] >> 15).astype(np.float64)
        columns = np.concatenate([words.astype(np.float64), negative[:, None]], axis=1)
        sums = columns @ weights  # exact: < 129 * 2^46
        return _reduce_exact_floats(np.ascontiguousarray(sums.T), self.moduli)

    def _decompose_weights(self, words: int) -> F64:
        cached = self._decompose_tables.get(words)
        if cached is None:
            rows = [[pow(2, _WORD_BITS * j, q) for q in self.moduli] for j in range(words)]
            # A negative value v is stored as v + 2^(16 words): add -2^(16 words) mod q back.
            rows.append([(-pow(2, _WORD_BITS * words, q)) % q for q in self.moduli])
            cached = np.array(rows, dtype=np.float64)
            self._decompose_tables[words] = cached
        return cached

    # ------------------------------------------------------------------ residues -> integers

    def compose(self, residues: U64, *, centered: bool = False) -> list[Any]:
        """The integers with the given residues: ``(..., k, n)`` -> nested lists of ``int``.

        Values are in ``[0, Q)``, or in ``(-Q/2, Q/2)`` with ``centered=True``. The CRT sum is one
        exact float64 matrix product of the ``y_i`` with the 16-bit words of the ``qhat_i``,
        followed by a vectorised carry propagation over the words; only the final conversion of
        each coefficient to a Python ``int`` touches coefficients one by one.
        """
        k = len(self.moduli)
        if not isinstance(residues, np.ndarray) or residues.ndim < 2 or residues.shape[-2] != k:
            raise ParameterError(f"compose takes a residue array of shape (..., {k}, n)")
        batch_shape = residues.shape[:-2] + residues.shape[-1:]
        y = mul_scalars(np.asarray(residues, dtype=np.uint64), self._hat_inverse, self.moduli)
        rows = np.moveaxis(y, -2, -1).reshape(-1, k).astype(np.float64)  # (count, k)
        sums = rows @ self._hat_words  # exact: k * 2^30 * 2^16 < 2^53
        # v = floor(sum y_i / q_i); an error of one near an integer is repaired below.
        v = np.floor(rows @ self._inv_floats)
        sums -= v[:, None] * self._modulus_words()
        values = self._words_to_ints(sums.astype(np.int64))
        modulus, half = self.modulus, self.modulus // 2
        fixed = [x + modulus if x < 0 else x - modulus if x >= modulus else x for x in values]
        if centered:
            fixed = [x - modulus if x > half else x for x in fixed]
        return cast(list[Any], np.array(fixed, dtype=object).reshape(batch_shape).tolist())

    def _modulus_words(self) -> F64:
        words = self._hat_words.shape[1]
        return np.array(
            [(self.modulus >> (_WORD_BITS * j)) & 0xFFFF for j in range(words)], dtype=np.float64
        )

    @staticmethod
    def _words_to_ints(words: npt.NDArray[np.int64]) -> list[int]:
        """Rows of signed 16-bit-word digits (top word signed) -> Python ints."""
        count, width = words.shape
        for j in range(width - 1):  # carries, vectorised over the rows
            carry = words[:, j] >> _WORD_BITS  # arithmetic shift: floor division
            words[:, j] -= carry << _WORD_BITS
            words[:, j + 1] += carry
        raw = np.empty((count, 2 * (width - 1) + 8), dtype=np.uint8)
        raw[:, : 2 * (width - 1)] = words[:, :-1].astype("<u2").view(np.uint8)
        raw[:, 2 * (width - 1) :] = words[:, -1:].astype("<i8").view(np.uint8)
        stride = raw.shape[1]
        buffer = raw.tobytes()
        return [
            int.from_bytes(buffer[i : i + stride], "little", signed=True)
            for i in range(0, count * stride, stride)
        ]


class BaseConverter:
    """Exact fast base conversion ``x mod Q -> x mod p_j`` (HPS, CT-RSA 2019, section 2.2).

    For each target modulus ``p``, computes ``[x]_p`` where ``x`` is the *centered*
    representative in ``[-Q/2, Q/2)`` (see the module docstring for the precision at the
    boundary). With ``exact=False`` it returns the plain fast base conversion of Bajard et al.
    (BEHZ, SAC 2016), ``x + a Q`` for an unknown ``0 <= a < k``, one float row cheaper.

    Target moduli that are also source moduli are copied, not computed.

    Args:
        source: the basis of the input residues.
        target: the target moduli (each in ``[2, 2^30)``).
    """

    def __init__(self, source: RNSBasis, target: Sequence[int]) -> None:
        self.source = source
        self.target: tuple[int, ...] = _check_moduli(target)
        self._copies = [
            (j, source.moduli.index(p)) for j, p in enumerate(self.target) if p in source.moduli
        ]
        self._new = [j for j, p in enumerate(self.target) if p not in source.moduli]
        new_moduli = [self.target[j] for j in self._new]
        hats = [source.modulus // q for q in source.moduli]
        # Row per new modulus: weights of the high halves (2^15 qhat_i mod p) then of the low
        # halves (qhat_i mod p); the last row gives sum y_i / q_i for the HPS correction.
        rows: list[list[float]] = [
            [float((_HALF * h) % p) for h in hats] + [float(h % p) for h in hats]
            for p in new_moduli
        ]
        fractions = [_HALF / q for q in source.moduli] + [1.0 / q for q in source.moduli]
        minus_q = [(-source.modulus) % p for p in new_moduli]
        self._exact = _SplitMatrixProduct(
            source.moduli, [*rows, fractions], minus_q, tuple(new_moduli), source._hat_inverse
        )
        # Without the HPS correction the fraction row is unused: its weights are zero.
        self._plain = _SplitMatrixProduct(
            source.moduli,
            [*rows, [0.0] * len(fractions)],
            minus_q,
            tuple(new_moduli),
            source._hat_inverse,
        )

    def convert(self, x: U64, *, exact: bool = True) -> U64:
        """Residues ``(..., k, n)`` in the source basis -> ``(..., len(target), n)``."""
        source = self.source
        k = len(source.moduli)
        if not isinstance(x, np.ndarray) or x.dtype != np.uint64 or x.ndim < 2 or x.shape[-2] != k:
            raise ParameterError(f"convert takes uint64 residues of shape (..., {k}, n)")
        out = np.empty((*x.shape[:-2], len(self.target), x.shape[-1]), dtype=np.uint64)
        for j, i in self._copies:
            out[..., j, :] = x[..., i, :]
        if self._new:
            converted = np.empty((*x.shape[:-2], len(self._new), x.shape[-1]), dtype=np.uint64)
            (self._exact if exact else self._plain).apply(x, converted)
            out[..., self._new, :] = converted
        return out


class ScaleRounder:
    """``round(numerator * x / D)`` in RNS, where ``D`` is the product of the dropped moduli.

    The source basis splits into the moduli kept in the target (``K``) and the dropped ones
    (``D``); target moduli outside the source must divide ``numerator``. For every target
    modulus ``o``, the result ``round(numerator x / D) mod o`` does not depend on which
    representative of ``x mod DK`` is meant (HPS, section 2.4, generalised):

        numerator x / D = sum_{i in D} x_i (w_i + theta_i) + (integer) - a numerator K,

    with ``w_i + theta_i = numerator K [ (DK/q_i)^-1 ]_{q_i} / q_i`` split into integer and
    fractional parts; modulo ``o`` the integer terms reduce to ``x_o [numerator D^-1]_o`` for
    ``o in K`` and the last term vanishes. So the result is
    ``sum_i x_i [w_i]_o + round(sum_i x_i theta_i) (+ x_o [numerator D^-1]_o)  mod o``,
    one exact float64 matrix product whose last row holds the fractions.

    Uses in BFV (HPS): decryption is ``ScaleRounder(Q, t, [t])``; the multiplication's rescale is
    ``ScaleRounder(Q u P, t, P)``; hybrid key switching's ModDown is ``ScaleRounder(Q u P, 1, Q)``
    and modulus switching ``ScaleRounder(Q, 1, Q without q_L)``.

    Args:
        source: the basis of the input.
        numerator: the integer ``t`` (``>= 1``).
        target: the output moduli: a subset ``K`` of the source moduli, plus divisors of
            ``numerator``.
    """

    def __init__(self, source: RNSBasis, numerator: int, target: Sequence[int]) -> None:
        if isinstance(numerator, bool) or not hasattr(numerator, "__index__"):
            raise ParameterError(f"numerator must be an integer, got {type(numerator).__name__}")
        numerator = operator.index(numerator)
        if numerator < 1:
            raise ParameterError(f"numerator must be positive, got {numerator}")
        self.source = source
        self.numerator = numerator
        self.target: tuple[int, ...] = _check_moduli(target)
        kept = [p for p in source.moduli if p in self.target]
        dropped = [p for p in source.moduli if p not in self.target]
        for o in self.target:
            if o not in kept and numerator % o:
                raise ParameterError(
                    f"target modulus {o} is neither a source modulus nor a divisor of the "
                    f"numerator {numerator}; round(t x / D) mod {o} would not be well defined"
                )
        if not dropped:
            raise ParameterError("scale-and-round needs at least one source modulus to divide by")
        big_k = functools.reduce(operator.mul, kept, 1)
        big_d = functools.reduce(operator.mul, dropped, 1)
        total = source.modulus
        k = len(source.moduli)
        int_rows = [[0] * (2 * k) for _ in self.target]
        frac_row = [0.0] * (2 * k)
        for i, q in enumerate(source.moduli):
            if q in self.target:
                continue
            c = numerator * big_k * pow((total // q) % q, -1, q)
            whole, rest = divmod(c, q)  # w_i and theta_i = rest / q
            carry, rest_hi = divmod(_HALF * rest, q)  # 2^15 theta_i = carry + rest_hi / q
            for j, o in enumerate(self.target):
                int_rows[j][i] = (_HALF * whole + carry) % o
                int_rows[j][k + i] = whole % o
            frac_row[i] = rest_hi / q
            frac_row[k + i] = rest / q
        for j, o in enumerate(self.target):
            if o in kept:  # x_o * [numerator D^-1]_o
                i = source.moduli.index(o)
                lam = numerator * pow(big_d % o, -1, o) % o
                int_rows[j][i] = (_HALF * lam) % o
                int_rows[j][k + i] = lam
        self._product = _SplitMatrixProduct(
            source.moduli,
            [[float(w) for w in row] for row in int_rows] + [frac_row],
            None,
            self.target,
            None,
        )

    def apply(self, x: U64) -> U64:
        """Residues ``(..., k, n)`` in the source basis -> ``(..., len(target), n)``."""
        k = len(self.source.moduli)
        if not isinstance(x, np.ndarray) or x.dtype != np.uint64 or x.ndim < 2 or x.shape[-2] != k:
            raise ParameterError(f"scale-and-round takes uint64 residues of shape (..., {k}, n)")
        out = np.empty((*x.shape[:-2], len(self.target), x.shape[-1]), dtype=np.uint64)
        self._product.apply(x, out)
        return out


@functools.lru_cache(maxsize=128)
def base_converter(source: tuple[int, ...], target: tuple[int, ...]) -> BaseConverter:
    """The cached :class:`BaseConverter` between two tuples of moduli."""
    return BaseConverter(RNSBasis(source), target)


@functools.lru_cache(maxsize=128)
def scale_rounder(source: tuple[int, ...], numerator: int, target: tuple[int, ...]) -> ScaleRounder:
    """The cached :class:`ScaleRounder` for ``round(numerator x / D)`` (see the class)."""
    return ScaleRounder(RNSBasis(source), numerator, target)
