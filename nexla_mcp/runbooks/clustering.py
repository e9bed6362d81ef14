"""Cluster log lines into templates so thousands of lines read as a handful of distinct problems.

A template is the line with its variable parts masked: URLs, e-mail addresses, UUIDs, timestamps,
IP addresses, quoted values, paths, hex strings, digit-bearing identifiers and numbers. Two lines
that differ only in those parts share a template, e.g.::

    Write failed for record 1201: column "amount" expected NUMBER, got '19.99x'
    Write failed for record 88: column "total" expected NUMBER, got 'abc'
    -> Write failed for record <n>: column <str> expected NUMBER, got <str>

This is a small masked-template approach rather than a streaming miner such as Drain3: it needs
no dependency (drain3's last release is from 2022), it is order-independent (a template never
depends on which line came first), deterministic, and fast enough — every distinct message is
masked once with a single compiled regex, so repeated lines cost a dict lookup.

Secrets are redacted *before* masking, so a password in a log line neither leaks through the
example nor splits one problem into many templates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from nexla_mcp.invisible import FORMAT_CHARS, strip_invisible
from nexla_mcp.redaction import redact_text

__all__ = [
    "FORMAT_CHARS",
    "LogCluster",
    "LogLine",
    "cluster_log_lines",
    "normalize_severity",
    "severity_rank",
    "strip_invisible",
    "template_of",
]

# Only the head of a pathological line is templated; beyond this nothing distinguishes problems.
MAX_TEMPLATED_CHARS = 2_000
MAX_TEMPLATE_CHARS = 300
DEFAULT_EXAMPLE_CHARS = 300
# Per-cluster lists of runs and resources stay short: they point somewhere, they are not a dump.
MAX_LISTED_RUNS = 5
MAX_LISTED_RESOURCES = 5

_SEVERITY_ALIASES = {
    "WARN": "WARNING",
    "ERR": "ERROR",
    "FATAL": "ERROR",
    "CRITICAL": "ERROR",
    "SEVERE": "ERROR",
    "TRACE": "DEBUG",
}
_SEVERITY_RANKS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


def normalize_severity(severity: str | None) -> str:
    """Upper-case a severity and fold the aliases Nexla and its SDK mocks use (WARN, FATAL …)."""
    value = (severity or "INFO").strip().upper() or "INFO"
    return _SEVERITY_ALIASES.get(value, value)


def severity_rank(severity: str | None) -> int:
    """Order severities: DEBUG < INFO < WARNING < ERROR; unknown values rank as INFO."""
    return _SEVERITY_RANKS.get(normalize_severity(severity), _SEVERITY_RANKS["INFO"])


def _default_clean(text: str) -> str:
    return strip_invisible(redact_text(text))


# --- masking ---------------------------------------------------------------------------------

# One alternation for the space-free parts, tried left to right at each position: the leftmost
# match wins, and at one position the earlier (more specific) alternative wins, so a URL is never
# chewed into numbers.
_MASK_PATTERN = re.compile(
    r"""
    (?P<url>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'"<>`]+)
  | (?P<email>(?<![\w.+-])[\w.+-]++@[\w-]+(?:\.[\w-]+)+\b)
  | (?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)
  | (?P<ts>\b\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b
          |\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b)
  | (?P<ip>\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b)
  | (?P<path>(?<![\w.~-])(?:[A-Za-z]:\\|~?/|\.{1,2}/)?[\w.~-]++(?:[/\\][\w.~-]++)+[/\\]?
            |(?<![\w.])/[\w.~-]+)
  | (?P<hex>\b0[xX][0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b)
  | (?P<ident>\b(?=[A-Za-z_-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9][\w-]{7,}\b)
  | (?P<n>\d+(?:\.\d+)?)
    """,
    re.VERBOSE,
)
_PLACEHOLDERS = {
    "url": "<url>",
    "email": "<email>",
    "uuid": "<uuid>",
    "ts": "<ts>",
    "ip": "<ip>",
    "path": "<path>",
    "hex": "<hex>",
    "ident": "<id>",
    "n": "<n>",
}
# Values that may contain spaces (quoted values, "date time" stamps) are masked first and whole;
# then only the space-free stretches holding a digit or one of / @ \\ : can hold anything else to
# mask, and only those pay for the full pattern: about twice as fast as running it everywhere.
_SPANNING = re.compile(
    r"""(?P<quoted>'[^'\n]{0,500}'|"[^"\n]{0,500}"|`[^`\n]{0,500}`)
      | (?P<ts>\b\d{4}-\d{2}-\d{2}\x20\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?
               (?:Z|[+-]\d{2}:?\d{2})?\b)""",
    re.VERBOSE,
)
_CANDIDATE = re.compile(r"""[^\s'"`]*[\d/@\\:][^\s'"`]*""")
_FILE_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,5}$")
_WHITESPACE = re.compile(r"\s+")


def _looks_like_path(text: str) -> bool:
    # "and/or" and "records/s" are prose; a path is rooted, deep, or ends in a file name.
    if text[:1] in "/~." or text[1:3] == ":\\":
        return True
    return text.count("/") + text.count("\\") >= 2 or bool(_FILE_EXTENSION.search(text))


def _mask(match: re.Match[str]) -> str:
    kind = match.lastgroup or "n"
    if kind == "path" and not _looks_like_path(match.group(0)):
        # Not a path: mask only the digits inside it so "v2/v3" and "v4/v5" still agree.
        return re.sub(r"\d+", "<n>", match.group(0))
    return _PLACEHOLDERS[kind]


def _mask_spanning(match: re.Match[str]) -> str:
    return "<str>" if match.lastgroup == "quoted" else "<ts>"


def _mask_candidate(match: re.Match[str]) -> str:
    return _MASK_PATTERN.sub(_mask, match.group(0))


def template_of(message: str) -> str:
    """The message with every variable part replaced by a ``<kind>`` placeholder."""
    spanning = _SPANNING.sub(_mask_spanning, message[:MAX_TEMPLATED_CHARS])
    masked = _CANDIDATE.sub(_mask_candidate, spanning)
    return _cap(_WHITESPACE.sub(" ", masked).strip(), MAX_TEMPLATE_CHARS)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- clustering ------------------------------------------------------------------------------


class LogLine(NamedTuple):
    """One log entry, as far as clustering cares."""

    message: str
    severity: str = "INFO"
    timestamp: datetime | None = None
    run_id: int | None = None
    resource_type: str | None = None
    resource_id: int | None = None


@dataclass(frozen=True)
class LogCluster:
    """Lines that share a template (and a severity), with where and when they occurred.

    ``example`` is the first occurrence in time, cleaned (secrets redacted, invisible characters
    removed) and capped. ``run_ids`` and ``resources`` list at most five entries each, newest run
    first; ``run_count``/``resource_count`` say how many there were in all.
    """

    template: str
    severity: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    example: str
    run_ids: tuple[int, ...] = ()
    run_count: int = 0
    resources: tuple[tuple[str, int], ...] = ()
    resource_count: int = 0


@dataclass
class _Accumulator:
    template: str
    severity: str
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    example_source: str = ""
    example_time: datetime | None = None
    runs: set[int] = field(default_factory=set)
    resources: set[tuple[str, int]] = field(default_factory=set)

    def add(self, line: LogLine, cleaned: str) -> None:
        self.count += 1
        when = line.timestamp
        if when is not None:
            if self.first_seen is None or when < self.first_seen:
                self.first_seen = when
            if self.last_seen is None or when > self.last_seen:
                self.last_seen = when
        if not self.example_source or _earlier(
            when, self.example_time, cleaned, self.example_source
        ):
            self.example_source, self.example_time = cleaned, when
        if line.run_id is not None:
            self.runs.add(line.run_id)
        if line.resource_type and line.resource_id is not None:
            self.resources.add((line.resource_type.upper(), line.resource_id))


_EPOCH = datetime.min.replace(tzinfo=UTC)


def _earlier(when: datetime | None, best: datetime | None, text: str, best_text: str) -> bool:
    # The example is the earliest line; ties (or missing times) go to the smaller text, so the
    # choice never depends on input order.
    key = (when is None, when or _EPOCH, text)
    best_key = (best is None, best or _EPOCH, best_text)
    return key < best_key


def cluster_log_lines(
    lines: Iterable[LogLine],
    *,
    clean: Callable[[str], str] = _default_clean,
    example_chars: int = DEFAULT_EXAMPLE_CHARS,
) -> list[LogCluster]:
    """Group lines by (severity, template), most frequent first.

    ``clean`` is applied to each distinct message before masking (default: redact secrets, strip
    invisible characters). Ordering is count descending, then severity (worst first), then
    template text, so the same lines always give the same list whatever their order.
    """
    templates: dict[str, tuple[str, str]] = {}  # raw message -> (cleaned, template)
    clusters: dict[tuple[str, str], _Accumulator] = {}
    for line in lines:
        known = templates.get(line.message)
        if known is None:
            cleaned = clean(line.message[:MAX_TEMPLATED_CHARS])
            known = templates[line.message] = (cleaned, template_of(cleaned))
        cleaned, template = known
        severity = normalize_severity(line.severity)
        key = (severity, template)
        accumulator = clusters.get(key)
        if accumulator is None:
            accumulator = clusters[key] = _Accumulator(template=template, severity=severity)
        accumulator.add(line, cleaned)
    ordered = sorted(
        clusters.values(),
        key=lambda c: (-c.count, -severity_rank(c.severity), c.template),
    )
    return [_freeze(accumulator, example_chars) for accumulator in ordered]


def _freeze(acc: _Accumulator, example_chars: int) -> LogCluster:
    resources = sorted(acc.resources)
    return LogCluster(
        template=acc.template,
        severity=acc.severity,
        count=acc.count,
        first_seen=acc.first_seen,
        last_seen=acc.last_seen,
        example=_cap(_WHITESPACE.sub(" ", acc.example_source).strip(), example_chars),
        run_ids=tuple(sorted(acc.runs, reverse=True)[:MAX_LISTED_RUNS]),
        run_count=len(acc.runs),
        resources=tuple(resources[:MAX_LISTED_RESOURCES]),
        resource_count=len(resources),
    )
