"""Sphinx configuration for heprim's documentation (Sphinx + MyST + furo).

Build without make, warnings as errors (as CI does):

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import heprim

project = "heprim"
author = "heprim developers"
copyright = "2025, heprim developers"
release = heprim.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# --- MyST: $...$ and $$...$$ math, ::: fences, and anchors for the headings of every page.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# --- autodoc + napoleon: the docstrings (Google style) are the textbook.
autodoc_default_options = {
    "members": True,
    "undoc-members": False,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autoclass_content = "both"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True

# Cross-references that cannot resolve (numpy, gmpy2 types in signatures) are not errors.
nitpicky = False

# --- HTML
html_theme = "furo"
html_title = f"heprim {release}"
# Type names that exist in several modules (Message) stay unlinked.
suppress_warnings = ["ref.python"]
