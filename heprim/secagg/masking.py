"""Mask expansion: full 256-bit seeds stretched by AES-256-CTR into vectors modulo 2^w.

Bonawitz et al. (2017, section 3.1) mask a client's input y_u with PRG(b_u) and with
+-PRG(s_{u,v}) for each peer v; the server removes them after unmasking. Here the PRG is the
AES-256-CTR keystream under the seed (NIST SP 800-38A; the ``cryptography`` package uses AES-NI),
read directly as little-endian unsigned integers of the transport width w in {8, 16, 32, 64}
bits. Every such word is uniform modulo 2^w, and the aggregation modulus R = 2^w, so a mask is a
uniform vector of Z_R^d and masking is a wrapping numpy add: no reduction pass at all.

Flower 1.42 folds each seed to 32 bits and expands it with numpy's Mersenne Twister, which is
neither a cryptographic PRG nor keyed with enough entropy; none of that here.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from heprim.errors import ParameterError

__all__ = ["DTYPES", "dtype_for_bits", "expand", "mask_into"]

DTYPES: Final[dict[int, type[np.unsignedinteger[Any]]]] = {
    8: np.uint8,
    16: np.uint16,
    32: np.uint32,
    64: np.uint64,
}
_NONCE: Final = bytes(16)  # every seed is used for exactly one stream, so a fixed counter block


def dtype_for_bits(bits: int) -> np.dtype[np.unsignedinteger[Any]]:
    """The smallest unsigned numpy dtype holding ``bits``-bit values (at most 64 bits)."""
    for width, dtype in DTYPES.items():
        if bits <= width:
            return np.dtype(dtype)
    raise ParameterError(
        f"a {bits}-bit modulus does not fit in 64-bit words; use fewer quantisation bits, a "
        "smaller weight bound or fewer clients per aggregation"
    )


def expand(seed: bytes, length: int, dtype: npt.DTypeLike) -> npt.NDArray[np.unsignedinteger[Any]]:
    """PRG(seed): ``length`` uniform words of ``dtype`` from the AES-256-CTR keystream."""
    if len(seed) != 32:
        raise ParameterError(f"a mask seed is 32 bytes, got {len(seed)}")
    dt = np.dtype(dtype)
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(_NONCE)).encryptor()
    stream = encryptor.update(bytes(length * dt.itemsize))
    return np.frombuffer(stream, dtype=dt.newbyteorder("<")).astype(dt, copy=False)


def mask_into(
    target: npt.NDArray[np.unsignedinteger[Any]],
    seed: bytes,
    sign: int,
) -> None:
    """``target += sign * PRG(seed)`` modulo 2^w, in place (``sign`` is +1 or -1)."""
    mask = expand(seed, target.shape[0], target.dtype)
    if sign > 0:
        np.add(target, mask, out=target)
    else:
        np.subtract(target, mask, out=target)
