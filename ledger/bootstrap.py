"""Where the ledger lives: the home folder and the database, from settings.

Only this module turns a home folder and an optional `postgresql://` URL into the
environment `eventsourcing` reads (PERSISTENCE_MODULE, SQLITE_DBNAME, POSTGRES_*).
The CLI and the tests share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from dermledger.ledger.errors import InvalidInput

SCHEMA_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Settings:
    """Resolved location of one ledger."""

    home: Path
    db_url: str | None = None
    kdf_log2_n: int = 17  # scrypt cost of key files; tests lower it to stay fast

    @property
    def is_postgres(self) -> bool:
        return self.db_url is not None

    @property
    def sqlite_path(self) -> Path:
        return self.home / "ledger.sqlite"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def checkpoints_dir(self) -> Path:
        return self.home / "checkpoints"

    @property
    def blobs_dir(self) -> Path:
        return self.home / "blobs"

    def describe(self) -> str:
        """Where the events are, without any password."""
        if self.db_url is None:
            return str(self.sqlite_path)
        parsed = urlparse(self.db_url)
        schema = postgres_schema(self.db_url)
        where = f"postgresql://{parsed.hostname}:{parsed.port or 5432}{parsed.path}"
        return where + (f" (schema {schema})" if schema else "")


def postgres_schema(url: str) -> str | None:
    """The `schema` (or `options=-csearch_path=`) named in a PostgreSQL URL, if any."""
    query = parse_qs(urlparse(url).query)
    schema = (query.get("schema") or [None])[0]
    if schema is not None and not SCHEMA_PATTERN.match(schema):
        raise InvalidInput(f"schema name {schema!r} is not a plain lowercase identifier")
    return schema


def eventsourcing_env(settings: Settings) -> dict[str, str]:
    """The eventsourcing environment for these settings."""
    common = {"ORIGINATOR_ID_TYPE": "text"}
    if settings.db_url is None:
        return {
            **common,
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(settings.sqlite_path),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    parsed = urlparse(settings.db_url)
    if parsed.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise InvalidInput(f"--db must be a postgresql:// URL, not {parsed.scheme}://")
    env = {
        **common,
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parsed.path.lstrip("/") or "postgres",
        "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parsed.port or 5432),
        "POSTGRES_USER": unquote(parsed.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parsed.password or ""),
        "POSTGRES_LOCK_TIMEOUT": "30",
        "POSTGRES_POOL_SIZE": "2",
    }
    schema = postgres_schema(settings.db_url)
    if schema:
        env["POSTGRES_SCHEMA"] = schema
    return env


def postgres_connect(settings: Settings) -> Any:
    """An autocommit psycopg connection to the settings' PostgreSQL database."""
    import psycopg

    env = eventsourcing_env(settings)
    return psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        autocommit=True,
    )


def ledger_exists(settings: Settings) -> bool:
    """Whether these settings name an event store that exists, found without creating
    anything (no SQLite file, no folder, no schema or table): only `init` creates one."""
    if settings.db_url is None:
        return settings.sqlite_path.is_file()
    table = f'"{postgres_schema(settings.db_url) or "public"}".dermledger_events'
    with postgres_connect(settings) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
    return row is not None and row[0] is not None


def ensure_postgres_schema(settings: Settings) -> None:
    """Create the URL's schema if it names one (eventsourcing expects it to exist)."""
    if settings.db_url is None:
        return
    schema = postgres_schema(settings.db_url)
    if not schema:
        return
    with postgres_connect(settings) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
