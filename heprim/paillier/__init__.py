"""Paillier encryption: keys, DJN/CRT fast encryption, python-paillier-compatible encoding.

Layer 1 of heprim (see DESIGN.md). The recipe API::

    from heprim.paillier import generate_keypair

    public_key, private_key = generate_keypair()  # 3072 bits
    a, b = public_key.encrypt(3.5), public_key.encrypt(-2)
    total = a + b * 4
    total.obfuscate()  # re-randomise before sharing a computed result
    assert private_key.decrypt(total) == -4.5

Underneath: ``raw_encrypt``/``raw_decrypt`` on integers modulo ``n`` (:mod:`.keys`), the encoding
of signed and fixed-point numbers (:mod:`.encoding`), the fixed-base table behind DJN encryption
(:mod:`.fixedbase`), precomputed randomness (:mod:`.pool`), numpy vectors encrypted element-wise
and in parallel (:mod:`.vector`), and BatchCrypt packing of many small integers per ciphertext
(:mod:`.packing`).
"""

from heprim.paillier.encoding import EncodedNumber
from heprim.paillier.keys import PrivateKey, PublicKey, generate_keypair
from heprim.paillier.number import EncryptedNumber
from heprim.paillier.packing import PackedEncoder, PackedVector
from heprim.paillier.pool import RandomnessPool
from heprim.paillier.vector import EncryptedVector, decrypt_vector, encrypt_vector

__all__ = [
    "EncodedNumber",
    "EncryptedNumber",
    "EncryptedVector",
    "PackedEncoder",
    "PackedVector",
    "PrivateKey",
    "PublicKey",
    "RandomnessPool",
    "decrypt_vector",
    "encrypt_vector",
    "generate_keypair",
]
