"""The versioned JSON envelope shared by every heprim serialization.

Every document is one JSON object whose first two members name what it holds and the version of
its layout::

    {"heprim": "paillier.PublicKey", "version": 1, ...fields of that type...}

Encodings (the same everywhere, so one strict reader checks them all):

* **Big integers** are ``Base64urlUInt`` strings as in JSON Web Algorithms (RFC 7518, sec. 2):
  the unpadded base64url encoding of the minimal big-endian byte string, zero being ``"AA"``. It
  is also the encoding of python-paillier's JWK keys, so keys read the same in both.
* **Bulk ciphertext arrays** are one unpadded base64url blob of fixed-width big-endian words,
  each ``width`` bytes long (the byte length of ``n^2``), in row-major order.
* Small integers (exponents, counts, shapes) are JSON numbers; floats must be finite.

The reader is strict on purpose: a document is accepted only in its canonical form (no padding,
no leading zero bytes, no duplicate or unknown members, no ``NaN``), so a flipped character is
either rejected here with a :class:`~heprim.errors.SerializationError` or decodes to a different
number that the type's own invariants are then checked against.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Final, NoReturn

from heprim.errors import SerializationError

__all__ = [
    "FORMAT_VERSION",
    "Reader",
    "b64url_decode",
    "b64url_encode",
    "blob_from_ints",
    "int_from_b64url",
    "int_to_b64url",
    "ints_from_blob",
    "parse_document",
    "parse_json",
    "render_document",
]

FORMAT_VERSION: Final = 1
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 4648, sec. 5) of ``data``."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, what: str = "value") -> bytes:
    """Decode canonical unpadded base64url; anything else raises :class:`SerializationError`."""
    if not isinstance(text, str) or _B64URL.fullmatch(text) is None:
        raise SerializationError(
            f"{what} must be an unpadded base64url string (letters, digits, '-' and '_')"
        )
    if len(text) % 4 == 1:
        raise SerializationError(f"{what} is not valid base64url: its length is impossible")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - the regex rules these out
        raise SerializationError(f"{what} is not valid base64url: {exc}") from None
    # Unused low bits of the last character must be zero, or two texts would mean one value.
    if b64url_encode(data) != text:
        raise SerializationError(f"{what} is not in canonical base64url form")
    return data


def int_to_b64url(value: int) -> str:
    """``Base64urlUInt`` (RFC 7518, sec. 2): minimal big-endian bytes, zero as ``"AA"``."""
    value = int(value)
    if value < 0:
        raise SerializationError("only non-negative integers have a Base64urlUInt encoding")
    return b64url_encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def int_from_b64url(text: str, what: str = "value") -> int:
    """Inverse of :func:`int_to_b64url`; rejects leading zero bytes (non-canonical)."""
    data = b64url_decode(text, what)
    if not data:
        raise SerializationError(f"{what} is empty; a Base64urlUInt has at least one byte")
    if len(data) > 1 and data[0] == 0:
        raise SerializationError(f"{what} has a leading zero byte (non-canonical Base64urlUInt)")
    return int.from_bytes(data, "big")


def blob_from_ints(values: Iterable[int], width: int) -> str:
    """Concatenate ``values`` as ``width``-byte big-endian words and base64url the result."""
    try:
        raw = b"".join(int(v).to_bytes(width, "big") for v in values)
    except OverflowError:
        raise SerializationError(
            f"a value does not fit a {width}-byte word (negative or too large)"
        ) from None
    return b64url_encode(raw)


def ints_from_blob(text: str, width: int, count: int, what: str = "blob") -> list[int]:
    """Split a base64url blob into ``count`` words of ``width`` bytes each."""
    data = b64url_decode(text, what)
    if len(data) % width:
        raise SerializationError(
            f"{what} holds {len(data)} bytes, not a multiple of the word width {width}"
        )
    if len(data) != width * count:
        raise SerializationError(
            f"{what} holds {len(data) // width} words but the document declares {count}"
        )
    view = memoryview(data)
    return [int.from_bytes(view[i : i + width], "big") for i in range(0, len(data), width)]


def _reject_constant(name: str) -> NoReturn:
    raise SerializationError(f"JSON constant {name} is not allowed; numbers must be finite")


def _unique_members(pairs: list[tuple[str, object]]) -> dict[str, object]:
    doc: dict[str, object] = {}
    for key, value in pairs:
        if key in doc:
            raise SerializationError(f"duplicate JSON member {key!r}")
        doc[key] = value
    return doc


def parse_json(text: str | bytes) -> object:
    """Strict :func:`json.loads`: no duplicate members, no NaN/Infinity, errors as ours."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise SerializationError("serialized data must be UTF-8 JSON text") from None
    if not isinstance(text, str):
        raise SerializationError(f"expected JSON text (str or bytes), got {type(text).__name__}")
    try:
        return json.loads(text, object_pairs_hook=_unique_members, parse_constant=_reject_constant)
    except SerializationError:
        raise
    except json.JSONDecodeError as exc:
        raise SerializationError(f"not valid JSON (truncated or garbled?): {exc}") from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise SerializationError(f"not acceptable JSON: {exc}") from None
    except RecursionError:
        raise SerializationError("JSON nested too deeply") from None


def parse_document(text: str | bytes) -> dict[str, object]:
    """Parse an envelope: a JSON object with a string ``heprim`` type and ``version`` 1."""
    doc = parse_json(text)
    if not isinstance(doc, dict):
        raise SerializationError("a heprim document is a JSON object ({...})")
    kind = doc.get("heprim")
    if not isinstance(kind, str):
        raise SerializationError(
            'not a heprim document: the "heprim" member naming its type is missing'
        )
    version = doc.get("version")
    if type(version) is not int:
        raise SerializationError(f'{kind}: the "version" member must be an integer')
    if version != FORMAT_VERSION:
        raise SerializationError(
            f"{kind}: unsupported version {version}; this heprim reads version "
            f"{FORMAT_VERSION} (upgrade heprim to read newer documents)"
        )
    return doc


def render_document(kind: str, fields: Mapping[str, object]) -> str:
    """The canonical JSON text of an envelope (compact, members in the given order)."""
    doc: dict[str, object] = {"heprim": kind, "version": FORMAT_VERSION}
    doc.update(fields)
    return json.dumps(doc, separators=(",", ":"), allow_nan=False)


class Reader:
    """Typed, exhaustive access to the members of one parsed document.

    Each accessor checks the JSON type and raises :class:`SerializationError` naming the member;
    :meth:`finish` then rejects members nobody asked for, so typos and tampering show up.
    """

    __slots__ = ("_doc", "_kind", "_seen")

    def __init__(self, doc: Mapping[str, object], kind: str) -> None:
        self._doc = doc
        self._kind = kind
        self._seen: set[str] = {"heprim", "version"}

    def fail(self, message: str) -> NoReturn:
        """Raise a :class:`SerializationError` prefixed with the document type."""
        raise SerializationError(f"{self._kind}: {message}")

    def _get(self, name: str) -> object:
        self._seen.add(name)
        if name not in self._doc:
            self.fail(f'missing member "{name}"')
        return self._doc[name]

    def has(self, name: str) -> bool:
        """Whether the optional member ``name`` is present (and not null)."""
        return self._doc.get(name) is not None

    def integer(self, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
        """A JSON integer (booleans and floats refused) within the given bounds."""
        value = self._get(name)
        if type(value) is not int:
            self.fail(f'"{name}" must be a JSON integer, got {type(value).__name__}')
        if minimum is not None and value < minimum:
            self.fail(f'"{name}" must be at least {minimum}, got {value}')
        if maximum is not None and value > maximum:
            self.fail(f'"{name}" must be at most {maximum}, got {value}')
        return value

    def bigint(self, name: str) -> int:
        """A non-negative integer in ``Base64urlUInt`` form."""
        value = self._get(name)
        if not isinstance(value, str):
            self.fail(f'"{name}" must be a Base64urlUInt string, got {type(value).__name__}')
        return int_from_b64url(value, f'{self._kind}: "{name}"')

    def string(self, name: str) -> str:
        """A JSON string."""
        value = self._get(name)
        if not isinstance(value, str):
            self.fail(f'"{name}" must be a string, got {type(value).__name__}')
        return value

    def boolean(self, name: str) -> bool:
        """A JSON ``true``/``false``."""
        value = self._get(name)
        if not isinstance(value, bool):
            self.fail(f'"{name}" must be true or false, got {type(value).__name__}')
        return value

    def optional_float(self, name: str) -> float | None:
        """A finite JSON number or ``null`` (an absent member counts as ``null``)."""
        self._seen.add(name)
        value = self._doc.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f'"{name}" must be a number or null, got {type(value).__name__}')
        result = float(value)
        if not math.isfinite(result):  # pragma: no cover - parse_json refuses NaN/Infinity
            self.fail(f'"{name}" must be finite')
        return result

    def int_list(self, name: str, *, minimum: int = 0) -> list[int]:
        """A JSON array of integers, each at least ``minimum``."""
        value = self._get(name)
        if not isinstance(value, list):
            self.fail(f'"{name}" must be an array of integers')
        for item in value:
            if type(item) is not int or item < minimum:
                self.fail(f'"{name}" must hold integers >= {minimum}, found {item!r}')
        return list(value)

    def mapping(self, name: str) -> Mapping[str, object]:
        """A nested JSON object."""
        value = self._get(name)
        if not isinstance(value, dict):
            self.fail(f'"{name}" must be a JSON object')
        return value

    def blob(self, name: str, width: int, count: int) -> list[int]:
        """``count`` words of ``width`` bytes from a base64url blob."""
        value = self._get(name)
        if not isinstance(value, str):
            self.fail(f'"{name}" must be a base64url string, got {type(value).__name__}')
        return ints_from_blob(value, width, count, f'{self._kind}: "{name}"')

    def finish(self) -> None:
        """Reject members that the type does not define."""
        extra = sorted(set(self._doc) - self._seen)
        if extra:
            self.fail(f"unknown member(s) {', '.join(map(repr, extra))}; not a version-1 layout")
