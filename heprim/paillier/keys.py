"""Paillier keys: generation, public-key encryption (DJN and textbook), CRT decryption.

The scheme (Paillier, "Public-key cryptosystems based on composite degree residuosity classes",
EUROCRYPT '99) with the simplification ``g = n + 1`` (Damgard-Jurik, PKC 2001, section 3), so that
``g**m = 1 + m*n mod n**2`` costs one multiplication:

* ``Enc(m; x) = (1 + m*n) * x mod n**2`` where ``x`` is a random ``n``-th residue modulo ``n**2``;
* ``Dec(c) = L(c**lambda mod n**2) * mu mod n`` with ``L(u) = (u - 1) / n``, computed here with the
  Chinese remainder theorem over ``p**2`` and ``q**2`` (Paillier 1999, section 7, "decryption
  using Chinese-remaindering").

Ways of drawing the randomness ``x``, by who encrypts:

``standard`` (public key)
    ``x = r**n mod n**2`` for ``r`` uniform in ``Z*_n``: Paillier's original, one exponentiation
    with an ``|n|``-bit exponent modulo ``n**2`` (what python-paillier does).
``djn`` (public key; the default)
    Damgard, Jurik and Nielsen, "A generalization of Paillier's public-key system with applications
    to electronic voting", IJIS 9(6), 2010, section 4 (also Intel's Paillier Cryptosystem Library,
    ``ipcl/pub_key.cpp``, ``PublicKey::enableDJN`` and ``getDJNObfuscator``): the key publishes
    ``h_s = h**n mod n**2`` for ``h = -y**2 mod n``, ``y`` random, and ``x = h_s**a`` for a *short*
    uniform exponent ``a`` of ``ceil(|n|/2)`` bits (IPCL: ``m_randbits = m_bits >> 1``). With
    ``p = q = 3 mod 4`` and ``gcd(p-1, q-1) = 2`` the group of Jacobi symbol 1 is cyclic, and a
    random ``h`` has nearly its full order (it can only miss small factors; heprim refuses an ``h``
    whose order is small); under DCR plus the short-exponent assumption the ciphertexts are
    indistinguishable. ``h_s**a`` comes from a fixed-base window table
    (:mod:`heprim.paillier.fixedbase`), 13x (2048 bits) to 16x (3072) faster than ``standard`` here.
``djn`` (key holder, :class:`PrivateKey`; the default)
    The same ``x = h_s**a`` for the same draw of ``a`` -- bit for bit the public ciphertext, so
    exactly the DJN distribution -- computed by the Chinese remainder theorem: ``h_s**a mod p**2``
    and ``mod q**2`` from two fixed-base tables on half-size moduli, recombined by Garner's formula
    with a precomputed ``(p**2)**-1 mod q**2``. The exponent is first reduced modulo ``p - 1``
    (resp. ``q - 1``): ``Z*_{p**2}`` is cyclic of order ``p(p-1)`` and ``gcd(n, p(p-1)) = p``
    (as ``q`` does not divide ``p - 1``), so the ``n``-th residues modulo ``p**2``, ``h_s`` among
    them, form its subgroup of order ``p - 1``. Reducing modulo the group order ``p(p-1)`` would
    change nothing (``a < 2**ceil(|n|/2)`` is already smaller); modulo ``p - 1`` it is nearly a
    no-op for balanced primes too, but it bounds each table by ``|p|`` bits whatever the sizes.
    A product modulo ``p**2`` costs about 40 % of one modulo ``n**2``: about 1.3x the public path.
``standard`` (key holder)
    Who knows ``p`` and ``q`` draws ``x`` uniformly among *all* ``n``-th residues directly: modulo
    ``p**2`` these are exactly the ``p``-th powers, so ``x_p = u**p mod p**2`` for ``u`` uniform in
    ``Z*_p`` (and likewise for ``q``), recombined by CRT: the distribution of public ``standard``
    (no short-exponent assumption) at two half-size exponentiations on half-size moduli, about
    3.5x faster than public ``standard``.

Whatever the mode, an explicit ``r`` means textbook ``x = r**n`` (known answers), and a
:class:`~heprim.paillier.pool.RandomnessPool` supplies precomputed ``x``.

Key generation follows IPCL's DJN rules (``ipcl/keygen.cpp``, ``getDJNBN``): primes of equal size,
``p = q = 3 mod 4``, ``gcd(p-1, q-1) = 2``, ``n`` of exactly the requested size, and ``|p - q| >
2**(|n|/2 - 100)`` so that Fermat's difference-of-squares factoring does not apply.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections.abc import Callable
from numbers import Integral
from typing import TYPE_CHECKING, Any, Final, Literal

from heprim.errors import InsecureParametersWarning, KeyMismatchError, ParameterError
from heprim.math.ntheory import (
    gcd,
    invert,
    is_probable_prime,
    is_square,
    mpz,
    powmod,
    random_prime,
)
from heprim.math.prng import PRNG, default_rng
from heprim.paillier.fixedbase import DEFAULT_WINDOW, FixedBaseTable, table_rows

if TYPE_CHECKING:
    from heprim.paillier.encoding import EncodedNumber
    from heprim.paillier.number import EncryptedNumber
    from heprim.paillier.pool import RandomnessPool

__all__ = [
    "DEFAULT_N_BITS",
    "MIN_N_BITS",
    "MIN_SECURE_N_BITS",
    "Mode",
    "PrivateKey",
    "PublicKey",
    "generate_keypair",
]

Mode = Literal["djn", "standard"]

DEFAULT_N_BITS: Final = 3072  # ~128-bit security (NIST SP 800-57 part 1, table 2)
MIN_SECURE_N_BITS: Final = 2048  # ~112-bit security; below this needs allow_insecure=True
MIN_N_BITS: Final = 256  # below this even the encoding's overflow band is meaningless
_CLOSE_PRIMES_MARGIN: Final = 100  # |p - q| must exceed 2**(|n|/2 - 100) (as IPCL)
_SMOOTH_BOUND: Final = 1 << 16  # an h whose order is 2**16-powersmooth is refused
_MODES: Final = ("djn", "standard")


_MPZ: Final = type(mpz(0))


def _check_int(value: object, what: str) -> int:
    """An integer argument (int, gmpy2.mpz, numpy integer), never a bool, as an mpz."""
    if type(value) is _MPZ:  # the hot path: ciphertexts computed here are already mpz
        return value
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ParameterError(f"{what} must be an integer, got {type(value).__name__}")
    return mpz(int(value))


def _check_mode(mode: object) -> Mode:
    if mode == "djn":
        return "djn"
    if mode == "standard":
        return "standard"
    raise ParameterError(f"mode must be 'djn' or 'standard', got {mode!r}")


def _check_size_policy(n_bits: int, allow_insecure: bool, what: str) -> None:
    if n_bits < MIN_N_BITS:
        raise ParameterError(
            f"{what} has {n_bits} bits; heprim refuses Paillier moduli below {MIN_N_BITS} bits "
            "even with allow_insecure=True"
        )
    if n_bits < MIN_SECURE_N_BITS:
        if not allow_insecure:
            raise ParameterError(
                f"{what} has {n_bits} bits, below the {MIN_SECURE_N_BITS}-bit minimum for "
                f"~112-bit security; use {DEFAULT_N_BITS} (the default), or pass "
                "allow_insecure=True for tests"
            )
        warnings.warn(
            f"Paillier modulus of {n_bits} bits is insecure (fine for tests only)",
            InsecureParametersWarning,
            stacklevel=3,
        )


_POWERSMOOTH_EXPONENT: int | None = None


def _powersmooth_exponent() -> int:
    """``lcm(1, 2, ..., 2**16)``: every ``2**16``-powersmooth number divides it."""
    global _POWERSMOOTH_EXPONENT  # noqa: PLW0603 (computed once, on first use)
    if _POWERSMOOTH_EXPONENT is None:
        bound = _SMOOTH_BOUND
        sieve = bytearray([1]) * (bound + 1)
        sieve[0:2] = b"\x00\x00"
        for i in range(2, int(bound**0.5) + 1):
            if sieve[i]:
                sieve[i * i :: i] = bytes(len(range(i * i, bound + 1, i)))
        acc = mpz(1)
        for ell in range(2, bound + 1):
            if sieve[ell]:
                power = ell
                while power * ell <= bound:
                    power *= ell
                acc *= power
        _POWERSMOOTH_EXPONENT = acc
    return _POWERSMOOTH_EXPONENT


def _order_is_smooth(x: int, prime: int) -> bool:
    """Whether the order of ``x`` modulo ``prime`` is ``2**16``-powersmooth (in particular small).

    The order divides ``prime - 1``; it is powersmooth iff it divides
    ``L = gcd(prime - 1, lcm(1..2**16))``, i.e. iff ``x**L = 1 mod prime``.
    """
    exponent = gcd(prime - 1, _powersmooth_exponent())
    return bool(powmod(x, exponent, prime) == 1)


def _fingerprint(n: int) -> str:
    """32 hex digits of SHA-256 over ``b"heprim.paillier.n:" || big-endian bytes of n``."""
    n_int = int(n)
    data = b"heprim.paillier.n:" + n_int.to_bytes((n_int.bit_length() + 7) // 8, "big")
    return hashlib.sha256(data).hexdigest()[:32]


class PublicKey:
    """A Paillier public key ``n`` (with ``g = n + 1``) and the DJN element ``h_s``.

    Args:
        n: the modulus, a product of two distinct odd primes (checked only for size, parity and
            being not a perfect square: the factorisation is secret).
        hs: the DJN element ``h_s = (-y**2)**n mod n**2`` published by the key holder. When
            omitted (a key imported from python-paillier), one is derived from the OS CSPRNG on the
            first DJN encryption: that is as good, just not shared.

    Moduli below 2048 bits are accepted (keys made for tests travel too) but emit an
    :class:`~heprim.errors.InsecureParametersWarning`; below 256 bits they are refused.
    """

    __slots__ = (
        "__weakref__",
        "_hs",
        "_lock",
        "_table",
        "fingerprint",
        "max_int",
        "n",
        "n_bits",
        "nsquare",
    )

    n: int
    nsquare: int
    max_int: int
    n_bits: int
    fingerprint: str
    _hs: int | None
    _table: FixedBaseTable | None
    _lock: threading.Lock

    def __init__(self, n: int, *, hs: int | None = None) -> None:
        n_mpz = _check_int(n, "n")
        n_bits = int(n_mpz.bit_length())
        if n_bits < MIN_N_BITS:
            raise ParameterError(
                f"n has {n_bits} bits; heprim refuses Paillier moduli below {MIN_N_BITS} bits"
            )
        if n_mpz % 2 == 0:
            raise ParameterError("n must be odd: a Paillier modulus is a product of two odd primes")
        if is_square(n_mpz):
            raise ParameterError("n is a perfect square: p = q, and n is factored by a square root")
        if n_bits < MIN_SECURE_N_BITS:
            warnings.warn(
                f"this Paillier public key has {n_bits} bits, below the {MIN_SECURE_N_BITS}-bit "
                "minimum: it is insecure (fine for tests only)",
                InsecureParametersWarning,
                stacklevel=2,
            )
        self._setup(n_mpz)
        if hs is not None:
            self._hs = self._check_hs(hs)

    @classmethod
    def _trusted(cls, n: int, hs: int | None) -> PublicKey:
        """Build from values produced by key generation (size policy already applied)."""
        self = cls.__new__(cls)
        self._setup(mpz(n))
        self._hs = None if hs is None else mpz(hs)
        return self

    def _setup(self, n: int) -> None:
        self.n = n
        self.nsquare = n * n
        self.max_int = n // 3
        self.n_bits = int(n.bit_length())
        self.fingerprint = _fingerprint(n)
        self._hs = None
        self._table = None
        self._lock = threading.Lock()

    def _check_hs(self, hs: object) -> int:
        value = _check_int(hs, "hs")
        if not 0 < value < self.nsquare:
            raise ParameterError("hs must be in (0, n**2): it is a unit modulo n**2")
        if value in (1, self.nsquare - 1):
            raise ParameterError(
                "hs = +-1 is degenerate: every DJN encryption would carry no randomness"
            )
        if gcd(value, self.n) != 1:
            raise ParameterError(
                "hs shares a factor with n: it is not a unit, and it reveals the factorisation"
            )
        return value

    # ------------------------------------------------------------------ properties

    @property
    def g(self) -> int:
        """The generator ``g = n + 1`` (python-paillier's attribute)."""
        return self.n + 1

    @property
    def hs(self) -> int:
        """The DJN element ``h_s``; derived from the OS CSPRNG on first use if none was given."""
        hs = self._hs
        if hs is None:
            with self._lock:
                if self._hs is None:
                    self._hs = self._derive_hs(None)
                hs = self._hs
        return hs

    def _adopt_hs(self, hs: int) -> int:
        """Install the key holder's ``h_s`` unless one is already set; return the one in force."""
        with self._lock:
            if self._hs is None:
                self._hs = hs
            return self._hs

    @property
    def has_hs(self) -> bool:
        """Whether ``h_s`` is already set (given, generated, or derived)."""
        return self._hs is not None

    def _derive_hs(self, rng: PRNG | None) -> int:
        """``h_s = (-y**2)**n mod n**2`` for a fresh ``y`` in ``Z*_n`` (DJN section 4; IPCL)."""
        source = default_rng(rng)
        n = self.n
        while True:
            y = source.randrange(2, int(n) - 1)
            if gcd(y, n) != 1:  # only if y reveals a factor of n: practically never
                continue
            h = (-y * y) % n
            hs = powmod(h, n, self.nsquare)
            if hs not in (1, self.nsquare - 1):
                return hs

    def precompute(
        self,
        *,
        window: int = DEFAULT_WINDOW,
        progress: Callable[[int, int], None] | None = None,
    ) -> FixedBaseTable:
        """Build (once, thread-safely) and return the fixed-base table of ``h_s``.

        DJN encryption builds it lazily on first use; call this ahead of time to keep that cost
        (about 0.3 s and 16 MiB at 2048 bits, 0.9 s and 36 MiB at 3072) out of a timed path.
        """
        table = self._table
        if table is not None and table.window == window:
            return table
        hs = self.hs
        with self._lock:
            if self._table is None or self._table.window != window:
                self._table = FixedBaseTable(
                    hs, self.nsquare, self._djn_bits, window=window, progress=progress
                )
            return self._table

    @property
    def _djn_bits(self) -> int:
        return (self.n_bits + 1) // 2

    # ------------------------------------------------------------------ validation

    def check_plaintext(self, m: object) -> int:
        """Validate a raw plaintext ``0 <= m < n`` and return it as an mpz."""
        value = _check_int(m, "the plaintext")
        if not 0 <= value < self.n:
            raise ParameterError(
                "a raw plaintext must be in [0, n); encode signed or fractional values with "
                "encrypt() (or EncodedNumber.encode), which maps them into that range"
            )
        return value

    def check_ciphertext(self, c: object) -> int:
        """Validate a ciphertext: an integer in ``(0, n**2)`` coprime to ``n``; return it as mpz.

        Every such integer is a valid Paillier ciphertext for ``g = n + 1`` (the map
        ``(m, r) -> (1 + m n) r**n`` is a bijection onto ``Z*_{n**2}``).
        """
        value = _check_int(c, "the ciphertext")
        if not 0 < value < self.nsquare:
            raise ParameterError("a ciphertext must be in (0, n**2) for this key")
        if gcd(value, self.n) != 1:
            raise ParameterError(
                "the ciphertext is not coprime to n: it was not produced by Paillier encryption "
                "under this key"
            )
        return value

    def _check_ct_fast(self, c: object) -> int:
        """Type and range only (the gcd costs more than a homomorphic addition)."""
        value = _check_int(c, "the ciphertext")
        if not 0 < value < self.nsquare:
            raise ParameterError("a ciphertext must be in (0, n**2) for this key")
        return value

    def _check_unit_r(self, r: object) -> int:
        value = _check_int(r, "r")
        if not 0 < value < self.n or gcd(value, self.n) != 1:
            raise ParameterError("r must be in Z*_n: 0 < r < n and gcd(r, n) = 1")
        return value

    def _check_pool(self, pool: RandomnessPool) -> None:
        from heprim.paillier.pool import RandomnessPool

        if not isinstance(pool, RandomnessPool):
            raise ParameterError(f"pool must be a RandomnessPool, got {type(pool).__name__}")
        if pool.public_key is not self and pool.public_key != self:
            raise KeyMismatchError(
                f"the randomness pool belongs to key {pool.public_key.fingerprint[:8]}, not "
                f"{self.fingerprint[:8]}"
            )

    # ------------------------------------------------------------------ randomness

    def _draw(self, rng: PRNG, mode: Mode) -> int:
        """The secret randomness behind one term: DJN's exponent ``a`` or textbook ``r``."""
        if mode == "djn":
            return rng.randbits(self._djn_bits)
        n = int(self.n)
        while True:
            r = rng.randrange(1, n)
            if gcd(r, n) == 1:
                return r

    def _term(self, drawn: int, mode: Mode) -> int:
        """The ``n``-th residue for a drawn secret: ``h_s**a`` or ``r**n`` modulo ``n**2``."""
        if mode == "djn":
            table = self._table if self._table is not None else self.precompute()
            return table.pow(drawn)
        return powmod(drawn, self.n, self.nsquare)

    def random_factor(self, *, rng: PRNG | None = None, mode: Mode = "djn") -> int:
        """A fresh random ``n``-th residue modulo ``n**2``: the unit multiplied into a ciphertext.

        ``mode="djn"`` gives ``h_s**a`` (fast, fixed-base table); ``"standard"`` gives ``r**n``.
        """
        checked = _check_mode(mode)
        return self._term(self._draw(default_rng(rng), checked), checked)

    # ------------------------------------------------------------------ raw scheme

    def raw_encrypt(
        self,
        m: int,
        r: int | None = None,
        *,
        rng: PRNG | None = None,
        mode: Mode = "djn",
        pool: RandomnessPool | None = None,
    ) -> int:
        """``(1 + m n) * x mod n**2`` for a plaintext ``0 <= m < n``.

        Args:
            m: the raw plaintext (an encoding; see :meth:`encrypt` for numbers).
            r: explicit textbook randomness in ``Z*_n``: then ``x = r**n`` whatever the mode, which
                gives known answers (python-paillier's ``r_value``, ISO/IEC 18033-6 vectors).
            rng: randomness source for ``x`` (default: OS CSPRNG).
            mode: ``"djn"`` (default) or ``"standard"``.
            pool: take ``x`` from this precomputed :class:`~heprim.paillier.pool.RandomnessPool`.
        """
        plain = self.check_plaintext(m)
        checked = _check_mode(mode)
        if r is not None:
            if pool is not None:
                raise ParameterError("give either r or pool, not both")
            x = powmod(self._check_unit_r(r), self.n, self.nsquare)
        elif pool is not None:
            self._check_pool(pool)
            x = pool.take()
        else:
            x = self._term(self._draw(default_rng(rng), checked), checked)
        return (1 + plain * self.n) * x % self.nsquare

    def raw_add(self, c1: int, c2: int) -> int:
        """The ciphertext of the sum of plaintexts: ``c1 * c2 mod n**2`` (not re-randomised)."""
        return self._check_ct_fast(c1) * self._check_ct_fast(c2) % self.nsquare

    def raw_mul(self, c: int, k: int) -> int:
        """The ciphertext of ``k * m mod n``: ``c**k mod n**2`` (not re-randomised).

        ``k`` is reduced modulo ``n``; a ``k`` in the upper half (a negative number) uses
        ``(c**-1)**(n - k)``, a shorter exponent.
        """
        value = self._check_ct_fast(c)
        scalar = _check_int(k, "the scalar") % self.n
        if scalar > self.n // 2:
            scalar -= self.n  # gmpy2's powmod inverts the base for a negative exponent
        return powmod(value, scalar, self.nsquare)

    def raw_obfuscate(
        self,
        c: int,
        *,
        rng: PRNG | None = None,
        mode: Mode = "djn",
        pool: RandomnessPool | None = None,
    ) -> int:
        """Re-randomise: ``c * x mod n**2`` with ``x`` a fresh random ``n``-th residue."""
        value = self._check_ct_fast(c)
        checked = _check_mode(mode)
        if pool is not None:
            self._check_pool(pool)
            x = pool.take()
        else:
            x = self._term(self._draw(default_rng(rng), checked), checked)
        return value * x % self.nsquare

    # ------------------------------------------------------------------ recipes

    def encrypt(
        self,
        value: int | float | EncodedNumber,
        *,
        precision: float | None = None,
        rng: PRNG | None = None,
        pool: RandomnessPool | None = None,
        mode: Mode = "djn",
        r: int | None = None,
    ) -> EncryptedNumber:
        """Encode (python-paillier's encoding) and encrypt an int, a float or an EncodedNumber.

        The result is freshly randomised. ``r`` fixes textbook randomness for known answers.
        """
        from heprim.paillier.encoding import EncodedNumber
        from heprim.paillier.number import EncryptedNumber

        if isinstance(value, EncodedNumber):
            value._check_key(self)
            encoded = value
        else:
            encoded = EncodedNumber.encode(self, value, precision)
        c = self.raw_encrypt(encoded.encoding, r, rng=rng, mode=mode, pool=pool)
        return EncryptedNumber._trusted(self, c, encoded.exponent)

    def encrypt_vector(self, *args: Any, **kwargs: Any) -> Any:
        """Encrypt an array: see :func:`heprim.paillier.vector.encrypt_vector`."""
        from heprim.paillier import vector

        return vector.encrypt_vector(self, *args, **kwargs)

    # ------------------------------------------------------------------ dunder

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return bool(self.n == other.n)

    def __hash__(self) -> int:
        return hash(int(self.n))

    def __repr__(self) -> str:
        return f"PublicKey(n_bits={self.n_bits}, fingerprint={self.fingerprint!r})"


class PrivateKey:
    """The factorisation ``n = p q`` with the CRT constants for decryption and fast encryption.

    The constructor checks the mathematics Paillier needs (``p q = n``, distinct probable primes,
    ``gcd(n, (p-1)(q-1)) = 1``) and, when the public key already carries an ``h_s``, that it is a
    genuine ``n``-th residue of large order. :meth:`from_primes` additionally enforces the key
    generation rules (sizes, ``3 mod 4``, ``gcd(p-1, q-1) = 2``, distance).

    The key holder encrypts by CRT (see the module docstring): DJN by default, from two fixed-base
    tables built on first use or by :meth:`precompute`; ``mode="standard"`` for the textbook
    distribution. If the public key has no ``h_s`` yet, the key holder makes one (with the order
    checks of key generation) and installs it in the public key.

    ``p < q`` after construction, whatever order they were given in.
    """

    __slots__ = (
        "__weakref__",
        "_hp",
        "_hq",
        "_lock",
        "_p_inv_q",
        "_p_mod_qm1",
        "_pm1",
        "_psquare",
        "_psquare_inv",
        "_q_mod_pm1",
        "_qm1",
        "_qsquare",
        "_tables",
        "p",
        "public_key",
        "q",
    )

    public_key: PublicKey
    p: int
    q: int
    _tables: tuple[FixedBaseTable, FixedBaseTable] | None
    _lock: threading.Lock

    def __init__(self, public_key: PublicKey, p: int, q: int) -> None:
        if not isinstance(public_key, PublicKey):
            raise ParameterError(
                f"public_key must be a heprim PublicKey, got {type(public_key).__name__}"
            )
        p_mpz, q_mpz = _check_int(p, "p"), _check_int(q, "q")
        if p_mpz * q_mpz != public_key.n:
            raise ParameterError("p * q does not equal the public key's n: the primes do not match")
        if p_mpz == q_mpz:
            raise ParameterError("p and q must be distinct primes")
        for name, prime in (("p", p_mpz), ("q", q_mpz)):
            if not is_probable_prime(prime):
                raise ParameterError(f"{name} is not prime (Baillie-PSW test)")
        if gcd(public_key.n, (p_mpz - 1) * (q_mpz - 1)) != 1:
            raise ParameterError(
                "gcd(n, (p-1)(q-1)) must be 1 for Paillier decryption; primes of equal bit length "
                "always satisfy it"
            )
        if q_mpz < p_mpz:
            p_mpz, q_mpz = q_mpz, p_mpz
        self.public_key = public_key
        self.p = p_mpz
        self.q = q_mpz
        self._psquare = p_mpz * p_mpz
        self._qsquare = q_mpz * q_mpz
        self._pm1 = p_mpz - 1
        self._qm1 = q_mpz - 1
        self._hp = self._h(p_mpz, self._psquare)
        self._hq = self._h(q_mpz, self._qsquare)
        self._p_inv_q = invert(p_mpz, q_mpz)
        # For encryption: n-th powers modulo p**2 are (r**(q mod p-1) mod p)**p (see _residue).
        self._q_mod_pm1 = q_mpz % self._pm1
        self._p_mod_qm1 = p_mpz % self._qm1
        self._psquare_inv = invert(self._psquare, self._qsquare)
        self._tables = None
        self._lock = threading.Lock()
        if public_key.has_hs:
            self._validate_hs(public_key.hs)

    def _h(self, prime: int, prime_square: int) -> int:
        """``h_p = L_p(g**(p-1) mod p**2)**-1 mod p`` (Paillier 1999, section 7)."""
        u = powmod(self.public_key.g, prime - 1, prime_square)
        return invert((u - 1) // prime, prime)

    def _validate_hs(self, hs: int) -> None:
        """The key holder's check of ``h_s``: an ``n``-th residue whose order is not small."""
        if self.raw_decrypt(hs) != 0:
            raise ParameterError(
                "hs is not an n-th residue modulo n**2 (it decrypts to a non-zero value): DJN "
                "encryptions under it would decrypt wrongly; regenerate the public key's hs"
            )
        for name, prime in (("p", self.p), ("q", self.q)):
            if _order_is_smooth(hs % prime, prime):
                raise ParameterError(
                    f"hs has a small (2**16-powersmooth) order modulo {name}: DJN randomness "
                    "under it would be guessable; regenerate hs"
                )

    @classmethod
    def from_primes(
        cls,
        p: int,
        q: int,
        *,
        allow_insecure: bool = False,
        rng: PRNG | None = None,
    ) -> PrivateKey:
        """A key pair from given primes, checked against heprim's key generation rules.

        Refuses (with the reason) primes that are not prime, equal, of different bit lengths, not
        ``3 mod 4``, with ``gcd(p-1, q-1) != 2``, too close together, or a modulus below 2048 bits
        without ``allow_insecure=True`` (which warns) or below 256 bits at all. A fresh ``h_s`` is
        derived from ``rng`` and checked.
        """
        p_mpz, q_mpz = _check_int(p, "p"), _check_int(q, "q")
        if p_mpz <= 2 or q_mpz <= 2:
            raise ParameterError("p and q must be odd primes")
        n = p_mpz * q_mpz
        n_bits = int(n.bit_length())
        _check_size_policy(n_bits, allow_insecure, "the modulus p * q")
        _check_key_primes(p_mpz, q_mpz)
        hs = _keyholder_hs(p_mpz, q_mpz, default_rng(rng))
        return cls(PublicKey._trusted(n, hs), p_mpz, q_mpz)

    # ------------------------------------------------------------------ decryption

    def raw_decrypt(self, c: int) -> int:
        """The plaintext in ``[0, n)`` of a raw ciphertext, by CRT (Paillier 1999, section 7).

        ``m_p = L_p(c**(p-1) mod p**2) * h_p mod p`` and likewise modulo ``q``, then Garner's
        recombination ``m = m_p + p * ((m_q - m_p) * p**-1 mod q)``.
        """
        value = self.public_key.check_ciphertext(c)
        p, q = self.p, self.q
        m_p = (powmod(value, self._pm1, self._psquare) - 1) // p * self._hp % p
        m_q = (powmod(value, self._qm1, self._qsquare) - 1) // q * self._hq % q
        return m_p + p * ((m_q - m_p) * self._p_inv_q % q)

    def decrypt_encoded(self, x: EncryptedNumber) -> EncodedNumber:
        """Decrypt to the :class:`~heprim.paillier.encoding.EncodedNumber` (mantissa, exponent)."""
        from heprim.paillier.encoding import EncodedNumber
        from heprim.paillier.number import EncryptedNumber

        if not isinstance(x, EncryptedNumber):
            raise ParameterError(
                f"decrypt expects an EncryptedNumber, got {type(x).__name__}; use raw_decrypt for "
                "raw integers"
            )
        if x.public_key is not self.public_key and x.public_key != self.public_key:
            raise KeyMismatchError(
                f"this number was encrypted under key {x.public_key.fingerprint[:8]}, but this "
                f"private key is for {self.public_key.fingerprint[:8]}"
            )
        return EncodedNumber._trusted(self.public_key, self.raw_decrypt(x.ciphertext), x.exponent)

    def decrypt(self, x: EncryptedNumber) -> int | float:
        """Decrypt and decode: an ``int`` for exponent ``>= 0``, else a ``float``."""
        return self.decrypt_encoded(x).decode()

    def decrypt_vector(self, *args: Any, **kwargs: Any) -> Any:
        """Decrypt an encrypted array: see :func:`heprim.paillier.vector.decrypt_vector`."""
        from heprim.paillier import vector

        return vector.decrypt_vector(self, *args, **kwargs)

    # ------------------------------------------------------------------ encryption (CRT)

    def _crt_square(self, x_p: int, x_q: int) -> int:
        """The ``x mod n**2`` with ``x = x_p mod p**2`` and ``x = x_q mod q**2`` (Garner)."""
        return x_p + self._psquare * ((x_q - x_p) * self._psquare_inv % self._qsquare)

    def _residue(self, u_p: int, u_q: int) -> int:
        """The ``n``-th residue modulo ``n**2`` that is ``u_p**p mod p**2`` and ``u_q**q mod q**2``.

        In ``Z*_{p**2}`` (cyclic of order ``p(p-1)``) the ``n``-th powers are exactly the ``p``-th
        powers, and ``u -> u**p`` maps ``Z*_p`` one-to-one onto them (it only depends on ``u mod
        p``). So uniform ``u_p, u_q`` give a uniform ``n``-th residue, as textbook ``r**n`` does.
        """
        x_p = powmod(u_p, self.p, self._psquare)
        x_q = powmod(u_q, self.q, self._qsquare)
        return self._crt_square(x_p, x_q)

    def _draw_residue(self, rng: PRNG) -> int:
        u_p = rng.randrange(1, int(self.p))
        u_q = rng.randrange(1, int(self.q))
        return self._residue(u_p, u_q)

    def _djn_hs(self) -> int:
        """The public key's ``h_s``; if it has none yet, the key holder makes one and checks it."""
        public_key = self.public_key
        if public_key.has_hs:
            return public_key.hs
        # As the public key would derive on first use, but with the order checks of key generation.
        return public_key._adopt_hs(_keyholder_hs(self.p, self.q, default_rng(None)))

    def precompute(
        self,
        *,
        window: int = DEFAULT_WINDOW,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[FixedBaseTable, FixedBaseTable]:
        """Build (once, thread-safely) and return the key holder's DJN tables.

        Fixed-base tables of ``h_s mod p**2`` and ``h_s mod q**2`` for exponents of ``|p - 1|``
        and ``|q - 1|`` bits (at most the DJN exponent length): together the size of the public
        table of :meth:`PublicKey.precompute` (16 MiB at 2048 bits, 36 MiB at 3072), built in
        about half its time. Key-holder DJN encryption builds them on first use.
        """
        tables = self._tables
        if tables is not None and tables[0].window == window:
            return tables
        hs = self._djn_hs()
        with self._lock:
            tables = self._tables
            if tables is None or tables[0].window != window:
                djn_bits = self.public_key._djn_bits
                bits_p = min(djn_bits, int(self._pm1.bit_length()))
                bits_q = min(djn_bits, int(self._qm1.bit_length()))
                rows_p, rows_q = table_rows(bits_p, window), table_rows(bits_q, window)
                report_p = report_q = None
                if progress is not None:
                    total, report = rows_p + rows_q, progress
                    report_p = lambda done, _: report(done, total)  # noqa: E731
                    report_q = lambda done, _: report(rows_p + done, total)  # noqa: E731
                table_p = FixedBaseTable(
                    hs % self._psquare, self._psquare, bits_p, window=window, progress=report_p
                )
                table_q = FixedBaseTable(
                    hs % self._qsquare, self._qsquare, bits_q, window=window, progress=report_q
                )
                tables = self._tables = (table_p, table_q)
            return tables

    def _djn_residue(self, a: int) -> int:
        """``h_s**a mod n**2`` by CRT from the two half-size tables (see the module docstring).

        ``h_s mod p**2`` lies in the subgroup of order ``p - 1``, so ``a`` acts modulo ``p - 1``.
        """
        tables = self._tables if self._tables is not None else self.precompute()
        x_p = tables[0].pow(a % self._pm1)
        x_q = tables[1].pow(a % self._qm1)
        return self._crt_square(x_p, x_q)

    def _term(self, rng: PRNG, mode: Mode) -> int:
        """A fresh ``n``-th residue: DJN's ``h_s**a`` (same draw of ``a`` as the public key) or a
        uniform one (``standard``), both by CRT."""
        if mode == "djn":
            return self._djn_residue(self.public_key._draw(rng, "djn"))
        return self._draw_residue(rng)

    def random_factor(self, *, rng: PRNG | None = None, mode: Mode = "djn") -> int:
        """A fresh random ``n``-th residue modulo ``n**2``, computed by the key holder by CRT.

        ``mode="djn"`` (default) gives ``h_s**a``, the very value :meth:`PublicKey.random_factor`
        gives for the same generator state; ``"standard"`` a uniform ``n``-th residue (the
        textbook distribution).
        """
        return self._term(default_rng(rng), _check_mode(mode))

    def raw_encrypt(
        self,
        m: int,
        r: int | None = None,
        *,
        rng: PRNG | None = None,
        mode: Mode = "djn",
        pool: RandomnessPool | None = None,
    ) -> int:
        """Key-holder encryption ``(1 + m n) * x mod n**2`` with ``x`` computed by CRT.

        Args:
            m: the raw plaintext, ``0 <= m < n``.
            r: explicit textbook randomness in ``Z*_n``: then ``x = r**n`` whatever the mode, and
                the result equals the public ``raw_encrypt(m, r)``; ``r**n mod p**2`` is computed
                as ``(r**(q mod p-1) mod p)**p`` since ``n = p q`` and ``Z*_{p**2}`` has order
                ``p(p-1)``.
            rng: randomness source for ``x`` (default: OS CSPRNG).
            mode: ``"djn"`` (default): the public DJN ciphertext for the same ``rng`` state,
                about 1.3x faster; ``"standard"``: ``x`` uniform among all ``n``-th residues.
            pool: take ``x`` from this precomputed :class:`~heprim.paillier.pool.RandomnessPool`.
        """
        pk = self.public_key
        plain = pk.check_plaintext(m)
        checked = _check_mode(mode)
        if r is not None:
            if pool is not None:
                raise ParameterError("give either r or pool, not both")
            r_checked = pk._check_unit_r(r)
            x = self._residue(
                powmod(r_checked, self._q_mod_pm1, self.p),
                powmod(r_checked, self._p_mod_qm1, self.q),
            )
        elif pool is not None:
            pk._check_pool(pool)
            x = pool.take()
        else:
            x = self._term(default_rng(rng), checked)
        return (1 + plain * pk.n) * x % pk.nsquare

    def encrypt(
        self,
        value: int | float | EncodedNumber,
        *,
        precision: float | None = None,
        rng: PRNG | None = None,
        pool: RandomnessPool | None = None,
        mode: Mode = "djn",
        r: int | None = None,
    ) -> EncryptedNumber:
        """Encode and encrypt on the key holder's CRT fast path (``mode`` as in
        :meth:`raw_encrypt`: DJN by default, ``"standard"`` for the textbook distribution)."""
        from heprim.paillier.encoding import EncodedNumber
        from heprim.paillier.number import EncryptedNumber

        if isinstance(value, EncodedNumber):
            value._check_key(self.public_key)
            encoded = value
        else:
            encoded = EncodedNumber.encode(self.public_key, value, precision)
        c = self.raw_encrypt(encoded.encoding, r, rng=rng, mode=mode, pool=pool)
        return EncryptedNumber._trusted(self.public_key, c, encoded.exponent)

    # ------------------------------------------------------------------ dunder

    @property
    def fingerprint(self) -> str:
        """The public key's fingerprint."""
        return self.public_key.fingerprint

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrivateKey):
            return NotImplemented
        return bool(self.p == other.p and self.q == other.q)

    def __hash__(self) -> int:
        return hash((int(self.p), int(self.q)))

    def __repr__(self) -> str:
        # Never the primes.
        return f"PrivateKey(n_bits={self.public_key.n_bits}, fingerprint={self.fingerprint!r})"


def _check_key_primes(p: int, q: int) -> None:
    """The key generation rules of IPCL's DJN keys (``getDJNBN``), each refusal explained."""
    for name, prime in (("p", p), ("q", q)):
        if not is_probable_prime(prime):
            raise ParameterError(f"{name} is not prime (Baillie-PSW test)")
    if p == q:
        raise ParameterError("p and q must be distinct primes (n = p**2 is trivially factored)")
    if p.bit_length() != q.bit_length():
        raise ParameterError(
            f"p and q must have the same bit length (got {p.bit_length()} and {q.bit_length()})"
        )
    for name, prime in (("p", p), ("q", q)):
        if prime % 4 != 3:
            raise ParameterError(
                f"{name} must be 3 mod 4 (a Blum prime) so that -1 is a non-residue modulo it, as "
                "the DJN h = -y**2 needs"
            )
    g = gcd(p - 1, q - 1)
    if g != 2:
        raise ParameterError(
            f"gcd(p-1, q-1) is {g}, must be 2: otherwise the Jacobi-symbol-1 group is not cyclic "
            "and the DJN element h need not generate it"
        )
    half = (p * q).bit_length() // 2
    if abs(p - q).bit_length() <= half - _CLOSE_PRIMES_MARGIN:
        raise ParameterError(
            f"|p - q| < 2**{half - _CLOSE_PRIMES_MARGIN}: primes this close are found by Fermat's "
            "difference-of-squares factoring"
        )


def _keyholder_hs(p: int, q: int, rng: PRNG) -> int:
    """``h_s = h**n mod n**2`` for ``h = -y**2 mod n``, with the order of ``h`` checked.

    The key holder refuses any ``h`` whose order modulo ``p`` or ``q`` is powersmooth (in
    particular small), and computes ``h**n`` by CRT: modulo ``p**2`` it is ``(h**(q mod p-1) mod
    p)**p``.
    """
    n = p * q
    psquare, qsquare = p * p, q * q
    while True:
        y = rng.randrange(2, int(n) - 1)
        if gcd(y, n) != 1:
            continue
        h = (-y * y) % n
        if _order_is_smooth(h % p, p) or _order_is_smooth(h % q, q):
            continue
        x_p = powmod(powmod(h, q % (p - 1), p), p, psquare)
        x_q = powmod(powmod(h, p % (q - 1), q), q, qsquare)
        return x_p + psquare * ((x_q - x_p) * invert(psquare, qsquare) % qsquare)


def generate_keypair(
    n_bits: int = DEFAULT_N_BITS,
    *,
    rng: PRNG | None = None,
    allow_insecure: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[PublicKey, PrivateKey]:
    """Generate a Paillier key pair with an ``n`` of exactly ``n_bits`` bits and its DJN ``h_s``.

    Primes come from :func:`heprim.math.ntheory.random_prime` (CSPRNG candidates, Baillie-PSW),
    both of ``n_bits / 2`` bits with the two top bits set (so ``n`` has exactly ``n_bits`` bits),
    ``p = q = 3 mod 4``, redrawing ``q`` until ``gcd(p-1, q-1) = 2`` and ``|p - q|`` is large
    (IPCL's ``getDJNBN`` rules). Then ``h = -y**2`` with a non-smooth order and
    ``h_s = h**n mod n**2`` (DJN 2010, section 4).

    Args:
        n_bits: modulus size, even; default 3072 (~128-bit security). Below 2048 needs
            ``allow_insecure=True`` and warns; below 256 is refused.
        rng: randomness source (default: OS CSPRNG); a seeded KeyedPRNG makes it reproducible.
        allow_insecure: permit small test keys.
        progress: optional ``progress(done, total)`` callback over the 3 stages (p, q, h_s).
    """
    bits = _check_int(n_bits, "n_bits")
    if bits % 2:
        raise ParameterError(f"n_bits must be even (two primes of n_bits/2 bits), got {bits}")
    _check_size_policy(int(bits), allow_insecure, f"a {bits}-bit modulus")
    source = default_rng(rng)
    half = int(bits) // 2
    p = random_prime(half, source, residue=(3, 4))
    if progress is not None:
        progress(1, 3)
    while True:
        q = random_prime(half, source, residue=(3, 4))
        if q == p or gcd(p - 1, q - 1) != 2:
            continue
        if (p * q).bit_length() != bits:  # cannot happen with two top bits set; checked anyway
            continue
        if abs(p - q).bit_length() <= half - _CLOSE_PRIMES_MARGIN:
            continue
        break
    if progress is not None:
        progress(2, 3)
    hs = _keyholder_hs(p, q, source)
    private_key = PrivateKey(PublicKey._trusted(p * q, hs), p, q)
    if progress is not None:
        progress(3, 3)
    return private_key.public_key, private_key
