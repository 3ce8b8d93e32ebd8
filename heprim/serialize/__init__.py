"""Serialization at the edge of heprim: versioned JSON envelopes, and python-paillier interop.

::

    from heprim import serialize

    text = serialize.dumps(public_key)                     # keys, ciphertexts, vectors, packing
    key = serialize.loads(text)
    vec = serialize.loads(vec_text, public_key=key)        # ciphertexts need their key
    sk_text = serialize.dumps(private_key, include_secret=True)

Every document is ``{"heprim": "<type>", "version": 1, ...}`` (see
:mod:`heprim.serialize.envelope` for the encodings, :mod:`heprim.serialize.paillier` for the
layouts and :mod:`heprim.serialize.threshold` for threshold keys and decryption shares). Loading
validates everything and raises :class:`~heprim.errors.SerializationError` (malformed, tampered
or inconsistent data) or :class:`~heprim.errors.KeyMismatchError` (data for another key); it
never executes anything (no pickle). python-paillier's JWK keys and ciphertext JSON are in
:mod:`heprim.serialize.phe_compat`.

The state of a client-key BFV aggregation (:mod:`heprim.secagg.he_bfv_client_keys`: a client's
``bfv.ClientKey`` with its used seeds, a decryptor's ``secagg.DecryptorKeyShares`` with its
answered sessions, the server's ``secagg.PublicClientKeyDeployment``) survives restarts through
the same two functions; see :mod:`heprim.serialize.client_keys`.
"""

from __future__ import annotations

from typing import TypeVar, overload

from heprim.errors import ParameterError, SerializationError
from heprim.paillier.keys import PrivateKey, PublicKey
from heprim.paillier.threshold import KeyShare, ThresholdPublicKey
from heprim.secagg.he_bfv_client_keys import ClientKeyDeployment, PublicClientKeyDeployment
from heprim.serialize import bfv as _bfv
from heprim.serialize import client_keys as _client_keys
from heprim.serialize import threshold as _threshold
from heprim.serialize.envelope import Reader, parse_document, render_document
from heprim.serialize.paillier import DUMPERS, LOADERS

__all__ = ["dumps", "loads"]

T = TypeVar("T")
AnyKey = PublicKey | PrivateKey | ThresholdPublicKey | KeyShare | None


def dumps(
    obj: object,
    *,
    include_secret: bool = False,
    public_key: ThresholdPublicKey | KeyShare | None = None,
) -> str:
    """Serialize a Paillier key, ciphertext, encrypted vector, packed vector or packing encoder.

    Also threshold Paillier keys, key shares and decryption shares (see
    :mod:`heprim.serialize.threshold`), BFV objects (see :mod:`heprim.serialize.bfv`) and the
    state of a client-key BFV aggregation (see :mod:`heprim.serialize.client_keys`).

    Args:
        obj: a :class:`~heprim.paillier.PublicKey`, :class:`~heprim.paillier.PrivateKey`,
            :class:`~heprim.paillier.EncryptedNumber`, ``EncryptedVector``, ``PackedVector`` or
            ``PackedEncoder``.
        include_secret: must be ``True`` to write a private key (its primes), a threshold key
            share, a BFV secret or client key, or a decryptor's client-key shares, so that
            secrets never leave by accident.
        public_key: for a threshold ``DecryptionShare`` only: the ``ThresholdPublicKey`` it
            belongs to, whose fingerprint the document records.

    Raises:
        ParameterError: a private key or key share without ``include_secret=True``, a
            decryption share without its ``public_key``, or an unsupported type.
    """
    if not isinstance(include_secret, bool):
        raise ParameterError(f"include_secret must be True or False, got {include_secret!r}")
    if _threshold.handles(obj):
        return _threshold.dumps(obj, include_secret=include_secret, public_key=public_key)
    if public_key is not None:
        raise ParameterError(
            "dumps takes public_key= only for a threshold DecryptionShare; other objects know "
            "their key"
        )
    if isinstance(obj, PrivateKey) and not include_secret:
        raise ParameterError(
            "refusing to serialize a private key without include_secret=True; to share the key, "
            "serialize its public part: dumps(private_key.public_key)"
        )
    for cls, kind, dump in DUMPERS:
        if isinstance(obj, cls):
            return render_document(kind, dump(obj))
    if _bfv.handles(obj):  # BFV parameters, keys, plaintexts, ciphertexts, client keys
        return _bfv.dumps(obj, include_secret=include_secret)
    if _client_keys.handles(obj):  # a decryptor's key shares, a deployment's public facts
        return _client_keys.dumps(obj, include_secret=include_secret)
    raise ParameterError(f"heprim.serialize cannot serialize a {type(obj).__name__}")


@overload
def loads(
    text: str | bytes,
    *,
    public_key: AnyKey = ...,
    expect: None = ...,
    context: object = ...,
) -> object: ...
@overload
def loads(
    text: str | bytes,
    *,
    public_key: AnyKey = ...,
    expect: type[T],
    context: object = ...,
) -> T: ...
def loads(
    text: str | bytes,
    *,
    public_key: AnyKey = None,
    expect: type[T] | None = None,
    context: object = None,
) -> object:
    """Load what :func:`dumps` wrote, checking every invariant.

    Args:
        text: the JSON text (``str`` or UTF-8 ``bytes``).
        public_key: required for ciphertexts, vectors and packed data: their recorded key
            fingerprint must match it. A private key stands for its public key. Threshold
            decryption shares need their ``ThresholdPublicKey`` (a ``KeyShare`` stands for it);
            a threshold key also serves for ordinary ciphertexts under it, and loading a
            threshold key or key share checks it against a given key.
        expect: the type the caller wants; anything else raises :class:`SerializationError`
            (and the return value is typed accordingly).
        context: for BFV plaintexts, ciphertexts and client keys, their ``bfv.Parameters`` or
            a key of their key set (see :mod:`heprim.serialize.bfv`); for a decryptor's
            ``DecryptorKeyShares``, the parameters or the ``PublicClientKeyDeployment`` (see
            :mod:`heprim.serialize.client_keys`). A client-key deployment also stands for its
            parameters where parameters are expected.

    Raises:
        SerializationError: malformed, truncated, tampered, unknown type or version, missing or
            extra members, wrong JSON types, or values breaking the object's invariants.
        KeyMismatchError: the data belongs to another public key.
        ParameterError: a ciphertext was given without its ``public_key``.
    """
    if isinstance(public_key, PrivateKey):
        public_key = public_key.public_key
    if isinstance(public_key, KeyShare):
        public_key = public_key.public
    if public_key is not None and not isinstance(public_key, PublicKey | ThresholdPublicKey):
        raise ParameterError(
            "public_key must be a heprim PublicKey, PrivateKey, ThresholdPublicKey or KeyShare, "
            f"got {type(public_key).__name__}"
        )
    doc = parse_document(text)
    kind = doc["heprim"]
    if isinstance(kind, str) and kind in _threshold.KINDS:
        obj = _threshold.load_document(doc, public_key)
        if expect is not None and not isinstance(obj, expect):
            raise SerializationError(
                f"expected a {expect.__name__}, but the document holds a {kind}"
            )
        return obj
    if isinstance(public_key, ThresholdPublicKey):  # ciphertexts under a threshold key
        public_key = public_key.public_key
    if isinstance(kind, str) and kind in _client_keys.KINDS:
        obj = _client_keys.load_document(doc, context=context)
        if expect is not None and not isinstance(obj, expect):
            raise SerializationError(
                f"expected a {expect.__name__}, but the document holds a {kind}"
            )
        return obj
    if isinstance(kind, str) and kind in _bfv.KINDS:
        if isinstance(context, PublicClientKeyDeployment | ClientKeyDeployment):
            context = context.params
        obj = _bfv.load_document(doc, context=context)
        if expect is not None and not isinstance(obj, expect):
            raise SerializationError(
                f"expected a {expect.__name__}, but the document holds a {kind}"
            )
        return obj
    if not isinstance(kind, str) or kind not in LOADERS:
        raise SerializationError(
            f"unknown heprim document type {kind!r}; this version reads "
            f"{', '.join((*LOADERS, *_threshold.KINDS, *_bfv.KINDS, *_client_keys.KINDS))}"
        )
    obj = LOADERS[kind](Reader(doc, kind), public_key)
    if expect is not None and not isinstance(obj, expect):
        raise SerializationError(f"expected a {expect.__name__}, but the document holds a {kind}")
    return obj
