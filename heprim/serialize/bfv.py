"""BFV parameters, keys, plaintexts and ciphertexts in heprim's versioned envelope.

Two renderings of the same documents:

* **JSON text** (:func:`dumps` / :func:`loads`, also through :func:`heprim.serialize.dumps`):
  the envelope of :mod:`heprim.serialize.envelope` with bulk data as unpadded base64url strings;
* **compact binary** (:func:`dump_bytes` / :func:`load_bytes`): ``MAGIC``, a 4-byte big-endian
  header length, the same JSON document as header with every bulk member replaced by
  ``{"offset": o, "bytes": n}``, then the raw bytes. About 3/4 of the JSON size.

Layouts (version 1)::

    bfv.Parameters   degree, plain_modulus, q, p, allow_insecure, fingerprint
    bfv.SecretKey    params, key_id, coefficients (N bytes: s_i + 1)   (only with include_secret)
    bfv.PublicKey    params, key_id, seed, b (L x N residues)
    bfv.RelinKeys    params, key_id, seed, b (digits x (L+K) x N residues); a collective key
                     (heprim.bfv.multiparty) has no seed: a (same shape) instead
    bfv.GaloisKeys   params, key_id, elements, seeds (32 bytes each, concatenated),
                     b (keys x digits x (L+K) x N residues)
    bfv.Plaintext    params (fingerprint), coefficients (N residues)
    bfv.Ciphertext   params (fingerprint), key_id, level, size, seed (only if seeded), data
    bfv.ClientKey    params (fingerprint), key_id, coefficients (N bytes: s_i + 1),
                     used (count), used_seeds (32 bytes each, increasing)
                                                                       (only with include_secret)
    bfv.ThresholdShare  params (fingerprint), key_id, index, threshold,
                     value ((L+K) x N residues, NTT form)             (only with include_secret)

Residues are little-endian ``uint32`` (every prime is below ``2^30``): half of SEAL's 64-bit
words. Keys are always stored *seeded*: the uniform halves ``a`` are regenerated from their
32-byte seeds. A fresh symmetric ciphertext (:class:`~heprim.bfv.scheme.Encryptor` with the
secret key) is stored seeded too unless ``seeded=False``: ``c_1`` becomes its seed, halving the
size. ``params`` of keys is the full parameter document; plaintexts and ciphertexts record the
parameters' fingerprint and need them on loading (``context=`` the :class:`Parameters` or any
key of the key set, whose ``key_id`` is then checked as well).

A :class:`~heprim.bfv.multiparty.ClientKey` (the client keys of
:mod:`heprim.secagg.he_bfv_client_keys`) is its ternary secret and the seeds it already
encrypted under, so that a reloaded key still refuses a second encryption under one common
``a``; it records the parameters' fingerprint and loads with ``context=params``. Its secret is
the whole point of the document: it is written only with ``include_secret=True``. Store it again
after every upload (:attr:`~heprim.bfv.multiparty.ClientKey.used_seeds` grows by the session's
seeds), before the upload leaves.

A :class:`~heprim.bfv.multiparty.ThresholdShare` is a decryptor's Shamir share ``tsk_j`` of a
collective secret (:mod:`heprim.bfv.multiparty`, t-of-n): secret, written only with
``include_secret=True``, loaded with ``context=`` the parameters or a key of the collective key
set (whose ``key_id`` must match). The collective relinearization key is not a seed expansion,
so its ``a``-parts are stored whole.

Loading re-validates everything: the parameters (as :class:`~heprim.bfv.params.Parameters` does,
plus the recorded fingerprint), the shapes, every residue below its prime, the ternary secret key,
the Galois elements, and the seeds; failures are :class:`~heprim.errors.SerializationError`,
data for other parameters or keys :class:`~heprim.errors.KeyMismatchError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar, overload

import numpy as np
import numpy.typing as npt

from heprim.bfv.ciphertext import Ciphertext
from heprim.bfv.context import MAX_TERMS, context_of
from heprim.bfv.encoder import Plaintext
from heprim.bfv.keys import (
    SEED_BYTES,
    GaloisKeys,
    KeySwitchKey,
    PublicKey,
    RelinKeys,
    SecretKey,
    expand_uniform,
)
from heprim.bfv.multiparty import ClientKey, CollectiveKeySwitchKey, ThresholdShare
from heprim.bfv.params import Parameters, ParametersLiteral
from heprim.errors import (
    InsecureParametersWarning,
    KeyMismatchError,
    ParameterError,
    SerializationError,
)
from heprim.serialize.envelope import (
    Reader,
    b64url_decode,
    b64url_encode,
    parse_document,
    render_document,
)

__all__ = [
    "KINDS",
    "MAGIC",
    "dump_bytes",
    "dumps",
    "handles",
    "load_bytes",
    "load_document",
    "loads",
]

T = TypeVar("T")
U64 = npt.NDArray[np.uint64]

PARAMETERS: Final = "bfv.Parameters"
SECRET_KEY: Final = "bfv.SecretKey"  # noqa: S105 - a document type, not a secret
PUBLIC_KEY: Final = "bfv.PublicKey"
RELIN_KEYS: Final = "bfv.RelinKeys"
GALOIS_KEYS: Final = "bfv.GaloisKeys"
PLAINTEXT: Final = "bfv.Plaintext"
CIPHERTEXT: Final = "bfv.Ciphertext"
CLIENT_KEY: Final = "bfv.ClientKey"
THRESHOLD_SHARE: Final = "bfv.ThresholdShare"
KINDS: Final = (
    PARAMETERS,
    SECRET_KEY,
    PUBLIC_KEY,
    RELIN_KEYS,
    GALOIS_KEYS,
    PLAINTEXT,
    CIPHERTEXT,
    CLIENT_KEY,
    THRESHOLD_SHARE,
)

#: The first bytes of the binary form.
MAGIC: Final = b"heprim-bin\x00"
_HEADER_LENGTH_BYTES: Final = 4
_MAX_HEADER: Final = 1 << 24

Context = Parameters | SecretKey | PublicKey | RelinKeys | GaloisKeys


# --------------------------------------------------------------------------- bulk data


def _residue_bytes(array: npt.ArrayLike) -> bytes:
    return np.ascontiguousarray(array, dtype="<u4").tobytes()


def _residues_from(data: bytes, shape: tuple[int, ...], moduli: Sequence[int], what: str) -> U64:
    """``uint32`` words -> residues of ``shape`` (limb axis -2), each below its prime."""
    values = np.frombuffer(data, dtype="<u4").astype(np.uint64).reshape(shape)
    column = np.array(moduli, dtype=np.uint64).reshape(-1, 1)
    if values.size and bool((values >= column).any()):
        raise SerializationError(f"{what}: a residue is not below its prime (tampered data?)")
    return values


class _Writer:
    """Collects a document's members, with bulk members kept apart for either rendering."""

    def __init__(self) -> None:
        self.fields: dict[str, object] = {}
        self.blobs: dict[str, bytes] = {}

    def blob(self, name: str, data: bytes) -> None:
        self.fields[name] = None  # placeholder keeps the member order
        self.blobs[name] = data

    def json_fields(self) -> dict[str, object]:
        fields = dict(self.fields)
        for name, data in self.blobs.items():
            fields[name] = b64url_encode(data)
        return fields

    def binary(self, kind: str) -> bytes:
        fields = dict(self.fields)
        offset = 0
        for name, data in self.blobs.items():
            fields[name] = {"offset": offset, "bytes": len(data)}
            offset += len(data)
        header = render_document(kind, fields).encode()
        return b"".join(
            [MAGIC, len(header).to_bytes(_HEADER_LENGTH_BYTES, "big"), header, *self.blobs.values()]
        )


class _Blobs:
    """Reads bulk members from a JSON document (base64url) or a binary payload (offsets)."""

    def __init__(self, reader: Reader, kind: str, payload: bytes | None) -> None:
        self.reader = reader
        self.kind = kind
        self.payload = payload
        self.offset = 0

    def get(self, name: str, length: int) -> bytes:
        if self.payload is None:
            data = b64url_decode(self.reader.string(name), f'{self.kind}: "{name}"')
        else:
            where = self.reader.mapping(name)
            sub = Reader(where, f'{self.kind}: "{name}"')
            offset = sub.integer("offset", minimum=0)
            size = sub.integer("bytes", minimum=0)
            sub.finish()
            if offset != self.offset or offset + size > len(self.payload):
                self.reader.fail(f'"{name}" points outside the payload or out of order')
            data = self.payload[offset : offset + size]
            self.offset = offset + size
        if len(data) != length:
            self.reader.fail(f'"{name}" holds {len(data)} bytes, expected {length}')
        return data

    def finish(self) -> None:
        if self.payload is not None and self.offset != len(self.payload):
            self.reader.fail("the binary payload has trailing bytes")
        self.reader.finish()


# --------------------------------------------------------------------------- dumping


def _params_fields(params: Parameters) -> dict[str, object]:
    return {
        "degree": params.degree,
        "plain_modulus": params.plain_modulus,
        "q": list(params.q),
        "p": list(params.p),
        "allow_insecure": params.allow_insecure,
        "fingerprint": params.fingerprint,
    }


def _dump_parameters(w: _Writer, params: Parameters, _: bool) -> None:
    w.fields.update(_params_fields(params))


def _ternary_bytes(key: SecretKey) -> bytes:
    """``s_i + 1`` as one byte per coefficient."""
    return (key.coefficients.astype(np.int16) + 1).astype(np.uint8).tobytes()


def _dump_secret_key(w: _Writer, key: SecretKey, _: bool) -> None:
    w.fields["params"] = _params_fields(key.params)
    w.fields["key_id"] = key.key_id
    w.blob("coefficients", _ternary_bytes(key))


def _dump_public_key(w: _Writer, key: PublicKey, _: bool) -> None:
    w.fields["params"] = _params_fields(key.params)
    w.fields["key_id"] = key.key_id
    w.fields["seed"] = b64url_encode(key.seed)
    w.blob("b", _residue_bytes(key.b.data))


def _dump_relin_keys(w: _Writer, keys: RelinKeys, _: bool) -> None:
    w.fields["params"] = _params_fields(keys.params)
    w.fields["key_id"] = keys.key_id
    if isinstance(keys.key, CollectiveKeySwitchKey):  # no seed: the a-parts go whole
        w.blob("b", _residue_bytes(keys.key.b))
        w.blob("a", _residue_bytes(keys.key.data[:, 1]))
        return
    w.fields["seed"] = b64url_encode(keys.key.seed)
    w.blob("b", _residue_bytes(keys.key.b))


def _dump_threshold_share(w: _Writer, share: ThresholdShare, _: bool) -> None:
    w.fields["params"] = share.params.fingerprint
    w.fields["key_id"] = share.key_id
    w.fields["index"] = share.index
    w.fields["threshold"] = share.threshold
    w.blob("value", _residue_bytes(share.value.data))


def _dump_galois_keys(w: _Writer, keys: GaloisKeys, _: bool) -> None:
    w.fields["params"] = _params_fields(keys.params)
    w.fields["key_id"] = keys.key_id
    w.fields["elements"] = list(keys)
    w.fields["seeds"] = b64url_encode(b"".join(keys[k].seed for k in keys))
    w.blob("b", b"".join(_residue_bytes(keys[k].b) for k in keys))


def _dump_plaintext(w: _Writer, plain: Plaintext, _: bool) -> None:
    w.fields["params"] = plain.params.fingerprint
    w.blob("coefficients", _residue_bytes(plain.coefficients))


def _dump_ciphertext(w: _Writer, ct: Ciphertext, seeded: bool) -> None:
    w.fields["params"] = ct.params.fingerprint
    w.fields["key_id"] = ct.key_id
    w.fields["level"] = ct.level
    w.fields["size"] = ct.size
    data = ct.polys.data
    if seeded and ct.seed is not None:
        w.fields["seed"] = b64url_encode(ct.seed)
        data = data[:1]  # c_1 is regenerated from the seed
    w.blob("data", _residue_bytes(data))


def _dump_client_key(w: _Writer, key: ClientKey, _: bool) -> None:
    w.fields["params"] = key.params.fingerprint
    w.fields["key_id"] = key.key_id
    w.blob("coefficients", _ternary_bytes(key.secret))
    seeds = sorted(key.used_seeds)
    w.fields["used"] = len(seeds)
    w.fields["used_seeds"] = b64url_encode(b"".join(seeds))


_DUMPERS: Final[tuple[tuple[type, str, Callable[[_Writer, Any, bool], None]], ...]] = (
    (Parameters, PARAMETERS, _dump_parameters),
    (SecretKey, SECRET_KEY, _dump_secret_key),
    (PublicKey, PUBLIC_KEY, _dump_public_key),
    (RelinKeys, RELIN_KEYS, _dump_relin_keys),
    (GaloisKeys, GALOIS_KEYS, _dump_galois_keys),
    (Plaintext, PLAINTEXT, _dump_plaintext),
    (Ciphertext, CIPHERTEXT, _dump_ciphertext),
    (ClientKey, CLIENT_KEY, _dump_client_key),
    (ThresholdShare, THRESHOLD_SHARE, _dump_threshold_share),
)


def handles(obj: object) -> bool:
    """Whether ``obj`` is a BFV object this module serializes."""
    return any(isinstance(obj, cls) for cls, _, _ in _DUMPERS)


def _write(obj: object, include_secret: bool, seeded: bool) -> tuple[str, _Writer]:
    for flag, name in ((include_secret, "include_secret"), (seeded, "seeded")):
        if not isinstance(flag, bool):
            raise ParameterError(f"{name} must be True or False, got {flag!r}")
    if isinstance(obj, SecretKey) and not include_secret:
        raise ParameterError(
            "refusing to serialize a secret key without include_secret=True; share the public "
            "and evaluation keys instead"
        )
    if isinstance(obj, ThresholdShare) and not include_secret:
        raise ParameterError(
            "refusing to serialize a threshold share without include_secret=True: it is a share "
            "of the collective secret key; write it only to its decryptor's own storage"
        )
    if isinstance(obj, ClientKey) and not include_secret:
        raise ParameterError(
            "refusing to serialize a client key without include_secret=True: a client key is "
            "its secret s_j (and the seeds it used); write it only to the client's own storage"
        )
    for cls, kind, dump in _DUMPERS:
        if isinstance(obj, cls):
            writer = _Writer()
            dump(writer, obj, seeded)
            return kind, writer
    raise ParameterError(f"heprim.serialize.bfv cannot serialize a {type(obj).__name__}")


def dumps(obj: object, *, include_secret: bool = False, seeded: bool = True) -> str:
    """The JSON document of a BFV object (see the module for the layouts).

    Args:
        obj: parameters, a key, a plaintext or a ciphertext.
        include_secret: must be ``True`` to write a secret key.
        seeded: store a fresh symmetric ciphertext as ``c_0`` and the seed of ``c_1``.

    Raises:
        ParameterError: a secret key without ``include_secret=True``, or an unsupported type.
    """
    kind, writer = _write(obj, include_secret, seeded)
    return render_document(kind, writer.json_fields())


def dump_bytes(obj: object, *, include_secret: bool = False, seeded: bool = True) -> bytes:
    """The compact binary form of :func:`dumps` (raw ``uint32`` residues after a JSON header)."""
    kind, writer = _write(obj, include_secret, seeded)
    return writer.binary(kind)


# --------------------------------------------------------------------------- loading


def _parameters_from(r: Reader) -> Parameters:
    degree = r.integer("degree", minimum=2, maximum=1 << 17)
    t = r.integer("plain_modulus", minimum=2)
    q = r.int_list("q", minimum=2)
    p = r.int_list("p", minimum=2)
    allow_insecure = r.boolean("allow_insecure")
    fingerprint = r.string("fingerprint")
    if len(q) + len(p) > 128:
        r.fail("too many primes")
    try:
        with warnings.catch_warnings():
            if allow_insecure:  # recorded as deliberate; the user accepted it when creating them
                warnings.simplefilter("ignore", InsecureParametersWarning)
            params = Parameters(
                ParametersLiteral(degree, t, q=tuple(q), p=tuple(p)), allow_insecure=allow_insecure
            )
    except ParameterError as exc:
        r.fail(f"invalid parameters: {exc}")
    if params.fingerprint != fingerprint:
        r.fail("the parameters do not match their recorded fingerprint (tampered data?)")
    return params


def _nested_parameters(r: Reader) -> Parameters:
    sub = Reader(r.mapping("params"), PARAMETERS)
    params = _parameters_from(sub)
    sub.finish()
    return params


def _key_id(r: Reader) -> str:
    value = r.string("key_id")
    if len(value) != 32 or any(c not in "0123456789abcdef" for c in value):
        r.fail('"key_id" must be 32 lowercase hexadecimal digits')
    return value


def _seeds(r: Reader, name: str, count: int) -> list[bytes]:
    """``count`` 32-byte seeds, concatenated in one base64url member."""
    raw = b64url_decode(r.string(name), f'"{name}"')
    if len(raw) != SEED_BYTES * count:
        r.fail(f'"{name}" must hold {count} seeds of {SEED_BYTES} bytes, got {len(raw)} bytes')
    return [raw[i : i + SEED_BYTES] for i in range(0, len(raw), SEED_BYTES)]


def _context(context: object) -> tuple[Parameters, str | None]:
    if isinstance(context, Parameters):
        return context, None
    if isinstance(context, SecretKey | PublicKey | RelinKeys | GaloisKeys):
        return context.params, context.key_id
    if context is None:
        raise ParameterError(
            "loading a BFV plaintext, ciphertext or client key needs its parameters: "
            "loads(text, context=params) (or a key of its key set)"
        )
    raise ParameterError(
        f"context must be bfv.Parameters or a BFV key, got {type(context).__name__}"
    )


def _check_fingerprint(r: Reader, params: Parameters) -> None:
    stated = r.string("params")
    if stated != params.fingerprint:
        raise KeyMismatchError(
            f"the data was made under BFV parameters {stated[:8]}.., not under the given "
            f"parameters {params.fingerprint[:8]}.."
        )


def _load_parameters(r: Reader, b: _Blobs, context: object) -> Parameters:
    return _parameters_from(r)


def _ternary_from(r: Reader, b: _Blobs, params: Parameters, key_id: str) -> SecretKey:
    raw = np.frombuffer(b.get("coefficients", params.degree), dtype=np.uint8)
    if bool((raw > 2).any()):
        r.fail('"coefficients" must hold bytes 0, 1, 2 (a ternary key, shifted by one)')
    return SecretKey(params, raw.astype(np.int8) - 1, key_id)


def _load_secret_key(r: Reader, b: _Blobs, context: object) -> SecretKey:
    params = _nested_parameters(r)
    return _ternary_from(r, b, params, _key_id(r))


def _load_client_key(r: Reader, b: _Blobs, context: object) -> ClientKey:
    params, _ = _context(context)
    _check_fingerprint(r, params)
    secret = _ternary_from(r, b, params, _key_id(r))
    used = r.integer("used", minimum=0)
    seeds = _seeds(r, "used_seeds", used)
    if len(set(seeds)) != len(seeds):
        r.fail(
            '"used_seeds" lists a seed twice: the record was corrupted or edited; restore it '
            "from a backup or rotate the client key"
        )
    if seeds != sorted(seeds):
        r.fail('"used_seeds" must be in increasing order (the canonical form)')
    return ClientKey.from_secret(secret, used_seeds=seeds)


def _load_public_key(r: Reader, b: _Blobs, context: object) -> PublicKey:
    params = _nested_parameters(r)
    key_id = _key_id(r)
    (seed,) = _seeds(r, "seed", 1)
    ring = context_of(params).ring_q(params.max_level)
    shape = (len(ring.moduli), params.degree)
    residues = _residues_from(b.get("b", 4 * shape[0] * shape[1]), shape, ring.moduli, PUBLIC_KEY)
    return PublicKey(params, key_id, ring.from_array(residues, ntt=True), seed)


def _switch_key_shape(
    r: Reader, params: Parameters
) -> tuple[tuple[int, int, int], tuple[int, ...]]:
    if not params.p:
        r.fail("evaluation keys need parameters with special primes")
    ctx = context_of(params)
    ring = ctx.ring_qp(params.max_level)
    return (len(ctx.digits(params.max_level)), len(ring.moduli), params.degree), ring.moduli


def _load_relin_keys(r: Reader, b: _Blobs, context: object) -> RelinKeys:
    params = _nested_parameters(r)
    key_id = _key_id(r)
    shape, moduli = _switch_key_shape(r, params)
    size = 4 * shape[0] * shape[1] * shape[2]
    if not r.has("seed"):  # a collective key: both parts stored whole
        b_part = _residues_from(b.get("b", size), shape, moduli, RELIN_KEYS)
        a_part = _residues_from(b.get("a", size), shape, moduli, RELIN_KEYS)
        data = np.stack([b_part, a_part], axis=1)
        return RelinKeys(CollectiveKeySwitchKey(params, key_id, data))
    (seed,) = _seeds(r, "seed", 1)
    residues = _residues_from(b.get("b", size), shape, moduli, RELIN_KEYS)
    return RelinKeys(KeySwitchKey(params, key_id, residues, seed))


def _load_threshold_share(r: Reader, b: _Blobs, context: object) -> ThresholdShare:
    params, expected_key = _context(context)
    _check_fingerprint(r, params)
    key_id = _key_id(r)
    if expected_key is not None and key_id != expected_key:
        raise KeyMismatchError(
            f"the threshold share belongs to key set {key_id[:8]}.., not to the given key "
            f"{expected_key[:8]}.."
        )
    ctx = context_of(params)  # the key ring: Q P, or Q without special primes
    ring = ctx.ring_qp(params.max_level) if params.p else ctx.ring_q(params.max_level)
    index = r.integer("index", minimum=1, maximum=min(ring.moduli) - 1)
    threshold = r.integer("threshold", minimum=1, maximum=min(ring.moduli) - 1)
    shape = (len(ring.moduli), params.degree)
    value = _residues_from(b.get("value", 4 * shape[0] * shape[1]), shape, ring.moduli, "value")
    return ThresholdShare(params, key_id, index, threshold, ring.from_array(value, ntt=True))


def _load_galois_keys(r: Reader, b: _Blobs, context: object) -> GaloisKeys:
    params = _nested_parameters(r)
    key_id = _key_id(r)
    elements = r.int_list("elements", minimum=3)
    if len(set(elements)) != len(elements) or elements != sorted(elements):
        r.fail('"elements" must be distinct and in increasing order')
    seeds = _seeds(r, "seeds", len(elements))
    shape, moduli = _switch_key_shape(r, params)
    size = 4 * shape[0] * shape[1] * shape[2]
    data = b.get("b", size * len(elements))
    keys: dict[int, KeySwitchKey] = {}
    for i, (element, seed) in enumerate(zip(elements, seeds, strict=True)):
        residues = _residues_from(data[i * size : (i + 1) * size], shape, moduli, GALOIS_KEYS)
        keys[element] = KeySwitchKey(params, key_id, residues, seed)
    return GaloisKeys(params, key_id, keys)


def _load_plaintext(r: Reader, b: _Blobs, context: object) -> Plaintext:
    params, _ = _context(context)
    _check_fingerprint(r, params)
    n = params.degree
    values = _residues_from(
        b.get("coefficients", 4 * n), (1, n), (params.plain_modulus,), PLAINTEXT
    )
    return Plaintext._make(params, values[0].copy())


def _load_ciphertext(r: Reader, b: _Blobs, context: object) -> Ciphertext:
    params, expected_key = _context(context)
    _check_fingerprint(r, params)
    key_id = _key_id(r)
    if expected_key is not None and key_id != expected_key:
        raise KeyMismatchError(
            f"the ciphertext is under key {key_id[:8]}.., not under the given key set "
            f"({expected_key[:8]}..)"
        )
    level = r.integer("level", minimum=1, maximum=params.max_level)
    size = r.integer("size", minimum=2, maximum=MAX_TERMS)
    seed = _seeds(r, "seed", 1)[0] if r.has("seed") else None
    if seed is not None and (size != 2 or level != params.max_level):
        r.fail("only fresh ciphertexts (size 2, top level) are stored seeded")
    ring = context_of(params).ring_q(level)
    stored = 1 if seed is not None else size
    shape = (stored, level, params.degree)
    data = b.get("data", 4 * stored * level * params.degree)
    residues = _residues_from(data, shape, ring.moduli, CIPHERTEXT)
    polys = ring.from_array(residues)
    if seed is not None:
        a = expand_uniform(ring, seed, ()).intt()
        polys = ring.stack([polys[0], a])
    return Ciphertext._make(params, key_id, polys, seed)


_LOADERS: Final[Mapping[str, Callable[[Reader, _Blobs, object], object]]] = {
    PARAMETERS: _load_parameters,
    SECRET_KEY: _load_secret_key,
    PUBLIC_KEY: _load_public_key,
    RELIN_KEYS: _load_relin_keys,
    GALOIS_KEYS: _load_galois_keys,
    PLAINTEXT: _load_plaintext,
    CIPHERTEXT: _load_ciphertext,
    CLIENT_KEY: _load_client_key,
    THRESHOLD_SHARE: _load_threshold_share,
}


def load_document(
    doc: Mapping[str, object], *, context: object = None, payload: bytes | None = None
) -> object:
    """Load a parsed envelope of a BFV type (the shared path of the JSON and binary forms)."""
    kind = doc.get("heprim")
    if not isinstance(kind, str) or kind not in _LOADERS:
        raise SerializationError(
            f"unknown BFV document type {kind!r}; this version reads {', '.join(KINDS)}"
        )
    if context is not None or kind in (PLAINTEXT, CIPHERTEXT, CLIENT_KEY, THRESHOLD_SHARE):
        _context(context)  # a missing or wrong context is the caller's mistake: ParameterError
    return _run_loader(_LOADERS[kind], doc, kind, context, payload)


def _run_loader(
    loader: Callable[[Reader, _Blobs, object], object],
    doc: Mapping[str, object],
    kind: str,
    context: object,
    payload: bytes | None,
) -> object:
    """Run one kind's loader over a parsed document (JSON or binary form): the objects' own
    checks become :class:`SerializationError` (the document breaks an invariant), and every
    bulk member must have been read."""
    reader = Reader(doc, kind)
    blobs = _Blobs(reader, kind, payload)
    try:
        obj = loader(reader, blobs, context)
    except (SerializationError, KeyMismatchError):
        raise
    except ParameterError as exc:
        raise SerializationError(f"{kind}: invalid data: {exc}") from None
    blobs.finish()
    return obj


def _expect(obj: object, expect: type[T] | None) -> object:
    if expect is not None and not isinstance(obj, expect):
        raise SerializationError(
            f"expected a {expect.__name__}, but the document holds a {type(obj).__name__}"
        )
    return obj


@overload
def loads(text: str | bytes, *, context: object = ..., expect: None = ...) -> object: ...
@overload
def loads(text: str | bytes, *, context: object = ..., expect: type[T]) -> T: ...
def loads(text: str | bytes, *, context: object = None, expect: type[T] | None = None) -> object:
    """Load what :func:`dumps` wrote, checking every invariant (see the module).

    Args:
        text: the JSON document.
        context: for plaintexts and ciphertexts, their :class:`~heprim.bfv.params.Parameters` or
            a key of their key set (then the key id is checked too).
        expect: the type the caller wants; anything else raises :class:`SerializationError`.

    Raises:
        SerializationError: malformed or tampered data, an unknown type or version.
        KeyMismatchError: data under other parameters or another key set.
        ParameterError: a plaintext or ciphertext without ``context``.
    """
    doc = parse_document(text)
    return _expect(load_document(doc, context=context), expect)


@overload
def load_bytes(data: bytes, *, context: object = ..., expect: None = ...) -> object: ...
@overload
def load_bytes(data: bytes, *, context: object = ..., expect: type[T]) -> T: ...
def load_bytes(data: bytes, *, context: object = None, expect: type[T] | None = None) -> object:
    """Load what :func:`dump_bytes` wrote (same checks as :func:`loads`)."""
    doc, payload = _split_binary(data)
    kind = doc["heprim"]
    if not isinstance(kind, str) or not kind.startswith("bfv."):
        raise SerializationError(
            f"this binary document holds a {kind!r}, not a BFV object: load it with "
            "heprim.serialize.client_keys.load_bytes"
            if isinstance(kind, str) and kind.startswith("secagg.")
            else f"the binary form holds BFV objects only, not {kind!r}"
        )
    return _expect(load_document(doc, context=context, payload=payload), expect)


def _split_binary(data: bytes) -> tuple[dict[str, object], bytes]:
    """The parsed JSON header and the raw payload of a binary document (:meth:`_Writer.binary`
    layout: ``MAGIC``, header length, header, payload)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SerializationError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    start = len(MAGIC) + _HEADER_LENGTH_BYTES
    if len(data) < start or not data.startswith(MAGIC):
        raise SerializationError("not heprim binary data (wrong magic bytes)")
    length = int.from_bytes(data[len(MAGIC) : start], "big")
    if length > _MAX_HEADER or start + length > len(data):
        raise SerializationError("the binary header length is impossible (truncated data?)")
    return parse_document(data[start : start + length]), data[start + length :]
