"""`mempg import` and `mempg export`: readers for each source and the loader that sends their rows
through memory.import_batch() (sql/memory/import_batch.sql). The logic of an import (checks,
deduplication, idempotency, restore) is in SQL; these modules only read sources and move rows."""
