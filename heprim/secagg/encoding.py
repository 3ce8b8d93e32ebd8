"""From user vectors to elements of Z_R^d and back, with an overflow rule that is checked.

Secure aggregation adds vectors modulo R = 2^w; the sum is exact as long as the true sum of the
encoded integers stays below R. :class:`VectorEncoding` makes that a checked invariant:

* **integers** in a declared range ``[low, high]`` are shifted to ``[0, high - low]`` exactly;
  a value outside the range raises :class:`~heprim.errors.EncodingOverflowError` (never a
  silent clip);
* **floats** are clipped to the range ``[low, high]`` *that the user chooses* (there is no
  default range) and quantised to ``L = 2^b - 1`` levels by *stochastic rounding*: the scaled
  value s becomes floor(s) + 1 with probability frac(s), so the encoding is unbiased,
  E[q] = s, and the error of a sum of n clients grows like sqrt(n), not n;
* an optional integer **weight** w in ``[0, max_weight]`` multiplies the encoded vector and is
  sent as one extra coordinate, so the server learns sum_u w_u x_u and sum_u w_u (FedAvg).

**Overflow rule.** One client's coordinates are at most ``v = L * max_weight``; ``n`` clients sum
to at most ``n * v``, so the modulus needs ``bits = bit_length(n * v)`` bits. The transport
width w is the smallest of 8, 16, 32 and 64 with w >= bits, and R = 2^w: rounding R up to the
word costs no byte on the wire and turns every reduction into a free wrap-around. More than 64
bits is refused with a message saying what to reduce. Clients re-check the rule against the
number of participants announced in the setup message (:meth:`VectorEncoding.check_width`).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from numbers import Integral
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from heprim.errors import EncodingOverflowError, ParameterError, SerializationError
from heprim.math.prng import PRNG, default_rng
from heprim.secagg.masking import dtype_for_bits

__all__ = ["ENCODING_BYTES", "Aggregate", "VectorEncoding"]

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_MAX_FLOAT_BITS: Final = 52  # floor() of a scaled float64 stays exact up to 2^52 levels
_FORMAT: Final = struct.Struct(">BBQ16s16s")  # kind, bits, max_weight, low, high
ENCODING_BYTES: Final = _FORMAT.size

UIntArray = npt.NDArray[np.unsignedinteger[Any]]


def _is_int(x: object) -> bool:
    return isinstance(x, Integral) and not isinstance(x, bool | np.bool_)


@dataclass(frozen=True)
class Aggregate:
    """The decoded result of one secure aggregation.

    Attributes:
        sum: sum over contributors of w_u * x_u (w_u = 1 when unweighted): int64 (or Python
            ints, dtype object, beyond int64) for integer encodings, float64 for floats.
        weight: sum of the weights (the number of contributors when unweighted).
        count: the number of contributing clients.
        raw: the exact sum of the encoded vectors modulo R, weight coordinate included.
    """

    sum: npt.NDArray[Any]
    weight: int
    count: int
    raw: UIntArray

    def mean(self) -> npt.NDArray[np.float64]:
        """The (weighted) mean ``sum / weight``; :class:`ParameterError` if the weight is 0."""
        if self.weight == 0:
            raise ParameterError("the total weight is zero, so the mean is undefined")
        return np.asarray(self.sum, dtype=np.float64) / self.weight


@dataclass(frozen=True)
class VectorEncoding:
    """How clients turn their vectors into integers modulo R; build with the class methods.

    Attributes:
        kind: ``"int"`` or ``"float"``.
        low, high: the range (inclusive); floats are clipped to it, integers must lie in it.
        bits: float quantisation bits b (``L = 2^b - 1`` levels); for integers the bit length
            of ``high - low``.
        max_weight: the largest client weight, or ``None`` for an unweighted sum.
    """

    kind: Literal["int", "float"]
    low: int | float
    high: int | float
    bits: int
    max_weight: int | None = None

    @classmethod
    def integers(cls, low: int, high: int, *, max_weight: int | None = None) -> VectorEncoding:
        """Exact integers in ``[low, high]`` (both within int64)."""
        if not (_is_int(low) and _is_int(high)):
            raise ParameterError("integer encoding bounds must be integers")
        low, high = int(low), int(high)
        if not _INT64_MIN <= low <= high <= _INT64_MAX:
            raise ParameterError(
                f"integer range [{low}, {high}] must be non-empty and within int64"
            )
        enc = cls("int", low, high, max((high - low).bit_length(), 1), max_weight)
        enc._check_weight()
        return enc

    @classmethod
    def floats(
        cls, low: float, high: float, bits: int, *, max_weight: int | None = None
    ) -> VectorEncoding:
        """Floats clipped to ``[low, high]`` and stochastically rounded to ``2^bits - 1`` levels.

        The clipping range is required on purpose: a hidden default (Flower clips at 8) silently
        distorts models whose updates are larger, or wastes precision on smaller ones.
        """
        if isinstance(low, bool) or isinstance(high, bool):
            raise ParameterError("float encoding bounds must be real numbers, not booleans")
        try:
            low, high = float(low), float(high)
        except (TypeError, ValueError):
            raise ParameterError("float encoding bounds must be real numbers") from None
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ParameterError(
                f"the clipping range [{low}, {high}] must be finite with low < high"
            )
        if not _is_int(bits) or not 1 <= int(bits) <= _MAX_FLOAT_BITS:
            raise ParameterError(
                f"float quantisation bits must be an integer in [1, {_MAX_FLOAT_BITS}], "
                f"got {bits!r}"
            )
        enc = cls("float", low, high, int(bits), max_weight)
        enc._check_weight()
        return enc

    def _check_weight(self) -> None:
        if self.max_weight is not None and (
            not _is_int(self.max_weight) or not 1 <= int(self.max_weight) < 2**63
        ):
            raise ParameterError(f"max_weight must be a positive integer, got {self.max_weight!r}")

    # ------------------------------------------------------------------ sizes and the rule
    @property
    def levels(self) -> int:
        """L, the largest encoded value of one unweighted coordinate."""
        if self.kind == "float":
            return (1 << self.bits) - 1
        return int(self.high) - int(self.low)

    @property
    def weighted(self) -> bool:
        """Whether a weight coordinate is appended."""
        return self.max_weight is not None

    def length(self, dim: int) -> int:
        """The number of coordinates that travel for a ``dim``-long input."""
        return dim + 1 if self.weighted else dim

    def modulus_bits(self, n_clients: int) -> int:
        """The bits needed so that the sum of ``n_clients`` encoded vectors cannot wrap."""
        if not _is_int(n_clients) or n_clients < 1:
            raise ParameterError(
                f"the number of clients must be a positive integer, got {n_clients}"
            )
        weight = self.max_weight if self.max_weight is not None else 1
        return max(n_clients * max(self.levels, 1) * weight, n_clients * weight).bit_length()

    def width(self, n_clients: int) -> int:
        """The transport width w (8, 16, 32 or 64 bits): R = 2^w."""
        return dtype_for_bits(self.modulus_bits(n_clients)).itemsize * 8

    def check_width(self, width: int, n_clients: int) -> None:
        """Refuse a modulus 2^width too small for ``n_clients`` (clients call this at setup)."""
        needed = self.modulus_bits(n_clients)
        if width < needed:
            raise EncodingOverflowError(
                f"a modulus of 2^{width} cannot hold the sum of {n_clients} clients, which needs "
                f"{needed} bits: the server's configuration would overflow"
            )

    # ------------------------------------------------------------------ encode / decode
    def encode(
        self,
        values: npt.ArrayLike,
        width: int,
        *,
        weight: int | None = None,
        rng: PRNG | None = None,
    ) -> UIntArray:
        """Encode one client's vector as words of ``width`` bits (weight coordinate appended).

        Raises:
            EncodingOverflowError: an integer outside ``[low, high]`` or a weight above the bound.
            ParameterError: non-finite floats, a non-vector input, a missing or extra weight.
        """
        dtype = dtype_for_bits(width)
        w = self._checked_weight(weight)
        q = self._encode_ints(values) if self.kind == "int" else self._encode_floats(values, rng)
        if self.max_weight is not None:
            q = np.append(q * np.uint64(w), np.uint64(w))
        return q.astype(dtype)

    def _checked_weight(self, weight: int | None) -> int:
        if self.max_weight is None:
            if weight is not None:
                raise ParameterError(
                    "this encoding is unweighted; build it with max_weight=... to send weights"
                )
            return 1
        if weight is None or not _is_int(weight):
            raise ParameterError("this encoding is weighted: pass an integer weight")
        if not 0 <= int(weight) <= self.max_weight:
            raise EncodingOverflowError(
                f"weight {weight} is outside [0, {self.max_weight}]; raise max_weight for the "
                "whole session"
            )
        return int(weight)

    def _encode_ints(self, values: npt.ArrayLike) -> npt.NDArray[np.uint64]:
        arr = np.asarray(values)
        if arr.ndim != 1:
            raise ParameterError(f"secure aggregation takes a flat vector, got shape {arr.shape}")
        if arr.dtype.kind == "O":
            if not all(_is_int(v) for v in arr):
                raise ParameterError("an integer encoding needs integer values")
        elif arr.dtype.kind not in "iu" and arr.size:
            raise ParameterError(
                f"an integer encoding needs integer values, got dtype {arr.dtype}; use "
                "VectorEncoding.floats for real numbers"
            )
        low, high = int(self.low), int(self.high)
        if arr.size and (int(arr.min()) < low or int(arr.max()) > high):
            raise EncodingOverflowError(
                f"a value lies outside the declared integer range [{low}, {high}]; integer "
                "inputs are never clipped, so widen the range"
            )
        if arr.dtype.kind == "O":
            return np.array([int(v) - low for v in arr], dtype=np.uint64)
        # Two's-complement wrap-around makes (x - low) mod 2^64 exact for x in [low, high].
        return arr.astype(np.int64).view(np.uint64) - np.uint64(low % 2**64)

    def _encode_floats(self, values: npt.ArrayLike, rng: PRNG | None) -> npt.NDArray[np.uint64]:
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1:
            raise ParameterError(f"secure aggregation takes a flat vector, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ParameterError("the input contains NaN or infinity; clean it before aggregation")
        low, high = float(self.low), float(self.high)
        scaled = (np.clip(arr, low, high) - low) * (self.levels / (high - low))
        np.clip(scaled, 0.0, float(self.levels), out=scaled)
        floor = np.floor(scaled)
        # Stochastic rounding: up with probability frac(s), from 53-bit uniforms u in [0, 1).
        words = np.frombuffer(default_rng(rng).random_bytes(8 * arr.size), dtype="<u8")
        uniform = (words >> np.uint64(11)).astype(np.float64) * 2.0**-53
        return floor.astype(np.uint64) + (uniform < scaled - floor)

    def decode(self, raw: UIntArray, count: int) -> Aggregate:
        """Turn the exact modular sum of ``count`` clients' encodings into an :class:`Aggregate`."""
        raw = np.asarray(raw)
        if self.weighted:
            if raw.shape[0] < 1:
                raise ParameterError("a weighted aggregate needs its weight coordinate")
            total_weight = int(raw[-1])
            body = raw[:-1]
        else:
            total_weight = count
            body = raw
        if self.kind == "float":
            scale = (float(self.high) - float(self.low)) / self.levels
            result: npt.NDArray[Any] = float(self.low) * total_weight + scale * body.astype(
                np.float64
            )
        else:
            low, high = int(self.low), int(self.high)
            if low * total_weight >= _INT64_MIN and high * total_weight <= _INT64_MAX:
                shifted = body.astype(np.uint64) + np.uint64((low * total_weight) % 2**64)
                result = shifted.view(np.int64)
            else:
                result = np.array([int(v) + low * total_weight for v in body], dtype=object)
        return Aggregate(sum=result, weight=total_weight, count=count, raw=raw)

    # ------------------------------------------------------------------ wire format
    def to_bytes(self) -> bytes:
        """A fixed 42-byte description carried in the setup message."""
        if self.kind == "float":
            bounds = struct.pack(">d8x", float(self.low)), struct.pack(">d8x", float(self.high))
        else:
            bounds = (
                int(self.low).to_bytes(16, "big", signed=True),
                int(self.high).to_bytes(16, "big", signed=True),
            )
        return _FORMAT.pack(
            0 if self.kind == "int" else 1, self.bits, self.max_weight or 0, *bounds
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> VectorEncoding:
        """Parse :meth:`to_bytes` output, validating it like the constructors do."""
        if len(data) != _FORMAT.size:
            raise SerializationError(f"an encoding description is {_FORMAT.size} bytes")
        kind, bits, max_weight, low_b, high_b = _FORMAT.unpack(data)
        weight = max_weight or None
        try:
            if kind == 0:
                return cls.integers(
                    int.from_bytes(low_b, "big", signed=True),
                    int.from_bytes(high_b, "big", signed=True),
                    max_weight=weight,
                )
            if kind == 1:
                (low,) = struct.unpack(">d8x", low_b)
                (high,) = struct.unpack(">d8x", high_b)
                return cls.floats(low, high, bits, max_weight=weight)
        except ParameterError as exc:
            raise SerializationError(f"invalid encoding description: {exc}") from exc
        raise SerializationError(f"unknown encoding kind {kind}")

    @property
    def nbytes(self) -> int:
        """Size of :meth:`to_bytes`."""
        return _FORMAT.size
