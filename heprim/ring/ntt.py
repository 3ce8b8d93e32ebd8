"""The negacyclic number-theoretic transform, vectorised over every limb and every row at once.

For a prime ``q = 1 (mod 2N)`` with a primitive ``2N``-th root of unity ``psi``, the negacyclic
NTT maps ``a(X) in Z_q[X]/(X^N + 1)`` to its values at the ``N`` roots of ``X^N + 1``, the odd
powers of ``psi``; a product of polynomials becomes a pointwise product of values. heprim follows
SEAL's convention exactly (``util/ntt.cpp``, ``ntt_negacyclic_harvey``) so that NTT-form data
(keys, ciphertexts) can be compared with SEAL's bit for bit:

* ``psi`` is the minimal primitive ``2N``-th root
  (:func:`heprim.ring.primes.minimal_primitive_root`);
* ``root_powers[i] = psi^brv(i)`` where ``brv`` reverses the ``log2 N`` bits of ``i``;
* the output is in bit-reversed order: ``forward(a)[i] = a(psi^(2 brv(i) + 1))``;
* values are fully reduced to ``[0, q)``.

The algorithm is the Cooley-Tukey butterfly of Longa and Naehrig ("Speeding up the number
theoretic transform for faster ideal lattice-based cryptography", CANS 2016, Algorithm 1), with
Harvey's lazy reduction ("Faster arithmetic for number-theoretic transforms", J. Symb. Comp. 60,
2014, Algorithm 4) and Shoup's precomputed quotients; the inverse is the Gentleman-Sande butterfly
(Longa-Naehrig Algorithm 2) with ``N^-1`` folded into its last stage.

**Overflow bounds (why ``q < 2^30``).** The transforms take and return ``uint64`` arrays but compute
in ``uint32`` lanes (half the memory traffic, twice the SIMD width; about 20% faster), whose
arithmetic wraps silently modulo ``2^32``: every value kept is below ``2^32``, and a wrapped
intermediate is only ever used where its true value is back in ``[0, 2^32)``. A twiddle ``w < q``
has the Shoup companion ``w' = floor(w 2^32 / q) < 2^32``; for an input ``x < 2^32``, the quotient
``floor(x w' / 2^32)`` comes from the exact 64-bit product ``x w' < 2^64``, and
``r = x w - floor(x w' / 2^32) q`` lies in ``[0, 2q)`` (Harvey, Lemma 2), so it is computed exactly
by 32-bit multiplications and a subtraction modulo ``2^32``. The forward butterfly outputs
``u + r`` and ``u - r + 2q``, so each stage raises the bound of the values by ``2q``; ``u`` is
reduced (by conditional subtractions) only when the next stage's Shoup input would otherwise
reach ``2^32`` (:meth:`NTT._forward_schedule`). For ``q`` near ``2^30`` that is every stage, and
values stay in Harvey's ``[0, 4q)`` (``4q < 2^32`` exactly because ``q < 2^30``); for
``q < 2^28`` they may grow to ``16q`` and only 2 of the 13 stages at ``N = 8192`` reduce. The
inverse keeps ``[0, 2q)``.

**Vectorisation.** numpy runs fastest on long, contiguous, same-shaped operands; one butterfly
stage here is about ten numpy operations over all limbs and rows of a chunk, never a Python loop
over coefficients. The stages use the Stockham (self-sorting) order: the forward stage reads the
two contiguous halves of its input and writes its outputs interleaved, so the next stage again finds
its butterfly pairs in two contiguous halves and the last stage leaves SEAL's bit-reversed order
in natural memory order. The inverse runs the same data flow backwards. The twiddle table of the
stage with ``m`` butterfly groups is periodic with period ``m`` along the half, so it is stored as
one period (at least :data:`TILE` long) and broadcast. Rows are processed in chunks of about
:data:`CHUNK` butterflies so that the working set stays in the L2 cache and memory stays bounded.
Two numpy facts matter as much as the operation count: the working buffers are kept per thread
between calls (fresh arrays of this size cost page faults every time), and the kernels run with
a ufunc buffer of :data:`UFUNC_BUFSIZE` elements, with which numpy iterates over the strided
views in place instead of copying them through its buffers (together about 20% of a product).
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from heprim.errors import ParameterError
from heprim.ring.modarith import reduce_rows
from heprim.ring.primes import check_moduli, minimal_primitive_root

__all__ = ["CHUNK", "NTT", "TILE", "bit_reverse_permutation", "ntt_tables"]

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]

#: Butterflies per chunk (``rows x N/2``): the ``uint32`` working arrays are 128 KiB each, in L2.
CHUNK: Final = 1 << 15
#: numpy's ufunc buffer size inside the transforms. The kernels' operands are strided views
#: (halves of rows, interleaved pairs, tiled twiddles); with numpy's default of 8192 elements
#: its iterator copies such operands through buffers, with 2048 it mostly loops over them in
#: place: about 10% faster at ``N = 8192`` (measured with ``benchmarks/bench_ring.py``).
UFUNC_BUFSIZE: Final = 2048
#: Shortest stored period of a stage's twiddle table (longer inner loops run faster in numpy).
TILE: Final = 256

_S32: Final = np.uint64(32)
#: Whether the first of two adjacent ``uint32`` is the low half of their ``uint64`` word.
_LITTLE_ENDIAN: Final = sys.byteorder == "little"


def bit_reverse_permutation(degree: int) -> npt.NDArray[np.intp]:
    """``brv(i)`` for ``i < degree``: the ``log2(degree)`` bits of ``i`` reversed."""
    bits = degree.bit_length() - 1
    index = np.arange(degree, dtype=np.intp)
    result = np.zeros(degree, dtype=np.intp)
    for b in range(bits):
        result |= ((index >> b) & 1) << (bits - 1 - b)
    return result


def _powers(base: U64, degree: int, q: U64) -> U64:
    """``base^i mod q`` for ``i < degree``, row by row (one modulus per row), by doubling."""
    out = np.ones((base.shape[0], degree), dtype=np.uint64)
    step = base.reshape(-1, 1).copy()
    length = 1
    while length < degree:
        out[:, length : 2 * length] = out[:, :length] * step % q
        step = step * step % q
        length *= 2
    return out


def _shoup(w: U64, q: U64) -> U64:
    """Shoup companions ``floor(w 2^32 / q)`` (``w < q < 2^30`` so ``w 2^32 < 2^62``)."""
    return (w << _S32) // q


def _lanes(x: U64) -> U32:
    """A ``uint32`` copy of values known to be below ``2^32`` (the kernels' working width)."""
    return np.ascontiguousarray(x, dtype=np.uint32)


class NTT:
    """Precomputed tables and the transforms for ``Z_q[X]/(X^N + 1)`` over several moduli ``q``.

    The transforms act on arrays of shape ``(..., L, N)`` (``L = len(moduli)``; any leading batch
    dimensions) of ``uint64`` residues in ``[0, q_i)`` along the limb axis ``-2``.

    Args:
        degree: ``N``, a power of two.
        moduli: NTT-friendly primes below ``2^30`` (see :func:`heprim.ring.primes.check_moduli`).
        roots: optional primitive ``2N``-th roots ``psi``, one per modulus; by default SEAL's
            minimal primitive root. Other roots are for comparing with other conventions (e.g.
            FIPS 204 uses ``psi = 1753`` modulo ``8380417``).

    Prefer the cached factory :func:`ntt_tables` over constructing tables repeatedly.
    """

    def __init__(
        self, degree: int, moduli: Sequence[int], *, roots: Sequence[int] | None = None
    ) -> None:
        self.moduli: tuple[int, ...] = check_moduli(degree, moduli)
        self.degree = degree
        n, count = degree, len(self.moduli)
        if roots is None:
            roots = [minimal_primitive_root(2 * n, q) for q in self.moduli]
        elif len(roots) != count:
            raise ParameterError(f"give one root per modulus ({count}), got {len(roots)}")
        for root, modulus in zip(roots, self.moduli, strict=True):
            if not 0 < root < modulus or pow(root, n, modulus) != modulus - 1:
                raise ParameterError(
                    f"{root} is not a primitive {2 * n}-th root of unity modulo {modulus} "
                    "(psi^N != -1)"
                )
        #: The primitive ``2N``-th roots ``psi``, one per modulus.
        self.roots: tuple[int, ...] = tuple(int(r) for r in roots)

        q = np.array(self.moduli, dtype=np.uint64).reshape(-1, 1)
        brv = bit_reverse_permutation(n)
        psi = np.array(self.roots, dtype=np.uint64)
        psi_inv = np.array(
            [pow(r, -1, m) for r, m in zip(self.roots, self.moduli, strict=True)], np.uint64
        )
        #: ``root_powers[l, i] = psi_l^brv(i) mod q_l`` (SEAL's ``root_powers`` table).
        self.root_powers: U64 = _powers(psi, n, q)[:, brv]
        #: ``inv_root_powers[l, i] = psi_l^-brv(i) mod q_l``, the elementwise inverses.
        self.inv_root_powers: U64 = _powers(psi_inv, n, q)[:, brv]
        self.root_powers.setflags(write=False)
        self.inv_root_powers.setflags(write=False)

        half = max(n // 2, 1)
        self._q: U32 = _lanes(np.broadcast_to(q, (count, half)))
        self._q2: U32 = 2 * self._q
        n_inv = np.array([pow(n, -1, m) for m in self.moduli], dtype=np.uint64).reshape(-1, 1)

        # Stage s (m = 2^s butterfly groups) uses root_powers[m + (r mod m)] at half-position r.
        self._forward_stages: list[tuple[int, U32, U32]] = []
        self._inverse_stages: list[tuple[int, U32, U32]] = []
        m = 1
        while m < n:
            period = max(m, min(TILE, half))
            index = m + np.arange(period) % m
            w = np.ascontiguousarray(self.root_powers[:, index])
            self._forward_stages.append((period, _lanes(w), _lanes(_shoup(w, q))))
            w_inv = np.ascontiguousarray(self.inv_root_powers[:, index])
            if m == 1:  # the last inverse stage also multiplies by N^-1
                w_inv = w_inv * n_inv % q
            self._inverse_stages.append((period, _lanes(w_inv), _lanes(_shoup(w_inv, q))))
            m *= 2
        self._inverse_stages.reverse()
        n_inv_tile = np.ascontiguousarray(np.broadcast_to(n_inv, (count, min(TILE, half))))
        self._n_inv: tuple[int, U32, U32] = (
            n_inv_tile.shape[1],
            _lanes(n_inv_tile),
            _lanes(_shoup(n_inv_tile, q)),
        )
        self._reductions, self._lazy_bound = self._forward_schedule(len(self._forward_stages))
        self._multiples: dict[int, U32] = {}
        self._local = threading.local()

    def _multiple(self, c: int) -> U32:
        """The ``(L, N/2)`` ``uint32`` array of ``c q_l`` (cached; ``c q_l < 2^32``)."""
        multiple = self._multiples.get(c)
        if multiple is None:
            multiple = self._multiples.setdefault(c, c * self._q)
        return multiple

    def _forward_schedule(self, stages: int) -> tuple[list[tuple[int, ...]], int]:
        """When the forward butterflies must reduce their ``u`` input, derived from the bounds.

        Values entering stage ``s`` are below ``f_s q`` (``f_0 = 1``: reduced input). A butterfly
        adds ``r < 2q`` (or ``2q - r``), so without a reduction ``f_{s+1} = f_s + 2``; Shoup's
        product needs its input below ``2^32``, so ``f_{s+1} q_max <= 2^32`` is kept. When the next
        bound would break it, ``u`` is first brought below ``c q`` by conditional subtractions of
        ``c q`` for ``c`` = the powers of two from ``f_s / 2`` down to the largest ``c`` with
        ``(c + 2) q_max <= 2^32``, and ``f_{s+1} = c + 2``. For primes near ``2^30`` this is
        Harvey's algorithm (``u`` reduced to ``[0, 2q)`` in every stage but the first); for primes
        below ``2^28`` values may grow to ``16 q`` and most stages skip the reduction.

        Returns:
            the multiples ``c`` to subtract conditionally before each stage (none: no
            reduction), and the final bound ``f`` (lazy outputs are below ``f q <= 2^32``).
        """
        q_max, limit = max(self.moduli), 1 << 32
        target = 1
        while (2 * target + 2) * q_max <= limit:
            target *= 2
        factor, schedule = 1, []
        for _ in range(stages):
            chain: list[int] = []
            if (factor + 2) * q_max > limit:
                while factor > target:
                    c = 1 << ((factor - 1).bit_length() - 1)  # the power of two with f <= 2c
                    chain.append(c)
                    factor = c
            schedule.append(tuple(chain))
            factor += 2
        return schedule, factor

    def __repr__(self) -> str:
        return f"NTT(degree={self.degree}, moduli={list(self.moduli)})"

    # ------------------------------------------------------------------ public transforms

    def forward(self, a: U64, out: U64 | None = None, *, lazy: bool = False) -> U64:
        """The negacyclic NTT of every row: coefficients in ``[0, q)`` to SEAL's NTT form.

        Args:
            a: ``(..., L, N)`` ``uint64`` residues in ``[0, q_l)`` (not checked, for speed;
                :class:`heprim.ring.Ring` maintains it).
            out: optional output array of the same shape (may be ``a`` itself).
            lazy: skip the final reduction and return values below ``2^32`` (congruent to the
                reduced ones), for a caller that reduces anyway: the product of two lazy values
                is below ``2^64``.

        Returns:
            ``out[..., l, i] = a_l(psi_l^(2 brv(i) + 1)) mod q_l`` in ``[0, q_l)``.
        """
        kernel = self._forward_chunk_lazy if lazy else self._forward_chunk
        return self._run(a, out, kernel)

    def inverse(self, a: U64, out: U64 | None = None) -> U64:
        """The inverse of :meth:`forward` (values in ``[0, 2q)`` accepted, output in ``[0, q)``)."""
        return self._run(a, out, self._inverse_chunk)

    # ------------------------------------------------------------------ chunk driver

    def _run(self, a: U64, out: U64 | None, kernel: _Kernel) -> U64:
        count, n = len(self.moduli), self.degree
        if not isinstance(a, np.ndarray) or a.dtype != np.uint64:
            raise ParameterError("the NTT takes a numpy uint64 array of residues")
        if a.ndim < 2 or a.shape[-2:] != (count, n):
            raise ParameterError(f"expected an array of shape (..., {count}, {n}), got {a.shape}")
        if out is None:
            out = np.empty(a.shape, dtype=np.uint64)
        elif out.shape != a.shape or out.dtype != np.uint64 or not out.flags.c_contiguous:
            raise ParameterError("out must be a C-contiguous uint64 array shaped like the input")
        rows = a.reshape(-1, count, n)
        dest = out.reshape(-1, count, n)
        batch, half = rows.shape[0], max(n // 2, 1)
        if count * half <= CHUNK:  # several whole polynomials per chunk
            b_step, l_step = max(1, min(batch, CHUNK // (count * half))), count
        else:  # a few limbs of one polynomial per chunk
            b_step, l_step = 1, max(1, CHUNK // half)
        work = self._workspace(b_step, l_step, half)
        previous = np.setbufsize(UFUNC_BUFSIZE)  # thread- (context-) local in numpy
        try:
            for l0 in range(0, count, l_step):
                l1 = min(count, l0 + l_step)
                for b0 in range(0, batch, b_step):
                    b1 = min(batch, b0 + b_step)
                    view = work.view(b1 - b0, l1 - l0)
                    kernel(rows[b0:b1, l0:l1], dest[b0:b1, l0:l1], l0, l1, view)
        finally:
            np.setbufsize(previous)
        return out

    def _workspace(self, rows: int, limbs: int, half: int) -> _Workspace:
        """This thread's buffers for chunks of ``rows x limbs`` butterflies, kept between calls:
        fresh arrays of this size come from ``mmap`` and cost page faults on every call (about
        5% of a product at ``N = 8192``). Thread-local, since numpy releases the GIL."""
        work: _Workspace | None = getattr(self._local, "work", None)
        if work is None or work.shape != (rows, limbs, half):
            work = _Workspace(rows, limbs, half)
            self._local.work = work
        return work

    def scratch(self, shape: tuple[int, ...]) -> U64:
        """A ``uint64`` buffer of ``shape`` private to this thread, reused by the next call: for
        a caller's short-lived temporary (e.g. the second operand's transform in a product),
        never for a value that escapes the caller."""
        buffers: dict[tuple[int, ...], U64] | None = getattr(self._local, "scratch", None)
        if buffers is None:
            buffers = self._local.scratch = {}
        buffer = buffers.get(shape)
        if buffer is None:
            buffers.clear()  # one shape at a time: memory stays bounded
            buffer = buffers[shape] = np.empty(shape, dtype=np.uint64)
        return buffer

    # ------------------------------------------------------------------ kernels

    def _forward_chunk(self, a: U64, out: U64, l0: int, l1: int, work: _Buffers) -> None:
        """Forward NTT of a chunk ``a`` (rows, limbs ``l0:l1``, N) into ``out`` (same shape)."""
        result = self._forward_stages_of_chunk(a, l0, l1, work)
        b, lc, n = a.shape
        factor = self._lazy_bound
        if factor > 4:  # a long chain: one exact division per limb is cheaper
            np.copyto(out, result)
            reduce_rows(out, self.moduli[l0:l1], out=out)
            return
        t, halves = work.t, result.reshape(b, lc, 2, n // 2)
        while factor > 1:  # [0, f q) -> [0, q): conditional subtractions of c q, c = f/2, ..., 1
            c = 1 << ((factor - 1).bit_length() - 1)
            multiple = self._multiple(c)
            for e in range(2):
                part = halves[:, :, e, :]
                np.subtract(part, multiple[l0:l1], out=t)
                np.minimum(part, t, out=part)
            factor = c
        np.copyto(out, result)

    def _forward_chunk_lazy(self, a: U64, out: U64, l0: int, l1: int, work: _Buffers) -> None:
        """:meth:`_forward_chunk` without the final reduction: values below ``f q <= 2^32``."""
        np.copyto(out, self._forward_stages_of_chunk(a, l0, l1, work))

    def _forward_stages_of_chunk(self, a: U64, l0: int, l1: int, work: _Buffers) -> U32:
        """The butterfly stages on ``uint32`` lanes; returns the (lazy) result, a work buffer."""
        b, lc, n = a.shape
        h = n // 2
        q, q2 = self._q[l0:l1], self._q2[l0:l1]
        x, y, t, s, r, t64 = work.x, work.y, work.t, work.s, work.r, work.t64
        source = x.reshape(b, lc, n)
        np.copyto(source, a, casting="unsafe")  # residues below q < 2^30
        u, v = source[:, :, :h], source[:, :, h:]
        last = len(self._forward_stages) - 1
        for k, (period, w_all, wp_all) in enumerate(self._forward_stages):
            w, wp = w_all[l0:l1, None, :], wp_all[l0:l1, None, :]
            tiled = (b, lc, h // period, period)
            v4 = v.reshape(tiled)
            # r = v w mod q in [0, 2q) (Shoup): the quotient floor(v w' / 2^32) needs the full
            # 64-bit product, but r < 2^32, so v w - quotient q is exact modulo 2^32.
            np.multiply(v4, wp, out=t64.reshape(tiled), dtype=np.uint64)
            np.right_shift(t64, _S32, out=t64)
            np.copyto(t, t64, casting="unsafe")  # the quotient is below 2^32
            np.multiply(t, q, out=t)
            np.multiply(v4, w, out=s.reshape(tiled))
            np.subtract(s, t, out=s)
            if k == last:  # natural memory order is SEAL's bit-reversed order
                pairs = y.reshape(b, lc, h, 2)
                even, odd = pairs[..., 0], pairs[..., 1]
                tt, ss, rr, qq2, uu = t, s, r, q2, u
            else:  # output position 2r + e of the next stage's (2, rows, limbs, h) layout
                pairs = y.reshape(2, b, lc, h // 2, 2)
                even = pairs[..., 0].transpose(1, 2, 0, 3)
                odd = pairs[..., 1].transpose(1, 2, 0, 3)
                split = (b, lc, 2, h // 2)
                tt, ss, rr = t.reshape(split), s.reshape(split), r.reshape(split)
                qq2, uu = q2.reshape(split[1:]), u.reshape(split)
            low = uu  # below the bound of _forward_schedule ...
            for c in self._reductions[k]:  # ... or brought below c q: u - c q wraps if u < c q
                multiple = self._multiple(c)[l0:l1]
                np.subtract(low, multiple.reshape(tt.shape[1:]), out=rr)
                np.minimum(low, rr, out=tt)
                low = tt
            np.add(low, ss, out=even)  # u + r, below (f + 2) q <= 2^32
            np.add(low, qq2, out=tt)
            np.subtract(tt, ss, out=odd)  # u - r + 2q, below (f + 2) q
            u, v = y[0], y[1]
            x, y = y, x
        return x.reshape(b, lc, n)

    def _inverse_chunk(self, a: U64, out: U64, l0: int, l1: int, work: _Buffers) -> None:
        """Inverse NTT of a chunk ``a`` (rows, limbs ``l0:l1``, N) into ``out`` (same shape)."""
        b, lc, n = a.shape
        h = n // 2
        q, q2 = self._q[l0:l1], self._q2[l0:l1]
        x, y, t, s, r, t64 = work.x, work.y, work.t, work.s, work.r, work.t64
        source = x.reshape(b, lc, n)
        np.copyto(source, a, casting="unsafe")  # values below 2q < 2^31
        # The pairs (u, v) sit side by side; read as one little-endian uint64 word each, u is the
        # low half and v the high half: two contiguous lanes from three contiguous passes,
        # cheaper than every butterfly operation reading stride-2 views.
        words: npt.NDArray[np.uint64] = source.view(np.uint64)  # (rows, limbs, N/2)
        qq, qq2 = q, q2
        tt, ss, rr = t, s, r
        result = y.reshape(b, lc, n)
        last = len(self._inverse_stages) - 1
        for k, (period, w_all, wp_all) in enumerate(self._inverse_stages):
            w, wp = w_all[l0:l1, None, :], wp_all[l0:l1, None, :]
            tiled = (b, lc, h // period, period)
            high = t64.reshape(words.shape)
            np.right_shift(words, _S32, out=high)
            order = (1, 2, 0, 3) if words.ndim == 4 else (0, 1, 2)
            low_lane, high_lane = (tt, ss) if _LITTLE_ENDIAN else (ss, tt)
            np.copyto(low_lane, words.transpose(order), casting="unsafe")  # u (little-endian)
            np.copyto(high_lane, high.transpose(order), casting="unsafe")  # v
            np.subtract(tt, ss, out=rr)  # wraps modulo 2^32 when u < v; + 2q restores u - v + 2q
            np.add(rr, qq2, out=rr)  # in (0, 4q)
            np.add(tt, ss, out=ss)  # in [0, 4q), below 2^32
            if k == last:
                even, odd = result[:, :, :h], result[:, :, h:]
                if ss.ndim == 4:  # pragma: no cover - N = 2 has a single stage
                    even, odd = even.reshape(ss.shape), odd.reshape(ss.shape)
                # even = (u + v) N^-1 mod q in [0, 2q) (Shoup).
                period_n, n_inv, n_inv_p = self._n_inv
                ntiled = (b, lc, h // period_n, period_n)
                s4 = s.reshape(ntiled)
                np.multiply(s4, n_inv_p[l0:l1, None, :], out=t64.reshape(ntiled), dtype=np.uint64)
                np.right_shift(t64, _S32, out=t64)
                np.copyto(t, t64, casting="unsafe")
                np.multiply(tt, qq, out=tt)
                np.multiply(s4, n_inv[l0:l1, None, :], out=s4)
                np.subtract(ss, tt, out=even)
            else:
                even, odd = y[0], y[1]
                if ss.ndim == 4:
                    even, odd = even.reshape(ss.shape), odd.reshape(ss.shape)
                np.subtract(ss, qq2, out=tt)
                np.minimum(ss, tt, out=even)  # (u + v) in [0, 2q)
            # odd = (u - v + 2q) w mod q in [0, 2q) (Shoup, exact modulo 2^32 as in forward).
            r4 = r.reshape(tiled)
            np.multiply(r4, wp, out=t64.reshape(tiled), dtype=np.uint64)
            np.right_shift(t64, _S32, out=t64)
            np.copyto(t, t64, casting="unsafe")
            np.multiply(tt, qq, out=tt)
            np.multiply(r4, w, out=r4)
            np.subtract(rr, tt, out=odd)
            if k != last:  # the next stage's pairs are positions 2r, 2r + 1 of this output
                split = (b, lc, 2, h // 2)
                words = y.view(np.uint64).reshape(2, b, lc, h // 2)
                tt, ss, rr = t.reshape(split), s.reshape(split), r.reshape(split)
                qq, qq2 = q.reshape(split[1:]), q2.reshape(split[1:])
                x, y = y, x
        halves = result.reshape(b, lc, 2, h)
        for e in range(2):  # [0, 2q) -> [0, q)
            part = halves[:, :, e, :]
            np.subtract(part, q, out=t)
            np.minimum(part, t, out=part)
        np.copyto(out, result)


class _Buffers:
    """Working ``uint32`` lanes for one chunk: two ping-pong stage buffers, three temporaries,
    and a ``uint64`` temporary for the high half of Shoup's products."""

    __slots__ = ("r", "s", "t", "t64", "x", "y")

    def __init__(self, x: U32, y: U32, t: U32, s: U32, r: U32, *, t64: U64) -> None:
        self.x, self.y, self.t, self.s, self.r, self.t64 = x, y, t, s, r, t64


class _Workspace:
    """Buffers sized for the largest chunk of a call, viewed smaller for the ragged last chunk."""

    def __init__(self, rows: int, limbs: int, half: int) -> None:
        self._x = np.empty((2, rows, limbs, half), dtype=np.uint32)
        self._y = np.empty_like(self._x)
        self._t = np.empty((rows, limbs, half), dtype=np.uint32)
        self._s = np.empty_like(self._t)
        self._r = np.empty_like(self._t)
        self._t64 = np.empty((rows, limbs, half), dtype=np.uint64)
        self._shape = (rows, limbs)
        #: The largest chunk these buffers hold: ``(rows, limbs, N/2)``.
        self.shape = (rows, limbs, half)

    def view(self, rows: int, limbs: int) -> _Buffers:
        if (rows, limbs) == self._shape:
            return _Buffers(self._x, self._y, self._t, self._s, self._r, t64=self._t64)
        size = rows * limbs * self._t.shape[-1]
        shape = (rows, limbs, self._t.shape[-1])
        return _Buffers(
            self._x.reshape(-1)[: 2 * size].reshape(2, *shape),
            self._y.reshape(-1)[: 2 * size].reshape(2, *shape),
            self._t.reshape(-1)[:size].reshape(shape),
            self._s.reshape(-1)[:size].reshape(shape),
            self._r.reshape(-1)[:size].reshape(shape),
            t64=self._t64.reshape(-1)[:size].reshape(shape),
        )


#: The signature shared by the two chunk kernels.
_Kernel = Callable[[U64, U64, int, int, _Buffers], None]


@functools.lru_cache(maxsize=64)
def ntt_tables(degree: int, moduli: tuple[int, ...]) -> NTT:
    """The cached :class:`NTT` for ``(degree, moduli)`` with SEAL's roots."""
    return NTT(degree, moduli)
