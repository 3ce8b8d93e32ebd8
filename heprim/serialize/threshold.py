"""Threshold Paillier keys and decryption shares in the versioned JSON envelope.

What a deployment of :mod:`heprim.paillier.threshold` moves around: the dealer publishes the
threshold public key and hands each key holder its share; holders send decryption shares to the
combiner. Layouts (version 1; big integers are ``Base64urlUInt``, ``blob`` is fixed-width words
of ``width`` bytes, the byte length of ``n**2``)::

    paillier.ThresholdPublicKey  n, hs (optional), threshold, parties, width, base,
                                 verification_keys (blob, parties words), fingerprint
    paillier.KeyShare            the members above, then index, secret   (only with include_secret)
    paillier.DecryptionShare     key, index, count, width, values (blob), challenge and
                                 response (both, or neither for a share without a proof)

``threshold`` is ``t``, ``parties`` is ``l`` (so ``Delta = l!`` is not stored), ``base`` is the
verification base ``v`` and ``verification_keys`` are ``v_i = v**(Delta s_i)``. ``fingerprint``
is :attr:`ThresholdPublicKey.fingerprint <heprim.paillier.threshold.ThresholdPublicKey>`,
recomputed on load: it covers ``n``, ``t``, ``v`` and every ``v_i``, so a corrupted
verification key is caught here rather than as a failing proof later. (It does not cover the
DJN ``h_s``, of which only the Jacobi symbol ``(h_s / n) = 1`` can be checked without the
factors.) ``key`` in a decryption share is that fingerprint: loading one takes the threshold
public key and checks it (:class:`~heprim.errors.KeyMismatchError`).

Checks on load (each failure a :class:`~heprim.errors.SerializationError` naming the member):
``n`` as for a Paillier public key; ``1 <= t <= l <= MAX_PARTIES``; ``v`` and each ``v_i`` units
in ``(1, n**2)`` with Jacobi symbol ``(x / n) = 1``, as squares must have; a key share's index in
``1 .. l`` and ``v**(Delta s_i) = v_i`` (so a loaded share decrypts exactly as the dealt one);
decryption-share values in ``(0, n**2)`` coprime to ``n``, a challenge below
``2**CHALLENGE_BITS`` and a response no longer than an honest one can be. Whether the values are
*correct* is what the proof says: verify it with ``combine(..., verify=True)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from heprim.errors import KeyMismatchError, ParameterError, SerializationError
from heprim.math import ntheory
from heprim.paillier.keys import PublicKey
from heprim.paillier.threshold import (
    CHALLENGE_BITS,
    MAX_PARTIES,
    DecryptionShare,
    KeyShare,
    ShareProof,
    ThresholdPublicKey,
)
from heprim.serialize.envelope import Reader, blob_from_ints, int_to_b64url, render_document
from heprim.serialize.paillier import _public_key_from

__all__ = ["KINDS", "dumps", "handles", "load_document"]

THRESHOLD_PUBLIC_KEY: Final = "paillier.ThresholdPublicKey"
KEY_SHARE: Final = "paillier.KeyShare"
DECRYPTION_SHARE: Final = "paillier.DecryptionShare"
KINDS: Final = (THRESHOLD_PUBLIC_KEY, KEY_SHARE, DECRYPTION_SHARE)

# z = r + e Delta s_i with r of |n**2| + |Delta| + 256 + 128 bits and e Delta s_i shorter than
# r (threshold.py, KeyShare._prove): an honest response has at most |n**2| + |Delta| + 385 bits.
# Anything much longer is refused, since verifying it would be an exponentiation of any size.
_RESPONSE_SLACK_BITS: Final = CHALLENGE_BITS + 256

AnyKey = PublicKey | ThresholdPublicKey | None


def _width(public: ThresholdPublicKey) -> int:
    return (int(public.public_key.nsquare).bit_length() + 7) // 8


def handles(obj: object) -> bool:
    """Whether ``obj`` is a threshold object this module serializes."""
    return isinstance(obj, ThresholdPublicKey | KeyShare | DecryptionShare)


# --------------------------------------------------------------------------- dumping


def _public_fields(public: ThresholdPublicKey) -> dict[str, object]:
    width = _width(public)
    fields: dict[str, object] = {"n": int_to_b64url(public.n)}
    if public.public_key.has_hs:
        fields["hs"] = int_to_b64url(public.public_key.hs)
    fields.update(
        {
            "threshold": public.threshold,
            "parties": public.parties,
            "width": width,
            "base": int_to_b64url(public.verification_base),
            "verification_keys": blob_from_ints(public.verification_keys, width),
            "fingerprint": public.fingerprint,
        }
    )
    return fields


def _share_fields(share: DecryptionShare, public: ThresholdPublicKey) -> dict[str, object]:
    index = public._check_index(share.index)
    values = [public.public_key.check_ciphertext(c) for c in share.values]
    width = _width(public)
    fields: dict[str, object] = {
        "key": public.fingerprint,
        "index": index,
        "count": len(values),
        "width": width,
        "values": blob_from_ints(values, width),
    }
    if share.proof is not None:
        fields["challenge"] = int_to_b64url(share.proof.challenge)
        fields["response"] = int_to_b64url(share.proof.response)
    return fields


def dumps(
    obj: object,
    *,
    include_secret: bool = False,
    public_key: ThresholdPublicKey | KeyShare | None = None,
) -> str:
    """The JSON document of a threshold public key, key share or decryption share.

    Args:
        obj: a :class:`~heprim.paillier.threshold.ThresholdPublicKey`,
            :class:`~heprim.paillier.threshold.KeyShare` or
            :class:`~heprim.paillier.threshold.DecryptionShare`.
        include_secret: must be ``True`` to write a key share (it holds the secret ``s_i``).
        public_key: the threshold public key a decryption share belongs to (a share does not
            know it; the document records its fingerprint). A key share stands for its key.

    Raises:
        ParameterError: a key share without ``include_secret=True``, a decryption share without
            its ``public_key`` or with values or an index impossible for it, another type.
    """
    if isinstance(obj, ThresholdPublicKey):
        return render_document(THRESHOLD_PUBLIC_KEY, _public_fields(obj))
    if isinstance(obj, KeyShare):
        if not include_secret:
            raise ParameterError(
                "refusing to serialize a threshold key share without include_secret=True: it "
                "holds the secret s_i; to publish the key, serialize share.public instead"
            )
        fields = _public_fields(obj.public)
        fields["index"] = obj.index
        fields["secret"] = int_to_b64url(obj._secret)
        return render_document(KEY_SHARE, fields)
    if isinstance(obj, DecryptionShare):
        if isinstance(public_key, KeyShare):
            public_key = public_key.public
        if not isinstance(public_key, ThresholdPublicKey):
            raise ParameterError(
                "a decryption share is bound to its threshold key: "
                "dumps(share, public_key=threshold_public_key)"
            )
        return render_document(DECRYPTION_SHARE, _share_fields(obj, public_key))
    raise ParameterError(f"heprim.serialize.threshold cannot serialize a {type(obj).__name__}")


# --------------------------------------------------------------------------- loading


def _square_unit(r: Reader, key: PublicKey, value: int, what: str) -> None:
    if not 1 < value < key.nsquare or ntheory.gcd(value, key.n) != 1:
        r.fail(f"{what} must be a unit in (1, n**2)")
    if ntheory.jacobi(value % key.n, key.n) != 1:
        r.fail(f"{what} has Jacobi symbol -1 modulo n, so it is not a square as it must be")


def _threshold_key_from(r: Reader) -> ThresholdPublicKey:
    key = _public_key_from(r)
    # h_s = -(y**2)**n with p = q = 3 mod 4 (safe primes): (-1 / n) = 1, so (h_s / n) = 1.
    # The fingerprint does not cover h_s; this catches half of the corruptions it misses.
    if key.has_hs and ntheory.jacobi(key.hs % key.n, key.n) != 1:
        r.fail('"hs" has Jacobi symbol -1 modulo n: it is not a DJN h_s of a threshold key')
    threshold = r.integer("threshold", minimum=1)
    parties = r.integer("parties", minimum=1, maximum=MAX_PARTIES)
    if threshold > parties:
        r.fail(f'"threshold" is {threshold} but only {parties} parties hold shares')
    width = r.integer("width", minimum=1)
    expected = (int(key.nsquare).bit_length() + 7) // 8
    if width != expected:
        r.fail(f'"width" is {width} bytes, but n**2 of this key takes {expected}')
    base = r.bigint("base")
    _square_unit(r, key, base, '"base"')
    verification = r.blob("verification_keys", width, parties)
    for i, v_i in enumerate(verification, start=1):
        _square_unit(r, key, v_i, f"verification key {i}")
    stated = r.string("fingerprint")
    public = ThresholdPublicKey(key, threshold, base, verification)
    if stated != public.fingerprint:
        r.fail(
            f'"fingerprint" {stated[:8]} does not match the key\'s members (it is '
            f"{public.fingerprint[:8]}): the document was corrupted or edited"
        )
    return public


def _bind(public: ThresholdPublicKey, given: AnyKey) -> ThresholdPublicKey:
    """Check a loaded key against the one the caller expects, and prefer the caller's object."""
    if given is None:
        return public
    if isinstance(given, ThresholdPublicKey):
        if given.fingerprint != public.fingerprint:
            raise KeyMismatchError(
                f"the document holds threshold key {public.fingerprint[:8]}, not the given key "
                f"{given.fingerprint[:8]}"
            )
        return given
    if given.n != public.n:
        raise KeyMismatchError(
            f"the document's threshold key has modulus {public.public_key.fingerprint[:8]}, not "
            f"the given public key's {given.fingerprint[:8]}"
        )
    return public


def _load_public(r: Reader, given: AnyKey) -> ThresholdPublicKey:
    public = _threshold_key_from(r)
    r.finish()
    return _bind(public, given)


def _load_key_share(r: Reader, given: AnyKey) -> KeyShare:
    public = _threshold_key_from(r)
    index = r.integer("index", minimum=1, maximum=public.parties)
    secret = r.bigint("secret")
    r.finish()
    if secret >= public.public_key.nsquare:
        r.fail('"secret" is not below n**2, as a share s_i in Z_{nm} is')
    public = _bind(public, given)
    try:
        return KeyShare(public, index, secret)
    except KeyMismatchError:
        r.fail(
            f'"secret" does not match verification key {index}: it is not holder {index}\'s share'
        )


def _load_decryption_share(r: Reader, given: AnyKey) -> DecryptionShare:
    stated = r.string("key")
    if not isinstance(given, ThresholdPublicKey):  # pragma: no cover - load_document checks
        raise ParameterError("a decryption share needs its threshold public key")
    if stated != given.fingerprint:
        raise KeyMismatchError(
            f"the decryption share is for threshold key {stated[:8]}, not for the given key "
            f"{given.fingerprint[:8]}"
        )
    index = r.integer("index", minimum=1, maximum=given.parties)
    count = r.integer("count", minimum=0)
    width = r.integer("width", minimum=1)
    if width != _width(given):
        r.fail(f'"width" is {width} bytes, but n**2 of this key takes {_width(given)}')
    values = r.blob("values", width, count)
    for j, value in enumerate(values):
        try:
            given.public_key.check_ciphertext(value)
        except ParameterError as exc:
            r.fail(f"share value {j}: {exc}")
    proof = None
    if r.has("challenge") or r.has("response"):
        challenge, response = r.bigint("challenge"), r.bigint("response")
        if challenge >> CHALLENGE_BITS:
            r.fail(f'"challenge" is longer than the {CHALLENGE_BITS} bits of a Fiat-Shamir hash')
        limit = int(given.public_key.nsquare.bit_length() + given.delta.bit_length())
        limit += _RESPONSE_SLACK_BITS
        if response.bit_length() > limit:
            r.fail(f'"response" has more than the {limit} bits an honest proof can have')
        proof = ShareProof(challenge, response)
    r.finish()
    return DecryptionShare(index, tuple(values), proof)


_LOADERS: Final[Mapping[str, Callable[[Reader, AnyKey], object]]] = {
    THRESHOLD_PUBLIC_KEY: _load_public,
    KEY_SHARE: _load_key_share,
    DECRYPTION_SHARE: _load_decryption_share,
}


def load_document(doc: Mapping[str, object], public_key: AnyKey) -> object:
    """Load a parsed envelope of a threshold type.

    ``public_key`` is checked against what the document records: a
    :class:`~heprim.paillier.threshold.ThresholdPublicKey` by its fingerprint, a plain Paillier
    key by its modulus (not enough for a decryption share, which needs the threshold key).
    """
    kind = doc.get("heprim")
    if not isinstance(kind, str) or kind not in _LOADERS:
        raise SerializationError(
            f"unknown threshold document type {kind!r}; this version reads {', '.join(KINDS)}"
        )
    if kind == DECRYPTION_SHARE and not isinstance(public_key, ThresholdPublicKey):
        # The caller's mistake, not the document's: a ParameterError.
        raise ParameterError(
            "loading a decryption share needs its threshold public key (a plain Paillier key "
            "cannot check it): loads(text, public_key=threshold_public_key)"
        )
    reader = Reader(doc, kind)
    try:
        return _LOADERS[kind](reader, public_key)
    except (SerializationError, KeyMismatchError):
        raise
    except ParameterError as exc:  # the objects' own checks: the document breaks an invariant
        raise SerializationError(f"{kind}: invalid data: {exc}") from None
