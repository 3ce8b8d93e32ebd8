"""The in-process simulator: dropout schedules and cost accounting."""

from __future__ import annotations

import numpy as np
import pytest

from heprim.errors import ParameterError
from heprim.math.prng import KeyedPRNG
from heprim.net.simulate import DropoutSchedule, simulate
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.graph import choose_graph
from heprim.secagg.messages import HEADER_BYTES, Round


def test_random_schedule(rng) -> None:
    ids = list(range(1, 101))
    sched = DropoutSchedule.random(ids, 0.1, Round.MASKED_INPUT, rng)
    dropped = sched.dropped_by(Round.UNMASK)
    assert len(dropped) == 10 and dropped <= set(ids)
    assert sched.dropped_by(Round.SHARE_KEYS) == frozenset()
    assert DropoutSchedule.none().dropped_by(Round.UNMASK) == frozenset()
    with pytest.raises(ParameterError):
        DropoutSchedule.random(ids, 1.5)


def test_costs_balance_and_upload_is_the_packed_vector() -> None:
    n, dim = 12, 20_000
    inputs = {u: np.full(dim, u, dtype=np.int64) for u in range(1, n + 1)}
    seen: list[tuple[int, int]] = []
    res = simulate(
        inputs,
        VectorEncoding.integers(0, 2**16 - 1),
        dropouts=DropoutSchedule({Round.UNMASK: frozenset({3})}),
        rng=KeyedPRNG.from_int(3),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert res.aggregate is not None
    assert res.aggregate.sum.tolist() == [sum(range(1, n + 1))] * dim
    assert seen[-1][0] == seen[-1][1]
    for r in Round:
        sent_by_clients = sum(c.rounds[r].bytes_sent for c in res.client_costs.values())
        assert sent_by_clients == res.server_cost.rounds[r].bytes_received
        received_by_clients = sum(c.rounds[r].bytes_received for c in res.client_costs.values())
        # The server also sends to clients that then stay silent: they never receive it.
        assert received_by_clients <= res.server_cost.rounds[r].bytes_sent
    packed = dim * 4  # 12 clients of 16-bit values need 20 bits: uint32 words
    assert res.config.width == 32
    upload = res.client_costs[1].rounds[Round.MASKED_INPUT].bytes_sent
    assert upload == HEADER_BYTES + 9 + packed
    assert res.client_costs[1].total.bytes_sent <= 1.1 * packed
    assert res.compute_seconds > 0
    assert res.server_cost.total.seconds > 0


def test_input_callables_need_a_dimension() -> None:
    with pytest.raises(ParameterError, match="dim="):
        simulate({1: lambda: [1], 2: lambda: [2], 3: lambda: [3]}, VectorEncoding.integers(0, 9))


def test_simulate_with_a_forced_graph_and_no_rng() -> None:
    inputs = {u: [u] for u in range(1, 6)}
    res = simulate(inputs, VectorEncoding.integers(0, 9), graph=choose_graph(5, k=4, t=3))
    assert res.aggregate is not None and res.aggregate.sum.tolist() == [15]
