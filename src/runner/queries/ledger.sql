-- The runner's ledger: one row per applied migration, written in the migration's own transaction.
-- Created by the runner before the first migration (and inside a dry-run's rolled-back
-- transaction), so every migration, 0001 included, is recorded atomically with its effects.
CREATE SCHEMA IF NOT EXISTS mempg;
COMMENT ON SCHEMA mempg IS 'mempg runner: migration ledger, yoyo bookkeeping and install settings; never granted to application roles';
REVOKE ALL ON SCHEMA mempg FROM PUBLIC;

CREATE TABLE IF NOT EXISTS mempg.schema_migrations (
    id               text PRIMARY KEY,
    migration_sha256 text NOT NULL CHECK (migration_sha256 ~ '^[0-9a-f]{64}$'),
    rollback_sha256  text CHECK (rollback_sha256 ~ '^[0-9a-f]{64}$'),
    applied_at       timestamptz NOT NULL DEFAULT now(),
    applied_by       text NOT NULL,
    duration_ms      integer NOT NULL CHECK (duration_ms >= 0),
    status           text NOT NULL DEFAULT 'applied' CHECK (status IN ('applied', 'failed'))
);
COMMENT ON TABLE mempg.schema_migrations IS 'Applied migrations with the sha256 of their file and rollback; status failed marks a non-transactional migration that stopped half way';
REVOKE ALL ON mempg.schema_migrations FROM PUBLIC;
