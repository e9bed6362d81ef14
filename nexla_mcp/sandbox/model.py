"""In-memory records of the simulated Nexla org.

Times are integer epoch milliseconds throughout; views turn them into ISO strings.
Resource records hold only what the API exposes or what the simulation needs to decide
how a flow behaves; secrets live in `Credential.secrets` and are never rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SOURCES = "data_sources"
DATA_SETS = "data_sets"
SINKS = "data_sinks"
FLOW_RESOURCE_TYPES = (SOURCES, DATA_SETS, SINKS)

# Flow-log and notification vocabulary for the same three resource kinds (fact sheet §1.4).
LOG_RESOURCE_TYPE = {SOURCES: "SOURCE", DATA_SETS: "DATASET", SINKS: "SINK"}
NODE_TYPE = {SOURCES: "data_source", DATA_SETS: "data_set", SINKS: "data_sink"}

ACTIVE, PAUSED, INIT = "ACTIVE", "PAUSED", "INIT"
ACCESS_ROLES = ("owner", "admin", "operator", "collaborator")
# The collections with accessors and an audit log.
ACCESS_COLLECTIONS = (
    "data_sources",
    "data_sets",
    "data_sinks",
    "data_credentials",
    "flows",
    "transforms",
    "code_containers",
)


@dataclass(slots=True)
class User:
    id: int
    email: str
    full_name: str


@dataclass(slots=True)
class Team:
    id: int
    name: str


@dataclass(slots=True)
class Credential:
    id: int
    name: str
    credentials_type: str
    secrets: dict[str, str]
    non_secure: dict[str, Any]
    created_ms: int
    updated_ms: int
    description: str | None = None
    # "valid", "expired" (authentication fails) or "forbidden" (authenticates, cannot read).
    health: str = "valid"
    verified_status: str | None = "200 Ok"
    verified_ms: int | None = None
    tags: list[str] = field(default_factory=list)
    owner_id: int = 0


@dataclass(slots=True)
class Source:
    id: int
    name: str
    source_type: str
    credential_id: int | None
    config: dict[str, Any]
    node_id: int
    created_ms: int
    updated_ms: int
    status: str = INIT
    description: str | None = None
    ingest_method: str = "POLL"
    source_format: str = "JSON"
    poll_schedule: str | None = None
    tags: list[str] = field(default_factory=list)
    owner_id: int = 0


@dataclass(slots=True)
class DataSet:
    id: int
    name: str
    node_id: int
    created_ms: int
    updated_ms: int
    status: str = INIT
    description: str | None = None
    data_source_id: int | None = None  # set only on the detected nexset
    parent_id: int | None = None  # parent nexset of a derived nexset
    code_container_id: int | None = None
    output_schema: dict[str, Any] = field(default_factory=dict)
    validation_enabled: bool = False
    version: int = 1
    tags: list[str] = field(default_factory=list)
    owner_id: int = 0


@dataclass(slots=True)
class Sink:
    id: int
    name: str
    sink_type: str
    credential_id: int | None
    data_set_id: int
    config: dict[str, Any]
    node_id: int
    created_ms: int
    updated_ms: int
    status: str = INIT
    description: str | None = None
    sink_format: str | None = None
    tags: list[str] = field(default_factory=list)
    owner_id: int = 0


@dataclass(slots=True)
class CodeContainer:
    id: int
    name: str
    code: list[dict[str, Any]]
    created_ms: int
    updated_ms: int
    reusable: bool = True
    code_type: str = "jolt_standard"
    output_type: str = "record"
    code_encoding: str = "none"
    description: str | None = None
    version: int = 1
    tags: list[str] = field(default_factory=list)
    owner_id: int = 0


@dataclass(slots=True)
class Node:
    id: int
    origin_id: int
    parent_id: int | None
    resource_type: str
    resource_id: int
    children: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Segment:
    """A stretch of scheduled runs: one every `interval_ms` from `start_ms` until `end_ms`."""

    start_ms: int
    end_ms: int | None
    interval_ms: int
    profile: str


@dataclass(slots=True, frozen=True)
class Run:
    run_id: int  # epoch ms of the run start, like Nexla's run ids
    profile: str
    index: int  # position in its segment; manual runs use -1


@dataclass(slots=True)
class LogLine:
    timestamp_ms: int
    resource_type: str  # SOURCE | DATASET | SINK
    resource_id: int
    severity: str
    log_type: str
    text: str


@dataclass(slots=True)
class Flow:
    """Origin-level facts about one flow; `id` is the origin node id."""

    id: int
    name: str
    domain: str
    seed: int
    base_records: int
    interval_ms: int
    created_ms: int
    updated_ms: int
    description: str | None = None
    flow_type: str = "batch"
    # How runs behave when nothing else (credential health) overrides it.
    profile: str = "healthy"
    segments: list[Segment] = field(default_factory=list)
    manual_runs: list[Run] = field(default_factory=list)
    extra_logs: dict[int, list[LogLine]] = field(default_factory=dict)


@dataclass(slots=True)
class Notification:
    id: int
    level: str
    resource_type: str
    resource_id: int
    message: str
    ts_ms: int
    owner_id: int
    read: bool = False
    message_id: int = 0


@dataclass(slots=True)
class AuditEntry:
    id: int
    collection: str
    item_id: int
    event: str
    object_changes: dict[str, list[Any]]
    user_id: int
    created_ms: int
    user_agent: str = "nexla-ui/2025.3"
    request_ip: str = "10.20.4.17"


@dataclass(slots=True)
class AsyncTask:
    id: int
    task_type: str
    arguments: dict[str, Any]
    priority: int
    created_ms: int
    owner_id: int
    result: dict[str, Any] | None = None
    error: str | None = None
    acknowledged: bool = False
    takes_ms: int = 3000  # from creation to finished, on the sandbox's clock; started at 1/3
