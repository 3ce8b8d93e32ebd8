"""Interoperability with python-paillier (``phe``, Data61), in its own formats.

Both libraries use ``g = n + 1`` and the same encoding of numbers (``mantissa * 16**exponent``,
negatives as ``n - |mantissa|``), so a ciphertext moves between them as the pair
``(ciphertext, exponent)`` and decrypts to the same value on both sides.

Formats (from python-paillier 1.5: ``phe/command_line.py``, the ``pheutil`` tool, and the
"Serialisation" page of its documentation, ``docs/serialisation.rst``):

* **JWK keys** (JSON Web Key, RFC 7517, with phe's unregistered key type ``"DAJ"``): big integers
  are ``Base64urlUInt`` (RFC 7518, sec. 2; phe's ``util.int_to_base64``)::

      public:  {"kty": "DAJ", "alg": "PAI-GN1", "key_ops": ["encrypt"], "n": ..., "kid": ...}
      private: {"kty": "DAJ", "key_ops": ["decrypt"], "p": ..., "q": ..., "pub": <public>,
                "kid": ...}

  (phe's older documentation shows private keys with ``"lambda"``/``"mu"`` instead of the
  primes; ``pheutil`` has written ``p`` and ``q`` since 1.3. The old form is refused with a
  message.)
* **Ciphertexts** as ``pheutil`` writes them: ``{"v": "<decimal ciphertext>", "e": exponent}``.
* **Vectors** as in phe's "Basic JSON serialisation" example:
  ``{"public_key": {"g": g, "n": n}, "values": [["<decimal ciphertext>", exponent], ...]}``.

Live objects: :func:`to_phe` and :func:`from_phe` convert keys, numbers and vectors to and from
``phe`` objects; they import ``phe`` lazily, so heprim does not depend on it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from heprim.errors import KeyMismatchError, ParameterError, SerializationError
from heprim.paillier.encoding import BASE
from heprim.paillier.keys import PrivateKey, PublicKey
from heprim.paillier.number import EncryptedNumber
from heprim.paillier.vector import EncryptedVector
from heprim.serialize.envelope import int_from_b64url, int_to_b64url, parse_json
from heprim.serialize.paillier import MAX_ABS_EXPONENT

__all__ = [
    "encrypted_number_from_phe_json",
    "encrypted_number_to_phe_json",
    "from_phe",
    "private_key_from_jwk",
    "private_key_to_jwk",
    "public_key_from_jwk",
    "public_key_to_jwk",
    "to_phe",
    "vector_from_phe_json",
    "vector_to_phe_json",
]

KTY: Final = "DAJ"
ALG: Final = "PAI-GN1"
_DECIMAL: Final = re.compile(r"0|[1-9][0-9]*")
_MAX_DECIMAL_DIGITS: Final = 4000  # below Python's int-parsing limit; n^2 of a 6000-bit key fits


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _as_object(source: str | bytes | Mapping[str, Any], what: str) -> Mapping[str, Any]:
    doc = source if isinstance(source, Mapping) else parse_json(source)
    if not isinstance(doc, Mapping):
        raise SerializationError(f"{what} must be a JSON object")
    return doc


def _public_of(key: PublicKey | PrivateKey) -> PublicKey:
    if isinstance(key, PrivateKey):
        return key.public_key
    if not isinstance(key, PublicKey):
        raise ParameterError(f"expected a heprim PublicKey or PrivateKey, got {type(key).__name__}")
    return key


def _decimal(value: object, what: str) -> int:
    """A non-negative integer written in decimal (string or JSON number), strictly."""
    if isinstance(value, bool):
        raise SerializationError(f"{what} must be a decimal integer, got a boolean")
    if isinstance(value, int):
        return value
    if not isinstance(value, str) or len(value) > _MAX_DECIMAL_DIGITS:
        raise SerializationError(f"{what} must be a decimal integer string")
    if _DECIMAL.fullmatch(value) is None:
        raise SerializationError(f"{what} must be digits only (no sign, spaces or leading zeros)")
    return int(value)


def _exponent(value: object, what: str) -> int:
    if type(value) is not int:
        raise SerializationError(f"{what} must be a JSON integer")
    if abs(value) > MAX_ABS_EXPONENT:
        raise SerializationError(f"{what} {value} is out of range (|e| <= {MAX_ABS_EXPONENT})")
    return value


def _key_from_n(n: int, what: str) -> PublicKey:
    try:
        return PublicKey(n)
    except ParameterError as exc:
        raise SerializationError(f"{what}: invalid public key: {exc}") from None


# --------------------------------------------------------------------------- JWK keys


def public_key_to_jwk(public_key: PublicKey | PrivateKey, *, kid: str | None = None) -> str:
    """phe's JWK public key (what ``pheutil extract`` writes)."""
    key = _public_of(public_key)
    jwk: dict[str, object] = {
        "kty": KTY,
        "alg": ALG,
        "key_ops": ["encrypt"],
        "n": int_to_b64url(key.n),
        "kid": kid if kid is not None else f"heprim Paillier public key {key.fingerprint[:8]}",
    }
    return _dumps(jwk)


def _public_jwk(doc: Mapping[str, Any], what: str) -> PublicKey:
    if doc.get("kty") != KTY:
        raise SerializationError(f'{what}: "kty" must be "{KTY}" (phe\'s Paillier key type)')
    if doc.get("alg") != ALG:
        raise SerializationError(f'{what}: "alg" must be "{ALG}"')
    n = doc.get("n")
    if not isinstance(n, str):
        raise SerializationError(f'{what}: "n" must be a Base64urlUInt string')
    return _key_from_n(int_from_b64url(n, f'{what} "n"'), what)


def public_key_from_jwk(source: str | bytes | Mapping[str, Any]) -> PublicKey:
    """Read phe's JWK public key (``pheutil extract`` output); the DJN ``h_s`` is derived."""
    return _public_jwk(_as_object(source, "a JWK public key"), "JWK public key")


def private_key_to_jwk(private_key: PrivateKey, *, kid: str | None = None) -> str:
    """phe's JWK private key (what ``pheutil genpkey`` writes): the primes and the public JWK."""
    if not isinstance(private_key, PrivateKey):
        raise ParameterError(f"expected a heprim PrivateKey, got {type(private_key).__name__}")
    jwk: dict[str, object] = {
        "kty": KTY,
        "key_ops": ["decrypt"],
        "p": int_to_b64url(private_key.p),
        "q": int_to_b64url(private_key.q),
        "pub": parse_json(public_key_to_jwk(private_key.public_key)),
        "kid": kid
        if kid is not None
        else f"heprim Paillier private key {private_key.fingerprint[:8]}",
    }
    return _dumps(jwk)


def private_key_from_jwk(source: str | bytes | Mapping[str, Any]) -> PrivateKey:
    """Read phe's JWK private key, checking ``p q = n`` and primality."""
    doc = _as_object(source, "a JWK private key")
    what = "JWK private key"
    if doc.get("kty") != KTY:
        raise SerializationError(f'{what}: "kty" must be "{KTY}"')
    ops = doc.get("key_ops")
    if not isinstance(ops, list) or "decrypt" not in ops:
        raise SerializationError(f'{what}: "key_ops" must list "decrypt"')
    if "p" not in doc or "q" not in doc:
        if "lambda" in doc or "mu" in doc:
            raise SerializationError(
                f"{what}: this is the old lambda/mu form; re-export it with phe >= 1.3 "
                "(pheutil genpkey), which writes the primes p and q"
            )
        raise SerializationError(f'{what}: the primes "p" and "q" are missing')
    pub = doc.get("pub")
    if not isinstance(pub, Mapping):
        raise SerializationError(f'{what}: "pub" must hold the JWK public key')
    public_key = _public_jwk(pub, f'{what} "pub"')
    p_text, q_text = doc["p"], doc["q"]
    if not isinstance(p_text, str) or not isinstance(q_text, str):
        raise SerializationError(f'{what}: "p" and "q" must be Base64urlUInt strings')
    p, q = int_from_b64url(p_text, f'{what} "p"'), int_from_b64url(q_text, f'{what} "q"')
    if p * q != public_key.n:
        raise SerializationError(f'{what}: "p" * "q" does not equal the public "n"')
    try:
        return PrivateKey(public_key, p, q)
    except ParameterError as exc:
        raise SerializationError(f"{what}: {exc}") from None


# --------------------------------------------------------------------------- ciphertexts


def encrypted_number_to_phe_json(x: EncryptedNumber) -> str:
    """``{"v": "<decimal ciphertext>", "e": exponent}`` as ``pheutil`` writes it.

    The ciphertext is written as is: call ``x.obfuscate()`` first if it is a computed result.
    """
    if not isinstance(x, EncryptedNumber):
        raise ParameterError(f"expected an EncryptedNumber, got {type(x).__name__}")
    return _dumps({"v": str(int(x.ciphertext)), "e": int(x.exponent)})


def _ciphertext(key: PublicKey, value: object, what: str) -> int:
    try:
        return key.check_ciphertext(_decimal(value, what))
    except ParameterError as exc:
        raise SerializationError(f"{what}: {exc}") from None


def encrypted_number_from_phe_json(
    source: str | bytes | Mapping[str, Any], public_key: PublicKey | PrivateKey
) -> EncryptedNumber:
    """Read ``pheutil``'s ``{"v": ..., "e": ...}`` under ``public_key`` (phe's format does not
    name its key, so a wrong key cannot be detected here; it decrypts to garbage)."""
    key = _public_of(public_key)
    doc = _as_object(source, "a phe ciphertext")
    if set(doc) != {"v", "e"}:
        raise SerializationError('a phe ciphertext is {"v": "<decimal>", "e": exponent}')
    c = _ciphertext(key, doc["v"], 'phe ciphertext "v"')
    return EncryptedNumber(key, c, _exponent(doc["e"], 'phe ciphertext "e"'))


def vector_to_phe_json(vec: EncryptedVector) -> str:
    """phe's documented list serialisation: the public key (g, n) and (ciphertext, exponent)
    pairs, flattened in row-major order."""
    if not isinstance(vec, EncryptedVector):
        raise ParameterError(f"expected an EncryptedVector, got {type(vec).__name__}")
    key = vec.public_key
    doc = {
        "public_key": {"g": int(key.g), "n": int(key.n)},
        "values": [[str(int(c)), int(vec.exponent)] for c in vec.ciphertexts],
    }
    return _dumps(doc)


def vector_from_phe_json(
    source: str | bytes | Mapping[str, Any],
    public_key: PublicKey | PrivateKey | None = None,
) -> EncryptedVector:
    """Read phe's list serialisation into a 1-D :class:`EncryptedVector`.

    Elements with different exponents are aligned to the lowest one (multiplying plaintexts by
    powers of 16). With ``public_key`` given, the document's ``n`` must match it
    (:class:`KeyMismatchError`); otherwise the key is built from ``n`` and ``g`` must be ``n + 1``.
    """
    doc = _as_object(source, "a phe vector")
    what = "phe vector"
    key_doc, values = doc.get("public_key"), doc.get("values")
    if not isinstance(key_doc, Mapping) or not isinstance(values, list):
        raise SerializationError(f'{what}: expected {{"public_key": {{...}}, "values": [...]}}')
    n = _decimal(key_doc.get("n"), f'{what} "n"')
    if "g" in key_doc and _decimal(key_doc["g"], f'{what} "g"') != n + 1:
        raise SerializationError(f"{what}: g must be n + 1 (the only generator phe uses)")
    if public_key is not None:
        key = _public_of(public_key)
        if key.n != n:
            raise KeyMismatchError(
                f"{what}: the document's n is not the given key's (fingerprint "
                f"{key.fingerprint[:8]})"
            )
    else:
        key = _key_from_n(n, what)
    pairs: list[tuple[int, int]] = []
    for i, item in enumerate(values):
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2:
            raise SerializationError(f"{what}: value {i} must be a [ciphertext, exponent] pair")
        pairs.append(
            (
                _ciphertext(key, item[0], f"{what} value {i}"),
                _exponent(item[1], f"{what} exponent {i}"),
            )
        )
    if not pairs:
        return EncryptedVector._make(key, [], 0, (0,))
    low = min(e for _, e in pairs)
    cts = [c if e == low else key.raw_mul(c, BASE ** (e - low)) for c, e in pairs]
    return EncryptedVector._make(key, cts, low, (len(cts),))


# --------------------------------------------------------------------------- live phe objects


def to_phe(obj: PublicKey | PrivateKey | EncryptedNumber | EncryptedVector) -> Any:
    """The python-paillier counterpart of a heprim key, number or vector (a list for vectors).

    Needs ``phe`` installed (``pip install heprim[peers]``).
    """
    try:
        import phe
    except ImportError:
        raise ParameterError("to_phe needs python-paillier: pip install phe") from None
    if isinstance(obj, PublicKey):
        return phe.PaillierPublicKey(int(obj.n))
    if isinstance(obj, PrivateKey):
        return phe.PaillierPrivateKey(to_phe(obj.public_key), int(obj.p), int(obj.q))
    if isinstance(obj, EncryptedNumber):
        return phe.EncryptedNumber(to_phe(obj.public_key), int(obj.ciphertext), int(obj.exponent))
    if isinstance(obj, EncryptedVector):
        pk = to_phe(obj.public_key)
        e = int(obj.exponent)
        return [phe.EncryptedNumber(pk, int(c), e) for c in obj.ciphertexts]
    raise ParameterError(f"to_phe cannot convert a {type(obj).__name__}")


def from_phe(obj: Any, public_key: PublicKey | PrivateKey | None = None) -> Any:
    """The heprim counterpart of a phe key, ``EncryptedNumber`` or list of them.

    ``public_key``: the heprim key to attach ciphertexts to (keeps its ``h_s`` and tables); it
    must have the same ``n`` (:class:`KeyMismatchError`). A list becomes a 1-D
    :class:`EncryptedVector` with exponents aligned to the lowest.
    """
    try:
        import phe
    except ImportError:
        raise ParameterError("from_phe needs python-paillier: pip install phe") from None

    def key_for(phe_key: Any) -> PublicKey:
        if public_key is None:
            return PublicKey(int(phe_key.n))
        key = _public_of(public_key)
        if key.n != int(phe_key.n):
            raise KeyMismatchError("the phe object's n differs from the given heprim key's")
        return key

    if isinstance(obj, phe.PaillierPublicKey):
        return key_for(obj)
    if isinstance(obj, phe.PaillierPrivateKey):
        return PrivateKey(key_for(obj.public_key), int(obj.p), int(obj.q))
    if isinstance(obj, phe.EncryptedNumber):
        key = key_for(obj.public_key)
        return EncryptedNumber(key, int(obj.ciphertext(be_secure=False)), int(obj.exponent))
    if isinstance(obj, list | tuple) and all(isinstance(x, phe.EncryptedNumber) for x in obj):
        if not obj:
            raise ParameterError("from_phe needs a non-empty list to know the key")
        key = key_for(obj[0].public_key)
        numbers = [from_phe(x, key) for x in obj]
        low = min(x.exponent for x in numbers)
        cts = [x.decrease_exponent_to(low).ciphertext for x in numbers]
        return EncryptedVector._make(key, cts, low, (len(cts),))
    raise ParameterError(f"from_phe cannot convert a {type(obj).__name__}")
