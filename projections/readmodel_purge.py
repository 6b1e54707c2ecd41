"""Erasure in the read model: an erased patient's rows go, and on SQLite their bytes too.

The read-model tables hold opened values (metadata columns, folded states, audit rows
with old and new values), so erasure deletes every row of the patient's images. On
SQLite the deletion runs with `secure_delete` (freed pages are zeroed) and the WAL is
checkpointed and truncated after it, so the values are gone from the files as well as
from the tables. A read model that was never built is left alone (no table is made).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Table, delete, func, inspect, or_, select

from dermledger.ledger.bootstrap import Settings
from dermledger.projections import readmodel_tables as t
from dermledger.projections.readmodel_sql import READMODEL_FILE, damaged_readmodel, engine


def _built(settings: Settings, eng: Engine) -> bool:
    """Whether the read-model tables exist (in the ledger's schema on PostgreSQL)."""
    schema = settings.database.schema if settings.database else None
    return inspect(eng).has_table(t.dataset.name, schema=schema or None)


def _conditions(patient_id: str, image_ids: list[str]) -> list[tuple[Table, Any]]:
    trail = t.audit_trail
    return [
        (t.dataset, t.dataset.c.image_id.in_(image_ids)),
        (t.duplicate_clusters, t.duplicate_clusters.c.image_id.in_(image_ids)),
        (trail, or_(trail.c.image_id.in_(image_ids), trail.c.stream == f"patient:{patient_id}")),
    ]


def count_rows(settings: Settings, patient_id: str, image_ids: list[str]) -> int:
    """How many rows of the patient are still in the read model (0 if there is none)."""
    if settings.database is None and not (settings.home / READMODEL_FILE).exists():
        return 0
    base, eng = engine(settings)
    try:
        with damaged_readmodel(settings):
            if not _built(settings, eng):
                return 0
            with eng.connect() as conn:
                counts = (
                    conn.execute(select(func.count()).select_from(table).where(where))
                    for table, where in _conditions(patient_id, image_ids)
                )
                return sum(int(count.scalar_one()) for count in counts)
    finally:
        base.dispose()


def purge_patient(settings: Settings, patient_id: str, image_ids: list[str]) -> int:
    """Delete the rows of `image_ids` and of the patient's own stream; how many went."""
    if settings.database is None and not (settings.home / READMODEL_FILE).exists():
        return 0
    base, eng = engine(settings)
    try:
        with damaged_readmodel(settings):
            if not _built(settings, eng):
                return 0
            removed = 0
            with eng.begin() as conn:
                if eng.dialect.name == "sqlite":
                    conn.exec_driver_sql("PRAGMA secure_delete=ON")
                for table, where in _conditions(patient_id, image_ids):
                    removed += conn.execute(delete(table).where(where)).rowcount
            if eng.dialect.name == "sqlite":  # outside any transaction: the raw connection
                raw = eng.raw_connection()
                try:
                    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    raw.close()
            return removed
    finally:
        base.dispose()
