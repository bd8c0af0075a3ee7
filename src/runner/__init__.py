"""mempg's runner: applies, dry-runs, verifies and rolls back the SQL in migrations/ and sql/."""

__version__ = "0.1.0"
