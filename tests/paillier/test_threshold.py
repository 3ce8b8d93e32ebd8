"""Threshold Paillier: any t of l shares decrypt, t - 1 do not, proofs catch tampering.

Keys are dealt from the fixed safe primes of tests/vectors/paillier_safe_primes.json (512 and
1024 bits, test-only sizes), so no test waits for a safe-prime search.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import (
    InsecureParametersWarning,
    KeyMismatchError,
    ParameterError,
    ProtocolError,
)
from heprim.math.ntheory import is_probable_prime, powmod
from heprim.math.prng import KeyedPRNG
from heprim.paillier.packing import PackedEncoder
from heprim.paillier.threshold import (
    MAX_PARTIES,
    DecryptionShare,
    KeyShare,
    ShareProof,
    ThresholdPublicKey,
    _multi_pow,
    deal,
    generate_threshold_keypair,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
pytestmark = pytest.mark.filterwarnings("ignore::heprim.errors.InsecureParametersWarning")


@functools.cache
def safe_primes(bits: int) -> tuple[int, int]:
    entry = json.loads((VECTORS / "paillier_safe_primes.json").read_text())["keys"][str(bits)]
    return int(entry["p"], 16), int(entry["q"], 16)


@functools.cache
def dealt(bits: int = 512, parties: int = 5, threshold: int = 3):
    p, q = safe_primes(bits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        return deal(
            p,
            q,
            parties=parties,
            threshold=threshold,
            rng=KeyedPRNG.from_int(bits + parties),
            allow_insecure=True,
        )


def encrypt(public: ThresholdPublicKey, values: list[int], seed: int = 0) -> list[int]:
    rng = KeyedPRNG.from_int(seed)
    return [public.public_key.raw_encrypt(m, rng=rng) for m in values]


# ------------------------------------------------------------------------------ fixtures


@pytest.mark.parametrize("bits", [512, 1024, 2048])
def test_fixture_primes_are_safe_and_meet_the_key_rules(bits: int) -> None:
    p, q = safe_primes(bits)
    for prime in (p, q):
        assert is_probable_prime(prime) and is_probable_prime((prime - 1) // 2)
        assert prime.bit_length() == bits // 2 and prime % 4 == 3
    assert (p * q).bit_length() == bits
    assert math.gcd(p - 1, q - 1) == 2


# ---------------------------------------------------------------------------- decryption


def test_every_t_subset_decrypts_and_more_than_t_too() -> None:
    public, shares = dealt()
    n = int(public.n)
    messages = [0, 1, 42, n // 2, n - 1]
    cts = encrypt(public, messages)
    all_shares = [s.decrypt(cts, prove=False) for s in shares]
    for subset in itertools.combinations(all_shares, public.threshold):
        assert public.combine(cts, subset) == messages
    assert public.combine(cts, all_shares) == messages  # extra shares are ignored


@given(
    m=st.integers(min_value=0),
    subset=st.permutations(range(5)).map(lambda p: p[:3]),
)
def test_any_three_of_five_decrypt_random_plaintexts(m: int, subset: tuple[int, ...]) -> None:
    public, shares = dealt()
    m %= int(public.n)
    (c,) = encrypt(public, [m], seed=m % 1000)
    got = public.combine(c, [shares[i].decrypt(c, prove=False) for i in subset])
    assert got == [m]


def test_fewer_than_t_shares_are_refused() -> None:
    public, shares = dealt()
    cts = encrypt(public, [5])
    two = [s.decrypt(cts, prove=False) for s in shares[:2]]
    with pytest.raises(ParameterError, match="t = 3 distinct"):
        public.combine(cts, two)
    with pytest.raises(ParameterError, match="t = 3 distinct"):
        public.combine(cts, [two[0], two[0], two[0]])  # one holder three times is one share


def test_t_minus_one_shares_interpolate_to_garbage() -> None:
    """Lagrange over t - 1 shares (what colluders could do) does not recover the plaintext."""
    public, shares = dealt()
    messages = list(range(100, 110))
    cts = encrypt(public, messages)
    for subset in itertools.combinations(shares, public.threshold - 1):
        values = {s.index: s.decrypt(cts, prove=False).values for s in subset}
        try:
            got = public._combine(len(cts), values)
        except ProtocolError:
            continue  # c' is not even 1 mod n: nothing to decode
        assert got != messages


def test_a_single_ciphertext_as_a_python_int() -> None:
    public, shares = dealt()
    (c,) = encrypt(public, [7])
    parts = [s.decrypt(int(c)) for s in shares]
    assert all(len(part) == 1 for part in parts)
    assert public.combine(int(c), parts, verify=True) == [7]


def test_the_threshold_key_is_an_ordinary_public_key_for_packing() -> None:
    public, shares = dealt(1024)
    encoder = PackedEncoder(public.public_key, 16, max_additions=4)
    rng = KeyedPRNG.from_int(3)
    rows = [np.arange(100) * (k + 1) - 300 for k in range(4)]
    total = sum(encoder.encrypt(row, rng=rng) for row in rows)
    parts = [s.decrypt(total.ciphertexts, prove=True, rng=rng) for s in shares[2:]]
    plain = public.combine(total.ciphertexts, parts, verify=True)
    assert encoder.decode(plain, 100, 4).tolist() == sum(rows).tolist()


def test_phe_encryptions_decrypt_by_threshold() -> None:
    """python-paillier, an independent implementation, encrypts under the threshold key."""
    phe = pytest.importorskip("phe")
    public, shares = dealt(1024)
    phe_key = phe.PaillierPublicKey(int(public.n))
    values = [0, 12345, 2**100 + 7]
    cts = [phe_key.raw_encrypt(v) for v in values]
    parts = [s.decrypt(cts, prove=True, rng=KeyedPRNG.from_int(1)) for s in shares[1:4]]
    assert public.combine(cts, parts, verify=True) == values


def test_workers_do_not_change_the_shares() -> None:
    public, shares = dealt()
    cts = encrypt(public, list(range(70)))
    seen: list[tuple[int, int]] = []
    one = shares[0].decrypt(cts, prove=False)
    two = shares[0].decrypt(cts, prove=False, workers=2, progress=lambda d, t: seen.append((d, t)))
    assert one.values == two.values
    assert seen[-1] == (70, 70)
    with pytest.raises(ParameterError, match="workers"):
        shares[0].decrypt(cts, workers=0)


# -------------------------------------------------------------------------------- proofs


def _tampered(share: DecryptionShare, n: int, j: int = 0) -> DecryptionShare:
    """Multiply share j by (1 + n): still a unit, it shifts the decrypted plaintext."""
    values = list(share.values)
    values[j] = values[j] * (1 + n) % (n * n)
    return DecryptionShare(share.index, tuple(values), share.proof)


@pytest.mark.parametrize("count", [1, 40])
def test_proofs_verify_and_catch_a_tampered_share(count: int) -> None:
    public, shares = dealt()
    n = int(public.n)
    cts = encrypt(public, list(range(count)))
    good = shares[1].decrypt(cts, rng=KeyedPRNG.from_int(7))
    assert good.proof is not None and public.verify(cts, good)
    assert not public.verify(cts, _tampered(good, n, count - 1))
    e, z = good.proof.challenge, good.proof.response
    for proof in (ShareProof(e ^ 1, z), ShareProof(e, z + 1), ShareProof(e, -z)):
        assert not public.verify(cts, DecryptionShare(good.index, good.values, proof))
    # Holder 2's proof is not holder 3's, and it does not carry over to other ciphertexts.
    assert not public.verify(cts, DecryptionShare(3, good.values, good.proof))
    other = encrypt(public, list(range(count)), seed=99)
    assert not public.verify(other, good)
    assert not public.verify(cts, DecryptionShare(good.index, good.values, None))
    assert not public.verify(cts, DecryptionShare(good.index, good.values[:-1], good.proof))
    assert not public.verify(cts, DecryptionShare(good.index, (0,) * count, good.proof))


def test_verify_on_combine_names_the_cheater_and_bad_shares_do_not_combine() -> None:
    public, shares = dealt()
    n = int(public.n)
    cts = encrypt(public, [11, 22, 33])
    parts = [s.decrypt(cts, rng=KeyedPRNG.from_int(s.index)) for s in shares[:3]]
    cheat = _tampered(parts[1], n, 2)
    with pytest.raises(ProtocolError, match="holder 2"):
        public.combine(cts, [parts[0], cheat, parts[2]], verify=True)
    # Without proofs a (1 + n)-shift goes unnoticed: this is why proofs exist ...
    shifted = public.combine(cts, [parts[0], cheat, parts[2]])
    assert shifted[:2] == [11, 22] and shifted[2] != 33
    # ... while random garbage does not even combine to a valid plaintext.
    garbage = DecryptionShare(2, (parts[1].values[0], parts[1].values[1], 1234567), None)
    with pytest.raises(ProtocolError, match="do not combine"):
        public.combine(cts, [parts[0], garbage, parts[2]])
    unproved = DecryptionShare(1, parts[0].values, None)
    with pytest.raises(ProtocolError, match="no valid proof"):
        public.combine(cts, [unproved, parts[1], parts[2]], verify=True)


def test_multi_exponentiation_matches_separate_powers() -> None:
    rng = KeyedPRNG.from_int(5)
    modulus = rng.randbits(512) | 1
    for count in (0, 3, 16, 100):
        bases = [rng.randbelow(modulus) for _ in range(count)]
        exps = [rng.randbits(128) for _ in range(count)]
        expected = 1
        for b, e in zip(bases, exps, strict=True):
            expected = expected * pow(b, e, modulus) % modulus
        assert _multi_pow(bases, exps, modulus) == expected % modulus


def test_lagrange_coefficients_interpolate_at_zero_times_delta() -> None:
    public, _ = dealt(512, parties=7, threshold=4)
    coefficients = [123456789, -5, 17, 2**70]
    for subset in itertools.combinations(range(1, 8), 4):
        lam = public.lagrange(subset)
        value = sum(lam[i] * sum(a * i**k for k, a in enumerate(coefficients)) for i in subset)
        assert value == public.delta * coefficients[0]
    assert public.delta == math.factorial(7)


# ------------------------------------------------------------------------------ the dealer


def test_deal_builds_consistent_verification_keys() -> None:
    public, shares = dealt(512, parties=4, threshold=2)
    assert public.parties == 4 and public.threshold == 2
    nsq = public.public_key.nsquare
    for share in shares:
        assert (
            powmod(public.verification_base, public.delta * share._secret, nsq)
            == (public.verification_keys[share.index - 1])
        )
        assert "secret" not in repr(share) and str(int(share._secret)) not in repr(share)
    assert public == dealt(512, parties=4, threshold=2)[0]
    assert public != dealt()[0] and hash(public) == hash(public.fingerprint)
    assert "threshold=2" in repr(public)
    assert public.public_key.has_hs  # DJN encryption works under it


def test_deal_refuses_bad_arguments() -> None:
    p, q = safe_primes(512)
    blum = json.loads((VECTORS / "paillier_test_primes.json").read_text())["keys"]["512"]
    not_safe = int(blum["p"], 16)
    cases = [
        ((not_safe, q), {}, "not a safe prime"),
        ((p, p), {}, "distinct"),
        ((p, q), {"parties": 0}, "parties"),
        ((p, q), {"parties": MAX_PARTIES + 1}, "parties"),
        ((p, q), {"threshold": 0}, "threshold"),
        ((p, q), {"threshold": 6}, "threshold"),
        ((p, q), {"allow_insecure": False}, "allow_insecure"),
        ((True, q), {}, "integer"),
    ]
    for primes, override, message in cases:
        options = {"parties": 5, "threshold": 3, "allow_insecure": True, **override}
        with pytest.raises(ParameterError, match=message):
            deal(*primes, **options)  # type: ignore[arg-type]


def test_small_keys_warn() -> None:
    p, q = safe_primes(512)
    with pytest.warns(InsecureParametersWarning, match="threshold Paillier key of 512 bits"):
        deal(p, q, parties=2, threshold=1, allow_insecure=True)


def test_generate_threshold_keypair_end_to_end_with_progress() -> None:
    seen: list[tuple[int, int]] = []
    public, shares = generate_threshold_keypair(
        512,
        parties=3,
        threshold=2,
        rng=KeyedPRNG.from_int(11),
        allow_insecure=True,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert public.public_key.n_bits == 512
    assert seen[-1] == (1000, 1000)
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
    cts = encrypt(public, [99])
    assert public.combine(cts, [shares[0].decrypt(cts), shares[2].decrypt(cts)], verify=True) == [
        99
    ]
    again, _ = generate_threshold_keypair(
        512, parties=3, threshold=2, rng=KeyedPRNG.from_int(11), allow_insecure=True
    )
    assert again.n == public.n  # reproducible from a seed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_bits": 513}, "even"),
        ({"n_bits": 128}, "below 256"),
        ({"n_bits": 1024, "allow_insecure": False}, "allow_insecure"),
        ({"parties": 0}, "parties"),
        ({"threshold": 4}, "threshold"),
    ],
)
def test_generate_threshold_keypair_refusals(kwargs: dict[str, object], message: str) -> None:
    options: dict[str, object] = {
        "n_bits": 512,
        "parties": 3,
        "threshold": 2,
        "allow_insecure": True,
        **kwargs,
    }
    n_bits = options.pop("n_bits")
    with pytest.raises(ParameterError, match=message):
        generate_threshold_keypair(n_bits, **options)  # type: ignore[arg-type]


def test_public_key_and_share_validation() -> None:
    public, shares = dealt()
    pk, v, keys = public.public_key, public.verification_base, public.verification_keys
    with pytest.raises(ParameterError, match="PublicKey"):
        ThresholdPublicKey("n", 3, v, keys)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="threshold"):
        ThresholdPublicKey(pk, 6, v, keys)
    with pytest.raises(ParameterError, match="holders"):
        ThresholdPublicKey(pk, 1, v, [])
    with pytest.raises(ParameterError, match="unit"):
        ThresholdPublicKey(pk, 3, 1, keys)
    with pytest.raises(ParameterError, match="unit"):
        ThresholdPublicKey(pk, 3, v, (*keys[:4], pk.n))
    with pytest.raises(KeyMismatchError, match="v_2"):
        KeyShare(public, 2, shares[0]._secret)
    with pytest.raises(ParameterError, match="indices"):
        KeyShare(public, 6, shares[0]._secret)
    with pytest.raises(ParameterError, match="non-negative"):
        KeyShare(public, 1, -1)
    with pytest.raises(ParameterError, match="ThresholdPublicKey"):
        KeyShare(pk, 1, 1)  # type: ignore[arg-type]
    cts = encrypt(public, [1])
    with pytest.raises(ParameterError, match="covers 2"):
        public.combine(cts, [DecryptionShare(1, (1, 1))] * 3)
    with pytest.raises(ParameterError, match="DecryptionShare"):
        public.combine(cts, ["share"])  # type: ignore[list-item]
    with pytest.raises(ParameterError, match="DecryptionShare"):
        public.verify(cts, "share")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="ciphertext"):
        shares[0].decrypt([0])
    assert (public == "key") is False
