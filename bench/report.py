"""Benchmark outputs: bench/results/<mode>.json, <mode>.png, and the results table of docs/benchmarks.md."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

START, END = "<!-- bench:{mode}:start -->", "<!-- bench:{mode}:end -->"
EMBEDDINGS = {
    "clustered": "clustered synthetic vectors (64 centres); recall is measured against numpy's exact top 10.",
    "text": "WordNet glosses embedded with all-MiniLM-L6-v2 (384 dims), zero-padded to the installed"
    " dimension and rotated by one random orthogonal matrix; queries are glosses no user holds.",
}


def write_outputs(results: dict[str, Any], folder: Path, readme: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    mode = results["mode"]
    (folder / f"{mode}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    plot(results, folder / f"{mode}.png")
    if readme.exists():
        text = readme.read_text()
        start, end = START.format(mode=mode), END.format(mode=mode)
        if start in text and end in text:
            table = markdown(results)
            text = re.sub(
                re.escape(start) + ".*?" + re.escape(end),
                f"{start}\n{table}\n{end}",
                text,
                flags=re.S,
            )
            readme.write_text(text)


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Mode `{results['mode']}`: {results['storage']['rows']:,} memories of {results['settings']['dimension']}"
        f" dimensions over {results['settings']['users']} users ({', '.join(f'{u}: {n:,}' for u, n in results['settings']['heavy'].items())};"
        f" {results['settings']['light_users']} light users with {results['settings']['light_size']} each; one empty user),"
        f" {results['machine']['cpus']} CPUs, {results['versions']['postgres'].split(' on ')[0]}, pgvector {results['versions']['pgvector']}.",
        f"Embeddings: {EMBEDDINGS.get(results['settings'].get('embeddings', 'clustered'), '')}",
        "Peers: "
        + "; ".join(
            f"{name}: {driver}"
            for name, driver in results.get("drivers", {}).items()
            if not name.startswith(("mempg", "exact"))
        )
        + ".",
        "",
        "| system | users | p50 ms | p95 ms | p99 ms | QPS 1 / 2 threads | recall@10 | rows returned |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, groups in results["systems"].items():
        for group in ("light", "heavy"):
            one, two = groups[group]["1"], groups[group]["2"]
            lines.append(
                f"| {name} | {group} | {one['p50_ms']:.2f} | {one['p95_ms']:.2f} | {one['p99_ms']:.2f} |"
                f" {one['qps']:.0f} / {two['qps']:.0f} | {one['recall_at_10']:.3f} | {one['mean_rows_returned']:.1f} |"
            )
    lines += [
        "",
        "| inserts | add_memory rows/s | plain INSERT rows/s | ratio | exact dups caught | near dups caught |",
        "|---|---|---|---|---|---|",
    ]
    for percent, row in results["inserts"].items():
        lines.append(
            f"| {percent} duplicates | {row['add_memory_rows_per_s']} | {row['plain_insert_rows_per_s']} | {row['ratio']:.2f} |"
            f" {row['exact_caught']}/{row['exact_duplicates']} | {row['near_caught']}/{row['near_duplicates']} |"
        )
    h = results["headline"]
    storage = results["storage"]
    lines += ["", "| headline (same run) | value |", "|---|---|"]
    lines += [f"| {key.replace('_', ' ')} | {value:.3f} |" for key, value in h.items()]
    lines += [
        f"| HNSW build | {storage['hnsw_build_seconds']} s, {storage['hnsw_bytes'] / 2**20:.0f} MiB |",
        f"| bytes per memory (table + indexes) | {storage['bytes_per_memory']:,} |",
    ]
    hybrid = results["hybrid"]
    lines += [
        f"| hybrid vs vector-only p95 (heavy user) | {hybrid['hybrid (hybrid_search_memories)']['p95_ms']:.1f} ms vs"
        f" {hybrid['vector only (search_memories)']['p95_ms']:.1f} ms |"
    ]
    if "rls" in results:
        lines += [
            "| RLS, paired p50 (application user vs service_role) | "
            + "; ".join(
                f"{group} {row['authenticated_p50_ms']:.3f} vs {row['service_role_p50_ms']:.3f} ms"
                for group, row in results["rls"].items()
            )
            + " |"
        ]
    lines += ["", f"![latency against recall](bench/results/{results['mode']}.png)"]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the plot is optional; the JSON and the table are not
        return
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, groups in results["systems"].items():
        for group, marker in (("light", "o"), ("heavy", "s")):
            one = groups[group]["1"]
            left.scatter(
                one["p95_ms"], one["recall_at_10"], marker=marker, label=f"{name} ({group})"
            )
    left.set_xscale("log")
    left.set_xlabel("p95 latency, ms (log)")
    left.set_ylabel("recall@10")
    left.set_title("search: latency against recall")
    left.legend(fontsize=6)
    labels = list(results["inserts"])
    right.bar(
        [i - 0.2 for i in range(len(labels))],
        [r["add_memory_rows_per_s"] for r in results["inserts"].values()],
        width=0.4,
        label="add_memory (dedup trigger)",
    )
    right.bar(
        [i + 0.2 for i in range(len(labels))],
        [r["plain_insert_rows_per_s"] for r in results["inserts"].values()],
        width=0.4,
        label="plain INSERT (triggers off)",
    )
    right.set_xticks(range(len(labels)), [f"{p} duplicates" for p in labels])
    right.set_ylabel("rows per second")
    right.set_title("insert throughput")
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
