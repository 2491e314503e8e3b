"""Workflow 6: object tracks, trigger policy, event detections. Unit tests on the plain functions and
one session fleet (3 drives x 60 s) through the per-drive job, measured against ground truth."""

import json

import numpy as np
import polars as pl
import pytest

from av_assets.scenes.detect import (
    cut_ins,
    harsh_brake,
    lane_changes,
    merge_intervals,
    run_reduce,
    runs,
    stationary_hazards,
    track_lane_changes,
    track_lanes,
)
from av_assets.scenes.evaluate import match_events, pool
from av_assets.scenes.policy import DEFAULT_POLICY, EVENT_TYPES, TriggerPolicy
from av_assets.shared.ego import EgoState, path_reference, smooth
from av_contracts import tables
from tests.scenes.fleet import SCENES


def test_runs_and_merge():
    s, e = runs(np.array([0, 1, 1, 0, 1, 1, 1, 0], bool), np.array([0, 0, 0, 0, 0, 1, 1, 1]))
    assert s.tolist() == [1, 4, 5] and e.tolist() == [2, 4, 6]
    a, b, m = merge_intervals(np.array([0, 10, 100]), np.array([5, 20, 110]), gap_ns=6)
    assert a.tolist() == [0, 100] and b.tolist() == [20, 110] and m.tolist() == [0, 0, 1]


def test_run_reduce_and_smooth_match_the_loops():
    x = np.random.default_rng(0).normal(size=500)
    s, e = np.array([0, 7, 100, 499]), np.array([3, 7, 250, 499])
    assert run_reduce(np.minimum, x, s, e).tolist() == [x[i : j + 1].min() for i, j in zip(s, e, strict=True)]
    np.testing.assert_array_equal(smooth(x, 1), x)
    for n in (2, 10, 11):  # centred moving average, windows shrinking at the edges
        c = np.concatenate([[0.0], np.cumsum(x)])
        lo = np.clip(np.arange(x.size) - n // 2, 0, x.size)
        hi = np.clip(np.arange(x.size) - n // 2 + n, 0, x.size)
        np.testing.assert_array_equal(smooth(x, n), (c[hi] - c[lo]) / np.maximum(hi - lo, 1))


def _drive(yaw_rate, turn=None, v=10.0, hz=50.0):
    n = yaw_rate.size
    t = np.arange(n, dtype=np.int64) * int(1e9 / hz)
    z = np.zeros(n)
    return EgoState(t, z + v, z, yaw_rate, z + 1, z if turn is None else turn, hz, {})


def test_path_reference_follows_a_bend():
    """On a 100 m radius left bend, a car 30 m ahead along the ego's lane has lateral offset ~0 (the
    old look-ahead along base_link y put it ~4.5 m left); one a lane to the right is ~-3.5 m."""
    hz, v, radius = 50.0, 10.0, 100.0
    ego = _drive(np.full(int(20 * hz), v / radius), v=v, hz=hz)
    arc = 30.0  # metres along the bend from the ego at t = 0
    phi = arc / radius
    x, y = radius * np.sin(phi), radius * (1 - np.cos(phi))
    for offset, want in ((0.0, 0.0), (-3.5, -3.5)):
        px, py = x + offset * -np.sin(phi), y + offset * np.cos(phi)
        lat, turn = path_reference(ego, np.array([0]), np.array([px]), np.array([py]))
        assert lat[0] == pytest.approx(want, abs=0.05)
        assert turn[0] == pytest.approx(np.degrees(phi), abs=0.5)
    # beyond the recorded path (20 s x 10 m/s = 200 m): the reference is a guess, turn is NaN
    assert np.isnan(path_reference(ego, np.array([0]), np.array([250.0]), np.array([0.0]))[1][0])


def _lane_change_yaw(hz, v, width=3.5, dur=4.0, side=1.0):
    """Yaw rate of a smooth lateral move y(t) = width/2 (1 - cos(pi t / dur)) at speed v."""
    tt = np.arange(int(dur * hz)) / hz
    heading = np.arctan(side * width / 2 * np.pi / dur * np.sin(np.pi * tt / dur) / v)
    return np.gradient(heading, 1 / hz)


def test_signalled_lane_change_then_a_junction_turn():
    """A left lane change under the signal, then (signal off) a 90 deg junction turn 1 s later: the
    lane change counts (the turn is not under the signal). A 90 deg turn under the signal does not."""
    hz, v = 50.0, 8.0
    lc = _lane_change_yaw(hz, v)
    quiet = np.zeros(int(3 * hz))
    turn90 = np.full(int(2 * hz), np.pi / 2 / 2.0)  # 90 deg in 2 s
    yaw = np.concatenate([quiet, lc, np.zeros(int(1 * hz)), turn90, quiet])
    sig = np.zeros(yaw.size)
    sig[quiet.size - int(0.3 * hz) : quiet.size + lc.size] = 1.0
    rows, shift = lane_changes(_drive(yaw, sig, v=v, hz=hz), DEFAULT_POLICY.detectors, 3.5)
    assert len(rows) == 1 and rows[0]["detail"].startswith("left")
    assert shift[-1] == pytest.approx(3.5)
    sig2 = np.zeros(yaw.size)
    a = quiet.size + lc.size + int(1 * hz)
    sig2[a - int(1 * hz) : a + turn90.size] = 1.0
    assert lane_changes(_drive(yaw, sig2, v=v, hz=hz), DEFAULT_POLICY.detectors, 3.5)[0] == []


def test_track_lane_change_by_lane_line_crossing():
    """A car seen for 0.8 s while it crosses the line between two lanes at 0.7 m/s is a lane change
    (never centred in either lane); a car weaving across the line and back within 5 s is not."""
    t = (np.arange(9) * 0.1 * 1e9).astype(np.int64)
    a = pl.DataFrame({"track_id": "a", "t_ns": t, "lateral_offset_m": -1.45 - 0.07 * np.arange(9)})
    tw = (np.arange(40) * 0.1 * 1e9).astype(np.int64)
    weave = -1.75 + 0.4 * np.sin(np.arange(40) / 39 * 2 * np.pi)
    b = pl.DataFrame({"track_id": "b", "t_ns": tw, "lateral_offset_m": weave})
    det = track_lane_changes(pl.concat([a, b]), DEFAULT_POLICY.detectors, 3.5)
    assert [(r["track_id"], r["detail"]) for r in det] == [("a", "right")]


def test_cut_in_speed_is_measured_over_half_a_second():
    """A tracker lagging a fast cut-in catches up in a few samples (a demo drive's track, 20 Hz): from
    2.50 m (last in the next lane) to 0.92 m (first in ours) in 0.25 s is 6.3 m/s, over the 6 m/s a car
    can move sideways; over 0.5 s (from 3.3 m) it is 4.8 m/s, a cut-in. A track sweeping 4.5 m in
    0.5 s (a cluster centre running over a parked car) is not, nor is one drifting in at 0.3 m/s."""
    p = DEFAULT_POLICY.detectors

    def track(name, lat):
        t = (np.arange(lat.size) * 0.05 * 1e9).astype(np.int64)
        return pl.DataFrame(
            {"track_id": name, "t_ns": t, "x": 12.0 + 0.1 * np.arange(lat.size), "lateral_offset_m": lat}
        )

    lagging = np.r_[np.full(40, 3.3), [3.05, 2.79, 2.5, 2.21, 1.88, 1.55, 1.2, 0.92, 0.5], np.full(30, 0.3)]
    jump = np.r_[np.full(40, 4.8), np.linspace(4.8, 0.3, 11)[1:], np.full(30, 0.3)]
    drift = np.r_[np.full(40, 3.3), np.linspace(3.3, 0.3, 201)[1:], np.full(30, 0.3)]
    found = cut_ins(
        pl.concat([track("lagging", lagging), track("jump", jump), track("drift", drift)]), p, 3.5, []
    )
    assert [(r["track_id"], r["detail"]) for r in found] == [("lagging", "lateral_mps=4.76")]
    old = DEFAULT_POLICY.with_overrides("v4", cut_in_speed_baseline_s=0.0).detectors
    assert cut_ins(track("lagging", lagging), old, 3.5, []) == []  # 6.3 m/s


def test_cut_in_needs_a_track_going_our_way_within_the_recorded_path():
    """The same lane change is no cut-in when the track heads 150 deg off the ego's heading (an
    oncoming cyclist turning across our lane) or lies beyond the ego's recorded path (the lane
    reference there is an extrapolation: null `lane_ref_turn_deg`)."""
    lat = np.r_[np.full(20, 3.3), np.linspace(3.3, 0.2, 21)[1:], np.full(30, 0.2)]
    t = (np.arange(lat.size) * 0.05 * 1e9).astype(np.int64)

    def track(name, heading, turn):
        return pl.DataFrame(
            {
                "track_id": name,
                "t_ns": t,
                "x": np.full(lat.size, 15.0),
                "lateral_offset_m": lat,
                "heading_rad": np.full(lat.size, heading),
                "lane_ref_turn_deg": pl.Series(np.full(lat.size, turn), nan_to_null=True),
            }
        )

    tracks = pl.concat(
        [
            track("same way", -0.2, 3.0),
            track("oncoming", np.radians(-150), 3.0),
            track("unreached", -0.2, np.nan),
        ]
    )
    assert [r["track_id"] for r in cut_ins(tracks, DEFAULT_POLICY.detectors, 3.5, [])] == ["same way"]


def test_hazard_needs_the_lane_reference_to_reach_it():
    """A standing object on the ego's own path, 40-60 m ahead along it and seen for 2 s: a hazard on
    a straight; not when the path turns 60 deg before reaching it (around a corner: the next road)."""
    from av_assets.shared.ego import odometry

    hz, v = 50.0, 10.0
    n = int(12 * hz)
    t = np.arange(int(1 * hz), int(3 * hz), 5)  # sightings at 10 Hz from 1 s to 3 s
    corner = np.zeros(n)
    corner[int(4 * hz) : int(6 * hz)] = np.pi / 3 / 2.0  # 60 deg in 2 s
    for yaw, want in ((np.zeros(n), 1), (corner, 0)):
        ego = _drive(yaw, v=v, hz=hz)
        _, px, py, psi = odometry(ego)
        k = int(7 * hz)  # the object: where the ego is at 7 s (40-60 m along the path from t)
        c, sn = np.cos(psi[t]), np.sin(psi[t])
        dx, dy = px[k] - px[t], py[k] - py[t]
        tracks = pl.DataFrame(
            {
                "track_id": "cone",
                "t_ns": ego.t_ns[t],
                "x": c * dx + sn * dy,
                "y": -sn * dx + c * dy,
                "ground_speed_mps": np.zeros(t.size),
            }
        )
        tracks = track_lanes(ego, tracks, np.zeros(n), 3.5)
        assert np.abs(tracks["lateral_offset_m"].to_numpy()).max() < 0.05  # on the path either way
        assert len(stationary_hazards(tracks, DEFAULT_POLICY.detectors, 3.5)) == want


def _ego(accel):
    n = accel.size
    t = np.arange(n, dtype=np.int64) * 20_000_000
    z = np.zeros(n)
    return EgoState(t, 10 + np.cumsum(accel) * 0.02, accel, z, z + 1, z, 50.0, {})


def test_harsh_brake_threshold_is_the_policy():
    acc = np.zeros(200)
    acc[50:70] = -4.5  # 0.4 s beyond -4 m/s^2: an event
    acc[120:140] = -3.8  # a near miss: not one
    ev = harsh_brake(_ego(acc), DEFAULT_POLICY.detectors)
    assert len(ev) == 1 and ev[0]["t_start_ns"] == 50 * 20_000_000
    assert ev[0]["severity"] == pytest.approx(4.5 / 4.0)
    stricter = DEFAULT_POLICY.with_overrides("t", harsh_brake_mps2=-3.5)
    assert len(harsh_brake(_ego(acc), stricter.detectors)) == 2


def test_policy_hash_round_trips():
    doc = DEFAULT_POLICY.as_dict()
    assert TriggerPolicy.from_dict(doc).sha256 == DEFAULT_POLICY.sha256
    assert DEFAULT_POLICY.with_overrides("x", speeding_min_s=2.0).sha256 != DEFAULT_POLICY.sha256


def test_match_rule_overlap_many_to_one():
    gt = [{"type": "harsh_brake", "t_start_ns": 0, "t_end_ns": 10**9}]
    det = [
        {"type": "harsh_brake", "t_start_ns": 5 * 10**8, "t_end_ns": 6 * 10**8},
        {"type": "harsh_brake", "t_start_ns": 9 * 10**8, "t_end_ns": 12 * 10**8},
        {"type": "harsh_brake", "t_start_ns": 5 * 10**9, "t_end_ns": 6 * 10**9},
    ]
    m = match_events(det, gt, ["harsh_brake"])["harsh_brake"]
    assert (m["precision"], m["recall"]) == (round(2 / 3, 4), 1.0)


# Seeds: 11 was used to find and fix the misses (tuning); 23/37 and 41/53 were checked after and each
# revealed one more fix (a junction turn right after a signalled lane change; a lidar cluster sweeping
# across a parked car in a turn); HELD_OUT_SEED was never looked at before the floors were set.
HELD_OUT_SEED = 61


@pytest.fixture(scope="session")
def scene_fleet(tmp_path_factory):
    """tests/scenes/fleet.py: the held-out seed, 2 drives x 120 s (speeding needs > 60 s), through the
    per-drive job with silver/road_context (enrich) when it materialises; redaction left out for time."""
    import os

    from tests.scenes.fleet import build

    saved = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "AV_LAKE_ROOT", "AV_GROUND_TRUTH_ROOT")}
    out = build(tmp_path_factory.mktemp("scenes"), fleets=((HELD_OUT_SEED, 2, 120.0),))
    out["landing"] = out["gt_root"].parent  # ground truth: out["gt_root"]
    yield out
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_scenes_assets_are_in_the_per_drive_job():
    from av_assets.platform.registry import all_process_assets

    assert set(SCENES) <= set(all_process_assets())


def test_fleet_events_precision_recall(scene_fleet):
    per_drive = []
    for d, r in scene_fleet["drives"].items():
        assert r["success"], d
        md = r["md"]["silver/event_detections"]
        assert md["av/policy_sha256"].value == DEFAULT_POLICY.sha256
        for row in md["av/eval_matches"].value:  # the per-event debug table (times from drive start)
            if not row["matched"]:
                print(d, row)
        per_drive.append(md["av/eval_vs_ground_truth"].value)
    pooled = pool(per_drive)
    print(json.dumps(pooled))
    # Issue 7: >= 0.9 precision AND recall for every type on the default fleet (with its near-threshold
    # negatives), here on a held-out seed. Measured 1.0 / 1.0 for every type (docs/scenes.md).
    floors = {kind: (0.9, 0.9) for kind in EVENT_TYPES}
    failures = []
    for kind, (p_floor, r_floor) in floors.items():
        if kind not in pooled:
            failures.append((kind, "not evaluated (skipped)"))
            continue
        assert pooled[kind]["truth"] >= 2, kind
        if pooled[kind]["recall"] < r_floor or (pooled[kind]["precision"] or 0) < p_floor:
            failures.append((kind, pooled[kind]))
    assert not failures, failures


def test_tracks_table_and_tracking_metrics(scene_fleet):
    lake = scene_fleet["lake"]
    for d, r in scene_fleet["drives"].items():
        md = r["md"]["silver/object_tracks"]
        m = md["av/tracking_vs_ground_truth"].value
        assert m["recall"] >= 0.75 and m["rmse_footprint_m"] < 0.3, m
        tr = lake.read_parquet(tables.OBJECT_TRACKS.rel(drive_id=d))
        assert {"track_id", "x", "y", "vx", "vy", "lateral_offset_m", "lane"} <= set(tr.columns)
        # parked / standing objects: ground speed ~ 0 while the ego moves
        assert tr["ground_speed_mps"].median() < 5


def test_speeding_with_road_context_stand_in(scene_fleet):
    """The same detector with the ground-truth posted limit standing in for silver/road_context (test
    only): separates the detector from map-matching errors."""
    from av_assets.scenes.events import detect_drive

    lake, gtroot = scene_fleet["lake"], scene_fleet["gt_root"]
    for d in scene_fleet["drives"]:
        gt = json.loads((gtroot / f"{d}.json").read_text())
        ego = pl.read_parquet(gtroot / gt["ego_trajectory"]["path"])
        road = ego.select("t_ns", (pl.col("speed_limit") * 3.6).alias("speed_limit_kph"))
        sig = lake.read_parquet(tables.SIGNALS.rel(drive_id=d))
        tr = lake.read_parquet(tables.OBJECT_TRACKS.rel(drive_id=d))
        r = detect_drive(d, sig, tr, None, road, DEFAULT_POLICY)
        assert "speeding" not in r.skipped
        m = match_events(r.events.to_dicts(), gt["events"], ["speeding"])["speeding"]
        assert m["detections"] == m["matched_detections"]  # near_speeding (95-99 %) never fires


def test_views_and_clip_tags(scene_fleet):
    from av_resources.catalog import connect

    lake = scene_fleet["lake"]
    con = connect(lake)
    n = con.execute("select count(*) from events").fetchone()[0]
    assert n == sum(
        sum(r["md"]["silver/event_detections"]["av/events_per_type"].value.values())
        for r in scene_fleet["drives"].values()
    )
    assert con.execute("select count(distinct track_id) from object_tracks").fetchone()[0] > 50
    d = next(iter(scene_fleet["drives"]))
    ev = lake.read_parquet(tables.EVENT_DETECTIONS.rel(drive_id=d))
    assert set(ev["type"]) <= set(EVENT_TYPES) and ev["clip_id"].null_count() == 0
    assert all(c.startswith(f"{d}:") for c in ev["clip_id"])
    tags = lake.read_parquet(tables.CLIP_TAGS.rel(drive_id=d))
    assert tags.height >= 3 and tags["n_events"].sum() >= ev.height
