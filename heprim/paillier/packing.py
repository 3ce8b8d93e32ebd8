"""BatchCrypt packing: many small signed integers in one Paillier plaintext.

A Paillier plaintext has ``|n|`` bits but federated learning sums vectors of 8- to 32-bit
quantised values, so encrypting one value per ciphertext wastes almost all of it. BatchCrypt
(Zhang, Li, Xia, Wang, Yan and Liu, "BatchCrypt: Efficient homomorphic encryption for cross-silo
federated learning", USENIX ATC 2020, sec. 4: quantisation and batch encoding) lays many values
side by side in one plaintext, separated by zero padding that absorbs the carries of homomorphic
additions, so that ONE ciphertext multiplication adds all of them at once.

The layout here (slot ``j`` of a plaintext occupies bits ``[j w, (j + 1) w)``)::

    | guard | headroom: ceil(log2 A) bits | value: k bits |   x  slots_per_ciphertext
      1 bit

* each ``k``-bit signed value ``v`` is stored in offset binary, ``u = v + 2**(k-1)`` in
  ``[0, 2**k)`` (BatchCrypt uses two's complement with two sign bits; offset binary never borrows
  from the neighbouring slot, so a sum of slots is just the sum of the ``u``);
* a sum of ``count <= A`` vectors (``A = max_additions``) stays ``<= A (2**k - 1) < 2**(k +
  ceil(log2 A))``: it fits its slot below the guard bit, and decoding subtracts ``count 2**(k-1)``;
* slots per plaintext = ``(|n| - 2) // w``, so every packed sum stays below ``n / 2``: it never
  wraps modulo ``n``.

Overflow is detected, never silently spread to a neighbour: encoding refuses values out of range;
``+`` refuses to sum more than ``A`` vectors; and decryption checks that every slot is at most
``count (2**k - 1)`` (so its guard bit is zero) and that no bit above the last slot is set. This
is exactly the condition "the plaintext is a sum of ``count`` in-range vectors", so data crafted
out of range by a buggy or malicious client raises :class:`~heprim.errors.EncodingOverflowError`
naming the slot, as soon as it pushes any slot beyond what in-range data could produce. (What no
check can see is a client that sends different in-range values, or borrows from one slot to
another while keeping the total feasible: that needs range proofs, which this layer does not do.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Integral, Real
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from heprim.errors import EncodingOverflowError, KeyMismatchError, ParameterError
from heprim.math.prng import PRNG
from heprim.paillier.keys import PrivateKey, PublicKey
from heprim.paillier.vector import (
    Backend,
    Progress,
    raw_decrypt_many,
    raw_encrypt_many,
    raw_obfuscate_many,
)

__all__ = ["MAX_SLOT_WIDTH", "PackedEncoder", "PackedVector"]

MAX_SLOT_WIDTH: Final = 64
"""Slots are at most 64 bits wide, so every slot sum and every decoded value fits int64."""


def _positive_int(value: object, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ParameterError(f"{what} must be a {kind} integer, got {value!r}")
    return int(value)


def _scale_arg(scale: object) -> float | None:
    if scale is None:
        return None
    if isinstance(scale, bool) or not isinstance(scale, Real):
        raise ParameterError(f"scale must be a positive number or None, got {scale!r}")
    value = float(scale)
    if not (math.isfinite(value) and value > 0):
        raise ParameterError(f"scale must be positive and finite, got {value}")
    return value


def _check_public_key(key: object) -> PublicKey:
    if isinstance(key, PrivateKey):
        raise ParameterError(
            "PackedEncoder takes the PublicKey (encoder parameters are public); pass "
            "private_key.public_key, and the private key to encrypt()/decrypt()"
        )
    if not isinstance(key, PublicKey):
        raise ParameterError(f"expected a heprim PublicKey, got {type(key).__name__}")
    return key


class PackedEncoder:
    """The slot layout of BatchCrypt packing for one public key.

    Args:
        public_key: the key whose plaintext space is packed.
        slot_bits: ``k``, the bits of one value. Signed slots hold ``[-2**(k-1), 2**(k-1) - 1]``,
            unsigned ones ``[0, 2**k - 1]``.
        max_additions: ``A``, the most packed vectors that may be summed into one (the number of
            summands, e.g. the number of clients). Costs ``ceil(log2 A)`` headroom bits per slot.
        signed: whether values are signed (offset binary) or non-negative.
        scale: for floats: a value ``x`` is quantised to ``round(x * scale)`` (ties to even),
            which must fit ``k`` bits, and sums decode to ``float64`` divided by ``scale``.
            ``None``: integer input and ``int64`` output.

    Raises:
        ParameterError: a slot wider than 64 bits, a key too small for one slot, bad arguments.
    """

    __slots__ = (
        "_max_additions",
        "_public_key",
        "_scale",
        "_signed",
        "_slot_bits",
        "_slot_width",
        "_slots",
    )

    _public_key: PublicKey
    _slot_bits: int
    _max_additions: int
    _signed: bool
    _scale: float | None
    _slot_width: int
    _slots: int

    def __init__(
        self,
        public_key: PublicKey,
        slot_bits: int,
        *,
        max_additions: int,
        signed: bool = True,
        scale: float | None = None,
    ) -> None:
        public_key = _check_public_key(public_key)
        k = _positive_int(slot_bits, "slot_bits")
        additions = _positive_int(max_additions, "max_additions")
        if not isinstance(signed, bool):
            raise ParameterError(f"signed must be True or False, got {signed!r}")
        checked_scale = _scale_arg(scale)
        headroom = (additions - 1).bit_length()  # ceil(log2(additions))
        width = k + headroom + 1
        if width > MAX_SLOT_WIDTH:
            raise ParameterError(
                f"a slot needs {k} value bits + {headroom} headroom bits for {additions} additions "
                f"+ 1 guard bit = {width} bits, more than {MAX_SLOT_WIDTH}; use fewer slot bits or "
                "fewer additions"
            )
        slots = (public_key.n_bits - 2) // width
        if slots < 1:  # pragma: no cover - keys have >= 256 bits and slots <= 64
            raise ParameterError(f"the key is too small for a single {width}-bit slot")
        self._public_key = public_key
        self._slot_bits = k
        self._max_additions = additions
        self._signed = signed
        self._scale = checked_scale
        self._slot_width = width
        self._slots = slots

    # ------------------------------------------------------------------ parameters
    @property
    def public_key(self) -> PublicKey:
        """The key the packed plaintexts are encrypted under."""
        return self._public_key

    @property
    def slot_bits(self) -> int:
        """``k``: bits of one value."""
        return self._slot_bits

    @property
    def max_additions(self) -> int:
        """The most packed vectors that may be summed into one."""
        return self._max_additions

    @property
    def signed(self) -> bool:
        """Whether slots hold signed values (stored in offset binary)."""
        return self._signed

    @property
    def scale(self) -> float | None:
        """The fixed-point scale for floats, or ``None`` for integers."""
        return self._scale

    @property
    def slot_width(self) -> int:
        """Bits per slot: ``k + ceil(log2 max_additions) + 1`` (the guard bit)."""
        return self._slot_width

    @property
    def slots_per_ciphertext(self) -> int:
        """Values per plaintext: ``(n_bits - 2) // slot_width``."""
        return self._slots

    @property
    def min_value(self) -> int:
        """The smallest integer a slot holds (before ``scale``)."""
        return -(1 << (self._slot_bits - 1)) if self._signed else 0

    @property
    def max_value(self) -> int:
        """The largest integer a slot holds (before ``scale``)."""
        return (1 << (self._slot_bits - 1)) - 1 if self._signed else (1 << self._slot_bits) - 1

    @property
    def _offset(self) -> int:
        return 1 << (self._slot_bits - 1) if self._signed else 0

    def ciphertexts_for(self, length: int) -> int:
        """How many ciphertexts a vector of ``length`` values packs into."""
        return -(-int(length) // self._slots)

    def _params(self) -> tuple[object, ...]:
        return (self._slot_bits, self._max_additions, self._signed, self._scale)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PackedEncoder):
            return NotImplemented
        return self._public_key == other._public_key and self._params() == other._params()

    def __hash__(self) -> int:
        return hash((self._public_key, *self._params()))

    def __repr__(self) -> str:
        scale = "" if self._scale is None else f", scale={self._scale!r}"
        return (
            f"PackedEncoder(slot_bits={self._slot_bits}, max_additions={self._max_additions}, "
            f"signed={self._signed}{scale}, slots_per_ciphertext={self._slots}, "
            f"key={self._public_key.fingerprint[:8]})"
        )

    # ------------------------------------------------------------------ encoding
    def quantise(self, values: ArrayLike) -> NDArray[np.int64]:
        """The slot integers of a 1-D array: the values themselves, or ``round(x * scale)``.

        Raises:
            EncodingOverflowError: a value outside ``[min_value, max_value]`` (after scaling),
                naming the first offending index.
            ParameterError: not a 1-D numeric array, NaN/inf, floats without ``scale``, bools.
        """
        arr = np.asarray(values)
        if arr.ndim != 1:
            raise ParameterError(
                f"packing takes a 1-D array (got shape {arr.shape}); ravel() it first and "
                "reshape after decryption"
            )
        kind = arr.dtype.kind
        if kind == "b":
            raise ParameterError("booleans are not packed; convert with .astype(int) first")
        if kind == "O":
            if not all(isinstance(x, Integral | Real) and not isinstance(x, bool) for x in arr):
                raise ParameterError("packing takes an array of ints or floats")
            if self._scale is None and not all(isinstance(x, Integral) for x in arr):
                raise ParameterError("these values are not integers: give the encoder a scale=")
            arr = arr.astype(np.float64) if self._scale is not None else arr
        elif kind not in "iuf":
            raise ParameterError(f"packing takes integers or floats, got dtype {arr.dtype}")
        lo, hi = self.min_value, self.max_value
        if self._scale is not None:
            x = arr.astype(np.float64)
            if not np.isfinite(x).all():
                raise ParameterError("the values contain NaN or infinity")
            scaled = np.rint(x * self._scale)  # round half to even, like Python's round()
            bad = np.flatnonzero((scaled < lo) | (scaled > hi))
            if bad.size:
                i = int(bad[0])
                raise EncodingOverflowError(
                    f"value {float(x[i])!r} at index {i} quantises to {int(scaled[i])}, outside "
                    f"the {self._slot_bits}-bit slot range [{lo}, {hi}] (that is "
                    f"[{lo / self._scale}, {hi / self._scale}] before scaling)"
                )
            return scaled.astype(np.int64)
        if kind == "f":
            raise ParameterError(
                "floats need a fixed-point scale: PackedEncoder(..., scale=2**16) quantises x to "
                "round(x * scale)"
            )
        if kind == "O":
            ints = [int(v) for v in arr]
            for i, v in enumerate(ints):
                if not lo <= v <= hi:
                    raise EncodingOverflowError(
                        f"value {v} at index {i} is outside the {self._slot_bits}-bit slot range "
                        f"[{lo}, {hi}]"
                    )
            return np.array(ints, dtype=np.int64)
        if arr.size:
            # Compare as Python ints: numpy would wrap or refuse mixed-sign comparisons.
            low_i, high_i = int(arr.argmin()), int(arr.argmax())
            for i in (low_i, high_i):
                if not lo <= int(arr[i]) <= hi:
                    raise EncodingOverflowError(
                        f"value {int(arr[i])} at index {i} is outside the {self._slot_bits}-bit "
                        f"slot range [{lo}, {hi}]"
                    )
        return arr.astype(np.int64)

    def encode(self, values: ArrayLike) -> list[int]:
        """Pack a 1-D array into raw plaintexts (``ciphertexts_for(len)`` integers below ``n``)."""
        slots = self.quantise(values) + self._offset  # offset binary: all in [0, 2**k)
        units = [int(u) for u in slots.tolist()]
        w, s = self._slot_width, self._slots
        plaintexts: list[int] = []
        for start in range(0, len(units), s):
            acc = 0
            for j, u in enumerate(units[start : start + s]):
                acc |= u << (j * w)
            plaintexts.append(acc)
        return plaintexts

    def decode(self, plaintexts: Sequence[int], length: int, count: int = 1) -> NDArray[Any]:
        """Unpack the plaintext of a sum of ``count`` packed vectors of ``length`` values.

        Returns ``int64`` values, or ``float64`` divided by ``scale`` for a fixed-point encoder.

        Raises:
            EncodingOverflowError: a slot exceeds ``count * (2**k - 1)`` (its guard bit or
                headroom says the sum is not one of ``count`` in-range vectors), a bit above the
                last slot is set, or ``count`` exceeds ``max_additions``. The message names the
                slot.
        """
        length = int(length)
        count = _positive_int(count, "count")
        if count > self._max_additions:
            raise EncodingOverflowError(
                f"{count} packed vectors were summed but the encoder's headroom is for "
                f"{self._max_additions}; the slots may have overflowed"
            )
        if len(plaintexts) != self.ciphertexts_for(length):
            raise ParameterError(
                f"{length} values pack into {self.ciphertexts_for(length)} plaintexts, got "
                f"{len(plaintexts)}"
            )
        w, s, k = self._slot_width, self._slots, self._slot_bits
        mask = (1 << w) - 1
        bound = count * ((1 << k) - 1)
        fields: list[int] = []
        for ct_index, m in enumerate(plaintexts):
            value = int(m)
            if value >> (s * w):
                raise EncodingOverflowError(
                    f"packed plaintext {ct_index} has bits set above its last slot: the sum "
                    "wrapped or a contribution was not a valid packing (negative or oversized)"
                )
            for j in range(s):
                field = (value >> (j * w)) & mask
                if field > bound:
                    element = ct_index * s + j
                    where = f"element {element}" if element < length else "a padding slot"
                    guard = " (its guard bit is set)" if field >> (w - 1) else ""
                    raise EncodingOverflowError(
                        f"slot {j} of packed plaintext {ct_index} ({where}) holds {field}{guard}, "
                        f"more than {count} in-range {k}-bit values can sum to ({bound}): a "
                        "contribution was out of range (buggy or malicious client) or more "
                        "vectors were added than declared"
                    )
                fields.append(field)
        sums = np.array(fields[:length], dtype=np.int64) - count * self._offset
        if self._scale is not None:
            return sums.astype(np.float64) / self._scale
        return sums

    # ------------------------------------------------------------------ encryption
    def encrypt(
        self,
        values: ArrayLike,
        *,
        rng: PRNG | None = None,
        workers: int = 1,
        backend: Backend = "auto",
        progress: Progress = None,
        private_key: PrivateKey | None = None,
    ) -> PackedVector:
        """Pack and encrypt a 1-D array into a :class:`PackedVector` of count 1.

        ``private_key``: a client that holds the key pair (BatchCrypt's cross-silo setting, where
        the aggregator holds none) may pass it to encrypt through the faster CRT path.
        """
        plaintexts = self.encode(values)
        key: PublicKey | PrivateKey = self._public_key
        if private_key is not None:
            if not isinstance(private_key, PrivateKey):
                raise ParameterError(
                    f"private_key must be a heprim PrivateKey, got {type(private_key).__name__}"
                )
            if private_key.public_key != self._public_key:
                raise KeyMismatchError("the private key does not belong to the encoder's key")
            key = private_key
        ciphertexts = raw_encrypt_many(
            key, plaintexts, rng=rng, workers=workers, backend=backend, progress=progress
        )
        return PackedVector._make(self, ciphertexts, int(np.shape(values)[0]), 1)

    def decrypt(
        self,
        private_key: PrivateKey,
        packed: PackedVector,
        *,
        workers: int = 1,
        backend: Backend = "auto",
        progress: Progress = None,
    ) -> NDArray[Any]:
        """Decrypt and unpack (see :meth:`decode` for the overflow checks)."""
        if not isinstance(packed, PackedVector):
            raise ParameterError(f"expected a PackedVector, got {type(packed).__name__}")
        if not isinstance(private_key, PrivateKey):
            raise ParameterError(
                f"decryption needs the heprim PrivateKey, got {type(private_key).__name__}"
            )
        if private_key.public_key != self._public_key:
            raise KeyMismatchError(
                f"this private key is for {private_key.public_key.fingerprint[:8]}, the encoder "
                f"for {self._public_key.fingerprint[:8]}"
            )
        packed._check_compatible(self)
        plaintexts = raw_decrypt_many(
            private_key, packed._ciphertexts, workers=workers, backend=backend, progress=progress
        )
        return self.decode(plaintexts, packed.length, packed.count)


class PackedVector:
    """Ciphertexts of packed plaintexts: the (sum of ``count``) packed vector(s) of ``length``.

    ``+`` adds two packed vectors slot by slot with one multiplication per ciphertext; the counts
    add up and a sum of more than ``encoder.max_additions`` vectors raises
    :class:`~heprim.errors.EncodingOverflowError` at the ``+`` (before any slot can overflow).
    Decryption re-checks every slot (see :meth:`PackedEncoder.decode`). Sums are not
    re-randomised: call :meth:`obfuscate` before releasing one.

    Args:
        encoder: the layout the plaintexts were packed with.
        ciphertexts: ``encoder.ciphertexts_for(length)`` ciphertexts, each a unit in ``[1, n^2)``.
        length: the number of values.
        count: how many packed vectors were summed into these ciphertexts (1 for a fresh one).
    """

    __slots__ = ("_ciphertexts", "_count", "_encoder", "_length")

    __array_ufunc__ = None

    _ciphertexts: list[int]
    _count: int
    _encoder: PackedEncoder
    _length: int

    def __init__(
        self, encoder: PackedEncoder, ciphertexts: Iterable[int], length: int, count: int = 1
    ) -> None:
        if not isinstance(encoder, PackedEncoder):
            raise ParameterError(f"encoder must be a PackedEncoder, got {type(encoder).__name__}")
        length = _positive_int(length, "length", minimum=0)
        count = _positive_int(count, "count")
        if count > encoder.max_additions:
            raise EncodingOverflowError(
                f"count {count} exceeds the encoder's max_additions {encoder.max_additions}"
            )
        if isinstance(ciphertexts, str | bytes) or not isinstance(ciphertexts, Iterable):
            raise ParameterError("ciphertexts must be an iterable of integers")
        cts = [encoder.public_key.check_ciphertext(c) for c in ciphertexts]
        if len(cts) != encoder.ciphertexts_for(int(length)):
            raise ParameterError(
                f"{int(length)} values pack into {encoder.ciphertexts_for(int(length))} "
                f"ciphertexts, got {len(cts)}"
            )
        self._encoder = encoder
        self._ciphertexts = cts
        self._length = int(length)
        self._count = count

    @classmethod
    def _make(
        cls, encoder: PackedEncoder, ciphertexts: list[int], length: int, count: int
    ) -> PackedVector:
        self = cls.__new__(cls)
        self._encoder = encoder
        self._ciphertexts = ciphertexts
        self._length = length
        self._count = count
        return self

    @property
    def encoder(self) -> PackedEncoder:
        """The slot layout."""
        return self._encoder

    @property
    def public_key(self) -> PublicKey:
        """The key of the ciphertexts."""
        return self._encoder.public_key

    @property
    def ciphertexts(self) -> tuple[int, ...]:
        """The raw ciphertexts (not re-randomised)."""
        return tuple(self._ciphertexts)

    @property
    def length(self) -> int:
        """Number of packed values."""
        return self._length

    @property
    def count(self) -> int:
        """How many packed vectors were summed into this one."""
        return self._count

    def __len__(self) -> int:
        return self._length

    def __repr__(self) -> str:
        return (
            f"PackedVector(length={self._length}, count={self._count}, "
            f"ciphertexts={len(self._ciphertexts)}, key={self.public_key.fingerprint[:8]})"
        )

    def _check_compatible(self, encoder: PackedEncoder) -> None:
        if encoder.public_key != self._encoder.public_key:
            raise KeyMismatchError(
                f"packed vectors under keys {self._encoder.public_key.fingerprint[:8]} and "
                f"{encoder.public_key.fingerprint[:8]} cannot be combined"
            )
        if encoder._params() != self._encoder._params():
            raise ParameterError(
                f"packed with different layouts ({self._encoder!r} vs {encoder!r}); every "
                "party must use the same PackedEncoder parameters"
            )

    def __add__(self, other: object) -> PackedVector:
        if not isinstance(other, PackedVector):
            return NotImplemented
        self._check_compatible(other._encoder)
        if other._length != self._length:
            raise ParameterError(
                f"cannot add packed vectors of lengths {self._length} and {other._length}"
            )
        count = self._count + other._count
        if count > self._encoder.max_additions:
            raise EncodingOverflowError(
                f"this sum would hold {count} packed vectors, more than the "
                f"{self._encoder.max_additions} the encoder's headroom bits allow; build the "
                "encoder with a larger max_additions"
            )
        nsq = self.public_key.nsquare
        cts = [a * b % nsq for a, b in zip(self._ciphertexts, other._ciphertexts, strict=True)]
        return PackedVector._make(self._encoder, cts, self._length, count)

    def __radd__(self, other: object) -> PackedVector:
        if not isinstance(other, bool) and isinstance(other, Integral) and int(other) == 0:
            # sum(packed_vectors) starts from 0; a copy, since obfuscate() works in place.
            return PackedVector._make(
                self._encoder, list(self._ciphertexts), self._length, self._count
            )
        return NotImplemented

    def decrypt(
        self,
        private_key: PrivateKey,
        *,
        workers: int = 1,
        backend: Backend = "auto",
        progress: Progress = None,
    ) -> NDArray[Any]:
        """Decrypt and unpack: ``int64`` (or ``float64`` with a scale) sums of every slot."""
        return self._encoder.decrypt(
            private_key, self, workers=workers, backend=backend, progress=progress
        )

    def obfuscate(
        self,
        *,
        rng: PRNG | None = None,
        workers: int = 1,
        backend: Backend = "auto",
        progress: Progress = None,
    ) -> None:
        """Re-randomise every ciphertext in place."""
        self._ciphertexts = raw_obfuscate_many(
            self.public_key,
            self._ciphertexts,
            rng=rng,
            workers=workers,
            backend=backend,
            progress=progress,
        )
