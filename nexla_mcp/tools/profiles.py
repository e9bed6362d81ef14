"""Which tools a server lists: one catalog entry per tool, and the profiles built from it.

Every tool a toolset module registers has one line in ``CATALOG``: its toolset, the smallest
profile that lists it, and whether it writes. Add a new tool here when you add it to a
toolset module (``tests/tools/test_profiles.py`` fails until you do). Profiles nest:

- ``default``: the troubleshooting path end to end, kept under 2,500 model-visible tokens.
  Find what is broken (``list_flows``, ``org_health``), why and since when (``get_flow``,
  ``diagnose_flow``, ``get_flow_logs``, ``get_run_metrics``, ``probe_credential``), what
  changed (``compare_runs``; ``diagnose_flow`` reads the audit log), and verify
  (``check_flow_health``). These are the tools the ``troubleshoot_flow`` prompt calls to
  diagnose, confirm and verify, every read tool ``diagnose_flow``'s ``next_actions`` names,
  and every tool ``nexla-mcp demo`` calls (the test derives this from those sources).
- ``operator``: adds the tools that fix things (pause, activate, rename, the journaled
  credential rotation and schema migration, deleting the rotated-out credential) and the
  reads the fix prompts (``rotate_credential``, ``migrate_schema``, ``sla_report``) call.
- ``all``: every tool, including flow deletion and access management.

This module imports nothing from ``mcp``: settings validation and ``--help`` read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    from nexla_mcp.settings import Settings

__all__ = [
    "CATALOG",
    "DISCOVERY_TOOL",
    "PROFILE_NAMES",
    "PROFILE_SUMMARIES",
    "ProfileName",
    "ToolEntry",
    "available_tools",
    "enabled_tools",
    "how_to_get_more",
    "tools_of",
]

ProfileName = Literal["default", "operator", "all"]
PROFILE_NAMES: tuple[ProfileName, ...] = ("default", "operator", "all")
PROFILE_SUMMARIES: dict[ProfileName, str] = {
    "default": "troubleshooting: find what is broken, why, since when and what changed",
    "operator": "default plus the tools that fix flows (pause, activate, rename, rotate a "
    "credential, migrate a schema) and the reads the fix prompts use",
    "all": "every tool, flow deletion and access management included",
}


DISCOVERY_TOOL = "enable_toolset"
"""The one extra tool of dynamic discovery (``tools/discovery.py``); in no profile."""


class ToolEntry(NamedTuple):
    """Where a tool belongs: its toolset, the smallest profile listing it, whether it writes."""

    toolset: str
    profile: ProfileName
    writes: bool = False


CATALOG: dict[str, ToolEntry] = {
    # flows
    "list_flows": ToolEntry("flows", "default"),
    "get_flow": ToolEntry("flows", "default"),
    # resources
    "get_resource": ToolEntry("resources", "default"),
    "list_resources": ToolEntry("resources", "operator"),
    "get_nexset_samples": ToolEntry("resources", "operator"),
    "list_credentials": ToolEntry("resources", "operator"),
    "get_transform": ToolEntry("resources", "operator"),
    # metrics
    "get_run_metrics": ToolEntry("metrics", "default"),
    "get_daily_metrics": ToolEntry("metrics", "operator"),
    # logs
    "get_flow_logs": ToolEntry("logs", "default"),
    # credentials
    "probe_credential": ToolEntry("credentials", "default"),
    "get_credential": ToolEntry("credentials", "operator"),
    # runbooks
    "watch_flow": ToolEntry("runbooks", "default"),
    "diagnose_flow": ToolEntry("runbooks", "default"),
    "check_flow_health": ToolEntry("runbooks", "default"),
    "compare_runs": ToolEntry("runbooks", "default"),
    "org_health": ToolEntry("runbooks", "default"),
    "track_sla": ToolEntry("runbooks", "operator"),
    # context
    "get_server_context": ToolEntry("context", "default"),
    # control
    "pause_flow": ToolEntry("control", "operator", writes=True),
    "activate_flow": ToolEntry("control", "operator", writes=True),
    "update_resource": ToolEntry("control", "operator", writes=True),
    "update_transform": ToolEntry("control", "operator", writes=True),
    "delete_flow": ToolEntry("control", "all", writes=True),
    # workflows
    "rotate_credential": ToolEntry("workflows", "operator", writes=True),
    "migrate_schema": ToolEntry("workflows", "operator", writes=True),
    "finish_migration": ToolEntry("workflows", "operator", writes=True),
    "get_operation": ToolEntry("workflows", "operator"),
    "resume_operation": ToolEntry("workflows", "operator", writes=True),
    "delete_credential": ToolEntry("workflows", "operator", writes=True),
    # access
    "list_accessors": ToolEntry("access", "operator"),
    "grant_access": ToolEntry("access", "all", writes=True),
    "revoke_access": ToolEntry("access", "all", writes=True),
    "replace_accessors": ToolEntry("access", "all", writes=True),
}


def tools_of(profile: ProfileName) -> tuple[str, ...]:
    """The tools ``profile`` lists, in catalog order (before toolsets and write policy)."""
    rank = PROFILE_NAMES.index(profile)
    return tuple(n for n, e in CATALOG.items() if PROFILE_NAMES.index(e.profile) <= rank)


def _select(settings: Settings, profile: ProfileName) -> tuple[str, ...]:
    writes = settings.write_policy != "off"
    base = set(tools_of(profile)) & {
        n for n, e in CATALOG.items() if e.toolset in settings.toolsets
    }
    chosen = (base | set(settings.tools)) - set(settings.exclude_tools)
    return tuple(n for n, e in CATALOG.items() if n in chosen and (writes or not e.writes))


def enabled_tools(settings: Settings) -> tuple[str, ...]:
    """The tools the server lists at start: the profile's tools within the enabled toolsets,
    plus ``--tools``, minus ``--exclude-tools``; no write tool when writes are off."""
    return _select(settings, settings.profile or "default")


def available_tools(settings: Settings) -> tuple[str, ...]:
    """Every tool these settings could list: any profile, the same toolsets, exclusions and
    write policy. The difference with ``enabled_tools`` is what discovery can add."""
    return _select(settings, "all")


def how_to_get_more(settings: Settings, listed: Iterable[str]) -> str:
    """One sentence: which allowed tools are not ``listed`` and how to list them ('' if none)."""
    shown = set(listed)
    more = [name for name in available_tools(settings) if name not in shown]
    if not more:
        return ""
    if settings.dynamic_toolsets:
        return f"{len(more)} more tools: call {DISCOVERY_TOOL} to list a toolset's tools."
    return (
        f"Not listed in profile {settings.profile}: {', '.join(more)}; the user can restart the "
        "server with --profile operator or all, or add one with --tools."
    )
