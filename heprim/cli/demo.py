"""``heprim demo``: hospitals pool their statistics without revealing them.

The scenario, end to end with real keys and real serialized messages:

1. A key holder generates a Paillier key pair (2048 bits by default) and publishes the public key.
2. Each of ``--clients`` hospitals encrypts its vector of ``--dim`` signed 16-bit statistics under
   the public key and uploads the serialized ciphertexts.
3. An aggregator, who never sees the secret key, parses the uploads and adds them homomorphically.
4. The key holder decrypts only the aggregate, which is checked against the plaintext sum.

It runs twice: element-wise (an :class:`~heprim.paillier.vector.EncryptedVector`, one ciphertext
per value) and packed (BatchCrypt, :class:`~heprim.paillier.packing.PackedEncoder`: many values
per ciphertext, with guard bits sized for the number of hospitals), and prints timings and upload
sizes for both. The data come from ``--seed`` through a keyed PRNG, so a run can be reproduced;
the keys and the encryption randomness always come from the operating system's CSPRNG. The exit
code is 1 if either aggregate differs from the plaintext sum.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import numpy.typing as npt

from heprim.cli import keygen
from heprim.cli.progress import ProgressCallback, Reporter
from heprim.math.prng import KeyedPRNG, SystemPRNG

if TYPE_CHECKING:  # imported when run: `heprim --version` should not load the schemes
    from heprim.paillier import PrivateKey, PublicKey
    from heprim.paillier.packing import PackedEncoder

__all__ = ["hospital_data", "register", "run"]

DEFAULT_CLIENTS = 20
DEFAULT_DIM = 1000
DEFAULT_BITS = 2048
VALUE_BITS = 16  # each statistic is a signed 16-bit integer


def default_workers() -> int:
    """The number of cores this process may use (the encryption is spread over them)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="end-to-end encrypted aggregation: hospitals, an aggregator, a key holder",
        description=(
            "Hospitals pool their statistics without revealing them: each encrypts its vector "
            "under a Paillier public key, an aggregator adds the ciphertexts without the secret "
            "key, and the key holder decrypts only the sum, which is checked. Runs element-wise "
            "and packed (BatchCrypt) and prints timings and upload sizes."
        ),
    )
    parser.add_argument(
        "--clients",
        type=_positive,
        default=DEFAULT_CLIENTS,
        help=f"number of hospitals (default {DEFAULT_CLIENTS})",
    )
    parser.add_argument(
        "--dim",
        type=_positive,
        default=DEFAULT_DIM,
        help=f"statistics per hospital (default {DEFAULT_DIM:,})",
    )
    parser.add_argument(
        "--bits",
        type=int,
        default=DEFAULT_BITS,
        help=f"Paillier modulus size (default {DEFAULT_BITS}; 3072 for ~128-bit security)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the synthetic data, for a reproducible run (default: a fresh one, printed)",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="parallel workers for encryption and decryption (default: the usable cores)",
    )
    keygen.add_insecure_flag(parser)
    parser.set_defaults(run=run, check=keygen.check_bits, parser=parser)


def hospital_data(seed: int, clients: int, dim: int) -> npt.NDArray[np.int64]:
    """The synthetic statistics: a ``(clients, dim)`` array of signed 16-bit values.

    Hospital ``i`` draws its row from its own stream ``KeyedPRNG(SHA3-256("heprim.demo:seed"))
    .derive("hospital i")``, so the data depend only on the seed (never on ``numpy.random``).
    """
    root = KeyedPRNG(hashlib.sha3_256(f"heprim.demo:{seed}".encode()).digest())
    rows = [
        np.frombuffer(root.derive(f"hospital {i}").random_bytes(2 * dim), dtype="<i2")
        for i in range(clients)
    ]
    return np.stack(rows).astype(np.int64)


def _offset(progress: ProgressCallback, start: int, total: int) -> ProgressCallback:
    """Map one client's progress into the progress of the whole phase."""

    def callback(done: int, _total: int) -> None:
        progress(start + done, total)

    return callback


def _size(n_bytes: float) -> str:
    if n_bytes < 1024:
        return f"{n_bytes:,.0f} B"
    for unit in ("KiB", "MiB"):
        n_bytes /= 1024
        if n_bytes < 1024:
            return f"{n_bytes:,.1f} {unit}"
    return f"{n_bytes / 1024:,.1f} GiB"


def _seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


class _Path:
    """One way of running the scenario (element-wise or packed), with its measurements."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.upload_bytes = 0
        self.aggregate_bytes = 0
        self.ciphertexts_per_client = 0
        self.ok = False

    @contextlib.contextmanager
    def timer(self, phase: str) -> Iterator[None]:
        """Add the wall-clock time of the block to ``phase`` (phases repeat once per client)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.times[phase] = self.times.get(phase, 0.0) + time.perf_counter() - start


def _aggregate(path: _Path, uploads: Sequence[str], public_key: PublicKey, kind: type[Any]) -> str:
    """The aggregator: parse every upload under the public key, add them, serialize the sum.

    It never holds the secret key; loading checks each upload's type, key fingerprint and values.
    """
    from heprim.serialize import dumps, loads

    with path.timer("aggregate"):
        total = loads(uploads[0], public_key=public_key, expect=kind)
        for text in uploads[1:]:
            total = total + loads(text, public_key=public_key, expect=kind)
        message: str = dumps(total)
    path.aggregate_bytes = len(message.encode())
    return message


def _element_wise(
    public_key: PublicKey,
    private_key: PrivateKey,
    data: npt.NDArray[np.int64],
    workers: int,
    report: Reporter,
) -> tuple[_Path, npt.NDArray[Any]]:
    from heprim.paillier.vector import EncryptedVector, decrypt_vector, encrypt_vector
    from heprim.serialize import dumps, loads

    path = _Path()
    clients, dim = data.shape
    uploads: list[str] = []
    with report.progress("hospitals encrypt") as progress:
        for i, row in enumerate(data):
            with path.timer("encrypt"):
                vector = encrypt_vector(
                    public_key,
                    row,
                    workers=workers,
                    progress=_offset(progress, i * dim, clients * dim),
                )
            with path.timer("serialize"):
                uploads.append(dumps(vector))
    path.ciphertexts_per_client = dim
    path.upload_bytes = len(uploads[0].encode())

    message = _aggregate(path, uploads, public_key, EncryptedVector)
    with report.progress("key holder decrypts") as progress, path.timer("decrypt"):
        total = loads(message, public_key=public_key, expect=EncryptedVector)
        result = decrypt_vector(private_key, total, workers=workers, progress=progress)
    return path, np.asarray(result)


def _packed(
    encoder: PackedEncoder,
    private_key: PrivateKey,
    data: npt.NDArray[np.int64],
    workers: int,
    report: Reporter,
) -> tuple[_Path, npt.NDArray[Any]]:
    from heprim.paillier.packing import PackedVector
    from heprim.serialize import dumps, loads

    path = _Path()
    clients = len(data)
    uploads: list[str] = []
    with report.progress("hospitals encrypt") as progress:
        for i, row in enumerate(data):
            with path.timer("encrypt"):
                packed = encoder.encrypt(row, workers=workers)
            with path.timer("serialize"):
                uploads.append(dumps(packed))
            progress(i + 1, clients)
    path.ciphertexts_per_client = len(packed.ciphertexts)
    path.upload_bytes = len(uploads[0].encode())

    message = _aggregate(path, uploads, encoder.public_key, PackedVector)
    with path.timer("decrypt"):
        total = loads(message, public_key=encoder.public_key, expect=PackedVector)
        result = encoder.decrypt(private_key, total)
    return path, np.asarray(result)


def _report_path(report: Reporter, path: _Path, clients: int, dim: int) -> None:
    values = clients * dim
    encrypt = path.times["encrypt"]
    report.line(
        f"  hospitals encrypt   {_seconds(encrypt):>9}  "
        f"({encrypt / values * 1e6:,.0f} us per value, all {clients} hospitals)"
    )
    report.line(
        f"  upload per hospital {_size(path.upload_bytes):>9}  "
        f"({path.ciphertexts_per_client:,} ciphertexts, {path.upload_bytes / dim:,.0f} bytes "
        f"per value; serialized in {_seconds(path.times['serialize'])})"
    )
    report.line(
        f"  aggregator adds     {_seconds(path.times['aggregate']):>9}  "
        f"(parse {clients} uploads, add them, serialize: {_size(path.aggregate_bytes)}; no key)"
    )
    report.line(f"  key holder decrypts {_seconds(path.times['decrypt']):>9}")
    verdict = (
        "OK, equals the plaintext sum" if path.ok else "FAILED, differs from the plaintext sum"
    )
    report.line(f"  check               {verdict}")


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run the scenario and print the report; returns 0 when both aggregates are correct."""
    report = Reporter(out)
    seed = args.seed if args.seed is not None else SystemPRNG().randbits(32)
    workers = args.workers or default_workers()
    clients, dim = args.clients, args.dim

    report.line(
        f"heprim demo: {clients} hospitals x {dim:,} signed {VALUE_BITS}-bit statistics, "
        f"{args.bits}-bit Paillier key"
    )
    report.line(f"data seed {seed} (rerun with --seed {seed}), {workers} parallel worker(s)")
    data = hospital_data(seed, clients, dim)
    expected = data.sum(axis=0)

    public_key, private_key, seconds = keygen.generate(args, report)
    report.line(f"key holder: key pair generated in {_seconds(seconds)}, public key published")

    report.line("")
    report.line("[1] element-wise: one ciphertext per value (EncryptedVector, DJN encryption)")
    element, result = _element_wise(public_key, private_key, data, workers, report)
    element.ok = _equal(result, expected)
    _report_path(report, element, clients, dim)

    from heprim.paillier.packing import PackedEncoder

    report.line("")
    encoder = PackedEncoder(public_key, VALUE_BITS, max_additions=clients)
    report.line(
        f"[2] packed (BatchCrypt): {encoder.slots_per_ciphertext} values per ciphertext, "
        f"{VALUE_BITS}-bit slots with guard bits for {clients} additions (PackedEncoder)"
    )
    packed, result = _packed(encoder, private_key, data, workers, report)
    packed.ok = _equal(result, expected)
    _report_path(report, packed, clients, dim)

    report.line("")

    def ratio(phase: str) -> float:
        return element.times[phase] / max(packed.times[phase], 1e-9)

    report.line(
        f"packed vs element-wise: {element.upload_bytes / packed.upload_bytes:,.1f}x smaller "
        f"uploads, {ratio('encrypt'):,.1f}x faster encryption, "
        f"{ratio('decrypt'):,.1f}x faster decryption"
    )
    if element.ok and packed.ok:
        report.line("demo passed: the aggregate matches the plaintext sum on both paths")
        return 0
    report.line("demo FAILED: an aggregate does not match the plaintext sum")
    return 1


def _equal(result: npt.NDArray[Any], expected: npt.NDArray[np.int64]) -> bool:
    """Exact comparison, whatever integer dtype the decryption chose."""
    values: Sequence[Any] = result.tolist()
    return result.shape == expected.shape and values == expected.tolist()
