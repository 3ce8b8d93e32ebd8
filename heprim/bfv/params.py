"""BFV parameters: a plain literal becomes a validated, immutable :class:`Parameters`.

A BFV parameter set (Fan and Vercauteren, "Somewhat Practical Fully Homomorphic Encryption",
ePrint 2012/144; in its RNS form by Halevi, Polyakov and Shoup, CT-RSA 2019) is

* the ring degree ``N`` (a power of two): plaintexts and ciphertexts are polynomials of
  ``Z[X]/(X^N + 1)``;
* the plaintext modulus ``t``: plaintext coefficients live in ``Z_t``;
* the ciphertext modulus ``Q = q_1 ... q_L``, a product of NTT-friendly primes below ``2^30``
  (:mod:`heprim.ring`); its size against the noise sets the multiplicative depth;
* the special primes ``P = p_1 ... p_K`` of hybrid key switching (relinearization, rotations),
  present only inside evaluation keys.

The secret key is ternary (uniform in ``{-1, 0, 1}``) and errors follow the discrete Gaussian of
standard deviation 3.19, as in the HomomorphicEncryption.org standard (Albrecht et al., "Homomorphic
Encryption Standard", 2018, Table 1), whose bounds on ``log2(QP)`` for 128, 192 and 256 bits of
classical security are in :data:`HE_STANDARD_MAX_BITS`. As in SEAL, the size of the modulus is
counted as the sum of the bit lengths of its primes, which is at least ``log2(QP)``.

::

    from heprim.bfv import Parameters, ParametersLiteral

    params = Parameters.preset("N8192-128")  # or: Parameters(PRESETS["N8192-128"])
    custom = Parameters(ParametersLiteral(degree=8192, plain_modulus=65537,
                                          log_q=(27,) * 7, log_p=(27,)))

Anything the standard does not cover at 128 bits is refused unless ``allow_insecure=True``, which
then warns with :class:`~heprim.errors.InsecureParametersWarning`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import Final

from heprim.errors import InsecureParametersWarning, ParameterError
from heprim.math.ntheory import is_probable_prime
from heprim.ring import MAX_MODULUS_BITS, Ring, is_ntt_prime, ntt_primes
from heprim.ring.primes import check_degree
from heprim.ring.rns import MAX_BASIS_SIZE

__all__ = [
    "ERROR_STDDEV",
    "HE_STANDARD_MAX_BITS",
    "PRESETS",
    "Parameters",
    "ParametersLiteral",
    "aux_count",
    "max_modulus_bits",
]

#: Standard deviation of the discrete Gaussian errors (the HE standard's and SEAL's 3.19).
ERROR_STDDEV: Final = 3.19

#: HomomorphicEncryption.org standard (2018), Table 1, ternary secrets, classical attacks:
#: the largest ``log2(QP)`` for each ``N`` at 128, 192 and 256 bits of security (the values of
#: SEAL's ``hestdparms.h``).
HE_STANDARD_MAX_BITS: Final[Mapping[int, Mapping[int, int]]] = {
    128: {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881},
    192: {1024: 19, 2048: 37, 4096: 75, 8192: 152, 16384: 305, 32768: 611},
    256: {1024: 14, 2048: 29, 4096: 58, 8192: 118, 16384: 237, 32768: 476},
}

#: Plaintext moduli: at least 2, below ``2^30`` (odd) or ``2^28`` (even). Decryption computes
#: ``round(4 t x / Q)`` modulo 4 and ``t`` (modulo ``4t`` when ``t`` is even) in 30-bit lanes.
_MAX_PLAIN_BITS: Final = MAX_MODULUS_BITS
_MAX_EVEN_PLAIN: Final = 1 << (MAX_MODULUS_BITS - 2)


def max_modulus_bits(degree: int, security: int = 128) -> int | None:
    """The HE standard's largest ``log2(QP)`` for ``N = degree`` at ``security`` bits, if listed."""
    table = HE_STANDARD_MAX_BITS.get(security)
    if table is None:
        raise ParameterError(f"security must be one of 128, 192, 256, got {security!r}")
    return table.get(degree)


@dataclasses.dataclass(frozen=True)
class ParametersLiteral:
    """An unchecked, JSON-friendly description of a BFV parameter set (cf. Lattigo's literals).

    Give the primes explicitly (``q``, ``p``) or by bit size (``log_q``, ``log_p``), not both for
    the same modulus. Primes from bit sizes are the largest NTT-friendly primes (``= 1 mod 2N``)
    below ``2^bits``, deterministic, with the special primes drawn first so that they are the
    largest of their size (key switching divides its noise by ``P``).

    Attributes:
        degree: ``N``, a power of two.
        plain_modulus: ``t``; batching needs a prime ``t = 1 (mod 2N)``, e.g. 65537.
        q: the ciphertext primes ``q_1, ..., q_L`` (modulus switching drops them from the end).
        p: the special primes of key switching (none: no relinearization or rotation keys).
        log_q: bit sizes of the ciphertext primes, instead of ``q``.
        log_p: bit sizes of the special primes, instead of ``p``.
    """

    degree: int
    plain_modulus: int
    q: tuple[int, ...] = ()
    p: tuple[int, ...] = ()
    log_q: tuple[int, ...] = ()
    log_p: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """The literal as a JSON-compatible dictionary."""
        return {
            "degree": self.degree,
            "plain_modulus": self.plain_modulus,
            "q": list(self.q),
            "p": list(self.p),
            "log_q": list(self.log_q),
            "log_p": list(self.log_p),
        }


#: The presets: 128-bit security by the HE standard, ``t = 65537`` (batching for every ``N`` up
#: to 32768). Up to ``N = 16384`` one special prime as large as every ciphertext prime (SEAL's
#: layout, so SEAL runs the very same parameters); the prime sizes fill the standard's budget,
#: ``(L + 1) * bits <= max``. At ``N = 32768`` three special primes cut the 27 ciphertext primes
#: into 9 digits of 3: key-switching keys three times smaller and key switching three times
#: faster than with 29 one-prime digits, for two primes less of ``Q``.
PRESETS: Final[Mapping[str, ParametersLiteral]] = {
    "N4096-128": ParametersLiteral(4096, 65537, log_q=(27,) * 3, log_p=(27,)),
    "N8192-128": ParametersLiteral(8192, 65537, log_q=(27,) * 7, log_p=(27,)),
    "N16384-128": ParametersLiteral(16384, 65537, log_q=(29,) * 14, log_p=(29,)),
    "N32768-128": ParametersLiteral(32768, 65537, log_q=(29,) * 27, log_p=(29,) * 3),
}


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _int_tuple(values: object, what: str) -> tuple[int, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ParameterError(f"{what} must be a sequence of integers, got {values!r}")
    return tuple(_int(v, f"every entry of {what}") for v in values)


def _primes_from_bits(
    degree: int, log_q: Sequence[int], log_p: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Distinct NTT primes of the requested sizes: per size, the largest first, ``P`` first."""
    for bits in (*log_q, *log_p):
        if not 2 <= bits <= MAX_MODULUS_BITS:
            raise ParameterError(
                f"prime sizes must lie in [2, {MAX_MODULUS_BITS}] bits (the ring engine's 64-bit "
                f"lanes need primes below 2^{MAX_MODULUS_BITS}), got {bits}"
            )
    pools: dict[int, list[int]] = {}
    for bits in sorted(set(log_q) | set(log_p)):
        count = list(log_q).count(bits) + list(log_p).count(bits)
        primes = ntt_primes(degree, count, bits=bits)
        if primes[-1].bit_length() != bits:
            raise ParameterError(
                f"there are fewer than {count} primes of exactly {bits} bits that are 1 mod "
                f"2N = {2 * degree}; use larger primes or fewer of them"
            )
        pools[bits] = list(primes)
    p = tuple(pools[b].pop(0) for b in log_p)
    q = tuple(pools[b].pop(0) for b in log_q)
    return q, p


class Parameters:
    """A validated, immutable BFV parameter set.

    Args:
        literal: the description (a :class:`ParametersLiteral`, or a mapping with its fields).
        allow_insecure: accept a set the HE standard does not rate at 128 bits (it warns with
            :class:`~heprim.errors.InsecureParametersWarning`). For tests and experiments only.

    Raises:
        ParameterError: with the reason and what to do, for a degree that is not a power of two,
            a plaintext modulus out of range or equal to a prime, primes that are not NTT-friendly
            or repeat, a basis too large for the exact multiplication, or insecure parameters
            without ``allow_insecure=True``.

    Two parameter objects are equal when they describe the same ring, ``t``, ``Q`` and ``P``;
    :attr:`fingerprint` identifies them in serialized data and in every ciphertext.
    """

    __slots__ = (
        "allow_insecure",
        "aux_primes",
        "degree",
        "fingerprint",
        "p",
        "plain_modulus",
        "q",
        "security_level",
    )

    degree: int
    plain_modulus: int
    q: tuple[int, ...]
    p: tuple[int, ...]
    allow_insecure: bool
    security_level: int | None
    fingerprint: str
    aux_primes: tuple[int, ...]

    def __init__(
        self,
        literal: ParametersLiteral | Mapping[str, object],
        *,
        allow_insecure: bool = False,
    ) -> None:
        if isinstance(literal, Mapping):
            try:
                literal = ParametersLiteral(**literal)  # type: ignore[arg-type]
            except TypeError as exc:
                raise ParameterError(f"not a BFV parameters literal: {exc}") from None
        if not isinstance(literal, ParametersLiteral):
            raise ParameterError(
                f"Parameters takes a ParametersLiteral (or a mapping of its fields), got "
                f"{type(literal).__name__}"
            )
        if not isinstance(allow_insecure, bool):
            raise ParameterError(f"allow_insecure must be True or False, got {allow_insecure!r}")
        degree = check_degree(_int(literal.degree, "degree"))
        t = _int(literal.plain_modulus, "plain_modulus")
        q, p = _int_tuple(literal.q, "q"), _int_tuple(literal.p, "p")
        log_q, log_p = _int_tuple(literal.log_q, "log_q"), _int_tuple(literal.log_p, "log_p")
        if q and log_q:
            raise ParameterError("give the ciphertext primes as q or as log_q, not both")
        if p and log_p:
            raise ParameterError("give the special primes as p or as log_p, not both")
        if log_q or log_p:
            gen_q, gen_p = _primes_from_bits(degree, log_q, log_p)
            q, p = q or gen_q, p or gen_p
        if not q:
            raise ParameterError(
                "BFV needs at least one ciphertext prime: give q or log_q, or use a preset "
                f"({', '.join(PRESETS)})"
            )
        for prime in (*q, *p):
            if not is_ntt_prime(prime, degree):
                raise ParameterError(
                    f"{prime} is not an NTT-friendly prime for N = {degree}: it must be a prime "
                    f"below 2^{MAX_MODULUS_BITS} with q = 1 mod 2N = {2 * degree} (give bit sizes "
                    "with log_q / log_p to have them generated)"
                )
        if len(set(q + p)) != len(q + p):
            raise ParameterError("the primes of q and p must all be distinct")
        self._check_plain_modulus(t, degree, q + p)

        object.__setattr__(self, "degree", degree)
        object.__setattr__(self, "plain_modulus", t)
        object.__setattr__(self, "q", q)
        object.__setattr__(self, "p", p)
        object.__setattr__(self, "allow_insecure", allow_insecure)
        object.__setattr__(self, "aux_primes", self._auxiliary_primes())
        object.__setattr__(self, "security_level", self._security())
        object.__setattr__(self, "fingerprint", self._fingerprint())
        if self.security_level is None:
            self._refuse_or_warn()

    # ------------------------------------------------------------------ construction helpers

    @staticmethod
    def _check_plain_modulus(t: int, degree: int, primes: tuple[int, ...]) -> None:
        if not 2 <= t < 1 << _MAX_PLAIN_BITS:
            raise ParameterError(
                f"the plain modulus t must lie in [2, 2^{_MAX_PLAIN_BITS}), got {t}"
            )
        if t % 2 == 0 and t >= _MAX_EVEN_PLAIN:
            raise ParameterError(
                f"an even plain modulus must be below 2^{MAX_MODULUS_BITS - 2} (decryption "
                f"checks the noise modulo 4t in a 30-bit lane), got {t}"
            )
        if t in primes:
            raise ParameterError(f"the plain modulus {t} must not be one of the ciphertext primes")
        q_total = math.prod(primes)
        if t >= q_total:
            raise ParameterError(f"the plain modulus {t} must be far smaller than Q")

    def _auxiliary_primes(self) -> tuple[int, ...]:
        """Candidates for the HPS auxiliary basis ``B``: NTT primes below ``2^29`` not in ``QP``.

        The context takes the shortest prefix that a multiplication at a given level needs
        (:meth:`heprim.bfv.context.Context.aux_moduli`); the top level with two ciphertexts of
        size 2 must fit the ring engine's :data:`~heprim.ring.rns.MAX_BASIS_SIZE` limbs.
        """
        used = {*self.q, *self.p, self.plain_modulus}
        # Enough for the products of larger ciphertexts (size 3 and more) too.
        goal = self.q_modulus.bit_length() + self.plain_modulus.bit_length()
        goal += self.degree.bit_length() + 40
        aux: list[int] = []
        product = 1
        for size in (29, 28, 27, 26, 25):
            for prime in _ntt_primes_up_to(self.degree, size, 64):
                if prime in used or prime in aux or prime.bit_length() != size:
                    continue
                aux.append(prime)
                product *= prime
                if product.bit_length() > goal or len(aux) == MAX_BASIS_SIZE:
                    break
            if product.bit_length() > goal or len(aux) == MAX_BASIS_SIZE:
                break
        needed = aux_count(self.q_modulus, self.plain_modulus, self.degree, 2, aux)
        if needed is None or len(self.q) + needed > MAX_BASIS_SIZE:
            raise ParameterError(
                f"Q has {len(self.q)} primes of {self.q_modulus.bit_length()} bits in all; the "
                f"exact HPS multiplication needs an extended basis of Q and an auxiliary modulus "
                f"larger than 2 N t Q, more than the {MAX_BASIS_SIZE} limbs the ring engine "
                "allows. Use fewer, larger primes (up to 29 bits) or a smaller Q"
            )
        return tuple(aux)

    def _security(self) -> int | None:
        bits = self.total_bits
        for level in (256, 192, 128):
            bound = max_modulus_bits(self.degree, level)
            if bound is not None and bits <= bound:
                return level
        return None

    def _refuse_or_warn(self) -> None:
        bound = max_modulus_bits(self.degree)
        if bound is None:
            reason = (
                f"the HE standard has no 128-bit entry for N = {self.degree} (it covers N = "
                f"{', '.join(map(str, HE_STANDARD_MAX_BITS[128]))})"
            )
        else:
            reason = (
                f"Q*P has {self.total_bits} bits but N = {self.degree} allows at most {bound} at "
                "128-bit security (HomomorphicEncryption.org standard, ternary secrets)"
            )
        if not self.allow_insecure:
            raise ParameterError(
                f"insecure BFV parameters: {reason}. Use fewer or smaller primes, a larger N, a "
                f"preset ({', '.join(PRESETS)}), or pass allow_insecure=True for tests"
            )
        warnings.warn(f"insecure BFV parameters: {reason}", InsecureParametersWarning, stacklevel=3)

    def _fingerprint(self) -> str:
        canonical = json.dumps(
            {"scheme": "bfv", "N": self.degree, "t": self.plain_modulus, "q": self.q, "p": self.p},
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    # ------------------------------------------------------------------ presets

    @classmethod
    def preset(cls, name: str) -> Parameters:
        """A preset by name (see :data:`PRESETS`), e.g. ``"N8192-128"``."""
        literal = PRESETS.get(name)
        if literal is None:
            raise ParameterError(f"unknown BFV preset {name!r}; choose one of {', '.join(PRESETS)}")
        return _preset(name)

    # ------------------------------------------------------------------ immutability, equality

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Parameters are immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Parameters are immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Parameters):
            return NotImplemented
        return self is other or self.fingerprint == other.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        security = f"{self.security_level}-bit" if self.security_level else "INSECURE"
        return (
            f"bfv.Parameters(N={self.degree}, t={self.plain_modulus}, "
            f"Q={len(self.q)}x~{self.q_modulus.bit_length() // len(self.q)} bits, "
            f"P={len(self.p)} primes, {security})"
        )

    # ------------------------------------------------------------------ derived quantities

    @property
    def literal(self) -> ParametersLiteral:
        """The explicit literal (primes listed) that rebuilds these parameters."""
        return ParametersLiteral(self.degree, self.plain_modulus, q=self.q, p=self.p)

    @property
    def max_level(self) -> int:
        """``L``, the number of ciphertext primes of a fresh ciphertext."""
        return len(self.q)

    @property
    def q_modulus(self) -> int:
        """``Q``, the product of the ciphertext primes."""
        return math.prod(self.q)

    def q_modulus_at(self, level: int) -> int:
        """``Q_l``, the product of the first ``level`` ciphertext primes."""
        return math.prod(self.q[:level])

    @property
    def p_modulus(self) -> int:
        """``P``, the product of the special primes (1 when there are none)."""
        return math.prod(self.p)

    @property
    def total_bits(self) -> int:
        """The size of ``QP`` as the HE standard counts it: the sum of the primes' bit lengths."""
        return sum(prime.bit_length() for prime in (*self.q, *self.p))

    @property
    def batching(self) -> bool:
        """Whether ``t`` is a prime ``= 1 (mod 2N)``, so that plaintexts have ``N`` SIMD slots."""
        t = self.plain_modulus
        return t % (2 * self.degree) == 1 and is_probable_prime(t)

    @property
    def slots(self) -> int:
        """The number of SIMD slots (``N``, as a ``2 x N/2`` matrix), or 0 without batching."""
        return self.degree if self.batching else 0

    @property
    def ring_q(self) -> Ring:
        """The ciphertext ring ``R_Q`` at the top level."""
        return Ring(self.degree, self.q)

    def explain_batching(self) -> str:
        """Why batching is (not) available, with the next primes that would allow it."""
        t, two_n = self.plain_modulus, 2 * self.degree
        if self.batching:
            n = self.degree
            return f"t = {t} is a prime = 1 mod 2N = {two_n}: {n} slots (2 x {n // 2})"
        odd = (c for c in range(two_n + 1, 1 << 30, two_n) if is_probable_prime(c))
        candidates = list(itertools.islice(odd, 3))
        reason = "is not prime" if not is_probable_prime(t) else f"is not 1 mod 2N = {two_n}"
        return (
            f"batching needs a prime plain modulus t = 1 mod 2N = {two_n} (then X^N + 1 splits "
            f"into N linear factors modulo t, one per slot); t = {t} {reason}. Primes that "
            f"work: {', '.join(map(str, candidates))}"
        )


def aux_count(
    q_modulus: int, plain_modulus: int, degree: int, terms: int, aux: Sequence[int]
) -> int | None:
    """How many of the ``aux`` primes the HPS multiplication needs, or ``None`` if too few.

    The tensor product of ``terms``-term sums of centered lifts is below ``terms N Q^2 / 4`` and
    its scaling ``round(t x / Q)`` below ``t terms N Q / 4 + 1``; both must have a centered lift
    in the extended basis, so ``B > t * terms * N * Q`` suffices (with a factor 2 to spare).
    """
    bound = 2 * plain_modulus * terms * degree * q_modulus
    product = 1
    for count, prime in enumerate(aux, start=1):
        product *= prime
        if product > bound:
            return count
    return None


def _ntt_primes_up_to(degree: int, bits: int, count: int) -> tuple[int, ...]:
    """Up to ``count`` NTT primes below ``2^bits`` (fewer when fewer exist)."""
    while count:
        try:
            return ntt_primes(degree, count, bits=bits)
        except ParameterError:
            count //= 2
    return ()


@functools.cache
def _preset(name: str) -> Parameters:
    return Parameters(PRESETS[name])
