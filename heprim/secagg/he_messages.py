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

Multiparty BFV (:mod:`heprim.secagg.he_bfv`), kinds 32-37:

=======  ==============================  ==========  ============================================
round    message                         from        content
=======  ==============================  ==========  ============================================
input    :class:`BFVSetup`               server      as PaillierSetup, plus the upload level
input    :class:`BFVEncryptedInput`      client      its ciphertexts, residues bit-packed
decrypt  :class:`BFVDecryptRequest`      server      the contributors and the aggregate's c_1
decrypt  :class:`BFVDecryptReady`        decryptor   online and willing
decrypt  :class:`BFVShareRequest`        server      the t decryptors whose shares combine
decrypt  :class:`BFVDecryptionShare`     decryptor   its smudged decryption shares
=======  ==============================  ==========  ============================================

Multiparty BFV with client keys (:mod:`heprim.secagg.he_bfv_client_keys`) reuses kinds 32, 33
(one polynomial per ciphertext: ``(count, 1, level, N)``) and 35-37, and asks for decryption with
kind 38:

=======  ===================================  ==========  =======================================
round    message                              from        content
=======  ===================================  ==========  =======================================
decrypt  :class:`BFVClientKeyDecryptRequest`  server      the contributors (no polynomial: the
                                                          decryptors expand the common ``a``)
=======  ===================================  ==========  =======================================

Big integers travel as fixed-width big-endian words: a list is a 2-byte word width, a 4-byte
count, then the words, so a truncated or extended message is always detected.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Final

import numpy as np
import numpy.typing as npt

from heprim.errors import SerializationError
from heprim.math.ntheory import mpz
from heprim.secagg.encoding import ENCODING_BYTES, VectorEncoding
from heprim.secagg.messages import Message, _ids, _Reader, register_kind

__all__ = [
    "FINGERPRINT_BYTES",
    "BFVClientKeyDecryptRequest",
    "BFVDecryptReady",
    "BFVDecryptRequest",
    "BFVDecryptionShare",
    "BFVEncryptedInput",
    "BFVSetup",
    "BFVShareRequest",
    "DecryptRequest",
    "EncryptedInput",
    "HERound",
    "PaillierSetup",
    "PartialDecryption",
    "PolyBlock",
    "pack_integers",
    "pack_residues",
    "unpack_residues",
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


_SetupFields = tuple[
    tuple[int, ...], tuple[tuple[int, int], ...], int, int, VectorEncoding, bytes, int, int
]


def _setup_body(setup: PaillierSetup | BFVSetup, last: int) -> bytes:
    """The body both setups share; ``last`` is the final byte of the head (proofs or level)."""
    if len(setup.key_fingerprint) != FINGERPRINT_BYTES:
        raise SerializationError(f"a key fingerprint is {FINGERPRINT_BYTES} bytes")
    head = struct.pack(">IIQB", setup.threshold, setup.min_contributors, setup.dim, last)
    pairs = struct.pack(">I", len(setup.decryptors)) + b"".join(
        struct.pack(">IH", party, index) for party, index in setup.decryptors
    )
    return (
        head + setup.key_fingerprint + setup.encoding.to_bytes() + _ids(setup.participants) + pairs
    )


def _parse_setup(r: _Reader, *, max_last: int) -> _SetupFields:
    """The fields of a setup in constructor order; a head byte above ``max_last`` is refused."""
    threshold, min_contributors, dim, last = r.unpack(">IIQB")
    if last > max_last:
        raise SerializationError("invalid setup flags")
    fingerprint = bytes(r.take(FINGERPRINT_BYTES))
    encoding = VectorEncoding.from_bytes(bytes(r.take(ENCODING_BYTES)))
    participants = r.ids()
    n = r.count(6)
    block = r.take(6 * n)
    pairs = (struct.unpack(">IH", block[6 * i : 6 * i + 6]) for i in range(n))
    decryptors = tuple((int(p), int(i)) for p, i in pairs)
    return participants, decryptors, threshold, dim, encoding, fingerprint, min_contributors, last


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
        return _setup_body(self, bool(self.proofs))

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> PaillierSetup:
        fields = _parse_setup(r, max_last=1)
        return cls(session, sender, recipient, *fields[:-1], bool(fields[-1]))


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


# ---------------------------------------------------------------------- multiparty BFV, 32-37


def pack_residues(residues: npt.NDArray[np.uint64], bits: int) -> bytes:
    """RNS residues (each below ``2^bits``) as a little-endian bit string of ``bits`` per value.

    BFV residues are below ``2^30``: 30 bits instead of a 32-bit word is 6% off every upload.
    """
    if not 1 <= bits <= 32:
        raise SerializationError(f"residues are packed in 1 to 32 bits, got {bits}")
    flat = np.ascontiguousarray(residues, dtype="<u4").reshape(-1)
    if flat.size and int(flat.max()) >> bits:
        raise SerializationError(f"a residue does not fit in {bits} bits")
    spread = np.unpackbits(flat.view(np.uint8).reshape(-1, 4), axis=1, bitorder="little")
    return np.packbits(spread[:, :bits], bitorder="little").tobytes()


def unpack_residues(data: bytes | memoryview, count: int, bits: int) -> npt.NDArray[np.uint64]:
    """The inverse of :func:`pack_residues`: ``count`` values as ``uint64``."""
    if not 1 <= bits <= 32:
        raise SerializationError(f"residues are packed in 1 to 32 bits, got {bits}")
    if len(data) != (count * bits + 7) // 8:
        raise SerializationError("the packed residues have the wrong length")
    flat = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    spread = flat[: count * bits].reshape(count, bits)
    padded = np.zeros((count, 32), dtype=np.uint8)
    padded[:, :bits] = spread
    return np.packbits(padded, axis=1, bitorder="little").view("<u4").reshape(-1).astype(np.uint64)


@dataclass(frozen=True, slots=True, eq=False)
class PolyBlock:
    """Residues of BFV polynomials, shape ``(count, polys, level, N)``, and the bits per residue.

    On the wire: ``count, polys, level`` (4, 1, 1 bytes), ``log2 N`` and ``bits`` (1 byte each),
    then the residues bit-packed (:func:`pack_residues`).
    """

    residues: npt.NDArray[np.uint64] = field(repr=False)
    bits: int = 30

    @property
    def shape(self) -> tuple[int, ...]:
        """``(count, polys, level, N)``."""
        return tuple(self.residues.shape)

    def to_bytes(self) -> bytes:
        """The wire form (see the class)."""
        count, polys, level, degree = self.residues.shape
        if degree < 1 or degree & (degree - 1) or not 0 < polys < 256 or not 0 < level < 256:
            raise SerializationError("a polynomial block has a power-of-two degree and few limbs")
        head = struct.pack(">IBBBB", count, polys, level, degree.bit_length() - 1, self.bits)
        return head + pack_residues(self.residues, self.bits)

    @classmethod
    def read(cls, r: _Reader) -> PolyBlock:
        """Parse one block."""
        count, polys, level, log_n, bits = r.unpack(">IBBBB")
        if log_n > 17 or not 1 <= bits <= 32:
            raise SerializationError("invalid polynomial block header")
        total = count * polys * level << log_n
        data = r.take((total * bits + 7) // 8)
        values = unpack_residues(data, total, bits)
        return cls(values.reshape(count, polys, level, 1 << log_n), bits)


@register_kind
@dataclass(frozen=True, slots=True)
class BFVSetup(Message):
    """Input round, server to every party: the session of a multiparty-BFV aggregation.

    Attributes:
        participants, decryptors, threshold, dim, encoding, min_contributors: as in
            :class:`PaillierSetup`.
        key_fingerprint: 16 bytes identifying the collective public key; parties compare it to
            the key their deployment gave them.
        upload_level: how many ciphertext primes a client's ciphertexts keep after modulus
            switching (the upload is ``2 * level`` residues per slot).
    """

    KIND: ClassVar[int] = 32
    ROUND: ClassVar[IntEnum | None] = HERound.INPUT
    participants: tuple[int, ...]
    decryptors: tuple[tuple[int, int], ...]
    threshold: int
    dim: int
    encoding: VectorEncoding
    key_fingerprint: bytes
    min_contributors: int
    upload_level: int

    def _body(self) -> bytes:
        return _setup_body(self, self.upload_level)

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> BFVSetup:
        return cls(session, sender, recipient, *_parse_setup(r, max_last=255))


@register_kind
@dataclass(frozen=True, slots=True, eq=False)
class BFVEncryptedInput(Message):
    """Input round, client to server: its ciphertexts ``(count, 2, level, N)``."""

    KIND: ClassVar[int] = 33
    ROUND: ClassVar[IntEnum | None] = HERound.INPUT
    ciphertexts: PolyBlock

    def _body(self) -> bytes:
        return self.ciphertexts.to_bytes()

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> BFVEncryptedInput:
        return cls(session, sender, recipient, PolyBlock.read(r))


@register_kind
@dataclass(frozen=True, slots=True, eq=False)
class BFVDecryptRequest(Message):
    """Decrypt round, server to each decryptor: the contributors and the aggregate's ``c_1``
    polynomials ``(count, 1, level, N)`` (``c_0`` stays with the server: decryptors never need
    it). Each decryptor answers with :class:`BFVDecryptReady`."""

    KIND: ClassVar[int] = 34
    ROUND: ClassVar[IntEnum | None] = HERound.DECRYPT
    contributors: tuple[int, ...]
    masks: PolyBlock

    def _body(self) -> bytes:
        return _ids(self.contributors) + self.masks.to_bytes()

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> BFVDecryptRequest:
        contributors = r.ids()
        return cls(session, sender, recipient, contributors, PolyBlock.read(r))


@register_kind
@dataclass(frozen=True, slots=True)
class BFVDecryptReady(Message):
    """Decrypt round, decryptor to server: it accepts the request and is online."""

    KIND: ClassVar[int] = 35
    ROUND: ClassVar[IntEnum | None] = HERound.DECRYPT

    def _body(self) -> bytes:
        return b""

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> BFVDecryptReady:
        return cls(session, sender, recipient)


@register_kind
@dataclass(frozen=True, slots=True)
class BFVShareRequest(Message):
    """Decrypt round, server to the ``t`` chosen decryptors: the active set ``T`` (party ids)
    whose Lagrange coefficients make their shares additive."""

    KIND: ClassVar[int] = 36
    ROUND: ClassVar[IntEnum | None] = HERound.DECRYPT
    active: tuple[int, ...]

    def _body(self) -> bytes:
        return _ids(self.active)

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> BFVShareRequest:
        return cls(session, sender, recipient, r.ids())


@register_kind
@dataclass(frozen=True, slots=True, eq=False)
class BFVDecryptionShare(Message):
    """Decrypt round, decryptor to server: ``lambda_j tsk_j c_1 + e_smg`` for every aggregate
    ciphertext, shape ``(count, 1, level, N)``."""

    KIND: ClassVar[int] = 37
    ROUND: ClassVar[IntEnum | None] = HERound.DECRYPT
    shares: PolyBlock

    def _body(self) -> bytes:
        return self.shares.to_bytes()

    @classmethod
    def _parse(cls, session: bytes, sender: int, recipient: int, r: _Reader) -> BFVDecryptionShare:
        return cls(session, sender, recipient, PolyBlock.read(r))


@register_kind
@dataclass(frozen=True, slots=True)
class BFVClientKeyDecryptRequest(Message):
    """Decrypt round, server to each decryptor (client-key mode): the contributors whose keys
    sum to the aggregate's key. No polynomial travels: each decryptor expands the common ``a``
    of every chunk from the session id itself. Each decryptor answers with
    :class:`BFVDecryptReady`."""

    KIND: ClassVar[int] = 38
    ROUND: ClassVar[IntEnum | None] = HERound.DECRYPT
    contributors: tuple[int, ...]

    def _body(self) -> bytes:
        return _ids(self.contributors)

    @classmethod
    def _parse(
        cls, session: bytes, sender: int, recipient: int, r: _Reader
    ) -> BFVClientKeyDecryptRequest:
        return cls(session, sender, recipient, r.ids())
