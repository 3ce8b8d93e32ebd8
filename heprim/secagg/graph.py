"""Who shares secrets with whom: the complete graph (SecAgg) or a random Harary graph (SecAgg+).

Bonawitz et al. (2017) let every client share its secrets with every other client: O(n) work
and traffic per client, O(n^2) for the server. Bell et al. (CCS 2020, "Secure single-server
aggregation with (poly)logarithmic overhead", section 3) show that a sparse random graph of
degree k = O(log n) suffices: a client masks with, and shares its secrets among, its k
neighbours only. heprim uses the *Harary graph* H(k, n) over a random cyclic order of the
clients, as deployed SecAgg+ does: place the n clients on a cycle in a uniformly random order
and join each to the k/2 nearest clients on either side. For a fixed client its neighbourhood is
then a uniformly random k-subset of the others.

**Choosing (k, t)** (:func:`choose_graph`). Given n, the tolerated fraction gamma of corrupted
clients (colluding with the server) and the dropout rate delta, let C = ceil(gamma n) and
D = ceil(delta n) be the counts of corrupted and dropped clients, chosen independently of the
random order. The number of corrupted (dropped) neighbours of a client then follows the
hypergeometric law Hyp(n - 1, C, k) (Hyp(n - 1, D, k)), whose tails are computed exactly in
log space. Three bad events are bounded with a union bound over the n clients:

1. *privacy of one client*: a client has enough corrupted neighbours to rebuild both of its
   secrets, i.e. at least t of them (semi-honest server), or at least 2t - k of them when the
   server is active (it may show half of the honest neighbours a "dropped" view and half a
   "survived" view, Bonawitz et al. section 6: the adversary needs h_A + c >= t and h_B + c >= t
   with h_A + h_B <= k - c);
2. *privacy of the sum*: the honest survivors' graph falls apart, so the server learns partial
   sums. In H(k, n) the survivors stay connected unless k/2 cyclically consecutive clients are
   all removed (corrupted or dropped); the chance of that for one window is
   C(n - k/2, C + D - k/2) / C(n, C + D);
3. *correctness*: some client needing reconstruction keeps fewer than t live neighbours, i.e.
   more than k - t of them dropped.

The security bound is P1 + P2 <= 2^-sigma (sigma = 40) and the correctness bound P3 <= 2^-eta
(eta = 20). :func:`choose_graph` takes the smallest even k for which some t satisfies both and
then the *largest* such t (the most privacy margin that still meets the correctness target). When
no k < n - 1 works, it falls back to the complete graph, where the counts are deterministic:
t > C (semi-honest) or t > (n - 1 + C) / 2 (active), and t <= n - 1 - D. Both bounds are
reported back in :class:`GraphParams`, so a test (and a user) can check them.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from heprim.errors import InsecureParametersWarning, ParameterError
from heprim.math.prng import KeyedPRNG

__all__ = [
    "GraphParams",
    "Profile",
    "choose_graph",
    "graph_seed",
    "hypergeometric_log_tail",
    "neighbours",
    "neighbours_of",
]

Profile = Literal["semi-honest", "active"]
_LN2: Final = math.log(2.0)


def _log_comb(a: int, b: int) -> float:
    if b < 0 or b > a:
        return -math.inf
    return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)


def hypergeometric_log_tail(population: int, marked: int, draws: int) -> npt.NDArray[np.float64]:
    """``out[x] = ln P[X >= x]`` for x = 0 .. draws + 1, X ~ Hyp(population, marked, draws).

    X counts the marked items among ``draws`` drawn without replacement from ``population``.
    The probabilities are summed in log space from the far tail inwards, so tails far below
    2^-40 keep their relative precision.
    """
    if not 0 <= marked <= population or not 0 <= draws <= population:
        raise ParameterError("hypergeometric parameters must satisfy 0 <= marked, draws <= N")
    low, high = max(0, draws - (population - marked)), min(draws, marked)
    support = np.arange(low, high + 1)
    log_pmf = np.array(
        [
            _log_comb(marked, int(j)) + _log_comb(population - marked, draws - int(j))
            for j in support
        ]
    ) - _log_comb(population, draws)
    out = np.full(draws + 2, -np.inf)
    out[: low + 1] = 0.0
    out[low : high + 1] = np.logaddexp.accumulate(log_pmf[::-1])[::-1]
    out[low] = 0.0  # the whole support: exactly 1, whatever the rounding said
    return out


@dataclass(frozen=True)
class GraphParams:
    """The sharing graph of one session and the guarantees it was chosen for.

    Attributes:
        n: number of participants.
        k: degree (number of neighbours); ``n - 1`` is the complete graph of SecAgg.
        t: Shamir threshold: shares needed to rebuild a secret; at most ``k``.
        profile: ``"semi-honest"`` or ``"active"`` (consistency round, signatures).
        corrupted_fraction, dropout_rate: the gamma and delta the bounds assume.
        security_bits: -log2 of the bound on a privacy failure (``inf`` when impossible).
        correctness_bits: -log2 of the bound on an abort with at most delta n dropouts.
    """

    n: int
    k: int
    t: int
    profile: Profile
    corrupted_fraction: float
    dropout_rate: float
    security_bits: float
    correctness_bits: float

    @property
    def complete(self) -> bool:
        """Whether this is the complete graph (SecAgg rather than SecAgg+)."""
        return self.k == self.n - 1


def _counts(n: int, corrupted_fraction: float, dropout_rate: float) -> tuple[int, int]:
    for name, value in (("corrupted_fraction", corrupted_fraction), ("dropout_rate", dropout_rate)):
        if not 0.0 <= value < 1.0:
            raise ParameterError(f"{name} must be in [0, 1), got {value}")
    # The tiny epsilon keeps 0.1 * 100 at 10 rather than ceil(10.000000000000002) = 11.
    c = min(math.ceil(corrupted_fraction * n - 1e-9), n - 1)
    d = min(math.ceil(dropout_rate * n - 1e-9), n - 1)
    return c, d


def _bounds(n: int, k: int, t: int, *, c: int, d: int, profile: Profile) -> tuple[float, float]:
    """(security_bits, correctness_bits) of the graph (n, k) with threshold t."""
    if k == n - 1:  # complete graph: the counts are deterministic
        need = t if profile == "semi-honest" else 2 * t - k
        security = math.inf if c < need else 0.0
        correctness = math.inf if d <= k - t else 0.0
        return security, correctness
    log_n = math.log(n)
    need = t if profile == "semi-honest" else 2 * t - k
    corrupt_tail = hypergeometric_log_tail(n - 1, c, k)
    log_p1 = log_n + (corrupt_tail[need] if need > 0 else 0.0)
    half, removed = k // 2, c + d
    log_p2 = (
        log_n + _log_comb(n - half, removed - half) - _log_comb(n, removed)
        if removed >= half
        else -math.inf
    )
    drop_tail = hypergeometric_log_tail(n - 1, d, k)
    log_p3 = log_n + drop_tail[k - t + 1]
    security = max(0.0, -float(np.logaddexp(log_p1, log_p2)) / _LN2)
    correctness = max(0.0, -float(log_p3) / _LN2)
    return security, correctness


def _check_structure(n: int, k: int, t: int) -> None:
    if not 2 <= n < 2**32:
        raise ParameterError(f"secure aggregation needs at least 2 participants, got {n}")
    if not 1 <= k <= n - 1:
        raise ParameterError(f"the degree k must be in [1, n - 1] = [1, {n - 1}], got {k}")
    if k != n - 1 and k % 2:
        raise ParameterError(f"a Harary graph needs an even degree k (or k = n - 1), got {k}")
    if not 1 <= t <= k:
        raise ParameterError(f"the threshold t must be in [1, k] = [1, {k}], got {t}")


def choose_graph(
    n: int,
    *,
    corrupted_fraction: float = 0.1,
    dropout_rate: float = 0.1,
    profile: Profile = "semi-honest",
    security_bits: int = 40,
    correctness_bits: int = 20,
    sparse: bool = True,
    k: int | None = None,
    t: int | None = None,
) -> GraphParams:
    """The sparsest graph and threshold meeting the bounds of the module docstring.

    Args:
        n: number of participants.
        corrupted_fraction: gamma, the fraction of clients that may collude with the server.
        dropout_rate: delta, the fraction of clients that may drop out during the session.
        profile: ``"semi-honest"`` server, or ``"active"`` (changes the privacy condition).
        security_bits, correctness_bits: sigma and eta.
        sparse: ``False`` skips the search and returns the complete graph (SecAgg).
        k, t: force the degree and threshold (e.g. to match another system); the achieved
            bounds are still computed, and an :class:`InsecureParametersWarning` is emitted
            when they miss the targets.

    Raises:
        ParameterError: no threshold can satisfy both bounds even on the complete graph (too
            many corrupted or dropped clients for n), or a forced (k, t) is malformed.
    """
    if profile not in ("semi-honest", "active"):
        raise ParameterError(f"profile must be 'semi-honest' or 'active', got {profile!r}")
    c, d = _counts(n, corrupted_fraction, dropout_rate)
    if t is not None:
        kk = n - 1 if k is None else k
        _check_structure(n, kk, t)
        sec, cor = _bounds(n, kk, t, c=c, d=d, profile=profile)
        if sec < security_bits or cor < correctness_bits:
            warnings.warn(
                f"graph (n={n}, k={kk}, t={t}) gives 2^-{sec:.1f} privacy and 2^-{cor:.1f} "
                f"correctness failure bounds, below the 2^-{security_bits} / "
                f"2^-{correctness_bits} targets for gamma={corrupted_fraction}, "
                f"delta={dropout_rate}",
                InsecureParametersWarning,
                stacklevel=2,
            )
        return GraphParams(n, kk, t, profile, corrupted_fraction, dropout_rate, sec, cor)
    if k is not None:
        raise ParameterError("give the threshold t together with the degree k")
    _check_structure(n, n - 1, 1)
    log_n, target = math.log(n), -correctness_bits * _LN2
    for degree in range(2, n - 1 if sparse else 2, 2):
        # Correctness caps t from above; privacy only improves as t grows, so the largest t
        # meeting the correctness target is the one to test.
        drop_tail = hypergeometric_log_tail(n - 1, d, degree)
        feasible = [
            th for th in range(degree, 0, -1) if log_n + drop_tail[degree - th + 1] <= target
        ]
        if not feasible:
            continue
        sec, cor = _bounds(n, degree, feasible[0], c=c, d=d, profile=profile)
        if sec >= security_bits:
            return GraphParams(
                n, degree, feasible[0], profile, corrupted_fraction, dropout_rate, sec, cor
            )
    degree = n - 1
    low = c + 1 if profile == "semi-honest" else (degree + c) // 2 + 1
    high = degree - d
    if low > high or high < 1:
        raise ParameterError(
            f"no threshold protects {n} clients against {c} corrupted and {d} dropped ones "
            f"(the complete graph would need {low} <= t <= {high}); lower corrupted_fraction "
            "or dropout_rate, or aggregate more clients"
        )
    sec, cor = _bounds(n, degree, high, c=c, d=d, profile=profile)
    return GraphParams(n, degree, high, profile, corrupted_fraction, dropout_rate, sec, cor)


def graph_seed(session: bytes) -> bytes:
    """The 32-byte seed of the session's random cyclic order (public: derived from the id)."""
    return hashlib.sha256(b"heprim.secagg.v1.graph" + session).digest()


def _cyclic_order(participants: Sequence[int], seed: bytes) -> list[int]:
    ids = sorted(participants)
    # A uniformly random permutation: sort by 64-bit keyed random labels (ties, with chance
    # below n^2 / 2^65, are broken by id, which keeps the order a function of the seed).
    labels = np.frombuffer(KeyedPRNG(seed).random_bytes(8 * len(ids)), dtype="<u8")
    order = np.argsort(labels, kind="stable")
    return [ids[int(i)] for i in order]


def neighbours(participants: Sequence[int], k: int, seed: bytes) -> dict[int, frozenset[int]]:
    """Every participant's neighbourhood in H(k, n) over the cyclic order drawn from ``seed``."""
    n = len(participants)
    if len(set(participants)) != n:
        raise ParameterError("participant ids must be distinct")
    _check_structure(n, k, 1)
    if k == n - 1:
        everyone = frozenset(participants)
        return {u: everyone - {u} for u in participants}
    cycle = _cyclic_order(participants, seed)
    half = k // 2
    return {
        u: frozenset(cycle[(i + off) % n] for off in range(-half, half + 1) if off)
        for i, u in enumerate(cycle)
    }


def neighbours_of(client: int, participants: Sequence[int], k: int, seed: bytes) -> frozenset[int]:
    """One participant's neighbourhood (what a client computes for itself)."""
    n = len(participants)
    if client not in participants:
        raise ParameterError(f"client {client} is not among the participants")
    _check_structure(n, k, 1)
    if k == n - 1:
        return frozenset(participants) - {client}
    cycle = _cyclic_order(participants, seed)
    i, half = cycle.index(client), k // 2
    return frozenset(cycle[(i + off) % n] for off in range(-half, half + 1) if off)
