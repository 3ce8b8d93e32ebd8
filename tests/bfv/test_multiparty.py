"""Multiparty BFV (Mouchet et al. 2021): collective keys, t-of-n shares, collective decryption.

The oracle is the plaintext arithmetic (and, for the keys, the algebra against the sum of the
parties' secret shares, which the tests may form since they play every party).
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from heprim import bfv
from heprim.bfv import multiparty as mp
from heprim.bfv.scheme import round_to_plaintext
from heprim.errors import (
    InsecureParametersWarning,
    KeyMismatchError,
    NoiseBudgetExhausted,
    ParameterError,
    ProtocolError,
    SerializationError,
)
from heprim.math.prng import KeyedPRNG
from heprim.ring import RingElement
from heprim.serialize import bfv as bfv_io
from heprim.serialize.envelope import b64url_decode, b64url_encode
from tests.bfv.conftest import SMALL, insecure

PARTIES = 4


@pytest.fixture(scope="module")
def setting() -> tuple[bfv.Parameters, bytes, list[mp.PartyKey], bfv.PublicKey]:
    params = insecure(SMALL)
    seed = KeyedPRNG.from_int(11).random_bytes(32)
    keys = [mp.PartyKey(params, seed, rng=KeyedPRNG.from_int(100 + i)) for i in range(PARTIES)]
    public = mp.aggregate_public_key(params, seed, [k.public_key_share() for k in keys])
    return params, seed, keys, public


def _collective_secret(keys: list[mp.PartyKey], level: int) -> RingElement:
    ring = bfv.context_of(keys[0].params).ring_q(level)
    total = ring.zero(ntt=True)
    for k in keys:
        total = total + k.secret.power_ntt(1, level)
    return total


def _values(params: bfv.Parameters, seed: int) -> np.ndarray:
    raw = np.frombuffer(KeyedPRNG.from_int(seed).random_bytes(8 * params.degree), dtype="<u8")
    return (raw % np.uint64(params.plain_modulus)).astype(np.int64)


def test_public_key_is_a_key_of_the_summed_secret(setting) -> None:
    params, seed, keys, public = setting
    assert public.key_id == mp.collective_key_id(params, seed) == keys[0].key_id
    s = _collective_secret(keys, params.max_level)
    error = (public.b + public.a * s).intt().to_centered_ints()
    assert max(abs(int(v)) for v in error) <= PARTIES * 6 * 3.19 + 1  # -e, e a sum of 4 errors


def test_collective_key_encrypts_and_n_of_n_decrypts(setting) -> None:
    params, _, keys, public = setting
    encoder = bfv.BatchEncoder(params)
    x = _values(params, 1)
    ct = bfv.Encryptor(public).encrypt(encoder.encode(x), rng=KeyedPRNG.from_int(2))
    rng = KeyedPRNG.from_int(3)
    shares = [mp.decryption_share(ct, k.secret, smudging_bits=30, rng=rng) for k in keys]
    assert np.array_equal(encoder.decode(mp.combine_decryption(ct, shares), signed=False), x)
    # One share missing: the key does not add up, and the rounding is detected or wrong.
    try:
        wrong = encoder.decode(mp.combine_decryption(ct, shares[:-1]), signed=False)
    except NoiseBudgetExhausted:
        pass
    else:
        assert not np.array_equal(wrong, x)


def test_collective_relinearization_key(setting) -> None:
    params, seed, keys, public = setting
    round1 = mp.aggregate_relin_round1([k.relin_round1() for k in keys])
    rlk = mp.relin_keys_from_shares(params, seed, round1, [k.relin_round2(round1) for k in keys])
    encoder = bfv.BatchEncoder(params)
    evaluator = bfv.Evaluator(params, relin_keys=rlk)
    x, y = _values(params, 4) % 200, _values(params, 5) % 300
    enc = bfv.Encryptor(public)
    product = evaluator.multiply_relin(
        enc.encrypt(encoder.encode(x), rng=KeyedPRNG.from_int(6)),
        enc.encrypt(encoder.encode(y), rng=KeyedPRNG.from_int(7)),
    )
    assert product.size == 2
    rng = KeyedPRNG.from_int(8)
    shares = [mp.decryption_share(product, k.secret, smudging_bits=20, rng=rng) for k in keys]
    got = encoder.decode(mp.combine_decryption(product, shares), signed=False)
    assert np.array_equal(got, x * y % params.plain_modulus)
    # The key is a key-switching key from s^2 to s: b_j + a_j s = P g_j s^2 + small.
    s = _collective_secret(keys, params.max_level)
    polys = product.polys.ntt()
    x_raw = (polys[0] + polys[1] * s).intt()
    assert np.array_equal(encoder.decode(round_to_plaintext(params, x_raw), signed=False), got)
    with pytest.raises(SerializationError, match="no seed"):
        _ = rlk.key.seed  # not a seed expansion: heprim.serialize stores its a-parts whole
    for text in (bfv_io.dumps(rlk), bfv_io.dump_bytes(rlk)):
        loaded = bfv_io.loads(text) if isinstance(text, str) else bfv_io.load_bytes(text)
        assert isinstance(loaded, bfv.RelinKeys) and loaded.key == rlk.key
        again = bfv.Evaluator(params, relin_keys=loaded).multiply_relin(
            enc.encrypt(encoder.encode(x), rng=KeyedPRNG.from_int(6)),
            enc.encrypt(encoder.encode(y), rng=KeyedPRNG.from_int(7)),
        )
        assert again == product


def test_relin_rounds_in_order(setting) -> None:
    params, seed, _, _ = setting
    key = mp.PartyKey(params, seed, rng=KeyedPRNG.from_int(9))
    with pytest.raises(ParameterError, match="relin_round1"):
        key.relin_round2(mp.RelinKeyShare(key.public_key_share(), key.public_key_share()))


@pytest.mark.parametrize("threshold", [1, 2, 3, 4])
def test_any_t_shares_decrypt_and_t_minus_1_do_not(setting, threshold: int) -> None:
    params, _, keys, public = setting
    indices = [1, 2, 3, 4]
    dealt = [k.threshold_shares(threshold, indices) for k in keys]
    shares = {
        j: mp.combine_threshold_shares(params, public.key_id, j, threshold, [d[j] for d in dealt])
        for j in indices
    }
    encoder = bfv.BatchEncoder(params)
    x = _values(params, 12)
    ct = bfv.Encryptor(public).encrypt(encoder.encode(x), rng=KeyedPRNG.from_int(13))
    rng = KeyedPRNG.from_int(14)
    for active in itertools.combinations(indices, threshold):
        parts = [
            mp.decryption_share(ct, shares[j].additive_share(active), smudging_bits=30, rng=rng)
            for j in active
        ]
        assert np.array_equal(encoder.decode(mp.combine_decryption(ct, parts), signed=False), x)
    if threshold > 1:
        # t - 1 shares with their own Lagrange coefficients interpolate the wrong secret.
        fewer = indices[: threshold - 1]
        ring = shares[1].value.ring
        for j in fewer:
            with pytest.raises(ParameterError, match="exactly t"):
                shares[j].additive_share(fewer)
        parts = []
        for j in fewer:
            scalars = [mp.lagrange_at_zero(j, fewer, q) for q in ring.moduli]
            additive = shares[j].value * 1
            additive = ring.from_array(
                np.stack(
                    [
                        additive.data[i] * s % q
                        for i, (s, q) in enumerate(zip(scalars, ring.moduli, strict=True))
                    ]
                ),
                ntt=True,
            )
            parts.append(mp.decryption_share(ct, additive, smudging_bits=30, rng=rng))
        try:
            wrong = encoder.decode(mp.combine_decryption(ct, parts), signed=False)
        except NoiseBudgetExhausted:
            return
        assert not np.array_equal(wrong, x)


def test_smudging_is_sized_to_decrypt_and_reported(setting) -> None:
    params, _, keys, public = setting
    level = 2  # after modulus switching, as the aggregation uploads
    bound = mp.noise_bound(params, parties=PARTIES, summands=50, level=level)
    bits = mp.max_smudging_bits(params, level, bound, PARTIES)
    assert bound + PARTIES * 2**bits < params.q_modulus_at(level) / (3 * params.plain_modulus)
    assert mp.smudging_security(params, bits, bound) == pytest.approx(
        bits + 1 - np.log2(params.degree * bound)
    )
    encoder = bfv.BatchEncoder(params)
    x = _values(params, 20) % 1000
    enc = bfv.Encryptor(public)
    total = enc.encrypt(encoder.encode(x), rng=KeyedPRNG.from_int(21))
    for i in range(49):
        total = total + enc.encrypt(encoder.encode(x), rng=KeyedPRNG.from_int(22 + i))
    total = bfv.ciphertext.mod_switch(total, level)
    rng = KeyedPRNG.from_int(99)
    shares = [mp.decryption_share(total, k.secret, smudging_bits=bits, rng=rng) for k in keys]
    got = encoder.decode(mp.combine_decryption(total, shares), signed=False)
    assert np.array_equal(got, 50 * x % params.plain_modulus)
    # The smudging noise is really there: the shares' sum differs from the exact c_1 s.
    s = _collective_secret(keys, level)
    exact = (total.polys[1].ntt() * s).intt()
    summed = shares[0] + shares[1] + shares[2] + shares[3]
    deviation = max(abs(int(v)) for v in (summed - exact).to_centered_ints())
    assert 2 ** (bits - 1) < deviation <= PARTIES * 2**bits
    # Too much smudging breaks decryption: the bound is tight, not decorative.
    loud = [mp.decryption_share(total, k.secret, smudging_bits=bits + 3, rng=rng) for k in keys]
    try:
        wrong = encoder.decode(mp.combine_decryption(total, loud), signed=False)
    except NoiseBudgetExhausted:
        return
    assert not np.array_equal(wrong, 50 * x % params.plain_modulus)


def test_a_modulus_too_small_is_refused(setting) -> None:
    params = setting[0]
    with pytest.raises(ParameterError, match="no room for smudging"):
        mp.max_smudging_bits(params, 1, 2.0**40, 3)


def test_errors(setting) -> None:
    params, seed, keys, public = setting
    with pytest.raises(ParameterError, match="32 bytes"):
        mp.PartyKey(params, b"short")
    with pytest.raises(ParameterError, match=r"bfv\.Parameters"):
        mp.PartyKey("params", seed)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="threshold"):
        keys[0].threshold_shares(5, [1, 2, 3])
    with pytest.raises(ParameterError, match="distinct"):
        keys[0].threshold_shares(2, [1, 1, 2])
    with pytest.raises(ParameterError, match="positive"):
        keys[0].threshold_shares(2, [0, 1])
    with pytest.raises(ParameterError, match="not in the active set"):
        mp.lagrange_at_zero(5, [1, 2], 97)
    with pytest.raises(ParameterError, match="no public-key shares"):
        mp.aggregate_public_key(params, seed, [])
    ct = bfv.Encryptor(public).encrypt(bfv.BatchEncoder(params).encode([1]))
    with pytest.raises(ParameterError, match="smudging_bits"):
        mp.decryption_share(ct, keys[0].secret, smudging_bits=110)
    with pytest.raises(ParameterError, match="no decryption shares"):
        mp.combine_decryption(ct, [])
    with pytest.raises(ParameterError, match="size 2"):
        mp.decryption_share(ct * ct, keys[0].secret, smudging_bits=10)
    other = insecure(bfv.ParametersLiteral(1024, 65537, log_q=(27,) * 4, log_p=(28,)))
    stranger = bfv.KeyGenerator(other, rng=KeyedPRNG.from_int(5)).secret_key
    with pytest.raises(KeyMismatchError):
        mp.decryption_share(ct, stranger, smudging_bits=10)
    with pytest.raises(ParameterError, match="parties"):
        mp.noise_bound(params, parties=0)


# ------------------------------------------------------------------ wide smudging and the floor


@pytest.mark.parametrize("bits", [0, 1, 31, 32, 33, 63, 64, 80])
def test_smudging_noise_is_uniform_in_its_range_at_any_width(setting, bits: int) -> None:
    """Exactly ``[-2^b, 2^b)`` across the 32-bit word boundaries, and it fills the range.

    Oracle: Python big integers (the centered coefficients), not the RNS arithmetic."""
    params = setting[0]
    ring = bfv.context_of(params).ring_q(params.max_level)  # 108 bits: room for 2^81
    values = [int(v) for v in mp._smudging(ring, bits, KeyedPRNG.from_int(bits)).to_centered_ints()]
    assert min(values) >= -(1 << bits) and max(values) < 1 << bits
    # With N = 1024 draws, each half and the outer quarters are hit (failure chance < 2^-300).
    assert any(v < 0 for v in values) and any(v >= 0 for v in values)
    if bits >= 2:
        assert min(values) < -(1 << (bits - 1)) and max(values) >= 1 << (bits - 1)
    if bits == 0:
        assert set(values) == {-1, 0}


def test_wide_smudging_decrypts_and_lifts_the_old_int64_cap(setting) -> None:
    """At the top level (108 bits) the largest smudging that decrypts exceeds 61 bits."""
    params, _, keys, public = setting
    level = params.max_level
    bound = mp.noise_bound(params, parties=PARTIES, summands=1, level=level)
    bits = mp.max_smudging_bits(params, level, bound, PARTIES)
    assert bits > 61
    assert mp.smudging_security(params, bits, bound) >= mp.SMUDGING_SECURITY_FLOOR
    encoder = bfv.BatchEncoder(params)
    x = _values(params, 30)
    ct = bfv.Encryptor(public).encrypt(encoder.encode(x), rng=KeyedPRNG.from_int(31))
    rng = KeyedPRNG.from_int(32)
    shares = [mp.decryption_share(ct, k.secret, smudging_bits=bits, rng=rng) for k in keys]
    assert np.array_equal(encoder.decode(mp.combine_decryption(ct, shares), signed=False), x)
    with pytest.raises(ParameterError, match="below Q_l"):
        mp.decryption_share(
            ct, keys[0].secret, smudging_bits=params.q_modulus_at(level).bit_length()
        )


def test_the_security_floor_refuses_or_warns() -> None:
    assert mp.SMUDGING_SECURITY_FLOOR == 40
    assert mp.check_smudging_security(40.0) == 40.0
    assert mp.check_smudging_security(12.0, floor=10) == 12.0
    with pytest.raises(ParameterError, match=r"lambda = 39\.5 bits, below the floor of 40"):
        mp.check_smudging_security(39.5)
    with pytest.raises(ParameterError, match=r"more primes at the upload.*try this"):
        mp.check_smudging_security(20.0, advice="try this")
    with pytest.warns(InsecureParametersWarning, match=r"lambda = 11\.0 bits"):
        assert mp.check_smudging_security(11.0, allow_insecure=True) == 11.0


# ---------------------------------------------------------------------- client keys, common a


def _client_setting(clients: int = 5):
    params = insecure(SMALL)
    keys = [mp.ClientKey(params, rng=KeyedPRNG.from_int(300 + j)) for j in range(clients)]
    seeds = [KeyedPRNG.from_int(400 + k).random_bytes(32) for k in range(2)]
    return params, keys, seeds


def test_client_keys_sum_under_a_common_a_and_threshold_decrypt() -> None:
    params, keys, seeds = _client_setting()
    level, t = 3, params.plain_modulus
    encoder = bfv.BatchEncoder(params)
    values = [[_values(params, 500 + 10 * j + k) for k in range(2)] for j in range(len(keys))]
    uploads = [
        key.encrypt([encoder.encode(v) for v in vs], seeds, level=level, rng=KeyedPRNG.from_int(j))
        for j, (key, vs) in enumerate(zip(keys, values, strict=True))
    ]
    assert uploads[0].shape == (2,) and not uploads[0].is_ntt
    c0 = uploads[0]
    for u in uploads[1:]:
        c0 = c0 + u
    # 3-of-4 decryptors: each sums its Shamir shares of the keys and applies its Lagrange
    # coefficient (the algebra of ThresholdShare.additive_share, written out here).
    indices = [1, 2, 3, 4]
    dealt = [key.threshold_shares(3, indices, level=level) for key in keys]
    a = mp.expand_common_a(params, seeds, level)
    assert a.is_ntt and a.shape == (2,)
    ring = a.ring
    active = [1, 3, 4]
    parts = []
    for i in active:
        total = ring.zero(ntt=True)
        for d in dealt:
            total = total + d[i]
        scalars = [mp.lagrange_at_zero(i, active, q) for q in ring.moduli]
        data = np.stack(
            [
                total.data[r] * s % q
                for r, (s, q) in enumerate(zip(scalars, ring.moduli, strict=True))
            ]
        )
        additive = ring.from_array(data, ntt=True)
        parts.append(
            mp.common_a_decryption_share(a, additive, smudging_bits=40, rng=KeyedPRNG.from_int(9))
        )
    expected = [sum(values[j][k] for j in range(len(keys))) % t for k in range(2)]
    for k in range(2):
        plain = mp.combine_common_a_decryption(params, c0[k], [d[k] for d in parts])
        assert np.array_equal(encoder.decode(plain, signed=False), expected[k])
    # The noise is what client_noise_bound says: sum c0 + a s_S minus the scaled sum of the
    # plaintext polynomials (Python integers) is a sum of fresh errors and roundings.
    s_sum = ring.zero(ntt=True)
    for key in keys:
        s_sum = s_sum + key.secret.power_ntt(1, level)
    raw = (c0[0] + (a[0] * s_sum).intt()).to_ints()
    modulus = params.q_modulus_at(level)
    plain = [encoder.encode(values[j][0]).coefficients for j in range(len(keys))]
    noise = []
    for i, x in enumerate(raw):
        scaled = sum((modulus * int(p[i])) // t for p in plain)  # floor: within n of round
        v = (int(x) - scaled) % modulus
        noise.append(v - modulus if v > modulus // 2 else v)
    assert max(abs(v) for v in noise) <= mp.client_noise_bound(params, summands=len(keys)) + len(
        keys
    )


def test_a_client_key_refuses_a_reused_common_a() -> None:
    params, keys, seeds = _client_setting(1)
    encoder = bfv.BatchEncoder(params)
    plain = encoder.encode([1, 2, 3])
    key = keys[0]
    key.encrypt([plain], seeds[:1], level=2)
    assert key.has_used(seeds[0]) and not key.has_used(seeds[1])
    with pytest.raises(ProtocolError, match="already encrypted"):
        key.encrypt([plain, plain], seeds, level=2)
    assert not key.has_used(seeds[1])  # refused as a whole: nothing was encrypted
    with pytest.raises(ProtocolError, match="already encrypted"):
        key.encrypt([plain, plain], [seeds[1], seeds[1]], level=2)
    with pytest.raises(ParameterError, match="one seed per plaintext"):
        key.encrypt([plain], seeds, level=2)
    with pytest.raises(ParameterError, match="Plaintext"):
        key.encrypt([[1, 2]], seeds[1:], level=2)  # type: ignore[list-item]
    with pytest.raises(ParameterError, match="32 bytes"):
        mp.expand_common_a(params, [b"short"], 2)
    with pytest.raises(ParameterError, match="at least one seed"):
        mp.expand_common_a(params, [], 2)


def test_client_noise_bound_and_its_errors() -> None:
    params = insecure(SMALL)
    one = mp.client_noise_bound(params)
    assert one == pytest.approx(6 * (3.19**2 + 1 / 12) ** 0.5)
    assert mp.client_noise_bound(params, summands=100, level=2) == pytest.approx(10 * one)
    # No e*u term: far below the public-key noise of one encryption under one key.
    assert one < mp.noise_bound(params, parties=1) / 10
    for bad in (0, True, 1.5):
        with pytest.raises(ParameterError, match="summands"):
            mp.client_noise_bound(params, summands=bad)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="level"):
        mp.client_noise_bound(params, level=9)


def test_common_a_decryption_share_errors() -> None:
    params, keys, seeds = _client_setting(1)
    a = mp.expand_common_a(params, seeds, 2)
    share = keys[0].secret.power_ntt(1, 2)
    other = keys[0].secret.power_ntt(1, 3)
    with pytest.raises(KeyMismatchError, match="ring of a"):
        mp.common_a_decryption_share(a, other, smudging_bits=10)
    with pytest.raises(ParameterError, match="smudging_bits"):
        mp.common_a_decryption_share(a, share, smudging_bits=60)
    with pytest.raises(ParameterError, match="smudging_bits must be an integer"):
        mp.common_a_decryption_share(a, share, smudging_bits=True)
    with pytest.raises(ParameterError, match="flat batch"):
        mp.common_a_decryption_share(a.ring.stack([a]), share, smudging_bits=10)
    with pytest.raises(ParameterError, match="RingElements"):
        mp.common_a_decryption_share(a, None, smudging_bits=10)  # type: ignore[arg-type]
    single = mp.common_a_decryption_share(a[0], share, smudging_bits=10)
    assert single.shape == () and not single.is_ntt
    with pytest.raises(ParameterError, match="no decryption shares"):
        mp.combine_common_a_decryption(params, single, [])
    with pytest.raises(ParameterError, match="coefficient-form"):
        mp.combine_common_a_decryption(params, single, [a[0]])
    with pytest.raises(ParameterError, match="c0 is one"):
        mp.combine_common_a_decryption(params, a[0], [single])


def test_common_a_shares_carry_smudging_of_the_requested_width() -> None:
    params, keys, seeds = _client_setting(1)
    a = mp.expand_common_a(params, seeds, 2)
    share = keys[0].secret.power_ntt(1, 2)
    d = mp.common_a_decryption_share(a, share, smudging_bits=40, rng=KeyedPRNG.from_int(5))
    modulus = params.q_modulus_at(2)
    for k in range(2):  # d - s a is the smudging noise: uniform in [-2^40, 2^40)
        noise = (d[k] - (a[k] * share).intt()).to_ints()
        centered = [int(v) - modulus if int(v) > modulus // 2 else int(v) for v in noise]
        assert min(centered) >= -(2**40) and max(centered) < 2**40
        assert max(abs(v) for v in centered) > 2**39  # not zero, not narrow


def test_client_key_from_secret_keeps_the_used_seeds() -> None:
    params, keys, seeds = _client_setting(1)
    key = keys[0]
    plain = bfv.BatchEncoder(params).encode([1])
    key.encrypt([plain], seeds[:1], level=2)
    assert key.used_seeds == {seeds[0]}
    again = mp.ClientKey.from_secret(key.secret, used_seeds=key.used_seeds)
    assert again.key_id == key.key_id and again.params == params
    with pytest.raises(ProtocolError, match="already encrypted"):
        again.encrypt([plain], seeds[:1], level=2)
    # A fresh seed works, and encrypts under the same secret as the original key.
    a = mp.expand_common_a(params, seeds[1:], 2)
    c0 = again.encrypt([plain], seeds[1:], level=2, rng=KeyedPRNG.from_int(1))
    s = key.secret.power_ntt(1, 2)
    decrypted = round_to_plaintext(params, c0[0] + (a[0] * s).intt())
    assert bfv.BatchEncoder(params).decode(decrypted)[0] == 1
    with pytest.raises(ParameterError, match=r"bfv\.SecretKey"):
        mp.ClientKey.from_secret(key)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="exactly 32 bytes"):
        mp.ClientKey.from_secret(key.secret, used_seeds=[bytes(31)])
    with pytest.raises(ParameterError, match="appears twice"):
        mp.ClientKey.from_secret(key.secret, used_seeds=[bytes(32), bytes(32)])


def test_threshold_shares_round_trip_and_still_decrypt(setting) -> None:
    """A decryptor's Shamir share of the collective secret is stored (secret only on request),
    validated on load, bound to its key set, and decrypts after the round trip."""
    params, _, keys, public = setting
    indices, threshold = [1, 2, 3], 2
    dealt = [k.threshold_shares(threshold, indices) for k in keys]
    shares = {
        j: mp.combine_threshold_shares(params, public.key_id, j, threshold, [d[j] for d in dealt])
        for j in indices
    }
    with pytest.raises(ParameterError, match="include_secret"):
        bfv_io.dumps(shares[1])
    loaded = {}
    for j in indices:
        text = bfv_io.dumps(shares[j], include_secret=True)
        loaded[j] = bfv_io.loads(text, context=public)
        blob = bfv_io.dump_bytes(shares[j], include_secret=True)
        again = bfv_io.load_bytes(blob, context=params)
        assert isinstance(again, mp.ThresholdShare) and again.index == j
        assert again.value == shares[j].value and again.key_id == public.key_id
    encoder = bfv.BatchEncoder(params)
    x = _values(params, 30)
    ct = bfv.Encryptor(public).encrypt(encoder.encode(x), rng=KeyedPRNG.from_int(31))
    rng = KeyedPRNG.from_int(32)
    active = (1, 3)
    parts = [
        mp.decryption_share(ct, loaded[j].additive_share(active), smudging_bits=30, rng=rng)
        for j in active
    ]
    assert np.array_equal(encoder.decode(mp.combine_decryption(ct, parts), signed=False), x)

    document = json.loads(bfv_io.dumps(shares[2], include_secret=True))
    with pytest.raises(ParameterError, match="parameters"):
        bfv_io.loads(json.dumps(document))  # no context
    other = mp.aggregate_public_key(
        params, bytes(32), [k.public_key_share() for k in keys]
    )  # another common reference: another key set
    with pytest.raises(KeyMismatchError, match="key set"):
        bfv_io.loads(json.dumps(document), context=other)
    for member, value in (("index", 0), ("threshold", 0), ("key_id", "zz" * 16)):
        bad = dict(document, **{member: value})
        with pytest.raises(SerializationError):
            bfv_io.loads(json.dumps(bad), context=params)
    raw = bytearray(b64url_decode(document["value"]))
    raw[0:4] = (2**32 - 1).to_bytes(4, "little")  # a residue above its prime
    with pytest.raises(SerializationError, match="not below its prime"):
        bfv_io.loads(json.dumps(dict(document, value=b64url_encode(bytes(raw)))), context=params)
