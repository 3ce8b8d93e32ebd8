"""The learning task: linear regression on synthetic data, one shard per client.

Each client holds ``y = X w* + noise`` for its own rows of X; one local step of gradient
descent turns the global weights into an update. The server only ever sees the weighted sum of
the clients' new weights (SecAgg+), from which it computes the FedAvg mean.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

FEATURES = 20
TRUE_WEIGHTS = np.linspace(-0.5, 0.5, FEATURES)


def load_shard(
    partition_id: int, rows: int = 200
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Deterministic synthetic data for one client (a hash of its id seeds the numbers)."""
    seed = hashlib.sha256(f"shard-{partition_id}".encode()).digest()
    words = np.frombuffer(hashlib.shake_256(seed).digest(16 * rows * (FEATURES + 1)), dtype="<u8")
    uniform = (words >> np.uint64(11)).astype(np.float64) * 2.0**-53
    x = (uniform[: rows * FEATURES].reshape(rows, FEATURES) - 0.5) * 2
    noise = (uniform[rows * FEATURES : rows * (FEATURES + 1)] - 0.5) * 0.01
    return x, x @ TRUE_WEIGHTS + noise


def local_step(
    weights: npt.NDArray[np.float64], partition_id: int, learning_rate: float
) -> tuple[npt.NDArray[np.float64], int]:
    """One gradient step of least squares on the client's shard: (new weights, #examples)."""
    x, y = load_shard(partition_id)
    gradient = 2 * x.T @ (x @ weights - y) / len(y)
    return weights - learning_rate * gradient, len(y)
