"""The exception family of heprim.

Every error heprim raises on bad input derives from :class:`HeprimError`, so callers can catch
the whole family at once, and each subclass also derives from the built-in exception a Python
user would expect (``ValueError``, ``TypeError``), so generic handlers keep working.

Messages say what went wrong *and what to do about it*.
"""

from __future__ import annotations

__all__ = [
    "EncodingOverflowError",
    "HeprimError",
    "InsecureParametersWarning",
    "KeyMismatchError",
    "NoiseBudgetExhausted",
    "ParameterError",
    "ProtocolError",
    "SerializationError",
]


class HeprimError(Exception):
    """Base class of every exception raised by heprim."""


class ParameterError(HeprimError, ValueError):
    """A parameter, key size or argument value is invalid (or insecure without opt-in)."""


class KeyMismatchError(HeprimError, ValueError):
    """Objects under different keys or parameter sets were combined."""


class EncodingOverflowError(HeprimError, OverflowError):
    """A value does not fit its encoding, or a homomorphic result overflowed its headroom."""


class NoiseBudgetExhausted(HeprimError, ArithmeticError):  # noqa: N818 (name fixed by DESIGN.md)
    """A lattice ciphertext's noise exceeded what decryption can correct."""


class SerializationError(HeprimError, ValueError):
    """Serialized data is malformed, of an unknown version, tampered with or inconsistent."""


class ProtocolError(HeprimError, RuntimeError):
    """A protocol message arrived out of order, was replayed, tampered or came from a stranger."""


class InsecureParametersWarning(UserWarning):
    """Emitted whenever insecure parameters are used through ``allow_insecure=True``."""
