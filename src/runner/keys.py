"""Users' own API keys: AES-256-GCM in the client, only ciphertext in app.user_api_keys.

The database never sees a plaintext key. Each ciphertext is bound by its associated data to
(user, service, row id), so a ciphertext copied into another row does not decrypt. Master keys
come from the environment, one per version: MEMPG_MASTER_KEY_1, MEMPG_MASTER_KEY_2, ... (base64
of 32 random bytes; `mempg keys generate` prints one). New keys use the newest version;
`mempg keys rotate` re-encrypts older rows onto it in batches and can be stopped and resumed.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from runner.errors import RunnerError

KEY_VARIABLE = re.compile(r"^MEMPG_MASTER_KEY_([1-9][0-9]*)$")
MAX_KEY_LENGTH = 4096


class KeyDecryptionError(RunnerError):
    """A ciphertext that does not decrypt: wrong row, tampered, or an unknown key version."""


def generate_master_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def associated_data(user_id: uuid.UUID | str, service: str, row_id: uuid.UUID | str) -> bytes:
    return "\x1f".join(["mempg.user_api_keys", str(user_id), service, str(row_id)]).encode()


@dataclass(frozen=True)
class Keyring:
    keys: Mapping[int, bytes]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Keyring:
        source = os.environ if env is None else env
        keys: dict[int, bytes] = {}
        for name, value in source.items():
            match = KEY_VARIABLE.match(name)
            if not match:
                continue
            try:
                key = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise RunnerError(f"{name} is not base64") from None
            if len(key) != 32:
                raise RunnerError(f"{name} must be 32 bytes (AES-256), got {len(key)}")
            keys[int(match.group(1))] = key
        if not keys:
            raise RunnerError(
                "no master key: set MEMPG_MASTER_KEY_1 (generate one with `mempg keys generate`)"
            )
        return cls(keys)

    @property
    def newest(self) -> int:
        return max(self.keys)

    def encrypt(self, plaintext: str, aad: bytes) -> tuple[bytes, bytes, int]:
        nonce = secrets.token_bytes(12)
        version = self.newest
        return AESGCM(self.keys[version]).encrypt(nonce, plaintext.encode(), aad), nonce, version

    def decrypt(self, ciphertext: bytes, nonce: bytes, version: int, aad: bytes) -> str:
        key = self.keys.get(version)
        if key is None:
            raise KeyDecryptionError(
                f"master key version {version} is not configured (MEMPG_MASTER_KEY_{version})"
            )
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, aad).decode()
        except InvalidTag:
            raise KeyDecryptionError(
                "the API key does not decrypt: it belongs to another row, or was altered"
            ) from None


def store_key(
    conn: psycopg.Connection,
    keyring: Keyring,
    user_id: uuid.UUID | str,
    service: str,
    plaintext: str,
) -> uuid.UUID:
    """Encrypt and store (or replace) a user's key for one service; returns the row id."""
    if not plaintext or not plaintext.strip() or len(plaintext) > MAX_KEY_LENGTH:
        raise RunnerError(f"an API key must be 1 to {MAX_KEY_LENGTH} non-blank characters")
    with conn.transaction():
        row = conn.execute(
            "SELECT id FROM app.user_api_keys WHERE user_id = %s AND service = %s FOR UPDATE",
            (user_id, service),
        ).fetchone()
        row_id = row[0] if row else uuid.uuid4()
        ciphertext, nonce, version = keyring.encrypt(
            plaintext, associated_data(user_id, service, row_id)
        )
        conn.execute(
            "INSERT INTO app.user_api_keys (id, user_id, service, ciphertext, nonce, key_version, last_four)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, nonce = EXCLUDED.nonce,"
            "  key_version = EXCLUDED.key_version, last_four = EXCLUDED.last_four, is_valid = true,"
            "  rotated_at = now()",
            (row_id, user_id, service, ciphertext, nonce, version, plaintext[-4:]),
        )
    return row_id


def read_key(
    conn: psycopg.Connection, keyring: Keyring, user_id: uuid.UUID | str, service: str
) -> str:
    """The plaintext key of a user for a service (visible rows only: row-level security applies)."""
    row = conn.execute(
        "UPDATE app.user_api_keys SET last_used_at = now() WHERE user_id = %s AND service = %s"
        " RETURNING id, ciphertext, nonce, key_version",
        (user_id, service),
    ).fetchone()
    if row is None:
        raise RunnerError(f"no API key for service {service!r}")
    row_id, ciphertext, nonce, version = row
    return keyring.decrypt(
        bytes(ciphertext), bytes(nonce), version, associated_data(user_id, service, row_id)
    )


@dataclass
class RotationReport:
    newest_version: int
    rotated: int = 0
    batches: int = 0
    failed: list[str] = field(default_factory=list)
    remaining: int = 0


def rotate(
    conn: psycopg.Connection,
    keyring: Keyring,
    *,
    batch_size: int = 500,
    max_batches: int | None = None,
    echo: Callable[[str], None] = lambda _m: None,
) -> RotationReport:
    """Re-encrypt every row below the newest key version, one committed batch at a time.

    Rows are walked in id order (a keyset), each batch locked with SKIP LOCKED, so the job can be
    interrupted and run again, and runs beside the application. A row that does not decrypt is
    reported and left as it is.
    """
    report = RotationReport(keyring.newest)
    last_id: uuid.UUID | None = None
    while max_batches is None or report.batches < max_batches:
        with conn.transaction():
            rows = conn.execute(
                "SELECT id, user_id, service, ciphertext, nonce, key_version FROM app.user_api_keys"
                " WHERE key_version < %s AND (%s::uuid IS NULL OR id > %s::uuid)"
                " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                (keyring.newest, last_id, last_id, batch_size),
            ).fetchall()
            if not rows:
                break
            for row_id, user_id, service, ciphertext, nonce, version in rows:
                aad = associated_data(user_id, service, row_id)
                try:
                    plaintext = keyring.decrypt(bytes(ciphertext), bytes(nonce), version, aad)
                except KeyDecryptionError as exc:
                    report.failed.append(f"{row_id}: {exc}")
                    continue
                new_ciphertext, new_nonce, new_version = keyring.encrypt(plaintext, aad)
                conn.execute(
                    "UPDATE app.user_api_keys SET ciphertext = %s, nonce = %s, key_version = %s,"
                    " rotated_at = now() WHERE id = %s",
                    (new_ciphertext, new_nonce, new_version, row_id),
                )
                report.rotated += 1
            last_id = rows[-1][0]
        report.batches += 1
        echo(f"batch {report.batches}: {report.rotated} rotated so far")
    remaining = conn.execute(
        "SELECT count(*) FROM app.user_api_keys WHERE key_version < %s", (keyring.newest,)
    ).fetchone()
    report.remaining = int(remaining[0]) if remaining else 0
    return report
