"""mempg's releases, each as the id of its last migration: the one place the upgrade test (and
anyone upgrading) reads them from. Landed migrations never change, so "release X" is exactly the
migrations up to its id: `mempg apply --to <id>` installs it."""

from __future__ import annotations

RELEASES: dict[str, str] = {
    "0.1.0": "0004_operations",
}

PREVIOUS_RELEASE = "0.1.0"  # the release an upgrade test starts from
