"""Multiparty-BFV aggregation with client keys: one polynomial per upload.

The HE aggregation of :mod:`heprim.secagg.he_aggregation`, with the keys of the additive key
homomorphism of Mouchet, Troncoso-Pastoriza, Bossuat and Hubaux (PETS 2021, "MTBH"): the
collective public-key generation share of Protocol 1 with a message added.

* **Setup, once** (:meth:`ClientKeyDeployment.generate`): every client ``j`` draws its own
  ternary secret ``s_j`` (:class:`~heprim.bfv.multiparty.ClientKey`) and Shamir-shares it
  t-of-n to the decryptors modulo the upload modulus ``Q_l`` (MTBH sec. 5, as the decryptors'
  own shares of :mod:`heprim.bfv.multiparty`): one polynomial of ``l`` residues per decryptor,
  over a private channel (:meth:`ClientKeyDeployment.setup_bytes_per_client`). In process here,
  like :meth:`~heprim.secagg.he_bfv.BFVDeployment.generate`.
* **Common a**: for session ``sid`` and chunk ``k`` everybody derives the same uniform
  ``a_{sid,k}``, expanded (AES-CTR :class:`~heprim.math.prng.KeyedPRNG`, directly in NTT form
  modulo ``Q_l``) from ``SHA-256("heprim.secagg.he_bfv_client_keys" || deployment id || sid ||
  k)`` (:func:`chunk_seed`). Nobody sends it; the server cannot choose it.
* **Input round**: client ``j`` uploads only, for every chunk of ``N`` slots,

      c0_j = -a_{sid,k} s_j + round(Q_l m_j / t) + e_j   (mod Q_l),

  an RLWE sample with a public ``a`` (a symmetric BFV encryption whose ``c_1`` is the common
  expansion), encrypted directly at the upload level: no modulus switch. The server adds the
  ``c0`` of the contributors ``S``: ``(sum c0_j, a)`` is a BFV ciphertext under
  ``s_S = sum_{j in S} s_j``.
* **Decrypt round**: the server sends the contributors (no polynomial); each decryptor checks
  them and answers *ready*; the server picks ``t`` ready decryptors ``T`` and each sends
  ``d_i = lambda_i^T (sum_{j in S} share_i(s_j)) a + e_smg,i`` (smudging exactly as
  :func:`~heprim.bfv.multiparty.decryption_share`). ``sum c0 + sum d_i = Delta M + sum e_j +
  sum e_smg`` rounds to the sum ``M``.

**Why.** The aggregate's noise is only the fresh errors and encoding roundings
(:func:`~heprim.bfv.multiparty.client_noise_bound`): no ``e u`` term, no modulus-switch term.
With the smudging margin ``log2 Q_l > log2(3t) + log2|T| + log2 N + log2 B + lambda - 1`` the
default :func:`~heprim.secagg.he_bfv.aggregation_parameters` (``N = 4096``) reach
``lambda = 44`` for 100 clients at three 30-bit primes: ONE polynomial of 90 bits per slot,
2.8x a float32 (2.9x with the padding of 100,000 values in 25 ciphertexts), against two
polynomials (5.6x) for the collective public key of :mod:`heprim.secagg.he_bfv`. The price is
the one-time setup and the per-client key state the decryptors keep.

**Security facts.**

* RLWE with one secret and a fresh public ``a`` per (session, chunk) is plain RLWE. A client
  must never encrypt twice under one ``(sid, k)``: two ``c0`` with one ``a`` reveal
  ``Delta (m - m') + e - e'``. The :class:`~heprim.bfv.multiparty.ClientKey` keeps every seed
  it used and refuses a reuse (:class:`~heprim.errors.ProtocolError`).
* A decryptor answers at most ONE decryption request per session id over the deployment's
  lifetime (:class:`DecryptorKeyShares` remembers them): otherwise the server could ask for
  ``S`` and ``S \\ {j}`` and isolate ``m_j``. It refuses sums of fewer than
  ``min_contributors`` inputs and contributors that are not registered clients.
* Smudging hides the aggregate's noise ``sum e_j`` (from which, with the ``c0``, ``a s_S`` and
  then ``s_S`` would follow: with sums over different sets, single keys) up to a distance
  ``2^-lambda``; ``lambda >= 40`` (:data:`~heprim.bfv.multiparty.SMUDGING_SECURITY_FLOOR`) is
  checked by the deployment, the server and every decryptor, or warned with
  ``allow_insecure=True``.
* Trust: ``t`` colluding decryptors can rebuild any ``s_j`` and decrypt that client's uploads
  (as ``t`` decryptors can decrypt any upload under the collective key); the server alone
  learns only the sum, the contributors and the sizes. Semi-honest server, as in the rest of
  the HE aggregation.

**State across restarts.** The two records above (a client key's used seeds, a decryptor's
answered sessions) must outlive the process: store each party's part with
:mod:`heprim.serialize` (:mod:`heprim.serialize.client_keys`) before the message that depends
on it leaves, the server the :attr:`ClientKeyDeployment.public` facts, and rebuild with
:meth:`ClientKeyDeployment.from_parts` or :meth:`PublicClientKeyDeployment.party`.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import ClassVar, Final

import numpy as np
import numpy.typing as npt

from heprim.bfv import multiparty
from heprim.bfv.context import context_of
from heprim.bfv.encoder import BatchEncoder, Plaintext
from heprim.bfv.params import Parameters
from heprim.errors import (
    InsecureParametersWarning,
    ParameterError,
    ProtocolError,
)
from heprim.math.prng import PRNG, default_rng
from heprim.ring import RingElement
from heprim.ring.modarith import mul_scalars
from heprim.secagg.he_aggregation import (
    HEPartyStage,
    HESessionConfig,
)
from heprim.secagg.he_bfv import BFVPartyBase, BFVServerBase, check_fit, residue_bits
from heprim.secagg.he_messages import (
    FINGERPRINT_BYTES,
    BFVClientKeyDecryptRequest,
    BFVDecryptionShare,
    BFVDecryptReady,
    BFVEncryptedInput,
    BFVSetup,
    BFVShareRequest,
    PolyBlock,
)
from heprim.secagg.messages import SERVER, SESSION_BYTES, Message

__all__ = [
    "DEPLOYMENT_ID_BYTES",
    "ClientKeyDeployment",
    "ClientKeyParty",
    "ClientKeyServer",
    "DecryptorKeyShares",
    "PublicClientKeyDeployment",
    "chunk_seed",
]

U64 = npt.NDArray[np.uint64]
_DOMAIN: Final = b"heprim.secagg.he_bfv_client_keys"
_TRANSPORT_BITS: Final = 64
#: Length of the random deployment id that separates the common ``a`` of two deployments.
DEPLOYMENT_ID_BYTES: Final = 16


def chunk_seed(deployment_id: bytes, session: bytes, chunk: int) -> bytes:
    """The 32-byte seed of ``a_{sid,k}``: ``SHA-256(domain || deployment id || sid || k)``."""
    if isinstance(chunk, bool) or not isinstance(chunk, int) or not 0 <= chunk < 2**32:
        raise ParameterError(f"a chunk index is an integer in [0, 2^32), got {chunk!r}")
    digest = hashlib.sha256(_DOMAIN)
    digest.update(bytes(deployment_id))
    digest.update(bytes(session))
    digest.update(chunk.to_bytes(4, "big"))
    return digest.digest()


def _seeds(deployment_id: bytes, session: bytes, count: int) -> list[bytes]:
    return [chunk_seed(deployment_id, session, k) for k in range(count)]


def _fingerprint(params: Parameters, deployment_id: bytes, level: int) -> bytes:
    digest = hashlib.sha256(_DOMAIN + b".deployment")
    digest.update(params.fingerprint.encode() + bytes(deployment_id) + bytes([level]))
    return digest.digest()[:FINGERPRINT_BYTES]


def _smudging(
    params: Parameters, level: int, contributors: int, threshold: int
) -> tuple[int, float]:
    """``(b, lambda)``: the decryptors' smudging width and its statistical security."""
    bound = multiparty.client_noise_bound(params, summands=contributors, level=level)
    bits = multiparty.max_smudging_bits(params, level, bound, threshold)
    return bits, multiparty.smudging_security(params, bits, bound)


def _security_at(params: Parameters, level: int, contributors: int, threshold: int) -> float:
    try:
        return _smudging(params, level, contributors, threshold)[1]
    except ParameterError:
        return float("-inf")


def _cheapest_level(params: Parameters, contributors: int, threshold: int) -> int:
    """The fewest primes whose smudging reaches the floor (every prime when none does: the
    check then explains)."""
    floor = multiparty.SMUDGING_SECURITY_FLOOR
    for level in range(1, params.max_level + 1):
        if _security_at(params, level, contributors, threshold) >= floor:
            return level
    return params.max_level


def _check_security(
    params: Parameters, level: int, contributors: int, threshold: int, *, allow_insecure: bool
) -> float:
    better = _cheapest_level(params, contributors, threshold)
    floor = multiparty.SMUDGING_SECURITY_FLOOR
    where = (
        f"upload_level={better}"
        if better > level and _security_at(params, better, contributors, threshold) >= floor
        else "a larger modulus"
    )
    return multiparty.check_smudging_security(
        _security_at(params, level, contributors, threshold),
        allow_insecure=allow_insecure,
        what=f"a sum of {contributors} client-key inputs at {level} primes",
        advice=f"try {where}, or fewer participants per session",
    )


def _positive(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"{what} must be a positive integer, got {value!r}")
    return value


class DecryptorKeyShares:
    """A decryptor's Shamir shares of every registered client's key, and its answered sessions.

    Args:
        params: the parameter set.
        index: the decryptor's share index ``i`` (the evaluation point).
        threshold: ``t``, how many decryptors open a sum.
        level: the upload level; the shares live modulo ``Q_l``, in NTT form.
        shares: client id -> ``share_i(s_j)``.
        answered: the session ids answered before (when the record is restored from storage).
        deployment_id: the deployment the shares belong to (recorded by
            :meth:`ClientKeyDeployment.generate`; :mod:`heprim.serialize` stores it).

    The object outlives sessions: :meth:`claim` records every session id the decryptor has
    answered, so that a second request for one (e.g. for ``S`` then ``S \\ {j}``) is refused.
    Keep that record across restarts with :mod:`heprim.serialize` (kind
    ``secagg.DecryptorKeyShares``, written after every answered session).
    """

    __slots__ = (
        "_answered",
        "_shares",
        "deployment_id",
        "index",
        "level",
        "params",
        "threshold",
    )

    def __init__(
        self,
        params: Parameters,
        index: int,
        threshold: int,
        level: int,
        shares: Mapping[int, RingElement],
        *,
        answered: Iterable[bytes] = (),
        deployment_id: bytes | None = None,
    ) -> None:
        if not isinstance(params, Parameters):
            raise ParameterError(f"params must be bfv.Parameters, got {type(params).__name__}")
        self.params = params
        self.index = _positive(index, "a share index")
        self.threshold = _positive(threshold, "the threshold")
        self.level = context_of(params).check_level(level)
        ring = context_of(params).ring_q(level)
        for client, share in shares.items():
            if not isinstance(share, RingElement) or share.ring != ring or share.shape != ():
                raise ParameterError(f"client {client}'s share is not one element of R_Q_l")
        self._shares = MappingProxyType({int(j): s.ntt() for j, s in shares.items()})
        self._answered: set[bytes] = set()
        for session in answered:
            if not isinstance(session, bytes) or len(session) != SESSION_BYTES:
                raise ParameterError(f"an answered session id is {SESSION_BYTES} bytes")
            self._answered.add(session)
        if deployment_id is not None and (
            not isinstance(deployment_id, bytes) or len(deployment_id) != DEPLOYMENT_ID_BYTES
        ):
            raise ParameterError(f"a deployment id is {DEPLOYMENT_ID_BYTES} bytes")
        self.deployment_id = deployment_id

    def __repr__(self) -> str:
        return (
            f"DecryptorKeyShares(index={self.index}, t={self.threshold}, "
            f"clients={len(self._shares)}, answered={len(self._answered)})"
        )

    @property
    def clients(self) -> frozenset[int]:
        """The registered clients (those whose keys this decryptor holds a share of)."""
        return frozenset(self._shares)

    @property
    def answered_sessions(self) -> frozenset[bytes]:
        """Every session id this decryptor answered (what must survive a restart)."""
        return frozenset(self._answered)

    def share(self, client: int) -> RingElement:
        """``share_i(s_j)`` of registered client ``client`` (NTT form modulo ``Q_l``)."""
        if client not in self._shares:
            raise ParameterError(f"client {client!r} is not registered at this decryptor")
        return self._shares[client]

    def answered(self, session: bytes) -> bool:
        """Whether a decryption request of ``session`` was already accepted."""
        return bytes(session) in self._answered

    def claim(self, session: bytes) -> None:
        """Record that this decryptor answers ``session``; refuse a second time."""
        if self.answered(session):
            raise ProtocolError(
                "this decryptor already answered a decryption request for this session id: a "
                "second answer (e.g. for a smaller set of contributors) could isolate an input"
            )
        self._answered.add(bytes(session))

    def additive_share(self, contributors: Sequence[int], active: Sequence[int]) -> RingElement:
        """``lambda_i^T sum_{j in S} share_i(s_j)`` for the contributors ``S`` and the active
        set ``T`` of ``t`` share indices: the ``t`` results add up to ``s_S``."""
        missing = set(contributors) - set(self._shares)
        if missing:
            raise ProtocolError(f"clients {sorted(missing)} are not registered at this decryptor")
        if len(set(active)) != self.threshold or len(active) != self.threshold:
            raise ProtocolError(f"the active set must hold exactly t = {self.threshold} indices")
        ring = context_of(self.params).ring_q(self.level)
        total = ring.zero(ntt=True)
        for j in contributors:
            total = total + self._shares[j]
        scalars = [multiparty.lagrange_at_zero(self.index, active, q) for q in ring.moduli]
        return ring.from_array(mul_scalars(total.data, scalars, ring.moduli), ntt=True)


class ClientKeyServer(BFVServerBase):
    """The server of a client-key BFV aggregation (see the module docstring).

    Args:
        config: the session; its participants must be registered clients.
        params: the parameters of the deployment.
        deployment_id: the deployment's public id (the common ``a`` derive from it).
        clients: the registered clients.
        upload_level: the primes of the uploads.
        allow_insecure: accept a session whose smudging security is below the floor (warns).

    Raises:
        ParameterError: unregistered participants, a plain modulus too small for the sum, or a
            smudging security below the floor for the session's participants.
    """

    def __init__(
        self,
        config: HESessionConfig,
        params: Parameters,
        deployment_id: bytes,
        *,
        clients: frozenset[int],
        upload_level: int,
        allow_insecure: bool = False,
    ) -> None:
        super().__init__(config)
        if not isinstance(params, Parameters):
            raise ParameterError(f"params must be bfv.Parameters, got {type(params).__name__}")
        context_of(params).check_level(upload_level)
        strangers = set(config.participants) - set(clients)
        if strangers:
            raise ParameterError(
                f"participants {sorted(strangers)[:10]} have no registered client key: register "
                "them with the deployment's setup (ClientKeyDeployment.generate)"
            )
        check_fit(params, config.encoding, len(config.participants))
        _check_security(
            params,
            upload_level,
            len(config.participants),
            config.threshold,
            allow_insecure=allow_insecure,
        )
        self.params = params
        self.deployment_id = bytes(deployment_id)
        self.upload_level = upload_level
        self._layout(params, upload_level, polys=1)

    def _setup_factory(self) -> Callable[..., Message]:
        return partial(
            BFVSetup,
            key_fingerprint=_fingerprint(self.params, self.deployment_id, self.upload_level),
            min_contributors=self.config.min_contributors,
            upload_level=self.upload_level,
        )

    def _decrypt_request(
        self, aggregate: U64, contributors: tuple[int, ...]
    ) -> Callable[[bytes, int, int], Message]:
        return lambda session, sender, party: BFVClientKeyDecryptRequest(
            session, sender, party, contributors
        )

    def _open_chunk(self, k: int, aggregate: U64, shares: list[U64]) -> Plaintext:
        ring = context_of(self.params).ring_q(self.upload_level)
        c0 = ring.from_array(aggregate[k, 0])
        parts = [ring.from_array(d) for d in shares]
        return multiparty.combine_common_a_decryption(self.params, c0, parts)


class ClientKeyParty(BFVPartyBase[BFVClientKeyDecryptRequest]):
    """A client of a client-key BFV aggregation, a decryptor, or both.

    Args:
        party_id: the party's id, in ``[1, 2^32)``.
        params: the deployment's parameters.
        deployment_id: the deployment's public id (from the setup, never from the server).
        upload_level: the deployment's upload level.
        key: this party's :class:`~heprim.bfv.multiparty.ClientKey` if it is a client.
        shares: this party's :class:`DecryptorKeyShares` if it decrypts.
        min_contributors: as a decryptor, never open a sum of fewer inputs than this.
        allow_insecure: as a decryptor, accept a setup whose smudging security is below the
            floor (only when this party's own deployment opted in).
        rng: randomness of the encryption, the quantisation and the smudging.
    """

    def __init__(
        self,
        party_id: int,
        params: Parameters,
        deployment_id: bytes,
        *,
        upload_level: int,
        key: multiparty.ClientKey | None = None,
        shares: DecryptorKeyShares | None = None,
        min_contributors: int = 2,
        allow_insecure: bool = False,
        rng: PRNG | None = None,
    ) -> None:
        super().__init__(
            party_id,
            BFVClientKeyDecryptRequest,
            min_contributors=min_contributors,
            allow_insecure=allow_insecure,
            rng=rng,
        )
        if not isinstance(params, Parameters):
            raise ParameterError(f"params must be bfv.Parameters, got {type(params).__name__}")
        if key is not None and (not isinstance(key, multiparty.ClientKey) or key.params != params):
            raise ParameterError("key must be a bfv.multiparty.ClientKey of these parameters")
        if shares is not None and (
            not isinstance(shares, DecryptorKeyShares)
            or shares.params != params
            or shares.level != upload_level
        ):
            raise ParameterError("shares must be DecryptorKeyShares at the upload level")
        self.params = params
        self.deployment_id = bytes(deployment_id)
        self.upload_level = context_of(params).check_level(upload_level)
        self._key = key
        self._shares = shares

    @property
    def is_decryptor(self) -> bool:
        """Whether this party holds key shares."""
        return self._shares is not None

    def _on_setup(self, m: BFVSetup) -> list[Message]:
        params = self.params
        if m.key_fingerprint != _fingerprint(params, self.deployment_id, self.upload_level):
            raise ProtocolError(
                "the server announced another deployment (or upload level) than this party's: "
                "refusing to take part"
            )
        participants, holders = self._setup_roles(m.participants, m.decryptors)
        if self.id not in participants and self.id not in holders:
            raise ProtocolError(f"party {self.id} has no role in this session")
        if m.dim < 1:
            raise ProtocolError("the setup's dimension is out of range")
        try:
            check_fit(params, m.encoding, len(participants))
        except ParameterError as exc:
            raise ProtocolError(str(exc)) from exc
        shares = self._shares
        if shares is not None:
            self._check_as_decryptor(m, participants, holders, shares)
        elif self.id in holders:
            raise ProtocolError(f"the setup lists party {self.id} as a decryptor without shares")
        out: list[Message] = []
        if self.id in participants:
            if self._key is None:
                raise ProtocolError(f"party {self.id} is a participant without a client key")
            out.append(self._encrypt_input(m))
        self._setup, self._session = m, m.session
        self.stage = HEPartyStage.AWAIT_REQUEST if shares is not None else HEPartyStage.DONE
        return out

    def _check_as_decryptor(
        self,
        m: BFVSetup,
        participants: set[int],
        holders: dict[int, int],
        shares: DecryptorKeyShares,
    ) -> None:
        if holders.get(self.id) != shares.index:
            raise ProtocolError(
                f"party {self.id} holds share {shares.index} but the setup lists it as "
                f"{holders.get(self.id)}"
            )
        if m.threshold != shares.threshold:
            raise ProtocolError(f"the setup says t = {m.threshold}, the shares {shares.threshold}")
        if m.min_contributors < self._min_contributors:
            raise ProtocolError(
                f"the session would open sums of {m.min_contributors} inputs; this decryptor "
                f"requires at least {self._min_contributors}"
            )
        strangers = participants - shares.clients
        if strangers:
            raise ProtocolError(f"participants {sorted(strangers)[:10]} are not registered clients")
        if shares.answered(m.session):
            raise ProtocolError("this decryptor already answered this session id")
        try:  # the decryptor's own floor, from public facts only
            _check_security(
                self.params,
                self.upload_level,
                len(participants),
                m.threshold,
                allow_insecure=self._allow_insecure,
            )
        except ParameterError as exc:
            raise ProtocolError(f"decryptor {self.id} refuses the setup: {exc}") from exc

    def _encrypt_input(self, m: BFVSetup) -> BFVEncryptedInput:
        key = self._key
        if key is None:  # pragma: no cover - checked by the caller
            raise ProtocolError("no client key")
        params = self.params
        slots, level = params.degree, self.upload_level
        length = m.encoding.length(m.dim)
        count = -(-length // slots)
        seeds = _seeds(self.deployment_id, m.session, count)
        if any(key.has_used(seed) for seed in seeds):  # before the input is consumed
            raise ProtocolError(
                f"party {self.id} already encrypted under this session id: a second upload "
                "with the same common a would reveal the difference of the two inputs"
            )
        values, weight = self._take_input()
        words = m.encoding.encode(values, _TRANSPORT_BITS, weight=weight, rng=self._rng)
        if words.shape[0] != length:
            raise ParameterError(
                f"party {self.id}'s input has {words.shape[0]} coordinates once encoded, the "
                f"session expects {length}"
            )
        padded = np.zeros(count * slots, dtype=np.int64)
        padded[:length] = words.astype(np.int64)
        encoder = BatchEncoder(params)
        plaintexts = [encoder.encode(padded[k * slots : (k + 1) * slots]) for k in range(count)]
        c0 = key.encrypt(plaintexts, seeds, level=level, rng=self._rng)
        block = PolyBlock(c0.data.reshape(count, 1, level, slots), residue_bits(params, level))
        return BFVEncryptedInput(m.session, self.id, SERVER, block)

    def _on_request(self, m: BFVClientKeyDecryptRequest) -> list[Message]:
        setup, shares = self._setup, self._shares
        if setup is None or shares is None:  # pragma: no cover - stage order
            raise ProtocolError("no setup received")
        self._check_contributors(m.contributors, setup)
        if not set(m.contributors) <= shares.clients:
            raise ProtocolError("the contributors name clients that are not registered")
        shares.claim(setup.session)  # one answer per session id, for the deployment's lifetime
        self._request = m
        return [BFVDecryptReady(setup.session, self.id, SERVER)]

    def _on_share_request(self, m: BFVShareRequest) -> list[Message]:
        setup, request, shares = self._setup, self._request, self._shares
        if setup is None or request is None or shares is None:  # pragma: no cover
            raise ProtocolError("no request received")
        holders = self._check_active(m, setup)
        active = set(m.active)
        params, level = self.params, self.upload_level
        # Fewer contributors than participants only lower the noise bound: lambda is at least
        # what the setup check accepted.
        bits, _ = _smudging(params, level, len(request.contributors), setup.threshold)
        additive = shares.additive_share(
            sorted(request.contributors), [holders[p] for p in sorted(active)]
        )
        count = -(-setup.encoding.length(setup.dim) // params.degree)
        a = multiparty.expand_common_a(
            params, _seeds(self.deployment_id, setup.session, count), level
        )
        d = multiparty.common_a_decryption_share(a, additive, smudging_bits=bits, rng=self._rng)
        self.stage = HEPartyStage.DONE  # one share per session, never two
        block = PolyBlock(
            d.data.reshape(count, 1, level, params.degree), residue_bits(params, level)
        )
        return [BFVDecryptionShare(setup.session, self.id, SERVER, block)]


def _party_ids(values: Iterable[object], what: str) -> list[int]:
    ids: list[int] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 2**32:
            raise ParameterError(f"{what} must be party ids in [1, 2^32), got {v!r}")
        ids.append(v)
    if not ids or len(set(ids)) != len(ids):
        raise ParameterError(f"give at least one {what[:-1]}, each party id once")
    return ids


@dataclass(frozen=True)
class PublicClientKeyDeployment:
    """The public facts of a :class:`ClientKeyDeployment`: enough to run its server, and with a
    party's own key or shares, that party (:meth:`server`, :meth:`party`).

    What a server stores instead of the whole deployment (no key material): get it from
    :attr:`ClientKeyDeployment.public` and store it with :mod:`heprim.serialize` (kind
    ``secagg.PublicClientKeyDeployment``). Construction runs the checks of
    :meth:`ClientKeyDeployment.generate`, the smudging floor included.

    Attributes:
        params: the BFV parameters.
        deployment_id: the deployment's public random id.
        clients: the registered clients.
        decryptors: each decryptor's party id and share index.
        threshold: how many decryptors open a sum.
        upload_level: the primes of the uploads (and of the key shares).
        min_contributors: each decryptor's own floor on the number of inputs in a sum.
        max_contributors: the largest sum the deployment opens (``None``: every client).
        allow_insecure: accept smudging below the floor (warns).

    Raises:
        ParameterError: bad ids, indices or threshold, or a smudging security below
            :data:`~heprim.bfv.multiparty.SMUDGING_SECURITY_FLOOR` without ``allow_insecure``.
    """

    params: Parameters
    deployment_id: bytes
    clients: frozenset[int]
    decryptors: Mapping[int, int]
    threshold: int
    upload_level: int
    min_contributors: int = 2
    max_contributors: int | None = None
    allow_insecure: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.params, Parameters):
            raise ParameterError("params must be bfv.Parameters")
        if not isinstance(self.deployment_id, bytes) or len(self.deployment_id) != (
            DEPLOYMENT_ID_BYTES
        ):
            raise ParameterError(f"a deployment id is {DEPLOYMENT_ID_BYTES} bytes")
        if not isinstance(self.decryptors, Mapping):
            raise ParameterError("decryptors maps each decryptor's party id to its share index")
        clients = frozenset(_party_ids(self.clients, "clients"))
        holders = dict(self.decryptors)
        _party_ids(holders, "decryptors")
        for index in holders.values():
            _positive(index, "a share index")
        if len(set(holders.values())) != len(holders):
            raise ParameterError("two decryptors hold the same share index")
        _positive(self.threshold, "the threshold")
        if self.threshold > len(holders):
            raise ParameterError(
                f"the threshold t = {self.threshold} exceeds the {len(holders)} decryptors"
            )
        context_of(self.params).check_level(self.upload_level)
        _positive(self.min_contributors, "min_contributors")
        if self.max_contributors is not None:
            _positive(self.max_contributors, "max_contributors")
        if not isinstance(self.allow_insecure, bool):
            raise ParameterError("allow_insecure must be True or False")
        object.__setattr__(self, "clients", clients)
        object.__setattr__(self, "decryptors", MappingProxyType(holders))
        _check_security(
            self.params,
            self.upload_level,
            self.max_contributors or len(clients),
            self.threshold,
            allow_insecure=self.allow_insecure,
        )

    def check_key(self, party_id: int, key: multiparty.ClientKey) -> None:
        """Refuse a key that is not a :class:`~heprim.bfv.multiparty.ClientKey` of a
        registered client under these parameters (:class:`~heprim.errors.ParameterError`)."""
        if party_id not in self.clients:
            raise ParameterError(f"party {party_id} is not a registered client")
        if not isinstance(key, multiparty.ClientKey) or key.params != self.params:
            raise ParameterError(f"client {party_id}'s key is not a ClientKey of these params")

    def check_shares(self, party_id: int, shares: DecryptorKeyShares) -> None:
        """Refuse shares that are not decryptor ``party_id``'s of this deployment: its share
        index, the threshold, the upload level, every registered client, the deployment id."""
        if party_id not in self.decryptors:
            raise ParameterError(f"party {party_id} is not a decryptor of this deployment")
        if not isinstance(shares, DecryptorKeyShares) or shares.params != self.params:
            raise ParameterError(f"decryptor {party_id}'s shares are not DecryptorKeyShares")
        if shares.deployment_id not in (None, self.deployment_id):
            raise ParameterError(f"decryptor {party_id}'s shares belong to another deployment")
        if shares.index != self.decryptors[party_id] or shares.threshold != self.threshold:
            raise ParameterError(
                f"decryptor {party_id}'s shares have index {shares.index} and t = "
                f"{shares.threshold}; the deployment says {self.decryptors[party_id]} and "
                f"t = {self.threshold}"
            )
        if shares.level != self.upload_level or shares.clients != self.clients:
            raise ParameterError(
                f"decryptor {party_id} holds shares at another level or of other clients"
            )

    def server(self, config: HESessionConfig) -> ClientKeyServer:
        """The server of one session (its participants must be registered clients)."""
        return ClientKeyServer(
            config,
            self.params,
            self.deployment_id,
            clients=self.clients,
            upload_level=self.upload_level,
            allow_insecure=self.allow_insecure,
        )

    def party(
        self,
        party_id: int,
        *,
        key: multiparty.ClientKey | None = None,
        shares: DecryptorKeyShares | None = None,
        rng: PRNG | None = None,
    ) -> ClientKeyParty:
        """Party ``party_id`` of one session, with its own client key and/or key shares (each
        checked against the deployment)."""
        if key is not None:
            self.check_key(party_id, key)
        if shares is not None:
            self.check_shares(party_id, shares)
        return ClientKeyParty(
            party_id,
            self.params,
            self.deployment_id,
            upload_level=self.upload_level,
            key=key,
            shares=shares,
            min_contributors=self.min_contributors,
            allow_insecure=self.allow_insecure,
            rng=rng,
        )


@dataclass(frozen=True)
class ClientKeyDeployment:
    """Registered client keys and the decryptors' shares of them: builds servers and parties.

    Frozen, but the key objects inside keep state across sessions on purpose: each client key
    the seeds it used, each decryptor the session ids it answered (see the module).

    Attributes:
        params: the BFV parameters.
        deployment_id: a public random id; the common ``a`` of every session derive from it.
        keys: client party id -> its :class:`~heprim.bfv.multiparty.ClientKey`.
        shares: decryptor party id -> its :class:`DecryptorKeyShares`.
        upload_level: the primes of the uploads (and of the key shares).
        min_contributors: each decryptor's own floor on the number of inputs in a sum.
        setup_seconds: the time the setup took (every client's key and shares together).
        max_contributors: the largest sum the deployment opens (``None``: every registered
            client); the smudging floor is checked for it here, and for every session's
            participants by the server and by each decryptor.
        allow_insecure: accept smudging below
            :data:`~heprim.bfv.multiparty.SMUDGING_SECURITY_FLOOR` (warns
            :class:`~heprim.errors.InsecureParametersWarning`).

    Raises:
        ParameterError: inconsistent shares, or ``lambda`` below the floor without
            ``allow_insecure``.
    """

    params: Parameters
    deployment_id: bytes
    keys: Mapping[int, multiparty.ClientKey] = field(repr=False)
    shares: Mapping[int, DecryptorKeyShares] = field(repr=False)
    upload_level: int
    min_contributors: int = 2
    setup_seconds: float = 0.0
    max_contributors: int | None = None
    allow_insecure: bool = False
    name: ClassVar[str] = "bfv-client-keys"

    def __post_init__(self) -> None:
        if not isinstance(self.params, Parameters):
            raise ParameterError("params must be bfv.Parameters")
        if not isinstance(self.deployment_id, bytes) or len(self.deployment_id) != (
            DEPLOYMENT_ID_BYTES
        ):
            raise ParameterError(f"a deployment id is {DEPLOYMENT_ID_BYTES} bytes")
        context_of(self.params).check_level(self.upload_level)
        if not self.keys or not self.shares:
            raise ParameterError("a deployment needs registered clients and decryptors")
        for client, key in self.keys.items():
            if not isinstance(key, multiparty.ClientKey) or key.params != self.params:
                raise ParameterError(f"client {client}'s key is not a ClientKey of these params")
        clients = frozenset(self.keys)
        for party, store in self.shares.items():
            if not isinstance(store, DecryptorKeyShares) or store.params != self.params:
                raise ParameterError(f"decryptor {party}'s shares are not DecryptorKeyShares")
            if store.level != self.upload_level or store.clients != clients:
                raise ParameterError(
                    f"decryptor {party} holds shares at another level or of other clients"
                )
        if len({s.threshold for s in self.shares.values()}) != 1:
            raise ParameterError("every decryptor needs shares of the same threshold")
        if len({s.index for s in self.shares.values()}) != len(self.shares):
            raise ParameterError("two decryptors hold the same share index")
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))
        object.__setattr__(self, "shares", MappingProxyType(dict(self.shares)))
        if self.max_contributors is not None:
            _positive(self.max_contributors, "max_contributors")
        _check_security(
            self.params,
            self.upload_level,
            self.max_contributors or len(self.keys),
            self.threshold,
            allow_insecure=self.allow_insecure,
        )

    @classmethod
    def generate(
        cls,
        clients: Sequence[int],
        decryptors: Sequence[int],
        threshold: int,
        params: Parameters,
        *,
        upload_level: int | None = None,
        max_contributors: int | None = None,
        min_contributors: int = 2,
        allow_insecure: bool = False,
        rng: PRNG | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ClientKeyDeployment:
        """The one-time setup: every client in ``clients`` draws its key and Shamir-shares it
        to the ``decryptors`` (share index ``k`` for the ``k``-th), ``threshold`` of whom open
        a sum.

        In process: the shares would travel over pairwise private channels in a deployment
        (:meth:`setup_bytes_per_client` bytes per client).

        Args:
            upload_level: the primes of the uploads. Default: the cheapest level whose smudging
                reaches the floor for ``max_contributors`` (3 of the 4 primes of
                :func:`~heprim.secagg.he_bfv.aggregation_parameters` for 100 or 1000 clients).
            max_contributors: the largest number of inputs a session will sum (default: every
                registered client).
            allow_insecure: accept smudging below the floor (warns with the ``lambda`` reached).

        Raises:
            ParameterError: bad ids or threshold, or a smudging security below
                :data:`~heprim.bfv.multiparty.SMUDGING_SECURITY_FLOOR` without
                ``allow_insecure``.
        """
        if not isinstance(params, Parameters):
            raise ParameterError(f"params must be bfv.Parameters, got {type(params).__name__}")
        ids, committee = list(clients), list(decryptors)
        for group, what in ((ids, "client"), (committee, "decryptor")):
            if not group or len(set(group)) != len(group):
                raise ParameterError(f"give at least one {what}, each party id once")
        if isinstance(threshold, bool) or not isinstance(threshold, int):
            raise ParameterError(f"the threshold must be an integer, got {threshold!r}")
        contributors = len(ids) if max_contributors is None else max_contributors
        contributors = _positive(contributors, "max_contributors")
        if upload_level is None:
            upload_level = _cheapest_level(params, contributors, threshold)
        level = context_of(params).check_level(upload_level)
        # Refuse weak smudging before anyone spends time on keys (the instance checks again).
        _check_security(params, level, contributors, threshold, allow_insecure=allow_insecure)
        rng = default_rng(rng)
        start = time.perf_counter()
        deployment_id = rng.random_bytes(DEPLOYMENT_ID_BYTES)
        indices = list(range(1, len(committee) + 1))
        keys: dict[int, multiparty.ClientKey] = {}
        received: dict[int, dict[int, RingElement]] = {i: {} for i in indices}
        for step, client in enumerate(ids, start=1):
            key = multiparty.ClientKey(params, rng=rng)
            for i, piece in key.threshold_shares(threshold, indices, level=level).items():
                received[i][client] = piece
            keys[client] = key
            if progress is not None:
                progress(step, len(ids))
        stores = {
            party: DecryptorKeyShares(
                params, i, threshold, level, received[i], deployment_id=deployment_id
            )
            for party, i in zip(committee, indices, strict=True)
        }
        with warnings.catch_warnings():  # warned above already, once
            warnings.simplefilter("ignore", InsecureParametersWarning)
            return cls(
                params,
                deployment_id,
                keys,
                stores,
                level,
                min_contributors,
                time.perf_counter() - start,
                max_contributors,
                allow_insecure,
            )

    @classmethod
    def from_parts(
        cls,
        public: PublicClientKeyDeployment,
        keys: Mapping[int, multiparty.ClientKey],
        shares: Mapping[int, DecryptorKeyShares],
    ) -> ClientKeyDeployment:
        """Rebuild a deployment from its public facts and every party's state (e.g. each loaded
        with :mod:`heprim.serialize` after a restart): the inverse of :attr:`public`,
        :attr:`keys` and :attr:`shares`.

        The client keys keep the seeds they used and the decryptors the sessions they answered,
        so nothing that was refused before the restart is accepted after it.

        Raises:
            ParameterError: a key or shares missing, extra, of another deployment, index,
                threshold or level, or a smudging security below the floor (the checks of
                :meth:`generate`).
        """
        if not isinstance(public, PublicClientKeyDeployment):
            raise ParameterError(
                f"public must be a PublicClientKeyDeployment, got {type(public).__name__}"
            )
        if set(keys) != public.clients:
            raise ParameterError(
                "give exactly one client key per registered client: "
                f"missing {sorted(public.clients - set(keys))[:10]}, "
                f"extra {sorted(set(keys) - public.clients)[:10]}"
            )
        if set(shares) != set(public.decryptors):
            raise ParameterError(
                "give exactly the shares of every decryptor: "
                f"missing {sorted(set(public.decryptors) - set(shares))[:10]}, "
                f"extra {sorted(set(shares) - set(public.decryptors))[:10]}"
            )
        for client, key in keys.items():
            public.check_key(client, key)
        for party, store in shares.items():
            public.check_shares(party, store)
        with warnings.catch_warnings():  # the public part warned already, when it was built
            warnings.simplefilter("ignore", InsecureParametersWarning)
            return cls(
                public.params,
                public.deployment_id,
                keys,
                shares,
                public.upload_level,
                public.min_contributors,
                0.0,
                public.max_contributors,
                public.allow_insecure,
            )

    @property
    def public(self) -> PublicClientKeyDeployment:
        """The public facts (no key material): what a server stores to run sessions."""
        with warnings.catch_warnings():  # this deployment warned already, when it was built
            warnings.simplefilter("ignore", InsecureParametersWarning)
            return PublicClientKeyDeployment(
                self.params,
                self.deployment_id,
                self.clients,
                self.decryptors,
                self.threshold,
                self.upload_level,
                self.min_contributors,
                self.max_contributors,
                self.allow_insecure,
            )

    @property
    def decryptors(self) -> Mapping[int, int]:
        """Each decryptor's party id and share index."""
        return MappingProxyType({party: s.index for party, s in self.shares.items()})

    @property
    def threshold(self) -> int:
        """How many decryptors must answer."""
        return next(iter(self.shares.values())).threshold

    @property
    def clients(self) -> frozenset[int]:
        """The registered clients."""
        return frozenset(self.keys)

    def smudging_security(self, contributors: int) -> tuple[int, float]:
        """``(b, lambda)`` for a sum of ``contributors`` inputs: the smudging noise is uniform in
        ``[-2^b, 2^b)`` and hides the aggregate's noise up to a distance ``2^-lambda``."""
        return _smudging(self.params, self.upload_level, contributors, self.threshold)

    def upload_bytes_per_value(self) -> float:
        """Bytes a client uploads per slot: ONE polynomial of packed residues."""
        return self.upload_level * residue_bits(self.params, self.upload_level) / 8

    def setup_bytes_per_client(self) -> int:
        """Bytes a client sends once, at setup: one Shamir share polynomial (``l`` residues
        per coefficient, bit-packed) to each decryptor, over private channels."""
        bits = self.upload_level * self.params.degree * residue_bits(self.params, self.upload_level)
        return len(self.shares) * -(-bits // 8)

    def prepare(self) -> None:
        """Nothing to precompute outside the sessions (the NTT tables are cached on use)."""
        context_of(self.params).ring_q(self.upload_level)

    def server(self, config: HESessionConfig) -> ClientKeyServer:
        """The server of one session (its participants must be registered clients)."""
        return self.public.server(config)

    def party(self, party_id: int, *, rng: PRNG | None = None) -> ClientKeyParty:
        """Party ``party_id`` of one session, with its client key and/or key shares."""
        return self.public.party(
            party_id, key=self.keys.get(party_id), shares=self.shares.get(party_id), rng=rng
        )
