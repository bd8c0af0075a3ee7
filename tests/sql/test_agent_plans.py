"""The seed's listing queries on 50,000+ rows per table read their index (EXPLAIN ANALYZE, BUFFERS,
as an authenticated user under row-level security; and the listing functions' own statements,
through auto_explain, after enough calls for their cached generic plans)."""

from __future__ import annotations

import json

import psycopg
import pytest

from helpers import Database
from vectors import nested_plans, owner

ROWS = 50_000
USER = "u7"


@pytest.fixture(scope="module")
def loaded(module_db: Database) -> Database:
    with owner(module_db.url) as conn:
        conn.execute(
            "INSERT INTO agent.conversations (user_id, agent_id, session_id, role, content, created_at)"
            " SELECT 'u' || (mod(i, 50)), 'agent-' || (mod(i, 7)), 's' || (mod(i, 500)), 'user', 'message ' || i,"
            " now() - i * interval '1 second' FROM generate_series(1, %s) AS i",
            (ROWS,),
        )
        conn.execute(
            "INSERT INTO agent.ingestions (user_id, source_id, status, worker, started_at, finished_at, created_at)"
            " SELECT 'u' || (mod(i, 50)), 'repo', 'queued', NULL, NULL, NULL, now() - i * interval '1 second'"
            " FROM generate_series(1, %s) AS i",
            (ROWS,),
        )
        conn.execute(
            "SET session_replication_role = replica"
        )  # past the status machine, as a restore
        conn.execute(
            "UPDATE agent.ingestions SET status = (ARRAY['completed', 'failed'])[1 + mod(id, 2)], worker = 'w',"
            " started_at = created_at, finished_at = created_at + interval '1 second' WHERE mod(id, 10) <> 0"
        )
        conn.execute(
            "INSERT INTO agent.workflow_executions (user_id, workflow_id, adapter, status, started_at, finished_at,"
            " created_at) SELECT 'u' || (mod(i, 50)), 'wf-' || (mod(i, 20)), (ARRAY['prefect', 'airflow', 'agno'])[1 + mod(i, 3)],"
            " 'completed', now() - i * interval '1 second', now(), now() - i * interval '1 second'"
            " FROM generate_series(1, %s) AS i",
            (ROWS,),
        )
        conn.execute(
            "UPDATE agent.workflow_executions SET status = 'running', finished_at = NULL WHERE md5(id::text) < '1'"
        )
        conn.execute("SET session_replication_role = origin")
        conn.execute(
            "INSERT INTO agent.metrics (user_id, component, metric_type, metrics, recorded_at)"
            " SELECT 'u' || (mod(i, 50)), 'component-' || (mod(i, 10)), 'latency', jsonb_build_object('ms', mod(i, 97)),"
            " date_trunc('day', now()) + (mod(i, 80000)) * interval '1 second'"
            " FROM generate_series(1, %s) AS i",
            (ROWS,),
        )
        conn.execute(
            "VACUUM (ANALYZE) agent.conversations, agent.ingestions, agent.workflow_executions, agent.metrics"
        )
    return module_db


def plan_as(url: str, query: str, params: tuple = ()) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT set_config('role', 'authenticated', false), set_config('app.user_id', %s, false)",
            (USER,),
        )
        row = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}", params).fetchone()
    assert row is not None
    plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
    return plan[0]["Plan"]


def indexes(plan: dict) -> set[str]:
    found = {plan["Index Name"]} if "Index Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= indexes(child)
    return found


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (  # the seed's agent_conversations_agent_idx: an agent's messages by time
            "SELECT * FROM agent.conversations WHERE agent_id = 'agent-3' ORDER BY created_at DESC LIMIT 50",
            "conversations_user_agent_created",
        ),
        (  # the seed's agent_conversations_session_idx
            "SELECT * FROM agent.conversations WHERE session_id = 's7' ORDER BY turn LIMIT 50",
            "conversations_user_session_turn",
        ),
        (  # rag_ingestions_status_idx: failed jobs, newest first
            "SELECT * FROM agent.ingestions WHERE status = 'failed' ORDER BY created_at DESC LIMIT 50",
            "ingestions_user_status_created",
        ),
        (  # workflow_executions_adapter_status_idx
            "SELECT * FROM agent.workflow_executions WHERE adapter = 'prefect' AND status = 'completed'"
            " ORDER BY created_at DESC LIMIT 50",
            "workflow_executions_user_adapter_status",
        ),
        (  # performance_metrics_component_timestamp_idx INCLUDE (metrics): the last hour of a component
            "SELECT recorded_at, metrics FROM agent.metrics WHERE component = 'component-7'"
            " AND recorded_at > date_trunc('day', now()) + interval '10 hours'"
            " AND recorded_at <= date_trunc('day', now()) + interval '11 hours'",
            None,
        ),
    ],
)
def test_the_seeds_listing_queries_read_their_index(
    loaded: Database, query: str, index: str | None
):
    plan = plan_as(loaded.url, query)
    text = json.dumps(plan)
    assert "Seq Scan" not in text, text
    if index is None:  # a partition's copy of metrics_user_component_recorded, index only
        assert any(
            name.endswith("user_id_component_recorded_at_metrics_idx") for name in indexes(plan)
        ), text
        assert "Index Only Scan" in text, text
    else:
        assert index in indexes(plan), text


@pytest.mark.parametrize(
    ("statement", "index"),
    [
        ("SELECT * FROM agent.session_messages(%s, 's7')", "conversations_user_session_turn"),
        ("SELECT * FROM agent.agent_messages(%s, 'agent-3')", "conversations_user_agent_created"),
        ("SELECT * FROM agent.list_ingestions(%s, 'failed')", "ingestions_user_status_created"),
        (
            "SELECT * FROM agent.list_workflow_executions(%s, 'prefect', 'completed')",
            "workflow_executions_user_adapter_status",
        ),
    ],
)
def test_the_listing_functions_read_their_index_with_generic_plans_too(
    loaded: Database, statement, index
):
    plans = nested_plans(loaded.url, USER, statement, (USER,), calls=7)
    assert index in plans, plans
    assert "Seq Scan on conversations" not in plans and "Seq Scan on ingestions" not in plans, plans
    assert "Seq Scan on workflow_executions" not in plans, plans


def test_a_claim_reads_only_the_claimable_jobs(loaded: Database):
    with psycopg.connect(loaded.url, autocommit=True) as conn:
        conn.execute("SET role service_role")
        row = conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT id FROM agent.ingestions"
            " WHERE status IN ('queued', 'running') AND visible_at <= clock_timestamp()"
            " ORDER BY visible_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
        ).fetchone()
    plan = row[0][0]["Plan"]
    assert "ingestions_claimable" in indexes(plan), plan
