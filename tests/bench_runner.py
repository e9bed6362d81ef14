"""Run a ``bench/`` script as the README documents it, for the benchmarks' smoke tests."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["run_bench"]

ROOT = Path(__file__).resolve().parent.parent


def run_bench(
    script: str, args: Sequence[str], out: Path, *, timeout: float
) -> tuple[str, dict[str, Any]]:
    """Run ``bench/<script> <args> --out <out>`` from the repository root; assert it exits 0
    (showing the end of its stderr if not) and return its stdout and the results it wrote."""
    finished = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-2000:]
    return finished.stdout, json.loads(out.read_text())
