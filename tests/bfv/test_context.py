"""heprim.bfv.context: levels, digit groups, auxiliary bases, SEAL's slot index map."""

from __future__ import annotations

import numpy as np
import pytest

from heprim import bfv
from heprim.errors import ParameterError
from heprim.ring.ntt import bit_reverse_permutation

from .conftest import EVEN, MULTI, SMALL, insecure


def test_levels_and_rings() -> None:
    ctx = bfv.context_of(insecure(SMALL))
    assert bfv.context_of(ctx.params) is ctx
    assert ctx.ring_q(2).moduli == ctx.params.q[:2]
    assert ctx.ring_qp(2).moduli == ctx.params.q[:2] + ctx.params.p
    assert ctx.delta(4) == ctx.params.q_modulus // 65537
    for bad in (0, 5, 1.0, True):
        with pytest.raises(ParameterError, match="level"):
            ctx.check_level(bad)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="Parameters"):
        bfv.Context("params")  # type: ignore[arg-type]


def test_digit_groups() -> None:
    one = bfv.context_of(insecure(SMALL))
    assert one.digits(4) == ((0,), (1,), (2,), (3,)) and one.digits(2) == ((0,), (1,))
    two = bfv.context_of(insecure(MULTI))  # 5 primes, 2 special: groups of 2
    assert two.digits(5) == ((0, 1), (2, 3), (4,))
    assert two.digits(3) == ((0, 1), (2,))
    assert two.digits(1) == ((0,),)


def test_auxiliary_bases_grow_with_the_level() -> None:
    ctx = bfv.context_of(insecure(SMALL))
    sizes = [len(ctx.aux_moduli(level, 2)) for level in range(1, 5)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert len(ctx.aux_moduli(4, 4)) >= len(ctx.aux_moduli(4, 2))
    assert ctx.ring_qb(4, 2).moduli == ctx.params.q + ctx.aux_moduli(4, 2)


def test_slot_index_is_seals_map() -> None:
    """SEAL's BatchEncoder map: slot i -> brv((3^i - 1) / 2), N/2 + i -> brv((2N - 3^i - 1) / 2)."""
    params = insecure(SMALL)
    n = params.degree
    index = bfv.context_of(params).slot_index
    brv = bit_reverse_permutation(n)
    pos = 1
    for i in range(n // 2):
        assert index[i] == brv[(pos - 1) // 2]
        assert index[n // 2 + i] == brv[(2 * n - pos - 1) // 2]
        pos = pos * 3 % (2 * n)
    assert sorted(index.tolist()) == list(range(n))  # a permutation
    assert not index.flags.writeable


def test_plain_ntt_needs_batching() -> None:
    with pytest.raises(ParameterError, match="batching"):
        _ = bfv.context_of(insecure(EVEN)).plain_ntt
    assert np.all(bfv.context_of(insecure(SMALL)).plain_ntt.moduli == (65537,))


def test_no_special_primes() -> None:
    ctx = bfv.context_of(insecure(bfv.ParametersLiteral(1024, 65537, log_q=(27,) * 2)))
    with pytest.raises(ParameterError, match="no special primes"):
        ctx.ring_qp(1)
