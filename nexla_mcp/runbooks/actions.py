"""The next steps a diagnosis recommends: complete tool calls and prompts, with arguments.

Safe by construction, in the order a careful engineer works: confirm the cause, fix it
(through a prompt that walks the safe procedure, or a read that shows what to fix), then
activate, then watch. A flow whose cause is still there is never offered ``activate_flow``;
a flow whose latest run still delivered records is never offered ``pause_flow``. Each step
names the resource it concerns in its arguments. Arguments use the server's one vocabulary
(``flow_id``, ``resource_type`` + ``resource_id``, ``credential_id``, ``run_id``). Write tools
appear only as plans: calling them without ``confirm`` changes nothing. The tool layer drops
any step whose tool is not registered on the running server (e.g. write tools in read-only
mode).
"""

from __future__ import annotations

from nexla_mcp.runbooks.classify import Cause, Verdict
from nexla_mcp.runbooks.evidence import FlowEvidence
from nexla_mcp.runbooks.flowmap import ResourceKey
from nexla_mcp.runbooks.report import Category, NextAction, prompt_action, tool_action

__all__ = ["next_actions"]

MAX_ACTIONS = 5


def _resource_args(key: ResourceKey) -> dict[str, int | str]:
    return {"resource_type": key[0], "resource_id": key[1]}


def _delivering(verdict: Verdict) -> bool:
    """The latest run still got records through (it succeeded or was partial, not failed):
    pausing would stop data that is delivered."""
    facts = verdict.facts
    latest = facts.streak.latest if facts is not None else None
    return latest is not None and latest.status != "failed" and latest.records > 0


class _Planner:
    def __init__(self, evidence: FlowEvidence, verdict: Verdict) -> None:
        self.evidence, self.verdict = evidence, verdict
        self.flow = evidence.flow
        history = evidence.history
        self.failed, _ = history.focus() if history else (None, None)
        self.erroring = (
            history.erroring_resources(self.failed.run_id) if history and self.failed else []
        )
        self.refused = [probe.credential_id for probe in evidence.probes if not probe.ok]
        self.credentials = list(self.flow.credential_users())

    def logs(self) -> NextAction:
        run_args = {"run_id": self.failed.run_id} if self.failed else {}
        return tool_action("get_flow_logs", "read the failing run's clustered error lines",
                           flow_id=self.flow.flow_id, **run_args)  # fmt: skip

    def credential_for(self, cause: Cause | None) -> int | None:
        users = self.flow.credential_users()
        if cause is not None and cause.resource is not None:
            for credential_id in self.refused:
                if cause.resource in users.get(credential_id, []):
                    return credential_id
        if self.refused:
            return self.refused[0]
        return self.credentials[0] if self.credentials else None

    def nexset(self, cause: Cause | None) -> ResourceKey | None:
        if cause is not None and cause.resource and cause.resource[0] == "data_sets":
            return cause.resource
        return next((key for key in self.erroring if key[0] == "data_sets"), None)

    def watch(self, why: str) -> NextAction | None:
        anchor = self.flow.anchor
        return tool_action("get_run_metrics", why, **_resource_args(anchor)) if anchor else None

    def fix(self, category: Category, cause: Cause | None) -> list[NextAction]:
        """Confirm and fix one cause."""
        actions: list[NextAction] = []
        if category in ("credential_expired", "permission_denied"):
            credential = self.credential_for(cause)
            if credential is None:
                return [self.logs()]
            used = self.flow.credential_users().get(credential, [])
            owner = f" ({self.flow.label(used[0])})" if used else ""
            if category == "credential_expired":
                actions += [
                    tool_action("probe_credential", f"confirm the credential{owner} is refused",
                                credential_id=credential),
                    prompt_action("rotate_credential", f"replace the credential{owner} safely",
                                  credential_id=credential),
                ]  # fmt: skip
            else:
                actions += [self.logs(), tool_action(
                    "probe_credential", f"check what the credential{owner} may read",
                    credential_id=credential)]  # fmt: skip
        elif category in ("transform_error", "schema_mismatch"):
            nexset = self.nexset(cause)
            if category == "schema_mismatch" and nexset is not None:
                actions.append(prompt_action("migrate_schema", "move to the new schema through "
                                             "a child nexset", nexset_id=nexset[1]))  # fmt: skip
            actions.append(self.logs())
            if nexset is not None:
                actions.append(tool_action("get_resource", f"see the transform and schema of "
                                           f"{self.flow.label(nexset)}",
                                           **_resource_args(nexset)))  # fmt: skip
        elif category in ("rate_limited", "network_timeout", "resource_conflict",
                          "high_error_rate", "unknown"):  # fmt: skip
            actions.append(self.logs())
            target = (cause.resource if cause and cause.resource else None) or (
                self.erroring[0] if self.erroring else self.flow.anchor
            )
            if target is not None:
                actions.append(tool_action("get_run_metrics", f"see how often runs of "
                                           f"{self.flow.label(target)} are affected",
                                           **_resource_args(target)))  # fmt: skip
            credential = self.credentials[0] if self.credentials else None
            if category == "network_timeout" and credential is not None:
                actions.append(tool_action("probe_credential", "check the host is reachable",
                                           credential_id=credential))  # fmt: skip
            if category == "unknown":
                actions.append(prompt_action("troubleshoot_flow", "walk the full runbook",
                                             flow_id=self.flow.flow_id))  # fmt: skip
        return actions

    def pause(self) -> NextAction:
        return tool_action("pause_flow", "plan a pause so runs stop failing until the fix is "
                           "in (the plan changes nothing)", flow_id=self.flow.flow_id)  # fmt: skip

    def activate(self) -> NextAction:
        why = (
            "plan an activation once the cause is fixed (the plan changes nothing until confirmed)"
        )
        return tool_action("activate_flow", why, flow_id=self.flow.flow_id)


def next_actions(verdict: Verdict, evidence: FlowEvidence) -> list[NextAction]:
    """The recommended calls for the verdict on this flow, most useful first."""
    plan = _Planner(evidence, verdict)
    category, cause = verdict.category, verdict.primary
    actions: list[NextAction] = []
    lasting = [c for c in (cause, *verdict.others) if c is not None and c.persists]
    if category == "flow_not_running":
        if lasting:
            for still in lasting:  # fix first; activation waits until nothing persists
                actions += [a for a in plan.fix(still.category, still) if a not in actions]
        else:
            if verdict.facts is not None and verdict.facts.failing:
                actions.append(plan.logs())
            actions.append(plan.activate())
            watch = plan.watch("watch the runs after activation")
            if watch is not None:
                actions.append(watch)
    elif category == "stale_data":
        anchor = evidence.flow.anchor
        if anchor is not None:
            actions.append(tool_action("get_run_metrics", "see when runs stopped bringing data",
                                       **_resource_args(anchor)))  # fmt: skip
        if plan.credentials:
            actions.append(tool_action("probe_credential", "check the source can still connect",
                                       credential_id=plan.credentials[0]))  # fmt: skip
    elif category == "healthy":
        if verdict.recovery is not None:
            watch = plan.watch("watch the next runs to confirm the recovery holds")
            if watch is not None:
                actions.append(watch)
    else:
        actions += plan.fix(category, cause)
        lasting = category in ("credential_expired", "transform_error", "schema_mismatch")
        if (
            lasting
            and verdict.facts is not None
            and verdict.facts.latest_failing
            and (not _delivering(verdict))
        ):
            actions.append(plan.pause())
    for other in verdict.others:
        if other.persists and category != "flow_not_running":
            actions += [a for a in plan.fix(other.category, other) if a not in actions]
    probed = {a.arguments.get("credential_id") for a in actions if a.tool == "probe_credential"}
    users = evidence.flow.credential_users()
    for credential in plan.refused:  # a refused credential the verdict is not about
        if credential not in probed:
            used = users.get(credential, [])
            owner = f" of {evidence.flow.label(used[0])}" if used else ""
            why = f"the credential{owner} fails its probe too; confirm it"
            actions.append(tool_action("probe_credential", why, credential_id=credential))
    return actions[:MAX_ACTIONS]
