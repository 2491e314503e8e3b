"""A synthetic fleet drive through `av process`: sync, clips, frames, calibration and the catalog."""

import json
import os
import subprocess
import sys

import dagster as dg
import numpy as np
import polars as pl
import pytest

from av_contracts import tables
from tests.helpers import REPO_ROOT, processed_fleet


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    with processed_fleet(root, "--drives", "1", "--duration", "25", "--seed", "3") as f:
        (row,) = f["rows"]
        sig_md = (
            f["instance"]
            .get_latest_materialization_event(dg.AssetKey(["silver", "signals"]))
            .asset_materialization.metadata
        )
        gt = json.loads(next((f["landing"] / "_ground_truth").glob("*.json")).read_text())
        yield {
            "row": row,
            "lake": f["lake"],
            "drive_id": row["drive_id"],
            "gt": gt,
            "sig_md": sig_md,
            "root": root,
        }


def test_process_materialises_sync_and_catalog(fleet):
    run = fleet["row"]["run"]
    assert run["success"], run
    assert {
        "silver/signals",
        "silver/signals_grid",
        "silver/calibration",
        "silver/clips",
        "silver/frames",
        "catalog/clip_index",
    } <= set(run["materialized"])
    # events measured against the fleet's ground truth, per type, in the run's row
    truth = run["events_vs_truth"]
    assert {"cut_in", "harsh_brake", "lane_change"} <= set(truth)
    for kind, m in truth.items():
        assert m["truth"] == sum(e["type"] == kind for e in fleet["gt"]["events"]), kind
    md = fleet["sig_md"]
    assert md["av/messages"].value == sum(fleet["gt"]["sensor_messages"].values())
    assert md["av/can_frames_unknown_id"].value == 0
    assert md["av/messages_per_s"].value > 1000
    assert md["dagster/row_count"].value > 10_000


def test_signals_decode_can_in_dbc_units_one_row_per_frame(fleet):
    lake, d = fleet["lake"], fleet["drive_id"]
    sig = lake.read_parquet(tables.SIGNALS.rel(drive_id=d))
    ws = sig.filter(pl.col("signal") == "WHEEL_SPEEDS.WHEEL_SPEED_FL")
    assert ws.height == 25 * 50 and set(ws["unit"]) == {"km/h"}  # 50 Hz for 25 s
    assert set(sig.filter(pl.col("source") == "imu")["unit"]) >= {"m/s^2", "rad/s"}
    # CAN speed tracks the true ego speed (ground truth only in the test)
    ego = pl.read_parquet(fleet["root"] / "landing" / "_ground_truth" / fleet["gt"]["ego_trajectory"]["path"])
    v = np.interp(ws["t_raw_ns"].to_numpy(), ego["t_ns"].to_numpy(), ego["speed"].to_numpy()) * 3.6
    assert np.max(np.abs(ws["value"].to_numpy() - v)) < 0.2 + 1.6 * 3.6 * 0.5  # yaw-rate wheel spread


def test_clock_offsets_close_to_truth(fleet):
    clock = fleet["lake"].read_json(f"silver/signals_clock/drive_id={fleet['drive_id']}/clock.json")
    assert clock["reference"] == "gnss"
    truth = fleet["gt"].get("sensor_clocks")
    if truth:  # fleet part 2 injects offsets: the metadata carries our error
        assert all(abs(e) < 50 for e in clock["ground_truth_error_ms"].values())
    else:  # part 1 clocks are perfect: estimates stay within the flag threshold
        assert abs(clock["offsets_ns"]["can0"]) < 50e6 and abs(clock["offsets_ns"]["imu"]) < 50e6
        assert abs(clock["offsets_ns"]["imu"] - clock["offsets_ns"]["can0"]) < 5e6
    assert clock["flagged"] is False


def test_clips_frames_and_calibration(fleet):
    import zarr

    lake, d = fleet["lake"], fleet["drive_id"]
    clips = lake.read_parquet(tables.CLIPS.rel(drive_id=d))
    assert clips.height == 2 and clips["duration_s"].to_list()[0] == 20.0
    assert clips["clip_id"].to_list() == [f"{d}:{t}" for t in clips["t_start_ns"]]
    assert set(clips["policy_version"]) == {"clip-v1"}
    first = clips.row(0, named=True)
    store = zarr.open_group(lake.path(first["frames_shard"]), mode="r")
    img = store["camera/camera_front/image"]
    assert img.shape[0] == first["n_keyframes"] and 39 <= img.shape[0] <= 41 and img.shape[3] == 3  # 2 Hz
    pts = store["lidar/lidar_top/points"]
    assert pts.shape[0] == first["n_lidar_sweeps"] and 199 <= pts.shape[0] <= 201  # 10 Hz
    assert np.isfinite(pts[0, 0, :3]).all()
    assert store.attrs["clip_id"] == first["clip_id"]
    cal = lake.read_json(tables.CALIBRATION.sidecar("calibration.json", drive_id=d))
    assert cal["sensors"]["camera_front"]["intrinsics"]["width"] == 640
    assert cal["sensors"]["lidar_top"]["extrinsics"]["parent"] == "base_link"


def test_clip_index_view_kv_and_text_search(fleet):
    from av_resources.clip_store import ClipStoreResource

    lake, d = fleet["lake"], fleet["drive_id"]
    env = dict(os.environ, AV_LAKE_ROOT=lake.root)
    out = subprocess.run(
        [sys.executable, "-m", "av_cli", "query", "SELECT * FROM clip_index", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 2 and all(r["vehicle_id"] == "sim-veh-01" for r in rows)
    r = rows[0]
    assert r["lat_min"] <= r["lat_centroid"] <= r["lat_max"] and r["distance_m"] > 0
    assert r["route_id"].startswith("route-") and "camera_front" in r["sensors"]
    assert r["utc_start"].endswith("Z") and r["duration_s"] == 20.0
    item = ClipStoreResource().open(lake).get(r["clip_id"])
    assert item["drive_id"] == d
    # the key-value item carries the conditions and events search reports (set after enrichment)
    text = lake.read_parquet(tables.CLIP_TEXT.rel(drive_id=d)).filter(pl.col("clip_id") == r["clip_id"])
    tags = text.select("day_night", "weather", "road_class", "event_types").row(0, named=True)
    assert tags["day_night"] in {"day", "night", "dusk", "dawn"} and tags["weather"], tags
    assert (item["day_night"], item["weather"], item["road_class"]) == (
        tags["day_night"],
        tags["weather"],
        tags["road_class"],
    )
    assert json.loads(item["event_types"]) == [e for e in tags["event_types"].split(",") if e]
    # where the weather came from: the logger's report in drive.json, else (offline) climatology
    (drive_json,) = (fleet["root"] / "landing").glob("*/*/drive.json")
    reported = "weather" in json.loads(drive_json.read_text())
    assert item["weather_source"] == ("drive" if reported else "climatology")
    out = subprocess.run(
        [sys.executable, "-m", "av_cli", "catalog", "search", "urban driving", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)["results"]
    assert {h["clip_id"] for h in hits} == {x["clip_id"] for x in rows}
