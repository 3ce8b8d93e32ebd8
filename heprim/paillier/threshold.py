"""Threshold Paillier: any ``t`` of ``l`` key holders decrypt together, ``t - 1`` learn nothing.

The scheme of Damgard and Jurik, "A generalisation, a simplification and some applications of
Paillier's probabilistic public-key system" (PKC 2001), section 4 ("threshold variant"), with
``s = 1`` (plain Paillier), which transposes Shoup's "Practical threshold signatures" (EUROCRYPT
2000) from RSA to Paillier. Names follow the paper.

**Key generation by a trusted dealer** (:func:`deal`, :func:`generate_threshold_keypair`).

* Safe primes ``p = 2p' + 1`` and ``q = 2q' + 1``, ``n = p q`` and ``m = p' q'``. The public key
  is an ordinary :class:`~heprim.paillier.keys.PublicKey` (``g = n + 1``, with its DJN ``h_s``),
  so every encryption, packing and vector routine of heprim works unchanged under it.
* The secret ``d`` with ``d = 0 mod m`` and ``d = 1 mod n`` (Chinese remainder theorem; ``gcd(n,
  m) = 1``), and a random polynomial ``f(X) = d + a_1 X + ... + a_{t-1} X**(t-1)`` over
  ``Z_{nm}``. Key holder ``i`` (``1 <= i <= l``) gets the share ``s_i = f(i) mod nm``.
* ``Delta = l!`` and public verification keys: ``v``, a random square that generates the cyclic
  group of squares ``Q_{n**2}`` (of order ``n m``), and ``v_i = v**(Delta s_i) mod n**2``.

**Decryption.** Holder ``i`` publishes ``c_i = c**(2 Delta s_i) mod n**2``. From any set ``S`` of
``t`` shares, with the integer Lagrange coefficients ``lambda_{0,i}^S = Delta prod_{j in S, j !=
i} -j / (i - j)``,

    ``c' = prod_{i in S} c_i**(2 lambda_{0,i}^S) = c**(4 Delta**2 d) = (1 + n)**(4 Delta**2 M)``

because ``sum_i lambda_{0,i}^S s_i = Delta d mod nm`` and ``4 n m`` annihilates ``Z*_{n**2}``;
``d = 0 mod m`` kills the randomness ``r**n`` and ``d = 1 mod n`` keeps the plaintext ``M``:
``M = L(c') * (4 Delta**2)**-1 mod n`` with ``L(u) = (u - 1) / n``. With fewer than ``t`` shares
the Lagrange interpolation has nothing to stand on: the shares are ``t - 1`` values of a random
polynomial and say nothing about ``d``; combining them gives garbage (tested).

**Proofs of correct decryption** (optional). Holder ``i`` proves ``log_{c**4}(c_i**2) =
log_v(v_i)`` (both ``Delta s_i``) with the Chaum-Pedersen protocol of Damgard-Jurik section 4,
made non-interactive by Fiat-Shamir: ``r`` random of ``|n**2| + |Delta| + 384`` bits (so ``z``
hides ``e Delta s_i`` statistically, to ``2**-128``), ``a = (c**4)**r``, ``b = v**r``, ``e =
SHA-256(domain, n, v, v_i, c**4, c_i**2, a, b)`` and ``z = r + e Delta s_i``; the proof is ``(e,
z)`` and the verifier recomputes ``a = (c**4)**z (c_i**2)**-e``, ``b = v**z v_i**-e`` and the
hash. Squaring (``c**4``, ``c_i**2``) moves everything into ``Q_{n**2}``, whose order ``n p' q'``
has no small factor: that is why the primes are safe.

For a vector of ``k`` ciphertexts one proof covers all the shares (the small-exponents batch test
of Bellare, Garay and Rabin, "Fast batch verification for modular exponentiation and digital
signatures", EUROCRYPT 1998): 128-bit weights ``rho_j`` are hashed from every ciphertext and
every share, and the single proof is made for ``C = prod c_j**rho_j`` and ``C_i = prod
c_{i,j}**rho_j``. A wrong share ``c_{i,j}`` survives only if ``prod eps_j**rho_j = 1`` for the
non-trivial errors ``eps_j`` in ``Q_{n**2}``: probability about ``2**-128``. Both products are
multi-exponentiations by Pippenger's bucket method, about a tenth of the cost of the shares.

Costs at 2048 bits here: a decryption share is one exponentiation modulo ``n**2`` with a ~4200-bit
exponent (~33 ms; no CRT, since no holder knows the factors), threads over :mod:`gmpy2` calls that
release the GIL; combination is ``t`` short exponentiations per ciphertext.

Trust: the dealer knows the factorisation while it deals and must forget it (a dealerless key
generation is out of scope here). A holder that decrypts whatever it is sent is a decryption
oracle: the aggregation protocol of :mod:`heprim.secagg.he_paillier` decrypts only aggregates.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from numbers import Integral
from typing import Final

from heprim.errors import (
    InsecureParametersWarning,
    KeyMismatchError,
    ParameterError,
    ProtocolError,
)
from heprim.math.ntheory import (
    gcd,
    gil_released,
    invert,
    is_probable_prime,
    mpz,
    powmod,
    powmod_base_list,
    random_safe_prime,
)
from heprim.math.prng import PRNG, default_rng
from heprim.paillier.keys import (
    DEFAULT_N_BITS,
    MIN_N_BITS,
    MIN_SECURE_N_BITS,
    PrivateKey,
    PublicKey,
)

__all__ = [
    "BATCH_BITS",
    "CHALLENGE_BITS",
    "MAX_PARTIES",
    "DecryptionShare",
    "KeyShare",
    "ShareProof",
    "ThresholdPublicKey",
    "deal",
    "generate_threshold_keypair",
]

MAX_PARTIES: Final = 256
"""At most this many key holders: ``Delta = l!`` lengthens every share exponent by ``log2 l!``
bits (1,684 bits at 256, +40 % work at 2048 bits)."""

CHALLENGE_BITS: Final = 256
"""Bits of the Fiat-Shamir challenge ``e`` (SHA-256)."""

BATCH_BITS: Final = 128
"""Bits of each weight ``rho_j`` of the batch test: a wrong share passes with probability
``2**-128``."""

_STATISTICAL_BITS: Final = 128  # z = r + e x hides e x to 2**-128
_DOMAIN: Final = b"heprim.paillier.threshold.v1"
Progress = Callable[[int, int], None]


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ParameterError(f"{what} must be an integer, got {type(value).__name__}")
    return mpz(int(value))


def _encode(value: int) -> bytes:
    raw = int(value).to_bytes(max(1, (int(value).bit_length() + 7) // 8), "big")
    return len(raw).to_bytes(4, "big") + raw


def _digest(label: bytes, values: Iterable[int]) -> bytes:
    """SHA-256 over the domain, a label and length-prefixed big-endian integers (a transcript)."""
    h = hashlib.sha256(_DOMAIN + b"/" + label + b"\x00")
    for value in values:
        h.update(_encode(value))
    return h.digest()


def _batch_weights(
    n: int, index: int, ciphertexts: Sequence[int], shares: Sequence[int]
) -> list[int]:
    """The ``rho_j`` of the batch test: SHAKE-256 of everything the prover committed to."""
    h = hashlib.shake_256(_DOMAIN + b"/batch\x00")
    width = (int(n).bit_length() * 2 + 7) // 8
    h.update(_encode(n) + _encode(index) + _encode(len(ciphertexts)))
    for c in ciphertexts:
        h.update(int(c).to_bytes(width, "big"))
    for c in shares:
        h.update(int(c).to_bytes(width, "big"))
    step = BATCH_BITS // 8
    stream = h.digest(step * len(ciphertexts))
    return [
        int.from_bytes(stream[j * step : (j + 1) * step], "big") for j in range(len(ciphertexts))
    ]


def _multi_pow(bases: Sequence[int], exponents: Sequence[int], modulus: int) -> int:
    """``prod b_j**e_j mod modulus`` for non-negative exponents, by Pippenger's bucket method.

    Per window of ``w`` exponent bits: each base is multiplied into the bucket of its digit, then
    ``prod_d bucket_d**d`` costs ``2 (2**w - 1)`` products through running products. For ``k``
    bases and ``b``-bit exponents that is about ``(b / w) (k + 2**(w+1))`` products instead of
    ``1.5 b k`` for separate exponentiations.
    """
    if len(bases) < 16:
        acc = mpz(1)
        for base, e in zip(bases, exponents, strict=True):
            acc = acc * powmod(base, e, modulus) % modulus
        return acc
    bits = max(int(e).bit_length() for e in exponents)
    w = max(2, min(12, int(math.log2(len(bases))) - 2))
    mask = (1 << w) - 1
    acc = mpz(1)
    for shift in range(((bits + w - 1) // w - 1) * w, -1, -w):
        for _ in range(w):
            acc = acc * acc % modulus
        buckets: list[int | None] = [None] * (mask + 1)
        for base, e in zip(bases, exponents, strict=True):
            digit = (e >> shift) & mask
            if digit:
                held = buckets[digit]
                buckets[digit] = base if held is None else held * base % modulus
        running, total = mpz(1), mpz(1)
        for digit in range(mask, 0, -1):
            held = buckets[digit]
            if held is not None:
                running = running * held % modulus
            total = total * running % modulus
        acc = acc * total % modulus
    return acc


# ---------------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class ShareProof:
    """A non-interactive proof that a decryption share is correct: challenge and response.

    ``challenge`` is ``e`` (:data:`CHALLENGE_BITS` bits) and ``response`` is ``z = r + e Delta
    s_i`` (Damgard-Jurik 2001, section 4, with Fiat-Shamir).
    """

    challenge: int
    response: int


@dataclass(frozen=True, slots=True)
class DecryptionShare:
    """Key holder ``index``'s shares ``c_j**(2 Delta s_i) mod n**2`` of some ciphertexts.

    Attributes:
        index: the holder's index ``i`` in ``1 .. l``.
        values: one share per ciphertext, in the order of the ciphertexts.
        proof: one :class:`ShareProof` for all of them (batched), or ``None``.
    """

    index: int
    values: tuple[int, ...] = field(repr=False)
    proof: ShareProof | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.values)


# ---------------------------------------------------------------------------------- keys


class ThresholdPublicKey:
    """The public side of a threshold key: the Paillier key and the verification keys.

    Args:
        public_key: the ordinary Paillier :class:`~heprim.paillier.keys.PublicKey` (``g = n + 1``).
        threshold: ``t``, the number of shares that decrypt.
        verification_base: ``v``, a generator of the squares modulo ``n**2``.
        verification_keys: ``v_1 .. v_l`` with ``v_i = v**(Delta s_i) mod n**2``.

    The number of holders ``l`` is ``len(verification_keys)`` and ``Delta = l!``.
    """

    __slots__ = (
        "_delta",
        "_four_delta_sq_inv",
        "fingerprint",
        "public_key",
        "threshold",
        "verification_base",
        "verification_keys",
    )

    public_key: PublicKey
    threshold: int
    verification_base: int
    verification_keys: tuple[int, ...]
    fingerprint: str

    def __init__(
        self,
        public_key: PublicKey,
        threshold: int,
        verification_base: int,
        verification_keys: Sequence[int],
    ) -> None:
        if not isinstance(public_key, PublicKey):
            raise ParameterError(
                f"public_key must be a heprim PublicKey, got {type(public_key).__name__}"
            )
        keys = tuple(_int(v, "a verification key") for v in verification_keys)
        parties = len(keys)
        if not 1 <= parties <= MAX_PARTIES:
            raise ParameterError(
                f"a threshold key has 1 to {MAX_PARTIES} holders, got {parties} verification keys"
            )
        t = _int(threshold, "threshold")
        if not 1 <= t <= parties:
            raise ParameterError(f"the threshold must be in [1, {parties}], got {t}")
        nsq = public_key.nsquare
        v = _int(verification_base, "verification_base")
        for what, value in (("verification_base", v), *(("a verification key", k) for k in keys)):
            if not 1 < value < nsq or gcd(value, public_key.n) != 1:
                raise ParameterError(f"{what} must be a unit in (1, n**2)")
        self.public_key = public_key
        self.threshold = int(t)
        self.verification_base = v
        self.verification_keys = keys
        self._delta = mpz(math.factorial(parties))
        self._four_delta_sq_inv = invert(4 * self._delta * self._delta % public_key.n, public_key.n)
        self.fingerprint = hashlib.sha256(
            _DOMAIN + b"/key\x00" + b"".join(_encode(x) for x in (public_key.n, t, v, *keys))
        ).hexdigest()[:32]

    @property
    def parties(self) -> int:
        """``l``, the number of key holders."""
        return len(self.verification_keys)

    @property
    def delta(self) -> int:
        """``Delta = l!``, which makes every Lagrange coefficient an integer."""
        return self._delta

    @property
    def n(self) -> int:
        """The Paillier modulus."""
        return self.public_key.n

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ThresholdPublicKey):
            return NotImplemented
        return self.fingerprint == other.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return (
            f"ThresholdPublicKey(n_bits={self.public_key.n_bits}, threshold={self.threshold}, "
            f"parties={self.parties}, fingerprint={self.fingerprint!r})"
        )

    # ------------------------------------------------------------------ checks
    def _check_index(self, index: object) -> int:
        i = _int(index, "a share index")
        if not 1 <= i <= self.parties:
            raise ParameterError(f"share indices are 1 .. {self.parties}, got {i}")
        return int(i)

    def _check_ciphertexts(self, ciphertexts: int | Sequence[int]) -> list[int]:
        if isinstance(ciphertexts, int | Integral):  # one ciphertext (int, mpz, numpy integer)
            items: list[object] = [ciphertexts]
        else:
            items = list(ciphertexts)
        return [self.public_key.check_ciphertext(c) for c in items]

    def lagrange(self, indices: Iterable[int]) -> dict[int, int]:
        """The integer coefficients ``lambda_{0,i}^S = Delta prod_{j != i} -j / (i - j)``.

        ``sum_i lambda_i f(i) = Delta f(0)`` for every polynomial ``f`` of degree below
        ``|S|``; ``Delta = l!`` makes each one an integer (Shoup 2000, section 2).
        """
        subset = sorted({self._check_index(i) for i in indices})
        out: dict[int, int] = {}
        for i in subset:
            num, den = self._delta, 1
            for j in subset:
                if j != i:
                    num *= -j
                    den *= i - j
            quotient, remainder = divmod(num, den)
            if remainder:  # pragma: no cover - Delta = l! guarantees divisibility
                raise ProtocolError("non-integral Lagrange coefficient")
            out[i] = mpz(quotient)
        return out

    # ------------------------------------------------------------------ proofs
    def _bases(
        self, index: int, ciphertexts: Sequence[int], values: Sequence[int]
    ) -> tuple[int, int]:
        """``(C**4, C_i**2)``: the bases of the equality-of-logs proof (batched over a vector)."""
        nsq = self.public_key.nsquare
        if len(ciphertexts) == 1:
            big_c, big_ci = ciphertexts[0], values[0]
        else:
            rho = _batch_weights(self.public_key.n, index, ciphertexts, values)
            big_c = _multi_pow(ciphertexts, rho, nsq)
            big_ci = _multi_pow(values, rho, nsq)
        return powmod(big_c, 4, nsq), powmod(big_ci, 2, nsq)

    def _challenge(self, index: int, c4: int, ci2: int, a: int, b: int) -> int:
        v_i = self.verification_keys[index - 1]
        data = (self.public_key.n, self.verification_base, v_i, c4, ci2, a, b)
        return int.from_bytes(_digest(b"share-proof", data), "big")

    def verify(self, ciphertexts: int | Sequence[int], share: DecryptionShare) -> bool:
        """Whether ``share`` carries a valid proof for these ciphertexts (``False`` if none).

        Checks the sizes and ranges, recomputes ``a = (C**4)**z (C_i**2)**-e`` and ``b = v**z
        v_i**-e`` and compares the Fiat-Shamir challenge.
        """
        if not isinstance(share, DecryptionShare):
            raise ParameterError(f"expected a DecryptionShare, got {type(share).__name__}")
        cts = self._check_ciphertexts(ciphertexts)
        proof = share.proof
        if proof is None or len(share.values) != len(cts) or not cts:
            return False
        index = self._check_index(share.index)
        nsq, n = self.public_key.nsquare, self.public_key.n
        for value in share.values:
            if not 0 < value < nsq or gcd(value, n) != 1:
                return False
        e, z = proof.challenge, proof.response
        if not (0 <= e < 1 << CHALLENGE_BITS and z >= 0):
            return False
        c4, ci2 = self._bases(index, cts, share.values)
        v_i = self.verification_keys[index - 1]
        a = powmod(c4, z, nsq) * powmod(ci2, -e, nsq) % nsq
        b = powmod(self.verification_base, z, nsq) * powmod(v_i, -e, nsq) % nsq
        return self._challenge(index, c4, ci2, a, b) == e

    # ------------------------------------------------------------------ combination
    def combine(
        self,
        ciphertexts: int | Sequence[int],
        shares: Iterable[DecryptionShare],
        *,
        verify: bool = False,
    ) -> list[int]:
        """The raw plaintexts in ``[0, n)`` from at least ``t`` holders' shares.

        Uses the ``t`` shares with the smallest indices. With ``verify=True`` every share must
        carry a valid proof first (a share without one is refused).

        Raises:
            ParameterError: fewer than ``t`` distinct holders, shares of the wrong length, an
                unknown index.
            ProtocolError: a proof does not verify, or the shares do not combine to a valid
                plaintext (``c'`` is not ``1 mod n``): some share is wrong.
        """
        cts = self._check_ciphertexts(ciphertexts)
        by_index: dict[int, DecryptionShare] = {}
        for share in shares:
            if not isinstance(share, DecryptionShare):
                raise ParameterError(
                    f"expected DecryptionShare objects, got {type(share).__name__}"
                )
            index = self._check_index(share.index)
            if len(share.values) != len(cts):
                raise ParameterError(
                    f"holder {index}'s share covers {len(share.values)} ciphertexts, not {len(cts)}"
                )
            by_index.setdefault(index, share)
        if len(by_index) < self.threshold:
            raise ParameterError(
                f"decryption needs shares from t = {self.threshold} distinct key holders, got "
                f"{len(by_index)}: with fewer the secret is information-theoretically hidden"
            )
        chosen = sorted(by_index)[: self.threshold]
        if verify:
            for i in chosen:
                if not self.verify(cts, by_index[i]):
                    raise ProtocolError(f"key holder {i}'s decryption share has no valid proof")
        return self._combine(len(cts), {i: by_index[i].values for i in chosen})

    def _combine(self, count: int, values: Mapping[int, Sequence[int]]) -> list[int]:
        """Lagrange in the exponent: ``c' = prod c_i**(2 lambda_i)``, then ``L(c') / 4 Delta**2``.

        Positive and negative coefficients are gathered in two products per ciphertext (one
        :func:`powmod_base_list` per holder), so each ciphertext costs a single inversion.
        """
        pk = self.public_key
        n, nsq = pk.n, pk.nsquare
        lam = self.lagrange(values)
        num = [mpz(1)] * count
        den = [mpz(1)] * count
        for i, coefficient in lam.items():
            if coefficient == 0:  # pragma: no cover - Lagrange coefficients at 0 never vanish
                continue
            powered = powmod_base_list(list(values[i]), 2 * abs(coefficient), nsq)
            target = num if coefficient > 0 else den
            for j, x in enumerate(powered):
                target[j] = target[j] * x % nsq
        out: list[int] = []
        for j in range(count):
            try:
                c_prime = num[j] * invert(den[j], nsq) % nsq
            except ParameterError:
                raise ProtocolError(
                    "a decryption share is not a unit modulo n**2: it is wrong"
                ) from None
            if c_prime % n != 1:
                raise ProtocolError(
                    f"the decryption shares of ciphertext {j} do not combine to a valid plaintext: "
                    "a share is wrong (turn proofs on to find which holder sent it)"
                )
            out.append((c_prime - 1) // n * self._four_delta_sq_inv % n)
        return out


class KeyShare:
    """Key holder ``i``'s secret share ``s_i = f(i) mod nm``, with the public key it belongs to.

    The share is secret: ``repr`` never shows it, and ``t - 1`` shares reveal nothing about the
    key. Produce decryption shares with :meth:`decrypt`.
    """

    __slots__ = ("_exponent", "_secret", "index", "public")

    public: ThresholdPublicKey
    index: int

    def __init__(self, public: ThresholdPublicKey, index: int, secret: int) -> None:
        if not isinstance(public, ThresholdPublicKey):
            raise ParameterError(
                f"public must be a ThresholdPublicKey, got {type(public).__name__}"
            )
        i = public._check_index(index)
        s = _int(secret, "the secret share")
        if s < 0:
            raise ParameterError("a secret share is a non-negative integer below n*m")
        nsq = public.public_key.nsquare
        if (
            powmod(public.verification_base, public.delta * s, nsq)
            != public.verification_keys[i - 1]
        ):
            raise KeyMismatchError(
                f"this secret does not match verification key v_{i}: it is not holder {i}'s share "
                "of this key"
            )
        self.public = public
        self.index = i
        self._secret = s
        self._exponent = 2 * public.delta * s  # c_i = c**(2 Delta s_i)

    def __repr__(self) -> str:
        return f"KeyShare(index={self.index}, key={self.public.fingerprint[:8]})"

    def decrypt(
        self,
        ciphertexts: int | Sequence[int],
        *,
        prove: bool = True,
        rng: PRNG | None = None,
        workers: int = 1,
        progress: Progress | None = None,
    ) -> DecryptionShare:
        """This holder's decryption shares ``c_j**(2 Delta s_i) mod n**2``, proved by default.

        Args:
            ciphertexts: one raw ciphertext or a sequence of them.
            prove: attach one (batched) proof of correctness for all of them.
            rng: randomness of the proof (default: OS CSPRNG).
            workers: threads; each runs :func:`~heprim.math.ntheory.powmod_base_list` on a
                chunk with the GIL released.
            progress: ``progress(done, total)`` over the ciphertexts.
        """
        cts = self.public._check_ciphertexts(ciphertexts)
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ParameterError(f"workers must be a positive integer, got {workers!r}")
        nsq = self.public.public_key.nsquare
        values = _pow_all(cts, self._exponent, nsq, workers, progress)
        proof = self._prove(cts, values, default_rng(rng)) if prove else None
        return DecryptionShare(self.index, tuple(values), proof)

    def _prove(self, cts: Sequence[int], values: Sequence[int], rng: PRNG) -> ShareProof:
        public = self.public
        nsq = public.public_key.nsquare
        c4, ci2 = public._bases(self.index, cts, values)
        x = public.delta * self._secret  # log_v(v_i) = log_{c^4}(c_i^2)
        # x < Delta n m < Delta n**2: r is longer than e x by 128 bits, so z hides x.
        r_bits = int(nsq.bit_length() + public.delta.bit_length()) + CHALLENGE_BITS
        r_bits += _STATISTICAL_BITS
        r = mpz(rng.randbits(r_bits))
        a = powmod(c4, r, nsq)
        b = powmod(public.verification_base, r, nsq)
        e = public._challenge(self.index, c4, ci2, a, b)
        return ShareProof(e, r + e * x)


def _pow_all(
    bases: list[int], exponent: int, modulus: int, workers: int, progress: Progress | None
) -> list[int]:
    """``[b**exponent mod modulus]`` in chunks, on ``workers`` threads that release the GIL."""
    total = len(bases)
    chunk = max(1, min(64, -(-total // max(1, 4 * workers))))
    pieces = [bases[k : k + chunk] for k in range(0, total, chunk)]

    def run(piece: list[int]) -> list[int]:
        with gil_released():
            return powmod_base_list(piece, exponent, modulus)

    out: list[int] = []
    if workers == 1 or len(pieces) == 1:
        for piece in pieces:
            out.extend(run(piece))
            if progress is not None:
                progress(len(out), total)
        return out
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(run, pieces):
            out.extend(result)
            if progress is not None:
                progress(len(out), total)
    return out


# ---------------------------------------------------------------------------------- dealer


def _is_safe_prime(p: int) -> bool:
    return p > 5 and p % 2 == 1 and is_probable_prime(p) and is_probable_prime((p - 1) // 2)


def _generator_of_squares(p: int, q: int, rng: PRNG) -> int:
    """A random ``v = r**2 mod n**2`` of the full order ``n p' q'`` of ``Q_{n**2}``.

    ``Q_{n**2}`` is cyclic of order ``n p' q'`` (safe primes); ``v`` generates it iff ``v**(N/f)
    != 1`` for each prime ``f`` in ``{p, q, p', q'}``, which the dealer, knowing them, checks.
    """
    n = p * q
    nsq = n * n
    pp, qq = (p - 1) // 2, (q - 1) // 2
    order = n * pp * qq
    while True:
        r = rng.randrange(2, int(nsq) - 1)
        if gcd(r, n) != 1:
            continue
        v = powmod(r, 2, nsq)
        if all(powmod(v, order // f, nsq) != 1 for f in {p, q, pp, qq}):
            return v


def deal(
    p: int,
    q: int,
    *,
    parties: int,
    threshold: int,
    rng: PRNG | None = None,
    allow_insecure: bool = False,
    progress: Progress | None = None,
) -> tuple[ThresholdPublicKey, list[KeyShare]]:
    """The trusted dealer: split the key of the safe primes ``p, q`` into ``parties`` shares.

    Damgard-Jurik 2001, section 4, key generation: ``d = 0 mod m``, ``d = 1 mod n``, a random
    polynomial of degree ``threshold - 1`` over ``Z_{nm}`` with ``f(0) = d``, shares ``s_i =
    f(i)``, verification keys ``v_i = v**(Delta s_i)``. The public key gets a DJN ``h_s``
    (checked like :meth:`~heprim.paillier.keys.PrivateKey.from_primes` does), so it is an
    ordinary heprim :class:`~heprim.paillier.keys.PublicKey`.

    Args:
        p, q: distinct safe primes of equal bit length (``p = 2p' + 1``, ``p'`` prime).
        parties: ``l``, the number of key holders (1 to :data:`MAX_PARTIES`).
        threshold: ``t``, how many of them decrypt together (1 to ``l``).
        rng: randomness of the polynomial, ``v`` and ``h_s`` (default: OS CSPRNG).
        allow_insecure: accept a modulus below 2048 bits (tests), with a warning.
        progress: ``progress(done, total)`` over the ``l`` shares.

    Returns:
        ``(public, shares)`` with ``shares[i - 1]`` for holder ``i``. The dealer keeps nothing.

    Raises:
        ParameterError: primes that are not safe, equal or of different sizes, a modulus too small,
            or bad ``parties`` / ``threshold``.
    """
    p_mpz, q_mpz = _int(p, "p"), _int(q, "q")
    l_parties, t = int(_int(parties, "parties")), int(_int(threshold, "threshold"))
    if not 1 <= l_parties <= MAX_PARTIES:
        raise ParameterError(f"parties must be in [1, {MAX_PARTIES}], got {l_parties}")
    if not 1 <= t <= l_parties:
        raise ParameterError(
            f"threshold must be in [1, parties = {l_parties}], got {t}: t holders decrypt together"
        )
    for name, prime in (("p", p_mpz), ("q", q_mpz)):
        if not _is_safe_prime(prime):
            raise ParameterError(
                f"{name} is not a safe prime (2 {name}' + 1 with {name}' prime): threshold "
                "Paillier needs safe primes so that the squares modulo n**2 have no small order; "
                "use heprim.math.ntheory.random_safe_prime"
            )
    source = default_rng(rng)
    with warnings.catch_warnings():
        # from_primes warns for small keys; this function warns once itself, below.
        warnings.simplefilter("ignore", InsecureParametersWarning)
        private = PrivateKey.from_primes(p_mpz, q_mpz, allow_insecure=allow_insecure, rng=source)
    n_bits = private.public_key.n_bits
    if n_bits < MIN_SECURE_N_BITS:
        warnings.warn(
            f"threshold Paillier key of {n_bits} bits is insecure (fine for tests only)",
            InsecureParametersWarning,
            stacklevel=2,
        )
    n = private.public_key.n
    m = ((p_mpz - 1) // 2) * ((q_mpz - 1) // 2)
    nm = n * m
    d = m * invert(m, n)  # d = 0 mod m, d = 1 mod n
    coefficients = [d] + [mpz(source.randbelow(int(nm))) for _ in range(t - 1)]
    delta = mpz(math.factorial(l_parties))
    v = _generator_of_squares(p_mpz, q_mpz, source)
    nsq = n * n
    secrets_: list[int] = []
    verification: list[int] = []
    for i in range(1, l_parties + 1):
        s_i = mpz(0)
        for a in reversed(coefficients):  # Horner
            s_i = (s_i * i + a) % nm
        secrets_.append(s_i)
        verification.append(powmod(v, delta * s_i, nsq))
        if progress is not None:
            progress(i, l_parties)
    public = ThresholdPublicKey(private.public_key, t, v, verification)
    shares = [KeyShare(public, i, s) for i, s in enumerate(secrets_, start=1)]
    return public, shares


def generate_threshold_keypair(
    n_bits: int = DEFAULT_N_BITS,
    *,
    parties: int,
    threshold: int,
    rng: PRNG | None = None,
    allow_insecure: bool = False,
    progress: Progress | None = None,
) -> tuple[ThresholdPublicKey, list[KeyShare]]:
    """Generate safe primes and :func:`deal` a ``threshold``-of-``parties`` Paillier key.

    The primes come from :func:`~heprim.math.ntheory.random_safe_prime` with ``n_bits / 2`` bits
    each, redrawing ``q`` until ``|p - q| > 2**(n_bits/2 - 100)`` (Fermat's factoring does not
    apply); ``gcd(p-1, q-1) = 2`` and ``p = q = 3 mod 4`` hold for distinct safe primes, so the
    key also meets heprim's DJN rules. Safe primes are slow to find: a 2048-bit key took 0.6 to
    2.5 s here (median 1.4 s of 5), a 3072-bit one 17 s in one run; ``progress`` follows.

    Args:
        n_bits: modulus size, even; default 3072. Below 2048 needs ``allow_insecure=True``.
        parties, threshold: ``l`` and ``t``, as in :func:`deal`.
        rng: randomness source (a seeded KeyedPRNG makes it reproducible).
        allow_insecure: permit small test keys (warns).
        progress: ``progress(done, total)``: both prime searches, then the dealing.
    """
    bits = _int(n_bits, "n_bits")
    if bits % 2:
        raise ParameterError(f"n_bits must be even (two primes of n_bits/2 bits), got {bits}")
    if bits < MIN_N_BITS:
        raise ParameterError(f"heprim refuses Paillier moduli below {MIN_N_BITS} bits")
    if bits < MIN_SECURE_N_BITS and not allow_insecure:
        raise ParameterError(
            f"a {bits}-bit modulus is below the {MIN_SECURE_N_BITS}-bit minimum for ~112-bit "
            f"security; use {DEFAULT_N_BITS} (the default) or pass allow_insecure=True for tests"
        )
    if not 1 <= int(_int(parties, "parties")) <= MAX_PARTIES:
        raise ParameterError(f"parties must be in [1, {MAX_PARTIES}], got {parties}")
    if not 1 <= int(_int(threshold, "threshold")) <= int(parties):
        raise ParameterError(f"threshold must be in [1, parties = {parties}], got {threshold}")
    source = default_rng(rng)
    half = int(bits) // 2
    stage_total = 1000

    def stage(offset: int, span: int) -> Progress | None:
        if progress is None:
            return None
        report = progress
        return lambda done, total: report(offset + span * done // max(total, 1), stage_total)

    p = random_safe_prime(half, source, progress=stage(0, 450))
    while True:
        q = random_safe_prime(half, source, progress=stage(450, 450))
        if q != p and abs(p - q).bit_length() > half - 100:
            break
    return deal(
        p,
        q,
        parties=parties,
        threshold=threshold,
        rng=source,
        allow_insecure=allow_insecure,
        progress=stage(900, 100),
    )
