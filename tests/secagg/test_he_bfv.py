"""Batched multiparty-BFV aggregation: exact sums under client and decryptor dropout.

Oracle: the plaintext sum of the survivors' vectors (numpy int64).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from heprim.bfv.multiparty import SMUDGING_SECURITY_FLOOR
from heprim.errors import InsecureParametersWarning, ParameterError, ProtocolError
from heprim.math.prng import KeyedPRNG
from heprim.net.simulate import DropoutSchedule, simulate_he
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.he_aggregation import HESessionConfig
from heprim.secagg.he_bfv import BFVAggregationServer, BFVDeployment, aggregation_parameters
from heprim.secagg.he_messages import (
    BFVEncryptedInput,
    HERound,
    PolyBlock,
    pack_residues,
    unpack_residues,
)
from heprim.secagg.messages import SERVER, decode, encode

ENCODING = VectorEncoding.integers(0, 65535)
CLIENTS = 12
DECRYPTORS = (101, 102, 103, 104, 105)


def _params(clients: int = CLIENTS):  # N = 1024: fast; the protocol does not depend on N
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return aggregation_parameters(
            ENCODING.modulus_bits(clients), degree=1024, allow_insecure=True
        )


@pytest.fixture(scope="module")
def deployment() -> BFVDeployment:
    return BFVDeployment.generate(
        DECRYPTORS, 3, _params(), max_contributors=CLIENTS, rng=KeyedPRNG.from_int(1)
    )


def _inputs(dim: int, seed: int) -> dict[int, np.ndarray]:
    rng = KeyedPRNG.from_int(seed)
    return {
        u: (np.frombuffer(rng.random_bytes(8 * dim), dtype="<u8") % 65536).astype(np.int64)
        for u in range(1, CLIENTS + 1)
    }


def test_parameters_hold_the_sum() -> None:
    params = aggregation_parameters(23)
    t = params.plain_modulus
    assert t >= 1 << 23 and t % 8192 == 1 and params.batching
    assert params.security_level == 128 and not params.p
    # Three 30-bit primes for the upload and a 16-bit one the modulus switch divides away:
    # 106 bits, under the 109 the HE standard allows at N = 4096.
    assert [q.bit_length() for q in params.q] == [30, 30, 30, 16]
    assert sum(q.bit_length() for q in params.q) <= 109
    # Independent check by trial division: the candidates = 1 mod 8192 from 2^23 on are
    # 8388609 and 8396801 (composite) and 8404993 (prime: no factor up to its square root).
    assert t == 8404993
    assert all(t % p for p in range(2, 2900))
    for smaller in (8388609, 8396801):
        assert any(smaller % p == 0 for p in range(2, 2900))
    with pytest.raises(ParameterError, match="sum_bits"):
        aggregation_parameters(29)


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_exact_under_random_client_dropout(deployment: BFVDeployment, seed: int) -> None:
    dim = 2500  # three ciphertexts of 1024 slots: a vector split across several
    inputs = _inputs(dim, seed)
    rng = KeyedPRNG.from_int(seed)
    dropouts = DropoutSchedule.random(list(inputs), 0.3, HERound.INPUT, rng)
    result = simulate_he(inputs, ENCODING, deployment, dropouts=dropouts, rng=rng)
    assert result.abort_reason is None and result.aggregate is not None
    survivors = set(inputs) - dropouts.dropped_by(HERound.INPUT)
    assert result.survivors == survivors
    expected = sum(inputs[u] for u in survivors)
    assert np.array_equal(result.aggregate.sum, expected)
    assert result.protocol == "bfv"
    # Upload: 3 ciphertexts x 2 polys x 3 limbs x 1024 residues of 30 bits (+ headers).
    assert deployment.upload_level == 3
    upload = result.client_costs[min(survivors)].rounds[HERound.INPUT].bytes_sent
    assert 3 * 2 * 3 * 1024 * 30 // 8 <= upload < 3 * 2 * 3 * 1024 * 30 // 8 + 100


@pytest.mark.parametrize("silent", [0, 1, 2])
def test_decryptor_dropout_down_to_t(deployment: BFVDeployment, silent: int) -> None:
    inputs = _inputs(300, 5)
    dropouts = DropoutSchedule({HERound.DECRYPT: frozenset(DECRYPTORS[:silent])})
    result = simulate_he(inputs, ENCODING, deployment, dropouts=dropouts, rng=KeyedPRNG.from_int(6))
    assert result.abort_reason is None, result.abort_reason
    assert np.array_equal(result.aggregate.sum, sum(inputs.values()))


def test_t_minus_1_decryptors_abort(deployment: BFVDeployment) -> None:
    inputs = _inputs(50, 7)
    dropouts = DropoutSchedule({HERound.DECRYPT: frozenset(DECRYPTORS[:3])})
    result = simulate_he(inputs, ENCODING, deployment, dropouts=dropouts, rng=KeyedPRNG.from_int(8))
    assert result.aggregate is None
    assert "only 2 decryptors are online, fewer than the threshold t = 3" in str(
        result.abort_reason
    )


def test_decryptors_can_be_clients(deployment: BFVDeployment) -> None:
    dep = BFVDeployment.generate(
        [1, 2, 3], 2, _params(), max_contributors=CLIENTS, rng=KeyedPRNG.from_int(9)
    )
    inputs = _inputs(100, 10)
    result = simulate_he(inputs, ENCODING, dep, rng=KeyedPRNG.from_int(11))
    assert np.array_equal(result.aggregate.sum, sum(inputs.values()))


def test_weighted_float_encoding() -> None:
    encoding = VectorEncoding.floats(-1.0, 1.0, 8, max_weight=16)
    dep = BFVDeployment.generate([50, 51], 2, _params_for(encoding), rng=KeyedPRNG.from_int(12))
    values = {u: np.full(40, 0.5 * (-1) ** u) for u in range(1, 5)}
    weights = {u: u for u in values}
    result = simulate_he(values, encoding, dep, weights=weights, rng=KeyedPRNG.from_int(13))
    assert result.aggregate is not None and result.aggregate.weight == 10
    expected = sum(weights[u] * values[u] for u in values) / 10
    assert np.allclose(result.aggregate.mean(), expected, atol=2 / 255)


def _params_for(encoding: VectorEncoding):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return aggregation_parameters(
            encoding.modulus_bits(CLIENTS), degree=1024, allow_insecure=True
        )


def test_too_few_inputs_abort(deployment: BFVDeployment) -> None:
    inputs = _inputs(10, 14)
    dropouts = DropoutSchedule({HERound.INPUT: frozenset(range(2, CLIENTS + 1))})
    result = simulate_he(inputs, ENCODING, deployment, dropouts=dropouts)
    assert result.aggregate is None and "min_contributors" in str(result.abort_reason)


def test_plain_modulus_too_small_is_refused() -> None:
    small = _params(2)
    dep = BFVDeployment.generate([7, 8], 2, small, rng=KeyedPRNG.from_int(15))
    with pytest.raises(ParameterError, match="cannot hold the sum"):
        simulate_he(_inputs(10, 16), ENCODING, dep)


def test_smudging_security_is_reported(deployment: BFVDeployment) -> None:
    bits, security = deployment.smudging_security(CLIENTS)
    assert bits > 61 and security >= SMUDGING_SECURITY_FLOOR  # wider than int64: exact words
    assert deployment.upload_bytes_per_value() == 2 * 3 * 30 / 8
    # Fewer contributors, less noise: never less secure than the participants' worst case.
    assert deployment.smudging_security(2)[1] >= security


def test_server_and_party_refuse_what_does_not_belong(deployment: BFVDeployment) -> None:
    config = HESessionConfig.create(
        list(range(1, 4)),
        8,
        ENCODING,
        decryptors=deployment.decryptors,
        threshold=3,
        rng=KeyedPRNG.from_int(17),
    )
    server = deployment.server(config)
    setups = server.start()
    client = deployment.party(1, rng=KeyedPRNG.from_int(18))
    client.set_input(np.arange(8))
    (upload,) = client.handle(decode(encode(setups[0])))
    assert isinstance(upload, BFVEncryptedInput)
    # A block of the wrong shape, then a residue above its prime.
    bad_shape = BFVEncryptedInput(
        config.session, 2, SERVER, PolyBlock(upload.ciphertexts.residues[:, :1])
    )
    with pytest.raises(ProtocolError, match="shape"):
        server.handle(bad_shape)
    residues = np.array(upload.ciphertexts.residues)
    residues[0, 0, 0, 0] = (1 << 30) - 1
    with pytest.raises(ProtocolError, match="above its prime"):
        server.handle(BFVEncryptedInput(config.session, 2, SERVER, PolyBlock(residues)))
    server.handle(upload)
    with pytest.raises(ProtocolError, match="replayed"):
        server.handle(upload)
    # A client given a setup for another key refuses to encrypt.
    other = BFVDeployment.generate(
        DECRYPTORS, 3, _params(), max_contributors=CLIENTS, rng=KeyedPRNG.from_int(19)
    )
    stranger = other.party(2)
    stranger.set_input(np.arange(8))
    with pytest.raises(ProtocolError, match="another key"):
        stranger.handle(dataclasses.replace(setups[1]))
    with pytest.raises(ParameterError, match="not a share of this key"):
        BFVDeployment(deployment.public, dict(other.shares), 5, 3)


def test_residue_packing_round_trips() -> None:
    rng = KeyedPRNG.from_int(20)
    values = np.frombuffer(rng.random_bytes(8 * 1000), dtype="<u8") >> np.uint64(34)
    packed = pack_residues(values, 30)
    assert len(packed) == 1000 * 30 // 8
    assert np.array_equal(unpack_residues(packed, 1000, 30), values)
    from heprim.errors import SerializationError

    with pytest.raises(SerializationError, match="does not fit"):
        pack_residues(values, 29 if int(values.max()) >> 29 else 1)
    with pytest.raises(SerializationError, match="wrong length"):
        unpack_residues(packed[:-1], 1000, 30)


# --------------------------------------------------------------------- the smudging floor


def test_the_default_parameters_meet_the_floor_and_aggregate_exactly() -> None:
    """N = 4096 and the default modulus: 100 clients at 3 primes reach lambda >= 40, 1000 need
    the fourth prime; a session of 10 of them sums exactly."""
    encoding = ENCODING
    params = aggregation_parameters(encoding.modulus_bits(100))
    assert params.degree == 4096 and params.security_level == 128
    dep = BFVDeployment.generate(
        [201, 202, 203, 204, 205], 3, params, max_contributors=100, rng=KeyedPRNG.from_int(40)
    )
    bits, security = dep.smudging_security(100)
    assert dep.upload_level == 3 and security >= SMUDGING_SECURITY_FLOOR
    assert dep.upload_bytes_per_value() / 4 == 5.625  # against a float32
    # Independent arithmetic for lambda = b + 1 - log2(N B): the margin and b agree.
    room = params.q_modulus_at(3) // (3 * params.plain_modulus)
    assert 3 * 2**bits < room <= 3 * 2 ** (bits + 2)
    big = aggregation_parameters(encoding.modulus_bits(1000))
    wide = BFVDeployment.generate([1, 2, 3, 4, 5], 3, big, max_contributors=1000)
    assert wide.upload_level == 4 and wide.smudging_security(1000)[1] >= SMUDGING_SECURITY_FLOOR
    # Without a stated maximum, every prime is kept: the safest default.
    assert BFVDeployment.generate([1, 2, 3], 2, params).upload_level == 4
    rng = KeyedPRNG.from_int(41)
    inputs = {
        u: (np.frombuffer(rng.random_bytes(8 * 50), dtype="<u8") % 65536).astype(np.int64)
        for u in range(1, 11)
    }
    result = simulate_he(inputs, encoding, dep, rng=rng)
    assert result.abort_reason is None and np.array_equal(
        result.aggregate.sum, sum(inputs.values())
    )


def test_generate_refuses_smudging_below_the_floor() -> None:
    params = aggregation_parameters(ENCODING.modulus_bits(100))
    with pytest.raises(ParameterError, match=r"lambda = 11\.\d bits, below the floor of 40"):
        BFVDeployment.generate([1, 2, 3, 4, 5], 3, params, upload_level=2, max_contributors=100)
    with pytest.raises(ParameterError, match="try upload_level=3"):
        BFVDeployment.generate([1, 2, 3, 4, 5], 3, params, upload_level=2, max_contributors=100)
    # Direct construction checks too (the most favourable sum when no maximum is given).
    dep = BFVDeployment.generate([1, 2, 3], 2, params, rng=KeyedPRNG.from_int(42))
    with pytest.raises(ParameterError, match="smudging security"):
        BFVDeployment(dep.public, dict(dep.shares), 3, 2)
    with pytest.raises(ParameterError, match="max_contributors"):
        BFVDeployment(dep.public, dict(dep.shares), 3, 3, max_contributors=0)


def test_the_4x_float32_opt_in_warns_and_still_aggregates_exactly() -> None:
    params = _params()
    with pytest.warns(InsecureParametersWarning, match=r"lambda = \d+\.\d bits"):
        dep = BFVDeployment.generate(
            DECRYPTORS,
            3,
            params,
            upload_level=2,
            max_contributors=CLIENTS,
            allow_insecure=True,
            rng=KeyedPRNG.from_int(43),
        )
    assert dep.allow_insecure and dep.upload_level == 2
    assert dep.smudging_security(CLIENTS)[1] < SMUDGING_SECURITY_FLOOR
    assert dep.upload_bytes_per_value() / 4 == 3.75  # two 30-bit residues per polynomial
    inputs = _inputs(300, 44)
    with pytest.warns(InsecureParametersWarning):  # the server warns for its session
        result = simulate_he(inputs, ENCODING, dep, rng=KeyedPRNG.from_int(45))
    assert np.array_equal(result.aggregate.sum, sum(inputs.values()))


def _weak_setup():
    """A server that opted in to 2-prime smudging, and its setup messages."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        weak = BFVDeployment.generate(
            DECRYPTORS,
            3,
            _params(),
            upload_level=2,
            max_contributors=CLIENTS,
            allow_insecure=True,
            rng=KeyedPRNG.from_int(46),
        )
        config = HESessionConfig.create(
            list(range(1, CLIENTS + 1)),
            8,
            ENCODING,
            decryptors=weak.decryptors,
            threshold=3,
            rng=KeyedPRNG.from_int(47),
        )
        return weak, config, weak.server(config).start()


def test_a_decryptor_refuses_a_setup_below_its_floor() -> None:
    weak, _, setups = _weak_setup()
    by_party = {m.recipient: m for m in setups}
    # The same key and shares, but this decryptor's own deployment did not opt in.
    strict = dataclasses.replace(weak, upload_level=3, allow_insecure=False)
    decryptor = strict.party(DECRYPTORS[0], rng=KeyedPRNG.from_int(48))
    with pytest.raises(ProtocolError, match=r"decryptor 101 refuses the setup.*lambda = "):
        decryptor.handle(by_party[DECRYPTORS[0]])
    # A plain client has nothing to protect by the floor: it encrypts.
    client = strict.party(1, rng=KeyedPRNG.from_int(49))
    client.set_input(np.arange(8))
    assert len(client.handle(by_party[1])) == 1
    # The opted-in decryptor accepts the same setup.
    with pytest.warns(InsecureParametersWarning):
        assert weak.party(DECRYPTORS[0]).handle(by_party[DECRYPTORS[0]]) == []


def test_the_server_refuses_a_session_below_the_floor(deployment: BFVDeployment) -> None:
    config = HESessionConfig.create(
        list(range(1, CLIENTS + 1)),
        8,
        ENCODING,
        decryptors=deployment.decryptors,
        threshold=3,
        rng=KeyedPRNG.from_int(50),
    )
    with pytest.raises(ParameterError, match=f"a sum of {CLIENTS} inputs at 2 primes"):
        BFVAggregationServer(config, deployment.public, parties=5, upload_level=2)
    with pytest.warns(InsecureParametersWarning):
        BFVAggregationServer(
            config, deployment.public, parties=5, upload_level=2, allow_insecure=True
        )
