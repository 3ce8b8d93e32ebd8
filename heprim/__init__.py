"""heprim: homomorphic-encryption primitives and privacy protocols in pure Python.

The public API is curated here; the layers underneath (``heprim.math``, ``heprim.ring``,
``heprim.paillier``, ...) are documented in DESIGN order in the docs.
"""

from heprim import errors

__version__ = "0.1.0"

__all__ = ["__version__", "errors"]
