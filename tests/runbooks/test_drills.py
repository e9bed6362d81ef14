"""The drill corpus as tests: every messy incident gets the verdict a data engineer would give.

Each drill (``bench/drill_corpus.py``) is set up in a fresh sandbox through the control API
and judged by ``diagnose_flow``, ``check_flow_health`` and ``org_health`` (``bench/drills.py``
holds the runner, so the bench and the tests judge alike); a drill passes when the category,
the resource, recovery, the first safe step, the unsafe steps left out, the other causes, the
summary's wording and the other two tools' answers are all as expected.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from drill_corpus import CLASSES, DRILLS, Drill, Expect
from drills import Outcome, judge, run_drill

pytestmark = pytest.mark.anyio


def test_the_corpus_holds_at_least_sixty_drills_covering_every_class_alone_and_combined() -> None:
    assert len(DRILLS) >= 60
    assert len({drill.name for drill in DRILLS}) == len(DRILLS)
    for name in CLASSES:
        alone = [d for d in DRILLS if d.classes == (name,)]
        combined = [d for d in DRILLS if name in d.classes and len(d.classes) > 1]
        assert len(alone) >= 5, name
        assert combined, name


def test_the_drills_span_source_types_and_schedules() -> None:
    flows = {drill.flow_id for drill in DRILLS}
    schedules = {drill.body.get("interval_min") for drill in DRILLS}
    assert len(flows) >= 12  # S3, GCS, SFTP, FTP, Postgres, MySQL, Kafka, REST APIs
    assert {16, 1440} <= schedules


@pytest.mark.parametrize("drill", DRILLS, ids=[drill.name for drill in DRILLS])
async def test_drill(drill: Drill) -> None:
    outcome = await run_drill(drill)
    assert outcome.passed, (outcome.failures, outcome.diagnosis and outcome.diagnosis.summary)


async def test_the_judge_fails_a_wrong_verdict() -> None:
    """The runner is not a rubber stamp: the same drill with a wrong expectation fails."""
    drill = next(d for d in DRILLS if d.name.startswith("transform broken for hours"))
    wrong = Drill(drill.name, drill.classes, drill.flow_id, drill.body,
                  Expect("transform_error", "nexset", forbid=("probe_credential",)))  # fmt: skip
    outcome = await run_drill(wrong)
    assert not outcome.passed
    assert any("category credential_expired" in failure for failure in outcome.failures)
    assert any("unsafe step probe_credential" in failure for failure in outcome.failures)
    assert judge(Outcome(wrong)) == ["diagnose_flow failed: None"]
