"""``python -m heprim``: the command-line interface (see :mod:`heprim.cli`)."""

import sys

from heprim.cli import main

if __name__ == "__main__":
    sys.exit(main())
