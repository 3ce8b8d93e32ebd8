"""SEAL interoperability: SEAL's secret keys and ciphertexts decrypt in heprim to SEAL's plaintexts.

Two oracles, both Microsoft SEAL:

* the recorded vectors of ``tests/vectors/bfv_seal.json`` (provenance in tests/vectors/README.md),
  which run without TenSEAL;
* live differential tests through TenSEAL's ``sealapi`` (the ``peers`` extra), at the N = 4096
  preset with SEAL running the very same primes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from heprim import bfv
from heprim.errors import ParameterError

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "bfv_seal.json"


def _unpack(text: str) -> np.ndarray:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return np.frombuffer(raw, dtype="<u4").astype(np.uint64)


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    return json.loads(VECTORS.read_text())


@pytest.fixture(scope="module")
def seal_params(vectors: dict[str, Any]) -> bfv.Parameters:
    primes = vectors["coeff_modulus"]
    literal = bfv.ParametersLiteral(
        vectors["degree"], vectors["plain_modulus"], q=tuple(primes[:-1]), p=(primes[-1],)
    )
    with pytest.warns(bfv.params.InsecureParametersWarning):
        return bfv.Parameters(literal, allow_insecure=True)


def test_recorded_seal_ciphertexts_decrypt(
    vectors: dict[str, Any], seal_params: bfv.Parameters
) -> None:
    sk = bfv.secret_key_from_seal(seal_params, _unpack(vectors["secret_key_ntt"]), key_id="ab" * 16)
    decryptor = bfv.Decryptor(sk)
    encoder = bfv.BatchEncoder(seal_params)
    n, t = seal_params.degree, seal_params.plain_modulus
    x, y = np.array(vectors["slots_x"]), np.array(vectors["slots_y"])
    half = n // 2
    expected = {
        "public": x,
        "symmetric": y,
        "product": x * y % t,
        "rotated": np.concatenate([np.roll(x[:half], -1), np.roll(x[half:], -1)]),
        "swapped": np.concatenate([x[half:], x[:half]]),
        "switched": x,
    }
    for name, entry in vectors["ciphertexts"].items():
        data = _unpack(entry["data"]).reshape(entry["size"], entry["level"], n)
        ct = bfv.ciphertext_from_seal(seal_params, data, key_id=sk.key_id)
        plain = decryptor.decrypt(ct)
        seal_plain = np.zeros(n, dtype=np.uint64)
        seal_plain[: len(entry["decrypted_coefficients"])] = entry["decrypted_coefficients"]
        assert np.array_equal(plain.coefficients, seal_plain), name
        assert np.array_equal(encoder.decode(plain, signed=False), entry["decoded"]), name
        assert np.array_equal(entry["decoded"], expected[name]), name  # SEAL agrees with numpy
        assert bfv.invariant_noise_budget(ct, sk) == entry["noise_budget"], name


def test_recorded_seal_encoding(vectors: dict[str, Any], seal_params: bfv.Parameters) -> None:
    plain = bfv.BatchEncoder(seal_params).encode(vectors["slots_x"])
    encoded = np.zeros(seal_params.degree, dtype=np.uint64)
    encoded[: len(vectors["encoding_x"])] = vectors["encoding_x"]
    assert np.array_equal(plain.coefficients, encoded)


def test_import_refusals(vectors: dict[str, Any], seal_params: bfv.Parameters) -> None:
    key = _unpack(vectors["secret_key_ntt"])
    with pytest.raises(ParameterError, match="words"):
        bfv.secret_key_from_seal(seal_params, key[:-1])
    shifted = key.copy()
    n, q0 = seal_params.degree, seal_params.q[0]
    shifted[:n] = (shifted[:n] + 1) % q0  # s + (an NTT-domain constant) on one limb only
    with pytest.raises(ParameterError, match="not a ternary"):
        bfv.secret_key_from_seal(seal_params, shifted)
    with pytest.raises(ParameterError, match="Parameters"):
        bfv.secret_key_from_seal(None, key)  # type: ignore[arg-type]
    entry = vectors["ciphertexts"]["public"]
    flat = _unpack(entry["data"])
    sk = bfv.secret_key_from_seal(seal_params, key)
    ct = bfv.ciphertext_from_seal(seal_params, flat, key_id=sk.key_id)  # flat, top level
    assert ct.size == 2 and ct.level == 2
    with pytest.raises(ParameterError, match="multiple of L N"):
        bfv.ciphertext_from_seal(seal_params, flat[:-1], key_id=sk.key_id)
    with pytest.raises(ParameterError, match="Parameters"):
        bfv.ciphertext_from_seal(None, flat, key_id=sk.key_id)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- live, with TenSEAL


@pytest.fixture(scope="module")
def live() -> dict[str, Any]:
    seal = pytest.importorskip("tenseal.sealapi")
    params = bfv.Parameters.preset("N4096-128")
    parms = seal.EncryptionParameters(seal.SCHEME_TYPE.BFV)
    parms.set_poly_modulus_degree(params.degree)
    parms.set_coeff_modulus([seal.Modulus(q) for q in params.q + params.p])
    parms.set_plain_modulus(seal.Modulus(params.plain_modulus))
    context = seal.SEALContext(parms, True, seal.SEC_LEVEL_TYPE.TC128)
    assert context.parameters_set(), context.parameters_error_message()
    keygen = seal.KeyGenerator(context)
    return {"seal": seal, "params": params, "context": context, "keygen": keygen}


def _words(obj: Any) -> np.ndarray:
    dyn = obj.dyn_array()
    return np.array([dyn.at(i) for i in range(dyn.size())], dtype=np.uint64)


@pytest.mark.peer
def test_live_seal_keys_and_ciphertexts(live: dict[str, Any]) -> None:
    seal, params, context, keygen = live["seal"], live["params"], live["context"], live["keygen"]
    n, t = params.degree, params.plain_modulus
    public_key, relin_keys, galois_keys = seal.PublicKey(), seal.RelinKeys(), seal.GaloisKeys()
    keygen.create_public_key(public_key)
    keygen.create_relin_keys(relin_keys)
    keygen.create_galois_keys([9], galois_keys)  # Galois element 3^2: rotation by 2
    encoder, evaluator = seal.BatchEncoder(context), seal.Evaluator(context)
    encryptor = seal.Encryptor(context, public_key)
    seal_secret = keygen.secret_key()  # keep it alive: .data() views its memory
    decryptor = seal.Decryptor(context, seal_secret)
    x = [(i * 7919) % t for i in range(n)]
    plain = seal.Plaintext()
    encoder.encode(x, plain)
    fresh = seal.Ciphertext()
    encryptor.encrypt(plain, fresh)
    product, rotated = seal.Ciphertext(), seal.Ciphertext()
    evaluator.square(fresh, product)
    evaluator.relinearize_inplace(product, relin_keys)
    evaluator.rotate_rows(fresh, 2, galois_keys, rotated)

    sk = bfv.secret_key_from_seal(params, _words(seal_secret.data()))
    ours = bfv.BatchEncoder(params)
    assert np.array_equal(ours.encode(x).coefficients, _words(plain)[:n])
    half = n // 2
    xs = np.array(x)
    cases = [
        (fresh, xs),
        (product, xs * xs % t),
        (rotated, np.concatenate([np.roll(xs[:half], -2), np.roll(xs[half:], -2)])),
    ]
    for seal_ct, expected in cases:
        ct = bfv.ciphertext_from_seal(params, _words(seal_ct), key_id=sk.key_id)
        decrypted = bfv.Decryptor(sk).decrypt(ct)
        seal_plain = seal.Plaintext()
        decryptor.decrypt(seal_ct, seal_plain)
        assert np.array_equal(
            decrypted.coefficients[: seal_plain.coeff_count()], _words(seal_plain)
        )
        assert np.array_equal(ours.decode(decrypted, signed=False), expected)
        assert bfv.invariant_noise_budget(ct, sk) == decryptor.invariant_noise_budget(seal_ct)
        # and heprim keeps computing on SEAL's ciphertext
        doubled = ours.decode(bfv.Decryptor(sk).decrypt(ct + ct), signed=False)
        assert np.array_equal(doubled, 2 * expected % t)
