"""heprim.ring.ntt: the negacyclic NTT against its definition and published known answers.

Oracles: the definition ``NTT(a)[i] = a(psi^(2 brv(i) + 1))`` evaluated with Python integers; the
known-answer vectors of SEAL, Intel HEXL and FIPS 204 (tests/vectors/ring_ntt_known_answers.json);
and FIPS 204's Algorithm 41 written out literally.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import heprim.ring.ntt as ntt_module
from heprim.errors import ParameterError
from heprim.ring.ntt import NTT, bit_reverse_permutation, ntt_tables
from heprim.ring.primes import minimal_primitive_root, ntt_primes

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "ring_ntt_known_answers.json").read_text()
)


def brv(i: int, degree: int) -> int:
    bits = degree.bit_length() - 1
    return int(format(i, f"0{bits}b")[::-1], 2) if bits else 0


def definition_ntt(a: list[int], q: int, psi: int) -> list[int]:
    """``a(psi^(2 brv(i) + 1)) mod q`` for every slot ``i``: the convention, evaluated directly."""
    n = len(a)
    out = []
    for i in range(n):
        x = pow(psi, 2 * brv(i, n) + 1, q)
        out.append(sum(c * pow(x, j, q) for j, c in enumerate(a)) % q)
    return out


def negacyclic_product(a: list[int], b: list[int], q: int) -> list[int]:
    n = len(a)
    c = [0] * n
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            if i + j < n:
                c[i + j] += x * y
            else:
                c[i + j - n] -= x * y
    return [v % q for v in c]


def random_residues(moduli: tuple[int, ...], shape: tuple[int, ...], degree: int, seed: int):
    gen = np.random.default_rng(seed)  # test data only; heprim itself never uses numpy.random
    limbs = [gen.integers(0, q, (*shape, degree), dtype=np.uint64) for q in moduli]
    return np.stack(limbs, axis=-2)


# ---------------------------------------------------------------------------- known answers


def test_definition_reproduces_the_published_vectors() -> None:
    """SEAL and HEXL vectors (any modulus size) agree with our reading of the convention."""
    cases = VECTORS["hexl_test_ntt_cpp"]["forward"] + [
        {**v, "modulus": VECTORS["seal_ntt_cpp"]["modulus"]}
        for v in VECTORS["seal_ntt_cpp"]["forward"]
    ]
    for case in cases:
        q, n = case["modulus"], case["degree"]
        psi = minimal_primitive_root(2 * n, q)
        assert definition_ntt(case["input"], q, psi) == case["output"], case


def test_seal_root_powers_table_convention() -> None:
    seal = VECTORS["seal_ntt_cpp"]
    q = seal["modulus"]
    for entry in seal["root_powers"]:
        n = entry["degree"]
        psi = minimal_primitive_root(2 * n, q)
        assert pow(psi, brv(entry["index"], n), q) == entry["value"]


@pytest.mark.parametrize(
    "case",
    [c for c in VECTORS["hexl_test_ntt_cpp"]["forward"] if c["modulus"] < 2**30],
    ids=lambda c: f"N{c['degree']}-q{c['modulus']}",
)
def test_forward_matches_hexl_vectors(case: dict[str, object]) -> None:
    n, q = int(case["degree"]), int(case["modulus"])  # type: ignore[call-overload]
    tables = NTT(n, [q])
    data = np.array([case["input"]], dtype=np.uint64)
    assert tables.forward(data)[0].tolist() == case["output"]
    assert tables.inverse(np.array([case["output"]], dtype=np.uint64))[0].tolist() == case["input"]


def test_fips204_zetas_are_our_root_powers() -> None:
    fips = VECTORS["fips204_zetas"]
    tables = NTT(fips["degree"], [fips["modulus"]], roots=[fips["root"]])
    assert tables.root_powers[0, 1:].tolist() == fips["zetas"][1:]  # zetas[0] is unused (0)
    assert tables.root_powers[0, 0] == 1


def fips204_algorithm_41(w: list[int], zetas: list[int], q: int) -> list[int]:
    """FIPS 204, Algorithm 41 (NTT), line by line."""
    w = list(w)
    m, length = 0, 128
    while length >= 1:
        start = 0
        while start < 256:
            m += 1
            z = zetas[m]
            for j in range(start, start + length):
                t = z * w[j + length] % q
                w[j + length] = (w[j] - t) % q
                w[j] = (w[j] + t) % q
            start += 2 * length
        length //= 2
    return w


def test_forward_matches_fips204_algorithm_41() -> None:
    fips = VECTORS["fips204_zetas"]
    q = fips["modulus"]
    tables = NTT(256, [q], roots=[fips["root"]])
    data = random_residues((q,), (3,), 256, seed=204)
    for row in data:
        expected = fips204_algorithm_41(row[0].tolist(), fips["zetas"], q)
        assert tables.forward(row)[0].tolist() == expected


# ---------------------------------------------------------------------------- the definition


@pytest.mark.parametrize("degree", [2, 4, 8, 16, 32, 64])
def test_forward_against_the_definition(degree: int) -> None:
    moduli = ntt_primes(degree, 3)
    tables = ntt_tables(degree, moduli)
    data = random_residues(moduli, (), degree, seed=degree)
    data[0] = moduli[0] - 1  # boundary: every coefficient q - 1
    out = tables.forward(data)
    for limb, q in enumerate(moduli):
        psi = minimal_primitive_root(2 * degree, q)
        assert out[limb].tolist() == definition_ntt(data[limb].tolist(), q, psi)
        assert tables.root_powers[limb].tolist() == [
            pow(psi, brv(i, degree), q) for i in range(degree)
        ]


@pytest.mark.parametrize("degree", [4, 32, 128])
def test_convolution_theorem(degree: int) -> None:
    moduli = ntt_primes(degree, 2)
    tables = ntt_tables(degree, moduli)
    a, b = random_residues(moduli, (), degree, 1), random_residues(moduli, (), degree, 2)
    product = tables.forward(a) * tables.forward(b)
    product %= np.array(moduli, dtype=np.uint64)[:, None]
    c = tables.inverse(product)
    for limb, q in enumerate(moduli):
        assert c[limb].tolist() == negacyclic_product(a[limb].tolist(), b[limb].tolist(), q)


def test_constants_and_monomials() -> None:
    degree = 16
    moduli = ntt_primes(degree, 2)
    tables = ntt_tables(degree, moduli)
    one = np.zeros((2, degree), dtype=np.uint64)
    one[:, 0] = 1
    assert (tables.forward(one) == 1).all()  # a constant evaluates to itself
    x = np.zeros((2, degree), dtype=np.uint64)
    x[:, 1] = 1  # X evaluates to the roots themselves: psi^(2 brv(i) + 1)
    psi = [minimal_primitive_root(2 * degree, q) for q in moduli]
    expected = [
        [pow(p, 2 * brv(i, degree) + 1, q) for i in range(degree)]
        for p, q in zip(psi, moduli, strict=True)
    ]
    assert tables.forward(x).tolist() == expected


# ---------------------------------------------------------------------------- round trips


@given(
    st.sampled_from([2, 4, 8, 64, 256, 1024, 2048]),
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=0, max_value=2**32),
)
def test_round_trip(degree: int, limbs: int, seed: int) -> None:
    moduli = ntt_primes(degree, limbs)
    tables = ntt_tables(degree, moduli)
    data = random_residues(moduli, (2,), degree, seed)
    assert np.array_equal(tables.inverse(tables.forward(data)), data)
    assert np.array_equal(tables.forward(tables.inverse(data)), data)


def test_boundary_values_everywhere() -> None:
    degree = 4096
    moduli = ntt_primes(degree, 4)
    tables = ntt_tables(degree, moduli)
    top = np.broadcast_to(np.array(moduli, dtype=np.uint64)[:, None] - 1, (4, degree)).copy()
    forward = tables.forward(top)
    assert (forward < np.array(moduli, dtype=np.uint64)[:, None]).all()
    assert np.array_equal(tables.inverse(forward), top)
    assert np.array_equal(tables.inverse(top), tables.inverse(top.copy()))
    zero = np.zeros_like(top)
    assert not tables.forward(zero).any() and not tables.inverse(zero).any()


def test_inverse_accepts_lazy_inputs_below_2q() -> None:
    degree = 256
    moduli = ntt_primes(degree, 3)
    tables = ntt_tables(degree, moduli)
    data = random_residues(moduli, (), degree, 7)
    lazy = data + np.array(moduli, dtype=np.uint64)[:, None]
    assert np.array_equal(tables.inverse(lazy), tables.inverse(data))


def test_in_place_and_out_arguments() -> None:
    degree = 512
    moduli = ntt_primes(degree, 3)
    tables = ntt_tables(degree, moduli)
    data = random_residues(moduli, (2,), degree, 8)
    expected = tables.forward(data)
    buffer = data.copy()
    assert tables.forward(buffer, out=buffer) is buffer
    assert np.array_equal(buffer, expected)
    tables.inverse(buffer, out=buffer)
    assert np.array_equal(buffer, data)
    for degree2 in (2, 4):  # the first stage is also the last one
        small = ntt_tables(degree2, ntt_primes(degree2, 1))
        x = random_residues(small.moduli, (), degree2, 9)
        y = x.copy()
        small.inverse(small.forward(y, out=y), out=y)
        assert np.array_equal(x, y)


@pytest.mark.parametrize("chunk", [64, 1000, 1 << 14, 1 << 20])
def test_every_chunking_gives_the_same_result(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    degree = 2048
    moduli = ntt_primes(degree, 5)
    tables = NTT(degree, moduli)
    data = random_residues(moduli, (3,), degree, 10)
    reference = tables.forward(data)
    monkeypatch.setattr(ntt_module, "CHUNK", chunk)
    assert np.array_equal(tables.forward(data), reference)
    assert np.array_equal(tables.inverse(reference), data)


def test_large_degree_round_trip() -> None:
    degree = 32768
    moduli = ntt_primes(degree, 2)
    tables = ntt_tables(degree, moduli)
    data = random_residues(moduli, (), degree, 11)
    assert np.array_equal(tables.inverse(tables.forward(data)), data)


def test_batched_equals_one_by_one() -> None:
    degree = 1024
    moduli = ntt_primes(degree, 3)
    tables = ntt_tables(degree, moduli)
    data = random_residues(moduli, (2, 3), degree, 12)
    batched = tables.forward(data)
    for i in range(2):
        for j in range(3):
            assert np.array_equal(batched[i, j], tables.forward(data[i, j]))
    strided = data[:, ::2]  # non-contiguous input
    assert np.array_equal(tables.forward(strided), batched[:, ::2])


def test_bit_reverse_permutation() -> None:
    assert bit_reverse_permutation(8).tolist() == [0, 4, 2, 6, 1, 5, 3, 7]
    perm = bit_reverse_permutation(1024)
    assert (perm[perm] == np.arange(1024)).all()


# ---------------------------------------------------------------------------- errors


def test_tables_are_cached_and_read_only() -> None:
    moduli = ntt_primes(64, 2)
    tables = ntt_tables(64, moduli)
    assert ntt_tables(64, moduli) is tables
    with pytest.raises(ValueError):
        tables.root_powers[0, 0] = 5
    assert "64" in repr(tables)


def test_transform_errors() -> None:
    moduli = ntt_primes(16, 2)
    tables = ntt_tables(16, moduli)
    good = np.zeros((2, 16), dtype=np.uint64)
    with pytest.raises(ParameterError, match="uint64"):
        tables.forward(good.astype(np.int64))
    with pytest.raises(ParameterError, match="uint64"):
        tables.forward([[0] * 16] * 2)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="shape"):
        tables.forward(np.zeros((3, 16), dtype=np.uint64))
    with pytest.raises(ParameterError, match="shape"):
        tables.inverse(np.zeros(16, dtype=np.uint64))
    with pytest.raises(ParameterError, match="out"):
        tables.forward(good, out=np.zeros((2, 8), dtype=np.uint64))
    with pytest.raises(ParameterError, match="out"):
        tables.forward(good, out=np.zeros((16, 2), dtype=np.uint64).T)


def test_root_errors() -> None:
    q = 97
    with pytest.raises(ParameterError, match="primitive"):
        NTT(16, [q], roots=[1])
    with pytest.raises(ParameterError, match="primitive"):
        NTT(16, [q], roots=[pow(minimal_primitive_root(32, q), 2, q)])  # only a 16th root
    with pytest.raises(ParameterError, match="one root per modulus"):
        NTT(16, [q], roots=[])
    other = NTT(16, [q], roots=[pow(minimal_primitive_root(32, q), 3, q)])
    data = random_residues((q,), (), 16, 13)
    assert np.array_equal(other.inverse(other.forward(data)), data)


@pytest.mark.parametrize("bits", [30, 28, 20])
def test_lazy_forward_is_congruent_and_below_2_32(bits: int) -> None:
    degree = 1024
    moduli = ntt_primes(degree, 3, bits=bits)
    tables = ntt_tables(degree, moduli)
    data = random_residues(moduli, (2,), degree, 14)
    data[0, 0] = moduli[0] - 1
    q = np.array(moduli, dtype=np.uint64)[:, None]
    lazy = tables.forward(data, lazy=True)
    assert (lazy < 2**32).all()
    assert (lazy < tables._lazy_bound * q).all()
    assert np.array_equal(lazy % q, tables.forward(data))


def primes_between(low: int, high: int, degree: int, count: int) -> list[int]:
    from heprim.math.ntheory import is_probable_prime

    found, candidate = [], (low // (2 * degree) + 1) * 2 * degree + 1
    while len(found) < count and candidate < high:
        if is_probable_prime(candidate):
            found.append(candidate)
        candidate += 2 * degree
    return found


@pytest.mark.parametrize(
    "moduli",
    [
        primes_between(2**32 // 6, 2**32 // 5, 64, 2),  # reduced twice in a row (4q, then 2q)
        primes_between(2**32 // 18, 2**32 // 16, 64, 2),  # grows to 16q before reducing
        ntt_primes(64, 2, bits=24),
        [*ntt_primes(64, 1), *ntt_primes(64, 1, bits=16)],  # the bound follows the largest
    ],
    ids=["near-2^29.4", "near-2^28", "24-bit", "mixed"],
)
def test_lazy_reduction_schedules(moduli: list[int]) -> None:
    """Every prime size gets a schedule that keeps Shoup's input below 2^32: check the result."""
    degree = 64
    tables = NTT(degree, moduli)
    data = random_residues(tuple(moduli), (3,), degree, 15)
    data[0] = np.array(moduli, dtype=np.uint64)[:, None] - 1
    out = tables.forward(data)
    for limb, q in enumerate(moduli):
        psi = minimal_primitive_root(2 * degree, q)
        for row in range(3):
            assert out[row, limb].tolist() == definition_ntt(data[row, limb].tolist(), q, psi)
    assert np.array_equal(tables.inverse(out), data)
    assert tables._lazy_bound * max(moduli) <= 2**32


def test_largest_degree_with_a_late_reduction_of_32q() -> None:
    """N = 2^17 and q just above 2^32 / 35: the schedule's last stage subtracts 32 q."""
    degree = 2**17
    q = primes_between(2**32 // 35, 2**32 // 33, degree, 1)[0]
    tables = NTT(degree, [q])
    assert tables._reductions[-1] == (32,)
    monomial = np.zeros((1, degree), dtype=np.uint64)
    monomial[0, 1] = 1  # X evaluates to the roots psi^(2 brv(i) + 1)
    psi = minimal_primitive_root(2 * degree, q)
    brv_table = bit_reverse_permutation(degree)
    expected = [pow(psi, 2 * int(b) + 1, q) for b in brv_table]
    assert tables.forward(monomial)[0].tolist() == expected
    data = random_residues((q,), (), degree, 16)
    assert np.array_equal(tables.inverse(tables.forward(data)), data)


@pytest.mark.parametrize(
    "moduli",
    [
        ntt_primes(64, 2),  # the largest primes: 4q just below 2^32
        primes_between(2**32 // 18, 2**32 // 16, 64, 2),  # lazy values grow to 16q < 2^32
    ],
    ids=["near-2^30", "near-2^28"],
)
def test_uint32_lanes_at_the_extremes(moduli: list[int]) -> None:
    """The kernels compute in uint32 lanes, exact only while every value stays below 2^32: drive
    them with the largest inputs each transform accepts (q - 1 forward, 2q - 1 inverse) and check
    against the definition and the schoolbook product."""
    degree = 64
    tables = NTT(degree, moduli)
    q = np.array(moduli, dtype=np.uint64)[:, None]
    top = np.broadcast_to(q - 1, (len(moduli), degree)).copy()
    lazy = tables.forward(top, lazy=True)
    assert (lazy < tables._lazy_bound * q).all()
    forward = tables.forward(top)
    for limb, modulus in enumerate(moduli):
        psi = minimal_primitive_root(2 * degree, modulus)
        assert forward[limb].tolist() == definition_ntt(top[limb].tolist(), modulus, psi)
    assert np.array_equal(tables.inverse(forward + q), top)  # inputs up to 2q - 1
    assert np.array_equal(tables.inverse(2 * q - 1 + 0 * top), tables.inverse(q - 1 + 0 * top))
    square = tables.inverse(lazy * lazy % q)
    for limb, modulus in enumerate(moduli):
        row = top[limb].tolist()
        assert square[limb].tolist() == negacyclic_product(row, row, modulus)


def test_buffers_are_reused_per_thread_and_results_are_thread_safe() -> None:
    """The transforms keep their working buffers (and the product's scratch array) per thread:
    threads transforming at once with one table must each get exact results."""
    import threading

    degree = 1024
    moduli = ntt_primes(degree, 4)
    tables = NTT(degree, moduli)
    inputs = [random_residues(moduli, (), degree, 20 + k) for k in range(4)]
    expected = [tables.forward(x) for x in inputs]
    assert tables.scratch((4, degree)) is tables.scratch((4, degree))
    assert tables.scratch((2, degree)).shape == (2, degree)
    results: dict[int, bool] = {}
    seen: dict[int, np.ndarray] = {}  # the arrays themselves: ids of dead ones may be reused

    def work(k: int) -> None:
        ok = True
        for _ in range(30):
            out = tables.forward(inputs[k])
            ok = ok and bool(np.array_equal(out, expected[k]))
            ok = ok and bool(np.array_equal(tables.inverse(out), inputs[k]))
        seen[k] = tables.scratch((3, degree))
        results[k] = ok

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {k: True for k in range(4)}
    assert len({id(buffer) for buffer in seen.values()}) == 4  # one scratch array per thread


def test_ufunc_buffer_size_is_restored() -> None:
    """The kernels run with a smaller numpy buffer (a speed setting) and restore the caller's."""
    degree = 256
    tables = ntt_tables(degree, tuple(ntt_primes(degree, 2)))
    data = random_residues(tables.moduli, (), degree, 30)
    previous = np.setbufsize(4096)
    try:
        assert np.array_equal(tables.inverse(tables.forward(data)), data)
        assert np.getbufsize() == 4096
    finally:
        np.setbufsize(previous)
