"""The write half of a read-model batch, and the thread a rebuild runs it on.

A batch's audit rows and clusters come in two halves: what the folded batch alone
decides (`prepare`, on the thread that folds) and what needs the tables (`store`, inside
the batch's transaction). The split lets a rebuild write batch k on a `Writer` thread
while it folds batch k+1 (sqlite3 releases the GIL while stepping a statement, psycopg
while it waits on the server): `prepare` copies out of the image states everything
`store` reads, since the next fold mutates them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection

from dermledger.ledger.envelope import Envelope
from dermledger.projections.audit_trail import trail_rows
from dermledger.projections.readmodel_fold import Batch
from dermledger.projections.readmodel_sql import ROLES, VOTES, Statements, lookup, write_clusters
from dermledger.study.state import ImageState


@dataclass
class Prepared:
    """One batch's audit rows and cluster inputs, independent of the live states."""

    rows: list[dict[str, Any]]
    envs: list[Envelope]
    need_roles: list[int]  # rows whose role is an earlier batch's enrolment
    missing_votes: dict[int, str]  # row -> superseded vote found only in earlier batches
    enrolments: list[tuple[str, str, int]]
    edges: list[tuple[str, str]]
    suspects: dict[str, ImageState] = field(default_factory=dict)  # copies, suspicions only


def prepare(batch: Batch) -> Prepared:
    """`trail_rows` of the batch with superseded votes the batch's states hold filled
    in; the lookups in earlier batches' rows are left to `store`."""
    rows = trail_rows(batch.entries)
    assert len(rows) == len(batch.entries)  # no filter given: one row per event
    envs = [env for _, env in batch.entries]
    # The superseded vote is the voter's earlier vote on the same image, so the image's
    # state holds it (event ids are unique in a log that verifies); only a vote found
    # nowhere there is looked up in earlier batches' rows, in seq order, so the newest
    # under an id wins as it does in trail_rows.
    missing: dict[int, str] = {}
    for i in batch.need_votes:
        wanted = envs[i].payload["supersedes"]
        state = batch.states.get(envs[i].stream_id)
        found = [v.diagnosis for eid, v in state.votes if eid == wanted] if state else []
        if found:
            rows[i]["old_value"] = found[-1]
        else:
            missing[i] = wanted
    suspects = {
        sid: replace(state, suspicions=[replace(s) for s in state.suspicions], events=[])
        for sid in batch.suspects
        if (state := batch.states[sid])
    }
    enrolments = [(e["actor"], e["roles"], e["enrolled_seq"]) for e in batch.enrolments.values()]
    return Prepared(rows, envs, list(batch.need_roles), missing, enrolments,
                    list(batch.edges), suspects)  # fmt: skip


def store(conn: Connection, sql: Statements, audit: Prepared) -> None:
    """Complete the rows with what earlier batches recorded (an actor's roles, a vote
    superseded earlier) and write them, the actors and the clusters."""
    rows, envs = audit.rows, audit.envs
    if audit.need_roles:
        roles = dict(lookup(conn, ROLES, {envs[i].actor for i in audit.need_roles}))
        for i in audit.need_roles:
            rows[i]["role"] = roles.get(envs[i].actor, "")
    if audit.missing_votes:
        earlier = dict(lookup(conn, VOTES, set(audit.missing_votes.values())))
        for i, wanted in audit.missing_votes.items():
            rows[i]["old_value"] = earlier.get(wanted)
    dumps = json.dumps
    sql.write(
        conn,
        sql.upsert_audit,
        [
            (r["seq"], env.event_id, r["recorded_at"], r["actor"], r["role"], r["meaning"],
             r["type"], r["stream"], r["image_id"], r["field"],
             None if r["old_value"] is None else dumps(r["old_value"]),
             None if r["new_value"] is None else dumps(r["new_value"]), r["reason"])
            for r, env in zip(rows, envs, strict=True)
        ],
    )  # fmt: skip
    sql.write(conn, sql.upsert_actors, audit.enrolments)
    write_clusters(conn, audit.edges, audit.suspects.keys(), audit.suspects)


class Writer:
    """One thread that runs a rebuild's batch transactions in order, one at a time: the
    caller folds the next batch meanwhile. Each job opens, fills and commits its own
    transaction on that thread (the connection is never shared); an exception in a job
    is raised in the caller at its next `submit` or `wait`, and no later job runs."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readmodel-write")
        self._pending: Future[None] | None = None

    def submit(self, job: Callable[[], None]) -> None:
        self.wait()  # one batch in flight: memory stays one batch, writes stay in order
        self._pending = self._pool.submit(job)

    def wait(self) -> None:
        """Until the job in flight has committed (re-raising what it raised)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.wait()
        finally:
            if self._pending is not None:  # the caller failed: let the job finish, quietly
                self._pending.exception()
            self._pool.shutdown(wait=True)
