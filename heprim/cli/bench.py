"""``heprim bench``: a quick comparison of heprim's Paillier with python-paillier (phe).

Both libraries get the same key (phe's key is built from heprim's primes) and the same inputs.
Each operation is timed ``--repeat`` times over a batch of calls; the table shows the median time
per call in milliseconds and the ratio phe/heprim (above 1: heprim is faster).

* ``encrypt (DJN)``: :meth:`PublicKey.encrypt <heprim.paillier.keys.PublicKey.encrypt>`, the
  public-key path anybody can run; its fixed-base table is built once before timing.
* ``encrypt (key holder)``: :meth:`PrivateKey.encrypt <heprim.paillier.keys.PrivateKey.encrypt>`,
  the key holder's path (DJN by CRT modulo p^2 and q^2). phe has neither, so both rows compare
  with phe's ``PaillierPublicKey.encrypt``.
* ``decrypt``, ``add`` (ciphertext + ciphertext) and ``mul`` (ciphertext * 32-bit scalar).

This is the quick look; the pytest-benchmark suites in ``benchmarks/`` are the careful
measurement.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from heprim.cli import keygen
from heprim.cli.progress import Reporter
from heprim.math.prng import SystemPRNG

if TYPE_CHECKING:  # imported when run: `heprim --version` should not load the schemes
    from heprim.paillier import PrivateKey, PublicKey

__all__ = ["Operation", "register", "run", "time_per_call"]

DEFAULT_BITS = 2048
DEFAULT_REPEAT = 5
SCALAR_BITS = 32

#: (name, calls per timed batch): cheap operations run in larger batches to be measurable.
OPERATIONS = (
    ("encrypt (DJN)", 20),
    ("encrypt (key holder)", 20),
    ("decrypt", 20),
    ("add", 500),
    ("mul", 50),
)

Operation = Callable[[int], Any]  # run the operation on the i-th prepared input


def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand."""
    parser = subparsers.add_parser(
        "bench",
        help="quick Paillier timings against the installed peers (python-paillier)",
        description=(
            "Time heprim's Paillier (DJN and key-holder CRT encryption, decryption, addition, "
            "scalar multiplication) against python-paillier on the same key; prints medians in ms "
            "and the ratio phe/heprim."
        ),
    )
    parser.add_argument(
        "--bits",
        type=int,
        default=DEFAULT_BITS,
        help=f"Paillier modulus size (default {DEFAULT_BITS})",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        help=f"timed batches per operation; the median is shown (default {DEFAULT_REPEAT})",
    )
    keygen.add_insecure_flag(parser)
    parser.set_defaults(run=run, check=check, parser=parser)


def check(args: argparse.Namespace) -> None:
    """Usage errors argparse cannot see: the key size policy and a positive --repeat."""
    keygen.check_bits(args)
    if args.repeat < 1:
        args.parser.error(f"--repeat must be at least 1, got {args.repeat}")


def time_per_call(operation: Operation, calls: int, repeat: int) -> float:
    """The median over ``repeat`` batches of the mean time of one call, in seconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(calls):
            operation(i)
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def _inputs(count: int) -> tuple[list[int], list[int]]:
    """Messages below 2^32 and scalars of 32 bits, from the CSPRNG."""
    rng = SystemPRNG()
    messages = [rng.randbits(32) for _ in range(count)]
    scalars = [rng.randbits(SCALAR_BITS) | (1 << (SCALAR_BITS - 1)) for _ in range(count)]
    return messages, scalars


def heprim_operations(
    public_key: PublicKey, private_key: PrivateKey, count: int
) -> dict[str, Operation]:
    """heprim's side of the table, with inputs prepared and the DJN table built beforehand."""
    messages, scalars = _inputs(count)
    public_key.encrypt(0)  # builds the fixed-base table (one-off, per key) outside the timing
    ciphertexts = [public_key.encrypt(m) for m in messages]
    return {
        "encrypt (DJN)": lambda i: public_key.encrypt(messages[i]),
        "encrypt (key holder)": lambda i: private_key.encrypt(messages[i]),
        "decrypt": lambda i: private_key.decrypt(ciphertexts[i]),
        "add": lambda i: ciphertexts[i] + ciphertexts[i - 1],
        "mul": lambda i: ciphertexts[i] * scalars[i],
    }


def phe_operations(private_key: PrivateKey, count: int) -> dict[str, Operation] | None:
    """phe's side, on the same primes; ``None`` when phe is not installed."""
    try:
        from phe import paillier
    except ImportError:
        return None
    public = paillier.PaillierPublicKey(int(private_key.public_key.n))
    secret = paillier.PaillierPrivateKey(public, int(private_key.p), int(private_key.q))
    messages, scalars = _inputs(count)
    ciphertexts = [public.encrypt(m) for m in messages]
    return {
        "encrypt (DJN)": lambda i: public.encrypt(messages[i]),
        "encrypt (key holder)": lambda i: public.encrypt(messages[i]),
        "decrypt": lambda i: secret.decrypt(ciphertexts[i]),
        "add": lambda i: ciphertexts[i] + ciphertexts[i - 1],
        "mul": lambda i: ciphertexts[i] * scalars[i],
    }


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Time both libraries and print the table; returns the exit code."""
    report = Reporter(out)
    report.line(
        f"heprim bench: Paillier, {args.bits}-bit key, median of {args.repeat} batch(es), "
        "ms per operation"
    )
    public_key, private_key, _seconds = keygen.generate(args, report)
    batch = max(calls for _name, calls in OPERATIONS)
    ours = heprim_operations(public_key, private_key, batch)
    theirs = phe_operations(private_key, batch)
    if theirs is None:
        report.line("phe not installed: heprim only (pip install phe==1.5.0 to compare)")
        report.line(f"{'operation':<22}{'heprim':>10}")
    else:
        report.line(f"{'operation':<22}{'heprim':>10}{'phe':>10}{'phe/heprim':>12}")
    phe_encrypt: float | None = None
    for name, calls in OPERATIONS:
        heprim_ms = 1000 * time_per_call(ours[name], calls, args.repeat)
        if theirs is None:
            report.line(f"{name:<22}{heprim_ms:>10.3f}")
            continue
        # phe has one encryption: time it once and compare both of heprim's paths with it.
        if name.startswith("encrypt") and phe_encrypt is not None:
            phe_ms = phe_encrypt
        else:
            phe_ms = 1000 * time_per_call(theirs[name], calls, args.repeat)
            if name.startswith("encrypt"):
                phe_encrypt = phe_ms
        report.line(f"{name:<22}{heprim_ms:>10.3f}{phe_ms:>10.3f}{phe_ms / heprim_ms:>11.1f}x")
    report.line(
        f"encrypt (key holder) is the key holder's path; mul is by a {SCALAR_BITS}-bit scalar; "
        "ciphertexts are not re-randomised after add/mul in either library"
    )
    return 0
