"""The drill corpus: messy incidents, each with the verdict a data engineer would give.

Each drill rewrites one seeded flow's history through ``POST /_sandbox/drills`` (see
``nexla_mcp/sandbox/drills.py``), sometimes several flows, a heal or API faults, and states
what ``diagnose_flow`` must conclude: the category, the resource the verdict concerns, whether
the flow recovered, the first safe next step and the steps that would be unsafe, and what
``check_flow_health`` and ``org_health`` must agree on. Classes (a drill may be in several):

- ``recovery``: fixed or passing failures, recovering after one good run, recovered after more;
- ``empty_stale``: runs that move nothing, or no runs, judged against the flow's own schedule;
- ``severity``: one ERROR among thousands of WARN/INFO lines, late errors, 10,000-line runs;
- ``time``: alerts from earlier incidents, changes near or far from the onset;
- ``overlap``: several causes on one flow, each with its own onset and resource;
- ``advice``: never activate while the cause persists, never pause a flow still delivering,
  intermittent whole-run failures, org_health severity by impact;
- ``blind``: missing probes, metrics, logs or audit, and ids of the wrong kind.

Seeded flows used (the sandbox resets each to healthy first): 9001 S3 (hourly), 9005 Postgres
(2 h), 9008 Kafka (30 min), 9012 FTP (6 h), 9015 REST (hourly), 9018 S3 (2 h), 9021 GCS
(hourly), 9025 SFTP (hourly), 9029 REST (hourly), 9032 Postgres (hourly), 9035 REST (hourly),
9038 MySQL (hourly), 9042 REST (hourly), 9046 S3 (2 h); ``interval_min`` changes schedules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CLASSES = ("recovery", "empty_stale", "severity", "time", "overlap", "advice", "blind")

SRC, NEXSET, DEST = "source", "nexset", "destination"
WRITES = ("pause_flow", "activate_flow")


@dataclass(frozen=True)
class Expect:
    """The verdict a data engineer would give."""

    category: str
    resource: str | None = None  # "source", "nexset" or "destination" (prefix of the label)
    recovery: str | None = None  # "recovering" or "recovered"
    first: str | None = None  # the first next step (tool or prompt name)
    forbid: tuple[str, ...] = ()  # steps that would be unsafe here
    require: tuple[str, ...] = ()  # steps that must be among the next ones
    others: tuple[str, ...] = ()  # categories of the other causes, in any order
    healthy: bool | None = None  # check_flow_health; default: category == "healthy"
    listed: bool | None = None  # in org_health's problems; default: category != "healthy"
    says: tuple[str, ...] = ()  # phrases the summary must hold
    never_says: tuple[str, ...] = ()
    error_has: str | None = None  # text among errors[] (the deciding cluster is listed)
    max_confidence: float | None = None
    hint_has: str | None = None  # for a refused call: text its hint must hold
    ranks_above: int | None = None  # org_health lists this flow above that flow


@dataclass(frozen=True)
class Drill:
    name: str
    classes: tuple[str, ...]
    flow_id: int
    body: dict[str, Any]
    expect: Expect
    others: tuple[tuple[int, dict[str, Any]], ...] = ()  # more flows drilled first
    heal: bool = False  # POST /_sandbox/drills/heal after the drill
    faults: dict[str, Any] | None = None
    ask_id: int | None = None  # diagnose this id as flow_id instead (wrong-id drills)
    extra: dict[str, Any] = field(default_factory=dict)


def tl(*steps: tuple[str, float]) -> list[dict[str, Any]]:
    """A timeline from (profile, runs) pairs; ("gap", hours) for a stretch without runs."""
    return [{"gap_hours": n} if p == "gap" else {"profile": p, "runs": int(n)} for p, n in steps]


def noise(lines: int, severity: str, *messages: str, at: str = "start",
          run: str = "latest_failing") -> dict[str, Any]:  # fmt: skip
    return {"lines": lines, "severity": severity, "messages": list(messages), "at": at,
            "run": run}  # fmt: skip


POOL_WARN = "HikariPool-1: connection {n} timed out while idle; connection closed by peer"
SLOW_WARN = "Slow batch {n}: upstream answered after 4200 ms"
RETRY_WARN = "Request {n} throttled, retrying with backoff (rate limit window)"
INFO_LINE = "Fetched page {n} of changes"

RECOVERY = [
    Drill(
        "recovered after credential rotation (REST, hourly)",
        ("recovery",),
        9015,
        {"timeline": tl(("credential_expired", 6), ("healthy", 3))},
        Expect("healthy", SRC, "recovered", "get_run_metrics", WRITES, says=("has recovered",)),
    ),
    Drill(
        "recovering one run after the transform fix (GCS, hourly)",
        ("recovery",),
        9021,
        {"timeline": tl(("transform_error", 5), ("healthy", 1))},
        Expect(
            "healthy",
            NEXSET,
            "recovering",
            "get_run_metrics",
            WRITES,
            says=("is recovering", "fixed by"),
        ),
    ),
    Drill(
        "recovered after the schema was reverted (SFTP, hourly)",
        ("recovery",),
        9025,
        {"timeline": tl(("schema_mismatch", 4), ("healthy", 4))},
        Expect("healthy", NEXSET, "recovered", "get_run_metrics", WRITES),
    ),
    Drill(
        "network timeouts passed by themselves (Postgres, hourly)",
        ("recovery",),
        9032,
        {"timeline": tl(("network_timeout", 3), ("healthy", 5))},
        Expect("healthy", SRC, "recovered", "get_run_metrics", WRITES),
    ),
    Drill(
        "rate limiting eased, one good run (REST, 16 min)",
        ("recovery",),
        9029,
        {"timeline": tl(("rate_limited", 8), ("healthy", 1)), "interval_min": 16},
        Expect("healthy", SRC, "recovering", "get_run_metrics", WRITES, says=("may come back",)),
    ),
    Drill(
        "permission granted, two good runs (S3, 2 h)",
        ("recovery",),
        9018,
        {"timeline": tl(("permission_denied", 3), ("healthy", 2))},
        Expect("healthy", SRC, "recovering", "get_run_metrics", WRITES),
    ),
    Drill(
        "duplicates removed, recovered (REST, hourly)",
        ("recovery",),
        9035,
        {"timeline": tl(("resource_conflict", 4), ("healthy", 3))},
        Expect("healthy", DEST, "recovered", "get_run_metrics", WRITES),
    ),
    Drill(
        "upstream 5xx streak over (Kafka, 30 min)",
        ("recovery",),
        9008,
        {"timeline": tl(("generic_failure", 4), ("healthy", 6))},
        Expect("healthy", SRC, "recovered", "get_run_metrics", WRITES),
    ),
    Drill(
        "credential rotated on a daily flow",
        ("recovery",),
        9046,
        {"timeline": tl(("credential_expired", 2), ("healthy", 3)), "interval_min": 1440},
        Expect("healthy", SRC, "recovered", "get_run_metrics", WRITES),
    ),
    Drill(
        "transform fixed on a 6-hourly flow, two good runs",
        ("recovery",),
        9012,
        {"timeline": tl(("transform_error", 3), ("healthy", 2))},
        Expect("healthy", NEXSET, "recovering", "get_run_metrics", WRITES),
    ),
]

EMPTY_STALE = [
    Drill(
        "30 h of empty runs every 16 min (S3)",
        ("empty_stale",),
        9001,
        {"timeline": tl(("empty", 113)), "interval_min": 16},
        Expect("stale_data", None, None, "get_run_metrics", WRITES, says=("moved no records",)),
    ),
    Drill(
        "3 days of empty runs every 16 min: read back past the window (REST)",
        ("empty_stale",),
        9029,
        {"timeline": tl(("empty", 270)), "interval_min": 16},
        Expect("stale_data", None, None, "get_run_metrics", WRITES, says=("moved no records",)),
    ),
    Drill(
        "5 h of empty runs every 30 min (Kafka)",
        ("empty_stale",),
        9008,
        {"timeline": tl(("empty", 10))},
        Expect("stale_data", None, None, "get_run_metrics", WRITES),
    ),
    Drill(
        "two empty runs of a daily flow (S3)",
        ("empty_stale",),
        9046,
        {"timeline": tl(("empty", 2)), "interval_min": 1440},
        Expect("stale_data", None, None, "get_run_metrics", WRITES),
    ),
    Drill(
        "sparse source: empty runs are its habit (REST)",
        ("empty_stale",),
        9042,
        {"timeline": tl(*[("healthy", 1), ("empty", 3)] * 30)},
        Expect("healthy", forbid=WRITES, says=("moved no records, not enough to call it stale",)),
    ),
    Drill(
        "no run for 5 h on a 30-min schedule (Kafka)",
        ("empty_stale",),
        9008,
        {"timeline": tl(("healthy", 20), ("gap", 5))},
        Expect(
            "stale_data", None, None, "get_run_metrics", WRITES, listed=False, says=("no run for",)
        ),
    ),
    Drill(
        "no run for 30 h, hourly (REST)",
        ("empty_stale",),
        9029,
        {"timeline": tl(("healthy", 20), ("gap", 30))},
        Expect("stale_data", None, None, "get_run_metrics", WRITES),
    ),
    Drill(
        "two empty runs every 2 h: too soon to call (Postgres)",
        ("empty_stale",),
        9005,
        {"timeline": tl(("empty", 2))},
        Expect("healthy", forbid=WRITES),
    ),
    Drill(
        "empty for a day every 6 h (FTP)",
        ("empty_stale",),
        9012,
        {"timeline": tl(("empty", 5))},
        Expect("stale_data", None, None, "get_run_metrics", WRITES),
    ),
]

SEVERITY = [
    Drill(
        "one duplicate-key ERROR under 3,000 pool WARN lines (REST)",
        ("severity",),
        9035,
        {"timeline": tl(("resource_conflict", 3)), "noise": [noise(3000, "WARNING", POOL_WARN)]},
        Expect(
            "resource_conflict",
            DEST,
            None,
            "get_flow_logs",
            ("activate_flow",),
            error_has="duplicate",
            never_says=("network timeouts",),
        ),
    ),
    Drill(
        "transform ERROR under six kinds of WARN lines (GCS)",
        ("severity",),
        9021,
        {
            "timeline": tl(("transform_error", 2)),
            "noise": [
                noise(
                    1200,
                    "WARNING",
                    POOL_WARN,
                    SLOW_WARN,
                    RETRY_WARN,
                    "Schema cache miss for {n}",
                    "Offset {n} committed late",
                    "Deprecated option {n} ignored",
                )
            ],
        },
        Expect(
            "transform_error",
            NEXSET,
            None,
            "get_flow_logs",
            ("activate_flow",),
            error_has="Transform failed",
        ),
    ),
    Drill(
        "late timeout ERROR after 9,990 WARN lines (Postgres)",
        ("severity",),
        9032,
        {"timeline": tl(("network_timeout", 2)), "noise": [noise(9990, "WARNING", SLOW_WARN)]},
        Expect("network_timeout", SRC, None, "get_flow_logs", WRITES, error_has="timed out"),
    ),
    Drill(
        "403 ERROR among 1,500 throttling WARN lines (S3)",
        ("severity",),
        9018,
        {
            "timeline": tl(("permission_denied", 2)),
            "noise": [noise(1500, "WARNING", RETRY_WARN, POOL_WARN, SLOW_WARN)],
        },
        Expect(
            "permission_denied", SRC, None, "get_flow_logs", ("activate_flow",), error_has="403"
        ),
    ),
    Drill(
        "schema ERROR under 2,000 unrecognised ERROR lines (SFTP)",
        ("severity",),
        9025,
        {
            "timeline": tl(("schema_mismatch", 2)),
            "noise": [noise(2000, "ERROR", "Metrics reporter could not flush batch {n}")],
        },
        Expect(
            "schema_mismatch",
            NEXSET,
            None,
            "migrate_schema",
            ("activate_flow",),
            error_has="Schema validation failed",
        ),
    ),
    Drill(
        "credential ERROR under 5,000 INFO lines that say 'timed out'",
        ("severity",),
        9015,
        {
            "timeline": tl(("credential_expired", 2)),
            "noise": [noise(5000, "INFO", "Keep-alive ping {n} timed out, reconnecting")],
        },
        Expect(
            "credential_expired", SRC, None, "probe_credential", ("activate_flow",), error_has="401"
        ),
    ),
    Drill(
        "FATAL authentication line among 800 throttling WARN lines (MySQL)",
        ("severity",),
        9038,
        {
            "timeline": tl(("generic_failure", 2)),
            "noise": [
                noise(800, "WARNING", RETRY_WARN),
                noise(
                    1, "FATAL", 'FATAL: password authentication failed for user "loader"', at="end"
                ),
            ],
        },
        Expect(
            "credential_expired",
            SRC,
            None,
            "probe_credential",
            ("activate_flow",),
            error_has="password authentication failed",
        ),
    ),
    Drill(
        "10,000-line run, the 409 at the end (REST, 16 min)",
        ("severity",),
        9035,
        {
            "timeline": tl(("resource_conflict", 2)),
            "interval_min": 16,
            "noise": [noise(9998, "INFO", INFO_LINE)],
        },
        Expect(
            "resource_conflict", DEST, None, "get_flow_logs", ("activate_flow",), error_has="409"
        ),
    ),
]

TIME = [
    Drill(
        "old timeout alerts, a transform error now (GCS)",
        ("time",),
        9021,
        {"timeline": tl(("network_timeout", 3), ("healthy", 30), ("transform_error", 3))},
        Expect(
            "transform_error",
            NEXSET,
            None,
            "get_flow_logs",
            ("activate_flow",),
            says=("Shortly before the failures began (within 60 min)",),
        ),
    ),
    Drill(
        "stray credential alerts from 40 h ago, conflicts now (REST)",
        ("time",),
        9035,
        {
            "timeline": tl(("resource_conflict", 3)),
            "alerts": [
                {"kind": "credential_expired", "hours_ago": 40},
                {"kind": "network_timeout", "hours_ago": 41},
                {"kind": "permission_denied", "hours_ago": 42},
            ],
        },
        Expect("resource_conflict", DEST, None, "get_flow_logs", ("activate_flow",)),
    ),
    Drill(
        "transform edited 5 h before the failures: not 'shortly before'",
        ("time",),
        9001,
        {
            "timeline": [
                *tl(("healthy", 5)),
                {"profile": "transform_error", "runs": 3, "lead_min": 300},
            ]
        },
        Expect(
            "transform_error",
            NEXSET,
            None,
            "get_flow_logs",
            ("activate_flow",),
            says=("Earlier change",),
            never_says=("Shortly before",),
        ),
    ),
    Drill(
        "recent timeout alerts, but the run's own lines say schema (SFTP)",
        ("time",),
        9025,
        {
            "timeline": tl(("schema_mismatch", 2)),
            "alerts": [
                {"kind": "network_timeout", "hours_ago": 0.5},
                {"kind": "network_timeout", "hours_ago": 0.3},
            ],
        },
        Expect("schema_mismatch", NEXSET, None, "migrate_schema", ("activate_flow",)),
    ),
    Drill(
        "rate limiting now, a credential incident's alerts 2 days old (REST)",
        ("time",),
        9029,
        {"timeline": tl(("credential_expired", 3), ("healthy", 45), ("rate_limited", 3))},
        Expect("rate_limited", SRC, None, "get_flow_logs", WRITES),
    ),
    Drill(
        "schema changed 25 min before the failures on a 2 h flow (Postgres)",
        ("time",),
        9005,
        {"timeline": tl(("schema_mismatch", 3))},
        Expect(
            "schema_mismatch",
            NEXSET,
            None,
            "migrate_schema",
            ("activate_flow",),
            says=("within 60 min",),
        ),
    ),
    Drill(
        "permission alerts from last week's incident, timeouts now (S3)",
        ("time",),
        9018,
        {"timeline": tl(("permission_denied", 4), ("healthy", 40), ("network_timeout", 2))},
        Expect("network_timeout", SRC, None, "get_flow_logs", WRITES),
    ),
]

OVERLAP = [
    Drill(
        "transform broken for hours, then the credential expired (S3)",
        ("overlap",),
        9001,
        {"timeline": tl(("transform_error", 6), ("credential_expired", 3))},
        Expect(
            "credential_expired",
            SRC,
            None,
            "probe_credential",
            ("activate_flow",),
            require=("rotate_credential", "get_resource"),
            others=("transform_error",),
            says=("Also: a failing transform", "will fail again"),
        ),
    ),
    Drill(
        "transform broken 4 h, then the credential (REST, 16 min)",
        ("overlap",),
        9015,
        {"timeline": tl(("transform_error", 15), ("credential_expired", 4)), "interval_min": 16},
        Expect(
            "credential_expired",
            SRC,
            None,
            "probe_credential",
            ("activate_flow",),
            others=("transform_error",),
        ),
    ),
    Drill(
        "schema mismatch, then permissions revoked (S3, 2 h)",
        ("overlap",),
        9018,
        {"timeline": tl(("schema_mismatch", 3), ("permission_denied", 2))},
        Expect(
            "permission_denied",
            SRC,
            None,
            "get_flow_logs",
            ("activate_flow",),
            others=("schema_mismatch",),
        ),
    ),
    Drill(
        "timeouts at the source, then duplicates at the destination (REST)",
        ("overlap",),
        9035,
        {"timeline": tl(("network_timeout", 3), ("resource_conflict", 3))},
        Expect(
            "resource_conflict",
            DEST,
            None,
            "get_flow_logs",
            ("activate_flow",),
            others=("network_timeout",),
        ),
    ),
    Drill(
        "credential fixed, the hidden transform error is back (GCS)",
        ("overlap",),
        9021,
        {"timeline": tl(("transform_error", 4), ("credential_expired", 3), ("transform_error", 2))},
        Expect(
            "transform_error",
            NEXSET,
            None,
            "get_flow_logs",
            ("activate_flow",),
            others=("credential_expired",),
        ),
    ),
    Drill(
        "rate limits, a transform error, then duplicates (REST)",
        ("overlap",),
        9042,
        {"timeline": tl(("rate_limited", 3), ("transform_error", 3), ("resource_conflict", 3))},
        Expect(
            "resource_conflict",
            DEST,
            None,
            "get_flow_logs",
            ("activate_flow",),
            others=("transform_error", "rate_limited"),
        ),
    ),
    Drill(
        "two causes on a 30-min flow: schema, then credential (Kafka)",
        ("overlap",),
        9008,
        {"timeline": tl(("schema_mismatch", 5), ("credential_expired", 2))},
        Expect(
            "credential_expired",
            SRC,
            None,
            "probe_credential",
            ("activate_flow",),
            others=("schema_mismatch",),
        ),
    ),
]

ADVICE = [
    Drill(
        "auto-paused, credential still expired: no activation (REST)",
        ("advice",),
        9015,
        {"timeline": tl(("credential_expired", 5)), "end": "paused_by_system"},
        Expect(
            "flow_not_running",
            SRC,
            None,
            "probe_credential",
            ("activate_flow",),
            require=("rotate_credential",),
            says=("only once that is done",),
        ),
    ),
    Drill(
        "auto-paused, transform still broken: fix first (GCS)",
        ("advice",),
        9021,
        {"timeline": tl(("transform_error", 5)), "end": "paused_by_system"},
        Expect(
            "flow_not_running",
            NEXSET,
            None,
            "get_flow_logs",
            ("activate_flow",),
            require=("get_resource",),
        ),
    ),
    Drill(
        "auto-paused, credential rotated since: activate, then watch (S3)",
        ("advice",),
        9001,
        {"timeline": tl(("credential_expired", 5)), "end": "paused_by_system"},
        Expect(
            "flow_not_running",
            SRC,
            None,
            "get_flow_logs",
            (),
            require=("activate_flow", "get_run_metrics"),
        ),
        heal=True,
    ),
    Drill(
        "destination credential fails its probe, data still delivered",
        ("advice",),
        9005,
        {"timeline": tl(("healthy", 10)), "sink_credential": "expired"},
        Expect(
            "credential_expired",
            DEST,
            None,
            "probe_credential",
            WRITES,
            require=("rotate_credential",),
            listed=False,
        ),
    ),
    Drill(
        "intermittent whole-run 5xx failures (Postgres, hourly)",
        ("advice",),
        9032,
        {"timeline": tl(*[("healthy", 2), ("generic_failure", 1)] * 6)},
        Expect(
            "high_error_rate",
            SRC,
            None,
            "get_flow_logs",
            WRITES,
            says=("whole-run",),
            never_says=("record-level",),
        ),
    ),
    Drill(
        "record rejections, still delivering: no pause (REST)",
        ("advice",),
        9042,
        {"timeline": tl(("high_error_rate", 12))},
        Expect("high_error_rate", NEXSET, None, "get_flow_logs", WRITES, says=("record-level",)),
    ),
    Drill(
        "duplicates rejected, most records delivered: no pause (REST)",
        ("advice",),
        9035,
        {"timeline": tl(("resource_conflict", 4))},
        Expect("resource_conflict", DEST, None, "get_flow_logs", WRITES),
    ),
    Drill(
        "schema mismatch rejects some records, still delivering: no pause",
        ("advice",),
        9025,
        {"timeline": tl(("schema_mismatch", 4))},
        Expect("schema_mismatch", NEXSET, None, "migrate_schema", WRITES),
    ),
    Drill(
        "paused by a user, healthy before: activation is fine (FTP)",
        ("advice",),
        9012,
        {"timeline": tl(("healthy", 10)), "end": "paused_by_user"},
        Expect("flow_not_running", None, None, "activate_flow", ("pause_flow",)),
    ),
    Drill(
        "auto-paused after upstream 500s: read logs, then activate (MySQL)",
        ("advice",),
        9038,
        {"timeline": tl(("generic_failure", 5)), "end": "paused_by_system"},
        Expect("flow_not_running", SRC, None, "get_flow_logs", (), require=("activate_flow",)),
    ),
    Drill(
        "credential expired, nothing delivered: pausing may be planned",
        ("advice",),
        9046,
        {"timeline": tl(("credential_expired", 3))},
        Expect(
            "credential_expired",
            SRC,
            None,
            "probe_credential",
            ("activate_flow",),
            require=("rotate_credential", "pause_flow"),
        ),
    ),
    Drill(
        "org ranks a flow auto-paused 30 h ago above a one-run blip",
        ("advice",),
        9005,
        {"timeline": tl(("healthy", 20), ("generic_failure", 1))},
        Expect("unknown", SRC, None, "get_flow_logs", ("activate_flow",), ranks_above=None),
        others=(
            (
                9038,
                {"timeline": tl(("generic_failure", 5), ("gap", 30)), "end": "paused_by_system"},
            ),
        ),
        extra={"rank_order": (9038, 9005), "severity": {9005: "medium", 9038: "critical"}},
    ),
]

ADVICE.append(
    Drill(
        "transform fails every record, nothing delivered: pausing may be planned (Kafka)",
        ("advice",),
        9008,
        {"timeline": tl(("transform_error", 4))},
        Expect(
            "transform_error",
            NEXSET,
            None,
            "get_flow_logs",
            ("activate_flow",),
            require=("get_resource", "pause_flow"),
        ),
    )
)
ADVICE.append(
    Drill(
        "rate limits at the source while the destination credential fails its probe",
        ("advice", "overlap"),
        9029,
        {"timeline": tl(("rate_limited", 3)), "sink_credential": "expired"},
        Expect(
            "rate_limited",
            SRC,
            None,
            "get_flow_logs",
            WRITES,
            require=("probe_credential",),
            says=("fails its probe",),
        ),
    )
)

BLIND = [
    Drill(
        "probes fail: healthy runs, but not verified",
        ("blind",),
        9001,
        {"timeline": tl(("healthy", 10))},
        Expect(
            "healthy",
            healthy=False,
            listed=False,
            says=("Not read",),
            max_confidence=0.5,
            forbid=WRITES,
        ),
        faults={"error_rate": 1.0, "error_status": 503, "paths": ["/data_credentials"]},
    ),
    Drill(
        "runs unreadable on a failing flow: never healthy",
        ("blind",),
        9021,
        {"timeline": tl(("transform_error", 3))},
        Expect(
            "unknown",
            healthy=False,
            listed=True,
            says=("could not be read", "Not read"),
            forbid=("activate_flow",),
        ),
        faults={"error_rate": 1.0, "error_status": 503, "paths": ["/data_sources/5107/flow/"]},
    ),
    Drill(
        "runs unreadable on a healthy flow: still not healthy",
        ("blind",),
        9008,
        {"timeline": tl(("healthy", 10))},
        Expect("unknown", healthy=False, listed=False, says=("could not be read",), forbid=WRITES),
        faults={"error_rate": 1.0, "error_status": 503, "paths": ["/data_sources/5103/flow/"]},
    ),
    Drill(
        "logs unreadable: the probe still names the expired credential",
        ("blind",),
        9015,
        {"timeline": tl(("credential_expired", 3))},
        Expect(
            "credential_expired",
            SRC,
            None,
            "probe_credential",
            ("activate_flow",),
            says=("Not read",),
            max_confidence=0.75,
        ),
        faults={"error_rate": 1.0, "error_status": 503, "paths": ["/data_sources/5105/flow/logs"]},
    ),
    Drill(
        "audit trail unreadable during a transform error",
        ("blind",),
        9021,
        {"timeline": tl(("transform_error", 3))},
        Expect(
            "transform_error", NEXSET, None, "get_flow_logs", ("activate_flow",), says=("Not read",)
        ),
        faults={
            "error_rate": 1.0,
            "error_status": 503,
            "paths": ["/flows/9021/audit_log", "/code_containers"],
        },
    ),
    Drill(
        "alerts unreadable: logs still decide (S3 rate limits)",
        ("blind",),
        9018,
        {"timeline": tl(("rate_limited", 3))},
        Expect("rate_limited", SRC, None, "get_flow_logs", WRITES, says=("Not read",)),
        faults={"error_rate": 1.0, "error_status": 503, "paths": ["/notifications"]},
    ),
    Drill(
        "a nexset id given as flow_id",
        ("blind",),
        9021,
        {"timeline": tl(("healthy", 3))},
        Expect("error", hint_has="resource_type='data_sets'"),
        ask_id=6110,
    ),
    Drill(
        "a source id given as flow_id",
        ("blind",),
        9001,
        {"timeline": tl(("healthy", 3))},
        Expect("error", hint_has="resource_type='data_sources'"),
        ask_id=5101,
    ),
    Drill(
        "a credential id given as flow_id",
        ("blind",),
        9001,
        {"timeline": tl(("healthy", 3))},
        Expect("error", hint_has="probe_credential"),
        ask_id=5002,
    ),
]

COMBINED = [
    Drill(
        "recovered from a transform error whose run was noisy",
        ("recovery", "severity"),
        9021,
        {
            "timeline": tl(("transform_error", 3), ("healthy", 3)),
            "noise": [noise(4000, "WARNING", POOL_WARN)],
        },
        Expect("healthy", NEXSET, "recovered", "get_run_metrics", WRITES),
    ),
    Drill(
        "stale for 30 h with old credential alerts",
        ("empty_stale", "time"),
        9015,
        {"timeline": tl(("credential_expired", 2), ("healthy", 20), ("gap", 30))},
        Expect("stale_data", None, None, "get_run_metrics", WRITES),
    ),
    Drill(
        "two causes, noisy logs and old alerts",
        ("overlap", "severity", "time"),
        9001,
        {
            "timeline": tl(
                ("network_timeout", 2),
                ("healthy", 30),
                ("transform_error", 4),
                ("credential_expired", 2),
            ),
            "noise": [noise(2500, "WARNING", POOL_WARN)],
        },
        Expect(
            "credential_expired",
            SRC,
            None,
            "probe_credential",
            ("activate_flow",),
            others=("transform_error",),
        ),
    ),
    Drill(
        "auto-paused after two causes; credential fixed, transform still broken",
        ("overlap", "advice"),
        9021,
        {
            "timeline": tl(("transform_error", 3), ("credential_expired", 3)),
            "end": "paused_by_system",
            "fixed_after": ["credential"],
        },
        Expect(
            "flow_not_running",
            SRC,
            None,
            "get_flow_logs",
            ("activate_flow",),
            require=("get_resource",),
            others=("transform_error",),
        ),
    ),
    Drill(
        "recovered, then runs went empty",
        ("recovery", "empty_stale"),
        9008,
        {"timeline": tl(("network_timeout", 3), ("healthy", 5), ("empty", 12))},
        Expect("stale_data", None, None, "get_run_metrics", WRITES),
    ),
    Drill(
        "recovering while the probe cannot be read",
        ("recovery", "blind"),
        9015,
        {"timeline": tl(("rate_limited", 3), ("healthy", 4))},
        Expect(
            "healthy",
            SRC,
            "recovered",
            "get_run_metrics",
            WRITES,
            healthy=False,
            listed=False,
            says=("Not read",),
            max_confidence=0.5,
        ),
        faults={"error_rate": 1.0, "error_status": 503, "paths": ["/data_credentials"]},
    ),
    Drill(
        "intermittent 5xx with 2,000 WARN lines per failing run",
        ("advice", "severity"),
        9029,
        {
            "timeline": tl(*[("healthy", 1), ("generic_failure", 1)] * 6),
            "noise": [noise(2000, "WARNING", SLOW_WARN)],
        },
        Expect("high_error_rate", SRC, None, "get_flow_logs", WRITES, says=("whole-run",)),
    ),
    Drill(
        "credential failing on a daily flow with 1,500 INFO lines",
        ("severity", "advice"),
        9046,
        {
            "timeline": tl(("credential_expired", 2)),
            "interval_min": 1440,
            "noise": [noise(1500, "INFO", INFO_LINE)],
        },
        Expect("credential_expired", SRC, None, "probe_credential", ("activate_flow",)),
    ),
    Drill(
        "old alerts on a recovered flow do not bring it back",
        ("recovery", "time"),
        9032,
        {
            "timeline": tl(("network_timeout", 3), ("healthy", 4)),
            "alerts": [{"kind": "network_timeout", "hours_ago": 1}],
        },
        Expect("healthy", SRC, "recovered", "get_run_metrics", WRITES, listed=None),
    ),
    Drill(
        "destination credential refused while a transform error is recovering",
        ("recovery", "advice"),
        9001,
        {"timeline": tl(("transform_error", 3), ("healthy", 1)), "sink_credential": "expired"},
        Expect("credential_expired", DEST, None, "probe_credential", WRITES, listed=False),
    ),
]

DRILLS: list[Drill] = [*RECOVERY, *EMPTY_STALE, *SEVERITY, *TIME, *OVERLAP, *ADVICE, *BLIND,
                       *COMBINED]  # fmt: skip
