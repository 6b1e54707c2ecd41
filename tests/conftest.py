"""Shared fixtures: real ledgers on a real SQLite file and on the real PostgreSQL server.

PostgreSQL tests read DERMLEDGER_TEST_POSTGRES_URL and skip without it; with
DERMLEDGER_REQUIRE_POSTGRES=1 (as .ci/run sets) a missing server fails instead.
Each PostgreSQL ledger gets a fresh schema, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dermledger.ledger.bootstrap import Settings
from tests.support import LedgerHandle, drop_schema, open_handle

POSTGRES_URL = os.environ.get("DERMLEDGER_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("DERMLEDGER_REQUIRE_POSTGRES") == "1"
# Key files in tests use a lower scrypt cost: the cipher and format are the real ones,
# only the work factor is lowered so hundreds of throwaway keys stay fast.
FAST_KDF = 10


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if POSTGRES_URL or REQUIRE_POSTGRES:
        return
    skip = pytest.mark.skip(reason="DERMLEDGER_TEST_POSTGRES_URL is not set")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def postgres_settings(home: Path) -> Settings:
    if not POSTGRES_URL:
        pytest.fail("DERMLEDGER_REQUIRE_POSTGRES=1 but DERMLEDGER_TEST_POSTGRES_URL is unset")
    schema = f"dl_test_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in POSTGRES_URL else "?"
    return Settings(home=home, db_url=f"{POSTGRES_URL}{sep}schema={schema}", kdf_log2_n=FAST_KDF)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A fresh, empty ledger location on each backend."""
    home = tmp_path / "home"
    if request.param == "sqlite":
        yield Settings(home=home, kdf_log2_n=FAST_KDF)
        return
    s = postgres_settings(home)
    yield s
    drop_schema(s)


@pytest.fixture
def team(settings: Settings) -> Iterator[LedgerHandle]:
    """A founded ledger with one actor per role, keys unlocked."""
    handle = open_handle(settings)
    yield handle
    handle.ledger.close()
