"""Layer 1: the BFV scheme (Brakerski/Fan-Vercauteren) on the RNS ring engine.

::

    import numpy as np
    from heprim import bfv

    params = bfv.Parameters.preset("N8192-128")
    keygen = bfv.KeyGenerator(params)
    encoder = bfv.BatchEncoder(params)
    encryptor = bfv.Encryptor(keygen.public_key())
    evaluator = bfv.Evaluator(
        params, relin_keys=keygen.relin_keys(), galois_keys=keygen.galois_keys()
    )
    x = encryptor.encrypt(encoder.encode(np.arange(8192) % 100))
    y = evaluator.sum_slots(evaluator.multiply_relin(x, x))  # sum of squares in every slot
    print(encoder.decode(bfv.Decryptor(keygen.secret_key).decrypt(y))[0])

Modules, in dependency order: :mod:`~heprim.bfv.params` (parameters, presets, HE-standard
security), :mod:`~heprim.bfv.context` (per-parameter precomputations), :mod:`~heprim.bfv.encoder`
(plaintexts, batching and coefficient encoders), :mod:`~heprim.bfv.keys` (key generation),
:mod:`~heprim.bfv.ciphertext` (ciphertexts, keyless arithmetic, the HPS multiplication, modulus
switching), :mod:`~heprim.bfv.keyswitch` (hybrid key switching), :mod:`~heprim.bfv.scheme`
(encryption, decryption), :mod:`~heprim.bfv.evaluator` (relinearization, rotations),
:mod:`~heprim.bfv.noise` (noise budget and estimates), :mod:`~heprim.bfv.interop` (SEAL import).
See the "BFV explained" page of the documentation.
"""

from heprim.bfv.ciphertext import Ciphertext
from heprim.bfv.cli_params import format_presets
from heprim.bfv.context import Context, context_of
from heprim.bfv.encoder import BatchEncoder, CoefficientEncoder, Plaintext
from heprim.bfv.evaluator import Evaluator
from heprim.bfv.interop import ciphertext_from_seal, secret_key_from_seal
from heprim.bfv.keys import (
    GaloisKeys,
    KeyGenerator,
    KeySwitchKey,
    PublicKey,
    RelinKeys,
    SecretKey,
    default_rotation_steps,
)
from heprim.bfv.noise import (
    estimate_depth,
    estimate_fresh_budget,
    invariant_noise_budget,
    multiplication_cost_bits,
)
from heprim.bfv.params import HE_STANDARD_MAX_BITS, PRESETS, Parameters, ParametersLiteral
from heprim.bfv.scheme import Decryptor, Encryptor

__all__ = [
    "HE_STANDARD_MAX_BITS",
    "PRESETS",
    "BatchEncoder",
    "Ciphertext",
    "CoefficientEncoder",
    "Context",
    "Decryptor",
    "Encryptor",
    "Evaluator",
    "GaloisKeys",
    "KeyGenerator",
    "KeySwitchKey",
    "Parameters",
    "ParametersLiteral",
    "Plaintext",
    "PublicKey",
    "RelinKeys",
    "SecretKey",
    "ciphertext_from_seal",
    "context_of",
    "default_rotation_steps",
    "estimate_depth",
    "estimate_fresh_budget",
    "format_presets",
    "invariant_noise_budget",
    "multiplication_cost_bits",
    "secret_key_from_seal",
]
