"""Users' API keys: the database never sees a plaintext key, ciphertexts are bound to their row,
and rotation moves every row to the newest master key, in resumable batches."""

from __future__ import annotations

import base64
import json
import secrets

import psycopg
import pytest

from helpers import ROOT, SERVER, run_mempg
from runner import embedded
from runner.errors import RunnerError
from runner.keys import KeyDecryptionError, Keyring, read_key, rotate, store_key

SENTINEL = "sk-SENTINEL-" + secrets.token_hex(16)


def master_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def keyring_v1() -> Keyring:
    return Keyring.from_env({"MEMPG_MASTER_KEY_1": master_key()})


def test_a_stored_key_reads_back_and_the_view_shows_only_its_last_four(
    people, session_as, keyring_v1
):
    a = session_as(people.a)
    store_key(a, keyring_v1, people.a, "openai", SENTINEL)
    assert read_key(a, keyring_v1, people.a, "openai") == SENTINEL
    row = a.execute(
        "SELECT service, last_four, is_valid, key_version FROM app.my_api_keys"
    ).fetchone()
    assert row == ("openai", SENTINEL[-4:], True, 1)
    columns = [d.name for d in a.execute("SELECT * FROM app.my_api_keys").description]
    assert "ciphertext" not in columns and "nonce" not in columns


def test_storing_again_replaces_the_key_for_that_service(people, session_as, keyring_v1):
    a = session_as(people.a)
    first = store_key(a, keyring_v1, people.a, "openai", "sk-first-key-0001")
    second = store_key(a, keyring_v1, people.a, "openai", "sk-second-key-0002")
    assert first == second
    assert read_key(a, keyring_v1, people.a, "openai") == "sk-second-key-0002"


def test_a_ciphertext_copied_into_another_users_row_does_not_decrypt(
    people, session_as, admin, keyring_v1
):
    store_key(session_as(people.a), keyring_v1, people.a, "openai", SENTINEL)
    b = session_as(people.b)
    store_key(b, keyring_v1, people.b, "openai", "sk-bobs-own-key-123")
    admin.execute(
        "UPDATE app.user_api_keys AS b SET ciphertext = a.ciphertext, nonce = a.nonce"
        " FROM app.user_api_keys AS a WHERE a.user_id = %s AND b.user_id = %s",
        (people.a, people.b),
    )
    with pytest.raises(KeyDecryptionError):
        read_key(b, keyring_v1, people.b, "openai")


def test_the_plaintext_never_reaches_the_database(db, people, admin, keyring_v1):
    log = embedded.data_dir(ROOT) / "log"
    log_start = log.stat().st_size if log.exists() else 0
    admin.execute("SELECT pg_stat_statements_reset()") if _has_pg_stat_statements(admin) else None
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("SET log_statement = 'all'")
        conn.execute("SET log_min_error_statement = 'error'")
        conn.execute(
            "SELECT set_config('role', 'authenticated', false), set_config('app.user_id', %s, false)",
            (str(people.a),),
        )
        store_key(conn, keyring_v1, people.a, "openai", SENTINEL)
        with pytest.raises(psycopg.errors.CheckViolation):  # a failing statement is logged too
            store_key(conn, keyring_v1, people.a, "NOT A VALID SERVICE", SENTINEL)
        assert read_key(conn, keyring_v1, people.a, "openai") == SENTINEL
    tables = admin.execute(
        "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relkind = 'r'"
        " AND c.relnamespace::regnamespace::text IN ('app', 'travel', 'memory', 'mempg')"
    ).fetchall()
    for (table,) in tables:
        dump = admin.execute(
            f"SELECT coalesce(string_agg(t::text, ''), '') FROM {table} AS t"
        ).fetchone()[0]
        assert SENTINEL not in dump, table
    audit = admin.execute(
        "SELECT count(*) FROM app.audit_log WHERE table_name = 'app.user_api_keys'"
    ).fetchone()
    assert audit[0] >= 1  # the change is audited, without the secret
    if _has_pg_stat_statements(admin):
        texts = admin.execute(
            "SELECT coalesce(string_agg(query, ''), '') FROM pg_stat_statements"
        ).fetchone()[0]
        assert "user_api_keys" in texts and SENTINEL not in texts
    if log.exists() and not SERVER.password:  # the embedded server's log: readable here
        written = log.read_bytes()[log_start:].decode(errors="replace")
        assert "user_api_keys" in written and SENTINEL not in written


def _has_pg_stat_statements(conn) -> bool:
    return conn.execute(
        "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
    ).fetchone() == (1,)


def test_rotation_moves_every_row_to_the_newest_key_in_resumable_batches(people, session_as, admin):
    old = master_key()
    v1 = Keyring.from_env({"MEMPG_MASTER_KEY_1": old})
    secrets_by_service = {f"svc{i}": f"sk-{i}-" + secrets.token_hex(8) for i in range(5)}
    a = session_as(people.a)
    for service, plaintext in secrets_by_service.items():
        store_key(a, v1, people.a, service, plaintext)
    both = Keyring.from_env({"MEMPG_MASTER_KEY_1": old, "MEMPG_MASTER_KEY_2": master_key()})
    first = rotate(admin, both, batch_size=2, max_batches=1)  # interrupted after one batch
    assert (first.rotated, first.remaining) == (2, 3)
    rest = rotate(admin, both, batch_size=2)  # resumed
    assert (rest.rotated, rest.remaining, rest.failed) == (3, 0, [])
    assert admin.execute("SELECT DISTINCT key_version FROM app.user_api_keys").fetchall() == [(2,)]
    only_new = Keyring.from_env({"MEMPG_MASTER_KEY_2": base64.b64encode(both.keys[2]).decode()})
    for service, plaintext in secrets_by_service.items():
        assert read_key(a, only_new, people.a, service) == plaintext


def test_mempg_keys_rotate_reports_in_json(db, people, session_as):
    old, new = master_key(), master_key()
    store_key(
        session_as(people.a),
        Keyring.from_env({"MEMPG_MASTER_KEY_1": old}),
        people.a,
        "openai",
        SENTINEL,
    )
    env = {"MEMPG_MASTER_KEY_1": old, "MEMPG_MASTER_KEY_2": new}
    result = run_mempg("keys", "rotate", "--json", url=db.url, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "newest_version": 2,
        "rotated": 1,
        "batches": 1,
        "failed": [],
        "remaining": 0,
    }
    missing = run_mempg("keys", "rotate", url=db.url, env={"MEMPG_MASTER_KEY_1": "not base64!"})
    assert missing.returncode == 1 and "not base64" in missing.stderr


@pytest.mark.parametrize("env", [{}, {"MEMPG_MASTER_KEY_1": base64.b64encode(b"short").decode()}])
def test_a_missing_or_short_master_key_is_refused(env):
    with pytest.raises(RunnerError, match=r"master key|32 bytes"):
        Keyring.from_env(env)
