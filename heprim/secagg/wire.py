"""The binary framing shared by heprim's protocol messages: a bounds-checked body reader, the
header check and the abort reason.

SecAgg's and the HE aggregation protocols' messages (:mod:`heprim.secagg.messages`) and private
intersection-sum's (:mod:`heprim.pjc.messages`) have the same shape: a fixed header starting
``magic (3) | version (1) | kind (1)``, then a body of big-endian fixed-size fields and counted
lists. Every read is bounds-checked, so a truncated or extended message raises
:class:`~heprim.errors.SerializationError` naming the protocol (:attr:`Reader.WHAT`) instead of
an ``IndexError`` or a silently short field.
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar

from heprim.errors import SerializationError

__all__ = ["Reader", "abort_body", "parse_abort_reason", "unpack_header"]


class Reader:
    """A cursor over one message body; subclasses name their protocol in :attr:`WHAT`."""

    __slots__ = ("_data", "_pos")
    WHAT: ClassVar[str] = "message"

    def __init__(self, data: memoryview, pos: int) -> None:
        self._data, self._pos = data, pos

    def take(self, n: int) -> memoryview:
        if n < 0 or self._pos + n > len(self._data):
            raise SerializationError(f"truncated {self.WHAT}")
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        s = struct.Struct(fmt)
        return s.unpack(self.take(s.size))

    def u32(self) -> int:
        return int(self.unpack(">I")[0])

    def count(self, item_size: int) -> int:
        """A 4-byte list length, checked against the bytes left before anything is allocated."""
        n = self.u32()
        if n * item_size > len(self._data) - self._pos:
            raise SerializationError(f"truncated {self.WHAT} (list too long)")
        return n

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise SerializationError(f"trailing bytes after a {self.WHAT}")


def unpack_header(
    data: bytes | bytearray | memoryview,
    header: struct.Struct,
    magic: bytes,
    version: int,
    what: str,
) -> tuple[memoryview, tuple[Any, ...]]:
    """Check a message's header: ``(whole message, header fields after magic and version)``.

    ``header`` starts ``3s B`` (magic, version); ``what`` names the protocol's messages in the
    errors (``"secure-aggregation message"``).
    """
    view = memoryview(data).cast("B")
    if len(view) < header.size:
        raise SerializationError(f"truncated {what} (no complete header)")
    fields = header.unpack(view[: header.size])
    if fields[0] != magic:
        raise SerializationError(f"not a heprim {what} (bad magic)")
    if fields[1] != version:
        raise SerializationError(
            f"{what} version {fields[1]}; this heprim speaks version {version}: upgrade the "
            "older party"
        )
    return view, fields[2:]


def abort_body(reason: str) -> bytes:
    """An abort's body: the reason as UTF-8 (at most 65535 bytes) after a 2-byte length."""
    text = reason.encode()[:65535]
    return struct.pack(">H", len(text)) + text


def parse_abort_reason(r: Reader) -> str:
    """The inverse of :func:`abort_body`."""
    (n,) = r.unpack(">H")
    try:
        return bytes(r.take(n)).decode()
    except UnicodeDecodeError:
        raise SerializationError("an abort reason is UTF-8 text") from None
