"""The next steps a diagnosis recommends: complete tool calls and prompts, with arguments.

Each category maps to a short ordered list: confirm the cause, fix it (through a prompt that
walks the safe procedure, or a write tool whose first call only returns a plan), and the read
that shows more. Arguments use the server's one vocabulary (``flow_id``, ``resource_type`` +
``resource_id``, ``credential_id``, ``run_id``). Write tools appear only as plans: calling them
without ``confirm`` changes nothing. The tool layer drops any step whose tool is not
registered on the running server (e.g. write tools in read-only mode).
"""

from __future__ import annotations

from nexla_mcp.runbooks.evidence import FlowEvidence
from nexla_mcp.runbooks.flowmap import ResourceKey
from nexla_mcp.runbooks.report import Category, NextAction, prompt_action, tool_action

__all__ = ["FIXES", "next_actions"]

# What fixes each category (the reference troubleshooting table), in one sentence.
FIXES: dict[Category, str] = {
    "credential_expired": "rotate the credential (rotate_credential prompt), then verify the "
    "next run",
    "permission_denied": "grant the credential's principal access to what the flow reads or "
    "writes, then verify the next run",
    "transform_error": "test the transform on sample records, fix and update it, then verify "
    "the next run",
    "schema_mismatch": "migrate the schema through a child nexset (migrate_schema prompt)",
    "rate_limited": "lower the request rate or run less often, and let retries back off",
    "network_timeout": "check connectivity to the upstream host and consider a longer timeout",
    "resource_conflict": "make writes idempotent (upsert on the key) or remove the duplicates "
    "at the destination",
    "flow_not_running": "activate the flow if the stop was not deliberate, then verify its "
    "next run",
    "high_error_rate": "inspect the rejected records and validate the inputs",
    "stale_data": "check the source's schedule and whether the upstream system still "
    "delivers new data",
    "healthy": "nothing to fix",
    "unknown": "read the failing run's logs to find the cause",
}


def _resource_args(key: ResourceKey) -> dict[str, int | str]:
    return {"resource_type": key[0], "resource_id": key[1]}


def next_actions(
    category: Category, evidence: FlowEvidence, *, failing_before_stop: bool = False
) -> list[NextAction]:
    """The recommended calls for ``category`` on this flow, most useful first."""
    flow = evidence.flow
    flow_id = flow.flow_id
    history = evidence.history
    failed, _ = history.focus() if history else (None, None)
    run_args = {"run_id": failed.run_id} if failed else {}
    logs = tool_action("get_flow_logs", "read the failing run's clustered error lines",
                       flow_id=flow_id, **run_args)  # fmt: skip
    erroring = history.erroring_resources(failed.run_id) if history and failed else []
    anchor = flow.anchor
    refused = [probe.credential_id for probe in evidence.probes if not probe.ok]
    credentials = list(flow.credential_users())
    credential = refused[0] if refused else (credentials[0] if credentials else None)
    pause = tool_action("pause_flow", "plan a pause so runs stop failing until the fix is in "
                        "(the plan changes nothing)", flow_id=flow_id)  # fmt: skip
    actions: list[NextAction] = []

    if category == "credential_expired" and credential is not None:
        actions += [
            tool_action("probe_credential", "confirm the credential is refused",
                        credential_id=credential),
            prompt_action("rotate_credential", "replace the credential safely",
                          credential_id=credential),
            pause,
        ]  # fmt: skip
    elif category == "permission_denied":
        actions.append(logs)
        if credential is not None:
            actions.append(tool_action("probe_credential", "check what the credential may read",
                                       credential_id=credential))  # fmt: skip
    elif category in ("transform_error", "schema_mismatch"):
        nexset = next((key for key in erroring if key[0] == "data_sets"), None)
        if category == "schema_mismatch" and nexset is not None:
            actions.append(prompt_action("migrate_schema", "move to the new schema through a "
                                         "child nexset", nexset_id=nexset[1]))  # fmt: skip
        actions.append(logs)
        if nexset is not None:
            actions.append(tool_action("get_resource", "see the nexset's transform and schema",
                                       **_resource_args(nexset)))  # fmt: skip
        actions.append(pause)
    elif category in ("rate_limited", "network_timeout", "resource_conflict", "high_error_rate"):
        actions.append(logs)
        target = erroring[0] if erroring else anchor
        if target is not None:
            actions.append(tool_action("get_run_metrics", "see how often runs are affected",
                                       **_resource_args(target)))  # fmt: skip
        if category == "network_timeout" and credential is not None:
            actions.append(tool_action("probe_credential", "check the host is reachable",
                                       credential_id=credential))  # fmt: skip
    elif category == "flow_not_running":
        if failing_before_stop:
            actions.append(logs)
        actions.append(tool_action("activate_flow", "plan an activation (the plan changes "
                                   "nothing until confirmed)", flow_id=flow_id))  # fmt: skip
    elif category == "stale_data" and anchor is not None:
        actions.append(tool_action("get_run_metrics", "see when runs stopped bringing data",
                                   **_resource_args(anchor)))  # fmt: skip
        if credential is not None:
            actions.append(tool_action("probe_credential", "check the source can still connect",
                                       credential_id=credential))  # fmt: skip
    elif category == "unknown":
        actions.append(logs)
        actions.append(prompt_action("troubleshoot_flow", "walk the full runbook",
                                     flow_id=flow_id))  # fmt: skip
    return actions
