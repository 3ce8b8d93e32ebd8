"""The wire format: every message round-trips, and malformed bytes never parse."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from heprim.errors import SerializationError
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.messages import (
    CIPHERTEXT_BYTES,
    HEADER_BYTES,
    Abort,
    AdvertiseKeys,
    ConsistencyCheck,
    ConsistencySignature,
    EncryptedShares,
    KeyBook,
    MaskedInput,
    Message,
    PeerKeys,
    SecretKind,
    Setup,
    SharesDelivery,
    UnmaskRequest,
    UnmaskShares,
    decode,
    encode,
)

S = bytes(range(16))
CT = bytes(CIPHERTEXT_BYTES)

EXAMPLES: list[Message] = [
    Setup(S, 0, 7, (3, 7, 9), 2, 2, 100, 32, False, VectorEncoding.floats(-1, 1, 16)),
    Setup(S, 0, 7, (7,), 0, 0, 1, 64, True, VectorEncoding.integers(0, 9, max_weight=5)),
    AdvertiseKeys(S, 7, 0, b"a" * 32, b"b" * 32),
    AdvertiseKeys(S, 7, 0, b"a" * 32, b"b" * 32, b"s" * 64),
    KeyBook(S, 0, 7, (PeerKeys(3, b"a" * 32, b"b" * 32), PeerKeys(9, b"c" * 32, b"d" * 32))),
    KeyBook(S, 0, 7, (PeerKeys(3, b"a" * 32, b"b" * 32, b"s" * 64),)),
    KeyBook(S, 0, 7, ()),
    EncryptedShares(S, 7, 0, ((3, CT), (9, CT))),
    SharesDelivery(S, 0, 7, ((3, CT),)),
    ConsistencyCheck(S, 0, 7, (3, 7, 9)),
    ConsistencySignature(S, 7, 0, b"s" * 64),
    UnmaskRequest(S, 0, 7, (3,), (9,)),
    UnmaskRequest(S, 0, 7, (3,), (), ((3, b"s" * 64), (7, b"t" * 64))),
    UnmaskShares(S, 7, 0, ((3, SecretKind.SELF_MASK, 5), (9, SecretKind.MASK_KEY, 2**256))),
    Abort(S, 0, 7, "too few clients: ünïcode"),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_roundtrip_and_size(message: Message) -> None:
    data = encode(message)
    assert len(data) == message.nbytes
    assert decode(data) == message
    assert decode(bytearray(data)) == message


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
def test_masked_vector_roundtrip(dtype: type) -> None:
    vec = (np.arange(1000, dtype=np.uint64) * 0x9E3779B97F4A7C15).astype(dtype)
    m = MaskedInput(S, 7, 0, vec)
    data = encode(m)
    assert len(data) == m.nbytes == HEADER_BYTES + 9 + vec.nbytes
    back = decode(data)
    assert isinstance(back, MaskedInput)
    assert back.vector.dtype.itemsize == vec.dtype.itemsize
    assert np.array_equal(back.vector, vec)


@pytest.mark.parametrize(
    "message",
    [*EXAMPLES, MaskedInput(S, 7, 0, np.arange(5, dtype=np.uint32))],
    ids=lambda m: type(m).__name__,
)
def test_every_truncation_and_extension_is_rejected(message: Message) -> None:
    data = encode(message)
    for cut in range(len(data)):
        with pytest.raises(SerializationError):
            decode(data[:cut])
    with pytest.raises(SerializationError, match="trailing"):
        decode(data + b"\x00")


def test_header_errors() -> None:
    data = encode(EXAMPLES[2])
    with pytest.raises(SerializationError, match="magic"):
        decode(b"XXX" + data[3:])
    with pytest.raises(SerializationError, match="version 2"):
        decode(data[:3] + b"\x02" + data[4:])
    with pytest.raises(SerializationError, match="kind 99"):
        decode(data[:4] + b"\x63" + data[5:])


def test_body_errors() -> None:
    adv = bytearray(encode(EXAMPLES[3]))
    adv[HEADER_BYTES + 64] = 10  # signature length 10
    with pytest.raises(SerializationError, match="0 or 64"):
        decode(bytes(adv))
    setup = bytearray(encode(EXAMPLES[0]))
    setup[HEADER_BYTES + 16] = 24  # width 24 bits
    with pytest.raises(SerializationError, match="flags"):
        decode(bytes(setup))
    shares = bytearray(encode(EXAMPLES[13]))
    shares[HEADER_BYTES + 8] = 2  # unknown secret kind
    with pytest.raises(SerializationError, match="secret kind"):
        decode(bytes(shares))
    too_big = encode(EXAMPLES[13])[: HEADER_BYTES + 4 + 5] + (2**264 - 1).to_bytes(33, "big")
    with pytest.raises(SerializationError, match="field element"):
        decode(too_big + encode(EXAMPLES[13])[HEADER_BYTES + 4 + 5 + 33 :])
    vec = bytearray(encode(MaskedInput(S, 7, 0, np.zeros(2, dtype=np.uint8))))
    vec[HEADER_BYTES] = 12
    with pytest.raises(SerializationError, match="width"):
        decode(bytes(vec))
    bad_abort = encode(Abort(S, 0, 7, "x"))[:-1] + b"\xff"
    with pytest.raises(SerializationError, match="UTF-8"):
        decode(bad_abort)
    huge_list = encode(KeyBook(S, 0, 7, ()))[:HEADER_BYTES] + struct.pack(">IB", 2**31, 0)
    with pytest.raises(SerializationError, match="truncated"):
        decode(huge_list)


def test_encode_errors() -> None:
    with pytest.raises(SerializationError, match="session"):
        encode(Abort(b"short", 0, 1, "x"))
    with pytest.raises(SerializationError, match="32 bits"):
        encode(Abort(S, 0, 2**32, "x"))
    with pytest.raises(SerializationError, match="ciphertext"):
        encode(EncryptedShares(S, 7, 0, ((3, b"short"),)))
    with pytest.raises(SerializationError, match="one length"):
        encode(
            KeyBook(
                S,
                0,
                7,
                (PeerKeys(3, b"a" * 32, b"b" * 32), PeerKeys(4, b"a" * 32, b"b" * 32, b"s" * 64)),
            )
        )
    with pytest.raises(SerializationError, match="flat unsigned"):
        encode(MaskedInput(S, 7, 0, np.zeros(3, dtype=np.int32)))
    with pytest.raises(SerializationError, match="64 bytes"):
        encode(ConsistencySignature(S, 7, 0, b"short"))
    with pytest.raises(SerializationError, match="64 bytes"):
        encode(UnmaskRequest(S, 0, 7, (), (), ((1, b"short"),)))
    with pytest.raises(SerializationError, match="field element"):
        encode(UnmaskShares(S, 7, 0, ((3, SecretKind.SELF_MASK, -1),)))
