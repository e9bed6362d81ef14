"""What a drill leaves broken while its timeline is written, and the audited fixes.

A failing stretch breaks what its incident breaks in real Nexla (a credential, a transform, a
schema) just before its first run. The state stays broken into later stretches until runs show
it fixed: then the fix is audited (credential updated, transform and schema reverted), just
before the first good run. ``heal`` applies the same fixes now (``POST /_sandbox/drills/heal``).
"""

from __future__ import annotations

from typing import Any

from nexla_mcp.sandbox import builder, history
from nexla_mcp.sandbox.causes import (
    break_transform,
    change_schema,
    domain_field,
    first_sink,
    own_credential,
    users_of,
)
from nexla_mcp.sandbox.incidents import just_before
from nexla_mcp.sandbox.model import DATA_SETS, SINKS, CodeContainer, Credential, Flow
from nexla_mcp.sandbox.profiles import incident_data_set
from nexla_mcp.sandbox.store import DANA, Store

__all__ = [
    "CREDENTIAL_KINDS",
    "STATEFUL",
    "STEADY",
    "Breakage",
    "heal",
    "own_sink_credential",
    "revert_transform",
]

MINUTE_MS = 60 * 1000
# Kinds that leave broken state behind (and so get an audited fix when runs recover).
CREDENTIAL_KINDS = {"credential_expired": "expired", "permission_denied": "forbidden"}
STATEFUL = {*CREDENTIAL_KINDS, "transform_error", "schema_mismatch"}
STEADY = ("healthy", "empty")
# Stretches whose records never reach the nexsets: a transform broken before stays broken.
HIDE_NEXSETS = {*CREDENTIAL_KINDS, "generic_failure", "empty"}


def own_sink_credential(store: Store, flow: Flow, at_ms: int) -> Credential | None:
    """The first destination's credential, copied first if anything else uses it."""
    sink = first_sink(store, flow)
    credential = store.credentials.get(sink.credential_id or -1) if sink else None
    if sink is None or credential is None:
        return None
    if users_of(store, credential.id) <= {flow.id} and not any(
        source.credential_id == credential.id for source in store.sources.values()
    ):
        return credential
    clone = builder.add_credential(
        store, f"{sink.name}-credential", credential.credentials_type,
        dict(credential.non_secure), at_ms, secrets=dict(credential.secrets),
    )  # fmt: skip
    store.audit_event(SINKS, sink.id, "update", {"data_credentials_id": [sink.credential_id,
                      clone.id]}, DANA.id, at_ms)  # fmt: skip
    sink.credential_id = clone.id
    return clone


class Breakage:
    """What is broken right now while the timeline is written, and how to fix it."""

    def __init__(self, store: Store, flow: Flow) -> None:
        self.store, self.flow = store, flow
        self.broken: dict[str, Any] = {}

    def breaks(self, kind: str, onset: int, lead_min: int | None) -> None:
        store, flow = self.store, self.flow
        if kind not in STEADY:
            # Runs that get past the source (or through the nexsets) again mean whatever broke
            # the credential (or the transform and schema) was fixed just before.
            fixed = set() if kind in CREDENTIAL_KINDS else set(CREDENTIAL_KINDS)
            if kind not in HIDE_NEXSETS:
                fixed |= {"transform_error", "schema_mismatch"} - {kind}
            self.fix_all(just_before(flow, onset, 9), fixed)
        if kind in self.broken or kind not in STATEFUL:
            return

        def moment(minutes: int) -> int:
            if lead_min is not None:
                return onset - lead_min * MINUTE_MS
            return just_before(flow, onset, minutes)

        if kind in CREDENTIAL_KINDS:
            credential = own_credential(store, flow, moment(11))
            credential.health = CREDENTIAL_KINDS[kind]
            self.broken[kind] = credential
            return
        target = incident_data_set(store, flow)
        if target is None:
            return
        at = moment(17 if kind == "transform_error" else 25)
        if kind == "transform_error":
            self.broken[kind] = break_transform(store, flow, target, at)
        else:
            self.broken[kind] = change_schema(store, flow, target, at)
        flow.profile = kind

    def fix_all(self, at_ms: int, only: Any = None) -> None:
        """The audited fixes of everything broken (or of the kinds in `only`), at `at_ms`."""
        store = self.store
        for kind, what in list(self.broken.items()):
            if only is not None and kind not in only:
                continue
            del self.broken[kind]
            if kind in CREDENTIAL_KINDS:
                credential: Credential = what
                credential.health, credential.verified_status = "valid", "200 Ok"
                credential.verified_ms = credential.updated_ms = at_ms
                store.audit_event(
                    "data_credentials",
                    credential.id,
                    "update",
                    {"credentials": ["[FILTERED]", "[FILTERED]"]},
                    DANA.id,
                    at_ms,
                )
            elif kind == "transform_error":
                revert_transform(store, what, at_ms)
            else:
                detected = what
                field = domain_field(self.flow)
                schema = detected.output_schema
                fixed = {**schema, "properties": {**schema.get("properties", {}),
                                                  field: {"type": "number"}}}  # fmt: skip
                store.audit_event(
                    DATA_SETS,
                    detected.id,
                    "update",
                    {"output_schema": [schema, fixed]},
                    DANA.id,
                    at_ms,
                )
                detected.output_schema = fixed
        self.broken.clear()
        self.flow.profile = "healthy"
        store.touch()


def revert_transform(store: Store, container: CodeContainer, at_ms: int) -> None:
    """Put back the code the transform had before its latest audited edit."""
    edits = [e for e in store.audit.get(("code_containers", container.id), [])
             if "code" in e.object_changes]  # fmt: skip
    if not edits:
        return
    previous = edits[-1].object_changes
    store.audit_event(
        "code_containers",
        container.id,
        "update",
        {"code": [container.code, previous["code"][0]]},
        DANA.id,
        at_ms,
    )
    container.code = previous["code"][0]
    if "code_type" in previous:
        container.code_type = previous["code_type"][0]
    container.version, container.updated_ms = container.version + 1, at_ms


def heal(store: Store, flow: Flow, now_ms: int) -> None:
    """Fix whatever the flow's incident broke, now: runs after now succeed."""
    state = Breakage(store, flow)
    credential = store.credentials.get(store.source_of(flow).credential_id or -1)
    if credential is not None and credential.health != "valid":
        state.broken["credential_expired"] = credential
    target = incident_data_set(store, flow)
    container = store.code_containers.get(target.code_container_id or -1) if target else None
    if flow.profile == "transform_error" and container is not None:
        state.broken["transform_error"] = container
    if flow.profile == "schema_mismatch" and target is not None:
        detected = store.data_sets[store.nodes[store.nodes[flow.id].children[0]].resource_id]
        state.broken["schema_mismatch"] = detected
    state.fix_all(now_ms)
    history.switch_profile(flow, now_ms, "healthy")
