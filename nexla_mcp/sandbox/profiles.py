"""What one run of a flow produced: records, bytes and errors per resource, and its log lines.

A run's behaviour comes from its profile ("healthy" or an incident kind). Everything is
derived from (flow seed, run id), so asking twice gives the same answer. The error wording
follows what the upstream systems really say (HTTP status lines, driver exceptions), which
is the evidence a diagnosis runbook is expected to key on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from nexla_mcp.sandbox import connectors, planted
from nexla_mcp.sandbox.model import (
    DATA_SETS,
    LOG_RESOURCE_TYPE,
    SINKS,
    SOURCES,
    DataSet,
    Flow,
    LogLine,
    Node,
    Run,
    Sink,
    Source,
)
from nexla_mcp.sandbox.samples import domain
from nexla_mcp.sandbox.store import Store

RUN_PROFILES = (
    "healthy",
    "credential_expired",
    "permission_denied",
    "transform_error",
    "schema_mismatch",
    "rate_limited",
    "network_timeout",
    "resource_conflict",
    "high_error_rate",
    "generic_failure",
    "empty",
)
_SOURCE_FAILS = {"credential_expired", "permission_denied", "generic_failure"}

_RECORD_REJECTIONS = (
    "Record rejected: field 'signup_date' value 'N/A' is not a valid date",
    "Record rejected: missing required field 'email'",
    "Record rejected: value too long for field 'notes' (312 > 255 characters)",
    "Record rejected: field 'quantity' must be >= 0 (got -3)",
    "Record rejected: unknown enum value 'refunded_partial' for field 'status'",
)


@dataclass(slots=True)
class NodeMetric:
    resource_type: str
    resource_id: int
    data_set_id: int | None
    records: int
    size: int
    errors: int


@dataclass(slots=True)
class RunOutcome:
    run: Run
    metrics: list[NodeMetric] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(metric.errors for metric in self.metrics)

    @property
    def finished_ms(self) -> int:
        return max((line.timestamp_ms for line in self.logs), default=self.run.run_id)

    def metric_for(self, resource_type: str, resource_id: int) -> NodeMetric | None:
        for metric in self.metrics:
            if metric.resource_type == resource_type and metric.resource_id == resource_id:
                return metric
        return None


def incident_data_set(store: Store, flow: Flow) -> DataSet | None:
    """The nexset a transform or validation incident shows up on: the last one with code."""
    data_sets = [
        store.data_sets[node.resource_id]
        for node in store.subtree(flow.id)
        if node.resource_type == DATA_SETS
    ]
    with_code = [data_set for data_set in data_sets if data_set.code_container_id]
    return (with_code or data_sets or [None])[-1]


def is_error_run(run: Run, rng: random.Random) -> bool:
    """high_error_rate: two runs in every five fail, so any ten in a row hold four failures."""
    if run.index < 0:
        return rng.random() < 0.4
    return run.index % 5 in (1, 3)


class _Builder:
    """Accumulates one run's metrics and log lines while walking the flow tree."""

    def __init__(self, store: Store, flow: Flow, run: Run) -> None:
        self.store, self.flow, self.run = store, flow, run
        self.rng = random.Random(f"{flow.seed}:{run.run_id}")
        self.domain = domain(flow.domain)
        self.result = RunOutcome(run)
        self.clock = run.run_id + 800

    def log(
        self, resource_type: str, resource_id: int, severity: str, text: str, log_type: str = "LOG"
    ) -> None:
        self.clock += self.rng.randint(300, 9000)
        label = LOG_RESOURCE_TYPE[resource_type]
        self.result.logs.append(LogLine(self.clock, label, resource_id, severity, log_type, text))

    def measure(
        self,
        resource_type: str,
        resource_id: int,
        data_set_id: int | None,
        records: int,
        errors: int,
    ) -> None:
        size = int(records * self.domain.record_bytes * self.rng.uniform(0.95, 1.05))
        self.result.metrics.append(
            NodeMetric(resource_type, resource_id, data_set_id, records, size, errors)
        )
        severity = "ERROR" if errors else "INFO"
        self.log(
            resource_type,
            resource_id,
            severity,
            f"Processed records={records}, errors={errors}, size={size}",
            "SUMMARY",
        )


def outcome(store: Store, flow: Flow, run: Run) -> RunOutcome:
    """Compute what `run` did in `flow` as the flow is shaped now."""
    build = _Builder(store, flow, run)
    target = (
        incident_data_set(store, flow)
        if run.profile in ("transform_error", "schema_mismatch", "high_error_rate")
        else None
    )
    produced: dict[int, int] = {}
    first_sink_done = False
    for node in store.subtree(flow.id):
        resource = store.node_resource(node)
        upstream = produced.get(node.parent_id, 0) if node.parent_id else 0
        if isinstance(resource, Source):
            produced[node.id] = _source_step(build, node, resource)
        elif isinstance(resource, DataSet) and upstream:
            produced[node.id] = _data_set_step(build, resource, upstream, resource is target)
        elif isinstance(resource, Sink) and upstream:
            _sink_step(build, resource, upstream, not first_sink_done)
            first_sink_done = True
    build.result.logs.extend(flow.extra_logs.get(run.run_id, []))
    build.result.logs.sort(key=lambda line: line.timestamp_ms)
    return build.result


def _source_step(build: _Builder, node: Node, source: Source) -> int:
    profile, rng = build.run.profile, build.rng
    wanted = max(1, round(build.flow.base_records * rng.uniform(0.9, 1.1)))
    where = connectors.location(source.source_type, source.config)
    build.log(
        SOURCES,
        source.id,
        "INFO",
        f"Started ingestion run {build.run.run_id} for source '{source.name}' ({where})",
    )
    read, errors = wanted, 0
    if profile == "empty":
        read = 0
        build.log(SOURCES, source.id, "INFO", f"No new records found at {where}")
    elif profile in _SOURCE_FAILS:
        read, errors = 0, 1
    elif profile == "rate_limited":
        read, errors = int(wanted * rng.uniform(0.2, 0.4)), rng.randint(1, 3)
    elif profile == "network_timeout":
        read, errors = int(wanted * rng.uniform(0.08, 0.3)), rng.randint(1, 2)
    for severity, text in _source_incident_lines(build, source, where):
        build.log(SOURCES, source.id, severity, text)
    if read:
        build.log(SOURCES, source.id, "INFO", f"Read {read} records from {where}")
    detected = next((build.store.nodes[child] for child in node.children), None)
    build.measure(SOURCES, source.id, detected.resource_id if detected else None, read, errors)
    return read


def _source_incident_lines(build: _Builder, source: Source, where: str) -> list[tuple[str, str]]:
    profile, rng = build.run.profile, build.rng
    kind = connectors.family(source.source_type)
    host = connectors.host_of(source.source_type, source.config)
    credential = build.store.credentials.get(source.credential_id or -1)
    cred_name = credential.name if credential else "none"
    if profile == "credential_expired":
        first = {
            connectors.API: f'GET {where} failed: 401 Unauthorized - {{"status":"error","message":'
            f'"The OAuth token used to make this call expired {rng.randint(2, 9)} hour(s) '
            f'ago.","category":"EXPIRED_AUTHENTICATION"}} (sent Authorization: Bearer '
            f"{planted.EXPIRED_JWT})",
            connectors.FILE: f"ListObjectsV2 on {where} failed: 401 Unauthorized - ExpiredToken: "
            "The provided token has expired.",
            connectors.DATABASE: f"Connection to {host} rejected: 401 Unauthorized - password "
            "authentication failed: password expired",
        }.get(kind, f"Authentication with {host} failed: 401 Unauthorized - token expired")
        return [
            ("ERROR", first),
            (
                "ERROR",
                f"Source '{source.name}' could not authenticate using "
                f"credential '{cred_name}': token expired",
            ),
        ]
    if profile == "permission_denied":
        if kind == connectors.FILE:
            return [
                (
                    "INFO",
                    f"Storage client initialised for {host} with accessKeyId="
                    f"{planted.AWS_ACCESS_KEY_ID} secretAccessKey={planted.AWS_SECRET_ACCESS_KEY}",
                ),
                (
                    "ERROR",
                    f"GetObject {where}part-{rng.randint(0, 9):05d}.json failed: 403 Forbidden - "
                    "AccessDenied: User: arn:aws:iam::318274650912:user/nexla-reader is not "
                    f"authorized to perform: s3:GetObject on resource: {where}*",
                ),
            ]
        detail = {
            connectors.DATABASE: f"ERROR: permission denied for table {where} (SQLSTATE 42501)",
            connectors.API: '{"error":"insufficient_scope","message":"The app is missing a '
            'scope required to read this resource"}',
        }.get(kind, f"TopicAuthorizationException: not authorized to read {where}")
        return [("ERROR", f"Read of {where} failed: 403 Forbidden - {detail}")]
    if profile == "rate_limited":
        return _throttled_lines(kind, where, host, rng)
    if profile == "network_timeout":
        if kind == connectors.DATABASE:
            return [
                (
                    "ERROR",
                    "java.net.SocketTimeoutException: Read timed out after 30000 ms while "
                    f"reading {where} from {planted.DB_URL}",
                ),
                ("ERROR", f"Connection timed out: connect to {host}:5432 after 30000 ms"),
            ]
        return [
            ("ERROR", f"Read timed out after 30000 ms while fetching {where}"),
            ("ERROR", f"Connection timed out: connect to {host}:443 after 30000 ms"),
        ]
    if profile == "generic_failure":
        return [("ERROR", f"Run failed: upstream returned 500 Internal Server Error from {host}")]
    return []


def _throttled_lines(kind: str, where: str, host: str, rng: random.Random) -> list[tuple[str, str]]:
    """Upstream throttling, worded as each kind of system says it, always with the 429."""
    if kind == connectors.API:
        request = f"GET {where} [X-Shopify-Access-Token: {planted.SHOPIFY_TOKEN}]"
    elif kind == connectors.DATABASE:
        request = f"Query on {where} at {host} (concurrent query quota for this account)"
    elif kind == connectors.FILE:
        request = f"GET {where} (SlowDown: Please reduce your request rate)"
    else:
        request = f"Fetch from {where} (broker client quota exceeded)"
    lines = [
        ("WARNING", f"{request} returned 429 Too Many Requests (Retry-After: 60); backing off 60 s")
        for _ in range(rng.randint(2, 4))
    ]
    batch = rng.randint(3, 40)
    return [
        *lines,
        (
            "ERROR",
            f"Giving up on batch {batch} after 5 attempts: 429 Too Many Requests "
            "- rate limit exceeded",
        ),
    ]


def _data_set_step(build: _Builder, data_set: DataSet, records: int, is_target: bool) -> int:
    profile, rng = build.run.profile, build.rng
    code = build.store.code_containers.get(data_set.code_container_id or -1)
    if code:
        build.log(
            DATA_SETS, data_set.id, "INFO", f"Applying transform '{code.name}' to {records} records"
        )
    errors = 0
    if is_target and profile == "transform_error":
        errors = records
        missing = f"{build.domain.numeric_field}_cents"
        name = code.name if code else data_set.name
        for _ in range(3):
            build.log(
                DATA_SETS,
                data_set.id,
                "ERROR",
                f"Transform failed: KeyError '{missing}' in code "
                f"container '{name}' at record offset {rng.randint(0, records - 1)}",
            )
    elif is_target and profile == "schema_mismatch":
        errors = int(records * rng.uniform(0.3, 0.45))
        for _ in range(3):
            value = rng.choice(["12,50", "N/A", "1 204.00", "$88.10"])
            build.log(
                DATA_SETS,
                data_set.id,
                "ERROR",
                "Schema validation failed: field "
                f"'{build.domain.numeric_field}' expected number, got string (value \"{value}\") "
                f"at record offset {rng.randint(0, records - 1)}",
            )
    elif is_target and profile == "high_error_rate" and is_error_run(build.run, rng):
        errors = max(1, int(records * rng.uniform(0.03, 0.08)))
        for reason in rng.sample(_RECORD_REJECTIONS, 3):
            build.log(
                DATA_SETS,
                data_set.id,
                "ERROR",
                f"{reason} (record offset {rng.randint(0, records)})",
            )
    build.measure(DATA_SETS, data_set.id, data_set.id, records - errors, errors)
    return records - errors


def _sink_step(build: _Builder, sink: Sink, records: int, is_first: bool) -> None:
    rng = build.rng
    where = connectors.location(sink.sink_type, sink.config)
    errors = 0
    if is_first and build.run.profile == "resource_conflict":
        errors = max(1, int(records * rng.uniform(0.08, 0.2)))
        kind = connectors.family(sink.sink_type)
        key = build.domain.key_field
        value = rng.randint(10000, 99999)
        text = {
            connectors.DATABASE: f"Write failed for {errors} records: ERROR: duplicate key value "
            f'violates unique constraint "{sink.config.get("table", "target")}_pkey" - Key '
            f"({key})=({value}) already exists (409 Conflict)",
            connectors.API: f'POST {where} returned 409 Conflict: {{"error":"DUPLICATE_VALUE",'
            f'"message":"Record with {key}={value} already exists"}}',
        }.get(
            kind,
            f"Write to {where} failed: 409 Conflict - object already exists and overwrite "
            "is disabled",
        )
        build.log(SINKS, sink.id, "ERROR", text)
    written = records - errors
    if written:
        build.log(SINKS, sink.id, "INFO", f"Wrote {written} records to {where}")
    build.measure(SINKS, sink.id, sink.data_set_id, written, errors)
