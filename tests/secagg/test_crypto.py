"""X25519 / HKDF / ChaCha20-Poly1305 / Ed25519 wrappers: RFC vectors and binding properties."""

from __future__ import annotations

import pytest

from heprim.errors import ParameterError, ProtocolError
from heprim.secagg.crypto import (
    AgreementKeyPair,
    SigningKey,
    channel_key,
    mask_seed,
    open_share,
    seal_share,
    verify_signature,
)

# RFC 7748 section 6.1 (X25519 Diffie-Hellman), see tests/vectors/README.md.
ALICE_SK = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PK = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
BOB_SK = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
BOB_PK = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
SHARED = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
# RFC 8032 section 7.1, TEST 1 (Ed25519, empty message).
ED_SK = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
ED_PK = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
ED_SIG = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
SESSION = bytes(range(16))


def test_x25519_rfc7748_vector() -> None:
    alice, bob = AgreementKeyPair(ALICE_SK), AgreementKeyPair(BOB_SK)
    assert alice.public_bytes == ALICE_PK
    assert bob.public_bytes == BOB_PK
    assert alice.agree(BOB_PK) == SHARED == bob.agree(ALICE_PK)


def test_low_order_point_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="low order"):
        AgreementKeyPair(ALICE_SK).agree(bytes(32))


def test_key_pair_validation_and_repr(rng) -> None:
    with pytest.raises(ParameterError):
        AgreementKeyPair(b"short")
    pair = AgreementKeyPair(rng=rng)
    assert len(pair.private_bytes) == 32
    assert pair.private_bytes.hex() not in repr(pair)


def test_derived_keys_are_symmetric_and_separated() -> None:
    assert channel_key(SHARED, SESSION, 3, 9) == channel_key(SHARED, SESSION, 9, 3)
    assert mask_seed(SHARED, SESSION, 3, 9) == mask_seed(SHARED, SESSION, 9, 3)
    assert channel_key(SHARED, SESSION, 3, 9) != mask_seed(SHARED, SESSION, 3, 9)
    assert mask_seed(SHARED, SESSION, 3, 9) != mask_seed(SHARED, SESSION, 3, 8)
    assert mask_seed(SHARED, SESSION, 3, 9) != mask_seed(SHARED, bytes(16), 3, 9)


def test_seal_open_roundtrip_and_binding() -> None:
    key = channel_key(SHARED, SESSION, 1, 2)
    ct = seal_share(key, b"secret", session=SESSION, round_=1, sender=1, recipient=2)
    assert open_share(key, ct, session=SESSION, round_=1, sender=1, recipient=2) == b"secret"
    for changes in (
        {"session": bytes(16)},
        {"round_": 2},
        {"sender": 2, "recipient": 1},  # reflected back to its sender
        {"recipient": 3},
    ):
        kwargs = {"session": SESSION, "round_": 1, "sender": 1, "recipient": 2, **changes}
        with pytest.raises(ProtocolError, match="fail authentication"):
            open_share(key, ct, **kwargs)  # type: ignore[arg-type]
    tampered = bytes([ct[0] ^ 1]) + ct[1:]
    with pytest.raises(ProtocolError):
        open_share(key, tampered, session=SESSION, round_=1, sender=1, recipient=2)
    with pytest.raises(ProtocolError):
        open_share(key, ct[:-1], session=SESSION, round_=1, sender=1, recipient=2)


def test_ed25519_rfc8032_vector() -> None:
    key = SigningKey(ED_SK)
    assert key.public_bytes == ED_PK
    assert key.sign(b"") == ED_SIG
    assert verify_signature(ED_PK, ED_SIG, b"")
    assert not verify_signature(ED_PK, ED_SIG, b"x")
    assert not verify_signature(ED_PK, bytes(64), b"")
    assert not verify_signature(b"bad", ED_SIG, b"")
    assert ED_SK.hex() not in repr(key)
    with pytest.raises(ParameterError):
        SigningKey(b"short")
