"""The ring ``R_Q = Z_Q[X]/(X^N + 1)`` in RNS form, and its (batched) elements.

A :class:`Ring` is fixed by its degree ``N`` (a power of two) and its RNS moduli
``q_1, ..., q_L`` (distinct NTT-friendly primes below ``2^30``, ``Q = prod q_i``). A
:class:`RingElement` holds a ``uint64`` array of shape ``(*batch, L, N)``: limb ``l`` of
coefficient (or NTT slot) ``i`` of every polynomial of the batch. It knows whether it is in
coefficient form or in NTT form, and never mixes the two silently:

* ``+``, ``-`` and negation work in either form (both operands in the same one);
* ``*`` of two NTT-form elements is the pointwise product (the fast path); of two
  coefficient-form elements it transforms, multiplies and transforms back;
* :meth:`RingElement.ntt` / :meth:`RingElement.intt` convert, in batch.

Batches broadcast like numpy arrays: a key-switching key of shape ``(2, d)`` times a digit
decomposition of shape ``(d,)`` is one call, and :meth:`Ring.dot` sums such products with a single
modular reduction per 16 terms.

Elements are values: every operation returns a new element; :attr:`RingElement.data` is a
read-only view.

**Building BFV on this ring** (Halevi, Polyakov, Shoup, CT-RSA 2019: "HPS"):

* Encryption scales by ``Delta = floor(Q / t)``: ``m * delta`` takes the big integer as a scalar
  (reduced per limb); plaintexts come in with :meth:`Ring.from_ints` (int64 arrays are fast).
* Decryption: ``x = c0 + c1 * s`` in ``R_Q``, then ``x.intt().scale_and_round(t, t)`` is
  ``round(t x / Q) mod t`` as an array.
* Multiplication (HPS): extend each ciphertext polynomial from ``Q`` to ``Q u P`` with
  ``c.convert_basis(ring_qp)`` (exact, centered), tensor in NTT form over ``Q u P``, then
  ``d.scale_and_round(t, ring_p)`` computes ``round(t d / Q)`` in ``P``, and
  ``.convert_basis(ring_q)`` brings it back to ``Q``.
* Hybrid key switching with special primes ``P``: split ``c`` into digits with
  ``c.convert_basis(Ring(N, digit_moduli))`` (a projection, in either form), extend each digit to
  ``Q u P`` with ``convert_basis`` again, take the inner product with the key in NTT form
  (:meth:`Ring.dot`), and ModDown with ``.scale_and_round(1, ring_q)`` = ``round(x / P)``.
* Modulus switching: ``x.scale_and_round(1, ring.truncate(L - 1))`` divides by the last prime with
  rounding.
* Galois automorphisms ``X -> X^k`` (rotations are ``k = 3^r mod 2N``, see
  :func:`galois_element`): :meth:`RingElement.automorphism`, a signed permutation in coefficient
  form and a plain permutation of the slots in NTT form.
* BEHZ (Bajard, Eynard, Hasan, Zucca, SAC 2016) instead of HPS needs the plain fast base
  conversion, ``convert_basis(target, exact=False)``, plus limb-wise Montgomery and
  Shenoy-Kumaresan corrections, which the element arithmetic expresses; HPS needs no extra
  moduli and is the recommended path.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from heprim.errors import KeyMismatchError, ParameterError
from heprim.math.prng import (
    PRNG,
    default_rng,
    sample_centered_binomial,
    sample_discrete_gaussian,
    sample_ternary,
    sample_uniform_mod,
)
from heprim.ring.modarith import add_mod, mul_mod, mul_scalars, neg_mod, reduce_rows, sub_mod
from heprim.ring.ntt import NTT, bit_reverse_permutation, ntt_tables
from heprim.ring.primes import check_degree, check_moduli
from heprim.ring.rns import RNSBasis, base_converter, scale_rounder

__all__ = ["Ring", "RingElement", "galois_element"]

U64 = npt.NDArray[np.uint64]
Shape = int | tuple[int, ...]


def _shape(shape: Shape) -> tuple[int, ...]:
    result = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in result):
        raise ParameterError(f"a batch shape is a tuple of non-negative ints, got {shape!r}")
    return result


def _integer(value: object, what: str) -> int:
    """``value`` as an ``int`` if it is an integer (``int``, ``gmpy2.mpz``, numpy), not a bool."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{what} must be an integer, got {value!r}")
    return int(value)


def galois_element(degree: int, steps: int) -> int:
    """The Galois element ``3^steps mod 2N`` (SEAL's generator for batched-slot rotations).

    ``steps`` may be negative. The other generator, ``2N - 1``, swaps the two rows of BFV slots
    (and is ``X -> X^-1``).
    """
    check_degree(degree)
    return pow(3, _integer(steps, "steps"), 2 * degree)


@functools.lru_cache(maxsize=256)
def _automorphism_coefficients(
    degree: int, k: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """For ``a(X) -> a(X^k)``: coefficient ``p`` is ``+-a[source[p]]`` (``-`` where ``negate``).

    ``a_i X^i`` lands on ``X^(ik mod 2N)``, and ``X^(N + j) = -X^j``; inverting, position ``p``
    receives ``i = p k^-1 mod 2N``, negated when that exceeds ``N`` (then ``i - N`` is the source).
    """
    k_inv = pow(k, -1, 2 * degree)
    preimage = np.arange(degree, dtype=np.intp) * k_inv % (2 * degree)
    return preimage % degree, preimage >= degree


@functools.lru_cache(maxsize=256)
def _automorphism_slots(degree: int, k: int) -> npt.NDArray[np.intp]:
    """For NTT form: slot ``p`` holds ``a(psi^e)`` with ``e = 2 brv(p) + 1``; after ``X -> X^k`` it
    holds ``a(psi^(k e))``, i.e. the old slot ``brv((k e mod 2N - 1) / 2)``."""
    brv = bit_reverse_permutation(degree)
    exponent = (2 * brv + 1) * k % (2 * degree)
    return brv[(exponent - 1) // 2]


class Ring:
    """The ring ``Z_Q[X]/(X^N + 1)`` with ``Q = q_1 ... q_L`` in RNS form.

    Args:
        degree: ``N``, a power of two from 2 to ``2^17``.
        moduli: distinct primes ``q = 1 (mod 2N)`` below ``2^30``, e.g.
            ``heprim.ring.ntt_primes(N, L)``.

    Raises:
        ParameterError: for a degree that is not a power of two, or moduli that are not
            NTT-friendly primes, are too large or repeat.

    Rings are compared by value; their NTT tables are cached per ``(N, moduli)``.
    """

    __slots__ = ("_q_full", "basis", "degree", "moduli", "modulus")

    def __init__(self, degree: int, moduli: Sequence[int]) -> None:
        #: ``N``.
        self.degree: int = check_degree(degree)
        #: The RNS moduli ``(q_1, ..., q_L)``.
        self.moduli: tuple[int, ...] = check_moduli(degree, moduli)
        #: The RNS basis (decomposition, composition).
        self.basis: RNSBasis = RNSBasis(self.moduli)
        #: ``Q``, the product of the moduli.
        self.modulus: int = self.basis.modulus
        self._q_full: U64 | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ring):
            return NotImplemented
        return self.degree == other.degree and self.moduli == other.moduli

    def __hash__(self) -> int:
        return hash((self.degree, self.moduli))

    def __repr__(self) -> str:
        return f"Ring(degree={self.degree}, moduli={list(self.moduli)})"

    @property
    def ntt_tables(self) -> NTT:
        """The (cached) NTT tables of this ring."""
        return ntt_tables(self.degree, self.moduli)

    @property
    def q_array(self) -> U64:
        """The moduli as a read-only ``(L, N)`` array (full-sized: numpy is faster without
        broadcasting along the coefficients)."""
        if self._q_full is None:
            column = np.array(self.moduli, dtype=np.uint64).reshape(-1, 1)
            full = np.ascontiguousarray(np.broadcast_to(column, (len(self.moduli), self.degree)))
            full.setflags(write=False)
            self._q_full = full
        return self._q_full

    # ------------------------------------------------------------------ related rings

    def extend(self, moduli: Sequence[int]) -> Ring:
        """The ring over ``Q * P`` for the extra moduli ``P`` (e.g. HPS's auxiliary basis)."""
        return Ring(self.degree, (*self.moduli, *moduli))

    def truncate(self, count: int) -> Ring:
        """The ring over the first ``count`` moduli (a lower level of a modulus chain)."""
        limbs = len(self.moduli)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= limbs:
            raise ParameterError(f"count must be an int in [1, {limbs}], got {count!r}")
        return Ring(self.degree, self.moduli[:count])

    # ------------------------------------------------------------------ making elements

    def from_ints(self, coefficients: Any) -> RingElement:
        """The element with these integer coefficients (any sign and size, reduced mod ``Q``).

        Args:
            coefficients: ``N`` integers, or a nested sequence / numpy integer array of shape
                ``(*batch, N)`` (numpy int64 arrays take a fast path).
        """
        if isinstance(coefficients, np.ndarray) and coefficients.dtype.kind in "iu":
            shape = coefficients.shape
        else:
            shape = np.shape(np.asarray(coefficients, dtype=object))
        if not shape or shape[-1] != self.degree:
            raise ParameterError(
                f"expected {self.degree} coefficients (shape (..., {self.degree})), got shape "
                f"{shape}"
            )
        return RingElement._wrap(self, self.basis.decompose(coefficients), ntt=False)

    def from_array(self, residues: npt.ArrayLike, *, ntt: bool = False) -> RingElement:
        """An element from its residues ``(*batch, L, N)`` (copied), in the given form.

        Raises:
            ParameterError: for a wrong shape, a non-integer dtype or a residue ``>= q_l``.
        """
        array = np.asarray(residues)
        count, n = len(self.moduli), self.degree
        if array.ndim < 2 or array.shape[-2:] != (count, n):
            raise ParameterError(f"residues must have shape (..., {count}, {n}), got {array.shape}")
        if array.dtype.kind not in "iu":
            raise ParameterError(f"residues must be integers, got dtype {array.dtype}")
        if array.dtype.kind == "i" and array.size and array.min() < 0:
            raise ParameterError("residues must be non-negative (reduce them mod q first)")
        data = np.array(array, dtype=np.uint64, copy=True, order="C")
        column = np.array(self.moduli, dtype=np.uint64).reshape(-1, 1)
        if data.size and bool((data >= column).any()):
            raise ParameterError("every residue of limb l must be below q_l")
        return RingElement._wrap(self, data, ntt=bool(ntt))

    def zero(self, shape: Shape = (), *, ntt: bool = False) -> RingElement:
        """The zero polynomial (or a batch of them)."""
        data = np.zeros((*_shape(shape), len(self.moduli), self.degree), dtype=np.uint64)
        return RingElement._wrap(self, data, ntt=ntt)

    def stack(self, elements: Sequence[RingElement]) -> RingElement:
        """Stack elements of this ring (same form, same batch shape) along a new first axis."""
        if not elements:
            raise ParameterError("stack needs at least one element")
        first = elements[0]
        for e in elements:
            if not isinstance(e, RingElement):
                raise ParameterError(f"stack takes RingElements, got {type(e).__name__}")
            self._check_member(e)
            if e.is_ntt != first.is_ntt:
                raise ParameterError(_MIXED_FORMS)
            if e.shape != first.shape:
                raise ParameterError(f"cannot stack batch shapes {first.shape} and {e.shape}")
        data = np.stack([e._data for e in elements])
        return RingElement._wrap(self, data, ntt=first.is_ntt)

    def dot(self, a: RingElement, b: RingElement) -> RingElement:
        """``sum_j a[j] * b[j]`` over the first batch axis, in NTT form (e.g. key switching).

        Products are below ``2^60``, so sixteen of them are summed in ``uint64`` before each
        reduction. Shapes broadcast after the first axis.
        """
        for e in (a, b):
            if not isinstance(e, RingElement):
                raise ParameterError(f"dot takes RingElements, got {type(e).__name__}")
            self._check_member(e)
            if not e.is_ntt:
                raise ParameterError("dot works in NTT form: call .ntt() on the operands first")
        if not a.shape or not b.shape or a.shape[0] != b.shape[0]:
            raise ParameterError(
                f"dot sums over the first batch axis, which must match: {a.shape} and {b.shape}"
            )
        terms = a.shape[0]
        shape = np.broadcast_shapes(a._data.shape[1:], b._data.shape[1:])
        total = np.zeros(shape, dtype=np.uint64)
        product = np.empty(shape, dtype=np.uint64)
        for start in range(0, terms, 16):
            if start:
                reduce_rows(total, self.moduli, out=total)  # < q: room for 16 more products
            for j in range(start, min(terms, start + 16)):
                np.multiply(a._data[j], b._data[j], out=product)
                total += product
        return RingElement._wrap(self, reduce_rows(total, self.moduli, out=total), ntt=True)

    # ------------------------------------------------------------------ sampling

    def sample_uniform(
        self, rng: PRNG | None = None, *, shape: Shape = (), ntt: bool = False
    ) -> RingElement:
        """A uniformly random element of ``R_Q`` (uniform residues mod every ``q_l``).

        The NTT is a bijection, so a uniform element may be declared to be in NTT form directly
        (``ntt=True``), as SEAL does for the public ``a``: no transform is computed. With a
        :class:`heprim.math.prng.KeyedPRNG` the element is a function of the seed (batch elements
        in C order, limbs in order, coefficients in order).
        """
        rng = default_rng(rng)
        batch = _shape(shape)
        data = np.empty((*batch, len(self.moduli), self.degree), dtype=np.uint64)
        for index in np.ndindex(*batch):
            data[index] = sample_uniform_mod(self.moduli, self.degree, rng)
        return RingElement._wrap(self, data, ntt=ntt)

    def sample_ternary(
        self, rng: PRNG | None = None, *, shape: Shape = (), ntt: bool = False
    ) -> RingElement:
        """Coefficients uniform in ``{-1, 0, 1}`` (secret keys); transformed if ``ntt``."""
        return self._small(sample_ternary(self._count(shape), rng), shape, ntt)

    def sample_gaussian(
        self, rng: PRNG | None = None, *, shape: Shape = (), sigma: float = 3.19, ntt: bool = False
    ) -> RingElement:
        """Coefficients from the discrete Gaussian ``D_{Z, sigma}`` cut at ``6 sigma`` (errors)."""
        return self._small(sample_discrete_gaussian(self._count(shape), sigma, rng), shape, ntt)

    def sample_centered_binomial(
        self, rng: PRNG | None = None, *, shape: Shape = (), eta: int = 21, ntt: bool = False
    ) -> RingElement:
        """Coefficients from the centered binomial distribution ``B_eta``."""
        return self._small(sample_centered_binomial(self._count(shape), eta, rng), shape, ntt)

    def _count(self, shape: Shape) -> int:
        return math.prod(_shape(shape)) * self.degree

    def _small(self, values: npt.NDArray[np.int64], shape: Shape, ntt: bool) -> RingElement:
        element = self.from_ints(values.reshape(*_shape(shape), self.degree))
        return element.ntt() if ntt else element

    # ------------------------------------------------------------------ checks

    def _check_member(self, element: RingElement) -> None:
        if element.ring is not self and element.ring != self:
            raise KeyMismatchError(
                f"the element belongs to {element.ring!r}, not to {self!r}; convert it with "
                "convert_basis or scale_and_round first"
            )


_MIXED_FORMS = (
    "cannot combine an element in NTT form with one in coefficient form; convert one of them "
    "with .ntt() or .intt() first"
)


class RingElement:
    """One polynomial, or a batch of them, of a :class:`Ring`, in coefficient or NTT form.

    Build elements through the ring (:meth:`Ring.from_ints`, :meth:`Ring.from_array`, the
    samplers); see the module docstring for the operations.
    """

    __slots__ = ("_data", "_ntt", "ring")
    __array_ufunc__ = None  # numpy scalars defer to our reflected operators
    __hash__ = None  # type: ignore[assignment]  # elements are compared by value

    ring: Ring
    _data: U64
    _ntt: bool

    def __init__(self) -> None:
        raise TypeError("build ring elements with Ring.from_ints, Ring.from_array or a sampler")

    @classmethod
    def _wrap(cls, ring: Ring, data: U64, *, ntt: bool) -> RingElement:
        element = object.__new__(cls)
        element.ring = ring
        element._data = data
        element._ntt = ntt
        return element

    # ------------------------------------------------------------------ inspection

    @property
    def is_ntt(self) -> bool:
        """Whether the element is in NTT (evaluation) form."""
        return self._ntt

    @property
    def shape(self) -> tuple[int, ...]:
        """The batch shape (``()`` for a single polynomial)."""
        return tuple(self._data.shape[:-2])

    @property
    def data(self) -> U64:
        """A read-only view of the residues, shape ``(*batch, L, N)``."""
        view = self._data.view()
        view.setflags(write=False)
        return view

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("a single ring element has no length")
        return self.shape[0]

    def __getitem__(self, index: Any) -> RingElement:
        if not self.shape:
            raise ParameterError("only batched elements can be indexed")
        if not isinstance(index, tuple):
            index = (index,)
        if len(index) > len(self.shape) or any(i is Ellipsis or i is None for i in index):
            raise ParameterError("index only the batch axes (integers and slices)")
        data = self._data[index]
        return RingElement._wrap(self.ring, np.ascontiguousarray(data), ntt=self._ntt)

    def __iter__(self) -> Iterator[RingElement]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        form = "ntt" if self._ntt else "coefficients"
        batch = f", batch={self.shape}" if self.shape else ""
        return f"RingElement(N={self.ring.degree}, L={len(self.ring.moduli)}, {form}{batch})"

    def copy(self) -> RingElement:
        """An independent copy."""
        return RingElement._wrap(self.ring, self._data.copy(), ntt=self._ntt)

    # ------------------------------------------------------------------ conversions

    def ntt(self) -> RingElement:
        """This element in NTT form (itself if it already is)."""
        if self._ntt:
            return self
        return RingElement._wrap(self.ring, self.ring.ntt_tables.forward(self._data), ntt=True)

    def intt(self) -> RingElement:
        """This element in coefficient form (itself if it already is)."""
        if not self._ntt:
            return self
        return RingElement._wrap(self.ring, self.ring.ntt_tables.inverse(self._data), ntt=False)

    def to_ints(self) -> list[Any]:
        """The coefficients as Python ints in ``[0, Q)`` (a list, nested for a batch)."""
        return self.ring.basis.compose(self.intt()._data)

    def to_centered_ints(self) -> list[Any]:
        """The coefficients as Python ints in ``(-Q/2, Q/2)`` (a list, nested for a batch)."""
        return self.ring.basis.compose(self.intt()._data, centered=True)

    # ------------------------------------------------------------------ arithmetic

    def _partner(self, other: RingElement) -> None:
        self.ring._check_member(other)
        if other._ntt != self._ntt:
            raise ParameterError(_MIXED_FORMS)

    def _broadcast_check(self, other: RingElement) -> None:
        try:
            np.broadcast_shapes(self._data.shape, other._data.shape)
        except ValueError:
            raise ParameterError(
                f"batch shapes {self.shape} and {other.shape} do not broadcast"
            ) from None

    def _residues(self, value: object) -> list[int]:
        v = _integer(value, "a ring scalar")
        return [v % q for q in self.ring.moduli]

    def _constant(self, value: object) -> U64:
        """The residues of the constant polynomial ``value`` in this element's form."""
        data = np.zeros((len(self.ring.moduli), self.ring.degree), dtype=np.uint64)
        column = np.array(self._residues(value), dtype=np.uint64)
        if self._ntt:  # a constant evaluates to itself at every root
            data[:] = column[:, None]
        else:
            data[:, 0] = column
        return data

    def __add__(self, other: object) -> RingElement:
        if isinstance(other, RingElement):
            self._partner(other)
            self._broadcast_check(other)
            result = add_mod(self._data, other._data, self.ring.q_array)
        elif isinstance(other, numbers.Integral):
            result = add_mod(self._data, self._constant(other), self.ring.q_array)
        else:
            return NotImplemented
        return RingElement._wrap(self.ring, result, ntt=self._ntt)

    __radd__ = __add__

    def __sub__(self, other: object) -> RingElement:
        if isinstance(other, RingElement):
            self._partner(other)
            self._broadcast_check(other)
            result = sub_mod(self._data, other._data, self.ring.q_array)
        elif isinstance(other, numbers.Integral):
            result = sub_mod(self._data, self._constant(other), self.ring.q_array)
        else:
            return NotImplemented
        return RingElement._wrap(self.ring, result, ntt=self._ntt)

    def __rsub__(self, other: object) -> RingElement:
        if isinstance(other, numbers.Integral):
            result = sub_mod(self._constant(other), self._data, self.ring.q_array)
            return RingElement._wrap(self.ring, result, ntt=self._ntt)
        return NotImplemented

    def __neg__(self) -> RingElement:
        return RingElement._wrap(self.ring, neg_mod(self._data, self.ring.q_array), ntt=self._ntt)

    def __mul__(self, other: object) -> RingElement:
        if isinstance(other, numbers.Integral):
            scaled = mul_scalars(self._data, self._residues(other), self.ring.moduli)
            return RingElement._wrap(self.ring, scaled, ntt=self._ntt)
        if not isinstance(other, RingElement):
            return NotImplemented
        self._partner(other)
        self._broadcast_check(other)
        moduli = self.ring.moduli
        if self._ntt:
            return RingElement._wrap(self.ring, mul_mod(self._data, other._data, moduli), ntt=True)
        # Coefficient form: 2 forward NTTs (1 when squaring), pointwise product, 1 inverse NTT,
        # all in the result's buffer and one reused scratch array (fresh large arrays cost page
        # faults). The lazy transforms leave values below 2^32; their product is below 2^64 and
        # the exact reduction of mul_mod absorbs the skipped one.
        tables = self.ring.ntt_tables
        if self._data.shape != other._data.shape:  # broadcasting: no in-place product
            a = tables.forward(self._data, lazy=True)
            b = tables.forward(other._data, lazy=True)
            product = mul_mod(a, b, moduli)
        else:
            product = tables.forward(self._data, lazy=True)
            if other is self:
                b = product
            else:
                b = tables.forward(other._data, tables.scratch(product.shape), lazy=True)
            mul_mod(product, b, moduli, out=product)
        return RingElement._wrap(self.ring, tables.inverse(product, out=product), ntt=False)

    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RingElement):
            return NotImplemented
        if self.ring != other.ring or self.shape != other.shape:
            return False
        if self._ntt != other._ntt:
            other = other.ntt() if self._ntt else other.intt()
        return bool(np.array_equal(self._data, other._data))

    # ------------------------------------------------------------------ automorphisms

    def automorphism(self, k: int) -> RingElement:
        """``a(X) -> a(X^k)`` for an odd ``k`` (taken mod ``2N``), in either form.

        In coefficient form it is a signed permutation of the coefficients; in NTT form (SEAL's
        slot order) a plain permutation of the slots. ``sigma_k(sigma_l(a)) = sigma_{kl}(a)``.
        """
        n = self.ring.degree
        k = _integer(k, "the Galois element") % (2 * n)
        if k % 2 == 0:
            raise ParameterError(
                f"X -> X^k is an automorphism of Z[X]/(X^N + 1) only for odd k, got {k} mod 2N"
            )
        if self._ntt:
            permuted = np.take(self._data, _automorphism_slots(n, k), axis=-1)
            return RingElement._wrap(self.ring, permuted, ntt=True)
        source, negate = _automorphism_coefficients(n, k)
        moved = np.take(self._data, source, axis=-1)
        negated = neg_mod(moved, self.ring.q_array)
        return RingElement._wrap(self.ring, np.where(negate, negated, moved), ntt=False)

    # ------------------------------------------------------------------ changing the modulus

    def convert_basis(self, target: Ring, *, exact: bool = True) -> RingElement:
        """This element in ``target``'s RNS basis (same degree).

        Moduli common to both rings are copied. When every target modulus is a source modulus
        this is a projection ``x mod Q'`` and works in either form. Otherwise the element must be
        in coefficient form, and new moduli get the HPS exact fast base conversion of the
        centered representative ``x in [-Q/2, Q/2)`` (:class:`heprim.ring.rns.BaseConverter`);
        ``exact=False`` gives the plain fast base conversion ``x + a Q`` (``0 <= a < L``).
        """
        if not isinstance(target, Ring):
            raise ParameterError(f"target must be a Ring, got {type(target).__name__}")
        if target.degree != self.ring.degree:
            raise KeyMismatchError(
                f"cannot convert between degrees {self.ring.degree} and {target.degree}"
            )
        source = self.ring.moduli
        if all(p in source for p in target.moduli):
            rows = [source.index(p) for p in target.moduli]
            projected = np.ascontiguousarray(self._data[..., rows, :])
            return RingElement._wrap(target, projected, ntt=self._ntt)
        if self._ntt:
            raise ParameterError(
                "base conversion to new moduli works on coefficients: call .intt() first"
            )
        converter = base_converter(source, target.moduli)
        return RingElement._wrap(target, converter.convert(self._data, exact=exact), ntt=False)

    @overload
    def scale_and_round(self, numerator: int, target: Ring) -> RingElement: ...

    @overload
    def scale_and_round(self, numerator: int, target: int) -> U64: ...

    def scale_and_round(self, numerator: int, target: Ring | int) -> RingElement | U64:
        """``round(numerator * x / D)`` where ``D`` is the product of the moduli not kept.

        Args:
            numerator: a positive integer ``t``.
            target: a :class:`Ring` whose moduli are source moduli (kept) or divisors of
                ``numerator``; or an integer modulus ``t`` dividing ``numerator``, in which case
                the result is a ``uint64`` array of shape ``(*batch, N)`` with values in
                ``[0, t)`` (BFV decryption: ``x.scale_and_round(t, t)``).

        The element must be in coefficient form. See :class:`heprim.ring.rns.ScaleRounder` for
        the algorithm and its precision.
        """
        if self._ntt:
            raise ParameterError("scale-and-round works on coefficients: call .intt() first")
        if isinstance(target, Ring):
            if target.degree != self.ring.degree:
                raise KeyMismatchError(
                    f"cannot scale between degrees {self.ring.degree} and {target.degree}"
                )
            rounder = scale_rounder(
                self.ring.moduli, _integer(numerator, "numerator"), target.moduli
            )
            return RingElement._wrap(target, rounder.apply(self._data), ntt=False)
        modulus = _integer(target, "the target (a Ring or an int modulus)")
        rounder = scale_rounder(self.ring.moduli, _integer(numerator, "numerator"), (modulus,))
        return rounder.apply(self._data)[..., 0, :]
