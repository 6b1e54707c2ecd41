"""Test helpers that use the real thing: real ledgers, real keys, raw database access."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from dermledger.ledger.bootstrap import Settings, postgres_connect
from dermledger.ledger.signing import Signer
from dermledger.study.ledger import DermLedger

PASSPHRASE = "correct horse battery staple"
TEAM = {
    "ann": ["annotator"],
    "sam": ["specialist"],
    "sue": ["specialist"],
    "sid": ["specialist"],
    "pat": ["pathologist"],
    "aud": ["auditor"],
}


@dataclass
class LedgerHandle:
    ledger: DermLedger
    signers: dict[str, Signer] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Signer:
        return self.signers[name]


def open_handle(settings: Settings, *, team: dict[str, list[str]] = TEAM) -> LedgerHandle:
    """Found a ledger with coordinator `ada` and enrol `team`."""
    ledger = DermLedger(settings)
    ledger.actors.found("ada", PASSPHRASE)
    handle = LedgerHandle(ledger, {"ada": ledger.actors.unlock("ada", PASSPHRASE)})
    for name, roles in team.items():
        ledger.actors.enrol(handle["ada"], name, roles, passphrase=PASSPHRASE)
        handle.signers[name] = ledger.actors.unlock(name, PASSPHRASE)
    return handle


class RawDB:
    """Direct SQL on the event table, for tampering the way an attacker would."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.db_url is None:
            self.conn: Any = sqlite3.connect(settings.sqlite_path)
            self.table = "stored_events"
            self.id_col = "rowid"
            self.ph = "?"
        else:
            self.conn = postgres_connect(settings)
            assert settings.database is not None
            self.table = f'"{settings.database.schema}".dermledger_events'
            self.id_col = "notification_id"
            self.ph = "%s"

    def rows(self) -> list[tuple[int, str, int, str, bytes]]:
        cur = self.conn.execute(
            f"SELECT {self.id_col}, originator_id, originator_version, topic, state "
            f"FROM {self.table} ORDER BY {self.id_col}"
        )
        return [(r[0], r[1], r[2], r[3], bytes(r[4])) for r in cur.fetchall()]

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        sql = sql.replace("{t}", self.table).replace("{id}", self.id_col).replace("?", self.ph)
        self.conn.execute(sql, params)
        if self.settings.db_url is None:
            self.conn.commit()

    def set_state(self, position: int, state: bytes) -> None:
        self.execute("UPDATE {t} SET state=? WHERE {id}=?", (state, position))

    def delete(self, position: int) -> None:
        self.execute("DELETE FROM {t} WHERE {id}=?", (position,))

    def close(self) -> None:
        self.conn.close()


def drop_schema(settings: Settings) -> None:
    assert settings.database is not None
    with postgres_connect(settings) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{settings.database.schema}" CASCADE')


def register_with_consent(handle: LedgerHandle, patient_id: str, fields: dict[str, str]) -> None:
    """Register a patient and record the study consent, as a coordinator does before capture."""
    handle.ledger.patients.register_patient(handle["ada"], patient_id, fields)
    handle.ledger.patients.record_consent(
        handle["ada"], patient_id, "study", b"signed consent form v3"
    )
