"""The benchmark's data: a skewed population of users, with clustered synthetic embeddings (quick)
or real text embeddings (full, see bench/corpus.py).

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

    def query_texts(self, count: int, seed: int) -> list[str]:
        """The texts of queries(count, seed), for hybrid search."""
        return [f"note {i}" for i in range(count)]

    def memory_text(self, user: str, index: int) -> str:
        return f"{user} note {index}"


QUERY_RESERVE = 1000  # glosses no user holds: queries and fresh insert vectors come from these


@dataclass(frozen=True)
class TextPopulation(Population):
    """Real embeddings: each user holds a slice of the embedded WordNet glosses (bench/corpus.py);
    queries are glosses that no user holds, so their neighbours are real semantic neighbours."""

    texts: list[str] = field(default_factory=list, compare=False)
    pool: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), compare=False)
    offsets: dict[str, int] = field(default_factory=dict, compare=False)

    def rows(self) -> int:
        return sum(self.size(u) for u in self.users)

    def build(self) -> dict[str, np.ndarray]:
        offset = QUERY_RESERVE
        for user in self.users:
            self.offsets[user] = offset
            self.vectors[user] = self.pool[offset : offset + self.size(user)]
            offset += self.size(user)
        return self.vectors

    def _reserved(self, count: int, seed: int) -> np.ndarray:
        return np.random.default_rng(seed).choice(QUERY_RESERVE, size=count, replace=False)

    def queries(self, count: int, seed: int) -> np.ndarray:
        return self.pool[self._reserved(count, seed)]

    def query_texts(self, count: int, seed: int) -> list[str]:
        return [self.texts[i] for i in self._reserved(count, seed)]

    def memory_text(self, user: str, index: int) -> str:
        return self.texts[self.offsets[user] + index]

    def centre_matrix(self) -> np.ndarray:
        return self.pool[QUERY_RESERVE - self.centres : QUERY_RESERVE]


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
