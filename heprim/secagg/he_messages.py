"""The messages of the HE aggregation protocols, in the wire format of SecAgg's messages.

Same header (``b"HSA" | version | kind | session | sender | recipient``), same conventions
(big-endian integers, counted lists of fixed-size items, nothing variable-size left unframed) and
one :func:`~heprim.secagg.messages.decode` for every protocol: the classes here register their
kinds with :func:`~heprim.secagg.messages.register_kind`. SecAgg numbers its rounds with
:class:`~heprim.secagg.messages.Round`; the HE protocols with :class:`HERound`, so that one cost
table (:func:`~heprim.secagg.cost.format_cost_table`) lists either.

Packed threshold Paillier (:mod:`heprim.secagg.he_paillier`), kinds 16-19:

=======  ==============================  ==========  ============================================
round    message                         from        content
=======  ==============================  ==========  ============================================
input    :class:`PaillierSetup`          server      participants, decryptors and their share
                                                     indices, t, dimension, encoding, key
                                                     fingerprint, minimum number of contributors
input    :class:`EncryptedInput`         client      the packed ciphertexts of its vector
decrypt  :class:`DecryptRequest`         server      the contributors and the aggregate
decrypt  :class:`PartialDecryption`      decryptor   its decryption shares and their proof
=======  ==============================  ==========  ============================================

Big integers travel as fixed-width big-endian words: a list is a 2-byte word width, a 4-byte
count, then the words, so a truncated or extended message is always detected.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Final

from heprim.errors import SerializationError
from heprim.math.ntheory import mpz
from heprim.secagg.encoding import ENCODING_BYTES, VectorEncoding
from heprim.secagg.messages import Message, _ids, _Reader, register_kind

__all__ = [
    "FINGERPRINT_BYTES",
    "DecryptRequest",
    "EncryptedInput",
    "HERound",
    "PaillierSetup",
    "PartialDecryption",
    "pack_integers",
]

FINGERPRINT_BYTES: Final = 16
_CHALLENGE_BYTES: Final = 32


class HERound(IntEnum):
    """The rounds of the HE aggregation protocols.

    ``KEYGEN``: collective key generation (multiparty BFV; Paillier's dealer works offline);
    ``INPUT``: setup and encrypted inputs; ``DECRYPT``: the aggregate goes to the decryptors
    and their shares come back.
    """

    KEYGEN = 0
    INPUT = 1
    DECRYPT = 2


def pack_integers(values: tuple[int, ...], width: int) -> bytes:
    """A counted list of non-negative integers as ``width``-byte big-endian words."""
    if not 0 < width < 2**16:
        raise SerializationError(f"a word width is 1 to 65535 bytes, got {width}")
    try:
        words = b"".join(int(v).to_bytes(width, "big") for v in values)
    except OverflowError:
        raise SerializationError(
            f"an integer does not fit in {width} bytes (or is negative)"
        ) from None
    return struct.pack(">HI", width, len(values)) + words


def _parse_integers(r: _Reader) -> tuple[tuple[int, ...], int]:
    (width,) = r.unpack(">H")
    if width == 0:
        raise SerializationError("a word width is at least one byte")
    count = r.count(width)
    block = r.take(count * width)
    values = tuple(
        mpz(int.from_bytes(block[i * width : (i + 1) * width], "big")) for i in range(count)
    )
    return values, width


def _width_of(values: tuple[int, ...]) -> int:
    return max(1, max(((int(v).bit_length() + 7) // 8 for v in values), default=1))


@register_kind
@dataclass(frozen=True, slots=True)
class PaillierSetup(Message):
    """Input round, server to every party: the session of a packed threshold-Paillier aggregation.

    Attributes:
        participants: the clients whose vectors are summed.
        decryptors: ``(party id, share index)`` of every key holder.
        threshold: ``t``, the number of decryption shares that decrypt.
        dim: the length of each client's vector.
        encoding: how vectors become integers (the packing layout follows from it, the key and
            the number of participants, so the server cannot choose a layout without headroom).
        key_fingerprint: the first 16 bytes of the threshold key's fingerprint; parties check it
            against the key they received from the dealer.
        min_contributors: decryptors refuse to decrypt a sum of fewer inputs.
        proofs: whether decryption shares must carry proofs of correctness.
    """

    KIND: ClassVar[int] = 16
    ROUND: ClassVar[IntEnum | None] = HERound.INPUT
    participants: tuple[int, ...]
    decryptors: tuple[tuple[int, int], ...]
    threshold: int
    dim: int
    encoding: VectorEncoding
    key_fingerprint: bytes
    min_contributors: int
    proofs: bool

    def _body(self) -> bytes:
        if len(self.key_fingerprint) != FINGERPRINT_BYTES:
            raise SerializationError(f"a key fingerprint is {FINGERPRINT_BYTES} bytes")
        head = struct.pack(
            ">IIQB", self.threshold, self.min_contributors, self.dim, bool(self.proofs)
        )
        pairs = struct.pack(">I", len(self.decryptors)) + b"".join(
            struct.pack(">IH", party, index) for party, index in self.decryptors
        )
        return (
            head + self.key_fingerprint + self.encoding.to_bytes() + _ids(self.participants) + pairs
        )

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> PaillierSetup:
        threshold, min_contributors, dim, proofs = r.unpack(">IIQB")
        if proofs not in (0, 1):
            raise SerializationError("invalid setup flags")
        fingerprint = bytes(r.take(FINGERPRINT_BYTES))
        encoding = VectorEncoding.from_bytes(bytes(r.take(ENCODING_BYTES)))
        participants = r.ids()
        n = r.count(6)
        block = r.take(6 * n)
        decryptors = tuple(struct.unpack(">IH", block[6 * i : 6 * i + 6]) for i in range(n))
        return cls(
            session,
            sender,
            recipient,
            participants,
            tuple((int(p), int(i)) for p, i in decryptors),
            threshold,
            dim,
            encoding,
            fingerprint,
            min_contributors,
            bool(proofs),
        )


@register_kind
@dataclass(frozen=True, slots=True)
class EncryptedInput(Message):
    """Input round, client to server: the Paillier ciphertexts of its packed vector."""

    KIND: ClassVar[int] = 17
    ROUND: ClassVar[IntEnum | None] = HERound.INPUT
    ciphertexts: tuple[int, ...] = field(repr=False)
    width: int = 0  # bytes per ciphertext on the wire; 0: the smallest that fits

    def _body(self) -> bytes:
        return pack_integers(self.ciphertexts, self.width or _width_of(self.ciphertexts))

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> EncryptedInput:
        values, width = _parse_integers(r)
        return cls(session, sender, recipient, values, width)


@register_kind
@dataclass(frozen=True, slots=True)
class DecryptRequest(Message):
    """Decrypt round, server to each decryptor: who contributed, and the aggregate ciphertexts."""

    KIND: ClassVar[int] = 18
    ROUND: ClassVar[IntEnum | None] = HERound.DECRYPT
    contributors: tuple[int, ...]
    ciphertexts: tuple[int, ...] = field(repr=False)
    width: int = 0

    def _body(self) -> bytes:
        width = self.width or _width_of(self.ciphertexts)
        return _ids(self.contributors) + pack_integers(self.ciphertexts, width)

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> DecryptRequest:
        contributors = r.ids()
        values, width = _parse_integers(r)
        return cls(session, sender, recipient, contributors, values, width)


@register_kind
@dataclass(frozen=True, slots=True)
class PartialDecryption(Message):
    """Decrypt round, decryptor to server: ``c_j**(2 Delta s_i)`` for every ciphertext, and the
    batched proof ``(challenge, response)`` when the session asks for proofs (else both 0)."""

    KIND: ClassVar[int] = 19
    ROUND: ClassVar[IntEnum | None] = HERound.DECRYPT
    shares: tuple[int, ...] = field(repr=False)
    challenge: int = 0
    response: int = field(default=0, repr=False)
    width: int = 0

    @property
    def has_proof(self) -> bool:
        """Whether a proof is attached."""
        return self.response != 0

    def _body(self) -> bytes:
        width = self.width or _width_of(self.shares)
        if not 0 <= self.challenge < 1 << (8 * _CHALLENGE_BYTES) or self.response < 0:
            raise SerializationError("a proof is a 256-bit challenge and a non-negative response")
        response = int(self.response)
        raw = response.to_bytes((response.bit_length() + 7) // 8, "big") if response else b""
        return (
            pack_integers(self.shares, width)
            + int(self.challenge).to_bytes(_CHALLENGE_BYTES, "big")
            + struct.pack(">I", len(raw))
            + raw
        )

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> PartialDecryption:
        values, width = _parse_integers(r)
        challenge = int.from_bytes(r.take(_CHALLENGE_BYTES), "big")
        length = r.count(1)
        response = int.from_bytes(r.take(length), "big")
        return cls(session, sender, recipient, values, mpz(challenge), mpz(response), width)
