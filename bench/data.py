"""The benchmark's data: clustered embeddings for a skewed population of users.

Random Gaussian vectors have no neighbours, so recall measured on them means nothing: points are
drawn around centres, as real embeddings cluster by topic. A few heavy users hold thousands of
memories, many light users a few dozen, and one user holds none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Population:
    dim: int
    heavy: dict[str, int]
    light_users: int
    light_size: int
    centres: int = 64
    spread: float = 0.8
    seed: int = 7
    vectors: dict[str, np.ndarray] = field(default_factory=dict, compare=False)

    @property
    def users(self) -> list[str]:
        return [*self.heavy, *(f"light{i:04d}" for i in range(self.light_users))]

    def size(self, user: str) -> int:
        return self.heavy.get(user, self.light_size)

    def centre_matrix(self) -> np.ndarray:
        centres = np.random.default_rng(self.seed).normal(size=(self.centres, self.dim))
        return (centres / np.linalg.norm(centres, axis=1, keepdims=True)).astype(np.float32)

    def build(self) -> dict[str, np.ndarray]:
        centres = self.centre_matrix()
        for index, user in enumerate(self.users):
            self.vectors[user] = clustered(
                self.size(user), centres, self.spread, self.seed + 1000 + index
            )
        return self.vectors

    def queries(self, count: int, seed: int) -> np.ndarray:
        return clustered(count, self.centre_matrix(), self.spread, seed)


def clustered(count: int, centres: np.ndarray, spread: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = centres[rng.integers(0, len(centres), count)]
    points = picks + spread * rng.normal(size=picks.shape) / np.sqrt(centres.shape[1])
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int = 10) -> list[int]:
    """Ground truth: the k nearest rows by cosine similarity, computed in numpy."""
    if len(vectors) == 0:
        return []
    sims = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    return [int(i) for i in np.argsort(-sims)[:k]]


def with_similarity(base: np.ndarray, similarity: float, seed: int) -> np.ndarray:
    b = base / np.linalg.norm(base)
    other = np.random.default_rng(seed).normal(size=len(base))
    other -= other.dot(b) * b
    other /= np.linalg.norm(other)
    return (similarity * b + np.sqrt(1 - similarity**2) * other).astype(np.float32)
