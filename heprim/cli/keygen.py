"""``heprim keygen``: generate a Paillier key pair and write it as JSON.

``--out PREFIX`` writes the public key to ``PREFIX.pub.json``. The secret key is written to
``PREFIX.key.json`` only with ``--include-secret``, created with permissions 0600 (owner read and
write only) from the start, never widened afterwards. Existing files are never overwritten
without ``--force``; with it, each file is written to a temporary name in the same directory and
renamed over the old one, so a crash leaves the old file or the new one, never half of either.
Both files use the versioned envelopes of :mod:`heprim.serialize`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from heprim.cli.progress import Reporter
from heprim.errors import InsecureParametersWarning

if TYPE_CHECKING:  # imported when run: `heprim --version` should not load the schemes
    from heprim.paillier import PrivateKey, PublicKey

__all__ = ["register", "run", "write_file"]

DEFAULT_BITS = 3072
MIN_SECURE_BITS = 2048
PUBLIC_MODE = 0o644
SECRET_MODE = 0o600


def register(subparsers: Any) -> None:
    """Add the ``keygen`` subcommand."""
    parser = subparsers.add_parser(
        "keygen",
        help="write a Paillier key pair (the secret key only with --include-secret)",
        description=(
            "Generate a Paillier key pair and write PREFIX.pub.json; the secret key goes to "
            "PREFIX.key.json (permissions 0600) only with --include-secret. Existing files are "
            "kept unless --force."
        ),
    )
    parser.add_argument(
        "--bits",
        type=int,
        default=DEFAULT_BITS,
        help=f"modulus size in bits (default {DEFAULT_BITS} ~ 128-bit security; 2048 ~ 112-bit)",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="PREFIX",
        help="write PREFIX.pub.json (and PREFIX.key.json with --include-secret)",
    )
    parser.add_argument(
        "--include-secret",
        action="store_true",
        help="also write the SECRET key to PREFIX.key.json (permissions 0600)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    add_insecure_flag(parser)
    parser.set_defaults(run=run, check=check_bits, parser=parser)


def add_insecure_flag(parser: argparse.ArgumentParser) -> None:
    """The loudly named opt-in to keys below 2048 bits (tests and demos on slow machines only)."""
    parser.add_argument(
        "--insecure-test-key",
        action="store_true",
        help="allow --bits below 2048: such keys can be factored; for tests only",
    )


def check_bits(args: argparse.Namespace) -> None:
    """Refuse keys below 2048 bits without the opt-in, as a usage error (exit code 2)."""
    if args.bits < MIN_SECURE_BITS and not args.insecure_test_key:
        args.parser.error(
            f"--bits {args.bits} is below {MIN_SECURE_BITS} and therefore insecure; use "
            f"--bits {MIN_SECURE_BITS} or more (or --insecure-test-key for a throwaway test key)"
        )


def generate(args: argparse.Namespace, report: Reporter) -> tuple[PublicKey, PrivateKey, float]:
    """Generate a key pair of ``args.bits`` bits, rendering progress; returns (pk, sk, seconds).

    With ``--insecure-test-key`` the library's :class:`InsecureParametersWarning` is replaced by
    one loud line on stderr, so the warning is said once and in the command line's words.
    """
    from heprim.paillier import generate_keypair

    insecure = args.bits < MIN_SECURE_BITS
    if insecure:
        print(
            f"WARNING: {args.bits}-bit key requested with --insecure-test-key: "
            "it can be factored, never protect real data with it",
            file=sys.stderr,
        )
    start = time.perf_counter()
    with warnings.catch_warnings(), report.progress("key generation") as progress:
        if insecure:
            warnings.simplefilter("ignore", InsecureParametersWarning)
        public_key, private_key = generate_keypair(
            args.bits, allow_insecure=insecure, progress=progress
        )
    return public_key, private_key, time.perf_counter() - start


def write_file(path: Path, text: str, *, mode: int, force: bool) -> None:
    """Write ``text`` to ``path`` with exactly the permissions ``mode``.

    The file is created with ``mode`` (so a secret is never readable by others, not even for an
    instant) and ``fchmod`` restores it if the umask removed bits. Without ``force`` an existing
    file is refused atomically (``O_EXCL``); with it, a temporary file is renamed over the old one.
    """
    data = text.encode()
    if not force:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        _write_all(fd, data, mode)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        _write_all(fd, data, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _write_all(fd: int, data: bytes, mode: int) -> None:
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Generate the key pair and write the files; returns the exit code."""
    from heprim.serialize import dumps

    report = Reporter(out)
    public_path = Path(f"{args.out}.pub.json")
    secret_path = Path(f"{args.out}.key.json")
    targets = [public_path, secret_path] if args.include_secret else [public_path]
    # Refuse before the (slow) key generation, not after it.
    existing = [str(path) for path in targets if path.exists()]
    if existing and not args.force:
        verb = "exists" if len(existing) == 1 else "exist"
        print(
            f"heprim keygen: error: {' and '.join(existing)} already {verb}; choose another "
            "--out PREFIX or pass --force to overwrite",
            file=sys.stderr,
        )
        return 1
    if not public_path.parent.is_dir():
        print(
            f"heprim keygen: error: directory {public_path.parent} does not exist; create it first",
            file=sys.stderr,
        )
        return 1

    public_key, private_key, seconds = generate(args, report)
    report.line(f"{args.bits}-bit Paillier key generated in {seconds:.2f} s")
    report.line(f"fingerprint {public_key.fingerprint}")
    try:
        # The secret first: if it cannot be written, no orphan public key is left behind.
        if args.include_secret:
            secret = dumps(private_key, include_secret=True)
            write_file(secret_path, secret, mode=SECRET_MODE, force=args.force)
        write_file(public_path, dumps(public_key), mode=PUBLIC_MODE, force=args.force)
    except OSError as error:  # e.g. a file created meanwhile by someone else, a full disk
        print(f"heprim keygen: error: cannot write the key: {error}", file=sys.stderr)
        return 1
    report.line(f"public key  -> {public_path}")
    if args.include_secret:
        report.line(f"SECRET key  -> {secret_path} (mode 0600: keep it private, back it up safely)")
    else:
        report.line("secret key not written (pass --include-secret to save it)")
    return 0
