"""BFV keys: ternary secret key, public key, and key-switching keys (relinearization, Galois).

All keys of one :class:`KeyGenerator` share a random :attr:`~SecretKey.key_id`, which every
ciphertext they produce carries, so that combining data under different keys raises
:class:`~heprim.errors.KeyMismatchError` instead of decrypting to garbage.

* **Secret key** ``s``: coefficients uniform in ``{-1, 0, 1}`` (the HE standard's ternary
  distribution), from the CSPRNG. Kept in NTT form over ``QP``.
* **Public key** (Fan-Vercauteren, section 4, ``PublicKeyGen``): ``(b, a) = (-(a s + e), a)``
  modulo ``Q`` with ``a`` uniform and ``e`` Gaussian. ``a`` is expanded from a 32-byte seed
  (AES-256-CTR, :class:`~heprim.math.prng.KeyedPRNG`), so the key can be stored as
  ``(b, seed)``, half its size.
* **Key-switching keys** from ``s'`` to ``s`` (hybrid key switching with special primes ``P``:
  Gentry, Halevi and Smart, CRYPTO 2012, section 3.1.1; Han and Ki, CT-RSA 2020). For every digit
  ``j`` of the decomposition (:mod:`heprim.bfv.context`), modulo ``QP``,

      ksk_j = ( -(a_j s + e_j) + P g_j s',  a_j ),     g_j = [(Q/D_j)^-1]_{D_j} (Q/D_j),

  where ``D_j`` is the product of the digit's primes; ``g_j`` is 1 modulo those primes and 0
  modulo the other primes of ``QP``, so ``P g_j s'`` is ``[P]_q s'`` on the digit's limbs and 0
  elsewhere. The ``a_j`` are expanded from one seed per key. Relinearization keys have
  ``s' = s^2``; the Galois key for ``X -> X^k`` has ``s' = s(X^k)``.

Keys live in NTT form (SEAL's NTT convention, so SEAL's NTT-form secret key imports directly; see
:mod:`heprim.bfv.interop`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

import numpy as np
import numpy.typing as npt

from heprim.bfv.context import Context, context_of
from heprim.bfv.params import ERROR_STDDEV, Parameters
from heprim.errors import KeyMismatchError, ParameterError
from heprim.math.prng import PRNG, KeyedPRNG, default_rng, sample_ternary
from heprim.ring import Ring, RingElement, galois_element
from heprim.ring.modarith import add_mod, mul_scalars

__all__ = [
    "GaloisKeys",
    "KeyGenerator",
    "KeySwitchKey",
    "PublicKey",
    "RelinKeys",
    "SecretKey",
    "check_key_id",
    "default_rotation_steps",
    "expand_uniform",
]

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]
I8 = npt.NDArray[np.int8]

SEED_BYTES: Final = 32
KEY_ID_BYTES: Final = 16


def _check_params(params: object) -> Parameters:
    if not isinstance(params, Parameters):
        raise ParameterError(f"expected bfv.Parameters, got {type(params).__name__}")
    return params


def check_key_id(key_id: object) -> str:
    """``key_id`` in lower case if it is 32 hexadecimal digits, else raise ParameterError."""
    if not isinstance(key_id, str) or len(key_id) != 2 * KEY_ID_BYTES:
        raise ParameterError(f"a key id is {2 * KEY_ID_BYTES} hexadecimal digits")
    try:
        bytes.fromhex(key_id)
    except ValueError:
        raise ParameterError(f"a key id is {2 * KEY_ID_BYTES} hexadecimal digits") from None
    return key_id.lower()


def _check_seed(seed: object) -> bytes:
    if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
        raise ParameterError(f"a seed is exactly {SEED_BYTES} bytes")
    return seed


class SecretKey:
    """The ternary secret key ``s`` (keep it secret; serialize it only with ``include_secret``).

    Args:
        params: the parameter set.
        coefficients: ``N`` values in ``{-1, 0, 1}``.
        key_id: the key set's identifier (32 hex digits); ciphertexts carry it.

    Use :class:`KeyGenerator` to draw a key; this constructor is for imports
    (:mod:`heprim.bfv.interop`, :mod:`heprim.serialize.bfv`).
    """

    __slots__ = ("_ntt", "_powers", "_ternary", "key_id", "params")

    params: Parameters
    key_id: str
    _ternary: I8
    _ntt: RingElement
    _powers: dict[tuple[int, int], RingElement]

    def __init__(self, params: Parameters, coefficients: npt.ArrayLike, key_id: str) -> None:
        self.params = _check_params(params)
        self.key_id = check_key_id(key_id)
        values = np.asarray(coefficients)
        if values.shape != (params.degree,) or values.dtype.kind not in "iu":
            raise ParameterError(f"a secret key has {params.degree} integer coefficients")
        if values.size and (
            values.astype(np.int64).min() < -1 or values.astype(np.int64).max() > 1
        ):
            raise ParameterError("the secret key's coefficients must lie in {-1, 0, 1} (ternary)")
        ternary = values.astype(np.int8)
        ternary.setflags(write=False)
        self._ternary = ternary
        ctx = context_of(params)
        ring = ctx.ring_qp(params.max_level) if params.p else ctx.ring_q(params.max_level)
        self._ntt = ring.from_ints(ternary.astype(np.int64)).ntt()
        self._powers = {}

    @property
    def coefficients(self) -> I8:
        """The coefficients of ``s`` in ``{-1, 0, 1}`` (read-only int8)."""
        return self._ternary

    def __repr__(self) -> str:
        return f"bfv.SecretKey(N={self.params.degree}, key_id={self.key_id[:8]}..)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretKey):
            return NotImplemented
        return (
            self.params == other.params
            and self.key_id == other.key_id
            and bool(np.array_equal(self._ternary, other._ternary))
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def ntt_qp(self) -> RingElement:
        """``s`` in NTT form over every prime of ``QP`` (``Q`` alone without special primes)."""
        return self._ntt

    def power_ntt(self, exponent: int, level: int) -> RingElement:
        """``s^exponent`` in NTT form modulo ``Q_l`` (cached), to decrypt larger ciphertexts."""
        key = (exponent, level)
        cached = self._powers.get(key)
        if cached is None:
            ring = context_of(self.params).ring_q(level)
            s = self._ntt.convert_basis(ring)  # a projection: works in NTT form
            cached = s
            for _ in range(exponent - 1):
                cached = cached * s
            self._powers[key] = cached
        return cached


class PublicKey:
    """The public key ``(b, a) = (-(a s + e), a)`` modulo ``Q``, in NTT form.

    ``a`` is a function of the 32-byte :attr:`seed`, so serialization stores ``b`` and the seed.
    """

    __slots__ = ("_a", "_b", "key_id", "params", "seed")

    params: Parameters
    key_id: str
    seed: bytes
    _b: RingElement
    _a: RingElement

    def __init__(self, params: Parameters, key_id: str, b: RingElement, seed: bytes) -> None:
        self.params = _check_params(params)
        self.key_id = check_key_id(key_id)
        self.seed = _check_seed(seed)
        ring = context_of(params).ring_q(params.max_level)
        if not isinstance(b, RingElement) or b.ring != ring or b.shape != () or not b.is_ntt:
            raise ParameterError("b must be one NTT-form element of the ring R_Q")
        self._b = b
        self._a = expand_uniform(ring, seed, ())

    @property
    def b(self) -> RingElement:
        """``b = -(a s + e)`` (NTT form, modulo ``Q``)."""
        return self._b

    @property
    def a(self) -> RingElement:
        """``a``, uniform, regenerated from :attr:`seed` (NTT form, modulo ``Q``)."""
        return self._a

    def __repr__(self) -> str:
        return f"bfv.PublicKey(N={self.params.degree}, key_id={self.key_id[:8]}..)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return (
            self.params == other.params
            and self.key_id == other.key_id
            and self.seed == other.seed
            and self._b == other._b
        )

    __hash__ = None  # type: ignore[assignment]


def expand_uniform(ring: Ring, seed: bytes, shape: tuple[int, ...]) -> RingElement:
    """The uniform elements (NTT form) that a 32-byte seed stands for, in a fixed order."""
    stream = KeyedPRNG(seed).derive(b"heprim.bfv.uniform")
    return ring.sample_uniform(stream, shape=shape, ntt=True)


class KeySwitchKey:
    """A hybrid key-switching key from ``s'`` to ``s``: one ciphertext per digit, modulo ``QP``.

    :attr:`data` has shape ``(digits, 2, L + K, N)`` (``[j, 0]`` is ``b_j``, ``[j, 1]`` is
    ``a_j``), NTT form, limbs ordered as ``q_1, ..., q_L, p_1, ..., p_K``, stored as ``uint32``
    (every residue is below ``2^30``: half the memory of 64-bit words). The ``a_j`` come from
    :attr:`seed`.

    Args:
        params: the parameter set (with special primes).
        key_id: the key set's identifier.
        b: the ``b_j``, shape ``(digits, L + K, N)``, each residue below its prime (checked).
        seed: the 32-byte seed of the ``a_j``.
    """

    __slots__ = ("_levels", "data", "key_id", "params", "seed")

    params: Parameters
    key_id: str
    seed: bytes
    data: U32
    _levels: dict[int, U32]

    def __init__(self, params: Parameters, key_id: str, b: npt.ArrayLike, seed: bytes) -> None:
        self.params = _check_params(params)
        self.key_id = check_key_id(key_id)
        self.seed = _check_seed(seed)
        ctx = context_of(params)
        ring = ctx.ring_qp(params.max_level)
        digits = len(ctx.digits(params.max_level))
        shape = (digits, len(ring.moduli), params.degree)
        array = np.asarray(b)
        if array.shape != shape or array.dtype.kind != "u":
            raise ParameterError(f"b must be an unsigned integer array of shape {shape}")
        column = np.array(ring.moduli, dtype=np.uint64).reshape(-1, 1)
        if bool((array >= column).any()):
            raise ParameterError("every residue of the key must be below its prime")
        a = expand_uniform(ring, seed, (digits,))
        data = np.empty((digits, 2, *shape[1:]), dtype=np.uint32)
        data[:, 0] = array
        data[:, 1] = a.data
        data.setflags(write=False)
        self.data = data
        self._levels = {params.max_level: data}

    @property
    def b(self) -> U32:
        """The ``b_j`` parts, shape ``(digits, L + K, N)`` (read-only)."""
        return self.data[:, 0]

    def at_level(self, level: int) -> U32:
        """The key restricted to the digits and limbs of ``Q_l P`` (cached).

        Valid because ``g_j`` is still 1 modulo the digit's remaining primes and 0 modulo the
        others, so the projected key switches ciphertexts modulo ``Q_l``.
        """
        cached = self._levels.get(level)
        if cached is None:
            ctx = context_of(self.params)
            digits = len(ctx.digits(level))
            limbs = [*range(level), *range(self.params.max_level, self.data.shape[2])]
            cached = np.ascontiguousarray(self.data[:digits][:, :, limbs])
            cached.setflags(write=False)
            self._levels[level] = cached
        return cached

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeySwitchKey):
            return NotImplemented
        return (
            self.params == other.params
            and self.key_id == other.key_id
            and self.seed == other.seed
            and bool(np.array_equal(self.data, other.data))
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"bfv.KeySwitchKey(digits={self.data.shape[0]}, key_id={self.key_id[:8]}..)"


class RelinKeys:
    """Relinearization keys: the key-switching key from ``s^2`` to ``s``."""

    __slots__ = ("key",)

    key: KeySwitchKey

    def __init__(self, key: KeySwitchKey) -> None:
        if not isinstance(key, KeySwitchKey):
            raise ParameterError(f"RelinKeys wraps a KeySwitchKey, got {type(key).__name__}")
        self.key = key

    @property
    def params(self) -> Parameters:
        """The parameter set."""
        return self.key.params

    @property
    def key_id(self) -> str:
        """The key set's identifier."""
        return self.key.key_id

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RelinKeys):
            return NotImplemented
        return self.key == other.key

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"bfv.RelinKeys(N={self.params.degree}, key_id={self.key_id[:8]}..)"


class GaloisKeys(Mapping[int, KeySwitchKey]):
    """Galois keys: a key-switching key from ``s(X^k)`` to ``s`` per Galois element ``k``.

    A read-only mapping from Galois elements (odd ``k`` modulo ``2N``) to keys. The row rotation
    by ``r`` steps is ``k = 3^r mod 2N``; the row swap is ``k = 2N - 1``.
    """

    __slots__ = ("_keys", "key_id", "params")

    params: Parameters
    key_id: str
    _keys: dict[int, KeySwitchKey]

    def __init__(self, params: Parameters, key_id: str, keys: Mapping[int, KeySwitchKey]) -> None:
        self.params = _check_params(params)
        self.key_id = check_key_id(key_id)
        checked: dict[int, KeySwitchKey] = {}
        for element, key in keys.items():
            if isinstance(element, bool) or not isinstance(element, int):
                raise ParameterError("Galois elements are ints")
            if element % 2 == 0 or not 1 < element < 2 * params.degree:
                raise ParameterError(
                    f"a Galois element is odd and in (1, 2N), got {element} for N = {params.degree}"
                )
            if not isinstance(key, KeySwitchKey):
                raise ParameterError(f"expected KeySwitchKey values, got {type(key).__name__}")
            if key.params != params or key.key_id != self.key_id:
                raise KeyMismatchError("every Galois key must belong to the same key set")
            checked[element] = key
        self._keys = dict(sorted(checked.items()))

    def __getitem__(self, element: int) -> KeySwitchKey:
        return self._keys[element]

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GaloisKeys):
            return NotImplemented
        return self.params == other.params and self._keys == other._keys

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        n, count = self.params.degree, len(self)
        return f"bfv.GaloisKeys(N={n}, {count} elements, key_id={self.key_id[:8]}..)"


def default_rotation_steps(degree: int) -> tuple[int, ...]:
    """Powers of two both ways, ``±1, ±2, ..., ±N/8`` and ``N/4`` (a row of ``N/2`` slots
    rotated by ``N/4`` either way is the same): any row rotation is a short sum of them."""
    row = degree // 2
    powers = list(itertools.takewhile(lambda s: s < row, (1 << i for i in range(64))))
    return tuple(s for p in powers for s in ((p,) if 2 * p == row else (p, -p)))


class KeyGenerator:
    """Draws a key set from the CSPRNG: the secret key, then public and evaluation keys.

    Args:
        params: the parameter set.
        secret_key: reuse this secret key (e.g. to add Galois keys later) instead of drawing one.
        rng: the randomness source (default: the OS CSPRNG).

    ::

        keygen = KeyGenerator(params)
        sk, pk = keygen.secret_key, keygen.public_key()
        rlk, gk = keygen.relin_keys(), keygen.galois_keys()
    """

    __slots__ = ("_ctx", "_rng", "params", "secret_key")

    def __init__(
        self,
        params: Parameters,
        *,
        secret_key: SecretKey | None = None,
        rng: PRNG | None = None,
    ) -> None:
        self.params = _check_params(params)
        self._rng = default_rng(rng)
        self._ctx: Context = context_of(params)
        if secret_key is None:
            key_id = self._rng.random_bytes(KEY_ID_BYTES).hex()
            ternary = sample_ternary(params.degree, self._rng)
            secret_key = SecretKey(params, ternary, key_id)
        elif not isinstance(secret_key, SecretKey):
            raise ParameterError(
                f"secret_key must be a bfv.SecretKey, got {type(secret_key).__name__}"
            )
        elif secret_key.params != params:
            raise KeyMismatchError("the secret key belongs to other BFV parameters")
        #: The secret key.
        self.secret_key: SecretKey = secret_key

    def __repr__(self) -> str:
        return f"bfv.KeyGenerator(N={self.params.degree}, key_id={self.secret_key.key_id[:8]}..)"

    def _error(self, ring: Ring, shape: tuple[int, ...]) -> RingElement:
        return ring.sample_gaussian(self._rng, shape=shape, sigma=ERROR_STDDEV, ntt=True)

    def public_key(self) -> PublicKey:
        """A fresh public key ``(-(a s + e), a)`` modulo ``Q`` (``a`` from a new seed)."""
        ring = self._ctx.ring_q(self.params.max_level)
        seed = self._rng.random_bytes(SEED_BYTES)
        a = expand_uniform(ring, seed, ())
        s = self.secret_key.ntt_qp.convert_basis(ring)
        b = -(a * s + self._error(ring, ()))
        return PublicKey(self.params, self.secret_key.key_id, b, seed)

    def key_switch_key(self, target: RingElement) -> KeySwitchKey:
        """A key-switching key from ``s' = target`` (NTT form over ``QP``) to the secret key."""
        ring = self._ctx.ring_qp(self.params.max_level)
        if not isinstance(target, RingElement) or target.ring != ring or target.shape != ():
            raise ParameterError("the target key must be one element of R_QP")
        target = target.ntt()
        groups = self._ctx.digits(self.params.max_level)
        seed = self._rng.random_bytes(SEED_BYTES)
        a = expand_uniform(ring, seed, (len(groups),))
        s = self.secret_key.ntt_qp
        b = np.array((-(a * s + self._error(ring, (len(groups),)))).data)
        p_modulus = self.params.p_modulus
        for j, group in enumerate(groups):
            # P g_j s' in RNS: [P]_q s' on the limbs of digit j, zero on every other limb.
            gadget = [p_modulus % q if i in group else 0 for i, q in enumerate(ring.moduli)]
            scaled = mul_scalars(target.data, gadget, ring.moduli)
            add_mod(b[j], scaled, ring.q_array, out=b[j])
        return KeySwitchKey(self.params, self.secret_key.key_id, b, seed)

    def relin_keys(self) -> RelinKeys:
        """Relinearization keys (from ``s^2`` to ``s``).

        Raises:
            ParameterError: when the parameters have no special primes.
        """
        self._ctx.ring_qp(self.params.max_level)  # explains the absence of special primes
        s = self.secret_key.ntt_qp
        return RelinKeys(self.key_switch_key(s * s))

    def galois_keys(
        self,
        steps: Iterable[int] | None = None,
        *,
        row_swap: bool = True,
        elements: Iterable[int] = (),
    ) -> GaloisKeys:
        """Galois keys for row rotations by ``steps`` (default :func:`default_rotation_steps`),
        the row swap (``row_swap``) and any extra Galois ``elements``.

        Raises:
            ParameterError: without special primes, or for a step that rotates by 0 or an even
                element.
        """
        self._ctx.ring_qp(self.params.max_level)
        n = self.params.degree
        wanted: list[int] = []
        for step in default_rotation_steps(n) if steps is None else steps:
            if isinstance(step, bool) or not isinstance(step, int):
                raise ParameterError(f"rotation steps are ints, got {step!r}")
            if step % (n // 2) == 0:
                raise ParameterError(f"a rotation by {step} steps is the identity: no key needed")
            wanted.append(galois_element(n, step))
        if not isinstance(row_swap, bool):
            raise ParameterError("row_swap must be True or False")
        if row_swap:
            wanted.append(2 * n - 1)
        for element in elements:
            if isinstance(element, bool) or not isinstance(element, int):
                raise ParameterError(f"Galois elements are ints, got {element!r}")
            if element % 2 == 0 or not element % (2 * n) > 1:
                raise ParameterError(f"a Galois element is odd and not 1 mod 2N, got {element}")
            wanted.append(element % (2 * n))
        s = self.secret_key.ntt_qp
        keys = {k: self.key_switch_key(s.automorphism(k)) for k in dict.fromkeys(wanted)}
        return GaloisKeys(self.params, self.secret_key.key_id, keys)
