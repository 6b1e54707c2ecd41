"""Erasure in the read model: an erased patient's rows go, and on SQLite their bytes too.

The read-model tables hold opened values (metadata columns, folded states, audit rows
with old and new values), so erasure deletes every row of the patient's images. On
SQLite the deletion runs with `secure_delete` (freed pages are zeroed) and the WAL is
checkpointed and truncated after it, so the values are gone from the files as well as
from the tables. A read model that was never built is left alone.
"""

from __future__ import annotations

from sqlalchemy import delete, or_

from dermledger.ledger.bootstrap import Settings
from dermledger.projections import readmodel_tables as t
from dermledger.projections.readmodel_sql import READMODEL_FILE, engine


def purge_patient(settings: Settings, patient_id: str, image_ids: list[str]) -> int:
    """Delete the rows of `image_ids` and of the patient's own stream; how many went."""
    if settings.database is None and not (settings.home / READMODEL_FILE).exists():
        return 0
    base, eng = engine(settings)
    try:
        t.metadata.create_all(eng)  # a read model of an older table set: nothing to purge
        removed = 0
        with eng.begin() as conn:
            if eng.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            for table in (t.dataset, t.duplicate_clusters):
                removed += conn.execute(
                    delete(table).where(table.c.image_id.in_(image_ids))
                ).rowcount
            trail = t.audit_trail
            removed += conn.execute(
                delete(trail).where(
                    or_(trail.c.image_id.in_(image_ids), trail.c.stream == f"patient:{patient_id}")
                )
            ).rowcount
        if eng.dialect.name == "sqlite":  # outside any transaction: the raw connection
            raw = eng.raw_connection()
            try:
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
        return removed
    finally:
        base.dispose()
