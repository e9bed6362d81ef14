"""The operations journal's records and the SQL both engines run for them (no MCP imports).

A rotation or a migration is one row in ``operations`` and one row per step in
``operation_steps``; the JSON fields (arguments, plan, a step's action, undo and result) are
stored as canonical JSON text. The statements are written once (``state.dialect``);
``statements(prefix, placeholder, real)`` gives each engine its own.

``claim`` is a compare-and-set on the owner: it moves an operation to a new owner only while
the owner is still the one the caller read, so of any number of replicas resuming the same
operation at once exactly one updates the row; the others change nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from nexla_mcp.state.dialect import for_engine

__all__ = [
    "JournalSQL",
    "OperationRecord",
    "OperationStatus",
    "StepRecord",
    "StepStatus",
    "operation_of",
    "operation_row",
    "statements",
    "step_of",
    "step_row",
]

OperationStatus = Literal["running", "completed", "rolled_back", "failed", "rolling_back"]
StepStatus = Literal["started", "done", "undoing", "undone", "failed"]


@dataclass
class StepRecord:
    """One step: the request it makes (``action``), the request that undoes it, and how far
    it got. ``result`` keeps what a later step or the undo needs (e.g. a created id)."""

    seq: int
    name: str
    action: dict[str, Any]
    undo: dict[str, Any] | None
    status: StepStatus
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class OperationRecord:
    """An operation as the journal holds it."""

    id: str
    kind: str
    status: OperationStatus
    arguments: dict[str, Any]
    plan: dict[str, Any]
    owner: str
    created_at: float
    updated_at: float
    note: str | None = None
    steps: list[StepRecord] = field(default_factory=list)


SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {p}operations (id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
    "status TEXT NOT NULL, arguments TEXT NOT NULL, plan TEXT NOT NULL, owner TEXT NOT NULL, "
    "note TEXT, created_at {real} NOT NULL, updated_at {real} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS {p}operations_created ON {p}operations (created_at)",
    "CREATE TABLE IF NOT EXISTS {p}operation_steps "
    "(operation_id TEXT NOT NULL REFERENCES {p}operations (id), seq INTEGER NOT NULL, "
    "name TEXT NOT NULL, action TEXT NOT NULL, undo TEXT, status TEXT NOT NULL, result TEXT, "
    "error TEXT, updated_at {real} NOT NULL, PRIMARY KEY (operation_id, seq))",
)
"""The journal's tables; ``{real}`` is the engine's floating-point type."""

_COLUMNS = "id, kind, status, arguments, plan, owner, note, created_at, updated_at"
_STEP_COLUMNS = "seq, name, action, undo, status, result, error"


@dataclass(frozen=True)
class JournalSQL:
    """The journal's statements for one engine."""

    schema: tuple[str, ...]
    insert: str
    """Insert an operation unless its id exists (nothing is overwritten)."""
    claim: str
    set_status: str
    put_step: str
    touch: str
    get: str
    steps: str
    recent: str


def statements(prefix: str, placeholder: str, real: str) -> JournalSQL:
    """The statements with tables named ``<prefix>operations`` and ``placeholder`` for ``?``."""

    def sql(text: str) -> str:
        return for_engine(text, prefix, placeholder, real)

    return JournalSQL(
        schema=tuple(sql(statement) for statement in SCHEMA),
        insert=sql(
            f"INSERT INTO {{p}}operations ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING"
        ),
        claim=sql("UPDATE {p}operations SET owner = ?, updated_at = ? WHERE id = ? AND owner = ?"),
        set_status=sql(
            "UPDATE {p}operations SET status = ?, note = COALESCE(?, note), updated_at = ? "
            "WHERE id = ?"
        ),
        put_step=sql(
            "INSERT INTO {p}operation_steps (operation_id, seq, name, action, undo, status, "
            "result, error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (operation_id, seq) DO UPDATE SET name = excluded.name, "
            "action = excluded.action, undo = excluded.undo, status = excluded.status, "
            "result = excluded.result, error = excluded.error, updated_at = excluded.updated_at"
        ),
        touch=sql("UPDATE {p}operations SET updated_at = ? WHERE id = ?"),
        get=sql(f"SELECT {_COLUMNS} FROM {{p}}operations WHERE id = ?"),
        steps=sql(
            f"SELECT {_STEP_COLUMNS} FROM {{p}}operation_steps WHERE operation_id = ? ORDER BY seq"
        ),
        recent=sql(f"SELECT {_COLUMNS} FROM {{p}}operations ORDER BY created_at DESC LIMIT ?"),
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def operation_row(record: OperationRecord) -> tuple[Any, ...]:
    """``record`` as the parameters of ``JournalSQL.insert``."""
    return (
        record.id, record.kind, record.status, _dumps(record.arguments), _dumps(record.plan),
        record.owner, record.note, record.created_at, record.updated_at,
    )  # fmt: skip


def step_row(operation_id: str, step: StepRecord, now: float) -> tuple[Any, ...]:
    """``step`` as the parameters of ``JournalSQL.put_step``."""
    return (
        operation_id, step.seq, step.name, _dumps(step.action),
        _dumps(step.undo) if step.undo is not None else None, step.status, _dumps(step.result),
        step.error, now,
    )  # fmt: skip


def operation_of(row: tuple[Any, ...]) -> OperationRecord:
    """A row of ``JournalSQL.get`` or ``recent`` as a record (without its steps)."""
    (op_id, kind, status, arguments, plan, owner, note, created_at, updated_at) = row
    return OperationRecord(
        id=op_id, kind=kind, status=status, arguments=json.loads(arguments),
        plan=json.loads(plan), owner=owner, created_at=created_at, updated_at=updated_at,
        note=note,
    )  # fmt: skip


def step_of(row: tuple[Any, ...]) -> StepRecord:
    """A row of ``JournalSQL.steps`` as a step."""
    seq, name, action, undo, status, result, error = row
    return StepRecord(
        seq=seq, name=name, action=json.loads(action), undo=json.loads(undo) if undo else None,
        status=status, result=json.loads(result) if result else {}, error=error,
    )  # fmt: skip
