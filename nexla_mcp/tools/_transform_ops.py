"""``update_transform`` as a ``WriteOperation``: new code for a transform (a code container).

The plan shows a unified diff against the current code and every nexset and flow that runs it
(a reusable transform can serve several flows: all of them get the new code at their next
run). The state it is bound to is a digest of the current code, so a plan made before someone
else's edit is refused. The undo call carries the old code and code type.

Code is given as text: a Python or JavaScript script becomes one ``nexla.custom`` operation
(docs/nexla-api.md §13); any other code type takes the operations list as JSON.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from typing import Any, Literal

from nexla_mcp.errors import NexlaError, ValidationError
from nexla_mcp.nexla import NexlaClient
from nexla_mcp.server.text import sanitize_text
from nexla_mcp.server.write_policy import FlowScope
from nexla_mcp.tools._flow_ops import subject
from nexla_mcp.tools._writes import (
    BlastRadius,
    Change,
    Observation,
    ReverseAction,
    WriteOperation,
    watch_after,
)

__all__ = ["CODE_TYPES", "MAX_CODE_CHARS", "UpdateTransform"]

CodeType = Literal["python", "javascript", "jolt_standard", "jolt_custom", "sql"]
CODE_TYPES: tuple[CodeType, ...] = ("python", "javascript", "jolt_standard", "jolt_custom", "sql")
_SCRIPTED = ("python", "javascript")
MAX_CODE_CHARS = 20_000
_DIFF_LINES = 80
_DIFF_CHARS = 4_000
_MAX_NEXSETS_READ = 10


def _invalid(message: str, hint: str | None = None) -> ValidationError:
    return ValidationError(message, operation="validate_arguments", hint=hint)


def code_as_text(code: Any, code_type: str | None) -> str | None:
    """The code as ``update_transform`` takes it (the script, or the operations as JSON), or
    None when it has no such form (an encoded or multi-part script)."""
    if code is None:
        return None
    if code_type in _SCRIPTED:
        spec = code[0].get("spec") if isinstance(code, list) and len(code) == 1 and isinstance(
            code[0], dict) else None  # fmt: skip
        if isinstance(spec, dict) and spec.get("encoding", "none") == "none":
            script = spec.get("script")
            if isinstance(script, str):
                return script
        return None
    return json.dumps(code, indent=2, ensure_ascii=False, sort_keys=True)


def code_of_text(text: str, code_type: str) -> list[dict[str, Any]]:
    """The operations list Nexla stores for ``text`` of ``code_type``.

    Raises:
        ValidationError: non-script code that is not a JSON list of operations.
    """
    if code_type in _SCRIPTED:
        return [{"operation": "nexla.custom",
                 "spec": {"language": code_type, "encoding": "none", "script": text}}]  # fmt: skip
    try:
        operations = json.loads(text)
    except ValueError:
        operations = None
    if (
        not isinstance(operations, list)
        or not operations
        or not all(isinstance(op, dict) for op in operations)
    ):
        raise _invalid(
            f"code for a {code_type} transform must be a JSON list of operations.",
            "Copy the shape get_transform shows (detail=full), or use code_type python.",
        )
    return operations


def _digest(code: Any) -> str:
    canonical = json.dumps(code, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _diff(old: str, new: str) -> str:
    lines = list(difflib.unified_diff(
        old.splitlines(), new.splitlines(), "current", "new", lineterm="", n=2
    ))  # fmt: skip
    shown = lines[:_DIFF_LINES]
    if len(lines) > _DIFF_LINES:
        shown.append(f"... {len(lines) - _DIFF_LINES} more diff lines")
    return sanitize_text("\n".join(shown), max_chars=_DIFF_CHARS, keep_newlines=True)


class UpdateTransform(WriteOperation):
    """Replace a transform's code (and optionally its code type)."""

    tool = "update_transform"

    def __init__(self, transform_id: int, code: str, code_type: CodeType | None) -> None:
        if not code.strip():
            raise _invalid("code must not be blank.")
        if len(code) > MAX_CODE_CHARS:
            raise _invalid(f"code must be at most {MAX_CODE_CHARS} characters.")
        self.transform_id, self.code, self.code_type = transform_id, code, code_type
        if code_type is not None:
            code_of_text(code, code_type)  # reject malformed code before reading anything

    @property
    def arguments(self) -> dict[str, Any]:
        return {"transform_id": self.transform_id, "code": self.code,
                "code_type": self.code_type}  # fmt: skip

    async def _users(self, client: NexlaClient, nexset_ids: list[int]) -> list[tuple[int, int]]:
        """(nexset id, flow id) for the nexsets that run the transform (first few read)."""
        users = []
        for nexset_id in nexset_ids[:_MAX_NEXSETS_READ]:
            try:
                nexset = await client.get_nexset(nexset_id)
            except NexlaError:
                continue  # unreadable to us: it still runs the code; it is listed by id below
            if nexset.origin_node_id is not None:
                users.append((nexset_id, nexset.origin_node_id))
        return users

    async def observe(self, client: NexlaClient) -> Observation:
        transform = await client.get_transform(self.transform_id)
        current_type = transform.code_type or "python"
        new_type = self.code_type or current_type
        new_code = code_of_text(self.code, new_type)
        old_text = code_as_text(transform.code, current_type) or json.dumps(transform.code)
        nexset_ids = [item for item in transform.data_sets if isinstance(item, int)]
        users = await self._users(client, nexset_ids)
        flows = sorted({flow for _, flow in users})
        label = subject("transforms", self.transform_id, transform.name)
        changes = []
        if new_code != transform.code:
            changes.append(Change(subject=label, field="code (unified diff)",
                                  before=f"{len(old_text.splitlines())} lines",
                                  after=_diff(old_text, self.code)))  # fmt: skip
        if new_type != current_type:
            changes.append(Change(subject=label, field="code_type", before=current_type,
                                  after=new_type))  # fmt: skip
        unread = [n for n in nexset_ids if n not in {nexset for nexset, _ in users}]
        notes = [
            "Runs already started keep the old code; the next run of each nexset uses the new one.",
            "After confirming, watch_flow shows whether the next run succeeds.",
        ]
        if unread:
            notes.append(f"Also used by nexsets {unread} (not read here).")
        change = (f"Replace the code of {label}" + (f" ({current_type} -> {new_type})"
                  if new_type != current_type else "") + "." if changes
                  else f"{label} already has this code; nothing would change.")  # fmt: skip
        undo_code = code_as_text(transform.code, current_type)
        if undo_code is not None and len(undo_code) > MAX_CODE_CHARS:
            undo_code = None
        return Observation(
            state={
                "transform_id": self.transform_id,
                "code_digest": _digest(transform.code),
                "code_type": current_type,
                "nexset_ids": nexset_ids,
                "flow_ids": flows,
            },
            change=change,
            changes=changes,
            scope=FlowScope(flows[0] if flows else None, frozenset(flows)),
            blast_radius=BlastRadius(
                summary=f"{len(nexset_ids)} nexset(s) in {len(flows)} flow(s) run the new code "
                "from their next run.",
                affected=[f"data_sets {nexset} in flow {flow}" for nexset, flow in users],
                notes=notes,
            ),
            reverse=ReverseAction(
                tool=self.tool if undo_code else None,
                arguments={
                    "transform_id": self.transform_id,
                    "code": undo_code,
                    "code_type": current_type,
                }
                if undo_code
                else {},
                note=None
                if undo_code
                else "The current code cannot be shown as text, so no "
                "undo call can carry it: copy it from get_transform first.",
            ),  # fmt: skip
            follow_up=watch_after(flows[0]) if len(flows) == 1 else None,
        )

    async def execute(self, client: NexlaClient) -> None:
        transform = await client.get_transform(self.transform_id)
        code_type = self.code_type or transform.code_type or "python"
        body: dict[str, Any] = {"code": code_of_text(self.code, code_type)}
        if self.code_type is not None:
            body["code_type"] = self.code_type
        await client.update_transform(self.transform_id, body)
