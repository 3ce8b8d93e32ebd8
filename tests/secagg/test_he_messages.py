"""The HE aggregation messages: round trips, every truncation and extension, the kind registry."""

from __future__ import annotations

import dataclasses

import pytest

from heprim.errors import SerializationError
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.he_messages import (
    DecryptRequest,
    EncryptedInput,
    HERound,
    PaillierSetup,
    PartialDecryption,
    pack_integers,
)
from heprim.secagg.messages import Abort, Message, decode, encode, register_kind

SESSION = bytes(range(16))
BIG = 2**2047 + 12345


def samples() -> list[Message]:
    return [
        PaillierSetup(
            SESSION,
            0,
            5,
            (1, 2, 3, 9),
            ((2, 1), (7, 2), (9, 3)),
            2,
            1000,
            VectorEncoding.floats(-1.0, 1.0, 16, max_weight=64),
            b"\x01" * 16,
            2,
            True,
        ),
        EncryptedInput(SESSION, 3, 0, (BIG, 1, 2**10), 256),
        EncryptedInput(SESSION, 3, 0, ()),
        DecryptRequest(SESSION, 0, 7, (1, 2, 3), (BIG, 5), 256),
        PartialDecryption(SESSION, 7, 0, (BIG, 77), 2**255 + 3, 2**4500 + 1, 256),
        PartialDecryption(SESSION, 7, 0, (BIG,), 0, 0, 256),
    ]


@pytest.mark.parametrize("message", samples(), ids=lambda m: type(m).__name__)
def test_round_trip_and_sizes(message: Message) -> None:
    wire = encode(message)
    back = decode(wire)
    assert type(back) is type(message)
    for name in (f.name for f in dataclasses.fields(message)):
        assert getattr(back, name) == getattr(message, name) or name == "width"
    assert message.nbytes == len(wire)
    assert isinstance(message.ROUND, HERound)


@pytest.mark.parametrize("message", samples(), ids=lambda m: type(m).__name__)
def test_every_truncation_and_extension_is_refused(message: Message) -> None:
    wire = encode(message)
    for cut in range(len(wire)):
        with pytest.raises(SerializationError):
            decode(wire[:cut])
    with pytest.raises(SerializationError, match="trailing"):
        decode(wire + b"\x00")


def test_proof_flag_and_widths() -> None:
    with_proof, without = samples()[4], samples()[5]
    assert with_proof.has_proof and not without.has_proof
    assert decode(encode(samples()[1])).width == 256
    assert EncryptedInput(SESSION, 3, 0, (2**20,)).nbytes == 29 + 6 + 3  # smallest width


def test_invalid_contents_are_refused() -> None:
    setup = samples()[0]
    with pytest.raises(SerializationError, match="fingerprint"):
        encode(dataclasses.replace(setup, key_fingerprint=b"short"))
    wire = bytearray(encode(setup))
    wire[29 + 16] = 2  # the proofs flag
    with pytest.raises(SerializationError, match="flags"):
        decode(bytes(wire))
    with pytest.raises(SerializationError, match="fit"):
        encode(EncryptedInput(SESSION, 3, 0, (2**64,), 8))
    with pytest.raises(SerializationError, match="fit"):
        encode(EncryptedInput(SESSION, 3, 0, (-1,), 8))
    with pytest.raises(SerializationError, match="width"):
        pack_integers((1,), 0)
    with pytest.raises(SerializationError, match="challenge"):
        encode(PartialDecryption(SESSION, 7, 0, (1,), 2**256, 1, 8))
    zero_width = bytearray(encode(EncryptedInput(SESSION, 3, 0, (1,), 1)))
    zero_width[29:31] = b"\x00\x00"
    with pytest.raises(SerializationError, match="width"):
        decode(bytes(zero_width))


def test_register_kind_refuses_clashes() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Clash(Abort):
        KIND = 17

    with pytest.raises(SerializationError, match="already EncryptedInput"):
        register_kind(Clash)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Huge(Abort):
        KIND = 300

    with pytest.raises(SerializationError, match="byte"):
        register_kind(Huge)
    assert register_kind(EncryptedInput) is EncryptedInput  # registering twice is harmless
