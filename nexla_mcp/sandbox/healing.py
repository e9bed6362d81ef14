"""An incident heals only when the change that would fix it in real Nexla is made.

The write routes call in here after they change a source, a nexset or a transform. Each kind
has one fix (any other change leaves the flow failing):

- ``credential_expired`` / ``permission_denied``: the source is repointed to a credential
  that works, or the credential gets new secrets (``lifecycle.run_profile`` reads credential
  health, so these need nothing here).
- ``transform_error``: the failing nexset's transform is reverted to the code it had before
  the edit that broke it, or corrected so that it reads only fields the records carry.
- ``schema_mismatch``: the failing nexset's transform converts the field whose type changed
  back to a number (assigns ``r['<field>']`` from ``float(...)``, ``int(...)`` or
  ``Decimal(...)``).
- ``rate_limited``: the source polls at most half as often as when throttling began.
- ``network_timeout``: the source's ``source_config.timeout_ms`` is at least 60000 (twice
  the 30 s the reads time out at).

Transform code is never run: Python is parsed (``ast``) and its record reads checked against
the fields the nexset's input records have.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from nexla_mcp.sandbox import history
from nexla_mcp.sandbox.model import CodeContainer, Flow, Segment, Source
from nexla_mcp.sandbox.profiles import incident_data_set
from nexla_mcp.sandbox.samples import derive, domain, records
from nexla_mcp.sandbox.store import Store

__all__ = [
    "HEALTHY_TIMEOUT_MS",
    "after_source_change",
    "after_transform_change",
    "interval_of_schedule",
    "set_interval",
]

HEALTHY_TIMEOUT_MS = 60_000
_THROTTLE_FACTOR = 2
_SCHEDULE = re.compile(r"^\s*every\s+(\d{1,5})\s+(minute|minutes|hour|hours)\s*$", re.IGNORECASE)
_NUMBER_CASTS = frozenset({"float", "int", "Decimal", "to_number", "parse_number"})
_MINUTE_MS = 60_000


def interval_of_schedule(schedule: str) -> int | None:
    """The polling interval of a schedule written as Nexla shows it ("every 60 minutes")."""
    match = _SCHEDULE.match(schedule)
    if match is None or int(match.group(1)) == 0:
        return None
    unit = _MINUTE_MS * (60 if match.group(2).lower().startswith("hour") else 1)
    return int(match.group(1)) * unit


def _heal(flow: Flow, now_ms: int) -> None:
    flow.profile = "healthy"
    flow.updated_ms = now_ms
    for segment in flow.segments:
        if segment.end_ms is None and segment.start_ms > now_ms:
            segment.profile = "healthy"  # a schedule just restarted: its first run is healthy
            return
    history.switch_profile(flow, now_ms, "healthy")


def _onset_interval(flow: Flow, profile: str) -> int | None:
    """The polling interval when ``profile`` began (its first segment)."""
    for segment in flow.segments:
        if segment.profile == profile:
            return segment.interval_ms
    return None


def after_source_change(store: Store, source: Source, now_ms: int) -> None:
    """Heal the source's flow if this change fixed its throttling or its timeouts."""
    flow = store.flow_of_node(source.node_id)
    if flow.profile == "rate_limited":
        throttled_at = _onset_interval(flow, "rate_limited") or flow.interval_ms
        if flow.interval_ms >= _THROTTLE_FACTOR * throttled_at:
            _heal(flow, now_ms)
    elif flow.profile == "network_timeout":
        timeout = source.config.get("timeout_ms")
        if isinstance(timeout, int) and timeout >= HEALTHY_TIMEOUT_MS:
            _heal(flow, now_ms)


def set_interval(flow: Flow, interval_ms: int, now_ms: int) -> None:
    """Poll every ``interval_ms`` from now on, the next run one new interval after the last."""
    if interval_ms == flow.interval_ms:
        return
    flow.interval_ms = interval_ms
    open_segments = [segment for segment in flow.segments if segment.end_ms is None]
    if not open_segments:
        return
    profile = open_segments[-1].profile
    history.stop_schedule(flow, now_ms)
    last = history.last_run(flow, now_ms)
    start = max(now_ms + 1, (last.run_id if last else now_ms) + interval_ms)
    flow.segments.append(Segment(start, None, interval_ms, profile))


def after_transform_change(store: Store, container: CodeContainer, now_ms: int) -> None:
    """Heal flows whose failing nexset uses ``container`` if its new code fixes them."""
    for flow in store.flows.values():
        if flow.profile not in ("transform_error", "schema_mismatch"):
            continue
        target = incident_data_set(store, flow)
        if target is None or target.code_container_id != container.id:
            continue
        if flow.profile == "transform_error" and _fixes_transform_error(store, flow, container):
            _heal(flow, now_ms)
        elif flow.profile == "schema_mismatch" and _converts_to_number(
            container.code, domain(flow.domain).numeric_field
        ):
            _heal(flow, now_ms)


def _fixes_transform_error(store: Store, flow: Flow, container: CodeContainer) -> bool:
    if container.code == _code_before_break(store, flow, container):
        return True
    script = _script(container.code)
    if script is None:
        # Not Python (Jolt and friends): a mapping cannot raise KeyError the way the break did.
        return container.code_type != "python"
    tree = _parse(script)
    if tree is None:
        return False
    sample = records(flow.domain, flow.seed, 1)[0]
    fields = set(sample) | set(derive(sample))
    reads, writes = _record_access(tree)
    return reads <= fields | writes


def _code_before_break(store: Store, flow: Flow, container: CodeContainer) -> Any:
    """The code before the last audited edit of the transform ahead of the first failing run
    (the edit that broke it); None when no such edit was audited."""
    onset = next(
        (segment.start_ms for segment in flow.segments if segment.profile == flow.profile), None
    )
    before = None
    for entry in store.audit.get(("code_containers", container.id), []):
        if "code" in entry.object_changes and (onset is None or entry.created_ms <= onset):
            before = entry.object_changes["code"][0]
    return before


def _script(code: Any) -> str | None:
    """The Python source of a ``nexla.custom`` transform, or None for anything else."""
    if not isinstance(code, list):
        return None
    scripts = [
        op["spec"].get("script")
        for op in code
        if isinstance(op, dict)
        and isinstance(op.get("spec"), dict)
        and op["spec"].get("language") == "python"
    ]
    if not scripts or not all(isinstance(script, str) for script in scripts):
        return None
    return "\n\n".join(scripts)


def _parse(script: str) -> ast.Module | None:
    try:
        return ast.parse(script)
    except (SyntaxError, ValueError):
        return None


def _record_name(tree: ast.Module) -> str:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.args.args:
            return node.args.args[0].arg
    return "r"


def _record_access(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Field names read with ``r['x']`` and field names assigned with ``r['x'] = ...``."""
    name = _record_name(tree)
    reads: set[str] = set()
    writes: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == name
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            (writes if isinstance(node.ctx, ast.Store) else reads).add(node.slice.value)
    return reads, writes


def _converts_to_number(code: Any, field: str) -> bool:
    script = _script(code)
    tree = _parse(script) if script is not None else None
    if tree is None:
        return False
    name = _record_name(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        assigns_field = any(
            isinstance(target, ast.Subscript)
            and isinstance(target.value, ast.Name)
            and target.value.id == name
            and isinstance(target.slice, ast.Constant)
            and target.slice.value == field
            for target in node.targets
        )
        if assigns_field and _is_number_cast(node.value):
            return True
    return False


def _is_number_cast(value: ast.expr) -> bool:
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    return called in _NUMBER_CASTS
