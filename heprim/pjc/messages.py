"""The typed, versioned messages of private intersection-sum and their compact binary form.

Four messages in two round trips, A being the party with identifiers only (``P1`` of Ion et al.)
and B the party with (identifier, values) rows (``P2``), who owns the Paillier key:

=======  =====================  ====  ==================================================
round    message                from  content
=======  =====================  ====  ==================================================
1        :class:`Hello`         A     ``H(v)**a`` for A's identifiers, shuffled; what A asks
2        :class:`Reply`         B     ``H(v)**(ab)`` shuffled; B's rows ``(H(w)**b, Enc(t))``
                                      shuffled; the value layout and the Paillier modulus
3        :class:`MaskedSum`     A     the intersection size; ``Enc(sum + r)``, re-randomised
4        :class:`Revealed`      B     ``sum + r mod n`` (A removes the mask ``r``)
any      :class:`Abort`         A, B  why the session stopped
=======  =====================  ====  ==================================================

Round 0 (:attr:`Round.PREPARE`) is B's offline work (hashing, blinding and encrypting its rows),
which needs no message. In the size-only variant rows carry no ciphertexts, :class:`MaskedSum`
carries only the size and there is no round 4.

Wire format: a 21-byte header ``b"HPJ" | version (1) | kind (1) | session id (16)`` then the
body, integers big-endian. Group elements have the fixed size of their group (named by a byte in
each message that carries them), Paillier integers a fixed width given in the message, so every
list is a count followed by fixed-size items and a truncated or extended message is always
detected. :func:`decode` raises :class:`~heprim.errors.SerializationError` for anything malformed;
the parties raise :class:`~heprim.errors.ProtocolError` for messages that parse but do not belong
(wrong stage, replayed, wrong session, invalid group elements or ciphertexts, impossible counts).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final

from heprim.errors import SerializationError
from heprim.pjc.group import group_by_code
from heprim.secagg.wire import Reader, abort_body, parse_abort_reason, unpack_header

__all__ = [
    "HEADER_BYTES",
    "MAGIC",
    "SESSION_BYTES",
    "VERSION",
    "Abort",
    "Hello",
    "Layout",
    "MaskedSum",
    "Message",
    "Reply",
    "Revealed",
    "Round",
    "ValueLayout",
    "decode",
    "encode",
]

MAGIC: Final = b"HPJ"
VERSION: Final = 1
SESSION_BYTES: Final = 16
_HEADER: Final = struct.Struct(">3sBB16s")
HEADER_BYTES: Final = _HEADER.size
_LAYOUT: Final = struct.Struct(">BHBI")  # kind, columns, slot bits, max additions; then decimals
MAX_DECIMALS: Final = 18
"""Values are fixed-point numbers with at most 18 decimal digits after the point."""


class Round(IntEnum):
    """The rounds of the protocol; a party's costs are accounted per round."""

    PREPARE = 0  # B's offline work: hash, blind and encrypt its rows (no message)
    BLIND = 1  # A -> B: Hello
    MATCH = 2  # B -> A: Reply
    SUM = 3  # A -> B: MaskedSum
    REVEAL = 4  # B -> A: Revealed


class Layout(IntEnum):
    """What each of B's rows carries besides its blinded identifier."""

    NONE = 0  # nothing: the intersection size only
    INTEGER = 1  # one integer value of any size: one Paillier ciphertext per row
    PACKED = 2  # several bounded integer columns packed into each plaintext (BatchCrypt)


@dataclass(frozen=True, slots=True)
class ValueLayout:
    """The public description of B's values: kind, columns and fixed-point and packing layout.

    Attributes:
        kind: the :class:`Layout`.
        columns: value columns (0 for ``NONE``, 1 for ``INTEGER``).
        decimals: per column: the values are integers standing for ``value / 10**decimals``.
        slot_bits: ``PACKED`` only: the signed bits of one value (see
            :class:`~heprim.paillier.packing.PackedEncoder`).
        max_additions: ``PACKED`` only: the number of B's rows, which bounds the intersection.
    """

    kind: Layout = Layout.NONE
    columns: int = 0
    decimals: tuple[int, ...] = ()
    slot_bits: int = 0
    max_additions: int = 0

    @property
    def nbytes(self) -> int:
        """Size of :meth:`to_bytes`."""
        return _LAYOUT.size + len(self.decimals)

    def to_bytes(self) -> bytes:
        self.check()
        head = _LAYOUT.pack(self.kind, self.columns, self.slot_bits, self.max_additions)
        return head + bytes(self.decimals)

    @classmethod
    def _parse(cls, r: _Reader) -> ValueLayout:
        kind, columns, slot_bits, max_additions = r.unpack(_LAYOUT.format)
        if kind not in Layout.__members__.values():
            raise SerializationError(f"unknown value layout {kind}")
        decimals = tuple(r.take(columns))
        layout = cls(Layout(kind), columns, decimals, slot_bits, max_additions)
        layout.check()
        return layout

    def check(self) -> None:
        """Raise :class:`SerializationError` for a layout that cannot be valid."""
        if len(self.decimals) != self.columns or any(
            not 0 <= d <= MAX_DECIMALS for d in self.decimals
        ):
            raise SerializationError(
                f"a layout has one decimals entry in [0, {MAX_DECIMALS}] per column"
            )
        if self.kind is Layout.NONE:
            ok = self.columns == self.slot_bits == self.max_additions == 0
        elif self.kind is Layout.INTEGER:
            ok = self.columns == 1 and self.slot_bits == self.max_additions == 0
        else:
            ok = self.columns >= 1 and 1 <= self.slot_bits <= 64 and self.max_additions >= 1
        if not ok:
            raise SerializationError(f"inconsistent value layout {self}")


class _Reader(Reader):
    __slots__ = ()
    WHAT: ClassVar[str] = "private-intersection message"

    def elements(self, size: int) -> tuple[bytes, ...]:
        n = self.count(size)
        block = bytes(self.take(n * size))
        return tuple(block[i : i + size] for i in range(0, n * size, size))

    def integers(self, n: int, width: int) -> tuple[int, ...]:
        if n == 0:
            return ()
        block = bytes(self.take(n * width))
        return tuple(
            int.from_bytes(block[i : i + width], "big") for i in range(0, n * width, width)
        )


def _element_size(group: int) -> int:
    found = group_by_code(group)
    if found is None:
        raise SerializationError(f"unknown group code {group}")
    return found.element_bytes


def _pack_elements(elements: tuple[bytes, ...], size: int) -> bytes:
    for e in elements:
        if len(e) != size:
            raise SerializationError(f"a group element of this group is {size} bytes")
    return struct.pack(">I", len(elements)) + b"".join(elements)


def _pack_integers(values: tuple[int, ...], width: int) -> bytes:
    try:
        return b"".join(int(v).to_bytes(width, "big") for v in values)
    except OverflowError:
        raise SerializationError(f"an integer does not fit its {width}-byte field") from None


def _byte_width(value: int) -> int:
    return (int(value).bit_length() + 7) // 8


@dataclass(frozen=True, slots=True)
class Message:
    """Fields every message carries: the session id, fixed by A's :class:`Hello`."""

    KIND: ClassVar[int] = 0
    ROUND: ClassVar[Round | None] = None

    session: bytes

    def _body(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def _parse(cls, session: bytes, r: _Reader) -> Message:
        raise NotImplementedError

    @property
    def nbytes(self) -> int:
        """The size of :func:`encode`'s output."""
        return HEADER_BYTES + len(self._body())


@dataclass(frozen=True, slots=True, repr=False)
class Hello(Message):
    """Round 1, A to B: A's blinded identifiers ``H(v)**a`` (shuffled) and what A asks for."""

    KIND: ClassVar[int] = 1
    ROUND: ClassVar[Round | None] = Round.BLIND
    group: int
    want_sum: bool
    elements: tuple[bytes, ...]

    def _body(self) -> bytes:
        size = _element_size(self.group)
        return struct.pack(">BB", self.group, self.want_sum) + _pack_elements(self.elements, size)

    @property
    def nbytes(self) -> int:
        return HEADER_BYTES + 6 + len(self.elements) * _element_size(self.group)

    @classmethod
    def _parse(cls, session: bytes, r: _Reader) -> Hello:
        group, want = r.unpack(">BB")
        if want not in (0, 1):
            raise SerializationError("invalid want-sum flag")
        return cls(session, group, bool(want), r.elements(_element_size(group)))

    def __repr__(self) -> str:
        return f"Hello(group={self.group}, want_sum={self.want_sum}, {len(self.elements)} elements)"


@dataclass(frozen=True, slots=True, repr=False)
class Reply(Message):
    """Round 2, B to A: A's identifiers blinded twice, and B's blinded rows with ciphertexts.

    ``ciphertexts`` is row-major: row ``j`` owns ``ciphertexts[j k : (j + 1) k]`` with ``k``
    = :attr:`per_row` ciphertexts per row (0 when the layout is ``NONE``).
    """

    KIND: ClassVar[int] = 2
    ROUND: ClassVar[Round | None] = Round.MATCH
    group: int
    layout: ValueLayout
    modulus: int
    per_row: int
    doubled: tuple[bytes, ...]
    rows: tuple[bytes, ...]
    ciphertexts: tuple[int, ...]

    @property
    def _n_len(self) -> int:
        return _byte_width(self.modulus)

    def _body(self) -> bytes:
        size = _element_size(self.group)
        n_len = self._n_len
        if len(self.ciphertexts) != self.per_row * len(self.rows):
            raise SerializationError("a reply needs per_row ciphertexts for every row")
        head = (
            struct.pack(">B", self.group)
            + self.layout.to_bytes()
            + struct.pack(">H", n_len)
            + _pack_integers((self.modulus,), n_len)
            + struct.pack(">H", self.per_row)
            + _pack_elements(self.doubled, size)
            + struct.pack(">I", len(self.rows))
        )
        width, k = 2 * n_len, self.per_row
        parts = [head]
        for j, element in enumerate(self.rows):
            if len(element) != size:
                raise SerializationError(f"a group element of this group is {size} bytes")
            parts.append(element + _pack_integers(self.ciphertexts[j * k : (j + 1) * k], width))
        return b"".join(parts)

    @property
    def nbytes(self) -> int:
        size, n_len = _element_size(self.group), self._n_len
        return (
            HEADER_BYTES
            + 1
            + self.layout.nbytes
            + 2
            + n_len
            + 2
            + 4
            + len(self.doubled) * size
            + 4
            + len(self.rows) * (size + self.per_row * 2 * n_len)
        )

    @classmethod
    def _parse(cls, session: bytes, r: _Reader) -> Reply:
        (group,) = r.unpack(">B")
        size = _element_size(group)
        layout = ValueLayout._parse(r)
        (n_len,) = r.unpack(">H")
        modulus = r.integers(1, n_len)[0] if n_len else 0
        if n_len and _byte_width(modulus) != n_len:
            raise SerializationError("the Paillier modulus has a leading zero byte")
        (per_row,) = r.unpack(">H")
        if (layout.kind is Layout.NONE) != (n_len == 0) or (layout.kind is Layout.NONE) != (
            per_row == 0
        ):
            raise SerializationError(
                "ciphertexts and a modulus go with a value layout, and only then"
            )
        doubled = r.elements(size)
        width = 2 * n_len
        step = size + per_row * width
        n_rows = r.count(step)
        block = bytes(r.take(n_rows * step))
        rows: list[bytes] = []
        ciphertexts: list[int] = []
        for j in range(n_rows):
            row = block[j * step : (j + 1) * step]
            rows.append(row[:size])
            ciphertexts.extend(
                int.from_bytes(row[size + i * width : size + (i + 1) * width], "big")
                for i in range(per_row)
            )
        return cls(
            session, group, layout, modulus, per_row, doubled, tuple(rows), tuple(ciphertexts)
        )

    def __repr__(self) -> str:
        return (
            f"Reply(group={self.group}, layout={self.layout.kind.name}, "
            f"{len(self.doubled)} doubled, {len(self.rows)} rows x {self.per_row} ciphertexts)"
        )


@dataclass(frozen=True, slots=True)
class MaskedSum(Message):
    """Round 3, A to B: the intersection size and the masked, re-randomised sum ciphertexts."""

    KIND: ClassVar[int] = 3
    ROUND: ClassVar[Round | None] = Round.SUM
    size: int
    width: int  # bytes per ciphertext (2 |n| / 8); 0 when there are none
    ciphertexts: tuple[int, ...]

    def _body(self) -> bytes:
        if not 0 <= self.size < 2**32:
            raise SerializationError("the intersection size does not fit in 32 bits")
        head = struct.pack(">IHH", self.size, self.width, len(self.ciphertexts))
        return head + _pack_integers(self.ciphertexts, self.width)

    @classmethod
    def _parse(cls, session: bytes, r: _Reader) -> MaskedSum:
        size, width, count = r.unpack(">IHH")
        if count and not width:
            raise SerializationError("ciphertexts of zero width")
        return cls(session, size, width, r.integers(count, width))


@dataclass(frozen=True, slots=True)
class Revealed(Message):
    """Round 4, B to A: the decrypted masked sums ``sum + r mod n``."""

    KIND: ClassVar[int] = 4
    ROUND: ClassVar[Round | None] = Round.REVEAL
    width: int  # bytes per plaintext (|n| / 8)
    plaintexts: tuple[int, ...]

    def _body(self) -> bytes:
        return struct.pack(">HH", self.width, len(self.plaintexts)) + _pack_integers(
            self.plaintexts, self.width
        )

    @classmethod
    def _parse(cls, session: bytes, r: _Reader) -> Revealed:
        width, count = r.unpack(">HH")
        if count and not width:
            raise SerializationError("plaintexts of zero width")
        return cls(session, width, r.integers(count, width))


@dataclass(frozen=True, slots=True)
class Abort(Message):
    """Any round, either party: the session is over without a result, and why."""

    KIND: ClassVar[int] = 5
    reason: str

    def _body(self) -> bytes:
        return abort_body(self.reason)

    @classmethod
    def _parse(cls, session: bytes, r: _Reader) -> Abort:
        return cls(session, parse_abort_reason(r))


_KINDS: Final[dict[int, type[Message]]] = {
    cls.KIND: cls for cls in (Hello, Reply, MaskedSum, Revealed, Abort)
}


def encode(message: Message) -> bytes:
    """The compact binary form of ``message`` (header then body)."""
    if not isinstance(message, Message) or type(message) not in _KINDS.values():
        raise SerializationError(f"not a private-intersection message: {type(message).__name__}")
    if len(message.session) != SESSION_BYTES:
        raise SerializationError(f"a session id is {SESSION_BYTES} bytes")
    return _HEADER.pack(MAGIC, VERSION, message.KIND, message.session) + message._body()


def decode(data: bytes | bytearray | memoryview) -> Message:
    """Parse one message; :class:`SerializationError` if it is malformed in any way."""
    view, (kind, session) = unpack_header(data, _HEADER, MAGIC, VERSION, _Reader.WHAT)
    cls = _KINDS.get(kind)
    if cls is None:
        raise SerializationError(f"unknown private-intersection message kind {kind}")
    reader = _Reader(view, HEADER_BYTES)
    message = cls._parse(bytes(session), reader)
    reader.finish()
    return message
