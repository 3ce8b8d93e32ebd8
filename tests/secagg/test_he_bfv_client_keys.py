"""Multiparty-BFV aggregation with client keys: one polynomial per upload, exact sums.

Oracles: the plaintext sum of the survivors' vectors (numpy int64), and for one chunk the
decryption equation ``round(t/Q_l (sum c0 + a sum s_j)) = sum m`` computed with Python integers
from the clients' secrets (which the test may read, as it plays every party).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from heprim.bfv import multiparty
from heprim.bfv.encoder import BatchEncoder
from heprim.errors import (
    InsecureParametersWarning,
    NoiseBudgetExhausted,
    ParameterError,
    ProtocolError,
)
from heprim.math.prng import KeyedPRNG
from heprim.net.simulate import DropoutSchedule, simulate_he
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.he_aggregation import HESessionConfig
from heprim.secagg.he_bfv import aggregation_parameters
from heprim.secagg.he_bfv_client_keys import (
    ClientKeyDeployment,
    ClientKeyParty,
    ClientKeyServer,
    DecryptorKeyShares,
    chunk_seed,
)
from heprim.secagg.he_messages import (
    BFVClientKeyDecryptRequest,
    BFVDecryptionShare,
    BFVDecryptReady,
    BFVEncryptedInput,
    BFVShareRequest,
    HERound,
    PolyBlock,
)
from heprim.secagg.messages import SERVER, Message, decode, encode

ENCODING = VectorEncoding.integers(0, 65535)
CLIENTS = 12
DECRYPTORS = (101, 102, 103, 104, 105)


def _params(clients: int = CLIENTS, degree: int = 1024):  # small N: fast, insecure on purpose
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        return aggregation_parameters(
            ENCODING.modulus_bits(clients), degree=degree, allow_insecure=True
        )


def _deploy(seed: int, clients: int = CLIENTS, **kwargs: object) -> ClientKeyDeployment:
    return ClientKeyDeployment.generate(
        range(1, clients + 1), DECRYPTORS, 3, _params(), rng=KeyedPRNG.from_int(seed), **kwargs
    )


@pytest.fixture(scope="module")
def deployment() -> ClientKeyDeployment:
    return _deploy(1)


def _inputs(dim: int, seed: int, clients: int = CLIENTS) -> dict[int, np.ndarray]:
    rng = KeyedPRNG.from_int(seed)
    return {
        u: (np.frombuffer(rng.random_bytes(8 * dim), dtype="<u8") % 65536).astype(np.int64)
        for u in range(1, clients + 1)
    }


def _config(dep: ClientKeyDeployment, seed: int, participants=None, dim: int = 8, **kw):
    return HESessionConfig.create(
        list(participants or range(1, CLIENTS + 1)),
        dim,
        ENCODING,
        decryptors=dep.decryptors,
        threshold=dep.threshold,
        rng=KeyedPRNG.from_int(seed),
        **kw,
    )


def _uploads(dep, config, setups, values) -> list[Message]:
    by_party = {m.recipient: m for m in setups}
    out: list[Message] = []
    for u, v in values.items():
        party = dep.party(u, rng=KeyedPRNG.from_int(1000 + u))
        party.set_input(v)
        out.extend(party.handle(decode(encode(by_party[u]))))
    return out


# --------------------------------------------------------------------- exact sums


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_exact_under_random_client_dropout(deployment: ClientKeyDeployment, seed: int) -> None:
    dim = 2500  # three ciphertexts of 1024 slots: a vector split across several
    inputs = _inputs(dim, seed)
    rng = KeyedPRNG.from_int(seed)
    dropouts = DropoutSchedule.random(list(inputs), 0.3, HERound.INPUT, rng)
    result = simulate_he(inputs, ENCODING, deployment, dropouts=dropouts, rng=rng)
    assert result.abort_reason is None and result.aggregate is not None
    survivors = set(inputs) - dropouts.dropped_by(HERound.INPUT)
    assert result.survivors == survivors
    assert np.array_equal(result.aggregate.sum, sum(inputs[u] for u in survivors))
    assert result.protocol == "bfv-client-keys"
    # ONE polynomial per ciphertext: 3 ciphertexts x 3 limbs x 1024 residues of 30 bits.
    assert deployment.upload_level == 3
    upload = result.client_costs[min(survivors)].rounds[HERound.INPUT].bytes_sent
    assert 3 * 3 * 1024 * 30 // 8 <= upload < 3 * 3 * 1024 * 30 // 8 + 100


@pytest.mark.parametrize("silent", [0, 1, 2])
def test_decryptor_dropout_down_to_t(deployment: ClientKeyDeployment, silent: int) -> None:
    inputs = _inputs(300, 5)
    dropouts = DropoutSchedule({HERound.DECRYPT: frozenset(DECRYPTORS[:silent])})
    # A fresh session id each time: the deployment's client keys remember the ones they used.
    rng = KeyedPRNG.from_int(600 + silent)
    result = simulate_he(inputs, ENCODING, deployment, dropouts=dropouts, rng=rng)
    assert result.abort_reason is None, result.abort_reason
    assert np.array_equal(result.aggregate.sum, sum(inputs.values()))


def test_t_minus_1_decryptors_abort(deployment: ClientKeyDeployment) -> None:
    inputs = _inputs(50, 7)
    dropouts = DropoutSchedule({HERound.DECRYPT: frozenset(DECRYPTORS[:3])})
    result = simulate_he(inputs, ENCODING, deployment, dropouts=dropouts, rng=KeyedPRNG.from_int(8))
    assert result.aggregate is None
    assert "only 2 decryptors are online, fewer than the threshold t = 3" in str(
        result.abort_reason
    )


def test_t_minus_1_shares_do_not_decrypt() -> None:
    """Two of three additive shares, even with the Lagrange coefficients of the pair, open
    nothing; a share store refuses an active set of the wrong size."""
    dep = _deploy(60, clients=3)
    params, level = dep.params, dep.upload_level
    encoder = BatchEncoder(params)
    x = [np.arange(params.degree) % 1000 + j for j in range(1, 4)]
    seeds = [KeyedPRNG.from_int(61).random_bytes(32)]
    c0 = None
    for j in (1, 2, 3):
        up = dep.keys[j].encrypt([encoder.encode(x[j - 1])], seeds, level=level)[0]
        c0 = up if c0 is None else c0 + up
    a = multiparty.expand_common_a(params, seeds, level)[0]
    stores = {dep.shares[p].index: dep.shares[p] for p in DECRYPTORS}
    with pytest.raises(ProtocolError, match="exactly t = 3"):
        stores[1].additive_share([1, 2, 3], [1, 2])

    def by_hand(i: int, active: list[int]):  # lambda_i^T sum_j share_i(s_j), any |T|
        ring = a.ring
        total = ring.zero(ntt=True)
        for j in (1, 2, 3):
            total = total + stores[i]._shares[j]
        scalars = [multiparty.lagrange_at_zero(i, active, q) for q in ring.moduli]
        rows = [
            total.data[r] * s % q for r, (s, q) in enumerate(zip(scalars, ring.moduli, strict=True))
        ]
        return ring.from_array(np.stack(rows), ntt=True)

    def open_with(active: list[int]):
        parts = [
            multiparty.common_a_decryption_share(a, by_hand(i, active), smudging_bits=40)
            for i in active
        ]
        return multiparty.combine_common_a_decryption(params, c0, parts)

    assert np.array_equal(encoder.decode(open_with([1, 4, 5]), signed=False), sum(x))
    assert by_hand(2, [1, 2, 4]) == stores[2].additive_share([1, 2, 3], [1, 2, 4])
    try:
        wrong = encoder.decode(open_with([2, 3]), signed=False)
    except NoiseBudgetExhausted:  # the rounding sees garbage
        return
    assert not np.array_equal(wrong, sum(x))


def test_decryptors_can_be_clients() -> None:
    dep = ClientKeyDeployment.generate(
        range(1, 6), [1, 2, 3], 2, _params(), rng=KeyedPRNG.from_int(9)
    )
    inputs = _inputs(100, 10, clients=5)
    result = simulate_he(inputs, ENCODING, dep, rng=KeyedPRNG.from_int(11))
    assert np.array_equal(result.aggregate.sum, sum(inputs.values()))


def test_weighted_float_encoding() -> None:
    encoding = VectorEncoding.floats(-1.0, 1.0, 8, max_weight=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        params = aggregation_parameters(encoding.modulus_bits(4), degree=1024, allow_insecure=True)
    dep = ClientKeyDeployment.generate(range(1, 5), [50, 51], 2, params, rng=KeyedPRNG.from_int(12))
    values = {u: np.full(40, 0.5 * (-1) ** u) for u in range(1, 5)}
    weights = {u: u for u in values}
    result = simulate_he(values, encoding, dep, weights=weights, rng=KeyedPRNG.from_int(13))
    assert result.aggregate is not None and result.aggregate.weight == 10
    expected = sum(weights[u] * values[u] for u in values) / 10
    assert np.allclose(result.aggregate.mean(), expected, atol=2 / 255)


def test_too_few_inputs_abort(deployment: ClientKeyDeployment) -> None:
    inputs = _inputs(10, 14)
    dropouts = DropoutSchedule({HERound.INPUT: frozenset(range(2, CLIENTS + 1))})
    result = simulate_he(inputs, ENCODING, deployment, dropouts=dropouts)
    assert result.aggregate is None and "min_contributors" in str(result.abort_reason)


# --------------------------------------------------------------------- an independent check


def _negacyclic(a: list[int], s: list[int], modulus: int) -> list[int]:
    n = len(a)
    out = [0] * n
    for i, ai in enumerate(a):
        if ai:
            for j, sj in enumerate(s):
                if sj:
                    k = i + j
                    if k < n:
                        out[k] += ai * sj
                    else:
                        out[k - n] -= ai * sj
    return [v % modulus for v in out]


def _crt(residues: np.ndarray, moduli: tuple[int, ...]) -> list[int]:
    modulus = 1
    for q in moduli:
        modulus *= q
    values = [0] * residues.shape[1]
    for limb, q in enumerate(moduli):
        rest = modulus // q
        factor = rest * pow(rest, -1, q)
        for i, r in enumerate(residues[limb]):
            values[i] += int(r) * factor
    return [v % modulus for v in values]


def test_one_chunk_decrypts_by_hand_with_python_integers() -> None:
    """``round(t/Q_l (sum c0_j + a sum s_j)) mod t`` is the sum of the encoded plaintexts."""
    params = _params(3, degree=256)
    dep = ClientKeyDeployment.generate(
        range(1, 4), DECRYPTORS, 3, params, rng=KeyedPRNG.from_int(70)
    )
    config = _config(dep, 71, participants=[1, 2, 3], dim=300)  # two chunks of 256 slots
    values = _inputs(300, 72, clients=3)
    uploads = _uploads(dep, config, dep.server(config).start(), values)
    level = dep.upload_level
    moduli = params.q[:level]
    modulus = params.q_modulus_at(level)
    t = params.plain_modulus
    c0 = [0] * params.degree
    for m in uploads:
        assert isinstance(m, BFVEncryptedInput) and m.ciphertexts.shape == (2, 1, level, 256)
        for i, v in enumerate(_crt(m.ciphertexts.residues[0, 0], moduli)):
            c0[i] += v
    seed = chunk_seed(dep.deployment_id, config.session, 0)
    a = multiparty.expand_common_a(params, [seed], level)[0].intt().to_ints()
    s_sum = [0] * params.degree
    for u in (1, 2, 3):
        for i, c in enumerate(dep.keys[u].secret.coefficients):
            s_sum[i] += int(c)
    a_s = _negacyclic([int(v) for v in a], s_sum, modulus)
    x = [(c + p) % modulus for c, p in zip(c0, a_s, strict=True)]
    plain = [((t * v + modulus // 2) // modulus) % t for v in x]
    encoder = BatchEncoder(params)
    expected = np.zeros(params.degree, dtype=np.int64)
    for u in (1, 2, 3):
        expected += encoder.encode(values[u][:256]).coefficients.astype(np.int64)
    assert plain == [int(v) for v in expected % t]


# --------------------------------------------------------------------- refusals


def test_a_client_refuses_a_reused_session_id(deployment: ClientKeyDeployment) -> None:
    config = _config(deployment, 20)
    setups = deployment.server(config).start()
    first = _uploads(deployment, config, setups, {1: np.arange(8)})
    assert len(first) == 1
    again = deployment.party(1)
    again.set_input(np.arange(8) + 1)
    with pytest.raises(ProtocolError, match="already encrypted under this session id"):
        again.handle(next(m for m in setups if m.recipient == 1))
    # The raw key refuses too, and a new session is fine.
    key = deployment.keys[1]
    seed = chunk_seed(deployment.deployment_id, config.session, 0)
    plain = BatchEncoder(deployment.params).encode([1])
    with pytest.raises(ProtocolError, match="already encrypted"):
        key.encrypt([plain], [seed], level=deployment.upload_level)
    fresh = deployment.server(_config(deployment, 21)).start()
    assert len(_uploads(deployment, config, fresh, {1: np.arange(8)})) == 1


def _to_requests(dep, seed: int, contributors=(1, 2, 3)):
    """A session up to the decrypt requests; the server and the messages to the decryptors."""
    config = _config(dep, seed, participants=list(range(1, CLIENTS + 1)))
    server = dep.server(config)
    setups = server.start()
    values = {u: np.arange(8) * u for u in contributors}
    for m in _uploads(dep, config, setups, values):
        server.handle(decode(encode(m)))
    requests = server.close_round()
    assert all(isinstance(m, BFVClientKeyDecryptRequest) for m in requests)
    return config, server, setups, requests


def test_a_decryptor_answers_one_request_per_session_id() -> None:
    dep = _deploy(22)
    config, server, setups, requests = _to_requests(dep, 23)
    setup = next(m for m in setups if m.recipient == DECRYPTORS[0])
    request = next(m for m in requests if m.recipient == DECRYPTORS[0])
    first, second = dep.party(DECRYPTORS[0]), dep.party(DECRYPTORS[0])
    assert first.handle(setup) == [] and second.handle(setup) == []
    (ready,) = first.handle(decode(encode(request)))
    assert isinstance(ready, BFVDecryptReady)
    # The server asks again for a smaller sum of the same session: refused, whatever the set.
    smaller = BFVClientKeyDecryptRequest(config.session, SERVER, DECRYPTORS[0], (1, 2))
    with pytest.raises(ProtocolError, match="already answered"):
        second.handle(smaller)
    with pytest.raises(ProtocolError, match="already answered"):
        dep.party(DECRYPTORS[0]).handle(setup)
    assert dep.shares[DECRYPTORS[0]].answered(config.session)
    # The first answer stands: with the others the session still opens the sum of 1, 2, 3.
    parties = {DECRYPTORS[0]: first}
    out: list[Message] = [ready]
    for p in DECRYPTORS[1:]:
        parties[p] = dep.party(p, rng=KeyedPRNG.from_int(p))
        parties[p].handle(next(m for m in setups if m.recipient == p))
        out += parties[p].handle(next(m for m in requests if m.recipient == p))
    pending: list[Message] = []
    for m in out:
        pending += server.handle(decode(encode(m)))
    assert all(isinstance(m, BFVShareRequest) for m in pending) and len(pending) == 3
    for m in pending:
        for reply in parties[m.recipient].handle(decode(encode(m))):
            server.handle(decode(encode(reply)))
    assert np.array_equal(server.result.sum, np.arange(8) * 6)


def test_a_decryptor_refuses_small_sums_and_strangers(deployment: ClientKeyDeployment) -> None:
    dep = _deploy(24)
    config, _, setups, _ = _to_requests(dep, 25)
    party = dep.party(DECRYPTORS[1])
    party.handle(next(m for m in setups if m.recipient == DECRYPTORS[1]))
    one = BFVClientKeyDecryptRequest(config.session, SERVER, DECRYPTORS[1], (1,))
    with pytest.raises(ProtocolError, match="fewer than 2"):
        party.handle(one)
    assert not dep.shares[DECRYPTORS[1]].answered(config.session)  # refused before claiming
    twice = BFVClientKeyDecryptRequest(config.session, SERVER, DECRYPTORS[1], (1, 1))
    with pytest.raises(ProtocolError, match="repeat"):
        party.handle(twice)
    # A server that names an unregistered client in its session: refused at every level.
    with pytest.raises(ParameterError, match="no registered client key"):
        deployment.server(_config(deployment, 26, participants=[1, 2, 99]))
    stranger = ClientKeyServer(
        _config(deployment, 27, participants=[1, 2, 99]),
        deployment.params,
        deployment.deployment_id,
        clients=frozenset([1, 2, 99]),
        upload_level=deployment.upload_level,
    )
    stranger_setups = stranger.start()
    setup = next(m for m in stranger_setups if m.recipient == DECRYPTORS[0])
    with pytest.raises(ProtocolError, match="not registered clients"):
        deployment.party(DECRYPTORS[0]).handle(setup)
    nobody = deployment.party(99)
    nobody.set_input(np.arange(8))
    with pytest.raises(ProtocolError, match="without a client key"):
        nobody.handle(next(m for m in stranger_setups if m.recipient == 99))


def test_a_party_refuses_another_deployment(deployment: ClientKeyDeployment) -> None:
    other = _deploy(28)
    setups = other.server(_config(other, 29)).start()
    client = deployment.party(1)
    client.set_input(np.arange(8))
    with pytest.raises(ProtocolError, match="another deployment"):
        client.handle(next(m for m in setups if m.recipient == 1))


def test_the_server_rejects_malformed_uploads_and_shares(deployment: ClientKeyDeployment) -> None:
    config = _config(deployment, 30, participants=[1, 2, 3])
    server = deployment.server(config)
    setups = server.start()
    (upload,) = _uploads(deployment, config, setups, {1: np.arange(8)})
    residues = upload.ciphertexts.residues
    two_polys = np.concatenate([residues, residues], axis=1)  # the collective mode's shape
    with pytest.raises(ProtocolError, match="shape"):
        server.handle(BFVEncryptedInput(config.session, 2, SERVER, PolyBlock(two_polys)))
    high = np.array(residues)
    high[0, 0, 1, 5] = deployment.params.q[1]
    with pytest.raises(ProtocolError, match="above its prime"):
        server.handle(BFVEncryptedInput(config.session, 2, SERVER, PolyBlock(high)))
    server.handle(upload)
    with pytest.raises(ProtocolError, match="replayed"):
        server.handle(upload)
    for u in (2, 3):
        (m,) = _uploads(deployment, config, setups, {u: np.arange(8)})
        server.handle(m)
    assert server.stage.name == "COLLECT_READY"
    for p in DECRYPTORS:
        server.handle(BFVDecryptReady(config.session, p, SERVER))
    assert server.stage.name == "COLLECT_SHARES"
    bad = BFVDecryptionShare(config.session, DECRYPTORS[0], SERVER, PolyBlock(two_polys))
    with pytest.raises(ProtocolError, match="shape"):
        server.handle(bad)


def test_decryptor_key_shares_validate() -> None:
    params = _params()
    with pytest.raises(ParameterError, match="share index"):
        DecryptorKeyShares(params, 0, 2, 3, {})
    with pytest.raises(ParameterError, match="not one element"):
        DecryptorKeyShares(params, 1, 2, 3, {1: None})  # type: ignore[dict-item]
    with pytest.raises(ParameterError, match=r"bfv\.Parameters"):
        DecryptorKeyShares(None, 1, 2, 3, {})  # type: ignore[arg-type]
    store = DecryptorKeyShares(params, 1, 2, 3, {})
    with pytest.raises(ProtocolError, match="not registered"):
        store.additive_share([5], [1, 2])


def test_the_deployment_validates_itself(deployment: ClientKeyDeployment) -> None:
    import dataclasses

    with pytest.raises(ParameterError, match="deployment id"):
        dataclasses.replace(deployment, deployment_id=b"x")
    other = _deploy(31, clients=3)
    with pytest.raises(ParameterError, match="other clients"):
        dataclasses.replace(deployment, shares=dict(other.shares))
    with pytest.raises(ParameterError, match="max_contributors"):
        dataclasses.replace(deployment, max_contributors=0)
    with pytest.raises(ParameterError, match="at least one client"):
        ClientKeyDeployment.generate([], DECRYPTORS, 3, _params())
    with pytest.raises(ParameterError, match="each party id once"):
        ClientKeyDeployment.generate([1, 2], [7, 7], 1, _params())
    with pytest.raises(ParameterError, match="threshold"):
        ClientKeyDeployment.generate([1, 2], [7, 8], 3, _params())
    with pytest.raises(ParameterError, match="cannot hold the sum"):
        simulate_he(_inputs(10, 32, clients=3), ENCODING, _deploy_small())


def _deploy_small() -> ClientKeyDeployment:
    return ClientKeyDeployment.generate(
        range(1, 4), [7, 8], 2, _params(2), rng=KeyedPRNG.from_int(33)
    )


def test_request_message_round_trips() -> None:
    m = BFVClientKeyDecryptRequest(b"s" * 16, SERVER, 7, (1, 5, 2**32 - 1))
    back = decode(encode(m))
    assert back == m and isinstance(back, BFVClientKeyDecryptRequest)
    assert BFVClientKeyDecryptRequest.KIND == 38 and m.ROUND is HERound.DECRYPT
    from heprim.errors import SerializationError

    with pytest.raises(SerializationError):
        decode(encode(m)[:-1])


# --------------------------------------------------------------------- the smudging floor


def test_real_parameters_halve_the_upload_at_the_floor() -> None:
    """N = 4096 and the default modulus: 100 (and 1000) clients reach lambda >= 40 at 3 primes
    with ONE polynomial: 2.8x a float32 per slot; a session of 6 clients sums exactly."""
    params = aggregation_parameters(ENCODING.modulus_bits(100))
    dep = ClientKeyDeployment.generate(
        range(1, 7),
        [201, 202, 203, 204, 205],
        3,
        params,
        max_contributors=100,
        rng=KeyedPRNG.from_int(40),
    )
    bits, security = dep.smudging_security(100)
    assert dep.upload_level == 3 and security >= multiparty.SMUDGING_SECURITY_FLOOR
    assert dep.upload_bytes_per_value() / 4 == 90 / 32  # 2.8125x
    assert dep.setup_bytes_per_client() == 5 * 3 * 4096 * 30 // 8  # 230,400 bytes once
    # Independent arithmetic for b: 3 * 2^b fits under Q_3 / (3t) minus the noise.
    room = params.q_modulus_at(3) // (3 * params.plain_modulus)
    assert 3 * 2**bits < room <= 3 * 2 ** (bits + 2)
    assert dep.smudging_security(1000)[1] >= multiparty.SMUDGING_SECURITY_FLOOR
    rng = KeyedPRNG.from_int(41)
    inputs = _inputs(50, 42, clients=6)
    result = simulate_he(inputs, ENCODING, dep, rng=rng)
    assert result.abort_reason is None
    assert np.array_equal(result.aggregate.sum, sum(inputs.values()))


def test_the_floor_is_enforced_and_the_opt_in_warns() -> None:
    params = aggregation_parameters(ENCODING.modulus_bits(100))
    with pytest.raises(ParameterError, match=r"lambda = 14\.\d bits, below the floor of 40"):
        ClientKeyDeployment.generate(
            range(1, 4), [1, 2, 3, 4, 5], 3, params, upload_level=2, max_contributors=100
        )
    with pytest.raises(ParameterError, match="try upload_level=3"):
        ClientKeyDeployment.generate(
            range(1, 4), [1, 2, 3, 4, 5], 3, params, upload_level=2, max_contributors=100
        )
    with pytest.warns(InsecureParametersWarning, match=r"lambda = 1\d\.\d bits"):
        weak = ClientKeyDeployment.generate(
            range(1, 4),
            [1, 2, 3],
            2,
            params,
            upload_level=2,
            allow_insecure=True,
            rng=KeyedPRNG.from_int(43),
        )
    assert weak.allow_insecure and weak.upload_bytes_per_value() / 4 == 1.875
    # The server warns for its session; a decryptor whose deployment did not opt in refuses.
    config = _config(weak, 44, participants=[1, 2, 3])
    with pytest.warns(InsecureParametersWarning):
        setups = weak.server(config).start()
    # The upload level is part of the announced fingerprint: a party at another level refuses.
    elsewhere = ClientKeyParty(1, weak.params, weak.deployment_id, upload_level=3, key=weak.keys[1])
    elsewhere.set_input(np.arange(8))
    with pytest.raises(ProtocolError, match="another deployment"):
        elsewhere.handle(next(m for m in setups if m.recipient == 1))
    # The same keys, but this decryptor's own deployment did not opt in: it refuses.
    decryptor = ClientKeyParty(
        1, weak.params, weak.deployment_id, upload_level=2, shares=weak.shares[1]
    )
    with pytest.raises(ProtocolError, match=r"decryptor 1 refuses the setup.*lambda = "):
        decryptor.handle(next(m for m in setups if m.recipient == 1))
    opted_in = weak.party(1)  # a client and a decryptor: it encrypts and awaits the request
    opted_in.set_input(np.arange(8))
    with pytest.warns(InsecureParametersWarning):
        (upload,) = opted_in.handle(next(m for m in setups if m.recipient == 1))
    assert upload.ciphertexts.shape == (1, 1, 2, 4096)


# --------------------------------------------------------------------- rebuilding after a restart


def test_public_part_and_from_parts(deployment: ClientKeyDeployment) -> None:
    public = deployment.public
    assert public.clients == deployment.clients and dict(public.decryptors) == dict(
        deployment.decryptors
    )
    assert (public.threshold, public.upload_level) == (3, deployment.upload_level)
    keys, shares = dict(deployment.keys), dict(deployment.shares)
    rebuilt = ClientKeyDeployment.from_parts(public, keys, shares)
    assert rebuilt.keys[1] is deployment.keys[1] and rebuilt.public == public
    other = _deploy(2)  # same parameters and parties, another deployment id
    bad: list[tuple[object, object, object, str]] = [
        (public, {j: k for j, k in keys.items() if j != 1}, shares, r"missing \[1\]"),
        (public, keys, {**shares, 999: shares[101]}, r"extra \[999\]"),
        (public, keys, {**shares, 101: shares[102], 102: shares[101]}, "have index"),
        (public, keys, {**shares, 101: other.shares[101]}, "another deployment"),
        (public, {**keys, 1: "key"}, shares, "not a ClientKey"),
        (public, keys, {**shares, 101: "shares"}, "not DecryptorKeyShares"),
        (deployment, keys, shares, "must be a PublicClientKeyDeployment"),
    ]
    for pub, k, s, message in bad:
        with pytest.raises(ParameterError, match=message):
            ClientKeyDeployment.from_parts(pub, k, s)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="not a registered client"):
        public.party(101, key=keys[1])
    with pytest.raises(ParameterError, match="not a decryptor"):
        public.party(1, shares=shares[101])
    assert public.party(101, shares=shares[101]).is_decryptor


def test_public_deployment_refusals(deployment: ClientKeyDeployment) -> None:
    import dataclasses

    public = deployment.public
    bad: list[tuple[dict[str, object], str]] = [
        ({"params": "params"}, "bfv.Parameters"),
        ({"deployment_id": bytes(15)}, "16 bytes"),
        ({"clients": frozenset()}, "at least one client"),
        ({"clients": frozenset({0, 1})}, r"party ids in \[1, 2\^32\)"),
        ({"decryptors": {101: 1, 102: 1}}, "same share index"),
        ({"decryptors": {101: 0, 102: 1}}, "share index must be a positive"),
        ({"threshold": 6}, "exceeds the 5 decryptors"),
        ({"threshold": 0}, "threshold must be a positive"),
        ({"min_contributors": 0}, "min_contributors must be a positive"),
        ({"max_contributors": 0}, "max_contributors must be a positive"),
        ({"allow_insecure": 1}, "True or False"),
        ({"upload_level": 1}, "below the floor"),
    ]
    for change, message in bad:
        with pytest.raises(ParameterError, match=message):
            dataclasses.replace(public, **change)  # type: ignore[arg-type]
    with pytest.warns(InsecureParametersWarning, match="below the floor"):
        weak = dataclasses.replace(public, upload_level=1, allow_insecure=True)
    assert weak.upload_level == 1
    shares = deployment.shares[101]
    with pytest.raises(ParameterError, match="16 bytes"):
        DecryptorKeyShares(shares.params, 1, 3, shares.level, {}, answered=[bytes(15)])
    with pytest.raises(ParameterError, match="deployment id is 16 bytes"):
        DecryptorKeyShares(shares.params, 1, 3, shares.level, {}, deployment_id=b"x")
    with pytest.raises(ParameterError, match="not registered"):
        shares.share(999)
