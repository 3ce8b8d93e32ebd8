"""Multiparty BFV: keys generated and ciphertexts decrypted by several parties, none alone.

Mouchet, Troncoso-Pastoriza, Bossuat and Hubaux, "Multiparty Homomorphic Encryption from
Ring-Learning-with-Errors", PETS 2021 (below "MTBH"); the reference design is Lattigo's
``multiparty`` package (``PublicKeyGenProtocol``, ``RelinearizationKeyGenProtocol``,
``Thresholdizer``, ``Combiner``, ``KeySwitchProtocol`` to the zero key). Everything here is
sans-I/O: each function is one party's local step or the aggregator's; the messages between
them are the returned ring elements, and who moves them is the caller's business
(:mod:`heprim.secagg.he_bfv` runs them inside the HE aggregation framework).

**The collective key.** Party ``i`` holds an additive share ``s_i`` (ternary, drawn like a secret
key, :class:`PartyKey`); the collective secret ``s = s_1 + ... + s_n`` exists nowhere. Its
coefficients are sums of ``n`` ternary values (variance ``2n/3``), which the noise estimates
account for.

**Common reference** (MTBH sec. 3, "common random polynomial"): the uniform polynomials ``a`` of
the keys are expanded from one public 32-byte seed with the AES-CTR
:class:`~heprim.math.prng.KeyedPRNG`, so every party derives the same ones without talking.
The collective ``key_id`` is a hash of the parameters and the seed.

**Public key** (MTBH Protocol 1, ``EncKeyGen``): party ``i`` sends ``p_i = -(a s_i + e_i)``;
the sum ``b = sum p_i = -(a s + e)`` with ``e = sum e_i`` makes ``(b, a)`` an ordinary
:class:`~heprim.bfv.keys.PublicKey` of ``s``.

**Relinearization key** (MTBH Protocol 2, ``RelinKeyGen``, two rounds, with the hybrid key
switching gadget ``P g_j`` of :mod:`heprim.bfv.keys`). Public ``a_j`` per digit ``j``; party
``i`` draws an ephemeral ternary ``u_i``:

1. ``h0_{i,j} = -u_i a_j + P g_j s_i + e0_{i,j}`` and ``h1_{i,j} = s_i a_j + e1_{i,j}``;
   the aggregator sums them into ``h0_j = -u a_j + P g_j s + e0`` and ``h1_j = s a_j + e1``;
2. ``h'_{i,j} = s_i h0_j + (u_i - s_i) h1_j + e2_{i,j}``; the key is ``(b_j, h1_j)`` with
   ``b_j = sum_i h'_{i,j}``. Indeed ``b_j + h1_j s = P g_j s^2 + s e0 + u e1 + e2``, a
   key-switching key from ``s^2`` to ``s`` whose noise is ``n`` times that of a single key
   (still divided by ``P`` when it is used). Its ``a``-part ``h1_j`` is not a seed expansion,
   so it is a :class:`CollectiveKeySwitchKey`, stored with both parts whole.

**t-of-n** (MTBH sec. 5; Lattigo's ``Thresholdizer`` and ``Combiner``): party ``i`` Shamir-shares
its ``s_i`` over ``R_Q`` (coefficient-wise modulo every prime of the RNS basis) with a random
polynomial of degree ``t - 1`` in the share index, sends the share of index ``j`` to party ``j``
(over a private channel), and every party sums what it received: a Shamir share ``tsk_j`` of
``s`` itself (:class:`ThresholdShare`). Any ``t`` parties ``T`` then act as ``t`` additive
shares ``lambda_j^T tsk_j`` of ``s`` (Lagrange coefficients at zero), so every n-of-n
protocol, in particular collective decryption, runs with them. The set ``T`` must be known
before shares are computed: the coefficients depend on it.

**Collective decryption** (MTBH Protocol 3, ``KeySwitch`` to the zero key, i.e. decryption with
a public output): for ``ct = (c_0, c_1)`` at level ``l``, each party of ``T`` sends
``d_i = s'_i c_1 + e_smg,i`` (``s'_i`` its additive share); ``c_0 + sum d_i = Delta m + e +
sum e_smg,i`` rounds to ``m`` (:func:`combine_decryption`). Without the *smudging* noise
``e_smg,i``, whoever sees the shares learns ``e``, which depends on the secret key (the noise
is a function of ``s`` and of the encryptions' randomness). Each ``e_smg,i`` is uniform in
``[-2^b, 2^b)``: by the smudging lemma a coefficient ``e`` with ``|e| <= B`` is hidden up to a
statistical distance ``B / 2^(b+1)`` per coefficient, ``N B / 2^(b+1)`` for the polynomial
(union bound); :func:`smudging_security` reports ``lambda = b + 1 - log2(N B)``, per decrypted
polynomial (a session that opens ``k`` ciphertexts has a transcript within ``k 2^-lambda``).
Correctness needs ``B + |T| 2^b < Q_l / (3t)`` (below the 3/8 margin of
:func:`~heprim.bfv.scheme.round_to_plaintext`), hence the modulus requirement

    log2 Q_l  >  log2(3t) + log2|T| + log2(N) + log2(B) + lambda - 1,

with ``B`` the ciphertext's noise bound (:func:`noise_bound`). :func:`max_smudging_bits` picks
the largest ``b`` that still decrypts.

**The floor.** A decryption share with a distance ``2^-lambda`` leaks at most that advantage
about the key-dependent noise; the smudging lemma (Asharov, Jain, Lopez-Alt, Tromer,
Vaikuntanathan and Wichs, "Multiparty Computation with Low Communication, Computation and
Interaction via Threshold FHE", EUROCRYPT 2012, the smudging lemma; MTBH, the security argument
of Protocol 3) makes the collective decryption simulatable only when
``lambda`` is a statistical security parameter, conventionally at least 40 bits
(:data:`SMUDGING_SECURITY_FLOOR`). :func:`check_smudging_security` refuses less unless the
caller opts in with ``allow_insecure=True`` (and then warns with the ``lambda`` reached).

**Client keys with a common ``a``** (additive key homomorphism: MTBH's ``EncKeyGen`` share
with a message added). Each client ``j`` owns a secret ``s_j`` (:class:`ClientKey`) and
Shamir-shares it t-of-n to the decryptors once (sec. 5, as :meth:`PartyKey.threshold_shares`).
For a public 32-byte seed everybody expands the same uniform ``a`` (:func:`expand_common_a`,
NTT form at the upload level, as SEAL's seeded ``c_1``), and client ``j`` sends only

    c0_j = -a s_j + round(Q_l m_j / t) + e_j   (mod Q_l),

an RLWE sample with a public ``a``: a symmetric BFV encryption whose ``c_1`` is the common
expansion. The sum over the contributors ``S`` is the ciphertext ``(sum c0_j, a)`` under
``s_S = sum_{j in S} s_j``; the decryptors of an active set ``T`` hold Shamir shares of every
``s_j``, so ``lambda_i^T sum_{j in S} share_i(s_j)`` are ``t`` additive shares of ``s_S`` and
:func:`common_a_decryption_share` is Protocol 3 with them. Its noise is only the fresh errors and
the encoding roundings (:func:`client_noise_bound`): no ``e u`` term, no modulus switch. With a
fresh ``a`` per seed this is plain RLWE; one seed must never serve twice under one key (two
samples ``c0, c0'`` with one ``a`` give ``c0 - c0' = Delta (m - m') + e - e'``), which
:meth:`ClientKey.encrypt` refuses with :class:`~heprim.errors.ProtocolError`.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from heprim.bfv.ciphertext import Ciphertext
from heprim.bfv.context import context_of
from heprim.bfv.encoder import Plaintext
from heprim.bfv.keys import (
    SEED_BYTES,
    KeySwitchKey,
    PublicKey,
    RelinKeys,
    SecretKey,
    _check_params,
    expand_uniform,
)
from heprim.bfv.noise import TAIL
from heprim.bfv.params import ERROR_STDDEV, Parameters
from heprim.bfv.scheme import round_to_plaintext
from heprim.errors import (
    InsecureParametersWarning,
    KeyMismatchError,
    ParameterError,
    ProtocolError,
    SerializationError,
)
from heprim.math.prng import PRNG, KeyedPRNG, default_rng, sample_ternary
from heprim.ring import Ring, RingElement
from heprim.ring.modarith import add_mod, mul_scalars

__all__ = [
    "SMUDGING_SECURITY_FLOOR",
    "ClientKey",
    "CollectiveKeySwitchKey",
    "PartyKey",
    "RelinKeyShare",
    "ThresholdShare",
    "aggregate_public_key",
    "aggregate_relin_round1",
    "check_smudging_security",
    "client_noise_bound",
    "collective_key_id",
    "combine_common_a_decryption",
    "combine_decryption",
    "combine_threshold_shares",
    "common_a_decryption_share",
    "decryption_share",
    "expand_common_a",
    "lagrange_at_zero",
    "max_smudging_bits",
    "noise_bound",
    "relin_keys_from_shares",
    "smudging_security",
]

U64 = npt.NDArray[np.uint64]

#: The least statistical security ``lambda`` (bits) a collective decryption accepts by default:
#: the smudging noise must hide the ciphertext noise up to a distance ``2^-40`` (the smudging
#: lemma of Asharov et al. 2012, as Mouchet et al. 2021 use it for Protocol 3). Below it only
#: with ``allow_insecure=True``.
SMUDGING_SECURITY_FLOOR: Final = 40

#: Width of the uniform words the smudging noise is assembled from (see :func:`_smudging`).
_WORD_BITS: Final = 32


def _check_seed(seed: object) -> bytes:
    if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
        raise ParameterError(
            f"the common reference is a public seed of exactly {SEED_BYTES} bytes (draw it "
            "once, e.g. rng.random_bytes(32), and give the same one to every party)"
        )
    return seed


def collective_key_id(params: Parameters, seed: bytes) -> str:
    """The ``key_id`` of the collective key set of ``params`` and the common reference ``seed``."""
    digest = hashlib.sha256(b"heprim.bfv.multiparty" + params.fingerprint.encode() + seed)
    return digest.hexdigest()[:32]


def _key_ring(params: Parameters) -> Ring:
    """The basis secret shares live in: ``QP`` (``Q`` without special primes), like keys."""
    ctx = context_of(params)
    return ctx.ring_qp(params.max_level) if params.p else ctx.ring_q(params.max_level)


def _relin_seed(seed: bytes) -> bytes:
    return KeyedPRNG(seed).derive(b"heprim.bfv.multiparty.rkg").seed


class PartyKey:
    """One party's additive share ``s_i`` of the collective secret, and its protocol steps.

    Args:
        params: the parameter set every party uses.
        seed: the public 32-byte common reference (the same for every party).
        rng: the randomness source (default: the OS CSPRNG).

    Keep it secret: with all ``n`` shares anyone decrypts.
    """

    __slots__ = ("_ephemeral", "_rng", "key_id", "params", "secret", "seed")

    def __init__(self, params: Parameters, seed: bytes, *, rng: PRNG | None = None) -> None:
        self.params = _check_params(params)
        self.seed = _check_seed(seed)
        self._rng = default_rng(rng)
        #: The collective key set's identifier (every party computes the same).
        self.key_id = collective_key_id(params, seed)
        #: ``s_i`` as a :class:`~heprim.bfv.keys.SecretKey` of the collective ``key_id``.
        self.secret = SecretKey(params, sample_ternary(params.degree, self._rng), self.key_id)
        self._ephemeral: RingElement | None = None

    def __repr__(self) -> str:
        return f"bfv.PartyKey(N={self.params.degree}, key_id={self.key_id[:8]}..)"

    def _error(self, ring: Ring, shape: tuple[int, ...] = ()) -> RingElement:
        return ring.sample_gaussian(self._rng, shape=shape, sigma=ERROR_STDDEV, ntt=True)

    def public_key_share(self) -> RingElement:
        """``p_i = -(a s_i + e_i)`` modulo ``Q`` (NTT form), ``a`` from the common reference."""
        ring = context_of(self.params).ring_q(self.params.max_level)
        a = expand_uniform(ring, self.seed, ())
        s = self.secret.ntt_qp.convert_basis(ring)
        return -(a * s + self._error(ring))

    def relin_round1(self) -> RelinKeyShare:
        """Round 1 of the relinearization-key protocol: ``(h0_i, h1_i)`` (see the module).

        Draws the ephemeral ``u_i`` that :meth:`relin_round2` uses; call them in this order.
        """
        ctx = context_of(self.params)
        ring = ctx.ring_qp(self.params.max_level)  # explains missing special primes
        groups = ctx.digits(self.params.max_level)
        a = expand_uniform(ring, _relin_seed(self.seed), (len(groups),))
        s = self.secret.ntt_qp
        u = ring.sample_ternary(self._rng, ntt=True)
        self._ephemeral = u
        h0 = np.array((-(a * u) + self._error(ring, (len(groups),))).data)
        p_modulus = self.params.p_modulus
        for j, group in enumerate(groups):
            # P g_j s_i in RNS: [P]_q s_i on the limbs of digit j, zero elsewhere (keys.py).
            gadget = [p_modulus % q if k in group else 0 for k, q in enumerate(ring.moduli)]
            add_mod(h0[j], mul_scalars(s.data, gadget, ring.moduli), ring.q_array, out=h0[j])
        h1 = a * s + self._error(ring, (len(groups),))
        return RelinKeyShare(ring.from_array(h0, ntt=True), h1)

    def relin_round2(self, round1: RelinKeyShare) -> RingElement:
        """Round 2: ``h'_i = s_i h0 + (u_i - s_i) h1 + e2_i`` from the aggregated round 1."""
        if self._ephemeral is None:
            raise ParameterError("call relin_round1() before relin_round2()")
        if not isinstance(round1, RelinKeyShare):
            raise ParameterError("relin_round2 takes the aggregated round-1 RelinKeyShare")
        ring = context_of(self.params).ring_qp(self.params.max_level)
        if round1.h0.ring != ring:
            raise KeyMismatchError("the round-1 aggregate belongs to other parameters")
        s, u = self.secret.ntt_qp, self._ephemeral
        self._ephemeral = None  # u_i is used once
        return round1.h0 * s + round1.h1 * (u - s) + self._error(ring, round1.h0.shape)

    def threshold_shares(self, threshold: int, indices: Sequence[int]) -> dict[int, RingElement]:
        """Shamir shares of ``s_i`` for the parties of share ``indices`` (any ``threshold`` of
        them recover it): ``f(x) = s_i + r_1 x + ... + r_{t-1} x^{t-1}`` with ``r_k`` uniform in
        ``R_QP``, evaluated at each index. Send share ``j`` to party ``j`` privately."""
        return shamir_share(self.secret.ntt_qp, threshold, indices, rng=self._rng)


@dataclass(frozen=True)
class RelinKeyShare:
    """Round 1 of the relinearization-key protocol: ``h0`` and ``h1``, one element per digit."""

    h0: RingElement
    h1: RingElement


def _check_indices(indices: Sequence[int], ring: Ring) -> tuple[int, ...]:
    out: list[int] = []
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int) or index < 1:
            raise ParameterError(f"share indices are positive integers, got {index!r}")
        out.append(index)
    if len(set(out)) != len(out):
        raise ParameterError("share indices must be distinct")
    if out and max(out) >= min(ring.moduli):
        raise ParameterError("share indices must be smaller than every prime of the modulus")
    return tuple(out)


def shamir_share(
    secret: RingElement, threshold: int, indices: Sequence[int], *, rng: PRNG | None = None
) -> dict[int, RingElement]:
    """Shamir shares of a ring element at ``indices``, coefficient-wise in every limb."""
    ring = secret.ring
    points = _check_indices(indices, ring)
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise ParameterError(f"the threshold must be an integer, got {threshold!r}")
    if not 1 <= threshold <= len(points):
        raise ParameterError(
            f"the threshold t = {threshold} must be between 1 and the number of parties "
            f"({len(points)})"
        )
    rng = default_rng(rng)
    coefficients = ring.sample_uniform(rng, shape=(threshold - 1,), ntt=secret.is_ntt)
    shares: dict[int, RingElement] = {}
    for x in points:
        value = secret  # Horner from the top coefficient is no faster with one product per term
        power = 1
        for r in coefficients:
            power *= x
            value = value + r * power
        shares[x] = value
    return shares


def lagrange_at_zero(index: int, active: Sequence[int], modulus: int) -> int:
    """``lambda_index = prod_{k in active, k != index} k / (k - index)`` modulo ``modulus``."""
    if index not in active:
        raise ParameterError(f"share index {index} is not in the active set {sorted(active)}")
    numerator, denominator = 1, 1
    for k in active:
        if k != index:
            numerator = numerator * k % modulus
            denominator = denominator * (k - index) % modulus
    return numerator * pow(denominator, -1, modulus) % modulus


class ThresholdShare:
    """A party's Shamir share ``tsk_j`` of the collective secret (t-of-n).

    Args:
        params: the parameter set.
        key_id: the collective key set's identifier.
        index: this party's share index ``j`` (the evaluation point).
        threshold: ``t``, how many shares decrypt.
        value: ``tsk_j`` in NTT form over the key basis (``QP``).
    """

    __slots__ = ("index", "key_id", "params", "threshold", "value")

    def __init__(
        self, params: Parameters, key_id: str, index: int, threshold: int, value: RingElement
    ) -> None:
        self.params = _check_params(params)
        self.key_id = key_id
        ring = _key_ring(params)
        (self.index,) = _check_indices([index], ring)
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise ParameterError(f"the threshold must be a positive integer, got {threshold!r}")
        self.threshold = threshold
        if not isinstance(value, RingElement) or value.ring != ring or value.shape != ():
            raise ParameterError("a threshold share is one element of the key ring R_QP")
        self.value = value.ntt()

    def __repr__(self) -> str:
        return (
            f"bfv.ThresholdShare(index={self.index}, t={self.threshold}, "
            f"key_id={self.key_id[:8]}..)"
        )

    def additive_share(self, active: Sequence[int]) -> RingElement:
        """``lambda_j^T tsk_j`` for the active set ``T`` of exactly ``t`` share indices: the
        ``t`` results add up to ``s`` (Lattigo's ``Combiner.GenAdditiveShare``)."""
        ring = self.value.ring
        points = _check_indices(active, ring)
        if len(points) != self.threshold:
            raise ParameterError(
                f"the active set must hold exactly t = {self.threshold} share indices, got "
                f"{len(points)}"
            )
        scalars = [lagrange_at_zero(self.index, points, q) for q in ring.moduli]
        data = mul_scalars(self.value.data, scalars, ring.moduli)
        return ring.from_array(data, ntt=True)


def combine_threshold_shares(
    params: Parameters,
    key_id: str,
    index: int,
    threshold: int,
    received: Sequence[RingElement],
) -> ThresholdShare:
    """Party ``index``'s :class:`ThresholdShare`: the sum of the Shamir shares it received from
    every party (its own included), one per additive share ``s_i``."""
    ring = _key_ring(_check_params(params))
    if not received:
        raise ParameterError("no Shamir shares received")
    total = ring.zero(ntt=True)
    for share in received:
        if not isinstance(share, RingElement) or share.ring != ring or not share.is_ntt:
            raise ParameterError("Shamir shares are NTT-form elements of the key ring R_QP")
        total = total + share
    return ThresholdShare(params, key_id, index, threshold, total)


def aggregate_public_key(
    params: Parameters, seed: bytes, shares: Sequence[RingElement]
) -> PublicKey:
    """The collective public key ``(sum p_i, a)`` from every party's :meth:`PartyKey.
    public_key_share`."""
    params, seed = _check_params(params), _check_seed(seed)
    ring = context_of(params).ring_q(params.max_level)
    if not shares:
        raise ParameterError("no public-key shares to aggregate")
    total = ring.zero(ntt=True)
    for share in shares:
        if not isinstance(share, RingElement) or share.ring != ring or not share.is_ntt:
            raise ParameterError("public-key shares are NTT-form elements of R_Q")
        total = total + share
    return PublicKey(params, collective_key_id(params, seed), total, seed)


def aggregate_relin_round1(shares: Sequence[RelinKeyShare]) -> RelinKeyShare:
    """The sum of every party's round-1 shares (what the aggregator broadcasts for round 2)."""
    if not shares:
        raise ParameterError("no round-1 shares to aggregate")
    h0, h1 = shares[0].h0, shares[0].h1
    for share in shares[1:]:
        h0, h1 = h0 + share.h0, h1 + share.h1
    return RelinKeyShare(h0, h1)


class CollectiveKeySwitchKey(KeySwitchKey):
    """A key-switching key whose ``a``-parts are explicit (the collective relinearization key).

    It switches keys like any :class:`~heprim.bfv.keys.KeySwitchKey`, but has no seed (asking
    for :attr:`seed` raises :class:`~heprim.errors.SerializationError`): a seed would regenerate
    the wrong ``a``, so :mod:`heprim.serialize.bfv` stores both parts whole (twice the size of a
    seeded key).
    """

    __slots__ = ()

    def __init__(self, params: Parameters, key_id: str, data: U64) -> None:
        ctx = context_of(params)
        ring = ctx.ring_qp(params.max_level)
        digits = len(ctx.digits(params.max_level))
        shape = (digits, 2, len(ring.moduli), params.degree)
        if data.shape != shape:
            raise ParameterError(f"the key data must have shape {shape}")
        stored = data.astype(np.uint32)
        stored.setflags(write=False)
        self.params = params
        self.key_id = key_id
        self.data = stored
        self._levels = {params.max_level: stored}

    @property
    def seed(self) -> bytes:  # type: ignore[override]
        """Always raises: a collective key has no seed (see the class)."""
        raise SerializationError(
            "a collective relinearization key has no seed: its a-parts are not a seed expansion "
            "(heprim.serialize.bfv stores both parts whole)"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeySwitchKey):
            return NotImplemented
        return (
            self.params == other.params
            and self.key_id == other.key_id
            and bool(np.array_equal(self.data, other.data))
        )

    __hash__ = None


def relin_keys_from_shares(
    params: Parameters, seed: bytes, round1: RelinKeyShare, round2: Sequence[RingElement]
) -> RelinKeys:
    """The collective :class:`~heprim.bfv.keys.RelinKeys` ``(sum_i h'_i, h1)``."""
    params, seed = _check_params(params), _check_seed(seed)
    if not round2:
        raise ParameterError("no round-2 shares to aggregate")
    b = round2[0]
    for share in round2[1:]:
        b = b + share
    ring = context_of(params).ring_qp(params.max_level)
    if b.ring != ring or round1.h1.ring != ring:
        raise KeyMismatchError("the relinearization shares belong to other parameters")
    data = np.stack([b.ntt().data, round1.h1.ntt().data], axis=1)
    return RelinKeys(CollectiveKeySwitchKey(params, collective_key_id(params, seed), data))


# ---------------------------------------------------------------------- collective decryption


def noise_bound(
    params: Parameters,
    *,
    parties: int,
    summands: int = 1,
    level: int | None = None,
) -> float:
    """A high-probability bound ``B`` on the noise of a sum of fresh encryptions.

    The sum of ``summands`` public-key encryptions under a collective key of ``parties``
    additive shares, switched from the top level to ``level`` (default: no switching). Central
    limit heuristic of :mod:`heprim.bfv.noise` (``TAIL`` = 6 deviations): a fresh noise
    ``e_0 + e_1 s - e u`` has variance ``sigma^2 (1 + N Var(s) + N Var(u) n)`` with
    ``Var(s) = 2n/3`` and ``Var(u) = 2/3``; switching scales it by ``Q_l / Q`` and adds the
    rounding ``r_0 + r_1 s`` of variance ``(1 + N Var(s)) / 12``.
    """
    params = _check_params(params)
    if isinstance(parties, bool) or not isinstance(parties, int) or parties < 1:
        raise ParameterError(f"parties must be a positive integer, got {parties!r}")
    if isinstance(summands, bool) or not isinstance(summands, int) or summands < 1:
        raise ParameterError(f"summands must be a positive integer, got {summands!r}")
    top = params.max_level
    level = top if level is None else context_of(params).check_level(level)
    n = params.degree
    var_s = 2 * parties / 3
    fresh = ERROR_STDDEV**2 * (1 + n * var_s + n * (2 / 3) * parties)
    if level < top:
        ratio = params.q_modulus_at(level) / params.q_modulus_at(top)
        fresh = fresh * ratio**2 + (1 + n * var_s) / 12
    return TAIL * math.sqrt(summands * fresh)


def max_smudging_bits(params: Parameters, level: int, bound: float, shares: int) -> int:
    """The largest ``b`` with ``bound + shares * 2^b < Q_l / (3t)``: the most smudging that
    still decrypts (see the module).

    Raises:
        ParameterError: when not even ``b = 0`` fits (the modulus is too small for the sum).
    """
    params = _check_params(params)
    level = context_of(params).check_level(level)
    room = params.q_modulus_at(level) / (3 * params.plain_modulus) - bound
    if room < 2 * shares:
        raise ParameterError(
            f"Q_{level} ({params.q_modulus_at(level).bit_length()} bits) leaves no room for "
            f"smudging noise above a ciphertext noise of 2^{math.log2(max(bound, 1)):.1f} with "
            f"t = {params.plain_modulus}: use a larger modulus or a smaller plain modulus"
        )
    # No implementation cap: the noise is assembled from 32-bit words (_smudging), so b is
    # limited by the modulus alone, which is what the security argument needs.
    return math.floor(math.log2(room / shares))


def smudging_security(params: Parameters, bits: int, bound: float) -> float:
    """``lambda = b + 1 - log2(N B)``: smudging with ``U[-2^b, 2^b)`` hides a noise of norm at
    most ``B`` in every coefficient up to a statistical distance ``2^-lambda``."""
    params = _check_params(params)
    return bits + 1 - math.log2(params.degree * max(bound, 1.0))


def check_smudging_security(
    security: float,
    *,
    floor: float = SMUDGING_SECURITY_FLOOR,
    allow_insecure: bool = False,
    what: str = "the collective decryption",
    advice: str = "",
) -> float:
    """Enforce the statistical-security floor on a smudging ``lambda`` (:func:`smudging_security`).

    Returns ``security`` when it reaches ``floor``; below it raises, or with ``allow_insecure``
    warns :class:`~heprim.errors.InsecureParametersWarning` naming the ``lambda`` reached.

    Raises:
        ParameterError: ``security < floor`` without ``allow_insecure``; the message explains
            the trade-off and the options (``advice`` adds the caller's own).
    """
    if security >= floor:
        return security
    message = (
        f"{what} reaches a smudging security of only lambda = {security:.1f} bits, below the "
        f"floor of {floor:g}: the decryption shares would reveal the aggregate's key-dependent "
        f"noise up to a statistical distance of 2^-{max(security, 0):.1f}. The margin is "
        "log2(Q_l) minus the bits of 3 x the plain modulus, of the decryptors, of N and of the "
        "noise: keep more primes at the upload, use a larger modulus Q (or N), or a smaller "
        "plain modulus t"
    )
    if advice:
        message += f"; {advice}"
    if not allow_insecure:
        raise ParameterError(message + " (or pass allow_insecure=True to accept it knowingly)")
    warnings.warn(message, InsecureParametersWarning, stacklevel=3)
    return security


def _smudging(ring: Ring, bits: int, rng: PRNG) -> RingElement:
    """Coefficients uniform in ``[-2^bits, 2^bits)``, exactly, for any ``bits``.

    The ``bits + 1``-bit uniform value is ``sum_k w_k 2^(32 k)`` with uniform 32-bit words and
    a top word of the remaining width, taken signed (minus ``2^(bits - 32 K)``): uniform in
    ``[-2^bits, 2^bits)``. Each word enters the RNS residues separately, so no integer wider
    than 64 bits is ever formed.
    """
    n = ring.degree
    low_words = bits // _WORD_BITS  # full words below the top one
    top_bits = bits + 1 - _WORD_BITS * low_words  # in [1, 32]
    total = ring.zero()
    for k in range(low_words):
        word = rng.random_uint32(n).astype(np.int64)
        total = total + ring.from_ints(word) * (1 << (_WORD_BITS * k))
    top = rng.random_uint32(n) & np.uint32((1 << top_bits) - 1)
    signed = top.astype(np.int64) - (1 << (top_bits - 1))
    return total + ring.from_ints(signed) * (1 << (_WORD_BITS * low_words))


def decryption_share(
    ct: Ciphertext,
    share: SecretKey | RingElement,
    *,
    smudging_bits: int,
    rng: PRNG | None = None,
) -> RingElement:
    """``d_i = s'_i c_1 + e_smg`` modulo ``Q_l`` (coefficient form): one party's part of the
    collective decryption of a size-2 ciphertext.

    Args:
        ct: the ciphertext (size 2; relinearize products first).
        share: the party's additive share: its :attr:`PartyKey.secret` (n-of-n), or
            :meth:`ThresholdShare.additive_share` for the active set (t-of-n).
        smudging_bits: ``b``, the smudging noise is uniform in ``[-2^b, 2^b)``
            (:func:`max_smudging_bits`); ``2^(b+1)`` must stay below ``Q_l``. This raw step
            takes ``b`` as given: :func:`check_smudging_security` is the caller's floor.
        rng: the randomness of the smudging noise.
    """
    if not isinstance(ct, Ciphertext):
        raise ParameterError(f"expected a bfv.Ciphertext, got {type(ct).__name__}")
    if ct.size != 2:
        raise ParameterError(
            f"collective decryption takes ciphertexts of size 2, got {ct.size}: relinearize first"
        )
    if isinstance(smudging_bits, bool) or not isinstance(smudging_bits, int):
        raise ParameterError(f"smudging_bits must be an integer, got {smudging_bits!r}")
    modulus = ct.params.q_modulus_at(ct.level)
    if smudging_bits < 0 or 1 << (smudging_bits + 1) >= modulus:
        raise ParameterError(
            f"smudging_bits must lie in [0, {modulus.bit_length() - 2}] at level {ct.level} "
            f"(the noise 2^(b+1) must stay below Q_l); size it with max_smudging_bits"
        )
    ring = context_of(ct.params).ring_q(ct.level)
    if isinstance(share, SecretKey):
        if share.params != ct.params or share.key_id != ct.key_id:
            raise KeyMismatchError("the secret share is not a share of the ciphertext's key")
        s = share.power_ntt(1, ct.level)
    elif isinstance(share, RingElement):
        if share.ring.degree != ct.params.degree or not all(
            q in share.ring.moduli for q in ring.moduli
        ):
            raise KeyMismatchError("the additive share belongs to other parameters")
        s = share.ntt().convert_basis(ring)
    else:
        raise ParameterError(
            f"share must be a SecretKey or an additive-share RingElement, got "
            f"{type(share).__name__}"
        )
    rng = default_rng(rng)
    return (ct.polys[1].ntt() * s).intt() + _smudging(ring, smudging_bits, rng)


def combine_decryption(
    ct: Ciphertext, shares: Sequence[RingElement] | Mapping[int, RingElement]
) -> Plaintext:
    """``round(t/Q_l (c_0 + sum d_i)) mod t``: the plaintext, from every active party's share.

    Raises:
        NoiseBudgetExhausted: the noise plus the smudging reached 3/8 of the plaintext step, or
            the shares do not add up to the key (a missing or a wrong share).
    """
    if not isinstance(ct, Ciphertext):
        raise ParameterError(f"expected a bfv.Ciphertext, got {type(ct).__name__}")
    values = list(shares.values()) if isinstance(shares, Mapping) else list(shares)
    if not values:
        raise ParameterError("no decryption shares to combine")
    ring = context_of(ct.params).ring_q(ct.level)
    total = ct.polys[0]
    for d in values:
        if not isinstance(d, RingElement) or d.ring != ring or d.is_ntt:
            raise ParameterError(
                "decryption shares are coefficient-form elements of the ciphertext's ring R_Q_l"
            )
        total = total + d
    return round_to_plaintext(ct.params, total)


# ---------------------------------------------------------------------- client keys, common a


def expand_common_a(params: Parameters, seeds: Sequence[bytes], level: int) -> RingElement:
    """The uniform ``a`` of each public 32-byte seed, NTT form modulo ``Q_l``, shape
    ``(len(seeds),)``.

    Sampled directly in NTT form at ``level`` (the NTT is a bijection of ``R_{Q_l}``, so a
    uniform element may be declared to be in NTT form, as SEAL does for the seeded ``c_1``):
    every party derives the same ``a`` from the seed without a transform.
    """
    params = _check_params(params)
    ring = context_of(params).ring_q(context_of(params).check_level(level))
    checked = [_check_seed(seed) for seed in seeds]
    if not checked:
        raise ParameterError("give at least one seed")
    return ring.stack([expand_uniform(ring, seed, ()) for seed in checked])


def client_noise_bound(params: Parameters, *, summands: int = 1, level: int | None = None) -> float:
    """A high-probability bound ``B`` on the noise of a sum of ``summands`` common-``a``
    encryptions (:meth:`ClientKey.encrypt`) at ``level``.

    ``sum_j c0_j + a s_S = round(Q_l M / t) + sum_j (e_j + r_j)`` modulo ``Q_l``: every client
    adds a fresh Gaussian error ``e_j`` (variance ``sigma^2``) and the rounding ``r_j`` of its
    encoding ``round(Q_l m_j / t)`` (``|r_j| <= 1/2``, variance at most ``1/12``). No ``e u``
    term (no public key) and no modulus-switch rounding (the clients encrypt at ``level``). The
    central-limit heuristic of :func:`noise_bound` (``TAIL`` deviations) gives
    ``TAIL sqrt(summands (sigma^2 + 1/12))``. The level does not change the noise; it is taken
    for symmetry with :func:`noise_bound` and checked.
    """
    params = _check_params(params)
    if isinstance(summands, bool) or not isinstance(summands, int) or summands < 1:
        raise ParameterError(f"summands must be a positive integer, got {summands!r}")
    if level is not None:
        context_of(params).check_level(level)
    return TAIL * math.sqrt(summands * (ERROR_STDDEV**2 + 1 / 12))


class ClientKey:
    """A client's own secret ``s_j`` for aggregation with a common ``a`` (see the module).

    Args:
        params: the parameter set every party uses.
        rng: the randomness source of the key, the errors and the Shamir shares (default: the
            OS CSPRNG).

    The key remembers every seed it has encrypted under and refuses a second encryption under
    one (two RLWE samples with the same ``a`` and the same secret reveal ``Delta (m - m') +
    e - e'``). Keep it secret: ``t`` decryptors holding its Shamir shares can rebuild it.
    Keep the record of used seeds across restarts: :mod:`heprim.serialize` stores the key with
    its :attr:`used_seeds` (``include_secret=True``), :meth:`from_secret` rebuilds it.
    """

    __slots__ = ("_rng", "_used", "key_id", "params", "secret")

    def __init__(self, params: Parameters, *, rng: PRNG | None = None) -> None:
        self.params = _check_params(params)
        self._rng = default_rng(rng)
        #: A random identifier of this key (for the :class:`~heprim.bfv.keys.SecretKey`).
        self.key_id = self._rng.random_bytes(16).hex()
        #: ``s_j``, ternary like every BFV secret.
        self.secret = SecretKey(params, sample_ternary(params.degree, self._rng), self.key_id)
        self._used: set[bytes] = set()

    @classmethod
    def from_secret(
        cls,
        secret: SecretKey,
        *,
        used_seeds: Iterable[bytes] = (),
        rng: PRNG | None = None,
    ) -> ClientKey:
        """Rebuild a client key from its secret and the seeds it already encrypted under (for
        :mod:`heprim.serialize`, which stores both so that a restart keeps the refusal of a
        reused seed).

        Args:
            secret: ``s_j`` (its ``key_id`` becomes the client key's).
            used_seeds: every seed the key encrypted under before, each 32 bytes, once.
            rng: as for the constructor.

        Raises:
            ParameterError: not a :class:`~heprim.bfv.keys.SecretKey`, or a seed that is not 32
                bytes or appears twice.
        """
        if not isinstance(secret, SecretKey):
            raise ParameterError(f"secret must be a bfv.SecretKey, got {type(secret).__name__}")
        seeds = [_check_seed(seed) for seed in used_seeds]
        used = set(seeds)
        if len(used) != len(seeds):
            raise ParameterError("a used seed appears twice: the record of used seeds is corrupt")
        key = cls.__new__(cls)
        key.params = secret.params
        key._rng = default_rng(rng)
        key.key_id = secret.key_id
        key.secret = secret
        key._used = used
        return key

    def __repr__(self) -> str:
        return f"bfv.ClientKey(N={self.params.degree}, used={len(self._used)} seeds)"

    @property
    def used_seeds(self) -> frozenset[bytes]:
        """Every seed this key encrypted under (what must survive a restart)."""
        return frozenset(self._used)

    def has_used(self, seed: bytes) -> bool:
        """Whether this key already encrypted under the ``a`` of ``seed``."""
        return seed in self._used

    def encrypt(
        self,
        plaintexts: Sequence[Plaintext],
        seeds: Sequence[bytes],
        *,
        level: int,
        rng: PRNG | None = None,
    ) -> RingElement:
        """``c0_k = -a_k s_j + round(Q_l m_k / t) + e_k`` modulo ``Q_l`` for each plaintext
        ``m_k`` and the common ``a_k`` of ``seeds[k]``: shape ``(count,)``, coefficient form.

        The encoding rounds ``Q_l m / t`` like :class:`~heprim.bfv.scheme.Encryptor` (error
        below 1/2), so the fresh noise is that of a symmetric BFV encryption.

        Raises:
            ProtocolError: a seed was used by this key before, or twice here (nothing is
                encrypted then).
            KeyMismatchError: a plaintext was encoded under other parameters.
        """
        if len(plaintexts) != len(seeds) or not seeds:
            raise ParameterError("give one seed per plaintext, and at least one")
        for p in plaintexts:
            if not isinstance(p, Plaintext):
                raise ParameterError(f"encrypt takes bfv.Plaintexts, got {type(p).__name__}")
            p.check_params(self.params)
        fresh = set(seeds)
        if len(fresh) != len(seeds) or fresh & self._used:
            raise ProtocolError(
                "this client key already encrypted under one of these common seeds (a session "
                "id used twice): a second RLWE sample with the same a would reveal the "
                "difference of the messages; start a new session"
            )
        a = expand_common_a(self.params, seeds, level)
        self._used |= fresh  # before any output exists: a failure below never allows a retry
        rng = default_rng(rng if rng is not None else self._rng)
        ring = a.ring
        masked = (-(a * self.secret.power_ntt(1, level))).intt()
        errors = ring.sample_gaussian(rng, shape=(len(seeds),), sigma=ERROR_STDDEV)
        messages = ring.stack([p.scaled(level) for p in plaintexts])
        return masked + errors + messages

    def threshold_shares(
        self, threshold: int, indices: Sequence[int], *, level: int
    ) -> dict[int, RingElement]:
        """Shamir shares of ``s_j`` modulo ``Q_l`` (NTT form) for the decryptors of share
        ``indices``; any ``threshold`` of them recover ``s_j`` (MTBH sec. 5). Send share ``i``
        to decryptor ``i`` over a private channel, once."""
        secret = self.secret.power_ntt(1, context_of(self.params).check_level(level))
        return shamir_share(secret, threshold, indices, rng=self._rng)


def common_a_decryption_share(
    a: RingElement, share: RingElement, *, smudging_bits: int, rng: PRNG | None = None
) -> RingElement:
    """``d_i = s'_i a + e_smg`` (coefficient form) for each common ``a`` of a batch: decryptor
    ``i``'s part of the collective decryption (Protocol 3) of ``(sum c0_j, a)``.

    Args:
        a: the common elements (:func:`expand_common_a`), NTT form: one or a flat batch.
        share: the decryptor's additive share of ``s_S`` over the same ring: ``lambda_i^T`` times
            the sum of its Shamir shares of the contributors' keys.
        smudging_bits: ``b``; the noise is uniform in ``[-2^b, 2^b)`` (as
            :func:`decryption_share`; :func:`max_smudging_bits` with
            :func:`client_noise_bound` sizes it, :func:`check_smudging_security` is the
            caller's floor).
        rng: the randomness of the smudging noise.
    """
    if not isinstance(a, RingElement) or not isinstance(share, RingElement):
        raise ParameterError("a and the share are RingElements")
    if share.ring != a.ring or share.shape != ():
        raise KeyMismatchError("the additive share is not one element of the ring of a")
    if isinstance(smudging_bits, bool) or not isinstance(smudging_bits, int):
        raise ParameterError(f"smudging_bits must be an integer, got {smudging_bits!r}")
    modulus = math.prod(a.ring.moduli)
    if smudging_bits < 0 or 1 << (smudging_bits + 1) >= modulus:
        raise ParameterError(
            f"smudging_bits must lie in [0, {modulus.bit_length() - 2}] (the noise 2^(b+1) must "
            "stay below Q_l); size it with max_smudging_bits"
        )
    if len(a.shape) > 1:
        raise ParameterError("a is one element or a flat batch of them")
    rng = default_rng(rng)
    products = (a.ntt() * share.ntt()).intt()
    if not a.shape:
        return products + _smudging(a.ring, smudging_bits, rng)
    noise = [_smudging(a.ring, smudging_bits, rng) for _ in range(a.shape[0])]
    return products + a.ring.stack(noise)


def combine_common_a_decryption(
    params: Parameters, c0: RingElement, shares: Sequence[RingElement]
) -> Plaintext:
    """``round(t/Q_l (sum c0_j + sum d_i)) mod t``: the plaintext sum of the contributors.

    Args:
        params: the parameter set.
        c0: the sum of the contributors' :meth:`ClientKey.encrypt` outputs for one ``a``
            (coefficient form, modulo ``Q_l``).
        shares: every active decryptor's :func:`common_a_decryption_share` for that ``a``.

    Raises:
        NoiseBudgetExhausted: the noise plus the smudging reached 3/8 of the plaintext step, or
            the shares do not add up to ``s_S`` (a missing or a wrong share).
    """
    params = _check_params(params)
    if not isinstance(c0, RingElement) or c0.is_ntt or c0.shape != ():
        raise ParameterError("c0 is one coefficient-form element of R_Q_l")
    if not shares:
        raise ParameterError("no decryption shares to combine")
    total = c0
    for d in shares:
        if not isinstance(d, RingElement) or d.ring != c0.ring or d.is_ntt or d.shape != ():
            raise ParameterError(
                "decryption shares are coefficient-form elements of the ring of c0"
            )
        total = total + d
    return round_to_plaintext(params, total)
