"""PRG expansion: AES-256-CTR from a zero counter block, read as little-endian words."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from heprim.errors import ParameterError
from heprim.secagg.masking import dtype_for_bits, expand, mask_into

# FIPS-197 appendix C.3 (AES-256), see tests/vectors/README.md.
FIPS197_KEY = bytes(range(32))
FIPS197_PT = bytes.fromhex("00112233445566778899aabbccddeeff")
FIPS197_CT = bytes.fromhex("8ea2b7ca516745bfeafc49904b496089")


def _ecb(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def test_aes_block_cipher_matches_fips197() -> None:
    assert _ecb(FIPS197_KEY, FIPS197_PT) == FIPS197_CT


def test_expand_is_counter_mode_built_by_hand() -> None:
    """CTR per SP 800-38A: block i is AES_K(counter 0 + i), here built from ECB."""
    stream = b"".join(_ecb(FIPS197_KEY, i.to_bytes(16, "big")) for i in range(3))
    words = expand(FIPS197_KEY, 12, np.uint32)
    assert words.tobytes() == stream
    assert words[0] == int.from_bytes(stream[:4], "little")
    assert expand(FIPS197_KEY, 6, np.uint64).tobytes() == stream[:48]


def test_dtype_for_bits() -> None:
    assert dtype_for_bits(1) == np.uint8
    assert dtype_for_bits(8) == np.uint8
    assert dtype_for_bits(9) == np.uint16
    assert dtype_for_bits(33) == np.uint64
    assert dtype_for_bits(64) == np.uint64
    with pytest.raises(ParameterError, match="64-bit"):
        dtype_for_bits(65)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
def test_masks_cancel_modulo_the_word(dtype: type) -> None:
    x = np.arange(100, dtype=dtype)
    y = x.copy()
    mask_into(y, bytes(32), +1)
    assert not np.array_equal(x, y)
    mask_into(y, bytes(32), -1)
    assert np.array_equal(x, y)


def test_seed_length_is_checked() -> None:
    with pytest.raises(ParameterError, match="32 bytes"):
        expand(b"short", 4, np.uint32)
