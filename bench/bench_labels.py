"""Labels: auto-labelling throughput in keyframes/s of one processed drive, vs reading the same inputs.

- ours: `read_drive` (redacted keyframe index, object tracks, ego motion from signals, calibration,
  the lidar sweeps nearest the keyframes) + `label_drive` with `LabellerPolicy()` and
  `RoutingPolicy()` (candidates from RTS-smoothed tracks, cuboid projection with occlusion, camera
  and lidar evidence, the weak-supervision label model, routing): the ml/labels computation without
  masks and without the Parquet writes.
- reference: the keyframe index read and every redacted keyframe JPEG decoded (grayscale, as the
  labeller decodes them) plus the object tracks read, in the same run: the floor of touching the
  images a labeller looks at.
- keyframes/s = redacted keyframes of the drive / wall seconds, for both sides.

Data (prepared once per process, untimed): a synthetic fleet of 1 drive x 20 s (seed 5) simulated and
run through `av process` on a lake and Dagster home of its own in a temp folder (about a minute).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from pathlib import Path

_STATE: dict = {}


def _drive() -> dict:
    if "drive" not in _STATE:
        from tests.helpers import REPO_ROOT, processed_fleet

        root = Path(tempfile.mkdtemp(prefix="av-bench-labels-"))
        atexit.register(shutil.rmtree, root, True)
        (root / "home").mkdir()
        shutil.copy(REPO_ROOT / "dagster.yaml", root / "home" / "dagster.yaml")  # the repo's instance
        # env (DAGSTER_HOME, AV_LAKE_ROOT...) is set only while the fleet is processed
        with processed_fleet(root, "--drives", "1", "--duration", "20", "--seed", "5") as f:
            (row,) = [r for r in f["rows"] if r["status"] != "quarantined"]
            lake = f["lake"]
        _STATE["drive"] = {"lake": lake, "drive_id": row["drive_id"]}
    return _STATE["drive"]


def _keyframes(s) -> int:
    from av_contracts import tables

    return s["lake"].read_parquet(tables.REDACTED_FRAMES.rel(drive_id=s["drive_id"])).height


def autolabel_keyframes_per_s() -> float:
    from av_assets.labels.inputs import read_drive
    from av_assets.labels.label_drive import label_drive
    from av_assets.labels.policy import LabellerPolicy, RoutingPolicy

    s = _drive()
    policy = LabellerPolicy()
    t = time.perf_counter()
    inputs = read_drive(s["lake"], s["drive_id"], policy.lidar_sweep_tolerance_s)
    out = label_drive(s["lake"], inputs, policy, RoutingPolicy())
    dt = time.perf_counter() - t
    assert out.frames.height == inputs.keyframes.height > 0
    return inputs.keyframes.height / dt


def read_keyframes_per_s() -> float:
    import cv2
    import numpy as np

    from av_contracts import tables

    s = _drive()
    lake, drive_id = s["lake"], s["drive_id"]
    t = time.perf_counter()
    keyframes = lake.read_parquet(tables.REDACTED_FRAMES.rel(drive_id=drive_id))
    for path in keyframes["path"].to_list():
        img = cv2.imdecode(np.frombuffer(lake.read_bytes(path), np.uint8), cv2.IMREAD_GRAYSCALE)
        assert img is not None
    lake.read_parquet(tables.OBJECT_TRACKS.rel(drive_id=drive_id))
    return keyframes.height / (time.perf_counter() - t)


CASES = [
    {
        "name": "labels auto-label 20 s drive vs decoding its keyframes",
        "unit": "keyframes/s",
        "run": autolabel_keyframes_per_s,
        "reference": read_keyframes_per_s,
    }
]


if __name__ == "__main__":
    from bench.run import main, module_cli

    module_cli(__doc__)
    raise SystemExit(main(["bench_labels"]))
