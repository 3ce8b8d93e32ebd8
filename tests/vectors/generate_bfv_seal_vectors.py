"""Regenerate tests/vectors/bfv_seal.json with Microsoft SEAL (TenSEAL's sealapi) as the oracle.

    /work/venv/bin/python tests/vectors/generate_bfv_seal_vectors.py

SEAL chooses the primes (``CoeffModulus.Create``), draws its own keys and randomness, encrypts,
multiplies, relinearizes, rotates, switches modulus, encodes, decodes and measures the noise
budget; this script only records the arrays SEAL holds. The slot values come from a seeded heprim
KeyedPRNG so the inputs are reproducible (SEAL's randomness is not, so a regenerated file differs
in its ciphertexts and keys but not in its decryptions).

Arrays are stored as unpadded base64url of little-endian uint32 words (every SEAL word here is
below 2^30), in SEAL's memory order.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import tenseal.sealapi as seal

from heprim.math.prng import KeyedPRNG

HERE = Path(__file__).resolve().parent
N = 256
T = 65537
BITS = [27, 27, 28]  # two ciphertext primes and SEAL's special prime (the last)


def words(array: object) -> list[int]:
    dyn = array.dyn_array()  # type: ignore[attr-defined]
    return [dyn.at(i) for i in range(dyn.size())]


def pack(values: list[int]) -> str:
    raw = np.array(values, dtype="<u4").tobytes()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def main() -> None:
    parms = seal.EncryptionParameters(seal.SCHEME_TYPE.BFV)
    parms.set_poly_modulus_degree(N)
    parms.set_coeff_modulus(seal.CoeffModulus.Create(N, BITS))
    parms.set_plain_modulus(seal.Modulus(T))
    context = seal.SEALContext(parms, True, seal.SEC_LEVEL_TYPE.NONE)
    primes = [m.value() for m in parms.coeff_modulus()]
    keygen = seal.KeyGenerator(context)
    secret_key = keygen.secret_key()
    public_key = seal.PublicKey()
    keygen.create_public_key(public_key)
    relin_keys = seal.RelinKeys()
    keygen.create_relin_keys(relin_keys)
    galois_keys = seal.GaloisKeys()
    keygen.create_galois_keys(galois_keys)
    encoder = seal.BatchEncoder(context)
    encryptor = seal.Encryptor(context, public_key)
    encryptor.set_secret_key(secret_key)
    evaluator = seal.Evaluator(context)
    decryptor = seal.Decryptor(context, secret_key)

    rng = KeyedPRNG.from_int(20261201)
    x = [rng.randbelow(T) for _ in range(N)]
    y = [rng.randbelow(T) for _ in range(N)]
    px, py = seal.Plaintext(), seal.Plaintext()
    encoder.encode(x, px)
    encoder.encode(y, py)

    cts: dict[str, seal.Ciphertext] = {}
    cts["public"] = seal.Ciphertext()
    encryptor.encrypt(px, cts["public"])
    cts["symmetric"] = seal.Ciphertext()
    encryptor.encrypt_symmetric(py, cts["symmetric"])
    cts["product"] = seal.Ciphertext()
    evaluator.multiply(cts["public"], cts["symmetric"], cts["product"])
    evaluator.relinearize_inplace(cts["product"], relin_keys)
    cts["rotated"] = seal.Ciphertext()
    evaluator.rotate_rows(cts["public"], 1, galois_keys, cts["rotated"])
    cts["swapped"] = seal.Ciphertext()
    evaluator.rotate_columns(cts["public"], galois_keys, cts["swapped"])
    cts["switched"] = seal.Ciphertext()
    evaluator.mod_switch_to_next(cts["public"], cts["switched"])

    ciphertexts = {}
    for name, ct in cts.items():
        plain = seal.Plaintext()
        decryptor.decrypt(ct, plain)
        ciphertexts[name] = {
            "size": ct.size(),
            "level": ct.coeff_modulus_size(),
            "data": pack(words(ct)),
            "decrypted_coefficients": [plain.data(i) for i in range(plain.coeff_count())],
            "decoded": list(encoder.decode_uint64(plain)),
            "noise_budget": decryptor.invariant_noise_budget(ct),
        }
    document = {
        "source": "Microsoft SEAL via TenSEAL 0.3.18 tenseal.sealapi; see tests/vectors/README.md",
        "degree": N,
        "plain_modulus": T,
        "coeff_modulus": primes,
        "secret_key_ntt": pack(words(secret_key.data())),
        "slots_x": x,
        "slots_y": y,
        "encoding_x": [px.data(i) for i in range(px.coeff_count())],
        "ciphertexts": ciphertexts,
    }
    (HERE / "bfv_seal.json").write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
