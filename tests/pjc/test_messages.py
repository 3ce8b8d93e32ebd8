"""The wire format: round trips, sizes, and refusal of every malformed byte string."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import SerializationError
from heprim.pjc.messages import (
    HEADER_BYTES,
    MAGIC,
    VERSION,
    Abort,
    Hello,
    Layout,
    MaskedSum,
    Reply,
    Revealed,
    ValueLayout,
    decode,
    encode,
)

S = bytes(range(16))
E = b"\x09" * 32  # any 32 bytes: the codec does not validate points (the parties do)
N = (1 << 1023) + 12345
PACKED = ValueLayout(Layout.PACKED, 3, (2, 0, 1), 40, 7)
INTEGER = ValueLayout(Layout.INTEGER, 1, (2,))

MESSAGES = [
    Hello(S, 1, True, (E, b"\x0a" * 32)),
    Hello(S, 2, False, ()),
    Reply(S, 1, INTEGER, N, 1, (E,), (E, b"\x0b" * 32), (5, N * N - 1)),
    Reply(S, 1, PACKED, N, 2, (), (E,), (1, 2)),
    Reply(S, 1, ValueLayout(), 0, 0, (E, b"\x0c" * 32), (E,), ()),
    MaskedSum(S, 3, 256, (N * N - 1,)),
    MaskedSum(S, 0, 0, ()),
    Revealed(S, 128, (N - 1, 0)),
    Abort(S, "refused: café"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip_and_size(message) -> None:
    data = encode(message)
    assert decode(data) == message
    assert message.nbytes == len(data)
    assert data[:3] == MAGIC and data[3] == VERSION


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_truncated_or_extended_messages_are_refused(message) -> None:
    data = encode(message)
    for cut in {0, 1, HEADER_BYTES - 1, HEADER_BYTES, len(data) - 1}:
        if cut < len(data):
            with pytest.raises(SerializationError):
                decode(data[:cut])
    with pytest.raises(SerializationError, match="trailing"):
        decode(data + b"\x00")


@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_decoder(data: bytes) -> None:
    with contextlib.suppress(SerializationError):
        decode(MAGIC + bytes([VERSION]) + data)


def test_header_errors() -> None:
    data = encode(MESSAGES[0])
    with pytest.raises(SerializationError, match="magic"):
        decode(b"XXX" + data[3:])
    with pytest.raises(SerializationError, match="version 9"):
        decode(data[:3] + b"\x09" + data[4:])
    with pytest.raises(SerializationError, match="kind 77"):
        decode(data[:4] + b"\x4d" + data[5:])


def test_body_errors() -> None:
    hello = bytearray(encode(MESSAGES[0]))
    hello[HEADER_BYTES] = 7  # unknown group
    with pytest.raises(SerializationError, match="group code 7"):
        decode(bytes(hello))
    hello = bytearray(encode(MESSAGES[0]))
    hello[HEADER_BYTES + 1] = 2  # want-sum flag
    with pytest.raises(SerializationError, match="flag"):
        decode(bytes(hello))
    reply = bytearray(encode(MESSAGES[2]))
    reply[HEADER_BYTES + 1] = 9  # layout kind
    with pytest.raises(SerializationError, match="layout 9"):
        decode(bytes(reply))
    abort = encode(Abort(S, "x"))[:-1] + b"\xff"
    with pytest.raises(SerializationError, match="UTF-8"):
        decode(abort)
    zero_width = encode(MaskedSum(S, 1, 0, ()))[:-2] + struct.pack(">H", 1)
    with pytest.raises(SerializationError, match="zero width"):
        decode(zero_width)
    zero_width = encode(Revealed(S, 0, ()))[:-2] + struct.pack(">H", 1)
    with pytest.raises(SerializationError, match="zero width"):
        decode(zero_width)


def test_reply_consistency_is_checked() -> None:
    # A modulus with a leading zero byte, a layout with a modulus but no ciphertexts per row.
    good = encode(MESSAGES[2])
    offset = HEADER_BYTES + 1 + 8 + 1  # group, layout head, one decimals byte
    n_len = struct.unpack(">H", good[offset : offset + 2])[0]
    padded = good[:offset] + struct.pack(">H", n_len + 1) + b"\x00" + good[offset + 2 :]
    with pytest.raises(SerializationError, match="leading zero"):
        decode(padded)
    with pytest.raises(SerializationError, match="value layout"):
        encode(Reply(S, 1, INTEGER, N, 0, (), (), ())) and decode(
            encode(Reply(S, 1, INTEGER, N, 0, (), (), ()))
        )
    with pytest.raises(SerializationError, match="per_row"):
        encode(Reply(S, 1, INTEGER, N, 1, (), (E,), ()))


@pytest.mark.parametrize(
    "layout",
    [
        ValueLayout(Layout.NONE, 1, (0,)),
        ValueLayout(Layout.INTEGER, 2, (0, 0)),
        ValueLayout(Layout.INTEGER, 1, (19,)),
        ValueLayout(Layout.INTEGER, 1, ()),
        ValueLayout(Layout.PACKED, 2, (0, 0), 0, 5),
        ValueLayout(Layout.PACKED, 2, (0, 0), 65, 5),
        ValueLayout(Layout.PACKED, 2, (0, 0), 32, 0),
    ],
)
def test_inconsistent_layouts_are_refused(layout: ValueLayout) -> None:
    with pytest.raises(SerializationError):
        layout.check()
    with pytest.raises(SerializationError):
        encode(Reply(S, 1, layout, N, 1, (), (), ()))


def test_encoder_refuses_what_cannot_be_sent() -> None:
    with pytest.raises(SerializationError, match="session"):
        encode(Hello(b"short", 1, True, ()))
    with pytest.raises(SerializationError, match="32 bytes"):
        encode(Hello(S, 1, True, (b"\x01",)))
    with pytest.raises(SerializationError, match="32 bytes"):
        encode(Reply(S, 1, ValueLayout(), 0, 0, (), (b"\x01",), ()))
    with pytest.raises(SerializationError, match="fit"):
        encode(MaskedSum(S, 1, 2, (1 << 20,)))
    with pytest.raises(SerializationError, match="32 bits"):
        encode(MaskedSum(S, 1 << 32, 0, ()))
    with pytest.raises(SerializationError, match="not a private-intersection message"):
        encode("hello")  # type: ignore[arg-type]


def test_reprs_do_not_dump_the_payload() -> None:
    assert "2 elements" in repr(MESSAGES[0])
    assert "2 rows x 1 ciphertexts" in repr(MESSAGES[2])
