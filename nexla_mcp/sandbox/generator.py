"""A large generated org for scale work: mostly healthy flows with a sprinkling of incidents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nexla_mcp.sandbox import builder
from nexla_mcp.sandbox.incidents import EXPECTED_CATEGORY, INCIDENT_KINDS, apply_incident
from nexla_mcp.sandbox.model import CodeContainer, Credential, Flow, Team
from nexla_mcp.sandbox.store import Store

DAY_MS = builder.DAY_MS
MINUTE_MS = 60 * 1000
# (source type, business domain) pairs and the destinations they feed.
_SOURCES = (
    ("s3", "orders"),
    ("postgres", "customers"),
    ("rest", "contacts"),
    ("kafka", "events"),
    ("gcs", "payments"),
    ("mysql", "inventory"),
    ("ftp", "ledger"),
    ("s3", "rates"),
)
_SINKS = ("snowflake", "bigquery", "redshift", "postgres", "s3")
_INTERVALS_MIN = (15, 30, 60, 60, 60, 120, 240, 360)
INCIDENT_EVERY = 50  # one flow in this many carries an incident
FLOWS_PER_TEAM = 50  # a team per this many flows: a big org has long access lists to grant
FIRST_TEAM_ID = 1001
PAUSED_EVERY = 200


def _source_config(source_type: str, domain: str, index: int) -> dict[str, Any]:
    if source_type in ("s3", "gcs", "ftp"):
        return {"path": f"acme-{domain}-feeds/{index:05d}/", "file_format": "json"}
    if source_type in ("postgres", "mysql"):
        return {
            "host": f"{source_type}-{index % 7}.prod.internal",
            "database": domain,
            "schema": "public",
            "table": f"{domain}_{index:05d}",
        }
    if source_type == "kafka":
        return {"topic": f"{domain}.events.{index:05d}"}
    return {
        "url": f"https://api.partner-{index % 13}.example/v1/{domain}?feed={index}",
        "method": "GET",
    }


def _sink_config(sink_type: str, domain: str, index: int) -> tuple[dict[str, Any], str | None]:
    if sink_type == "s3":
        return {"path": f"acme-lake/{domain}/{index:05d}/", "file_format": "parquet"}, "parquet"
    return {
        "database": "ANALYTICS",
        "schema": domain.upper(),
        "table": f"{domain.upper()}_{index:05d}",
    }, None


def _kind(index: int) -> str:
    if index % INCIDENT_EVERY == 7:
        return INCIDENT_KINDS[(index // INCIDENT_EVERY) % len(INCIDENT_KINDS)]
    if index % PAUSED_EVERY == 13:
        return "paused"
    return "healthy"


def generate(store: Store, count: int) -> None:
    """Append `count` flows to the store; deterministic for a given count and anchor."""
    now = store.anchor_ms
    pools: dict[str, list[Credential]] = {}
    per_pool = max(2, count // 250)

    def credential(kind: str, index: int) -> Credential:
        pool = pools.get(kind)
        if pool is None:
            pool = [
                builder.add_credential(
                    store,
                    f"gen-{kind}-{number:03d}",
                    kind,
                    {"region": "us-east-1"},
                    now - 300 * DAY_MS,
                )
                for number in range(per_pool)
            ]
            pools[kind] = pool
        return pool[index % len(pool)]

    for number in range(count // FLOWS_PER_TEAM):
        team = Team(FIRST_TEAM_ID + number, f"gen-team-{number:03d}")
        store.teams[team.id] = team
    transforms = [
        builder.add_code_container(
            store, f"gen-transform-{number}", builder.jolt_shift({"id": "id"}), now - 250 * DAY_MS
        )
        for number in range(5)
    ]
    # Incidents go on only once every flow exists: an incident clones a credential shared with
    # other flows, and flows built after it would otherwise pick up the broken original.
    flows = [_build_flow(store, index, credential, transforms) for index in range(count)]
    for index, flow in enumerate(flows):
        kind = _kind(index)
        apply_incident(store, flow, kind, now)
        if kind != "healthy":
            store.scenarios.append(
                {"kind": kind, "flow_id": flow.id, "expected_category": EXPECTED_CATEGORY[kind]}
            )


def _build_flow(
    store: Store,
    index: int,
    credential: Callable[[str, int], Credential],
    transforms: list[CodeContainer],
) -> Flow:
    """The `index`-th generated flow: source, detected nexset, maybe a transform, sinks."""
    now = store.anchor_ms
    mixed = (index * 2654435761) % 4_294_967_296
    source_type, domain = _SOURCES[mixed % len(_SOURCES)]
    sink_type = _SINKS[(mixed >> 8) % len(_SINKS)]
    created = now - (400 - index % 300) * DAY_MS
    flow = builder.add_flow(
        store,
        name=f"{domain.title()} {source_type} #{index:05d} to {sink_type}",
        source_name=f"gen-{domain}-{source_type}-{index:05d}",
        source_type=source_type,
        credential_id=credential(source_type, index).id,
        config=_source_config(source_type, domain, index),
        domain=domain,
        seed=mixed,
        base_records=200 + mixed % 20000,
        interval_ms=_INTERVALS_MIN[(mixed >> 4) % len(_INTERVALS_MIN)] * MINUTE_MS,
        created_ms=created,
        flow_type="streaming" if source_type == "kafka" else "batch",
    )
    parent = builder.add_detected(store, flow, created + 20 * MINUTE_MS)
    if (mixed >> 12) % 10 < 3:
        parent = builder.add_derived(
            store,
            parent,
            f"gen-{domain}-{index:05d}-clean",
            transforms[index % len(transforms)].id,
            created + 40 * MINUTE_MS,
        )
    for offset in range(1 + ((mixed >> 16) % 10 == 0)):
        kind = _SINKS[((mixed >> 8) + offset) % len(_SINKS)]
        config, sink_format = _sink_config(kind, domain, index)
        builder.add_sink(
            store,
            parent,
            f"gen-{domain}-{kind}-{index:05d}-{offset}",
            kind,
            credential(kind, index).id,
            config,
            created + (60 + offset) * MINUTE_MS,
            sink_format=sink_format,
        )
    return flow
