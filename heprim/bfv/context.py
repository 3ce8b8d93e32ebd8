"""Precomputations shared by every BFV operation under one parameter set.

A :class:`Context` holds what depends only on the :class:`~heprim.bfv.params.Parameters`: the
rings of every level (``Q_l = q_1 ... q_l``, ``Q_l P`` for key switching, ``Q_l B`` for the HPS
multiplication), the scaling factors ``Delta_l = floor(Q_l / t)``, the digit decomposition of key
switching, and the plaintext NTT for batching. It is built once per parameter set
(:func:`context_of`, cached) and never holds key material.

**Levels.** A ciphertext at level ``l`` lives modulo ``Q_l``, the product of the first ``l``
primes; modulus switching drops the last one. Fresh ciphertexts are at level ``L = len(q)``.

**Key-switching digits** (hybrid key switching, Han and Ki, CT-RSA 2020; the "GHS" special modulus
of Gentry, Halevi and Smart, CRYPTO 2012). With ``K`` special primes, the ``L`` ciphertext primes
are cut into ``ceil(L / K)`` consecutive groups of ``K`` primes: each digit is bounded by a
product of ``K`` primes, no larger than ``P`` when the special primes are as large as the others,
so the key-switching noise divided by ``P`` stays as small as a fresh error. ``K = 1`` is SEAL's
decomposition (one digit per prime); more special primes mean fewer digits (fewer NTTs, smaller
keys) at the cost of ciphertext primes under the same security budget.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Final, TypeVar, cast

import numpy as np
import numpy.typing as npt

from heprim.bfv.params import Parameters, aux_count
from heprim.errors import ParameterError
from heprim.ring import NTT, Ring, ntt_tables
from heprim.ring.ntt import bit_reverse_permutation
from heprim.ring.rns import MAX_BASIS_SIZE

__all__ = ["Context", "context_of"]

U64 = npt.NDArray[np.uint64]
T = TypeVar("T")

#: The largest ciphertext size a product may have (the aux basis is sized for it).
MAX_TERMS: Final = 8


class Context:
    """The per-parameter precomputations (see the module docstring). Build with :func:`context_of`.

    Args:
        params: the parameter set.

    Rings and tables are built on first use and kept on the instance.
    """

    def __init__(self, params: Parameters) -> None:
        if not isinstance(params, Parameters):
            raise ParameterError(f"expected bfv.Parameters, got {type(params).__name__}")
        self.params = params
        self.degree = params.degree
        self.t = params.plain_modulus
        #: The special primes ``p_1, ..., p_K`` of key switching.
        self.special: tuple[int, ...] = params.p
        size = max(len(params.p), 1)
        #: Digit groups (limb indices of Q) of hybrid key switching at the top level.
        self.digit_groups: tuple[tuple[int, ...], ...] = tuple(
            tuple(range(start, min(start + size, params.max_level)))
            for start in range(0, params.max_level, size)
        )
        self._memo: dict[tuple[object, ...], object] = {}

    def _memoized(self, key: tuple[object, ...], make: Callable[[], T]) -> T:
        if key not in self._memo:
            self._memo[key] = make()  # an exception leaves nothing behind
        return cast(T, self._memo[key])

    # ------------------------------------------------------------------ rings

    def ring_q(self, level: int) -> Ring:
        """``R_{Q_l}``, the ring of ciphertexts at ``level``."""
        self.check_level(level)
        return self._memoized(("q", level), lambda: Ring(self.degree, self.params.q[:level]))

    def ring_qp(self, level: int) -> Ring:
        """``R_{Q_l P}``, where key switching computes."""
        self.check_level(level)
        if not self.special:
            raise ParameterError(
                "these parameters have no special primes, so they support no key switching "
                "(relinearization, rotations); add p or log_p to the parameters"
            )
        moduli = self.params.q[:level] + self.special
        return self._memoized(("qp", level), lambda: Ring(self.degree, moduli))

    def aux_moduli(self, level: int, terms: int) -> tuple[int, ...]:
        """The HPS auxiliary primes ``B`` for a product of ``terms``-term sums at ``level``."""
        self.check_level(level)
        count = aux_count(
            self.params.q_modulus_at(level), self.t, self.degree, terms, self.params.aux_primes
        )
        if count is None or level + count > MAX_BASIS_SIZE:
            raise ParameterError(
                f"cannot multiply ciphertexts this large (a sum of {terms} products per "
                "coefficient) exactly; relinearize after each multiplication"
            )
        return self.params.aux_primes[:count]

    def ring_qb(self, level: int, terms: int) -> Ring:
        """``R_{Q_l B}``, where the HPS tensor product is exact."""
        moduli = self.params.q[:level] + self.aux_moduli(level, terms)
        return self._memoized(("qb", moduli), lambda: Ring(self.degree, moduli))

    def ring_b(self, level: int, terms: int) -> Ring:
        """``R_B``, the auxiliary ring alone."""
        moduli = self.aux_moduli(level, terms)
        return self._memoized(("b", moduli), lambda: Ring(self.degree, moduli))

    def delta(self, level: int) -> int:
        """``Delta_l = floor(Q_l / t)``, the scale of plaintexts inside ciphertexts at ``level``."""
        self.check_level(level)
        return self.params.q_modulus_at(level) // self.t

    def digits(self, level: int) -> tuple[tuple[int, ...], ...]:
        """The digit groups of key switching at ``level`` (groups cut at the level's last prime)."""
        self.check_level(level)

        def make() -> tuple[tuple[int, ...], ...]:
            groups = (tuple(i for i in g if i < level) for g in self.digit_groups)
            return tuple(g for g in groups if g)

        return self._memoized(("digits", level), make)

    def check_level(self, level: int) -> int:
        """Return ``level`` if it is an int in ``[1, L]``, else raise ParameterError."""
        top = self.params.max_level
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= top:
            raise ParameterError(f"a level is an int in [1, {top}], got {level!r}")
        return level

    # ------------------------------------------------------------------ plaintext slots

    @functools.cached_property
    def plain_ntt(self) -> NTT:
        """The negacyclic NTT modulo ``t`` (batching only)."""
        if not self.params.batching:
            raise ParameterError(self.params.explain_batching())
        return ntt_tables(self.degree, (self.t,))

    @functools.cached_property
    def slot_index(self) -> npt.NDArray[np.intp]:
        """SEAL's ``matrix_reps_index_map``: slot ``i`` of the ``2 x N/2`` matrix -> NTT index.

        Row 0, column ``j`` is the evaluation at ``psi^(3^j)``, row 1 at ``psi^(-3^j)``
        (``psi`` a primitive ``2N``-th root modulo ``t``); the NTT stores ``a(psi^(2 brv(i)+1))``
        at index ``i``. So ``X -> X^3`` rotates both rows left by one, and ``X -> X^(2N-1)``
        swaps them: the rotations of :class:`~heprim.bfv.evaluator.Evaluator`.
        """
        n = self.degree
        brv = bit_reverse_permutation(n)
        row = n // 2
        powers = np.empty(row, dtype=np.int64)
        power = 1
        for j in range(row):
            powers[j] = power
            power = power * 3 % (2 * n)
        first = brv[(powers - 1) // 2]
        second = brv[(2 * n - powers - 1) // 2]
        index = np.concatenate([first, second]).astype(np.intp)
        index.setflags(write=False)
        return index


@functools.lru_cache(maxsize=32)
def context_of(params: Parameters) -> Context:
    """The cached :class:`Context` of a parameter set (equal parameters share one)."""
    return Context(params)
