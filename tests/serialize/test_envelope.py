"""The envelope's strict codecs: canonical base64url, fixed-width blobs, strict JSON, Reader.

Oracle for the integer encoding: Python's ``base64`` module and ``int.to_bytes`` directly, and
RFC 7518 sec. 2's example of a zero-valued Base64urlUInt ("AA").
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import SerializationError
from heprim.serialize.envelope import (
    FORMAT_VERSION,
    Reader,
    b64url_decode,
    b64url_encode,
    blob_from_ints,
    int_from_b64url,
    int_to_b64url,
    ints_from_blob,
    parse_document,
    parse_json,
    render_document,
)


@given(st.integers(min_value=0, max_value=2**4200))
def test_base64urluint_round_trip_and_oracle(value: int) -> None:
    text = int_to_b64url(value)
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    assert text == base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert int_from_b64url(text) == value


def test_rfc7518_zero_and_known_values() -> None:
    assert int_to_b64url(0) == "AA"  # RFC 7518, sec. 2
    assert int_to_b64url(65537) == "AQAB"  # the RSA exponent of RFC 7517's examples
    assert int_from_b64url("AQAB") == 65537


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("AQAB=", "unpadded"),
        ("AQ+B", "unpadded"),
        ("AQ/B", "unpadded"),
        ("AQ B", "unpadded"),
        ("AQABA", "impossible"),
        ("AB", "canonical"),  # the low 4 bits of "B" must be zero for one byte
        ("", "empty"),
        ("AAE", "leading zero"),
    ],
)
def test_non_canonical_integers_are_refused(text: str, match: str) -> None:
    with pytest.raises(SerializationError, match=match):
        int_from_b64url(text)


def test_negative_and_non_string() -> None:
    with pytest.raises(SerializationError):
        int_to_b64url(-1)
    with pytest.raises(SerializationError):
        b64url_decode(5)  # type: ignore[arg-type]
    assert b64url_encode(b"") == "" and b64url_decode("") == b""


@given(st.lists(st.integers(0, 2**64 - 1), max_size=20))
def test_blob_round_trip(values: list[int]) -> None:
    text = blob_from_ints(values, 8)
    assert ints_from_blob(text, 8, len(values)) == values
    assert len(b64url_decode(text)) == 8 * len(values)


def test_blob_errors() -> None:
    text = blob_from_ints([1, 2, 3], 4)
    with pytest.raises(SerializationError, match="multiple of the word width"):
        ints_from_blob(text, 5, 2)
    with pytest.raises(SerializationError, match="declares 4"):
        ints_from_blob(text, 4, 4)
    with pytest.raises(SerializationError, match="does not fit"):
        blob_from_ints([2**32], 4)
    with pytest.raises(SerializationError, match="does not fit"):
        blob_from_ints([-1], 4)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"a": 1, "a": 2}', "duplicate"),
        ('{"a": NaN}', "NaN"),
        ('{"a": Infinity}', "Infinity"),
        ('{"a": ', "truncated"),
        ("[1, 2", "truncated"),
        ('{"a": ' + "1" * 5000 + "}", "JSON"),
        ("[" * 100_000 + "]" * 100_000, "JSON"),
    ],
)
def test_strict_json(text: str, match: str) -> None:
    with pytest.raises(SerializationError, match=match):
        parse_json(text)


def test_json_input_types() -> None:
    assert parse_json(b'{"a": 1}') == {"a": 1}
    with pytest.raises(SerializationError, match="UTF-8"):
        parse_json(b"\xff\xfe")
    with pytest.raises(SerializationError, match="JSON text"):
        parse_json(42)  # type: ignore[arg-type]


def test_document_header() -> None:
    text = render_document("t.Thing", {"x": 1})
    assert text == '{"heprim":"t.Thing","version":1,"x":1}'
    assert parse_document(text)["x"] == 1
    for bad, match in [
        ("[]", "JSON object"),
        ('{"version": 1}', "heprim"),
        ('{"heprim": 5, "version": 1}', "heprim"),
        ('{"heprim": "t", "version": "1"}', "integer"),
        ('{"heprim": "t", "version": true}', "integer"),
        ('{"heprim": "t", "version": 2}', "unsupported version 2"),
        ('{"heprim": "t"}', "version"),
    ]:
        with pytest.raises(SerializationError, match=match):
            parse_document(bad)
    assert FORMAT_VERSION == 1


def test_reader_checks_types_and_leftovers() -> None:
    doc = {
        "heprim": "t",
        "version": 1,
        "i": 5,
        "b": True,
        "s": "x",
        "big": "AQAB",
        "f": 1.5,
        "l": [1, 2],
        "m": {},
        "blob": blob_from_ints([7], 2),
        "null": None,
    }
    r = Reader(doc, "t")
    assert r.integer("i", minimum=0, maximum=5) == 5
    assert r.boolean("b") is True
    assert r.string("s") == "x"
    assert r.bigint("big") == 65537
    assert r.optional_float("f") == 1.5
    assert r.optional_float("null") is None
    assert r.optional_float("absent") is None
    assert r.int_list("l", minimum=1) == [1, 2]
    assert r.mapping("m") == {}
    assert r.blob("blob", 2, 1) == [7]
    assert r.has("i") and not r.has("null") and not r.has("nothing")
    r.finish()

    def fails(call: object, match: str) -> None:
        with pytest.raises(SerializationError, match=match):
            call()  # type: ignore[operator]

    r = Reader(doc, "t")
    fails(lambda: r.integer("b"), "integer")
    fails(lambda: r.integer("f"), "integer")
    fails(lambda: r.integer("i", minimum=6), "at least 6")
    fails(lambda: r.integer("i", maximum=4), "at most 4")
    fails(lambda: r.integer("missing"), 'missing member "missing"')
    fails(lambda: r.boolean("i"), "true or false")
    fails(lambda: r.string("i"), "string")
    fails(lambda: r.bigint("i"), "Base64urlUInt")
    fails(lambda: r.optional_float("s"), "number or null")
    fails(lambda: r.optional_float("b"), "number or null")
    fails(lambda: r.int_list("s"), "array")
    fails(lambda: r.int_list("l", minimum=2), ">= 2")
    fails(lambda: r.mapping("l"), "object")
    fails(lambda: r.blob("i", 2, 1), "base64url")
    fails(r.finish, "unknown member")
