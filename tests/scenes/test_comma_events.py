"""Real data: the comma2k19 minute (2018 Toyota RAV4, I-280) through the scenes detectors.

The drive is packed by tests/sync/comma.py (powertrain CAN bus 0, IMU, GNSS), ingested and run
through the per-drive job up to silver/event_detections. The packer leaves out the radar bus, so the
radar lead-vehicle report decodes the Toyota radar's TRACK_A_* frames (bus 1, opendbc
`toyota_adas`) from the raw log, feeds them to our tracker as radar frames and runs `lead_vehicles`
over the tracks. Every number asserted here was checked against the raw log (see the comments and
docs/scenes.md "Real data")."""

import json

import numpy as np
import polars as pl
import pytest

from av_assets.scenes.policy import DEFAULT_POLICY
from av_assets.shared.ego import ego_state, smooth
from av_contracts import tables
from tests.helpers import shared_data_dir

SELECTION = [
    "bronze/drive_files",
    "bronze/drive_manifest",
    "silver/signals",
    "silver/calibration",
    "silver/clips",
    "silver/frames",
    "silver/object_tracks",
    "silver/event_detections",
]
RADAR_TRACKS = range(0x210, 0x220)  # TRACK_A_0..15 on the radar bus (src 1)


@pytest.fixture(scope="module")
def comma(tmp_path_factory):
    import dagster as dg

    from av_assets.definitions import defs
    from av_assets.ingest.cli import ingest_path
    from av_assets.ingest.sensors import JOB_NAME
    from av_assets.platform.partitions import DRIVES
    from av_resources.lake import LakeStorage
    from tests.sync.comma import DRIVE_ID, pack

    base = shared_data_dir("comma2k19", "Example_1")
    root = tmp_path_factory.mktemp("comma_events")
    (root / "home").mkdir()
    packed = pack(base, root / "landing")
    mp = pytest.MonkeyPatch()
    mp.setenv("DAGSTER_HOME", str(root / "home"))
    mp.setenv("AV_LAKE_ROOT", str(root / "lake"))
    lake = LakeStorage(root=str(root / "lake"))
    with dg.DagsterInstance.get() as instance:
        ids = [r.drive_id for r in ingest_path(root / "landing", lake=lake) if r.status == "ingested"]
        assert ids == [DRIVE_ID]
        instance.add_dynamic_partitions(DRIVES.name, ids)
        res = (
            defs()
            .resolve_job_def(JOB_NAME)
            .execute_in_process(
                instance=instance,
                partition_key=DRIVE_ID,
                raise_on_error=False,
                asset_selection=[dg.AssetKey(k.split("/")) for k in SELECTION],
            )
        )
        md = instance.get_latest_materialization_event(
            dg.AssetKey(["silver", "event_detections"])
        ).asset_materialization.metadata
    yield {"base": base, "lake": lake, "drive": DRIVE_ID, "packed": packed, "success": res.success, "md": md}
    mp.undo()


def _radar_frames(base, boot_to_utc_offset_ns):
    """Valid TRACK_A_* targets of the raw log per radar scan, as tracker frames in the radar's axes
    (x forward, y left: the DBC's LAT_DIST is right-positive)."""
    from av_assets.scenes.tracking import Frame
    from av_assets.sync.dbc import load_dbc_string, opendbc_text
    from av_assets.sync.timebase import boot_to_utc_ns

    db = load_dbc_string(opendbc_text("toyota_adas"))

    def load(rel):
        return np.load(base / "processed_log/CAN/raw_can" / rel, allow_pickle=False)

    addr, data, src, t = load("address"), load("data"), load("src"), load("t")
    rows = []
    for i in np.flatnonzero((src == 1) & np.isin(addr, list(RADAR_TRACKS))):
        m = db.get_message_by_frame_id(int(addr[i]))
        d = m.decode(bytes(data[i]).ljust(m.length, b"\0"), decode_choices=False)
        if d["VALID"] and d["LONG_DIST"] < 255:
            rows.append((t[i], int(addr[i]), d["LONG_DIST"], -d["LAT_DIST"], d["REL_SPEED"]))
    r = np.array(rows)
    t_ns = boot_to_utc_ns(r[:, 0], boot_to_utc_offset_ns)
    scan = np.concatenate([[0], np.cumsum(np.diff(t_ns) > 10_000_000)])  # a scan: one 16-frame burst
    frames = [
        Frame(
            int(t_ns[scan == k].max()),
            "radar",
            r[scan == k][:, 2:4],
            None,
            r[scan == k][:, 1].astype(np.int64),
        )
        for k in np.unique(scan)
    ]
    return frames, r, t_ns


@pytest.fixture(scope="module")
def report(comma):
    """The small real-data report: harsh brakes and lead-vehicle episodes (printed, and returned)."""
    from av_assets.scenes.detect import lane_changes, lead_vehicles, track_lanes
    from av_assets.scenes.tracking import track

    lake, d = comma["lake"], comma["drive"]
    sig = lake.read_parquet(tables.SIGNALS.rel(drive_id=d))
    ev = lake.read_parquet(tables.EVENT_DETECTIONS.rel(drive_id=d))
    ego = ego_state(sig, accel_smooth_s=DEFAULT_POLICY.detectors.accel_smooth_s)
    frames, raw, raw_t = _radar_frames(comma["base"], comma["packed"]["boot_to_utc_offset_ns"])
    p = DEFAULT_POLICY
    w = p.detectors.lane_width_m
    _, shift = lane_changes(ego, p.detectors, w)
    tracks = track_lanes(ego, track(frames, ego, p.tracker, d), shift, w)
    leads = lead_vehicles(tracks, ego, p.detectors, w, gate_m=p.tracker.gate_m)
    t0 = ego.t_ns[0]
    out = {
        "duration_s": round((ego.t_ns[-1] - t0) / 1e9, 1),
        "speed_mps": [round(float(ego.speed.min()), 1), round(float(ego.speed.max()), 1)],
        "min_accel_mps2": round(float(ego.accel.min()), 2),
        "events": {k: int(v) for k, v in ev.group_by("type").len().iter_rows()},
        "harsh_brakes": [
            {"t_s": round((r["t_start_ns"] - t0) / 1e9, 2), "decel_mps2": round(-r["severity"] * 4.0, 2)}
            for r in ev.filter(pl.col("type") == "harsh_brake").iter_rows(named=True)
        ],
        "radar_scans": len(frames),
        "radar_tracks": tracks["track_id"].n_unique(),
        "lead_vehicle": [
            {
                "t_s": [round((r["t_start_ns"] - t0) / 1e9, 1), round((r["t_end_ns"] - t0) / 1e9, 1)],
                **{k: float(v) for k, v in (kv.split("=") for kv in r["detail"].split())},
            }
            for r in leads
        ],
    }
    print("comma2k19 report:", json.dumps(out))
    return {"out": out, "ego": ego, "raw": raw, "raw_t": raw_t, "leads": leads}


def test_pipeline_runs_on_the_real_minute(comma):
    assert comma["success"]
    assert comma["md"]["av/policy_sha256"].value == DEFAULT_POLICY.sha256
    skipped = comma["md"]["av/skipped"].value
    # no radar/lidar in the packed drive (bus 0 only) and no map match in this job: said, not hidden
    assert set(skipped) == {"cut_in", "stationary_hazard", "speeding"}


def test_no_harsh_brake_matches_the_raw_log(comma, report):
    """The minute's hardest braking is ~2.4-2.7 m/s^2, well short of the 4 m/s^2 policy threshold:
    comma's own decoded speed (processed_log/CAN/speed, ~90 Hz), differentiated and smoothed over
    0.2 s like ours, bottoms at -2.40 m/s^2; our CAN SPEED.SPEED path at -2.71 m/s^2."""
    base = comma["base"]
    v = np.load(base / "processed_log/CAN/speed/value", allow_pickle=False)[:, 0]
    t = np.load(base / "processed_log/CAN/speed/t", allow_pickle=False)
    g = np.arange(t[0], t[-1], 0.02)
    raw_min = smooth(np.gradient(np.interp(g, t, v), 0.02), 10).min()
    assert -3.0 < raw_min < -2.0
    out = report["out"]
    assert -3.0 < out["min_accel_mps2"] < -2.0 and abs(out["min_accel_mps2"] - raw_min) < 0.5
    assert out["harsh_brakes"] == [] and "harsh_brake" not in out["events"]
    assert 8.0 < out["speed_mps"][0] and out["speed_mps"][1] < 21.0  # 29-73 km/h on the I-280 ramp/merge


def test_disengagement_matches_cruise_active(comma, report):
    """CRUISE_ACTIVE is 0 for ~9 s of the minute (451 of 2999 grid samples): one disengagement."""
    lake, d = comma["lake"], comma["drive"]
    ev = lake.read_parquet(tables.EVENT_DETECTIONS.rel(drive_id=d))
    dis = ev.filter(pl.col("type") == "disengagement")
    assert dis.height == 1
    manual = float(np.sum(report["ego"].engaged == 0)) / report["ego"].hz
    assert 8.0 < manual < 10.0
    assert dis["severity"][0] == pytest.approx(manual, abs=0.1)


def test_radar_lead_vehicle(comma, report):
    """A lead car is ahead in our lane all minute (moving, 20-65 m); the closest approach the raw radar
    shows for a moving in-lane target (|y| <= 1.75 m) is 20.4 m, the tracked lead's minimum gap
    matches it within a metre, and the time headway stays near the 2 s rule (1.8-2.0 s)."""
    out, raw, raw_t, ego = report["out"], report["raw"], report["raw_t"], report["ego"]
    # the raw log's own answer
    v_abs = raw[:, 4] + np.interp(raw_t, ego.t_ns, ego.speed)
    in_lane = (np.abs(raw[:, 3]) <= 1.75) & (v_abs > 1.0)
    raw_min_gap = raw[in_lane, 2].min()
    assert 19.0 < raw_min_gap < 22.0
    assert out["radar_scans"] == 1200  # 20 Hz x 60 s
    leads = out["lead_vehicle"]
    assert 1 <= len(leads) <= 3
    covered = sum(r["t_s"][1] - r["t_s"][0] for r in leads)
    assert covered > 0.9 * out["duration_s"]
    min_gap = min(r["min_gap_m"] for r in leads)
    assert abs(min_gap - raw_min_gap) < 1.0
    assert 1.5 < min(r["min_headway_s"] for r in leads) < 2.2
