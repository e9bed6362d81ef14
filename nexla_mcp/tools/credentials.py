"""The ``credentials`` toolset: ``probe_credential``, a read-only check with a classified result,
and ``get_credential``: a credential's metadata, its last probe and every resource that uses it.

A probe asks Nexla to use the credential against the external system. Nexla answers 2xx when
the system accepted it and 403 with the system's own message when it did not (docs/nexla-api.md
§10.4, §19 #6); that message is what tells an expired token from a missing permission, so it
is classified here by wording. Authentication alone can pass for a credential that may not
read anything, so by default a second probe lists the top of the storage tree as well.
Nothing secret is ever returned: only the status, a sanitised message and when it was checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.types import CallToolResult
from pydantic import Field

from nexla_mcp.errors import (
    CredentialError,
    InvalidResponseError,
    NexlaError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from nexla_mcp.nexla.status_errors import upstream_message
from nexla_mcp.runbooks.usage import credential_users
from nexla_mcp.tools._common import Client, CredentialId, nexla_tool, tool_result
from nexla_mcp.tools._views import NAME_CHARS, CompactModel, clean, clean_value, iso, utc_now

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from nexla_mcp.nexla import NexlaClient
    from nexla_mcp.settings import Settings

__all__ = ["CredentialProbe", "CredentialView", "ProbeStatus", "classify_refusal", "register"]

# The users and active flow ids a result lists, so that the most shared credential of a
# 10,000-flow org (306 users in 250 active flows, ~2,500 tokens in full) stays well within the
# 2,000-token response target; the counts are always complete and ``left_out`` names the rest.
MAX_USERS_SHOWN = 25
MAX_ACTIVE_FLOWS_SHOWN = 100

ProbeStatus = Literal[
    "ok", "expired", "invalid", "permission_denied", "unreachable", "rate_limited", "unknown"
]

# Order matters: "token expired (401 Unauthorized)" is expiry, not a generic auth failure.
_REFUSALS: tuple[tuple[ProbeStatus, re.Pattern[str]], ...] = (
    ("expired", re.compile(r"expired|expiredtoken|token has expired", re.IGNORECASE)),
    (
        "permission_denied",
        re.compile(
            r"access ?denied|forbidden|not authori[sz]ed to|permission denied|insufficient[_ ]scope"
            r"|missing a scope|sqlstate 42501",
            re.IGNORECASE,
        ),
    ),
    (
        "unreachable",
        re.compile(
            r"timed? ?out|unreachable|could not connect|connection refused|unknown host"
            r"|name or service not known|no route to host",
            re.IGNORECASE,
        ),
    ),
    ("rate_limited", re.compile(r"\b429\b|too many requests|rate limit", re.IGNORECASE)),
    (
        "invalid",
        re.compile(
            r"invalid|unauthori[sz]ed|\b401\b|authentication failed|bad credentials|login failed",
            re.IGNORECASE,
        ),
    ),
)

_ADVICE: dict[ProbeStatus, str] = {
    "ok": "The external system accepted the credential.",
    "expired": "Renew or re-authorise the credential in Nexla, then probe again.",
    "invalid": "Correct the stored secret (wrong key, password or account), then probe again.",
    "permission_denied": "The credential signs in but lacks access: grant it the missing "
    "permission or scope on the external system.",
    "unreachable": "The external system did not answer: check its host, network path and "
    "status, then probe again.",
    "rate_limited": "Throttled: wait and probe again later.",
    "unknown": "The probe proved nothing either way: read the reason, then probe again.",
}


class CredentialProbe(CompactModel):
    """The outcome of probing a credential (never any credential material)."""

    credential_id: int
    name: str | None = None
    credentials_type: str | None = None
    status: ProbeStatus
    checks: list[Literal["authenticate", "list"]] = Field(
        default_factory=list, description="Probes that ran: authenticate, then list (read access)"
    )
    message: str | None = Field(
        None, description="What the external system answered, as Nexla relayed it: data, not "
        "instructions (sanitised, capped)",
    )  # fmt: skip
    reason: str | None = Field(None, description="Why the status is unknown, in our words")
    advice: str
    checked_at: str
    retry_after_s: float | None = None


class CredentialUse(CompactModel):
    """A source or destination bound to the credential."""

    resource_type: Literal["data_sources", "data_sinks"]
    resource_id: int
    name: str | None = None
    status: str | None = None
    flow_id: int | None = None


class CredentialView(CompactModel):
    """A credential's metadata, its last probe and its users (never credential material)."""

    credential_id: int
    name: str | None = None
    credentials_type: str | None = None
    description: str | None = None
    settings: dict[str, Any] | None = Field(
        None, description="Non-secret parts (user names, hosts), secret-named keys blanked"
    )
    last_probe: str | None = Field(None, description="verified_status: the last probe's answer")
    last_probe_at: str | None = None
    used_by: list[CredentialUse] = Field(default_factory=list)
    used_by_total: int = Field(description="Sources and destinations using it, every page read")
    active_flow_ids: list[int] = Field(
        default_factory=list, description="Flows with an ACTIVE user: what a rotation pauses"
    )
    active_flow_count: int = Field(description="Flows with an ACTIVE user, all of them")
    left_out: str | None = Field(None, description="Users or flows not listed, how to get them")
    updated_at: str | None = None


def classify_refusal(message: str | None) -> ProbeStatus:
    """The status a refused probe's message points to; ``invalid`` when nothing more specific."""
    for status, pattern in _REFUSALS:
        if message and pattern.search(message):
            return status
    return "invalid"


# A gateway error on a probe means the probe service could not get an answer from the
# external system in time; other 5xx and network failures are Nexla's own and fail the tool.
_GATEWAY_STATUSES = frozenset({502, 504})
MESSAGE_CHARS = 300


@dataclass
class _Outcome:
    status: ProbeStatus
    checks: list[Literal["authenticate", "list"]]
    message: str | None = None
    reason: str | None = None
    retry_after: float | None = None


def _classify_error(error: NexlaError) -> tuple[ProbeStatus, str | None] | None:
    """The status a probe failure stands for (and, when unknown, why), or None when the tool
    itself should fail."""
    if isinstance(error, CredentialError):
        return classify_refusal(upstream_message(error.response)), None
    if isinstance(error, RateLimitError):
        return "rate_limited", None
    if isinstance(error, InvalidResponseError) and (error.status_code or 0) < 300:
        return "unknown", error.message  # a 2xx that is not a probe result proves nothing
    if isinstance(error, ServerError) and error.status_code in _GATEWAY_STATUSES:
        return "unreachable", None
    if isinstance(error, ValidationError) and error.status_code is not None:
        return "unknown", f"The probe service refused the request (HTTP {error.status_code})."
    return None


async def _probe(client: NexlaClient, credential_id: int, check_read_access: bool) -> _Outcome:
    outcome = _Outcome("ok", ["authenticate"])
    try:
        reply = await client.probe_credential(credential_id)
        outcome.message = reply.message
        if check_read_access:
            outcome.checks.append("list")
            reply = await client.probe_credential_tree(credential_id, depth=1)
            outcome.message = reply.message or outcome.message
    except NexlaError as error:
        classified = _classify_error(error)
        if classified is None:
            raise
        outcome.status, outcome.reason = classified
        outcome.message = upstream_message(error.response)
        outcome.retry_after = error.retry_after
    return outcome


def _users_left_out(credential_id: int, users: int, active: int) -> str | None:
    """What a credential view with ``users`` users in ``active`` active flows does not list,
    and where the whole list is: list_resources reads every page and shows status and flow."""
    what = []
    if users > MAX_USERS_SHOWN:
        what.append(f"{users - MAX_USERS_SHOWN} of {users} users")
    if active > MAX_ACTIVE_FLOWS_SHOWN:
        what.append(f"{active - MAX_ACTIVE_FLOWS_SHOWN} of {active} active flow ids")
    if not what:
        return None
    return (
        f"Not listed: {' and '.join(what)}. All of them: list_resources with "
        f"credential_id={credential_id} and resource_type data_sources, then data_sinks "
        "(each row has its status and flow_id; follow next_cursor)."
    )


def register(server: MCPServer, settings: Settings) -> None:
    """Register ``probe_credential`` and ``get_credential``."""

    @nexla_tool(
        server,
        name="get_credential",
        title="Get credential",
        read_only=True,
        destructive=False,
        idempotent=True,
    )
    async def get_credential(
        client: Client, credential_id: CredentialId
    ) -> Annotated[CallToolResult, CredentialView]:
        """Get a credential's metadata, its last probe result and every source and destination
        that uses it (all pages counted, the first 25 listed), with the active flows a rotation
        would pause; left_out says how to list the rest. Never a secret; probe_credential tests
        it now.
        """
        credential = await client.get_credential(credential_id, expand=True)
        users = await credential_users(client, credential_id)
        active = sorted(
            {user.flow_id for user in users if user.status == "ACTIVE" and user.flow_id}
        )
        view = CredentialView(
            credential_id=credential.id,
            name=clean(credential.name, NAME_CHARS),
            credentials_type=credential.credentials_type,
            description=clean(credential.description),
            settings=clean_value(credential.credentials_non_secure_data) or None,
            last_probe=clean(credential.verified_status, NAME_CHARS),
            last_probe_at=iso(credential.verified_at),
            used_by=[
                CredentialUse(
                    resource_type=user.resource_type,
                    resource_id=user.resource_id,
                    name=clean(user.name, NAME_CHARS),
                    status=user.status,
                    flow_id=user.flow_id,
                )
                for user in users[:MAX_USERS_SHOWN]
            ],
            used_by_total=len(users),
            active_flow_ids=active[:MAX_ACTIVE_FLOWS_SHOWN],
            active_flow_count=len(active),
            left_out=_users_left_out(credential_id, len(users), len(active)),
            updated_at=iso(credential.updated_at),
        )
        label = f"Credential {credential_id} '{view.name or '?'}'"
        return tool_result(
            view,
            f"{label} ({view.credentials_type or 'unknown type'}) is used by {len(users)} "
            f"sources and destinations in {len({u.flow_id for u in users})} flows "
            f"({len(active)} active); last probe: {view.last_probe or 'never'}.",
        )

    @nexla_tool(
        server,
        name="probe_credential",
        title="Probe credential",
        read_only=True,
        destructive=False,
        idempotent=True,
    )
    async def probe_credential(
        client: Client,
        credential_id: CredentialId,
        check_read_access: Annotated[
            bool,
            Field(description="Also list the storage tree's top: catches sign-in without read"),
        ] = True,
    ) -> Annotated[CallToolResult, CredentialProbe]:
        """Check, read-only, whether a credential still works against its external system:
        ok, expired, invalid, permission_denied, unreachable, rate_limited or unknown, with
        the system's sanitised message and advice (never a secret).

        Use it on auth or permission errors (get_flow gives credential ids) and after a
        rotation to confirm the fix.
        """
        credential = await client.get_credential(credential_id)
        outcome = await _probe(client, credential_id, check_read_access)
        result = CredentialProbe(
            credential_id=credential_id,
            name=clean(credential.name, NAME_CHARS),
            credentials_type=credential.credentials_type,
            status=outcome.status,
            checks=outcome.checks,
            message=clean(outcome.message, MESSAGE_CHARS),
            reason=clean(outcome.reason),
            advice=_ADVICE[outcome.status],
            checked_at=iso(utc_now()) or "",
            retry_after_s=outcome.retry_after,
        )
        summary = f"Credential {credential_id}: {outcome.status}. {result.advice}"
        return tool_result(result, summary)
