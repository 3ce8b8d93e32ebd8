"""The public-key and symmetric primitives of secure aggregation, over pyca/cryptography.

Bonawitz et al. (CCS 2017, section 3 and figure 4) need four primitives; heprim instantiates them
with modern, fast, misuse-resistant choices from the ``cryptography`` package:

=====================  ====================================================================
Key agreement          X25519 (RFC 7748), about 40 us per agreement here (P-384 with PEM
                       parsing, as in Flower, costs about 1.4 ms)
Key derivation         HKDF-SHA256 (RFC 5869), salted with the session id and bound to the
                       purpose and to the ordered pair of client ids
Authenticated channel  ChaCha20-Poly1305 (RFC 8439) with the round, the sender and the
                       recipient in the associated data, so a ciphertext cannot be replayed
                       to another client, in another round or in another session
Signatures             Ed25519 (RFC 8032), for the active-adversary profile only
=====================  ====================================================================

X25519 rejects low-order public keys (the shared secret would be all zero); such a key can
only come from a cheating party, so it raises :class:`~heprim.errors.ProtocolError`.
"""

from __future__ import annotations

import struct
from typing import Final

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from heprim.errors import ParameterError, ProtocolError
from heprim.math.prng import PRNG, default_rng

__all__ = [
    "KEY_BYTES",
    "SIGNATURE_BYTES",
    "TAG_BYTES",
    "AgreementKeyPair",
    "SigningKey",
    "channel_key",
    "mask_seed",
    "open_share",
    "seal_share",
    "verify_signature",
]

KEY_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64
TAG_BYTES: Final = 16

_CHANNEL_LABEL: Final = b"heprim.secagg.v1.channel"
_MASK_LABEL: Final = b"heprim.secagg.v1.pairwise-mask"


class AgreementKeyPair:
    """An X25519 key pair whose private scalar can be Shamir-shared as 32 raw bytes.

    Args:
        private: the 32-byte private key; drawn from ``rng`` when omitted.
        rng: the randomness source (:func:`heprim.math.prng.default_rng`).
    """

    __slots__ = ("_private", "private_bytes", "public_bytes")

    def __init__(self, private: bytes | None = None, *, rng: PRNG | None = None) -> None:
        if private is None:
            private = default_rng(rng).random_bytes(KEY_BYTES)
        if len(private) != KEY_BYTES:
            raise ParameterError(f"an X25519 private key is {KEY_BYTES} bytes, got {len(private)}")
        self.private_bytes: bytes = bytes(private)
        self._private = X25519PrivateKey.from_private_bytes(self.private_bytes)
        self.public_bytes: bytes = self._private.public_key().public_bytes_raw()

    def agree(self, peer_public: bytes) -> bytes:
        """The raw X25519 shared secret with ``peer_public`` (32 bytes).

        Raises:
            ProtocolError: the peer's key is malformed or of low order.
        """
        try:
            return self._private.exchange(X25519PublicKey.from_public_bytes(peer_public))
        except ValueError as exc:
            raise ProtocolError(
                "a peer's X25519 public key is malformed or of low order; the peer (or whoever "
                "relayed its key) is cheating, so drop it from the session"
            ) from exc

    def __repr__(self) -> str:
        return f"AgreementKeyPair(public={self.public_bytes.hex()[:16]}..., private=<hidden>)"


def _pair_info(label: bytes, u: int, v: int) -> bytes:
    # The ordered pair makes both ends derive the same key; the label separates purposes.
    low, high = (u, v) if u < v else (v, u)
    return label + struct.pack(">II", low, high)


def _hkdf(secret: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info).derive(secret)


def channel_key(shared: bytes, session: bytes, u: int, v: int) -> bytes:
    """The ChaCha20-Poly1305 key of the channel between clients ``u`` and ``v`` (symmetric)."""
    return _hkdf(shared, session, _pair_info(_CHANNEL_LABEL, u, v))


def mask_seed(shared: bytes, session: bytes, u: int, v: int) -> bytes:
    """The 256-bit seed s_{u,v} of the pairwise mask between ``u`` and ``v`` (symmetric).

    Bonawitz et al. figure 4, round 2: s_{u,v} = KA.agree(c_u^SK, c_v^PK). The full 256-bit
    output of HKDF seeds the PRG; nothing is folded to 32 bits.
    """
    return _hkdf(shared, session, _pair_info(_MASK_LABEL, u, v))


def _nonce_and_ad(session: bytes, round_: int, sender: int, recipient: int) -> tuple[bytes, bytes]:
    # Each (sender, recipient, round) sends exactly one ciphertext per session key, so this
    # deterministic nonce is never reused under one key.
    nonce = struct.pack(">III", round_, sender, recipient)
    return nonce, b"heprim.secagg.v1" + session + nonce


def seal_share(
    key: bytes, plaintext: bytes, *, session: bytes, round_: int, sender: int, recipient: int
) -> bytes:
    """Encrypt ``plaintext`` from ``sender`` to ``recipient`` (ciphertext || 16-byte tag)."""
    nonce, ad = _nonce_and_ad(session, round_, sender, recipient)
    return ChaCha20Poly1305(key).encrypt(nonce, plaintext, ad)


def open_share(
    key: bytes, ciphertext: bytes, *, session: bytes, round_: int, sender: int, recipient: int
) -> bytes:
    """Decrypt and authenticate a ciphertext made by :func:`seal_share`.

    Raises:
        ProtocolError: the ciphertext was tampered with, truncated, or made for another
            session, round, sender or recipient.
    """
    nonce, ad = _nonce_and_ad(session, round_, sender, recipient)
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ciphertext, ad)
    except InvalidTag:
        raise ProtocolError(
            f"the encrypted shares from client {sender} to client {recipient} fail "
            "authentication: tampered, truncated, replayed from another session or misrouted"
        ) from None


class SigningKey:
    """An Ed25519 signing key (the long-term identity of a client in the active profile).

    Args:
        private: the 32-byte private seed; drawn from ``rng`` when omitted.
        rng: the randomness source.
    """

    __slots__ = ("_key", "public_bytes")

    def __init__(self, private: bytes | None = None, *, rng: PRNG | None = None) -> None:
        if private is None:
            private = default_rng(rng).random_bytes(KEY_BYTES)
        if len(private) != KEY_BYTES:
            raise ParameterError(f"an Ed25519 private key is {KEY_BYTES} bytes, got {len(private)}")
        self._key = Ed25519PrivateKey.from_private_bytes(bytes(private))
        self.public_bytes: bytes = self._key.public_key().public_bytes_raw()

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public_bytes.hex()[:16]}..., private=<hidden>)"


def verify_signature(public: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` under ``public``."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
