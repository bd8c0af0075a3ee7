"""The statement locator used in error messages, and the transaction-control guard."""

from __future__ import annotations

import pytest

from runner.sqltext import split_statements, transaction_control

SCRIPT = """\
-- header; with a semicolon
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$
BEGIN
    RETURN 1; -- ; inside
END
$body$;
SELECT 'it''s; fine', E'back\\'slash;', "odd;name" FROM t; /* block ; /* nested ; */ */
CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END;
SELECT $$a;b$$;
"""


def test_statements_are_found_across_quotes_comments_and_bodies():
    statements = split_statements(SCRIPT)
    assert [s.line for s in statements] == [2, 7, 8, 9]
    assert statements[0].text.startswith("CREATE FUNCTION f()")
    assert statements[1].text.startswith("SELECT 'it''s; fine'")
    assert statements[2].text.endswith("SELECT 2; END;")
    assert statements[3].text == "SELECT $$a;b$$;"


def test_a_comment_only_tail_is_not_a_statement():
    assert [s.text for s in split_statements("SELECT 1;\n-- done\n")] == ["SELECT 1;"]


@pytest.mark.parametrize(
    ("script", "found"),
    [
        ("SELECT 1;\nCOMMIT;\n", "COMMIT;"),
        ("begin;\nSELECT 1;\n", "begin;"),
        ("-- note\nROLLBACK;", "ROLLBACK;"),
        ("DO $$ BEGIN COMMIT; END $$;", None),
        ("CREATE FUNCTION h() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;", None),
        ("SELECT 'COMMIT;';", None),
    ],
)
def test_transaction_control_is_found_only_at_top_level(script: str, found: str | None):
    statement = transaction_control(script)
    assert (statement.text if statement else None) == found
