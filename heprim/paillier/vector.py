"""Encrypted numpy arrays: one Paillier ciphertext per element, one exponent per array.

:func:`encrypt_vector` turns an integer or float array into an :class:`EncryptedVector`, which
supports the additively homomorphic operations of Paillier's scheme (Paillier, "Public-key
cryptosystems based on composite degree residuosity classes", EUROCRYPT '99, sec. 8) elementwise:

* ``E(a) * E(b) = E(a + b)``: vector + vector, and vector + plaintext, the latter as
  ``c * (1 + m n) mod n^2`` since ``g^m = 1 + m n`` for ``g = n + 1`` (no exponentiation);
* ``E(a)^k = E(k a)``: vector * plaintext scalar or array, and negation (``k = -1``, an inverse);
* ``sum`` and ``dot`` with a plaintext array fold these into one :class:`EncryptedNumber`.

Numbers are encoded as in python-paillier (:mod:`heprim.paillier.encoding`): an element stands for
``mantissa * 16**exponent``. A vector shares ONE public exponent, so elementwise sums need no
per-element alignment: integers use exponent 0, floats the smallest exponent any element needs to
keep all 53 bits of its mantissa (or the one ``precision=`` asks for, as in phe). Exponents are
public; aligning two vectors multiplies the higher one's plaintexts by a power of 16.

Parallelism. Encryption, decryption and re-randomisation work on fixed chunks of
:data:`CHUNK_SIZE` elements. Each chunk draws its randomness from its own
:class:`~heprim.math.prng.KeyedPRNG`, seeded with 32 bytes taken from the caller's ``rng`` in
chunk order before any work starts: a seeded run gives the same ciphertexts for any ``workers``,
no generator is shared between threads, and no generator state is ever copied into a child
process. With ``workers > 1`` the default ``backend="auto"`` picks, per operation:

* threads for work made of single long GMP calls (CRT decryption, textbook encryption, the key
  holder's ``standard`` mode are a few ``powmod`` each): every worker thread enters
  :func:`~heprim.math.ntheory.gil_released`, gmpy2 releases the GIL inside ``powmod``, and the
  threads run on separate cores;
* worker processes for DJN encryption (public or key holder) and re-randomisation, whose
  fixed-base exponentiation is a Python loop of short modular products that hold the GIL
  (threads measured ~1.1x on 2 cores, processes ~1.9x). They come from
  :mod:`heprim.paillier._workers`: forked once per key (after its tables are built here, so the
  children share them) and reused by later calls, they receive chunks as bytes -- integers and
  32-byte seeds in a documented frame layout, never pickle -- and use only their chunk seeds,
  never a generator or a randomness pool inherited from the parent. :func:`close_worker_pools`
  stops them; they also stop when their key is garbage-collected, and at exit.

Where ``fork`` does not exist (Windows), ``auto`` uses threads. Forking a process that runs other
threads has a caveat: see :mod:`heprim.paillier._workers`, "Fork safety".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from numbers import Integral, Real
from typing import Any, Final, Literal, TypeAlias, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from heprim.errors import EncodingOverflowError, KeyMismatchError, ParameterError, ProtocolError
from heprim.math import ntheory
from heprim.math.prng import PRNG, KeyedPRNG, default_rng
from heprim.paillier import _workers
from heprim.paillier.encoding import BASE, LOG2_BASE, EncodedNumber
from heprim.paillier.keys import PrivateKey, PublicKey
from heprim.paillier.number import EncryptedNumber

__all__ = [
    "CHUNK_SIZE",
    "EncryptedVector",
    "close_worker_pools",
    "decrypt_vector",
    "encrypt_vector",
    "raw_decrypt_many",
    "raw_encrypt_many",
    "raw_obfuscate_many",
]

Mode: TypeAlias = Literal["djn", "standard"]
Backend: TypeAlias = Literal["auto", "process", "thread"]
Progress: TypeAlias = Callable[[int, int], None] | None

CHUNK_SIZE: Final = 32
"""Elements per unit of parallel work; each chunk gets its own 32-byte PRNG seed."""

_FLOAT_MANTISSA_BITS: Final = 53
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


# --------------------------------------------------------------------------- argument checks


def _int_arg(value: object, what: str) -> int:
    """An integer argument (int, gmpy2.mpz, numpy integer), never a bool."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ParameterError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _precision_exponent(precision: object) -> int:
    """phe's exponent for an absolute precision: ``floor(log_16(precision))``."""
    if isinstance(precision, bool) or not isinstance(precision, Real):
        raise ParameterError(f"precision must be a positive number, got {precision!r}")
    prec = float(precision)
    if not (math.isfinite(prec) and prec > 0):
        raise ParameterError(f"precision must be a positive finite number, got {prec}")
    return math.floor(math.log(prec, BASE))  # phe's own formula, float rounding included


def _shape_arg(shape: object) -> tuple[int, ...]:
    if not isinstance(shape, bool) and isinstance(shape, Integral):
        shape = (int(shape),)
    if not isinstance(shape, Sequence) or isinstance(shape, str):
        raise ParameterError(f"shape must be a tuple of non-negative integers, got {shape!r}")
    dims = tuple(_int_arg(d, "a shape entry") for d in shape)
    if any(d < 0 for d in dims):
        raise ParameterError(f"shape must be a tuple of non-negative integers, got {shape!r}")
    return dims


def _is_zero_int(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, Integral) and int(value) == 0


# --------------------------------------------------------------------------- parallel engine

_Op: TypeAlias = Literal["encrypt", "decrypt", "obfuscate"]
_Key: TypeAlias = PublicKey | PrivateKey

# The op and mode bytes of the worker frames (heprim.paillier._workers).
_OP_CODES: Final[dict[_Op, int]] = {"encrypt": 1, "decrypt": 2, "obfuscate": 3}
_OPS: Final[dict[int, _Op]] = {code: op for op, code in _OP_CODES.items()}
_MODE_CODES: Final[dict[Mode, int]] = {"djn": 0, "standard": 1}
_MODES: Final[dict[int, Mode]] = {code: mode for mode, code in _MODE_CODES.items()}


def _run_chunk(
    op: _Op, key: _Key, items: Sequence[int], seed: bytes | None, mode: Mode
) -> list[int]:
    rng = KeyedPRNG(seed) if seed is not None else None
    if op == "encrypt":
        return [key.raw_encrypt(m, rng=rng, mode=mode) for m in items]
    if op == "obfuscate":
        public_key = key.public_key if isinstance(key, PrivateKey) else key
        return [public_key.raw_obfuscate(c, rng=rng) for c in items]
    if not isinstance(key, PrivateKey):  # pragma: no cover - the public functions check this
        raise ParameterError("decryption needs the PrivateKey")
    return [key.raw_decrypt(c) for c in items]


def _thread_chunk(
    op: _Op, key: _Key, items: Sequence[int], seed: bytes | None, mode: Mode
) -> list[int]:
    # gmpy2's GIL setting is thread-local: every worker thread opts in for itself.
    with ntheory.gil_released():
        return _run_chunk(op, key, items, seed, mode)


def _worker_handler(key: _Key) -> _workers.Handler:
    """What a forked worker runs on each chunk: the key is inherited, never sent."""

    def handle(op_code: int, mode_code: int, seed: bytes | None, items: list[int]) -> list[int]:
        op, mode = _OPS.get(op_code), _MODES.get(mode_code)
        if op is None or mode is None:
            raise ProtocolError(f"unknown op {op_code} or mode {mode_code} in a worker frame")
        return _run_chunk(op, key, items, seed, mode)

    return handle


def _input_check(op: _Op, key: _Key) -> Callable[[object], int]:
    """The validation the sequential path applies to each input, for use before sending."""
    public_key = key.public_key if isinstance(key, PrivateKey) else key
    if op == "encrypt":
        return public_key.check_plaintext
    if op == "decrypt":
        return public_key.check_ciphertext
    return public_key._check_ct_fast


def _fork_available() -> bool:
    return _workers.fork_available()


def close_worker_pools() -> None:
    """Stop every worker process started for parallel vector operations in this process.

    Optional: pools are reused across calls, stopped when their key is garbage-collected, when
    more than a few keys have pools, and at interpreter exit. The next parallel call starts anew.
    """
    _workers.close_all()


def _check_workers(workers: object) -> int:
    if isinstance(workers, bool) or not isinstance(workers, Integral) or int(workers) < 1:
        raise ParameterError(f"workers must be a positive integer, got {workers!r}")
    return int(workers)


def _resolve_backend(
    backend: object, op: _Op, key: _Key, mode: Mode
) -> Literal["process", "thread"]:
    """``auto``: processes for DJN (Python-level products that hold the GIL), threads for work
    dominated by single long ``powmod`` calls (decryption, textbook and key-holder ``standard``
    encryption), which gmpy2 runs with the GIL released; threads then scale as well."""
    if backend == "auto":
        powmod_bound = op == "decrypt" or mode == "standard"
        return "process" if _fork_available() and not powmod_bound else "thread"
    if backend == "process":
        if not _fork_available():
            raise ParameterError(
                "backend='process' needs fork() (Linux, BSD, macOS); use backend='thread'"
            )
        return "process"
    if backend == "thread":
        return "thread"
    raise ParameterError(f"backend must be 'auto', 'process' or 'thread', got {backend!r}")


def _needs(op: _Op, mode: Mode) -> frozenset[str]:
    """What forked workers must inherit: the key's DJN tables for DJN work."""
    djn = op == "obfuscate" or (op == "encrypt" and mode == "djn")
    return frozenset({"djn"}) if djn else frozenset()


def _prepare(key: _Key) -> Callable[[frozenset[str]], None]:
    def prepare(features: frozenset[str]) -> None:
        # Built here, before fork(): the children share one copy instead of each building its own.
        if "djn" in features:
            key.precompute()

    return prepare


def _map_chunks(
    op: _Op,
    key: _Key,
    items: Sequence[int],
    *,
    rng: PRNG | None,
    mode: Mode,
    workers: int,
    backend: object,
    progress: Progress,
) -> list[int]:
    """Apply ``op`` to ``items`` chunk by chunk, in parallel when ``workers > 1``."""
    workers = _check_workers(workers)
    kind = _resolve_backend(backend, op, key, mode)
    if progress is not None and not callable(progress):
        raise ParameterError("progress must be a callable progress(done, total) or None")
    total = len(items)
    bounds = [(i, min(i + CHUNK_SIZE, total)) for i in range(0, total, CHUNK_SIZE)]
    # Seeds are drawn up front and in order: the output depends on rng, never on scheduling.
    seeds: list[bytes | None]
    if op == "decrypt":
        seeds = [None] * len(bounds)
    else:
        source = default_rng(rng)
        seeds = [source.random_bytes(32) for _ in bounds]

    results: list[list[int]] = [[] for _ in bounds]
    done = 0

    def finished(index: int) -> None:
        nonlocal done
        lo, hi = bounds[index]
        done += hi - lo
        if progress is not None:
            progress(done, total)

    if workers == 1 or len(bounds) <= 1:
        for index, (lo, hi) in enumerate(bounds):
            results[index] = _run_chunk(op, key, items[lo:hi], seeds[index], mode)
            finished(index)
    elif kind == "process":
        # Checked here, as the sequential path would, so that a worker only ever sees valid input.
        check = _input_check(op, key)
        tasks = [
            _workers.Task(
                _OP_CODES[op], _MODE_CODES[mode], seeds[i], [check(x) for x in items[lo:hi]]
            )
            for i, (lo, hi) in enumerate(bounds)
        ]
        with _workers.lease(
            key,
            workers,
            needs=_needs(op, mode),
            prepare=_prepare(key),
            handler=lambda: _worker_handler(key),
        ) as pool:
            results = pool.map(tasks, finished)
    else:
        with ThreadPoolExecutor(
            min(workers, len(bounds)), thread_name_prefix="heprim-paillier"
        ) as executor:
            futures: dict[Future[list[int]], int] = {
                executor.submit(_thread_chunk, op, key, items[lo:hi], seeds[index], mode): index
                for index, (lo, hi) in enumerate(bounds)
            }
            pending = set(futures)
            try:
                while pending:
                    ready, pending = wait_futures(pending, return_when="FIRST_COMPLETED")
                    for fut in ready:
                        index = futures[fut]
                        results[index] = fut.result()  # re-raises a worker's exception here
                        finished(index)
            finally:
                for fut in pending:
                    fut.cancel()
    return [c for chunk in results for c in chunk]


def raw_encrypt_many(
    key: PublicKey | PrivateKey,
    plaintexts: Sequence[int],
    *,
    rng: PRNG | None = None,
    mode: Mode = "djn",
    workers: int = 1,
    backend: Backend = "auto",
    progress: Progress = None,
) -> list[int]:
    """Encrypt raw plaintexts ``0 <= m < n`` in parallel; a :class:`PrivateKey` uses CRT.

    The raw layer under :func:`encrypt_vector` and :class:`~heprim.paillier.packing.PackedEncoder`:
    no encoding, one fresh ciphertext per plaintext. ``mode`` picks the method: DJN
    short-exponent ``h_s^a`` or the textbook distribution (``r^n``). A private key computes either
    by CRT (:meth:`PrivateKey.raw_encrypt`); its DJN ciphertexts are the public key's, bit for
    bit, for the same ``rng``.
    """
    if not isinstance(key, PublicKey | PrivateKey):
        raise ParameterError(
            f"encryption needs a heprim PublicKey or PrivateKey, got {type(key).__name__}"
        )
    if mode not in ("djn", "standard"):
        raise ParameterError(f"mode must be 'djn' or 'standard', got {mode!r}")
    return _map_chunks(
        "encrypt",
        key,
        plaintexts,
        rng=rng,
        mode=mode,
        workers=workers,
        backend=backend,
        progress=progress,
    )


def raw_decrypt_many(
    private_key: PrivateKey,
    ciphertexts: Sequence[int],
    *,
    workers: int = 1,
    backend: Backend = "auto",
    progress: Progress = None,
) -> list[int]:
    """Decrypt raw ciphertexts to plaintexts in ``[0, n)`` (CRT), in parallel."""
    if not isinstance(private_key, PrivateKey):
        raise ParameterError(
            f"decryption needs the heprim PrivateKey, got {type(private_key).__name__}"
        )
    return _map_chunks(
        "decrypt",
        private_key,
        ciphertexts,
        rng=None,
        mode="djn",
        workers=workers,
        backend=backend,
        progress=progress,
    )


def raw_obfuscate_many(
    public_key: PublicKey,
    ciphertexts: Sequence[int],
    *,
    rng: PRNG | None = None,
    workers: int = 1,
    backend: Backend = "auto",
    progress: Progress = None,
) -> list[int]:
    """Re-randomise raw ciphertexts (multiply each by a fresh encryption of zero)."""
    if not isinstance(public_key, PublicKey):
        raise ParameterError(f"expected a heprim PublicKey, got {type(public_key).__name__}")
    return _map_chunks(
        "obfuscate",
        public_key,
        ciphertexts,
        rng=rng,
        mode="djn",
        workers=workers,
        backend=backend,
        progress=progress,
    )


# --------------------------------------------------------------------------- array encoding


def _as_number_array(values: ArrayLike, what: str) -> NDArray[Any]:
    """A numeric ndarray (int, uint, float, or object holding ints/floats), at least 1-D."""
    if isinstance(values, EncryptedVector | EncryptedNumber):
        raise ParameterError(f"{what} is already encrypted; pass plaintext numbers")
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"{what} is not a rectangular array of numbers: {exc}") from None
    kind = arr.dtype.kind
    if kind == "b":
        raise ParameterError(
            f"{what} is a boolean array; convert it with .astype(int) if 0/1 is what you mean"
        )
    if kind == "O":
        for item in arr.flat:
            if isinstance(item, bool) or not isinstance(item, Integral | Real):
                raise ParameterError(
                    f"{what} must hold only ints and floats, found {type(item).__name__}"
                )
    elif kind not in "iuf":
        raise ParameterError(
            f"{what} must be an array of integers or floats, got dtype {arr.dtype}"
        )
    if kind in "fO":
        as_float = arr.astype(np.float64) if kind == "f" else None
        if as_float is not None and not np.isfinite(as_float).all():
            raise ParameterError(f"{what} contains NaN or infinity, which cannot be encrypted")
        if kind == "O":
            for item in arr.flat:
                if not isinstance(item, Integral) and not math.isfinite(float(item)):
                    raise ParameterError(
                        f"{what} contains NaN or infinity, which cannot be encrypted"
                    )
    return arr


def _common_exponent(arr: NDArray[Any], precision: float | None, max_exponent: int | None) -> int:
    """The exponent shared by all elements, as phe would pick it for the least precise one."""
    if precision is not None:
        exponent = _precision_exponent(precision)
    elif arr.dtype.kind in "iu" or arr.size == 0:
        exponent = 0
    elif arr.dtype.kind == "f":
        # phe: floor((e2 - 53) / 4) where x = f * 2**e2 with 0.5 <= |f| < 1 (zero: e2 = 0).
        binary_exponents = np.frexp(arr.astype(np.float64))[1].astype(np.int64)
        exponent = int(((binary_exponents - _FLOAT_MANTISSA_BITS) // LOG2_BASE).min())
    else:
        exponent = 0
        for item in arr.flat:
            if not isinstance(item, Integral):
                e2: int = math.frexp(float(item))[1]
                exponent = min(exponent, (e2 - _FLOAT_MANTISSA_BITS) // LOG2_BASE)
    if max_exponent is not None:
        exponent = min(exponent, _int_arg(max_exponent, "max_exponent"))
    return exponent


def _mantissa_at(x: int | float, exponent: int) -> int:
    """``round(x / 16**exponent)``, exactly, ties to even (phe's ``round(Fraction)``)."""
    num, den = x.as_integer_ratio()  # exact; den is a power of two for floats, 1 for ints
    if exponent <= 0:
        num *= BASE**-exponent
    else:
        den *= BASE**exponent
    q, r = divmod(num, den)  # floor division: 0 <= r < den, also for negative num
    if 2 * r > den or (2 * r == den and q & 1):
        q += 1
    return q


def _encode_array(
    public_key: PublicKey,
    arr: NDArray[Any],
    exponent: int,
    what: str,
) -> list[int]:
    """Encodings in ``[0, n)`` of every element at ``exponent`` (row-major order).

    The same integers as python-paillier's ``EncodedNumber.encode`` at that exponent: the
    mantissa ``round(x / 16**exponent)`` (exact, ties to even), ``n - |mantissa|`` if negative.
    """
    items: list[Any] = arr.ravel().tolist()  # Python ints and floats (object arrays: as given)
    n, max_int = public_key.n, public_key.max_int
    out: list[int] = []
    for index, x in enumerate(items):
        value = int(x) if isinstance(x, Integral) else float(x)
        mantissa = _mantissa_at(value, exponent)
        if not -max_int <= mantissa <= max_int:
            raise EncodingOverflowError(
                f"{what}: element {_where(index, arr.shape)} needs a "
                f"{abs(mantissa).bit_length()}-bit mantissa at exponent {exponent}, beyond "
                f"max_int = n // 3 ({int(max_int).bit_length()} bits); use a larger key or a "
                "coarser precision= (a vector shares one exponent, so its smallest and largest "
                "magnitudes must both fit)"
            )
        out.append(mantissa % n)
    return out


def _where(index: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The multi-index of flat position ``index`` (for error messages)."""
    coords: tuple[Any, ...] = np.unravel_index(index, shape)
    return tuple(int(i) for i in coords)


def _key_of(key: object) -> PublicKey:
    if isinstance(key, PrivateKey):
        return key.public_key
    if isinstance(key, PublicKey):
        return key
    raise ParameterError(f"expected a heprim PublicKey or PrivateKey, got {type(key).__name__}")


def encrypt_vector(
    key: PublicKey | PrivateKey,
    values: ArrayLike,
    *,
    precision: float | None = None,
    max_exponent: int | None = None,
    workers: int = 1,
    rng: PRNG | None = None,
    mode: Mode = "djn",
    backend: Backend = "auto",
    progress: Progress = None,
) -> EncryptedVector:
    """Encrypt every element of an int or float array; the shape is kept.

    Args:
        key: a :class:`PublicKey`, or the :class:`PrivateKey` for the key holder's CRT fast paths.
        values: anything :func:`numpy.asarray` turns into an int, uint or float array of at least
            one dimension, or an object array of Python ints (any size) and floats. Booleans,
            NaN, infinity, complex and strings are refused.
        precision: as in phe: the exponent becomes ``floor(log_16(precision))`` for every
            element. ``None``: 0 for integer arrays; for floats the lowest exponent any element
            needs to keep its 53-bit mantissa exactly.
        max_exponent: cap the exponent (e.g. to give many vectors the same exponent up front, so
            adding them needs no alignment).
        workers: chunks run on this many processes (or threads, see ``backend``); worker
            processes are forked on first use for a key and reused (:func:`close_worker_pools`).
        rng: randomness source (default: the OS CSPRNG); one 32-byte child seed per chunk of
            :data:`CHUNK_SIZE` elements is drawn from it.
        mode: ``"djn"`` (default) or ``"standard"`` (see :func:`raw_encrypt_many`).
        backend: ``"auto"`` (processes for DJN where ``fork`` exists, else threads; see the
            module docstring), ``"process"`` or ``"thread"``.
        progress: ``progress(done, total)`` after each chunk.

    Raises:
        ParameterError: bad array (see above), key, mode, precision or workers.
        EncodingOverflowError: an element's mantissa exceeds ``max_int = n // 3``.
    """
    public_key = _key_of(key)
    arr = _as_number_array(values, "values")
    if arr.ndim == 0:
        raise ParameterError(
            "encrypt_vector needs an array of at least one dimension; encrypt a single number "
            "with key.encrypt(x) or pass [x]"
        )
    exponent = _common_exponent(arr, precision, max_exponent)
    plaintexts = _encode_array(public_key, arr, exponent, "values")
    ciphertexts = raw_encrypt_many(
        key, plaintexts, rng=rng, mode=mode, workers=workers, backend=backend, progress=progress
    )
    return EncryptedVector._make(public_key, ciphertexts, exponent, arr.shape)


_DType: TypeAlias = Literal["int64", "float64", "object"] | type | np.dtype[Any] | None


def _resolve_dtype(dtype: object) -> Literal["int64", "float64", "object"] | None:
    if dtype is None:
        return None
    try:
        kind = np.dtype(cast(Any, dtype))
    except TypeError:
        raise ParameterError(f"dtype must be int64, float64 or object, got {dtype!r}") from None
    if kind == np.int64:
        return "int64"
    if kind == np.float64:
        return "float64"
    if kind == np.dtype(object):
        return "object"
    raise ParameterError(f"dtype must be int64, float64 or object, got {kind}")


def decrypt_vector(
    private_key: PrivateKey,
    vec: EncryptedVector,
    *,
    dtype: _DType = None,
    workers: int = 1,
    backend: Backend = "auto",
    progress: Progress = None,
) -> NDArray[Any]:
    """Decrypt and decode an :class:`EncryptedVector` into an array of its shape.

    The result type follows the exponent unless ``dtype`` says otherwise:

    * exponent ``>= 0``: ``int64``; values beyond int64 raise :class:`EncodingOverflowError`
      (ask for ``dtype=object`` to get exact Python ints of any size);
    * exponent ``< 0`` (fixed point): ``float64``, each value the correctly rounded
      ``mantissa / 16**-exponent`` (phe's decoding); ``dtype=object`` gives Python floats.

    Raises:
        KeyMismatchError: ``vec`` was encrypted under another key.
        EncodingOverflowError: an element decrypted into the overflow band (a homomorphic result
            left ``[-max_int, max_int]``), or does not fit the requested dtype. The message names
            the element.
    """
    if not isinstance(private_key, PrivateKey):
        raise ParameterError(
            f"decrypt_vector needs the heprim PrivateKey, got {type(private_key).__name__}"
        )
    if not isinstance(vec, EncryptedVector):
        raise ParameterError(f"decrypt_vector needs an EncryptedVector, got {type(vec).__name__}")
    public_key = private_key.public_key
    if vec.public_key != public_key:
        raise KeyMismatchError(
            f"the vector was encrypted under key {vec.public_key.fingerprint[:8]}, this private "
            f"key belongs to {public_key.fingerprint[:8]}"
        )
    want = _resolve_dtype(dtype)
    plaintexts = raw_decrypt_many(
        private_key, vec._ciphertexts, workers=workers, backend=backend, progress=progress
    )
    exponent = vec.exponent
    values: list[int | float] = []
    for index, m in enumerate(plaintexts):
        try:
            values.append(EncodedNumber(public_key, m, exponent).decode())
        except EncodingOverflowError as exc:
            raise EncodingOverflowError(f"element {_where(index, vec.shape)}: {exc}") from None

    if want is None:
        want = "int64" if exponent >= 0 else "float64"
    if want == "object":
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out.reshape(vec.shape)
    if want == "int64":
        if exponent < 0:
            raise ParameterError(
                "this vector is fixed point (negative exponent): decrypt it to float64 or object"
            )
        for index, v in enumerate(values):
            if not _INT64_MIN <= v <= _INT64_MAX:
                where = _where(index, vec.shape)
                raise EncodingOverflowError(
                    f"element {where} needs {int(v).bit_length() + 1} bits, beyond int64; "
                    "decrypt with dtype=object to get exact Python integers"
                )
        return np.array(values, dtype=np.int64).reshape(vec.shape)
    floats: list[float] = []
    for index, v in enumerate(values):
        try:
            floats.append(float(v))
        except OverflowError:
            where = _where(index, vec.shape)
            raise EncodingOverflowError(
                f"element {where} is too large for float64; decrypt with dtype=object"
            ) from None
    return np.array(floats, dtype=np.float64).reshape(vec.shape)


# --------------------------------------------------------------------------- EncryptedVector


def _is_plain_scalar(x: object) -> bool:
    return isinstance(x, Integral | Real) and not isinstance(x, bool)


def _is_plain_array(x: object) -> bool:
    return isinstance(x, np.ndarray | list | tuple)


class EncryptedVector:
    """An array of Paillier ciphertexts under one key with one shared exponent.

    Element ``i`` decrypts to ``mantissa_i * 16**exponent`` (see :mod:`heprim.paillier.encoding`).
    Results of ``+``, ``-`` and ``*`` are NOT re-randomised: as with :class:`EncryptedNumber`,
    call :meth:`obfuscate` before sending a result to someone who saw the inputs.

    Args:
        public_key: the key the ciphertexts belong to.
        ciphertexts: the raw ciphertexts in row-major order, each checked to be a unit in
            ``[1, n^2)``.
        exponent: the shared base-16 exponent.
        shape: the array shape (default: one dimension); its product must be the count.
    """

    __slots__ = ("_ciphertexts", "_exponent", "_public_key", "_shape")

    # Make numpy hand mixed expressions (ndarray + vector) to our reflected operators.
    __array_ufunc__ = None

    _ciphertexts: list[int]
    _exponent: int
    _public_key: PublicKey
    _shape: tuple[int, ...]

    def __init__(
        self,
        public_key: PublicKey,
        ciphertexts: Iterable[int],
        exponent: int = 0,
        shape: Sequence[int] | None = None,
    ) -> None:
        if not isinstance(public_key, PublicKey):
            raise ParameterError(
                f"public_key must be a heprim PublicKey, got {type(public_key).__name__}"
            )
        if isinstance(ciphertexts, str | bytes) or not isinstance(ciphertexts, Iterable):
            raise ParameterError("ciphertexts must be an iterable of integers")
        cts = [public_key.check_ciphertext(c) for c in ciphertexts]
        exponent = _int_arg(exponent, "exponent")
        if shape is None:
            dims: tuple[int, ...] = (len(cts),)
        else:
            dims = _shape_arg(shape)
            if len(dims) == 0:
                raise ParameterError("an EncryptedVector has at least one dimension")
            if math.prod(dims) != len(cts):
                raise ParameterError(
                    f"shape {dims} holds {math.prod(dims)} elements but {len(cts)} ciphertexts "
                    "were given"
                )
        self._public_key = public_key
        self._ciphertexts = cts
        self._exponent = int(exponent)
        self._shape = dims

    @classmethod
    def _make(
        cls, public_key: PublicKey, ciphertexts: list[int], exponent: int, shape: tuple[int, ...]
    ) -> EncryptedVector:
        """Build without validation (ciphertexts computed here, already checked)."""
        self = cls.__new__(cls)
        self._public_key = public_key
        self._ciphertexts = ciphertexts
        self._exponent = exponent
        self._shape = tuple(shape)
        return self

    # ------------------------------------------------------------------ read-only views
    @property
    def public_key(self) -> PublicKey:
        """The key every element is encrypted under."""
        return self._public_key

    @property
    def ciphertexts(self) -> tuple[int, ...]:
        """The raw ciphertexts in row-major order (not re-randomised)."""
        return tuple(self._ciphertexts)

    @property
    def exponent(self) -> int:
        """The public base-16 exponent shared by all elements."""
        return self._exponent

    @property
    def shape(self) -> tuple[int, ...]:
        """The array shape."""
        return self._shape

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self._shape)

    @property
    def size(self) -> int:
        """Number of elements (ciphertexts)."""
        return len(self._ciphertexts)

    def __len__(self) -> int:
        return self._shape[0]

    def __iter__(self) -> Iterator[EncryptedNumber | EncryptedVector]:
        for i in range(self._shape[0]):
            yield self[i]

    def __getitem__(self, key: Any) -> EncryptedNumber | EncryptedVector:
        """numpy indexing: an element gives an :class:`EncryptedNumber`, a slice a vector."""
        positions = np.arange(self.size).reshape(self._shape)[key]
        if np.ndim(positions) == 0:
            c = self._ciphertexts[int(positions)]
            return EncryptedNumber(self._public_key, c, self._exponent)
        picked = [self._ciphertexts[int(i)] for i in np.ravel(positions)]
        return EncryptedVector._make(self._public_key, picked, self._exponent, np.shape(positions))

    def reshape(self, *shape: int | Sequence[int]) -> EncryptedVector:
        """The same ciphertexts under another shape (numpy rules, ``-1`` allowed)."""
        target = shape[0] if len(shape) == 1 and not isinstance(shape[0], Integral) else shape
        try:
            new_shape = np.empty(self._shape, dtype=np.bool_).reshape(cast(Any, target)).shape
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"cannot reshape {self._shape}: {exc}") from None
        if len(new_shape) == 0:
            raise ParameterError("an EncryptedVector has at least one dimension")
        return EncryptedVector._make(
            self._public_key, list(self._ciphertexts), self._exponent, new_shape
        )

    def __repr__(self) -> str:
        return (
            f"EncryptedVector(shape={self._shape}, exponent={self._exponent}, "
            f"key={self._public_key.fingerprint[:8]})"
        )

    # ------------------------------------------------------------------ helpers
    def _check_key(self, other_key: PublicKey) -> None:
        if other_key != self._public_key:
            raise KeyMismatchError(
                f"cannot combine ciphertexts under keys {self._public_key.fingerprint[:8]} and "
                f"{other_key.fingerprint[:8]}; encrypt both under the same public key"
            )

    def decrease_exponent_to(self, new_exp: int) -> EncryptedVector:
        """The same values at the lower exponent ``new_exp`` (plaintexts times ``16**diff``)."""
        new_exp = _int_arg(new_exp, "new_exp")
        if new_exp > self._exponent:
            raise ParameterError(
                f"new exponent {new_exp} must not exceed the current exponent {self._exponent}"
            )
        if new_exp == self._exponent:
            return self._copy()
        factor = BASE ** (self._exponent - new_exp)
        nsq = self._public_key.nsquare
        cts = ntheory.powmod_base_list(self._ciphertexts, factor, nsq) if self._ciphertexts else []
        return EncryptedVector._make(self._public_key, cts, new_exp, self._shape)

    def _plain(self, other: Any, max_exponent: int | None, what: str) -> tuple[list[int], int]:
        """Encode a plaintext scalar or array broadcast to this shape: (encodings, exponent)."""
        arr = _as_number_array(other, what)
        try:
            arr = np.broadcast_to(arr, self._shape)
        except ValueError:
            raise ParameterError(
                f"{what} of shape {np.shape(arr)} does not broadcast to the vector's shape "
                f"{self._shape}"
            ) from None
        exponent = _common_exponent(arr, None, max_exponent)
        return _encode_array(self._public_key, arr, exponent, what), exponent

    # ------------------------------------------------------------------ arithmetic
    def __neg__(self) -> EncryptedVector:
        nsq = self._public_key.nsquare
        cts = [ntheory.invert(c, nsq) for c in self._ciphertexts]
        return EncryptedVector._make(self._public_key, cts, self._exponent, self._shape)

    def __pos__(self) -> EncryptedVector:
        return self._copy()

    def _copy(self) -> EncryptedVector:
        # A new object: obfuscate() works in place and must not reach other references.
        return EncryptedVector._make(
            self._public_key, list(self._ciphertexts), self._exponent, self._shape
        )

    def _add_encrypted(self, other: EncryptedVector) -> EncryptedVector:
        self._check_key(other._public_key)
        if other._shape != self._shape:
            raise ParameterError(
                f"cannot add encrypted vectors of shapes {self._shape} and {other._shape}"
            )
        a, b = self, other
        if a._exponent > b._exponent:
            a = a.decrease_exponent_to(b._exponent)
        elif b._exponent > a._exponent:
            b = b.decrease_exponent_to(a._exponent)
        nsq = self._public_key.nsquare
        cts = [x * y % nsq for x, y in zip(a._ciphertexts, b._ciphertexts, strict=True)]
        return EncryptedVector._make(self._public_key, cts, a._exponent, self._shape)

    def _add_number(self, other: EncryptedNumber) -> EncryptedVector:
        self._check_key(other.public_key)
        a, b = self, other
        if a._exponent > b.exponent:
            a = a.decrease_exponent_to(b.exponent)
        elif b.exponent > a._exponent:
            b = b.decrease_exponent_to(a._exponent)
        nsq = self._public_key.nsquare
        c = b.ciphertext
        cts = [x * c % nsq for x in a._ciphertexts]
        return EncryptedVector._make(self._public_key, cts, a._exponent, self._shape)

    def _add_plain(self, other: Any, sign: int) -> EncryptedVector:
        # phe's rule: encode the plaintext at most at our exponent, then align downwards.
        encodings, exponent = self._plain(other, self._exponent, "the plaintext operand")
        a = self.decrease_exponent_to(exponent) if exponent < self._exponent else self
        n, nsq = self._public_key.n, self._public_key.nsquare
        # E(a) * g^m = E(a + m) with g^m = 1 + m n (mod n^2): a product, no exponentiation.
        cts = [
            c * (1 + (sign * m % n) * n) % nsq
            for c, m in zip(a._ciphertexts, encodings, strict=True)
        ]
        return EncryptedVector._make(self._public_key, cts, a._exponent, self._shape)

    def __add__(self, other: object) -> EncryptedVector:
        if isinstance(other, EncryptedVector):
            return self._add_encrypted(other)
        if isinstance(other, EncryptedNumber):
            return self._add_number(other)
        if _is_plain_scalar(other) or _is_plain_array(other):
            return self._add_plain(other, 1)
        return NotImplemented

    def __radd__(self, other: object) -> EncryptedVector:
        if _is_zero_int(other):
            return self._copy()  # sum(vectors) starts from 0
        return self.__add__(other)

    def __sub__(self, other: object) -> EncryptedVector:
        if isinstance(other, EncryptedVector):
            return self._add_encrypted(-other)
        if isinstance(other, EncryptedNumber):
            return self._add_number(other * -1)
        if _is_plain_scalar(other) or _is_plain_array(other):
            return self._add_plain(other, -1)
        return NotImplemented

    def __rsub__(self, other: object) -> EncryptedVector:
        if isinstance(other, EncryptedNumber):
            return (-self)._add_number(other)
        if _is_plain_scalar(other) or _is_plain_array(other):
            return (-self)._add_plain(other, 1)
        return NotImplemented

    def __mul__(self, other: object) -> EncryptedVector:
        if isinstance(other, EncryptedVector | EncryptedNumber):
            return NotImplemented  # Paillier multiplies by plaintexts only
        if not (_is_plain_scalar(other) or _is_plain_array(other)):
            return NotImplemented
        encodings, exponent = self._plain(other, None, "the plaintext factor")
        n, nsq = self._public_key.n, self._public_key.nsquare
        half = n // 2
        if np.ndim(cast(Any, other)) == 0:
            k = encodings[0] if encodings else 0
            cts = self._pow_all(self._ciphertexts, k - n if k > half else k, nsq)
        else:
            cts = [
                _signed_pow(c, k - n if k > half else k, nsq)
                for c, k in zip(self._ciphertexts, encodings, strict=True)
            ]
        return EncryptedVector._make(self._public_key, cts, self._exponent + exponent, self._shape)

    @staticmethod
    def _pow_all(cts: list[int], k: int, nsq: int) -> list[int]:
        if not cts:
            return []
        if k < 0:
            # One batched GMP call for all elements; negatives through the inverses.
            return ntheory.powmod_base_list([ntheory.invert(c, nsq) for c in cts], -k, nsq)
        return ntheory.powmod_base_list(cts, k, nsq)

    def __rmul__(self, other: object) -> EncryptedVector:
        return self.__mul__(other)

    def __truediv__(self, other: object) -> EncryptedVector:
        if not (_is_plain_scalar(other) or _is_plain_array(other)):
            return NotImplemented
        arr = _as_number_array(cast(ArrayLike, other), "the divisor")
        if (arr == 0).any():
            raise ParameterError("division of an encrypted vector by zero")
        return self.__mul__(np.divide(1.0, arr.astype(np.float64)))

    def sum(self) -> EncryptedNumber:
        """``E(sum of all elements)`` as one :class:`EncryptedNumber` (not re-randomised).

        An empty vector sums to the ciphertext 1, the trivial encryption of 0.
        """
        nsq = self._public_key.nsquare
        acc = ntheory.mpz(1)
        for c in self._ciphertexts:
            acc = acc * c % nsq
        return EncryptedNumber(self._public_key, acc, self._exponent)

    def dot(self, plain: ArrayLike) -> EncryptedNumber:
        """``E(sum_i x_i * w_i)`` for a plaintext array ``w`` of the same shape.

        Computed as ``prod c_i^(w_i)``, with the negative weights gathered into one inversion.
        """
        arr = _as_number_array(plain, "the weights")
        if arr.shape != self._shape:
            raise ParameterError(
                f"dot needs weights of the vector's shape {self._shape}, got {arr.shape}"
            )
        exponent = _common_exponent(arr, None, None)
        encodings = _encode_array(self._public_key, arr, exponent, "the weights")
        n, nsq = self._public_key.n, self._public_key.nsquare
        half = n // 2
        pos = ntheory.mpz(1)
        neg = ntheory.mpz(1)
        for c, k in zip(self._ciphertexts, encodings, strict=True):
            if k == 0:
                continue
            if k > half:
                neg = neg * ntheory.powmod(c, n - k, nsq) % nsq
            else:
                pos = pos * ntheory.powmod(c, k, nsq) % nsq
        if neg != 1:
            pos = pos * ntheory.invert(neg, nsq) % nsq
        return EncryptedNumber(self._public_key, pos, self._exponent + exponent)

    def obfuscate(
        self,
        *,
        rng: PRNG | None = None,
        workers: int = 1,
        backend: Backend = "auto",
        progress: Progress = None,
    ) -> None:
        """Re-randomise every ciphertext in place (same plaintexts, fresh randomness)."""
        self._ciphertexts = raw_obfuscate_many(
            self._public_key,
            self._ciphertexts,
            rng=rng,
            workers=workers,
            backend=backend,
            progress=progress,
        )

    def decrypt(self, private_key: PrivateKey, **kwargs: Any) -> NDArray[Any]:
        """Shorthand for :func:`decrypt_vector`."""
        return decrypt_vector(private_key, self, **kwargs)


def _signed_pow(c: int, k: int, nsq: int) -> int:
    """``c^k mod n^2`` for a signed ``k`` (a negative one through the inverse)."""
    if k < 0:
        return ntheory.powmod(ntheory.invert(c, nsq), -k, nsq)
    return ntheory.powmod(c, k, nsq)
