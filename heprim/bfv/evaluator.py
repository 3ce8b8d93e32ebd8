"""The BFV evaluator: homomorphic arithmetic, relinearization, rotations and modulus switching.

:class:`Evaluator` gathers every operation on ciphertexts. The keyless ones (additions,
plaintext and scalar products, the raw product, modulus switching) are also available as
ciphertext operators (:mod:`heprim.bfv.ciphertext`); the keyed ones need evaluation keys:

* :meth:`Evaluator.relinearize` turns a product ``(d_0, d_1, d_2)``, decryptable with
  ``(1, s, s^2)``, back into a pair: ``(d_0, d_1) + KeySwitch(d_2)`` with the key from ``s^2``
  to ``s`` (Fan-Vercauteren, section 4, ``Relin``; hybrid key switching,
  :mod:`heprim.bfv.keyswitch`).
* :meth:`Evaluator.apply_galois` applies ``X -> X^k`` to both polynomials, which makes the
  ciphertext decryptable under ``s(X^k)``, then switches ``c_1`` back to ``s`` with the Galois
  key of ``k`` (Gentry, Halevi and Smart, "Fully homomorphic encryption with polylog overhead",
  EUROCRYPT 2012, section 4.2). With batching, ``k = 3^r mod 2N`` rotates both slot rows left
  by ``r`` (:meth:`rotate_rows`) and ``k = 2N - 1`` swaps them (:meth:`rotate_columns`).
* :meth:`sum_slots` adds all slots into every slot with ``log2(N/2)`` rotations and one swap.

A rotation by a number of steps without its own key is composed from the keys available (by
default the powers of two both ways), choosing the shortest signed binary decomposition.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from heprim.bfv import ciphertext as _ops
from heprim.bfv.ciphertext import Ciphertext
from heprim.bfv.context import context_of
from heprim.bfv.encoder import Plaintext
from heprim.bfv.keys import GaloisKeys, KeySwitchKey, RelinKeys
from heprim.bfv.keyswitch import key_switch
from heprim.bfv.params import Parameters
from heprim.errors import KeyMismatchError, ParameterError
from heprim.ring import galois_element
from heprim.ring.modarith import add_mod

__all__ = ["Evaluator"]

U64 = npt.NDArray[np.uint64]


def _naf(value: int) -> list[int]:
    """The non-adjacent form of ``value >= 0`` as signed powers of two (fewest nonzero digits)."""
    terms: list[int] = []
    power = 1
    while value:
        if value & 1:
            digit = 2 - (value & 3)  # +1 or -1
            terms.append(digit * power)
            value -= digit
        value >>= 1
        power <<= 1
    return terms


class Evaluator:
    """Homomorphic operations under one parameter set, with optional evaluation keys.

    Args:
        params: the parameter set.
        relin_keys: needed by :meth:`relinearize` and :meth:`multiply_relin`.
        galois_keys: needed by the rotations and :meth:`sum_slots`.

    Raises:
        KeyMismatchError: keys of other parameters, or relinearization and Galois keys of two
            different key sets.
    """

    __slots__ = ("_ctx", "galois_keys", "params", "relin_keys")

    def __init__(
        self,
        params: Parameters,
        *,
        relin_keys: RelinKeys | None = None,
        galois_keys: GaloisKeys | None = None,
    ) -> None:
        if not isinstance(params, Parameters):
            raise ParameterError(f"expected bfv.Parameters, got {type(params).__name__}")
        if relin_keys is not None and not isinstance(relin_keys, RelinKeys):
            raise ParameterError(
                f"relin_keys must be bfv.RelinKeys, got {type(relin_keys).__name__}"
            )
        if galois_keys is not None and not isinstance(galois_keys, GaloisKeys):
            raise ParameterError(
                f"galois_keys must be bfv.GaloisKeys, got {type(galois_keys).__name__}"
            )
        for keys in (relin_keys, galois_keys):
            if keys is not None and keys.params != params:
                raise KeyMismatchError("the evaluation keys belong to other BFV parameters")
        if (
            relin_keys is not None
            and galois_keys is not None
            and relin_keys.key_id != galois_keys.key_id
        ):
            raise KeyMismatchError(
                "the relinearization and Galois keys come from different key sets"
            )
        self.params = params
        self.relin_keys = relin_keys
        self.galois_keys = galois_keys
        self._ctx = context_of(params)

    def __repr__(self) -> str:
        keys = [name for name, k in (("relin", self.relin_keys), ("galois", self.galois_keys)) if k]
        return f"bfv.Evaluator(N={self.params.degree}, keys={keys})"

    def _own(self, ct: object) -> Ciphertext:
        if not isinstance(ct, Ciphertext):
            raise ParameterError(f"expected a bfv.Ciphertext, got {type(ct).__name__}")
        if ct.params != self.params:
            raise KeyMismatchError("the ciphertext uses other BFV parameters than this evaluator")
        return ct

    # ------------------------------------------------------------------ keyless operations

    def add(self, a: Ciphertext, b: Ciphertext) -> Ciphertext:
        """``a + b``."""
        return _ops.add(self._own(a), self._own(b))

    def sub(self, a: Ciphertext, b: Ciphertext) -> Ciphertext:
        """``a - b``."""
        return _ops.subtract(self._own(a), self._own(b))

    def negate(self, a: Ciphertext) -> Ciphertext:
        """``-a``."""
        return _ops.negate(self._own(a))

    def add_plain(self, a: Ciphertext, plain: Plaintext) -> Ciphertext:
        """``a + m``."""
        return _ops.add_plain(self._own(a), plain)

    def sub_plain(self, a: Ciphertext, plain: Plaintext) -> Ciphertext:
        """``a - m``."""
        return _ops.subtract_plain(self._own(a), plain)

    def multiply_plain(self, a: Ciphertext, plain: Plaintext) -> Ciphertext:
        """``a * m`` (slot-wise with batching)."""
        return _ops.multiply_plain(self._own(a), plain)

    def multiply_scalar(self, a: Ciphertext, value: int) -> Ciphertext:
        """``a * value`` for an integer (modulo ``t``)."""
        return _ops.multiply_scalar(self._own(a), value)

    def multiply(self, a: Ciphertext, b: Ciphertext) -> Ciphertext:
        """The raw product (size 3 for two fresh ciphertexts): relinearize it before rotating."""
        return _ops.multiply(self._own(a), self._own(b))

    def square(self, a: Ciphertext) -> Ciphertext:
        """``a * a`` (the tensor shares the extension and transforms of ``a``)."""
        a = self._own(a)
        return _ops.multiply(a, a)

    def mod_switch_to_next(self, a: Ciphertext) -> Ciphertext:
        """Drop the last ciphertext prime (see :func:`heprim.bfv.ciphertext.mod_switch`)."""
        a = self._own(a)
        if a.level == 1:
            raise ParameterError("the ciphertext is at level 1: there is no prime left to drop")
        return _ops.mod_switch(a, a.level - 1)

    def mod_switch_to(self, a: Ciphertext, level: int) -> Ciphertext:
        """Switch down to ``level`` primes in one rounding."""
        return _ops.mod_switch(self._own(a), level)

    # ------------------------------------------------------------------ keyed operations

    def _check_keys(self, ct: Ciphertext, keys: RelinKeys | GaloisKeys) -> None:
        if ct.key_id != keys.key_id:
            raise KeyMismatchError(
                f"the ciphertext is under key {ct.key_id[:8]}.., the evaluation keys under "
                f"{keys.key_id[:8]}..; use the evaluation keys of the ciphertext's key set"
            )

    def _switch_and_add(
        self, ct: Ciphertext, base: tuple[U64, ...], c: U64, key: KeySwitchKey
    ) -> Ciphertext:
        """``(base_0 + r_0, base_1 + r_1)`` (missing bases count as zero) with
        ``(r_0, r_1) = KeySwitch(c)``."""
        ring = self._ctx.ring_q(ct.level)
        switched = key_switch(self._ctx, c, key)
        for i, poly in enumerate(base):
            add_mod(switched[i], poly, ring.q_array, out=switched[i])
        return Ciphertext._make(ct.params, ct.key_id, ring.from_array(switched))

    def relinearize(self, a: Ciphertext) -> Ciphertext:
        """A size-3 product back to size 2 (size-2 ciphertexts are returned as they are).

        Raises:
            ParameterError: without relinearization keys, or for a size above 3 (relinearize
                after every multiplication).
            KeyMismatchError: the ciphertext is under another key set.
        """
        a = self._own(a)
        if a.size == 2:
            return a
        if self.relin_keys is None:
            raise ParameterError(
                "relinearization needs relin_keys: "
                "Evaluator(params, relin_keys=keygen.relin_keys())"
            )
        self._check_keys(a, self.relin_keys)
        if a.size != 3:
            raise ParameterError(
                f"relinearization keys reduce size 3 to 2; this ciphertext has size {a.size}. "
                "Relinearize after every multiplication"
            )
        data = a.polys.data
        return self._switch_and_add(a, (data[0], data[1]), data[2], self.relin_keys.key)

    def multiply_relin(self, a: Ciphertext, b: Ciphertext) -> Ciphertext:
        """``a * b`` relinearized (size 2)."""
        return self.relinearize(self.multiply(a, b))

    def square_relin(self, a: Ciphertext) -> Ciphertext:
        """``a * a`` relinearized."""
        return self.relinearize(self.square(a))

    def _galois_key(self, ct: Ciphertext, element: int) -> KeySwitchKey:
        if self.galois_keys is None:
            raise ParameterError(
                "rotations need galois_keys: Evaluator(params, galois_keys=keygen.galois_keys())"
            )
        self._check_keys(ct, self.galois_keys)
        key = self.galois_keys.get(element)
        if key is None:
            raise ParameterError(
                f"no Galois key for the element {element}; create it with "
                "keygen.galois_keys(steps=[...]) or elements=[...]"
            )
        return key

    def apply_galois(self, a: Ciphertext, element: int) -> Ciphertext:
        """``X -> X^element`` on the plaintext of ``a`` (needs that element's Galois key)."""
        a = self._own(a)
        if isinstance(element, bool) or not isinstance(element, int):
            raise ParameterError(f"a Galois element is an int, got {element!r}")
        element %= 2 * self.params.degree
        if element == 1:
            return a
        if a.size != 2:
            raise ParameterError("relinearize the ciphertext (size 2) before rotating it")
        key = self._galois_key(a, element)
        moved = a.polys.automorphism(element).data
        return self._switch_and_add(a, (moved[0],), moved[1], key)

    def _rotation_plan(self, a: Ciphertext, steps: int) -> list[int]:
        """Galois elements whose composition rotates the rows left by ``steps``."""
        n, row = self.params.degree, self.params.degree // 2
        steps %= row
        if steps == 0:
            return []
        available: Mapping[int, KeySwitchKey] = self.galois_keys or {}
        direct = galois_element(n, steps)
        if direct in available:
            return [direct]
        candidates = [
            _naf(steps),
            [-term for term in _naf(row - steps)],
            [1 << i for i in range(steps.bit_length()) if steps >> i & 1],
            [-(1 << i) for i in range(row.bit_length()) if (row - steps) >> i & 1],
        ]
        # A term of N/2 steps is a full turn of the rows: drop it (NAF(511) = 512 - 1 -> -1).
        plans = [[s for s in plan if s % row] for plan in candidates]
        usable = [plan for plan in plans if all(galois_element(n, s) in available for s in plan)]
        if not usable:
            self._galois_key(a, direct)  # raises the explanatory error
        best = min(usable, key=len)
        return [galois_element(n, s) for s in best]

    def rotate_rows(self, a: Ciphertext, steps: int) -> Ciphertext:
        """Rotate both slot rows left by ``steps`` (right for negative ``steps``)."""
        a = self._own(a)
        if isinstance(steps, bool) or not isinstance(steps, int):
            raise ParameterError(f"steps must be an int, got {steps!r}")
        if not self.params.batching:
            raise ParameterError(
                "row rotations act on batched slots; " + self.params.explain_batching()
            )
        for element in self._rotation_plan(a, steps):
            a = self.apply_galois(a, element)
        return a

    def rotate_columns(self, a: Ciphertext) -> Ciphertext:
        """Swap the two slot rows (``X -> X^(2N-1)``)."""
        a = self._own(a)
        if not self.params.batching:
            raise ParameterError(
                "column rotation acts on batched slots; " + self.params.explain_batching()
            )
        return self.apply_galois(a, 2 * self.params.degree - 1)

    def sum_slots(self, a: Ciphertext) -> Ciphertext:
        """Every slot holds the sum of all ``N`` slots (modulo ``t``).

        Needs the Galois keys of the rotations by ``1, 2, 4, ..., N/4`` and the row swap (the
        default of :meth:`~heprim.bfv.keys.KeyGenerator.galois_keys`).
        """
        a = self._own(a)
        step = 1
        while step < self.params.degree // 2:
            a = a + self.rotate_rows(a, step)
            step *= 2
        return a + self.rotate_columns(a)
