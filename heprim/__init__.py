"""heprim: homomorphic-encryption primitives and privacy protocols in pure Python.

The layers (DESIGN.md section 1), each importable on its own::

    from heprim import paillier   # Paillier: DJN/CRT encryption, encoding, vectors, packing
    from heprim import ring       # numpy RNS/NTT polynomial ring Z_Q[X]/(X^N+1)
    from heprim import secagg     # SecAgg / SecAgg+ secure aggregation (sans-I/O)
    from heprim import pjc        # private join and compute (intersection-sum)
    from heprim import serialize  # versioned, validated JSON envelopes (never pickle)

Subpackages are imported on first access, so ``import heprim`` stays cheap.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from heprim import errors

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "bfv",
    "errors",
    "math",
    "net",
    "paillier",
    "pjc",
    "ring",
    "secagg",
    "serialize",
]

_SUBPACKAGES = frozenset(__all__) - {"__version__", "errors"}


def __getattr__(name: str) -> ModuleType:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"heprim.{name}")
    raise AttributeError(f"module 'heprim' has no attribute {name!r}")
