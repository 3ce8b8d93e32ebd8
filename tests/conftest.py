"""Shared test configuration: hypothesis profiles and seeded PRNG fixtures."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from heprim.math.prng import KeyedPRNG

# `dev` explores; `ci` is derandomized so a CI run is reproducible and bounded in time.
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def rng() -> KeyedPRNG:
    """A seeded, reproducible PRNG (tests never use the random module)."""
    return KeyedPRNG.from_int(20261127)
