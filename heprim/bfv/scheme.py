"""BFV encryption and decryption (Fan and Vercauteren, ePrint 2012/144, section 4).

**Public-key encryption** (``SHE.Encrypt``): with ``u`` ternary and ``e_0, e_1`` Gaussian,

    (c_0, c_1) = (b u + e_0 + round(Q m / t),  a u + e_1)   (mod Q),

so ``c_0 + c_1 s = round(Q m / t) + e_0 + e_1 s - e u``.

**Secret-key (symmetric) encryption**: ``(c_0, c_1) = (-(a s) + e + round(Q m / t), a)`` with
``a`` uniform. Its noise is a single fresh error, and ``a`` can be expanded from a 32-byte seed
(:attr:`~heprim.bfv.ciphertext.Ciphertext.seed`): such a ciphertext is stored in half the size.

**Decryption** (``SHE.Decrypt``): ``m = round(t/Q_l * [c_0 + c_1 s + ...]_{Q_l}) mod t``, correct
while the invariant noise ``v`` (``t/Q_l (c_0 + c_1 s) = m + v + t k``) has ``|v| < 1/2`` in
every coefficient. heprim computes ``round(4 t x / Q_l)`` modulo 4 and ``t`` instead (one exact
RNS scale-and-round, :class:`~heprim.ring.rns.ScaleRounder`): its residue modulo 4 is
``round(4 v)`` modulo 4, which tells the plaintext and, when it is 2, that some ``|v| >= 3/8``.
Then the noise is too close to (or past) the point where decryption breaks, and
:class:`Decryptor` raises :class:`~heprim.errors.NoiseBudgetExhausted` instead of returning a
plaintext that may be garbage. A ciphertext whose noise has wrapped around has essentially uniform
``v`` in each coefficient, so it is caught except with probability about ``(3/4)^N``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from heprim.bfv.ciphertext import Ciphertext
from heprim.bfv.context import context_of
from heprim.bfv.encoder import Plaintext
from heprim.bfv.keys import SEED_BYTES, PublicKey, SecretKey, expand_uniform
from heprim.bfv.params import ERROR_STDDEV, Parameters
from heprim.errors import KeyMismatchError, NoiseBudgetExhausted, ParameterError
from heprim.math.prng import PRNG, default_rng
from heprim.ring import RingElement
from heprim.ring.rns import scale_rounder

__all__ = ["Decryptor", "Encryptor", "decrypt_raw", "round_to_plaintext"]

U64 = npt.NDArray[np.uint64]


class Encryptor:
    """Encrypts plaintexts under a public key, or under the secret key (symmetric, seeded).

    Args:
        key: a :class:`~heprim.bfv.keys.PublicKey` or a :class:`~heprim.bfv.keys.SecretKey`.
        rng: the default randomness source for :meth:`encrypt` (default: the OS CSPRNG).
    """

    __slots__ = ("_rng", "key", "params")

    def __init__(self, key: PublicKey | SecretKey, *, rng: PRNG | None = None) -> None:
        if not isinstance(key, PublicKey | SecretKey):
            raise ParameterError(
                f"Encryptor takes a bfv.PublicKey or bfv.SecretKey, got {type(key).__name__}"
            )
        self.key = key
        self.params = key.params
        self._rng = None if rng is None else default_rng(rng)

    @property
    def symmetric(self) -> bool:
        """Whether this encryptor uses the secret key (seeded ciphertexts)."""
        return isinstance(self.key, SecretKey)

    def __repr__(self) -> str:
        kind = "secret key" if self.symmetric else "public key"
        return f"bfv.Encryptor({kind}, key_id={self.key.key_id[:8]}..)"

    def encrypt(self, plaintext: Plaintext, *, rng: PRNG | None = None) -> Ciphertext:
        """A fresh encryption of ``plaintext`` at the top level.

        Raises:
            KeyMismatchError: the plaintext was encoded under other parameters.
        """
        if not isinstance(plaintext, Plaintext):
            raise ParameterError(f"encrypt takes a bfv.Plaintext, got {type(plaintext).__name__}")
        plaintext.check_params(self.params)
        rng = default_rng(rng if rng is not None else self._rng)
        ctx = context_of(self.params)
        level = self.params.max_level
        ring = ctx.ring_q(level)
        message = plaintext.scaled(level)
        if isinstance(self.key, SecretKey):
            seed = rng.random_bytes(SEED_BYTES)
            a = expand_uniform(ring, seed, ())
            s = self.key.power_ntt(1, level)
            masked = ring.stack([-(a * s), a]).intt()  # one batched inverse transform
            e = ring.sample_gaussian(rng, sigma=ERROR_STDDEV)
            c0 = masked[0] + e + message
            return Ciphertext._make(self.params, self.key.key_id, ring.stack([c0, masked[1]]), seed)
        u = ring.sample_ternary(rng, ntt=True)
        masked = ring.stack([self.key.b * u, self.key.a * u]).intt()
        errors = ring.sample_gaussian(rng, shape=(2,), sigma=ERROR_STDDEV)
        polys = masked + errors
        return Ciphertext._make(
            self.params, self.key.key_id, ring.stack([polys[0] + message, polys[1]])
        )


def decrypt_raw(ct: Ciphertext, secret_key: SecretKey) -> RingElement:
    """``[c_0 + c_1 s + c_2 s^2 + ...]_{Q_l}`` in coefficient form (the key holder's view)."""
    if not isinstance(ct, Ciphertext):
        raise ParameterError(f"expected a bfv.Ciphertext, got {type(ct).__name__}")
    if not isinstance(secret_key, SecretKey):
        raise ParameterError(f"expected a bfv.SecretKey, got {type(secret_key).__name__}")
    if ct.params != secret_key.params:
        raise KeyMismatchError("the ciphertext uses other BFV parameters than the secret key")
    if ct.key_id != secret_key.key_id:
        raise KeyMismatchError(
            f"the ciphertext is under key {ct.key_id[:8]}.., not under this secret key "
            f"({secret_key.key_id[:8]}..)"
        )
    polys = ct.polys
    if ct.size == 2:
        return (polys[1].ntt() * secret_key.power_ntt(1, ct.level)).intt() + polys[0]
    higher = polys[1:].ntt()
    total = higher[0] * secret_key.power_ntt(1, ct.level)
    for i in range(1, ct.size - 1):
        total = total + higher[i] * secret_key.power_ntt(i + 1, ct.level)
    return total.intt() + polys[0]


class Decryptor:
    """Decrypts with the secret key, refusing ciphertexts whose noise it can see is too large.

    Args:
        secret_key: the :class:`~heprim.bfv.keys.SecretKey`.
    """

    __slots__ = ("params", "secret_key")

    def __init__(self, secret_key: SecretKey) -> None:
        if not isinstance(secret_key, SecretKey):
            raise ParameterError(
                f"Decryptor takes a bfv.SecretKey, got {type(secret_key).__name__}"
            )
        self.secret_key = secret_key
        self.params = secret_key.params

    def __repr__(self) -> str:
        return f"bfv.Decryptor(key_id={self.secret_key.key_id[:8]}..)"

    def decrypt(self, ct: Ciphertext) -> Plaintext:
        """The plaintext of ``ct``.

        Raises:
            KeyMismatchError: ``ct`` is under another key or other parameters.
            NoiseBudgetExhausted: some coefficient's invariant noise reached 3/8 (see the module):
                the result would be unreliable. Use fewer multiplications per ciphertext, more
                ciphertext primes, or switch modulus later.
        """
        return round_to_plaintext(self.params, decrypt_raw(ct, self.secret_key))


def round_to_plaintext(params: Parameters, x: RingElement) -> Plaintext:
    """The plaintext of ``x = [c_0 + c_1 s + ...]_{Q_l}``: ``round(t x / Q_l) mod t``.

    The last step of :meth:`Decryptor.decrypt`, shared with the collective decryption of
    :mod:`heprim.bfv.multiparty`, where ``x`` is assembled from decryption shares.

    Raises:
        NoiseBudgetExhausted: some coefficient's invariant noise reached 3/8 (see the module).
    """
    t = params.plain_modulus
    # w = round(4 t x / Q_l) = 4 m + round(4 v) (+ multiples of 4t): its residue mod 4 is
    # round(4 v) mod 4 and its residue mod t gives m. Odd t: the moduli 4 and t; even t: 4t.
    if t % 2:
        w = scale_rounder(x.ring.moduli, 4 * t, (4, t)).apply(x.data)
        w_mod_4, w_mod_t = w[0].astype(np.int64), w[1].astype(np.int64)
    else:
        w_mod_4t = scale_rounder(x.ring.moduli, 4 * t, (4 * t,)).apply(x.data)[0]
        w_mod_4, w_mod_t = (w_mod_4t & np.uint64(3)).astype(np.int64), w_mod_4t.astype(np.int64)
    if bool((w_mod_4 == 2).any()):
        raise NoiseBudgetExhausted(
            "the ciphertext's noise is too large to decrypt reliably (its invariant noise "
            "reached 3/8 of the plaintext step); the computation exceeded the depth these "
            "parameters allow. Use more ciphertext primes or a shallower circuit"
        )
    rounded_noise = (w_mod_4 == 1).astype(np.int64) - (w_mod_4 == 3).astype(np.int64)
    if t % 2:  # m = (w - round(4 v)) * 4^-1 mod t
        shifted = ((w_mod_t - rounded_noise) % t).astype(np.uint64)
        message = shifted * np.uint64(pow(4, -1, t)) % np.uint64(t)
    else:  # m = (w - round(4 v)) / 4, an exact division modulo 4t
        message = ((w_mod_t - rounded_noise) % (4 * t) // 4).astype(np.uint64)
    return Plaintext._make(params, message)
