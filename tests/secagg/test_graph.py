"""The sharing graph: hypergeometric tails, the (k, t) choice meets its bounds, Harary structure."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import InsecureParametersWarning, ParameterError
from heprim.secagg.graph import (
    choose_graph,
    graph_seed,
    hypergeometric_log_tail,
    neighbours,
    neighbours_of,
)


def _exact_tail(population: int, marked: int, draws: int, x: int) -> Fraction:
    """P[X >= x] for the hypergeometric law, in exact rational arithmetic (the oracle)."""
    total = math.comb(population, draws)
    hits = sum(
        math.comb(marked, j) * math.comb(population - marked, draws - j)
        for j in range(max(x, 0), draws + 1)
    )
    return Fraction(hits, total)


def _exact_bounds(n: int, k: int, t: int, c: int, d: int, active: bool) -> tuple[float, float]:
    """Security and correctness bits recomputed from the module docstring's formulas."""
    need = 2 * t - k if active else t
    p1 = n * _exact_tail(n - 1, c, k, need) if need > 0 else Fraction(n)
    half, removed = k // 2, c + d
    p2 = (
        n * Fraction(math.comb(n - half, removed - half), math.comb(n, removed))
        if removed >= half
        else Fraction(0)
    )
    p3 = n * _exact_tail(n - 1, d, k, k - t + 1)

    def bits(p: Fraction) -> float:
        return math.inf if p == 0 else -math.log2(min(p, Fraction(1)))

    return bits(p1 + p2), bits(p3)


@given(
    population=st.integers(1, 60),
    data=st.data(),
)
def test_log_tail_matches_exact_rationals(population: int, data: st.DataObject) -> None:
    marked = data.draw(st.integers(0, population))
    draws = data.draw(st.integers(0, population))
    tail = hypergeometric_log_tail(population, marked, draws)
    for x in range(draws + 2):
        exact = _exact_tail(population, marked, draws, x)
        if exact == 0:
            assert tail[x] == -math.inf
        else:
            assert math.isclose(math.exp(tail[x]), float(exact), rel_tol=1e-9)


def test_log_tail_errors() -> None:
    with pytest.raises(ParameterError):
        hypergeometric_log_tail(5, 6, 1)


@pytest.mark.parametrize("n", [30, 100, 300])
@pytest.mark.parametrize("profile", ["semi-honest", "active"])
def test_chosen_graph_meets_its_bounds(n: int, profile: str) -> None:
    g = choose_graph(n, corrupted_fraction=0.1, dropout_rate=0.1, profile=profile)  # type: ignore[arg-type]
    c = d = math.ceil(0.1 * n - 1e-9)
    assert g.n == n and 1 <= g.t <= g.k <= n - 1
    if g.complete:
        assert g.t > (c if profile == "semi-honest" else (g.k + c) / 2)
        assert g.t <= g.k - d
        return
    assert g.k % 2 == 0
    sec, cor = _exact_bounds(n, g.k, g.t, c, d, profile == "active")
    assert sec >= 40 and cor >= 20
    assert math.isclose(sec, g.security_bits, rel_tol=1e-6) or sec == g.security_bits
    # The degree is the smallest that works: no threshold fits at k - 2.
    k = g.k - 2
    if k >= 2:
        assert not any(
            all(
                b >= target
                for b, target in zip(
                    _exact_bounds(n, k, t, c, d, profile == "active"), (40, 20), strict=True
                )
            )
            for t in range(1, k + 1)
        )
    # And t is the largest threshold that keeps the correctness bound.
    if g.t < g.k:
        assert _exact_bounds(n, g.k, g.t + 1, c, d, profile == "active")[1] < 20


def test_sparse_graph_is_logarithmic() -> None:
    assert choose_graph(1000).k < 60
    assert choose_graph(10_000).k < 70


def test_complete_graph_fallback_and_option() -> None:
    g = choose_graph(20, corrupted_fraction=0.3, dropout_rate=0.3)
    assert g.complete and g.k == 19
    assert g.t == 19 - 6 and g.t > 6
    h = choose_graph(100, sparse=False)
    assert h.complete and h.t == 99 - 10
    assert math.isinf(h.security_bits) and math.isinf(h.correctness_bits)


def test_impossible_settings_are_refused() -> None:
    with pytest.raises(ParameterError, match="no threshold"):
        choose_graph(10, corrupted_fraction=0.5, dropout_rate=0.5)
    with pytest.raises(ParameterError, match="corrupted_fraction"):
        choose_graph(10, corrupted_fraction=1.0)
    with pytest.raises(ParameterError, match="profile"):
        choose_graph(10, profile="malicious")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="at least 2"):
        choose_graph(1)


def test_forced_parameters() -> None:
    g = choose_graph(100, k=32, t=22)
    assert (g.k, g.t) == (32, 22)
    with pytest.warns(InsecureParametersWarning, match="below"):
        weak = choose_graph(100, k=4, t=2)
    assert weak.security_bits < 40
    with pytest.raises(ParameterError, match="even"):
        choose_graph(100, k=5, t=2)
    with pytest.raises(ParameterError, match="threshold t"):
        choose_graph(100, k=4, t=5)
    with pytest.raises(ParameterError, match="together"):
        choose_graph(100, k=4)
    with pytest.raises(ParameterError, match="degree"):
        choose_graph(10, k=10, t=2)


@given(n=st.integers(3, 40), data=st.data())
def test_harary_structure(n: int, data: st.DataObject) -> None:
    k = data.draw(st.sampled_from([*range(2, n - 1, 2), n - 1]))
    ids = data.draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n, unique=True))
    seed = graph_seed(bytes(16))
    graph = neighbours(ids, k, seed)
    for u, nbrs in graph.items():
        assert len(nbrs) == k and u not in nbrs
        assert all(u in graph[v] for v in nbrs)  # symmetric
    u = ids[0]
    assert neighbours_of(u, ids, k, seed) == graph[u]


def test_graph_depends_on_the_session_only() -> None:
    ids = list(range(1, 101))
    a = neighbours(ids, 10, graph_seed(b"a" * 16))
    assert a == neighbours(list(reversed(ids)), 10, graph_seed(b"a" * 16))
    assert a != neighbours(ids, 10, graph_seed(b"b" * 16))


def test_neighbour_errors() -> None:
    with pytest.raises(ParameterError, match="distinct"):
        neighbours([1, 1, 2], 2, bytes(32))
    with pytest.raises(ParameterError, match="not among"):
        neighbours_of(9, [1, 2, 3], 2, bytes(32))
