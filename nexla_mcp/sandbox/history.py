"""Run history in closed form: which runs a flow had, computed from its schedule on demand.

A flow's history is a list of `Segment`s (a run every `interval_ms` between two instants,
all with one behaviour profile) plus runs started by hand (activation, control API). Runs
are never stored one by one, so a 10,000-flow org costs nothing until someone asks about
a flow, and history keeps flowing as the injected clock moves forward.
"""

from __future__ import annotations

from nexla_mcp.sandbox.model import Flow, Run, Segment

RETENTION_MS = 30 * 24 * 3600 * 1000
MAX_JITTER_MS = 90_000


def _jitter(flow: Flow, segment: Segment, index: int) -> int:
    """A small, stable offset so runs do not all start on the same millisecond."""
    span = min(MAX_JITTER_MS, segment.interval_ms // 10) or 1
    mixed = (flow.seed * 2654435761 + index * 40503 + segment.start_ms) % 1_000_003
    return mixed % span


def _run_time(flow: Flow, segment: Segment, index: int) -> int:
    return segment.start_ms + index * segment.interval_ms + _jitter(flow, segment, index)


def _index_range(flow: Flow, segment: Segment, since_ms: int, until_ms: int) -> range:
    """Indexes of the segment's runs that started within [since_ms, until_ms]."""
    upper = until_ms if segment.end_ms is None else min(until_ms, segment.end_ms)
    if upper < segment.start_ms:
        return range(0)
    last = (upper - segment.start_ms) // segment.interval_ms
    if _run_time(flow, segment, last) > upper:
        last -= 1
    first = max(0, (since_ms - segment.start_ms) // segment.interval_ms)
    if first <= last and _run_time(flow, segment, first) < since_ms:
        first += 1
    return range(first, last + 1)


def runs(
    flow: Flow, now_ms: int, since_ms: int | None = None, until_ms: int | None = None
) -> list[Run]:
    """The flow's runs started within [since_ms, until_ms] and not in the future, oldest first."""
    low = max(now_ms - RETENTION_MS, since_ms if since_ms is not None else 0)
    high = now_ms if until_ms is None else min(now_ms, until_ms)
    found = [
        Run(_run_time(flow, segment, index), segment.profile, index)
        for segment in flow.segments
        for index in _index_range(flow, segment, low, high)
    ]
    found.extend(run for run in flow.manual_runs if low <= run.run_id <= high)
    found.sort(key=lambda run: run.run_id)
    return found


def recent_runs(flow: Flow, now_ms: int, count: int) -> list[Run]:
    """The last `count` runs, oldest first, touching only the tail of each segment."""
    found = [
        Run(_run_time(flow, segment, index), segment.profile, index)
        for segment in flow.segments
        for index in _index_range(flow, segment, now_ms - RETENTION_MS, now_ms)[-count:]
    ]
    found.extend(run for run in flow.manual_runs[-count:] if run.run_id <= now_ms)
    found.sort(key=lambda run: run.run_id)
    return found[-count:]


def last_run(flow: Flow, now_ms: int) -> Run | None:
    """The most recent run that has started by now, without enumerating history."""
    best: Run | None = None
    for segment in flow.segments:
        indexes = _index_range(flow, segment, now_ms - RETENTION_MS, now_ms)
        if indexes:
            index = indexes[-1]
            candidate = Run(_run_time(flow, segment, index), segment.profile, index)
            if best is None or candidate.run_id > best.run_id:
                best = candidate
    for run in reversed(flow.manual_runs):
        if run.run_id <= now_ms:
            if best is None or run.run_id > best.run_id:
                best = run
            break
    return best


def find_run(flow: Flow, run_id: int, now_ms: int) -> Run | None:
    for run in flow.manual_runs:
        if run.run_id == run_id:
            return run
    if run_id > now_ms or run_id < now_ms - RETENTION_MS:
        return None
    for segment in flow.segments:
        approx = (run_id - segment.start_ms) // segment.interval_ms
        for index in (approx - 1, approx, approx + 1):
            if index >= 0 and _run_time(flow, segment, index) == run_id:
                end = segment.end_ms
                if end is None or run_id <= end:
                    return Run(run_id, segment.profile, index)
    return None


def stop_schedule(flow: Flow, now_ms: int) -> None:
    for segment in flow.segments:
        if segment.end_ms is None or segment.end_ms > now_ms:
            segment.end_ms = now_ms


def start_schedule(flow: Flow, now_ms: int, profile: str) -> None:
    """Schedule runs every interval from one interval after now, replacing any open schedule."""
    stop_schedule(flow, now_ms)
    flow.segments.append(Segment(now_ms + flow.interval_ms, None, flow.interval_ms, profile))


def switch_profile(flow: Flow, now_ms: int, profile: str) -> None:
    """Make scheduled runs after now behave per `profile`, keeping the schedule's rhythm."""
    for segment in flow.segments:
        if segment.end_ms is None and segment.profile != profile:
            elapsed = max(0, now_ms - segment.start_ms)
            next_start = (
                segment.start_ms + (elapsed // segment.interval_ms + 1) * segment.interval_ms
            )
            segment.end_ms = now_ms
            flow.segments.append(Segment(next_start, None, segment.interval_ms, profile))
            return


def add_manual_run(flow: Flow, now_ms: int, profile: str) -> Run:
    run_id = now_ms
    taken = {run.run_id for run in flow.manual_runs}
    while run_id in taken or find_run(flow, run_id, now_ms) is not None:
        run_id += 1
    run = Run(run_id, profile, -1)
    flow.manual_runs.append(run)
    flow.manual_runs.sort(key=lambda item: item.run_id)
    return run


def reset_history(flow: Flow) -> None:
    flow.segments.clear()
    flow.manual_runs.clear()
    flow.extra_logs.clear()
