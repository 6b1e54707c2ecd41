"""Where the ledger lives: the home folder and the database, from settings.

Only this module turns a home folder and an optional `postgresql://` URL into what each
library reads: the URL is parsed once into a `PostgresDatabase`, which renders
eventsourcing's environment (PERSISTENCE_MODULE, POSTGRES_*), psycopg's arguments and
SQLAlchemy's URL. The CLI and the tests share it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from dermledger.ledger.errors import InvalidInput

SCHEMA_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_USER_UMASK = os.umask(0o077)  # the user's own umask, read once (reading it sets it)
os.umask(_USER_UMASK)


@dataclass(frozen=True)
class Settings:
    """Resolved location of one ledger."""

    home: Path
    db_url: str | None = None
    kdf_log2_n: int = 17  # scrypt cost of key files; tests lower it to stay fast
    # Permission bits removed from every file and folder the ledger creates: owner only by
    # default (clinical images and records); DERMLEDGER_UMASK=022 shares read access.
    umask: int = 0o077

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

    @cached_property
    def database(self) -> PostgresDatabase | None:
        """The PostgreSQL database, parsed once from `db_url`; None for the SQLite file."""
        return None if self.db_url is None else PostgresDatabase.parse(self.db_url)

    def describe(self) -> str:
        """Where the events are, without any password."""
        return str(self.sqlite_path) if self.database is None else self.database.describe()


def open_home(settings: Settings) -> None:
    """Create the home folder if need be, and from now on create every file and folder
    (database, blobs, read model, checkpoints, releases, exports) without the permission
    bits `settings.umask` removes: a umask for the process, so files made by libraries
    (SQLite's database, journal and WAL) follow it too. The user's own umask still applies
    on top. One sentence, not a traceback, when the home cannot be a folder."""
    os.umask(_USER_UMASK | settings.umask)
    home = settings.home
    if home.exists() and not home.is_dir():
        raise InvalidInput(f"the ledger's home {home} is a file, not a folder")
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create the ledger's home {home}: {exc.strerror}") from None


def postgres_schema(url: str) -> str | None:
    """The `schema` named in a PostgreSQL URL's query, if any."""
    query = parse_qs(urlparse(url).query)
    schema = (query.get("schema") or [None])[0]
    if schema is not None and not SCHEMA_PATTERN.match(schema):
        raise InvalidInput(f"schema name {schema!r} is not a plain lowercase identifier")
    return schema


@dataclass(frozen=True)
class PostgresDatabase:
    """A `postgresql://` URL parsed once into typed parts, rendered for each library that
    needs it: eventsourcing's environment, psycopg's arguments, SQLAlchemy's URL."""

    host: str
    port: int
    dbname: str
    user: str
    password: str | None
    schema: str | None

    @classmethod
    def parse(cls, url: str) -> PostgresDatabase:
        parsed = urlparse(url)
        if parsed.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
            raise InvalidInput(f"--db must be a postgresql:// URL, not {parsed.scheme}://")
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            dbname=parsed.path.lstrip("/") or "postgres",
            user=unquote(parsed.username or "postgres"),
            password=unquote(parsed.password) if parsed.password else None,
            schema=postgres_schema(url),
        )

    def eventsourcing_env(self) -> dict[str, str]:
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password or "",
            "POSTGRES_LOCK_TIMEOUT": "30",
            "POSTGRES_POOL_SIZE": "2",
        }
        if self.schema:
            env["POSTGRES_SCHEMA"] = self.schema
        return env

    def psycopg_kwargs(self) -> dict[str, Any]:
        return {"dbname": self.dbname, "host": self.host, "port": self.port,
                "user": self.user, "password": self.password}  # fmt: skip

    def sqlalchemy_url(self) -> Any:
        from sqlalchemy import URL

        return URL.create(
            "postgresql+psycopg", username=self.user, password=self.password,
            host=self.host, port=self.port, database=self.dbname,
        )  # fmt: skip

    def describe(self) -> str:
        """Where the events are, without any password."""
        where = f"postgresql://{self.host}:{self.port}/{self.dbname}"
        return where + (f" (schema {self.schema})" if self.schema else "")


def eventsourcing_env(settings: Settings) -> dict[str, str]:
    """The eventsourcing environment for these settings."""
    common = {"ORIGINATOR_ID_TYPE": "text"}
    if settings.database is None:
        return {
            **common,
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(settings.sqlite_path),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    return common | settings.database.eventsourcing_env()


def postgres_connect(settings: Settings) -> Any:
    """An autocommit psycopg connection to the settings' PostgreSQL database."""
    import psycopg

    assert settings.database is not None
    return psycopg.connect(**settings.database.psycopg_kwargs(), autocommit=True)


def ledger_exists(settings: Settings) -> bool:
    """Whether these settings name an event store that exists, found without creating
    anything (no SQLite file, no folder, no schema or table): only `init` creates one."""
    if settings.home.exists() and not settings.home.is_dir():
        raise InvalidInput(f"the ledger's home {settings.home} is a file, not a folder")
    if settings.db_url is None:
        return settings.sqlite_path.is_file()
    table = f'"{postgres_schema(settings.db_url) or "public"}".dermledger_events'
    with postgres_connect(settings) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
    return row is not None and row[0] is not None


def ensure_postgres_schema(settings: Settings) -> None:
    """Create the URL's schema if it names one (eventsourcing expects it to exist)."""
    if settings.database is None or not settings.database.schema:
        return
    with postgres_connect(settings) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.database.schema}"')
