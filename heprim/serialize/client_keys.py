"""The state of a client-key BFV aggregation, kept across restarts.

:mod:`heprim.secagg.he_bfv_client_keys` is safe only while two records survive: each client
key's used seeds (a second upload under one common ``a`` reveals the difference of two inputs)
and each decryptor's answered session ids (a second answer, for a smaller set of contributors,
isolates an input). This module stores them, and the public facts a server needs, in the
versioned envelope of :mod:`heprim.serialize.envelope`; the client key itself is the
``bfv.ClientKey`` document of :mod:`heprim.serialize.bfv`. Who keeps what:

* every **client** its ``bfv.ClientKey`` (``include_secret=True``), written again after each
  upload is built and before it is sent;
* every **decryptor** its ``secagg.DecryptorKeyShares`` (``include_secret=True``: the Shamir
  shares of every client's key), written again when it accepted a decryption request, before
  its answer leaves;
* the **server** (and anyone rebuilding parties) the ``secagg.PublicClientKeyDeployment``: no
  secret.

::

    from heprim import serialize

    text = serialize.dumps(deployment.public)              # the server's copy
    public = serialize.loads(text)                         # PublicClientKeyDeployment
    key = serialize.loads(key_text, context=public)         # a client's ClientKey
    shares = serialize.loads(shares_text, context=public)  # a decryptor's shares, checked
    party = public.party(7, key=key)                       # or ClientKeyDeployment.from_parts

Layouts (version 1; residues are little-endian ``uint32`` in NTT form, as in
:mod:`heprim.serialize.bfv`)::

    secagg.DecryptorKeyShares         params (fingerprint), deployment_id (16 bytes), level,
                                      index, threshold, clients (increasing ids),
                                      shares (clients x level x N residues), answered (count),
                                      sessions (16 bytes each, increasing)
                                                                  (only with include_secret)
    secagg.PublicClientKeyDeployment  params (full), deployment_id, clients, decryptors,
                                      share_indices, threshold, upload_level, min_contributors,
                                      max_contributors (absent: every client), allow_insecure

The shares of many clients are large (``clients x level x N x 4`` bytes: 49 MB for 1000
clients at ``N = 4096`` and three primes); :func:`dump_bytes` writes them raw after a JSON
header, as :func:`heprim.serialize.bfv.dump_bytes` does, instead of in base64url.

Loading checks every invariant: residues below their primes, the shapes, client ids in
``[1, 2^32)`` once each and in order, session ids of 16 bytes once each and in order, the share
index below every prime, the parameters against their fingerprint, and the smudging floor of
the deployment (the checks of
:meth:`~heprim.secagg.he_bfv_client_keys.ClientKeyDeployment.generate`). Failures are
:class:`~heprim.errors.SerializationError`; shares under other parameters or of another
deployment :class:`~heprim.errors.KeyMismatchError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Final, TypeVar, overload

from heprim.bfv.context import context_of
from heprim.bfv.params import Parameters
from heprim.errors import (
    InsecureParametersWarning,
    KeyMismatchError,
    ParameterError,
    SerializationError,
)
from heprim.secagg.he_bfv_client_keys import (
    DEPLOYMENT_ID_BYTES,
    ClientKeyDeployment,
    DecryptorKeyShares,
    PublicClientKeyDeployment,
)
from heprim.secagg.messages import SESSION_BYTES
from heprim.serialize.bfv import (
    _Blobs,
    _expect,
    _nested_parameters,
    _params_fields,
    _residue_bytes,
    _residues_from,
    _run_loader,
    _split_binary,
    _Writer,
)
from heprim.serialize.envelope import (
    Reader,
    b64url_decode,
    b64url_encode,
    parse_document,
    render_document,
)

__all__ = ["KINDS", "dump_bytes", "dumps", "handles", "load_bytes", "load_document", "loads"]

T = TypeVar("T")

DECRYPTOR_KEY_SHARES: Final = "secagg.DecryptorKeyShares"
PUBLIC_DEPLOYMENT: Final = "secagg.PublicClientKeyDeployment"
KINDS: Final = (DECRYPTOR_KEY_SHARES, PUBLIC_DEPLOYMENT)

_MAX_PARTY: Final = 2**32 - 1


def handles(obj: object) -> bool:
    """Whether ``obj`` is client-key deployment state this module serializes (a whole
    :class:`~heprim.secagg.he_bfv_client_keys.ClientKeyDeployment` is refused with advice)."""
    return isinstance(obj, DecryptorKeyShares | PublicClientKeyDeployment | ClientKeyDeployment)


# --------------------------------------------------------------------------- dumping


def _dump_shares(w: _Writer, shares: DecryptorKeyShares) -> None:
    if shares.deployment_id is None:
        raise ParameterError(
            "these DecryptorKeyShares do not know their deployment id: build them with "
            "ClientKeyDeployment.generate or pass deployment_id= to DecryptorKeyShares"
        )
    clients = sorted(shares.clients)
    sessions = sorted(shares.answered_sessions)
    w.fields["params"] = shares.params.fingerprint
    w.fields["deployment_id"] = b64url_encode(shares.deployment_id)
    w.fields["level"] = shares.level
    w.fields["index"] = shares.index
    w.fields["threshold"] = shares.threshold
    w.fields["clients"] = clients
    w.blob("shares", b"".join(_residue_bytes(shares.share(j).data) for j in clients))
    w.fields["answered"] = len(sessions)
    w.fields["sessions"] = b64url_encode(b"".join(sessions))


def _dump_public(w: _Writer, public: PublicClientKeyDeployment) -> None:
    decryptors = sorted(public.decryptors)
    w.fields["params"] = _params_fields(public.params)
    w.fields["deployment_id"] = b64url_encode(public.deployment_id)
    w.fields["clients"] = sorted(public.clients)
    w.fields["decryptors"] = decryptors
    w.fields["share_indices"] = [public.decryptors[p] for p in decryptors]
    w.fields["threshold"] = public.threshold
    w.fields["upload_level"] = public.upload_level
    w.fields["min_contributors"] = public.min_contributors
    if public.max_contributors is not None:
        w.fields["max_contributors"] = public.max_contributors
    w.fields["allow_insecure"] = public.allow_insecure


def _write(obj: object, include_secret: bool) -> tuple[str, _Writer]:
    if not isinstance(include_secret, bool):
        raise ParameterError(f"include_secret must be True or False, got {include_secret!r}")
    writer = _Writer()
    if isinstance(obj, DecryptorKeyShares):
        if not include_secret:
            raise ParameterError(
                "refusing to serialize DecryptorKeyShares without include_secret=True: they "
                "hold Shamir shares of every client's key; write them only to the decryptor's "
                "own storage"
            )
        _dump_shares(writer, obj)
        return DECRYPTOR_KEY_SHARES, writer
    if isinstance(obj, PublicClientKeyDeployment):
        _dump_public(writer, obj)
        return PUBLIC_DEPLOYMENT, writer
    if isinstance(obj, ClientKeyDeployment):
        raise ParameterError(
            "a ClientKeyDeployment is the state of every party at once; store each party's "
            "part where it lives: dumps(deployment.public) for the server, "
            "dumps(deployment.keys[j], include_secret=True) for client j and "
            "dumps(deployment.shares[i], include_secret=True) for decryptor i (rebuild with "
            "ClientKeyDeployment.from_parts)"
        )
    raise ParameterError(f"heprim.serialize.client_keys cannot serialize a {type(obj).__name__}")


def dumps(obj: object, *, include_secret: bool = False) -> str:
    """The JSON document of a decryptor's key shares or of a deployment's public facts.

    Args:
        obj: :class:`~heprim.secagg.he_bfv_client_keys.DecryptorKeyShares` or
            :class:`~heprim.secagg.he_bfv_client_keys.PublicClientKeyDeployment`.
        include_secret: must be ``True`` to write key shares.

    Raises:
        ParameterError: key shares without ``include_secret=True`` or without their deployment
            id, a whole ``ClientKeyDeployment`` (store its parts), or another type.
    """
    kind, writer = _write(obj, include_secret)
    return render_document(kind, writer.json_fields())


def dump_bytes(obj: object, *, include_secret: bool = False) -> bytes:
    """The compact binary form of :func:`dumps` (raw ``uint32`` residues after a JSON header)."""
    kind, writer = _write(obj, include_secret)
    return writer.binary(kind)


# --------------------------------------------------------------------------- loading


def _context(context: object) -> tuple[Parameters, PublicClientKeyDeployment | None]:
    if isinstance(context, Parameters):
        return context, None
    if isinstance(context, PublicClientKeyDeployment | ClientKeyDeployment):
        public = context if isinstance(context, PublicClientKeyDeployment) else context.public
        return public.params, public
    if context is None:
        raise ParameterError(
            "loading DecryptorKeyShares needs their parameters: loads(text, context=params), or "
            "context=public_deployment to check the deployment too"
        )
    raise ParameterError(
        "context must be bfv.Parameters or a PublicClientKeyDeployment, got "
        f"{type(context).__name__}"
    )


def _deployment_id(r: Reader) -> bytes:
    raw = b64url_decode(r.string("deployment_id"), '"deployment_id"')
    if len(raw) != DEPLOYMENT_ID_BYTES:
        r.fail(f'"deployment_id" must be {DEPLOYMENT_ID_BYTES} bytes, got {len(raw)}')
    return raw


def _ids(r: Reader, name: str) -> list[int]:
    """Party ids in ``[1, 2^32)``, each once, in increasing order."""
    ids = r.int_list(name, minimum=1)
    if not ids:
        r.fail(f'"{name}" must name at least one party')
    if max(ids) > _MAX_PARTY:
        r.fail(f'"{name}" holds {max(ids)}, beyond the party ids [1, 2^32)')
    if len(set(ids)) != len(ids):
        r.fail(f'"{name}" names a party twice')
    if ids != sorted(ids):
        r.fail(f'"{name}" must be in increasing order (the canonical form)')
    return ids


def _sessions(r: Reader) -> list[bytes]:
    count = r.integer("answered", minimum=0)
    raw = b64url_decode(r.string("sessions"), f'{DECRYPTOR_KEY_SHARES}: "sessions"')
    if len(raw) != SESSION_BYTES * count:
        r.fail(
            f'"sessions" must hold {count} session ids of {SESSION_BYTES} bytes, got '
            f"{len(raw)} bytes"
        )
    sessions = [raw[i : i + SESSION_BYTES] for i in range(0, len(raw), SESSION_BYTES)]
    if len(set(sessions)) != len(sessions):
        r.fail(
            '"sessions" lists a session id twice: the record was corrupted or edited; restore '
            "it from a backup or rotate the deployment"
        )
    if sessions != sorted(sessions):
        r.fail('"sessions" must be in increasing order (the canonical form)')
    return sessions


def _load_shares(r: Reader, b: _Blobs, context: object) -> DecryptorKeyShares:
    params, public = _context(context)
    stated = r.string("params")
    if stated != params.fingerprint:
        raise KeyMismatchError(
            f"the key shares were made under BFV parameters {stated[:8]}.., not under the given "
            f"parameters {params.fingerprint[:8]}.."
        )
    deployment_id = _deployment_id(r)
    if public is not None and deployment_id != public.deployment_id:
        raise KeyMismatchError(
            f"the key shares belong to deployment {deployment_id.hex()[:8]}.., not to the given "
            f"deployment {public.deployment_id.hex()[:8]}.."
        )
    level = r.integer("level", minimum=1, maximum=params.max_level)
    ring = context_of(params).ring_q(level)
    index = r.integer("index", minimum=1, maximum=min(ring.moduli) - 1)
    threshold = r.integer("threshold", minimum=1)
    clients = _ids(r, "clients")
    shape = (len(clients), level, params.degree)
    data = b.get("shares", 4 * shape[0] * shape[1] * shape[2])
    residues = _residues_from(data, shape, ring.moduli, DECRYPTOR_KEY_SHARES)
    sessions = _sessions(r)
    elements = {j: ring.from_array(residues[k], ntt=True) for k, j in enumerate(clients)}
    shares = DecryptorKeyShares(
        params,
        index,
        threshold,
        level,
        elements,
        answered=sessions,
        deployment_id=deployment_id,
    )
    if public is not None:
        owners = [p for p, i in public.decryptors.items() if i == index]
        if not owners:
            raise KeyMismatchError(
                f"no decryptor of the given deployment holds share index {index}"
            )
        try:
            public.check_shares(owners[0], shares)
        except ParameterError as exc:
            raise KeyMismatchError(
                f"the key shares do not fit the given deployment: {exc}"
            ) from None
    return shares


def _load_public(r: Reader, b: _Blobs, context: object) -> PublicClientKeyDeployment:
    params = _nested_parameters(r)
    if context is not None:
        given, _ = _context(context)
        if given != params:
            raise KeyMismatchError(
                f"the deployment uses BFV parameters {params.fingerprint[:8]}.., not the given "
                f"parameters {given.fingerprint[:8]}.."
            )
    deployment_id = _deployment_id(r)
    clients = _ids(r, "clients")
    decryptors = _ids(r, "decryptors")
    indices = r.int_list("share_indices", minimum=1)
    if len(indices) != len(decryptors):
        r.fail(f'"share_indices" must give one index per decryptor ({len(decryptors)})')
    threshold = r.integer("threshold", minimum=1, maximum=len(decryptors))
    upload_level = r.integer("upload_level", minimum=1, maximum=params.max_level)
    min_contributors = r.integer("min_contributors", minimum=1)
    max_contributors = (
        r.integer("max_contributors", minimum=1) if r.has("max_contributors") else None
    )
    allow_insecure = r.boolean("allow_insecure")
    with warnings.catch_warnings():
        if allow_insecure:  # recorded as deliberate; the deployment warned when it was made
            warnings.simplefilter("ignore", InsecureParametersWarning)
        return PublicClientKeyDeployment(
            params,
            deployment_id,
            frozenset(clients),
            dict(zip(decryptors, indices, strict=True)),
            threshold,
            upload_level,
            min_contributors,
            max_contributors,
            allow_insecure,
        )


_LOADERS: Final[Mapping[str, Callable[[Reader, _Blobs, object], object]]] = {
    DECRYPTOR_KEY_SHARES: _load_shares,
    PUBLIC_DEPLOYMENT: _load_public,
}


def load_document(
    doc: Mapping[str, object], *, context: object = None, payload: bytes | None = None
) -> object:
    """Load a parsed envelope of a client-key deployment type (JSON or binary form).

    Args:
        doc: the parsed envelope.
        context: for key shares (required), their :class:`~heprim.bfv.params.Parameters` or the
            :class:`~heprim.secagg.he_bfv_client_keys.PublicClientKeyDeployment` (then the
            deployment id, share index, threshold, level and clients are checked too); for a
            public deployment (optional), the parameters it must use.
        payload: the raw bytes after the header of the binary form.
    """
    kind = doc.get("heprim")
    if not isinstance(kind, str) or kind not in _LOADERS:
        raise SerializationError(
            f"unknown client-key document type {kind!r}; this version reads {', '.join(KINDS)}"
        )
    if context is not None or kind == DECRYPTOR_KEY_SHARES:
        _context(context)  # a missing or wrong context is the caller's mistake: ParameterError
    return _run_loader(_LOADERS[kind], doc, kind, context, payload)


@overload
def loads(text: str | bytes, *, context: object = ..., expect: None = ...) -> object: ...
@overload
def loads(text: str | bytes, *, context: object = ..., expect: type[T]) -> T: ...
def loads(text: str | bytes, *, context: object = None, expect: type[T] | None = None) -> object:
    """Load what :func:`dumps` wrote, checking every invariant (see the module).

    Raises:
        SerializationError: malformed or tampered data, an unknown type or version, a
            deployment below the smudging floor.
        KeyMismatchError: key shares under other parameters or of another deployment.
        ParameterError: key shares without ``context``.
    """
    return _expect(load_document(parse_document(text), context=context), expect)


@overload
def load_bytes(data: bytes, *, context: object = ..., expect: None = ...) -> object: ...
@overload
def load_bytes(data: bytes, *, context: object = ..., expect: type[T]) -> T: ...
def load_bytes(data: bytes, *, context: object = None, expect: type[T] | None = None) -> object:
    """Load what :func:`dump_bytes` wrote (same checks as :func:`loads`)."""
    doc, payload = _split_binary(data)
    kind = doc["heprim"]
    if kind not in KINDS:
        raise SerializationError(
            f"this binary document holds a {kind!r}; heprim.serialize.client_keys reads "
            f"{', '.join(KINDS)} (BFV objects: heprim.serialize.bfv.load_bytes)"
        )
    return _expect(load_document(doc, context=context, payload=payload), expect)
