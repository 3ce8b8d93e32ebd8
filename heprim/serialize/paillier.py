"""Paillier objects in the versioned JSON envelope of :mod:`heprim.serialize.envelope`.

Layouts (version 1; big integers are ``Base64urlUInt``, ``blob`` is fixed-width words)::

    paillier.PublicKey        n, hs (DJN element; optional)
    paillier.PrivateKey       n, hs (optional), p, q                   (only with include_secret)
    paillier.EncryptedNumber  key, ciphertext, exponent
    paillier.EncryptedVector  key, shape, exponent, width, ciphertexts (blob)
    paillier.PackedEncoder    key, slot_bits, max_additions, signed, scale
    paillier.PackedVector     key, slot_bits, max_additions, signed, scale, length, count,
                              width, ciphertexts (blob)

``key`` is the public key's fingerprint (32 hex digits of SHA-256 over ``n``); ``width`` is the
byte length of ``n^2``. Loading a ciphertext takes the public key and checks the fingerprint
(:class:`~heprim.errors.KeyMismatchError`), then every ciphertext (in ``[1, n^2)``, coprime to
``n``). Loading a key re-checks its mathematics: ``n`` odd, large enough and not a square or a
prime; for a private key ``p q = n`` with ``p, q`` prime, and when ``h_s`` is present the DJN key
conditions (``p = q = 3 mod 4``, ``gcd(p-1, q-1) = 2``) and that ``h_s`` is an ``n``-th residue of
large order. Every failure is a :class:`~heprim.errors.SerializationError` saying which member.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from heprim.errors import KeyMismatchError, ParameterError
from heprim.math import ntheory
from heprim.paillier.keys import PrivateKey, PublicKey
from heprim.paillier.number import EncryptedNumber
from heprim.paillier.packing import PackedEncoder, PackedVector
from heprim.paillier.vector import EncryptedVector
from heprim.serialize.envelope import Reader, blob_from_ints, int_to_b64url

__all__ = ["DUMPERS", "KINDS", "LOADERS", "MAX_ABS_EXPONENT"]

PUBLIC_KEY: Final = "paillier.PublicKey"
PRIVATE_KEY: Final = "paillier.PrivateKey"
ENCRYPTED_NUMBER: Final = "paillier.EncryptedNumber"
ENCRYPTED_VECTOR: Final = "paillier.EncryptedVector"
PACKED_ENCODER: Final = "paillier.PackedEncoder"
PACKED_VECTOR: Final = "paillier.PackedVector"
KINDS: Final = (
    PUBLIC_KEY,
    PRIVATE_KEY,
    ENCRYPTED_NUMBER,
    ENCRYPTED_VECTOR,
    PACKED_ENCODER,
    PACKED_VECTOR,
)

MAX_ABS_EXPONENT: Final = 1 << 16
"""Exponents beyond this are refused: ``16**exponent`` would be a denial of service, not data."""


def _width(public_key: PublicKey) -> int:
    return (int(public_key.nsquare).bit_length() + 7) // 8


# --------------------------------------------------------------------------- dumping


def _dump_public_key(key: PublicKey) -> dict[str, object]:
    fields: dict[str, object] = {"n": int_to_b64url(key.n)}
    if key.has_hs:
        fields["hs"] = int_to_b64url(key.hs)
    return fields


def _dump_private_key(key: PrivateKey) -> dict[str, object]:
    fields = _dump_public_key(key.public_key)
    fields["p"] = int_to_b64url(key.p)
    fields["q"] = int_to_b64url(key.q)
    return fields


def _dump_encrypted_number(x: EncryptedNumber) -> dict[str, object]:
    return {
        "key": x.public_key.fingerprint,
        "ciphertext": int_to_b64url(x.ciphertext),
        "exponent": int(x.exponent),
    }


def _dump_encrypted_vector(v: EncryptedVector) -> dict[str, object]:
    width = _width(v.public_key)
    return {
        "key": v.public_key.fingerprint,
        "shape": list(v.shape),
        "exponent": int(v.exponent),
        "width": width,
        "ciphertexts": blob_from_ints(v.ciphertexts, width),
    }


def _encoder_fields(e: PackedEncoder) -> dict[str, object]:
    return {
        "key": e.public_key.fingerprint,
        "slot_bits": e.slot_bits,
        "max_additions": e.max_additions,
        "signed": e.signed,
        "scale": e.scale,
    }


def _dump_packed_vector(v: PackedVector) -> dict[str, object]:
    width = _width(v.public_key)
    fields = _encoder_fields(v.encoder)
    fields.update(
        {
            "length": v.length,
            "count": v.count,
            "width": width,
            "ciphertexts": blob_from_ints(v.ciphertexts, width),
        }
    )
    return fields


# Checked in this order: PrivateKey needs include_secret (see heprim.serialize.dumps).
DUMPERS: Final[tuple[tuple[type, str, Callable[[Any], dict[str, object]]], ...]] = (
    (PublicKey, PUBLIC_KEY, _dump_public_key),
    (PrivateKey, PRIVATE_KEY, _dump_private_key),
    (EncryptedNumber, ENCRYPTED_NUMBER, _dump_encrypted_number),
    (EncryptedVector, ENCRYPTED_VECTOR, _dump_encrypted_vector),
    (PackedEncoder, PACKED_ENCODER, _encoder_fields),
    (PackedVector, PACKED_VECTOR, _dump_packed_vector),
)


# --------------------------------------------------------------------------- loading


def _public_key_from(r: Reader) -> PublicKey:
    n = r.bigint("n")
    if n % 2 == 0:
        r.fail('"n" is even; a Paillier modulus is a product of two odd primes')
    if ntheory.is_square(n):
        r.fail('"n" is a perfect square, not a product of two distinct primes')
    hs = r.bigint("hs") if r.has("hs") else None
    try:
        key = PublicKey(n, hs=hs)
    except ParameterError as exc:
        r.fail(f"invalid public key: {exc}")
    if ntheory.is_probable_prime(n):
        r.fail('"n" is prime: it has no secret factorisation, so it is not a Paillier modulus')
    return key


def _load_public_key(r: Reader, _: PublicKey | None) -> PublicKey:
    key = _public_key_from(r)
    r.finish()
    return key


def _load_private_key(r: Reader, _: PublicKey | None) -> PrivateKey:
    public_key = _public_key_from(r)
    p, q = r.bigint("p"), r.bigint("q")
    r.finish()
    if p * q != public_key.n:
        r.fail('"p" * "q" does not equal "n"')
    if public_key.has_hs:
        # DJN keys: the conditions under which h = -y^2 generates the Jacobi-1 group.
        for name, prime in (("p", p), ("q", q)):
            if prime % 4 != 3:
                r.fail(f'"{name}" is not 3 mod 4, as a key with a DJN "hs" requires')
        if ntheory.gcd(p - 1, q - 1) != 2:
            r.fail('gcd(p-1, q-1) is not 2, as a key with a DJN "hs" requires')
    try:
        # Checks primality, p != q, gcd(n, phi) = 1, and that hs is an n-th residue of large order.
        return PrivateKey(public_key, p, q)
    except ParameterError as exc:
        r.fail(f"invalid private key: {exc}")


def _fingerprint_of(r: Reader, public_key: PublicKey | None) -> PublicKey:
    stated = r.string("key")
    if public_key is None:
        raise ParameterError(
            "loading a ciphertext needs the public key it was encrypted under: "
            "loads(text, public_key=...)"
        )
    if stated != public_key.fingerprint:
        raise KeyMismatchError(
            f"the data was encrypted under key {stated[:8]}, not under the given key "
            f"{public_key.fingerprint[:8]}"
        )
    return public_key


def _exponent(r: Reader) -> int:
    return r.integer("exponent", minimum=-MAX_ABS_EXPONENT, maximum=MAX_ABS_EXPONENT)


def _ciphertext(r: Reader, key: PublicKey, c: int, what: str) -> int:
    try:
        return key.check_ciphertext(c)
    except ParameterError as exc:
        r.fail(f"{what}: {exc}")


def _load_encrypted_number(r: Reader, public_key: PublicKey | None) -> EncryptedNumber:
    key = _fingerprint_of(r, public_key)
    c = _ciphertext(r, key, r.bigint("ciphertext"), '"ciphertext"')
    exponent = _exponent(r)
    r.finish()
    return EncryptedNumber(key, c, exponent)


def _blob(r: Reader, key: PublicKey, count: int) -> list[int]:
    width = r.integer("width", minimum=1)
    if width != _width(key):
        r.fail(f'"width" is {width} bytes, but n^2 of this key takes {_width(key)}')
    words = r.blob("ciphertexts", width, count)
    return [_ciphertext(r, key, c, f"ciphertext {i}") for i, c in enumerate(words)]


def _load_encrypted_vector(r: Reader, public_key: PublicKey | None) -> EncryptedVector:
    key = _fingerprint_of(r, public_key)
    shape = r.int_list("shape", minimum=0)
    if not shape:
        r.fail('"shape" must have at least one dimension')
    count = 1
    for d in shape:
        count *= d
    exponent = _exponent(r)
    cts = _blob(r, key, count)
    r.finish()
    return EncryptedVector._make(key, cts, exponent, tuple(shape))


def _encoder_from(r: Reader, key: PublicKey) -> PackedEncoder:
    slot_bits = r.integer("slot_bits", minimum=1)
    max_additions = r.integer("max_additions", minimum=1)
    signed = r.boolean("signed")
    scale = r.optional_float("scale")
    try:
        return PackedEncoder(
            key, slot_bits, max_additions=max_additions, signed=signed, scale=scale
        )
    except ParameterError as exc:
        r.fail(f"invalid encoder parameters: {exc}")


def _load_packed_encoder(r: Reader, public_key: PublicKey | None) -> PackedEncoder:
    encoder = _encoder_from(r, _fingerprint_of(r, public_key))
    r.finish()
    return encoder


def _load_packed_vector(r: Reader, public_key: PublicKey | None) -> PackedVector:
    key = _fingerprint_of(r, public_key)
    encoder = _encoder_from(r, key)
    length = r.integer("length", minimum=0)
    count = r.integer("count", minimum=1, maximum=encoder.max_additions)
    cts = _blob(r, key, encoder.ciphertexts_for(length))
    r.finish()
    return PackedVector._make(encoder, cts, length, count)


LOADERS: Final[Mapping[str, Callable[[Reader, PublicKey | None], object]]] = {
    PUBLIC_KEY: _load_public_key,
    PRIVATE_KEY: _load_private_key,
    ENCRYPTED_NUMBER: _load_encrypted_number,
    ENCRYPTED_VECTOR: _load_encrypted_vector,
    PACKED_ENCODER: _load_packed_encoder,
    PACKED_VECTOR: _load_packed_vector,
}
