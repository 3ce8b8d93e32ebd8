"""BFV plaintexts and their encoders: SIMD slots (batching) and plain coefficients.

A BFV plaintext is a polynomial of ``R_t = Z_t[X]/(X^N + 1)``. Two ways to put data into it:

* :class:`BatchEncoder` (Smart and Vercauteren, "Fully homomorphic SIMD operations", DCC 2014):
  when ``t`` is a prime ``= 1 (mod 2N)``, ``X^N + 1`` splits into ``N`` linear factors modulo
  ``t`` and ``R_t`` is isomorphic to ``Z_t^N`` by the Chinese remainder theorem, i.e. by the
  negacyclic NTT modulo ``t``. Additions and multiplications of plaintexts then act slot by slot.
  The slots form a ``2 x N/2`` matrix in SEAL's order (``BatchEncoder``'s
  ``matrix_reps_index_map``): the automorphism ``X -> X^3`` rotates both rows left by one column
  and ``X -> X^(2N-1)`` swaps the rows.
* :class:`CoefficientEncoder`: the values are the coefficients themselves; products are negacyclic
  convolutions (useful for polynomial arithmetic and as the plain layer under other encodings).

Values are integers modulo ``t``; encoders accept them signed (``-t/2 <= v < 0``) or unsigned
(``0 <= v < t``) and decode to either view. Anything outside raises
:class:`~heprim.errors.EncodingOverflowError` rather than wrapping silently.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

from heprim.bfv.context import context_of
from heprim.bfv.params import Parameters
from heprim.errors import EncodingOverflowError, KeyMismatchError, ParameterError
from heprim.ring import RingElement

__all__ = ["BatchEncoder", "CoefficientEncoder", "Plaintext"]

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]


def _check_params(params: object) -> Parameters:
    if not isinstance(params, Parameters):
        raise ParameterError(f"expected bfv.Parameters, got {type(params).__name__}")
    return params


def _residues(values: Any, t: int, length: int, what: str) -> U64:
    """Integers in ``[-t/2, t)`` -> their residues mod ``t`` (uint64), zero-padded to ``length``."""
    array = values if isinstance(values, np.ndarray) else np.asarray(values)
    out = np.zeros(length, dtype=np.int64)
    if array.size == 0:  # np.asarray([]) is float64: nothing to check
        return out.astype(np.uint64)
    if array.dtype.kind == "b":
        raise ParameterError(f"{what}: got booleans; convert them with .astype(int) first")
    if array.dtype == object:
        try:
            flat_list = [_integer(v) for v in array.reshape(-1)]
        except ParameterError:
            raise ParameterError(f"{what}: values must be integers") from None
        array = np.array(flat_list, dtype=object)
    elif array.dtype.kind not in "iu":
        raise ParameterError(
            f"{what}: values must be integers, got dtype {array.dtype} (round floats explicitly)"
        )
    flat = array.reshape(-1)
    if flat.size > length:
        raise EncodingOverflowError(f"{what}: {flat.size} values do not fit {length} slots")
    low, high = -(t // 2), t
    outside = (flat < low) | (flat >= high) if flat.dtype.kind != "u" else flat >= high
    if bool(np.any(outside)):
        bad = flat[np.asarray(outside, dtype=bool)][0]
        raise EncodingOverflowError(
            f"{what}: value {bad} is outside [-{t // 2}, {t}); plaintext slots hold integers "
            f"modulo t = {t} (reduce them mod t yourself for modular arithmetic)"
        )
    out[: flat.size] = flat.astype(np.int64)
    out %= t
    return out.astype(np.uint64)


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"expected an integer, got {value!r}")
    return int(value)


class Plaintext:
    """A polynomial of ``R_t`` under given parameters: ``N`` coefficients in ``[0, t)``.

    Build plaintexts with an encoder, or from coefficients with
    ``Plaintext(params, coefficients)`` (integers in ``[-t/2, t)``, at most ``N``).
    Plaintexts are values: they never change after construction.
    """

    __slots__ = ("_cache", "_coefficients", "params")

    params: Parameters
    _coefficients: U64
    _cache: dict[tuple[str, int], RingElement]

    def __init__(self, params: Parameters, coefficients: Any) -> None:
        params = _check_params(params)
        data = _residues(coefficients, params.plain_modulus, params.degree, "Plaintext")
        self._init(params, data)

    def _init(self, params: Parameters, coefficients: U64) -> None:
        coefficients.setflags(write=False)
        self.params = params
        self._coefficients = coefficients
        self._cache = {}

    @classmethod
    def _make(cls, params: Parameters, coefficients: U64) -> Plaintext:
        plain = object.__new__(cls)
        plain._init(params, coefficients)
        return plain

    @property
    def coefficients(self) -> U64:
        """The coefficients in ``[0, t)`` (a read-only uint64 array of length ``N``)."""
        return self._coefficients

    def centered(self) -> I64:
        """The coefficients as signed integers in ``(-t/2, t/2]``."""
        t = self.params.plain_modulus
        values = self._coefficients.astype(np.int64)
        values[values > t // 2] -= t
        return values

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Plaintext):
            return NotImplemented
        return self.params == other.params and bool(
            np.array_equal(self._coefficients, other._coefficients)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        nonzero = int(np.count_nonzero(self._coefficients))
        n, t = self.params.degree, self.params.plain_modulus
        return f"bfv.Plaintext(N={n}, t={t}, {nonzero} nonzero)"

    def check_params(self, params: Parameters) -> None:
        """Raise :class:`~heprim.errors.KeyMismatchError` unless encoded under ``params``."""
        if self.params is not params and self.params != params:
            raise KeyMismatchError(
                "the plaintext was encoded under other BFV parameters; encode it with an encoder "
                "built from the ciphertext's parameters"
            )

    # ------------------------------------------------------------------ lifts used by the scheme

    def scaled(self, level: int) -> RingElement:
        """``round(Q_l m / t)`` in ``R_{Q_l}`` (coefficient form), the plaintext in a ciphertext.

        ``Q_l m / t = Delta_l m + r m / t`` with ``r = Q_l mod t``; rounding the second term (as
        SEAL does) keeps the encoding error below 1/2 instead of ``r m / t``, which would cost
        ``log2(t)`` bits of noise budget in fresh ciphertexts.
        """
        key = ("scaled", level)
        cached = self._cache.get(key)
        if cached is None:
            ctx = context_of(self.params)
            ring = ctx.ring_q(level)
            t = ctx.t
            m = self._coefficients
            remainder = np.uint64(self.params.q_modulus_at(level) % t)
            carry = (m * remainder + np.uint64(t // 2)) // np.uint64(t)  # < t: r m < 2^60
            cached = ring.from_ints(m.astype(np.int64)) * ctx.delta(level) + ring.from_ints(
                carry.astype(np.int64)
            )
            self._cache[key] = cached
        return cached

    def lifted_ntt(self, level: int) -> RingElement:
        """The centered lift of ``m`` to ``R_{Q_l}``, in NTT form (for plaintext products)."""
        key = ("ntt", level)
        cached = self._cache.get(key)
        if cached is None:
            ring = context_of(self.params).ring_q(level)
            cached = ring.from_ints(self.centered()).ntt()
            self._cache[key] = cached
        return cached


class BatchEncoder:
    """SIMD encoding: ``N`` integers modulo ``t`` in the slots of one plaintext.

    The slots are a ``2 x N/2`` matrix (SEAL's layout): :meth:`encode` takes up to ``N`` values
    (row 0 first, zero-padded) or a ``(2, N/2)`` array; :meth:`decode` returns all ``N``.

    Args:
        params: parameters whose plain modulus is a prime ``t = 1 (mod 2N)``.

    Raises:
        ParameterError: without batching, explaining which ``t`` would allow it.
    """

    __slots__ = ("_ctx", "params")

    def __init__(self, params: Parameters) -> None:
        self.params = _check_params(params)
        if not params.batching:
            raise ParameterError(params.explain_batching())
        self._ctx = context_of(params)

    @property
    def slot_count(self) -> int:
        """``N``: the number of slots."""
        return self.params.degree

    @property
    def row_size(self) -> int:
        """``N / 2``: the length of each of the two rows that rotate."""
        return self.params.degree // 2

    def __repr__(self) -> str:
        return f"bfv.BatchEncoder(N={self.params.degree}, t={self.params.plain_modulus})"

    def encode(self, values: Any) -> Plaintext:
        """The plaintext whose slots hold ``values`` (integers in ``[-t/2, t)``).

        Raises:
            EncodingOverflowError: a value outside ``[-t/2, t)`` or more than ``N`` values.
            ParameterError: values that are not integers.
        """
        n = self.params.degree
        array = values if isinstance(values, np.ndarray) else np.asarray(values)
        if array.ndim == 2 and array.shape != (2, n // 2):
            raise ParameterError(
                f"a slot matrix has shape (2, {n // 2}), got {array.shape}; or pass up to {n} "
                "values in one dimension"
            )
        if array.ndim > 2:
            raise ParameterError(f"encode takes a vector or a (2, {n // 2}) matrix")
        slots = _residues(array, self.params.plain_modulus, n, "BatchEncoder.encode")
        evaluations = np.empty((1, n), dtype=np.uint64)
        evaluations[0, self._ctx.slot_index] = slots
        coefficients = self._ctx.plain_ntt.inverse(evaluations)[0]
        return Plaintext._make(self.params, coefficients)

    def decode(self, plaintext: Plaintext, *, signed: bool = True) -> I64:
        """The ``N`` slot values of ``plaintext``: signed in ``(-t/2, t/2]``, or in ``[0, t)``."""
        if not isinstance(plaintext, Plaintext):
            raise ParameterError(f"decode takes a bfv.Plaintext, got {type(plaintext).__name__}")
        plaintext.check_params(self.params)
        evaluations = self._ctx.plain_ntt.forward(plaintext.coefficients.reshape(1, -1).copy())
        values: I64 = evaluations[0, self._ctx.slot_index].astype(np.int64)
        if signed:
            t = self.params.plain_modulus
            values[values > t // 2] -= t
        return values


class CoefficientEncoder:
    """Plain coefficient encoding: up to ``N`` integers modulo ``t`` as polynomial coefficients.

    Products of plaintexts (and of ciphertexts) are negacyclic convolutions of the coefficient
    vectors modulo ``t``; additions are coefficient-wise. Works for every plain modulus.
    """

    __slots__ = ("params",)

    def __init__(self, params: Parameters) -> None:
        self.params = _check_params(params)

    def __repr__(self) -> str:
        return f"bfv.CoefficientEncoder(N={self.params.degree}, t={self.params.plain_modulus})"

    def encode(self, values: Any) -> Plaintext:
        """The plaintext ``sum_i values[i] X^i`` (integers in ``[-t/2, t)``)."""
        array = values if isinstance(values, np.ndarray) else np.asarray(values)
        if array.ndim != 1:
            raise ParameterError("CoefficientEncoder.encode takes a one-dimensional sequence")
        coefficients = _residues(
            array, self.params.plain_modulus, self.params.degree, "CoefficientEncoder.encode"
        )
        return Plaintext._make(self.params, coefficients)

    def decode(self, plaintext: Plaintext, *, signed: bool = True) -> I64:
        """The ``N`` coefficients: signed in ``(-t/2, t/2]``, or in ``[0, t)``."""
        if not isinstance(plaintext, Plaintext):
            raise ParameterError(f"decode takes a bfv.Plaintext, got {type(plaintext).__name__}")
        plaintext.check_params(self.params)
        if signed:
            return plaintext.centered()
        return plaintext.coefficients.astype(np.int64)
