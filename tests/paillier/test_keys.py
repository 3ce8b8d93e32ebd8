"""Paillier keys: generation rules, validation, known answers, raw encryption in every mode."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import gmpy2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import InsecureParametersWarning, KeyMismatchError, ParameterError
from heprim.math.ntheory import random_prime
from heprim.math.prng import KeyedPRNG
from heprim.paillier import keys as keys_module
from heprim.paillier.keys import PrivateKey, PublicKey, generate_keypair

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _iso() -> dict[str, int]:
    raw = json.loads((VECTORS / "paillier_iso18033_6.json").read_text())
    return {k: int(v, 16) for k, v in raw.items() if k not in ("_provenance", "g")}


def _quiet_public_key(n: int, **kwargs: int) -> PublicKey:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        return PublicKey(n, **kwargs)


# ---------------------------------------------------------------- ISO/IEC 18033-6 known answers


def test_iso_18033_6_encryption_known_answers() -> None:
    v = _iso()
    pk = PublicKey(v["p"] * v["q"])
    assert pk.n_bits == 2048
    assert pk.raw_encrypt(v["m1"], v["r1"]) == v["c1"]
    assert pk.raw_encrypt(v["m2"], v["r2"], mode="standard") == v["c2"]
    assert pk.raw_add(v["c1"], v["c2"]) == v["c1c2"]


def test_iso_18033_6_decryption_and_crt_encryption() -> None:
    v = _iso()
    sk = PrivateKey(PublicKey(v["p"] * v["q"]), v["p"], v["q"])
    assert sk.raw_decrypt(v["c1"]) == v["m1"]
    assert sk.raw_decrypt(v["c2"]) == v["m2"]
    assert sk.raw_decrypt(v["c1c2"]) == v["m1m2"] == v["m1"] + v["m2"]
    # The key holder's CRT path gives the same ciphertext for the same r, in either mode.
    assert sk.raw_encrypt(v["m1"], v["r1"]) == v["c1"]
    assert sk.raw_encrypt(v["m2"], v["r2"], mode="standard") == v["c2"]
    assert sk.raw_encrypt(v["m2"], v["r2"], mode="djn") == v["c2"]


def test_iso_primes_are_refused_by_from_primes_with_the_reason() -> None:
    # The ISO key has gcd(p-1, q-1) = 6: valid for Paillier, not for heprim's DJN key rules.
    v = _iso()
    with pytest.raises(ParameterError, match=r"gcd\(p-1, q-1\) is 6"):
        PrivateKey.from_primes(v["p"], v["q"])


# ---------------------------------------------------------------- phe-generated known answers


def test_raw_encrypt_matches_phe_vectors() -> None:
    data = json.loads((VECTORS / "paillier_phe.json").read_text())
    p, q = int(data["p"], 16), int(data["q"], 16)
    sk = PrivateKey(_quiet_public_key(p * q), p, q)
    pk = sk.public_key
    for case in data["raw"]:
        m, r, c = (int(case[k], 16) for k in ("m", "r", "c"))
        assert pk.raw_encrypt(m, r) == c
        assert sk.raw_encrypt(m, r) == c
        assert sk.raw_decrypt(c) == m


# ---------------------------------------------------------------- key generation


def test_generate_keypair_meets_every_rule() -> None:
    progress: list[tuple[int, int]] = []
    with pytest.warns(InsecureParametersWarning):
        pk, sk = generate_keypair(
            512,
            rng=KeyedPRNG.from_int(1),
            allow_insecure=True,
            progress=lambda *a: progress.append(a),
        )
    p, q = sk.p, sk.q
    assert p < q and p * q == pk.n and pk.n_bits == 512
    assert p.bit_length() == q.bit_length() == 256
    assert p % 4 == q % 4 == 3
    assert gmpy2.gcd(p - 1, q - 1) == 2
    assert gmpy2.is_prime(p) and gmpy2.is_prime(q)
    assert abs(p - q).bit_length() > 256 - 100
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert pk.has_hs and sk.raw_decrypt(pk.hs) == 0  # h_s is an n-th residue
    assert pk.max_int == pk.n // 3 and pk.nsquare == pk.n**2 and pk.g == pk.n + 1


def test_generate_keypair_is_reproducible_with_a_keyed_prng() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        a = generate_keypair(512, rng=KeyedPRNG.from_int(7), allow_insecure=True)
        b = generate_keypair(512, rng=KeyedPRNG.from_int(7), allow_insecure=True)
        c = generate_keypair(512, rng=KeyedPRNG.from_int(8), allow_insecure=True)
    assert a[1] == b[1] and a[0].hs == b[0].hs
    assert a[0] != c[0]


@pytest.mark.parametrize(
    ("n_bits", "match"),
    [
        (1024, "allow_insecure=True"),
        (2046, "allow_insecure=True"),
        (128, "below 256 bits"),
        (1025, "even"),
        (True, "integer"),
        (2048.0, "integer"),
        ("2048", "integer"),
    ],
)
def test_generate_keypair_refuses_bad_sizes(n_bits: object, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        generate_keypair(n_bits)  # type: ignore[arg-type]


def test_generate_keypair_refuses_tiny_keys_even_when_insecure_is_allowed() -> None:
    with pytest.raises(ParameterError, match="even with allow_insecure"):
        generate_keypair(254, allow_insecure=True)


def test_generate_keypair_default_size_is_3072() -> None:
    assert keys_module.DEFAULT_N_BITS == 3072
    assert generate_keypair.__defaults__ == (3072,)


# ---------------------------------------------------------------- from_primes


def test_from_primes_accepts_valid_primes(keys512: tuple[PublicKey, PrivateKey]) -> None:
    _, sk = keys512
    with pytest.warns(InsecureParametersWarning):
        again = PrivateKey.from_primes(sk.q, sk.p, allow_insecure=True)
    assert again == sk and again.public_key == sk.public_key
    assert again.p < again.q


def _blum_prime(bits: int, seed: int) -> int:
    return int(random_prime(bits, KeyedPRNG.from_int(seed), residue=(3, 4)))


def test_from_primes_refusals_explain_the_rule(keys1024: tuple[PublicKey, PrivateKey]) -> None:
    _, sk = keys1024
    p, q = int(sk.p), int(sk.q)
    cases: list[tuple[int, int, str]] = [
        (p, p, "distinct"),
        (p, q + 2, "not prime"),
        (p + 2, q, "not prime"),
        (p, _blum_prime(520, 3), "same bit length"),
        (p, int(random_prime(512, KeyedPRNG.from_int(5), residue=(1, 4))), "3 mod 4"),
        (1, q, "odd primes"),
        (2, q, "odd primes"),
    ]
    for a, b, match in cases:
        with pytest.raises(ParameterError, match=match), warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureParametersWarning)
            PrivateKey.from_primes(a, b, allow_insecure=True)
    with pytest.raises(ParameterError, match="allow_insecure=True"):
        PrivateKey.from_primes(p, q)
    with pytest.raises(ParameterError, match="integer"):
        PrivateKey.from_primes(float(p), q)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="integer"):
        PrivateKey.from_primes(True, q)


def test_from_primes_refuses_gcd_other_than_two() -> None:
    p = _blum_prime(256, 11)
    seed = 12
    while True:  # a q = 3 mod 4 sharing the factor 3 in p-1, q-1 (if p-1 has it) or any other
        q = _blum_prime(256, seed)
        seed += 1
        if q != p and gmpy2.gcd(p - 1, q - 1) > 2:
            break
    with pytest.raises(ParameterError, match=r"gcd\(p-1, q-1\)"), warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        PrivateKey.from_primes(p, q, allow_insecure=True)


def test_from_primes_refuses_close_primes() -> None:
    p = _blum_prime(256, 21)
    q = int(gmpy2.next_prime(p))
    while q % 4 != 3 or gmpy2.gcd(p - 1, q - 1) != 2:
        q = int(gmpy2.next_prime(q))
    with pytest.raises(ParameterError, match="Fermat"), warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        PrivateKey.from_primes(p, q, allow_insecure=True)


# ---------------------------------------------------------------- PrivateKey constructor


def test_private_key_constructor_checks(keys512: tuple[PublicKey, PrivateKey]) -> None:
    pk, sk = keys512
    p, q = int(sk.p), int(sk.q)
    with pytest.raises(ParameterError, match="does not equal"):
        PrivateKey(pk, p, q + 2)
    with pytest.raises(ParameterError, match="PublicKey"):
        PrivateKey(pk.n, p, q)  # type: ignore[arg-type]
    composite = PublicKey._trusted(p * p * q * q, None)
    with pytest.raises(ParameterError, match="perfect square"):
        _quiet_public_key(p * p)
    with pytest.raises(ParameterError, match="distinct"):  # past PublicKey's own square check
        PrivateKey(PublicKey._trusted(p * p, None), p, p)
    with pytest.raises(ParameterError, match="not prime"):
        PrivateKey(composite, p * p, q * q)


def test_private_key_validates_a_given_hs(keys512: tuple[PublicKey, PrivateKey]) -> None:
    pk, sk = keys512
    p, q = sk.p, sk.q
    # A unit that is not an n-th residue (an encryption of 1) would break DJN decryption.
    bad = pk.raw_encrypt(1, 3)
    with pytest.raises(ParameterError, match="not an n-th residue"):
        PrivateKey(_quiet_public_key(pk.n, hs=bad), p, q)
    # An n-th residue of order 2 modulo p and q: (n-1)**n = -1 would be refused by PublicKey;
    # x = CRT(-1 mod p**2, 1 mod q**2) is an n-th residue whose order mod q is 1.
    x = gmpy2.mpz(pk.n**2 - 1) % (p * p)
    crt = (x + p * p * ((1 - x) * gmpy2.invert(p * p, q * q) % (q * q))) % pk.nsquare
    with pytest.raises(ParameterError, match="small"):
        PrivateKey(_quiet_public_key(pk.n, hs=int(crt)), p, q)


# ---------------------------------------------------------------- PublicKey


def test_public_key_from_n_alone_derives_its_hs(keys512: tuple[PublicKey, PrivateKey]) -> None:
    pk, sk = keys512
    bare = _quiet_public_key(pk.n)
    assert not bare.has_hs
    c = bare.raw_encrypt(42, rng=KeyedPRNG.from_int(3))  # djn: derives h_s on first use
    assert bare.has_hs and bare.hs != pk.hs
    assert sk.raw_decrypt(c) == 42
    assert sk.raw_decrypt(bare.hs) == 0
    assert bare == pk and hash(bare) == hash(pk) and bare.fingerprint == pk.fingerprint


def test_public_key_refusals() -> None:
    n = 3 * 2**300 + 1  # odd, 302 bits
    with pytest.raises(ParameterError, match="below 256 bits"):
        PublicKey(2**200 + 1)
    with pytest.raises(ParameterError, match="odd"):
        _quiet_public_key(n + 1)
    for bad in (True, 1.5, "123", None):
        with pytest.raises(ParameterError, match="integer"):
            PublicKey(bad)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="perfect square"):
        _quiet_public_key((2**150 + 1) ** 2)
    with pytest.warns(InsecureParametersWarning):
        PublicKey(n)


def test_public_key_refuses_degenerate_hs(keys512: tuple[PublicKey, PrivateKey]) -> None:
    pk, sk = keys512
    for hs, match in [
        (1, r"\+-1"),
        (pk.nsquare - 1, r"\+-1"),
        (0, r"\(0, n\*\*2\)"),
        (pk.nsquare, r"\(0, n\*\*2\)"),
        (sk.p * 5, "shares a factor"),
        (True, "integer"),
    ]:
        with pytest.raises(ParameterError, match=match):
            _quiet_public_key(pk.n, hs=hs)


def test_fingerprint_is_sha256_of_n() -> None:
    import hashlib

    v = _iso()
    n = v["p"] * v["q"]
    expected = hashlib.sha256(b"heprim.paillier.n:" + n.to_bytes(256, "big")).hexdigest()[:32]
    pk = PublicKey(n)
    assert pk.fingerprint == expected and len(pk.fingerprint) == 32


def test_equality_hash_and_repr_hide_secrets(
    keys512: tuple[PublicKey, PrivateKey], keys1024: tuple[PublicKey, PrivateKey]
) -> None:
    pk, sk = keys512
    other_pk, other_sk = keys1024
    assert pk != other_pk and sk != other_sk
    assert pk.__eq__(pk.n) is NotImplemented and sk.__eq__(1) is NotImplemented
    assert len({pk, _quiet_public_key(pk.n), other_pk}) == 2
    assert len({sk, other_sk}) == 2
    for text in (repr(pk), repr(sk)):
        assert pk.fingerprint in text
        for secret in (sk.p, sk.q, pk.n):
            assert str(secret) not in text and hex(secret)[2:] not in text
    assert sk.fingerprint == pk.fingerprint


# ---------------------------------------------------------------- raw encryption, every mode

plaintexts = st.integers(min_value=0)


@given(m=plaintexts, seed=st.integers(0, 2**32))
def test_every_encryption_mode_decrypts(
    keys512: tuple[PublicKey, PrivateKey], m: int, seed: int
) -> None:
    pk, sk = keys512
    m %= pk.n
    rng = KeyedPRNG.from_int(seed)
    for c in (
        pk.raw_encrypt(m, rng=rng),
        pk.raw_encrypt(m, rng=rng, mode="standard"),
        sk.raw_encrypt(m, rng=rng),
        sk.raw_encrypt(m, rng=rng, mode="standard"),
        pk.raw_obfuscate(pk.raw_encrypt(m, rng=rng), rng=rng),
    ):
        assert sk.raw_decrypt(c) == m
        assert 0 < c < pk.nsquare and gmpy2.gcd(c, pk.n) == 1


@given(m1=plaintexts, m2=plaintexts, k=st.integers())
def test_raw_homomorphism(keys512: tuple[PublicKey, PrivateKey], m1: int, m2: int, k: int) -> None:
    pk, sk = keys512
    m1, m2 = m1 % pk.n, m2 % pk.n
    c1, c2 = pk.raw_encrypt(m1), sk.raw_encrypt(m2)
    assert sk.raw_decrypt(pk.raw_add(c1, c2)) == (m1 + m2) % pk.n
    assert sk.raw_decrypt(pk.raw_mul(c1, k)) == (k * m1) % pk.n


def test_djn_encryption_is_hs_to_a_short_exponent(keys512: tuple[PublicKey, PrivateKey]) -> None:
    pk, _ = keys512
    rng_a, rng_b = KeyedPRNG.from_int(99), KeyedPRNG.from_int(99)
    c = pk.raw_encrypt(5, rng=rng_a)
    a = rng_b.randbits((pk.n_bits + 1) // 2)  # the same draw as the encryption's
    assert c == (1 + 5 * pk.n) * pow(int(pk.hs), a, int(pk.nsquare)) % pk.nsquare
    assert pk.random_factor(rng=KeyedPRNG.from_int(99)) == pow(int(pk.hs), a, int(pk.nsquare))


def test_fresh_encryptions_differ(keys512: tuple[PublicKey, PrivateKey]) -> None:
    pk, sk = keys512
    seen = {pk.raw_encrypt(1), pk.raw_encrypt(1), pk.raw_encrypt(1, mode="standard")}
    seen |= {sk.raw_encrypt(1), sk.raw_encrypt(1), sk.raw_encrypt(1, mode="standard")}
    assert len(seen) == 6


def test_integer_types_are_accepted(keys512: tuple[PublicKey, PrivateKey]) -> None:
    pk, sk = keys512
    for m in (7, gmpy2.mpz(7), np.int64(7), np.uint8(7)):
        c = pk.raw_encrypt(m)  # type: ignore[arg-type]
        assert sk.raw_decrypt(gmpy2.mpz(c)) == 7
    assert pk.raw_encrypt(np.int32(3), np.int64(5)) == pk.raw_encrypt(3, 5)  # type: ignore[arg-type]


def test_raw_input_errors(
    keys512: tuple[PublicKey, PrivateKey], keys1024: tuple[PublicKey, PrivateKey]
) -> None:
    pk, sk = keys512
    c = pk.raw_encrypt(1)
    for m in (-1, pk.n, True, 1.0, "1", None):
        with pytest.raises(ParameterError):
            pk.raw_encrypt(m)  # type: ignore[arg-type]
        with pytest.raises(ParameterError):
            sk.raw_encrypt(m)  # type: ignore[arg-type]
    for r in (0, pk.n, sk.p, 2 * sk.q, True, 1.5):
        with pytest.raises(ParameterError, match="r"):
            pk.raw_encrypt(1, r)  # type: ignore[arg-type]
        with pytest.raises(ParameterError, match="r"):
            sk.raw_encrypt(1, r)  # type: ignore[arg-type]
    for bad in (0, pk.nsquare, -c, sk.p, sk.q * 3, False, float(c)):
        with pytest.raises(ParameterError):
            sk.raw_decrypt(bad)  # type: ignore[arg-type]
        with pytest.raises(ParameterError):
            pk.check_ciphertext(bad)
    for bad in (0, pk.nsquare, True):
        with pytest.raises(ParameterError):
            pk.raw_add(c, bad)  # type: ignore[arg-type]
        with pytest.raises(ParameterError):
            pk.raw_mul(bad, 2)  # type: ignore[arg-type]
        with pytest.raises(ParameterError):
            pk.raw_obfuscate(bad)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="integer"):
        pk.raw_mul(c, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="mode"):
        pk.raw_encrypt(1, mode="fast")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="mode"):
        pk.random_factor(mode="DJN")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="mode"):
        sk.raw_encrypt(1, mode="fast")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="mode"):
        sk.random_factor(mode="crt")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="mode"):
        sk.encrypt(1, mode="textbook")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="PRNG"):
        pk.raw_encrypt(1, rng=42)  # type: ignore[arg-type]
    assert pk.check_ciphertext(np.int64(1)) == 1
    # decryption with the wrong key is caught when the ciphertext does not fit that key
    other_pk, _ = keys1024
    with pytest.raises(ParameterError, match=r"\(0, n\*\*2\)"):
        sk.raw_decrypt(other_pk.raw_encrypt(1))  # ~2048 bits, far beyond this key's n**2
    with pytest.raises(KeyMismatchError):
        sk.decrypt(other_pk.encrypt(1))


def test_precompute_builds_once_and_is_reused(keys512: tuple[PublicKey, PrivateKey]) -> None:
    pk, sk = keys512
    table = pk.precompute()
    assert pk.precompute() is table
    assert table.base == pk.hs and table.modulus == pk.nsquare
    assert table.exp_bits == (pk.n_bits + 1) // 2
    fresh = _quiet_public_key(pk.n, hs=pk.hs)
    steps: list[tuple[int, int]] = []
    small = fresh.precompute(window=4, progress=lambda *a: steps.append(a))
    assert small.window == 4 and steps[-1] == (64, 64)
    assert sk.raw_decrypt(fresh.raw_encrypt(77)) == 77


def test_encrypt_vector_delegates_to_the_vector_module(
    keys512: tuple[PublicKey, PrivateKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    from heprim.paillier import vector

    pk, sk = keys512
    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(vector, "encrypt_vector", lambda *a, **k: calls.append((*a, k)) or "enc")
    monkeypatch.setattr(vector, "decrypt_vector", lambda *a, **k: calls.append((*a, k)) or "dec")
    assert pk.encrypt_vector([1, 2], workers=2) == "enc"
    assert sk.decrypt_vector("v") == "dec"
    assert calls == [(pk, [1, 2], {"workers": 2}), (sk, "v", {})]


# ---------------------------------------------------------------- key-holder DJN by CRT


@given(m=plaintexts, seed=st.integers(0, 2**32))
def test_keyholder_djn_is_the_public_djn_ciphertext(
    keys512: tuple[PublicKey, PrivateKey], m: int, seed: int
) -> None:
    # The oracle is the public DJN path (itself checked against pow() above): same draw of a,
    # same h_s**a, so the very same ciphertext -- the DJN distribution exactly.
    pk, sk = keys512
    m %= pk.n
    c = sk.raw_encrypt(m, rng=KeyedPRNG.from_int(seed))
    assert c == pk.raw_encrypt(m, rng=KeyedPRNG.from_int(seed))
    assert sk.raw_decrypt(c) == m
    a = KeyedPRNG.from_int(seed).randbits((pk.n_bits + 1) // 2)
    assert sk.random_factor(rng=KeyedPRNG.from_int(seed)) == pow(int(pk.hs), a, int(pk.nsquare))


def test_keyholder_recipes_default_to_djn(keys512: tuple[PublicKey, PrivateKey]) -> None:
    pk, sk = keys512
    for value in (3, -2.5):
        mine = sk.encrypt(value, rng=KeyedPRNG.from_int(5))
        assert mine.ciphertext == pk.encrypt(value, rng=KeyedPRNG.from_int(5)).ciphertext
        standard = sk.encrypt(value, rng=KeyedPRNG.from_int(5), mode="standard")
        assert standard.ciphertext != mine.ciphertext
        assert sk.decrypt(standard) == sk.decrypt(mine) == value
    # The standard mode draws a uniform n-th residue: an encryption of zero, not a power of h_s.
    x = sk.random_factor(rng=KeyedPRNG.from_int(6), mode="standard")
    assert sk.raw_decrypt(x) == 0 and x != pk.random_factor(rng=KeyedPRNG.from_int(6))


def _unbalanced_key() -> PrivateKey:
    """p of 200 bits, q of 330: the DJN exponent (265 bits) is longer than p - 1."""
    p = int(random_prime(200, KeyedPRNG.from_int(41), residue=(3, 4)))
    seed = 42
    while True:
        q = int(random_prime(330, KeyedPRNG.from_int(seed), residue=(3, 4)))
        seed += 1
        if gmpy2.gcd(p * q, (p - 1) * (q - 1)) == 1:
            break
    hs = keys_module._keyholder_hs(gmpy2.mpz(p), gmpy2.mpz(q), KeyedPRNG.from_int(43))
    return PrivateKey(_quiet_public_key(p * q, hs=hs), p, q)


def test_keyholder_exponent_reduction_modulo_p_minus_1() -> None:
    sk = _unbalanced_key()
    pk = sk.public_key
    k = (pk.n_bits + 1) // 2
    assert k == 265
    table_p, table_q = sk.precompute()
    assert (table_p.exp_bits, table_q.exp_bits) == (200, 265)
    assert table_p.modulus == sk.p**2 and table_p.base == pk.hs % sk.p**2
    p = int(sk.p)
    edges = [0, 1, p - 2, p - 1, p, 2 * (p - 1) + 7, 2**200, 2**k - 1]
    draws = [KeyedPRNG.from_int(i).randbits(k) for i in range(20)]
    for a in edges + draws:
        assert sk._djn_residue(a) == pow(int(pk.hs), a, int(pk.nsquare)), a
    for seed in range(5):
        c = sk.raw_encrypt(seed, rng=KeyedPRNG.from_int(seed))
        assert c == pk.raw_encrypt(seed, rng=KeyedPRNG.from_int(seed))
        assert sk.raw_decrypt(c) == seed


def test_keyholder_tables_are_built_once(keys512: tuple[PublicKey, PrivateKey]) -> None:
    pk, sk = keys512
    tables = sk.precompute()
    assert sk.precompute() is tables
    fresh = PrivateKey(pk, sk.p, sk.q)
    steps: list[tuple[int, int]] = []
    small = fresh.precompute(window=4, progress=lambda *a: steps.append(a))
    assert [t.window for t in small] == [4, 4]
    rows = sum(-(-t.exp_bits // 4) for t in small)
    assert steps == [(i, rows) for i in range(1, rows + 1)]
    assert fresh.raw_encrypt(9, rng=KeyedPRNG.from_int(1)) == sk.raw_encrypt(
        9, rng=KeyedPRNG.from_int(1)
    )
    with pytest.raises(ParameterError, match="window"):
        fresh.precompute(window=0)
    with pytest.raises(ParameterError, match="window"):
        fresh.precompute(window=True)


def test_keyholder_makes_a_checked_hs_for_a_bare_public_key(
    keys512: tuple[PublicKey, PrivateKey],
) -> None:
    pk, sk = keys512
    holder = PrivateKey(_quiet_public_key(pk.n), sk.p, sk.q)  # as imported from phe: no h_s
    assert not holder.public_key.has_hs
    c = holder.raw_encrypt(11, rng=KeyedPRNG.from_int(2))
    bare = holder.public_key
    assert bare.has_hs and bare.hs != pk.hs
    assert holder.raw_decrypt(c) == 11
    assert c == bare.raw_encrypt(11, rng=KeyedPRNG.from_int(2))  # shared with the public key
    PrivateKey(_quiet_public_key(pk.n, hs=bare.hs), sk.p, sk.q)  # passes the key-holder checks


def test_keyholder_pool_and_r_still_work(keys512: tuple[PublicKey, PrivateKey]) -> None:
    from heprim.paillier.pool import RandomnessPool

    pk, sk = keys512
    pool = RandomnessPool(sk, 2, rng=KeyedPRNG.from_int(3))
    assert sk.raw_decrypt(sk.raw_encrypt(4, pool=pool)) == 4
    assert sk.raw_encrypt(4, 5, mode="djn") == pk.raw_encrypt(4, 5) == sk.raw_encrypt(4, 5)
    with pytest.raises(ParameterError, match="either r or pool"):
        sk.raw_encrypt(4, 5, pool=pool)
