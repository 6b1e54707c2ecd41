"""The read model's tables (SQLAlchemy Core), one `MetaData` for all of them.

Every table is a pure function of a prefix of the log, so dropping and refilling them
from the events gives the same rows. Names carry no schema: on PostgreSQL the engine
maps them into the ledger's schema (`schema_translate_map`), on SQLite they live in
their own file beside the events.

- `rm_dataset`: one row per image, its current record (ISIC fields, derived label,
  stage, status), the seq of the image's newest event, and `fold_state`: the image's
  folded state as compact JSON, which the next batch that touches the image continues
  from (so no catch-up ever re-reads an event stream).
- `rm_audit_trail`: one row per event, the columns of `audit_trail.trail_rows` keyed
  by `seq`, with the event's id; old and new values keep their JSON types.
- `rm_duplicate_clusters`: the connected components of DuplicateSuspected edges;
  `cluster_id` is the smallest image id in the component, `resolved` is true when no
  suspicion anywhere in the component is open.
- `rm_actors`: each actor's roles at their newest enrolment, what the audit trail
  shows for events that do not name their signer's role (a lookup for later batches).
- `rm_tracking`: how far the read model has read the log, written in the same
  transaction as the rows: the exactly-once guarantee.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

# Bump when a table's shape or meaning changes: a stored read model of another version
# is refused (rebuild it) rather than extended with rows of a different meaning.
SCHEMA_VERSION = 3  # 2: rm_dataset.fold_state; 3: it keeps the erasure mark

metadata = MetaData()

# The ISIC fields of the information model (DESIGN section 4) held per image, in block
# order, with the column type their validated values have.
METADATA_COLUMNS: dict[str, type] = {
    "age": Integer,
    "sex": String,
    "fitzpatrick_skin_type": String,
    "personal_hx_mm": Boolean,
    "family_hx_mm": Boolean,
    "anatom_site": String,
    "clin_size_long_diam_mm": Float,
    "image_type": String,
    "dermoscopic_type": String,
    "acquisition_day": Integer,
}

dataset = Table(
    "rm_dataset",
    metadata,
    Column("image_id", String, primary_key=True),
    Column("patient_id", String, nullable=False, index=True),
    Column("lesion_id", String, nullable=False),
    *(Column(name, type_) for name, type_ in METADATA_COLUMNS.items()),
    Column("diagnosis", String),
    Column("category", String, index=True),
    Column("verification_stage", String, index=True),
    Column("diagnosis_confirm_type", String),
    Column("melanocytic", Boolean),
    Column("consensus", String, nullable=False),
    Column("discordant", Boolean, nullable=False),
    Column("status", String, nullable=False, index=True),
    Column("last_seq", Integer, nullable=False),
    Column("fold_state", Text, nullable=False),  # readmodel.pack_state's JSON
)

audit_trail = Table(
    "rm_audit_trail",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    # Not unique: the read model mirrors the log as it is, and a tampered log may
    # repeat an id (verification reports that; this table must still fill).
    Column("event_id", String, nullable=False, index=True),
    Column("recorded_at", String, nullable=False, index=True),
    Column("actor", String, nullable=False, index=True),
    Column("role", String, nullable=False),
    Column("meaning", String, nullable=False),
    Column("type", String, nullable=False),
    Column("stream", String, nullable=False),
    Column("image_id", String, index=True),
    Column("field", String),
    Column("old_value", JSON(none_as_null=True)),
    Column("new_value", JSON(none_as_null=True)),
    Column("reason", Text),
)

duplicate_clusters = Table(
    "rm_duplicate_clusters",
    metadata,
    Column("image_id", String, primary_key=True),
    Column("cluster_id", String, nullable=False, index=True),
    Column("open_suspicions", Integer, nullable=False),  # this image's unresolved ones
    Column("resolved", Boolean, nullable=False),  # the whole cluster's
)

actors = Table(
    "rm_actors",
    metadata,
    Column("actor", String, primary_key=True),
    Column("roles", String, nullable=False),  # as the audit trail shows them: "a, b"
    Column("enrolled_seq", Integer, nullable=False),
)

tracking = Table(
    "rm_tracking",
    metadata,
    Column("projection", String, primary_key=True),
    Column("schema_version", Integer, nullable=False),
    Column("ledger_id", String),  # of the log it was filled from; None while empty
    Column("last_seq", Integer, nullable=False),
    Column("last_position", Integer, nullable=False),  # the recorder's notification id
)

# Dump order and each table's sort key (its primary key).
TABLES: dict[str, tuple[Table, tuple[str, ...]]] = {
    table.name: (table, tuple(c.name for c in table.primary_key.columns))
    for table in (dataset, audit_trail, duplicate_clusters, actors, tracking)
}
