"""BFV ciphertexts and the operations that need no key.

A ciphertext at level ``l`` is a tuple ``(c_0, ..., c_{k-1})`` of polynomials of ``R_{Q_l}``
(coefficient form, as in SEAL) such that

    c_0 + c_1 s + ... + c_{k-1} s^{k-1} = Delta_l m + e   (mod Q_l),     Delta_l = floor(Q_l / t),

for the plaintext ``m`` and a small noise ``e``. Fresh ciphertexts have size ``k = 2``; a product
has size 3 until it is relinearized (:class:`~heprim.bfv.evaluator.Evaluator`).

Every ciphertext carries its :class:`~heprim.bfv.params.Parameters` and the ``key_id`` of its key
set: combining ciphertexts of different keys or parameters raises
:class:`~heprim.errors.KeyMismatchError`. Operands at different levels are first brought to the
lower one by modulus switching.

**Operators.** ``a + b``, ``a - b``, ``-a`` for ciphertexts, plaintexts and integers (an integer
``k`` is the constant polynomial ``k``: added to every slot with batching); ``a * p`` for a
plaintext or an integer; ``a * b`` for two ciphertexts is the raw product of size 3 (relinearize
it with an evaluator). None of them needs a key.

**Multiplication** (Fan-Vercauteren, section 4, ``SHE.Mul``, in the exact RNS form of Halevi,
Polyakov and Shoup, CT-RSA 2019, sections 4.2-4.3 -- "HPS"): the tensor product
``round(t/Q_l * (c tensor c'))`` over the integers. The centered lift of each ``c_i`` is extended
exactly from ``Q_l`` to ``Q_l B`` (:meth:`~heprim.ring.RingElement.convert_basis`), with an
auxiliary modulus ``B > 2 t terms N Q_l`` large enough for the tensor and its scaling to have
centered lifts; the tensor is computed in NTT form; ``round(t x / Q_l)`` is computed into ``B``
(:meth:`~heprim.ring.RingElement.scale_and_round`) and extended back to ``Q_l``.

**Modulus switching** (Brakerski, Gentry and Vaikuntanathan, ITCS 2012, section 4; for BFV see
Costache and Smart, CT-RSA 2016): ``c -> round(Q_l' / Q_l * c)`` keeps the plaintext and the
invariant noise, adding only a rounding term; smaller ciphertexts make every later operation
faster.
"""

from __future__ import annotations

import functools
import numbers
import operator

import numpy as np
import numpy.typing as npt

from heprim.bfv.context import MAX_TERMS, context_of
from heprim.bfv.encoder import Plaintext
from heprim.bfv.keys import check_key_id
from heprim.bfv.params import Parameters
from heprim.errors import KeyMismatchError, ParameterError
from heprim.ring import RingElement

__all__ = [
    "Ciphertext",
    "add",
    "add_plain",
    "align",
    "mod_switch",
    "multiply",
    "multiply_plain",
    "multiply_scalar",
    "negate",
    "subtract",
    "subtract_plain",
]

U64 = npt.NDArray[np.uint64]


class Ciphertext:
    """A BFV ciphertext: ``size`` polynomials of ``R_{Q_l}`` under one key set (see module).

    Build ciphertexts by encrypting (:class:`~heprim.bfv.scheme.Encryptor`), by loading
    (:mod:`heprim.serialize.bfv`) or from residues with :meth:`from_residues`.
    """

    __slots__ = ("_polys", "key_id", "params", "seed")

    __array_ufunc__ = None  # numpy integers defer to our reflected operators

    params: Parameters
    key_id: str
    seed: bytes | None
    _polys: RingElement

    def __init__(self) -> None:
        raise TypeError("build ciphertexts with an Encryptor, a loader or Ciphertext.from_residues")

    @classmethod
    def _make(
        cls, params: Parameters, key_id: str, polys: RingElement, seed: bytes | None = None
    ) -> Ciphertext:
        ct = object.__new__(cls)
        ct.params = params
        ct.key_id = key_id
        ct._polys = polys
        #: For a fresh symmetric encryption: the 32-byte seed that regenerates ``c_1`` (so it can
        #: be serialized in half the size); ``None`` otherwise.
        ct.seed = seed
        return ct

    @classmethod
    def from_residues(
        cls, params: Parameters, residues: npt.ArrayLike, *, key_id: str, ntt: bool = False
    ) -> Ciphertext:
        """A ciphertext from its residues, shape ``(size, l, N)`` (limbs ``q_1 .. q_l``).

        Args:
            params: the parameter set; the level ``l`` is read from the shape.
            residues: integers, each below its limb's prime (validated).
            key_id: the key set's identifier (e.g. ``secret_key.key_id``).
            ntt: whether the residues are in NTT form (they are converted to coefficients).

        Raises:
            ParameterError: a wrong shape, a level out of range, or a residue out of range.
        """
        if not isinstance(params, Parameters):
            raise ParameterError(f"expected bfv.Parameters, got {type(params).__name__}")
        array = np.asarray(residues)
        if array.ndim != 3 or array.shape[0] < 2 or array.shape[2] != params.degree:
            raise ParameterError(
                f"ciphertext residues have shape (size >= 2, level, {params.degree}), got "
                f"{array.shape}"
            )
        ctx = context_of(params)
        ring = ctx.ring_q(ctx.check_level(array.shape[1]))
        polys = ring.from_array(array, ntt=bool(ntt)).intt()
        return cls._make(params, check_key_id(key_id), polys)

    # ------------------------------------------------------------------ inspection

    @property
    def level(self) -> int:
        """The number of ciphertext primes left (``L`` when fresh, 1 at the bottom)."""
        return len(self._polys.ring.moduli)

    @property
    def size(self) -> int:
        """The number of polynomials (2 when fresh or relinearized)."""
        return self._polys.shape[0]

    @property
    def polys(self) -> RingElement:
        """The polynomials as one batched :class:`~heprim.ring.RingElement` (coefficient form)."""
        return self._polys

    def residues(self) -> U64:
        """A copy of the residues, shape ``(size, level, N)``, coefficient form."""
        return np.array(self._polys.data)

    def __repr__(self) -> str:
        return (
            f"bfv.Ciphertext(N={self.params.degree}, level={self.level}, size={self.size}, "
            f"key_id={self.key_id[:8]}..)"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ciphertext):
            return NotImplemented
        return (
            self.params == other.params
            and self.key_id == other.key_id
            and self._polys == other._polys
        )

    __hash__ = None  # type: ignore[assignment]

    def check_compatible(self, other: Ciphertext) -> None:
        """Raise :class:`~heprim.errors.KeyMismatchError` unless both share parameters and keys."""
        if self.params is not other.params and self.params != other.params:
            raise KeyMismatchError(
                "the ciphertexts use different BFV parameters; they cannot be combined"
            )
        if self.key_id != other.key_id:
            raise KeyMismatchError(
                f"the ciphertexts are under different keys ({self.key_id[:8]}.. and "
                f"{other.key_id[:8]}..); only data under one key set can be combined"
            )

    # ------------------------------------------------------------------ operators

    def __add__(self, other: object) -> Ciphertext:
        if isinstance(other, Ciphertext):
            return add(self, other)
        if isinstance(other, Plaintext):
            return add_plain(self, other)
        scalar = _as_int(other)
        if scalar is not None:
            return add_plain(self, _constant(self.params, scalar))
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other: object) -> Ciphertext:
        if isinstance(other, Ciphertext):
            return subtract(self, other)
        if isinstance(other, Plaintext):
            return subtract_plain(self, other)
        scalar = _as_int(other)
        if scalar is not None:
            return subtract_plain(self, _constant(self.params, scalar))
        return NotImplemented

    def __rsub__(self, other: object) -> Ciphertext:
        if isinstance(other, Plaintext):
            return add_plain(negate(self), other)
        scalar = _as_int(other)
        if scalar is not None:
            return add_plain(negate(self), _constant(self.params, scalar))
        return NotImplemented

    def __neg__(self) -> Ciphertext:
        return negate(self)

    def __mul__(self, other: object) -> Ciphertext:
        if isinstance(other, Ciphertext):
            return multiply(self, other)
        if isinstance(other, Plaintext):
            return multiply_plain(self, other)
        scalar = _as_int(other)
        if scalar is not None:
            return multiply_scalar(self, scalar)
        return NotImplemented

    __rmul__ = __mul__


def _as_int(value: object) -> int | None:
    """``int``, ``gmpy2.mpz``, numpy integers as ``int``; ``None`` for anything else, including
    ``bool`` (a mistake here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return None
    return int(value)


def _constant(params: Parameters, value: int) -> Plaintext:
    """The constant polynomial ``value mod t`` (every slot equal to ``value`` with batching)."""
    coefficients = np.zeros(params.degree, dtype=np.uint64)
    coefficients[0] = value % params.plain_modulus
    return Plaintext._make(params, coefficients)


def _check(ct: object) -> Ciphertext:
    if not isinstance(ct, Ciphertext):
        raise ParameterError(f"expected a bfv.Ciphertext, got {type(ct).__name__}")
    return ct


def _with(ct: Ciphertext, polys: RingElement) -> Ciphertext:
    return Ciphertext._make(ct.params, ct.key_id, polys)


def mod_switch(ct: Ciphertext, level: int) -> Ciphertext:
    """``round(Q_level / Q_l * c)``: the same plaintext at the lower ``level`` (see module)."""
    ct = _check(ct)
    ctx = context_of(ct.params)
    ctx.check_level(level)
    if level > ct.level:
        raise ParameterError(
            f"modulus switching only goes down: the ciphertext is at level {ct.level}, not above "
            f"{level}"
        )
    if level == ct.level:
        return ct
    if ct.params.q_modulus_at(level) <= 4 * ct.params.plain_modulus:
        raise ParameterError(
            f"level {level} leaves a modulus Q_l smaller than 4t: no room for any plaintext"
        )
    return _with(ct, ct.polys.scale_and_round(1, ctx.ring_q(level)))


def align(a: Ciphertext, b: Ciphertext) -> tuple[Ciphertext, Ciphertext]:
    """Check that ``a`` and ``b`` can be combined and bring them to the same (lower) level."""
    a, b = _check(a), _check(b)
    a.check_compatible(b)
    level = min(a.level, b.level)
    return mod_switch(a, level), mod_switch(b, level)


def _padded(ct: Ciphertext, size: int) -> RingElement:
    if ct.size == size:
        return ct.polys
    ring = ct.polys.ring
    return ring.stack([*ct.polys, *([ring.zero()] * (size - ct.size))])


def add(a: Ciphertext, b: Ciphertext) -> Ciphertext:
    """``a + b`` (sizes may differ: the shorter is padded with zero polynomials)."""
    a, b = align(a, b)
    size = max(a.size, b.size)
    return _with(a, _padded(a, size) + _padded(b, size))


def subtract(a: Ciphertext, b: Ciphertext) -> Ciphertext:
    """``a - b``."""
    a, b = align(a, b)
    size = max(a.size, b.size)
    return _with(a, _padded(a, size) - _padded(b, size))


def negate(a: Ciphertext) -> Ciphertext:
    """``-a``."""
    a = _check(a)
    return _with(a, -a.polys)


def _plain(ct: Ciphertext, plain: object) -> Plaintext:
    if not isinstance(plain, Plaintext):
        raise ParameterError(f"expected a bfv.Plaintext, got {type(plain).__name__}")
    plain.check_params(ct.params)
    return plain


def _first_plus(ct: Ciphertext, delta: RingElement) -> Ciphertext:
    ring = ct.polys.ring
    polys = ring.stack([ct.polys[0] + delta, *list(ct.polys)[1:]])
    return _with(ct, polys)


def add_plain(ct: Ciphertext, plain: Plaintext) -> Ciphertext:
    """``ct + m``: adds ``round(Q_l m / t)`` to ``c_0``; the noise does not grow."""
    ct = _check(ct)
    return _first_plus(ct, _plain(ct, plain).scaled(ct.level))


def subtract_plain(ct: Ciphertext, plain: Plaintext) -> Ciphertext:
    """``ct - m``."""
    ct = _check(ct)
    return _first_plus(ct, -_plain(ct, plain).scaled(ct.level))


def multiply_plain(ct: Ciphertext, plain: Plaintext) -> Ciphertext:
    """``ct * m``: every ``c_i`` times the centered lift of ``m`` (the noise grows by about
    ``||m|| sqrt(N)``)."""
    ct = _check(ct)
    lifted = _plain(ct, plain).lifted_ntt(ct.level)
    return _with(ct, (ct.polys.ntt() * lifted).intt())


def multiply_scalar(ct: Ciphertext, value: int) -> Ciphertext:
    """``ct * value`` for an integer, taken modulo ``t`` and centered (the noise grows by
    ``|value|``)."""
    ct = _check(ct)
    scalar = _as_int(value)
    if scalar is None:
        raise ParameterError(f"expected an integer scalar, got {value!r}")
    t = ct.params.plain_modulus
    centered = scalar % t
    if centered > t // 2:
        centered -= t
    return _with(ct, ct.polys * centered)


def multiply(a: Ciphertext, b: Ciphertext) -> Ciphertext:
    """The raw product (size ``a.size + b.size - 1``) by the exact HPS tensor (see module)."""
    a, b = align(a, b)
    ctx = context_of(a.params)
    level = a.level
    terms = min(a.size, b.size)
    if a.size + b.size - 1 > MAX_TERMS:
        raise ParameterError(
            f"the product would have {a.size + b.size - 1} polynomials; relinearize first"
        )
    ring_qb = ctx.ring_qb(level, terms)
    left = list(a.polys.convert_basis(ring_qb).ntt())  # step 1: extend Q -> Q u B, exactly
    right = left if b is a else list(b.polys.convert_basis(ring_qb).ntt())

    def tensor_coefficient(k: int) -> RingElement:
        """``d_k = sum_{i+j=k} c_i c'_j`` (a square takes each pair once and doubles it)."""
        pairs = [(i, k - i) for i in range(a.size) if 0 <= k - i < b.size]
        if b is a:
            pairs = [(i, j) for i, j in pairs if i <= j]
        summands = []
        for i, j in pairs:
            product = left[i] * right[j]
            summands.append(product + product if b is a and i < j else product)
        return functools.reduce(operator.add, summands)

    products = [tensor_coefficient(k) for k in range(a.size + b.size - 1)]  # step 2, NTT form
    tensor = ring_qb.stack(products).intt()
    scaled = tensor.scale_and_round(ctx.t, ctx.ring_b(level, terms))  # step 3: round(t x / Q)
    return _with(a, scaled.convert_basis(ctx.ring_q(level)))  # step 4: B -> Q, exactly
