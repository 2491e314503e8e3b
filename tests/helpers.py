"""Helpers shared by tests (not fixtures)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir(*parts: str) -> Path:
    """../shared/data (or $AV_SHARED_DATA); skips the test cleanly where the folder is absent."""
    base = Path(os.environ.get("AV_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")
    path = base.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (set AV_SHARED_DATA)")
    return path


@contextlib.contextmanager
def processed_fleet(root: Path, *simulate_args: str):
    """Simulate a fleet with `av fleet simulate --out <root>/landing <simulate_args>` and run
    `av process` over it on a home and lake of its own, with the evaluation resource pointed at the
    fleet's ground truth. Yields {rows, lake, landing, home, instance}; env restored afterwards."""
    import subprocess
    import sys

    import dagster as dg

    from av_assets.ingest.cli import process_path
    from av_resources.lake import LakeStorage

    landing, home = root / "landing", root / "home"
    home.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "av_cli", "fleet", "simulate", "--out", str(landing), *simulate_args]
    subprocess.run(cmd, check=True, cwd=REPO_ROOT, capture_output=True, timeout=300)
    mp = pytest.MonkeyPatch()
    mp.setenv("DAGSTER_HOME", str(home))
    mp.setenv("AV_LAKE_ROOT", str(root / "lake"))
    mp.setenv("AV_GROUND_TRUTH_ROOT", str(landing / "_ground_truth"))
    lake = LakeStorage(root=str(root / "lake"))
    try:
        with dg.DagsterInstance.get() as instance:
            rows = process_path(landing, lake=lake, instance=instance)
            yield {"rows": rows, "lake": lake, "landing": landing, "home": home, "instance": instance}
    finally:
        mp.undo()
