"""Builds a scenes test fleet: simulate (av_fleet, through the CLI), ingest, then the per-drive job
(`av process`'s job) over the upstream assets, road context (enrich, when it materialises) and the scenes
assets. Used by the session fixture and runnable by hand to keep a fleet for debugging:

    .venv/bin/python -m tests.scenes.fleet /tmp/scn/fleet
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import REPO_ROOT

UPSTREAM = [
    "bronze/drive_files",
    "bronze/drive_manifest",
    "silver/signals",
    "silver/signals_grid",
    "silver/calibration",
    "silver/clips",
    "silver/frames",
]
ROAD = ["silver/road_context"]
SCENES = ["silver/object_tracks", "silver/event_detections"]
# (seed, drives, seconds): drives of 120 s hold speeding and near-speeding episodes as well
FLEETS = ((11, 2, 120.0), (23, 2, 120.0))
CAMERA = "160x90"  # the camera is not used by this domain: the smallest render keeps the fixture fast


def simulate(landing: Path, fleets=FLEETS) -> None:
    for seed, drives, seconds in fleets:
        out = landing / f"seed{seed}"
        if (out / "_ground_truth").exists():
            continue
        cmd = [
            sys.executable,
            "-m",
            "av_cli",
            "fleet",
            "simulate",
            "--out",
            str(out),
            "--drives",
            str(drives),
            "--duration",
            str(seconds),
            "--seed",
            str(seed),
            "--camera",
            CAMERA,
        ]
        subprocess.run(cmd, check=True, cwd=REPO_ROOT, capture_output=True, timeout=900)


def build(root: Path, fleets=FLEETS) -> dict:
    """Everything under `root` (landing, lake, DAGSTER_HOME). Sets the environment it needs (the caller
    restores it). Returns {"lake", "landing", "gt_roots", "drives": {id: {...}}}."""
    import dagster as dg

    from av_assets.definitions import defs
    from av_assets.ingest.cli import ingest_path
    from av_assets.ingest.sensors import JOB_NAME
    from av_assets.platform.partitions import DRIVES
    from av_resources.lake import LakeStorage

    landing = root / "landing"
    simulate(landing, fleets)
    (root / "home").mkdir(exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(root / "home")
    os.environ["AV_LAKE_ROOT"] = str(root / "lake")
    # one ground-truth folder per seed: link every drive's record into one root
    gt_all = root / "ground_truth"
    gt_all.mkdir(exist_ok=True)
    for seed, _, _ in fleets:
        for f in (landing / f"seed{seed}" / "_ground_truth").iterdir():
            dst = gt_all / f.name
            if not dst.exists():
                dst.symlink_to(f)
    os.environ["AV_GROUND_TRUTH_ROOT"] = str(gt_all)
    lake = LakeStorage(root=str(root / "lake"))
    out: dict = {"lake": lake, "root": root, "landing": landing, "gt_root": gt_all, "drives": {}}
    with dg.DagsterInstance.get() as instance:
        ids = []
        for seed, _, _ in fleets:
            ids += [
                r.drive_id for r in ingest_path(landing / f"seed{seed}", lake=lake) if r.status == "ingested"
            ]
        instance.add_dynamic_partitions(DRIVES.name, ids)
        job = defs().resolve_job_def(JOB_NAME)  # the job `av process` runs; redaction left out for time
        for d in ids:
            t0 = time.perf_counter()
            res = job.execute_in_process(
                instance=instance,
                partition_key=d,
                raise_on_error=False,
                asset_selection=[dg.AssetKey(k.split("/")) for k in UPSTREAM + ROAD + SCENES],
            )
            failed = sorted({e.step_key for e in res.all_events if e.event_type_value == "STEP_FAILURE"})
            md = {}
            for k in SCENES + ROAD:
                ev = instance.get_latest_materialization_event(dg.AssetKey(k.split("/")))
                md[k] = (
                    ev.asset_materialization.metadata
                    if ev and ev.asset_materialization.partition == d
                    else None
                )
            out["drives"][d] = {
                "success": res.success,
                "failed_steps": failed,
                "md": md,
                "wall_s": round(time.perf_counter() - t0, 1),
            }
    return out


if __name__ == "__main__":
    import json

    r = build(Path(sys.argv[1]))
    print(
        json.dumps({d: {k: v for k, v in x.items() if k != "md"} for d, x in r["drives"].items()}, indent=1)
    )
