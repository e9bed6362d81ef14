from __future__ import annotations

import re

import anyio
import httpx
import pytest

from nexla_mcp.demo import NEXT_STEPS, Finding, likely_cause, main
from nexla_mcp.sandbox import PLANTED_SECRETS, create_app

# Scenario kinds the demo must name as broken: every flow with failing runs, and stale data.
# Paused-on-purpose, never-activated and healthy flows are not broken.
BROKEN_KINDS = {
    "credential_expired",
    "permission_denied",
    "transform_error",
    "schema_mismatch",
    "rate_limited",
    "network_timeout",
    "resource_conflict",
    "flow_not_running",
    "high_error_rate",
    "stale_data",
}
FINDING = re.compile(r"^- Flow (\d+) '([^']*)' .*\n  likely cause: .* \[(\w+)\]$", re.MULTILINE)


def seeded_scenarios() -> list[dict[str, object]]:
    async def fetch() -> list[dict[str, object]]:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            return (await http.get("/_sandbox/scenarios")).json()["scenarios"]

    return anyio.run(fetch)


@pytest.mark.parametrize("argv", [[], ["--protocol", "legacy"]], ids=["auto", "legacy"])
def test_demo_names_every_broken_flow_and_its_cause(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The transcript names each broken seeded flow with the cause its scenario planted."""
    assert main(argv) == 0
    transcript = capsys.readouterr().out
    found = {int(flow_id): (name, cause) for flow_id, name, cause in FINDING.findall(transcript)}
    broken = [row for row in seeded_scenarios() if row["kind"] in BROKEN_KINDS]
    assert len(broken) == len(BROKEN_KINDS)
    for scenario in broken:
        assert scenario["flow_id"] in found, f"{scenario['kind']} flow missing from the findings"
        assert found[scenario["flow_id"]][1] == scenario["expected_category"], scenario["kind"]
    assert set(found) == {row["flow_id"] for row in broken}
    assert "> list_flows(has_recent_errors=True" in transcript
    assert "> probe_credential(" in transcript and "> get_flow_logs(" in transcript
    assert not [secret for secret in PLANTED_SECRETS if secret in transcript]


def test_demo_shows_diagnose_flow_reaching_each_verdict_in_one_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every broken flow is also diagnosed in one call, and that verdict is the planted cause."""
    assert main([]) == 0
    transcript = capsys.readouterr().out
    verdicts = dict(
        re.findall(r"^- Flow (\d+) .*?\n(?:  .*\n)*?  diagnose_flow, in one call: (\w+) ",
                   transcript, flags=re.MULTILINE)
    )  # fmt: skip
    broken = [row for row in seeded_scenarios() if row["kind"] in BROKEN_KINDS]
    assert {int(k): v for k, v in verdicts.items()} == {
        row["flow_id"]: row["expected_category"] for row in broken
    }
    assert transcript.count("> diagnose_flow(") == len(broken)


def test_likely_cause_weighs_credential_evidence_before_log_wording() -> None:
    """An expired credential explains 401s; without it the log wording decides."""
    timeout = [{"template": "Read timed out after <n> ms", "severity": "ERROR", "count": 2}]
    finding = Finding(flow_id=1, name="f", health="failing", templates=timeout)
    assert likely_cause(finding) == "network_timeout"
    finding.probe_status = "expired"
    assert likely_cause(finding) == "credential_expired"
    assert likely_cause(Finding(flow_id=2, name="g", health="degraded")) == "unknown"


def test_demo_leads_with_findings_worst_first_and_ends_with_the_next_step(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Findings come before the ~150-line transcript, failing before degraded before stale,
    and the last lines say how to go from the sandbox to a real org and a host."""
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.index("== Findings, worst flow first ==") < out.index("== Transcript ==")
    assert out.index("== Transcript ==") < out.index("> list_flows(")
    healths = re.findall(r"^- Flow \d+ '[^']*' \((\w+)", out, flags=re.MULTILINE)
    rank = {"failing": 0, "degraded": 1, "stale": 2}
    assert [rank[h] for h in healths] == sorted(rank[h] for h in healths)
    assert healths[0] == "failing" and healths[-1] == "stale"
    since = re.findall(r"^- Flow \d+ '[^']*' \(failing, failing since (\S+)\)", out, re.MULTILINE)
    assert since == sorted(since), "among failing flows, the longest failing comes first"
    assert out.rstrip().endswith(NEXT_STEPS)
    assert "nexla-mcp doctor" in NEXT_STEPS and "NEXLA_SERVICE_KEY" in NEXT_STEPS


def test_demo_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    """`nexla-mcp demo --help` shows no docstring markup."""
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "``" not in out and "usage: nexla-mcp demo" in out
