"""Locating a statement inside a SQL script, for error messages only.

Migrations are sent to the server whole (nothing is split before execution). When one fails, the
server has told us how many statements succeeded; this lexer finds the text and line of the
statement that failed so the message can name it. It knows quotes, dollar quotes, comments and
BEGIN ATOMIC bodies; if it ever miscounts, only the message is affected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


@dataclass(frozen=True)
class Statement:
    text: str
    line: int  # 1-based line of the statement's first non-blank character


def split_statements(script: str) -> list[Statement]:
    """Top-level statements of `script`, comments kept, empty ones dropped."""
    statements: list[Statement] = []
    start = 0
    i = 0
    n = len(script)
    atomic_depth = 0  # inside CREATE FUNCTION ... BEGIN ATOMIC ... END
    last_words: list[str] = []
    while i < n:
        ch = script[i]
        if script.startswith("--", i):
            end = script.find("\n", i)
            i = n if end < 0 else end + 1
        elif script.startswith("/*", i):
            i = _skip_block_comment(script, i)
        elif ch == "'":
            i = _skip_quoted(script, i + 1, "'", backslashes=i > 0 and script[i - 1] in "eE")
        elif ch == '"':
            i = _skip_quoted(script, i + 1, '"', backslashes=False)
        elif ch == "$" and (m := _DOLLAR_TAG.match(script, i)) and not _in_word(script, i):
            tag = m.group(0)
            end = script.find(tag, m.end())
            i = n if end < 0 else end + len(tag)
        elif m := _WORD.match(script, i):
            word = m.group(0).upper()
            if (word == "ATOMIC" and last_words[-1:] == ["BEGIN"]) or (
                word in ("CASE",) and atomic_depth
            ):
                atomic_depth += 1
            elif word == "END" and atomic_depth:
                atomic_depth -= 1
            last_words = [*last_words[-3:], word]
            i = m.end()
        elif ch == ";" and not atomic_depth:
            _append(statements, script, start, i + 1)
            start = i + 1
            last_words = []
            i += 1
        else:
            i += 1
    _append(statements, script, start, n)
    return statements


def _in_word(script: str, i: int) -> bool:
    return i > 0 and (script[i - 1].isalnum() or script[i - 1] == "_")


def _skip_block_comment(script: str, i: int) -> int:
    depth = 0
    n = len(script)
    while i < n:
        if script.startswith("/*", i):
            depth += 1
            i += 2
        elif script.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n


def _skip_quoted(script: str, i: int, quote: str, *, backslashes: bool) -> int:
    n = len(script)
    while i < n:
        ch = script[i]
        if backslashes and ch == "\\":
            i += 2
        elif ch == quote:
            if script.startswith(quote * 2, i):
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return n


def _append(statements: list[Statement], script: str, start: int, end: int) -> None:
    """Add script[start:end] from its first code character (leading comments dropped)."""
    i = start
    while i < end:
        if script[i].isspace():
            i += 1
        elif script.startswith("--", i):
            newline = script.find("\n", i)
            i = end if newline < 0 else newline + 1
        elif script.startswith("/*", i):
            i = _skip_block_comment(script, i)
        else:
            break
    text = script[i:end].strip()
    if text.strip(";").strip():
        statements.append(Statement(text, script.count("\n", 0, i) + 1))


def line_of_position(script: str, position: int) -> int:
    """1-based line of a 1-based character position (the server's error position)."""
    return script.count("\n", 0, max(position - 1, 0)) + 1


_TRANSACTION_CONTROL = {
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "END",
    "START",
    "ABORT",
    "SAVEPOINT",
    "RELEASE",
}


def transaction_control(script: str) -> Statement | None:
    """The first top-level BEGIN/COMMIT/ROLLBACK-like statement, which would break atomicity."""
    for statement in split_statements(script):
        code = re.sub(r"--[^\n]*|/\*.*?\*/", " ", statement.text, flags=re.S).split()
        if not code:
            continue
        first = code[0].upper().rstrip(";")
        if first in _TRANSACTION_CONTROL and not (
            first == "BEGIN" and len(code) > 1 and code[1].upper().startswith("ATOMIC")
        ):
            return statement
    return None
