"""The RNS/NTT ring engine: products against gmpy2 Kronecker substitution, NTTs, conversions.

    pytest benchmarks/bench_ring.py --benchmark-enable                  # small sizes (smoke)
    HEPRIM_BENCH_FULL=1 pytest benchmarks/bench_ring.py --benchmark-enable   # the issue's sizes

Groups:

* ``product-N{N}``: a full negacyclic product of two polynomials of ``R_Q`` in coefficient form
  (heprim: 2 forward NTTs, a pointwise product, 1 inverse NTT, all limbs at once) next to the
  exact product by Kronecker substitution with gmpy2 (pack both coefficient lists into one big
  integer each, one GMP multiplication, unpack and reduce mod ``X^N + 1`` and ``Q``), on the same
  ``Q``, packed two ways: through Python bytes, and with ``gmpy2.pack``/``unpack`` (faster; GMP's
  multiplication itself is most of its time). Full sizes: ``N = 8192`` with 8 limbs of 28 bits
  (a 224-bit ``Q``, for the issue's ~218 bits) and ``N = 16384`` with 16 limbs of 28 bits (448
  bits, for ~438). Target: heprim at least 4x faster. Primes below ``2^28`` let the forward NTT
  skip most lazy reductions (see ``NTT._forward_schedule``); ``HEPRIM_BENCH_BITS=30`` uses the
  largest primes instead (8 and 15 limbs).
* ``ntt-forward-L6`` / ``ntt-inverse-L6``: one transform of 6 limbs for each ``N``; the time per
  limb per coefficient is in ``extra_info``.
* ``hps-N{N}``: the BFV building blocks (exact base conversion Q -> P, scale-and-round
  ``t/Q`` from Q u P into P, an automorphism in NTT form, a pointwise product).
* ``keyswitch-batch``: the forward NTT of a key-switching-sized stack (2 x 8 polynomials,
  ``N = 16384``, 14 limbs in full mode); the peak of traced memory during one call is in
  ``extra_info['peak_mib']`` next to the size of the data itself.

Single-threaded numpy apart from BLAS (the base-conversion matrix products); set
``OPENBLAS_NUM_THREADS=1`` for strictly one thread.
"""

from __future__ import annotations

import os
import statistics
import time
import tracemalloc
from functools import cache
from typing import Any

import gmpy2
import pytest

from heprim.math.prng import KeyedPRNG
from heprim.ring import Ring, RingElement, ntt_primes

FULL = os.environ.get("HEPRIM_BENCH_FULL") == "1"
BITS = int(os.environ.get("HEPRIM_BENCH_BITS", "28"))
PRODUCT_SIZES = ([(8192, 8), (16384, 15 if BITS == 30 else 16)]) if FULL else [(1024, 4)]
NTT_DEGREES = [4096, 8192, 16384, 32768] if FULL else [1024]
HPS_SIZE = (8192, 8) if FULL else (1024, 3)
KEYSWITCH = (16384, 14, (2, 8)) if FULL else (1024, 4, (2, 2))


@cache
def ring(degree: int, limbs: int) -> Ring:
    return Ring(degree, ntt_primes(degree, limbs, bits=BITS))


@cache
def operands(degree: int, limbs: int) -> tuple[RingElement, RingElement]:
    r = ring(degree, limbs)
    a, b = r.sample_uniform(KeyedPRNG.from_int(degree + limbs), shape=(2,))
    return a, b


def kronecker_product_pack(a: list[int], b: list[int], q: int) -> list[int]:
    """Kronecker substitution with gmpy2's own packing: ``pack``, one product, ``unpack``."""
    n = len(a)
    bits = 2 * q.bit_length() + n.bit_length() + 1  # a slot holds any sum of n products
    c = gmpy2.unpack(gmpy2.pack(a, bits) * gmpy2.pack(b, bits), bits)
    c += [0] * (2 * n - len(c))  # unpack drops the zero slots at the top
    return [int((c[i] - c[i + n]) % q) for i in range(n)]


def kronecker_product(a: list[int], b: list[int], q: int) -> list[int]:
    """The exact negacyclic product mod q through one gmpy2 big-integer multiplication."""
    n = len(a)
    slot = (2 * q.bit_length() + n.bit_length() + 8 + 7) // 8  # no carries between slots
    x = gmpy2.mpz(int.from_bytes(b"".join(v.to_bytes(slot, "little") for v in a), "little"))
    y = gmpy2.mpz(int.from_bytes(b"".join(v.to_bytes(slot, "little") for v in b), "little"))
    raw = int(x * y).to_bytes(2 * n * slot, "little")
    c = [int.from_bytes(raw[i * slot : (i + 1) * slot], "little") for i in range(2 * n)]
    return [(c[i] - c[i + n]) % q for i in range(n)]


def _label(benchmark: Any, group: str, library: str, **info: Any) -> None:
    benchmark.group = group
    benchmark.extra_info["library"] = library
    benchmark.extra_info.update(info)


# ------------------------------------------------------------------ full products


@pytest.mark.parametrize(("degree", "limbs"), PRODUCT_SIZES)
def test_product_heprim(benchmark: Any, degree: int, limbs: int) -> None:
    a, b = operands(degree, limbs)
    bits = ring(degree, limbs).modulus.bit_length()
    _label(benchmark, f"product-N{degree}", "heprim ntt", q_bits=bits, limbs=limbs)
    benchmark(a.__mul__, b)


@pytest.mark.parametrize(("degree", "limbs"), PRODUCT_SIZES)
def test_product_gmpy2_kronecker(benchmark: Any, degree: int, limbs: int) -> None:
    a, b = operands(degree, limbs)
    q = ring(degree, limbs).modulus
    x, y = a.to_ints(), b.to_ints()
    _label(benchmark, f"product-N{degree}", "gmpy2 kronecker (bytes)", q_bits=q.bit_length())
    result = benchmark(kronecker_product, x, y, q)
    assert result == (a * b).to_ints()  # the two agree


@pytest.mark.parametrize(("degree", "limbs"), PRODUCT_SIZES)
def test_product_gmpy2_kronecker_pack(benchmark: Any, degree: int, limbs: int) -> None:
    a, b = operands(degree, limbs)
    q = ring(degree, limbs).modulus
    x, y = a.to_ints(), b.to_ints()
    _label(benchmark, f"product-N{degree}", "gmpy2 kronecker (pack)", q_bits=q.bit_length())
    result = benchmark(kronecker_product_pack, x, y, q)
    assert result == (a * b).to_ints()


@pytest.mark.parametrize(("degree", "limbs"), PRODUCT_SIZES)
def test_product_ratio_interleaved(benchmark: Any, degree: int, limbs: int) -> None:
    """heprim and each Kronecker product timed in alternation, pair by pair (heprim, Kronecker,
    heprim, Kronecker, ...), so that a change of load on a shared machine hits both alike and
    each runs right after the other, with the caches the other left behind (in a three-way
    rotation one Kronecker variant would always follow the other, with GMP's memory warm, and
    heprim always a Kronecker run). ``extra_info`` holds the medians of the per-pair ratios
    (Kronecker time / heprim time) and of both times."""
    a, b = operands(degree, limbs)
    q = ring(degree, limbs).modulus
    x, y = a.to_ints(), b.to_ints()
    rivals = {
        "bytes": lambda: kronecker_product(x, y, q),
        "pack": lambda: kronecker_product_pack(x, y, q),
    }
    rounds = 15 if FULL else 1
    info: dict[str, float] = {}
    for name, rival in rivals.items():
        mine, theirs = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            a * b
            mine.append(time.perf_counter() - start)
            start = time.perf_counter()
            rival()
            theirs.append(time.perf_counter() - start)
        ratios = [t / h for t, h in zip(theirs, mine, strict=True)]
        info[f"ratio_vs_kronecker_{name}"] = round(statistics.median(ratios), 2)
        info[f"kronecker_{name}_median_ms"] = round(statistics.median(theirs) * 1e3, 2)
        info[f"heprim_median_ms_vs_{name}"] = round(statistics.median(mine) * 1e3, 2)
    _label(
        benchmark,
        f"product-N{degree}",
        "heprim (interleaved with kronecker)",
        q_bits=q.bit_length(),
        **info,
    )
    benchmark(a.__mul__, b)


# ------------------------------------------------------------------ transforms


@pytest.mark.parametrize("degree", NTT_DEGREES)
def test_ntt_forward(benchmark: Any, degree: int) -> None:
    a, _ = operands(degree, 6)
    tables = ring(degree, 6).ntt_tables
    out = a.data.copy()
    _label(benchmark, "ntt-forward-L6", "heprim", degree=degree)
    benchmark(tables.forward, a.data, out)
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        per = stats.stats.median / (6 * degree) * 1e9
        benchmark.extra_info["ns_per_limb_coefficient"] = round(per, 2)


@pytest.mark.parametrize("degree", NTT_DEGREES)
def test_ntt_inverse(benchmark: Any, degree: int) -> None:
    a, _ = operands(degree, 6)
    tables = ring(degree, 6).ntt_tables
    out = a.data.copy()
    _label(benchmark, "ntt-inverse-L6", "heprim", degree=degree)
    benchmark(tables.inverse, a.data, out)
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        per = stats.stats.median / (6 * degree) * 1e9
        benchmark.extra_info["ns_per_limb_coefficient"] = round(per, 2)


# ------------------------------------------------------------------ BFV building blocks


@cache
def hps_rings() -> tuple[Ring, Ring, Ring]:
    degree, limbs = HPS_SIZE
    primes = ntt_primes(degree, 2 * limbs + 1, bits=BITS)
    ring_q = Ring(degree, primes[:limbs])
    ring_p = Ring(degree, primes[limbs:])
    return ring_q, ring_p, ring_q.extend(ring_p.moduli)


def test_hps_base_conversion(benchmark: Any) -> None:
    ring_q, ring_p, _ = hps_rings()
    x = ring_q.sample_uniform(KeyedPRNG.from_int(1))
    _label(benchmark, f"hps-N{ring_q.degree}", "convert Q->P (exact)")
    benchmark(x.convert_basis, ring_p)


def test_hps_scale_and_round(benchmark: Any) -> None:
    _, ring_p, ring_qp = hps_rings()
    x = ring_qp.sample_uniform(KeyedPRNG.from_int(2))
    _label(benchmark, f"hps-N{ring_p.degree}", "scale t/Q: QP->P")
    benchmark(x.scale_and_round, 65537, ring_p)


def test_automorphism_ntt(benchmark: Any) -> None:
    ring_q, _, _ = hps_rings()
    x = ring_q.sample_uniform(KeyedPRNG.from_int(3), ntt=True)
    _label(benchmark, f"hps-N{ring_q.degree}", "automorphism (NTT form)")
    benchmark(x.automorphism, 3)


def test_pointwise_product(benchmark: Any) -> None:
    ring_q, _, _ = hps_rings()
    x, y = ring_q.sample_uniform(KeyedPRNG.from_int(4), shape=(2,), ntt=True)
    _label(benchmark, f"hps-N{ring_q.degree}", "pointwise product (NTT form)")
    benchmark(x.__mul__, y)


# ------------------------------------------------------------------ batched key switching


def test_keyswitch_batch_ntt(benchmark: Any) -> None:
    degree, limbs, shape = KEYSWITCH
    r = ring(degree, limbs)
    stack = r.sample_uniform(KeyedPRNG.from_int(5), shape=shape)
    data_mib = stack.data.nbytes / 2**20
    stack[0, 0].ntt()  # build the (cached) tables outside the measurement
    tracemalloc.start()
    stack.ntt()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    _label(
        benchmark,
        "keyswitch-batch",
        "heprim ntt",
        shape=f"{shape} x {limbs} x {degree}",
        data_mib=round(data_mib, 1),
        peak_mib=round(peak / 2**20, 1),
    )
    benchmark(stack.ntt)
    # the transform allocates its output and a bounded workspace (a few chunk buffers, about 1 MiB)
    assert peak / 2**20 < data_mib + 4
