"""Box-centre estimate of silver/object_tracks: radar/lidar see the near faces; the centre is half the
object's extent along the line of sight further on (tracking.box_centre, classify_tracks)."""

import numpy as np
import polars as pl

from av_assets.scenes.detect import lead_vehicles
from av_assets.scenes.policy import DEFAULT_POLICY
from av_assets.scenes.tracking import Frame, box_centre, classify_tracks, track
from av_assets.shared.ego import EgoState

P = DEFAULT_POLICY.tracker


def test_box_centre_along_the_line_of_sight():
    x = np.array([20.0, 20.2, 0.0, 20.0])
    y = np.array([0.0, 0.0, -5.0, 0.0])
    heading = np.zeros(4)
    length = np.array([4.6, 4.6, 4.6, np.nan])
    width = np.array([1.9, 1.9, 1.9, np.nan])
    source = np.array(["radar", "lidar", "radar", "radar"])
    obs_x = np.array([np.nan, 0.4, np.nan, np.nan])
    obs_y = np.array([np.nan, 1.8, np.nan, np.nan])
    cx, cy = box_centre(x, y, heading, length, width, source, obs_x, obs_y)
    # a car ahead seen from behind: rear face + L/2; a lidar cluster's centre already half its depth in
    assert np.allclose(cx[:2], [22.3, 22.3]) and np.allclose(cy[:2], 0.0)
    # beside the ego, side-on: + W/2 outward
    assert np.isclose(cx[2], 0.0) and np.isclose(cy[2], -5.95)
    # no size (standing radar-only object): unchanged
    assert cx[3] == 20.0 and cy[3] == 0.0


def test_classify_tracks_by_size_and_speed():
    ids = ["ped"] * 3 + ["car"] * 3 + ["parked"] * 3 + ["barrier"] * 3 + ["radar_still"] * 3 + ["cone"] * 3
    speed = [1.4] * 3 + [12.0] * 3 + [0.1] * 3 + [0.1] * 3 + [0.2] * 3 + [0.0] * 3
    ox = [0.5] * 3 + [np.nan] * 3 + [0.4] * 3 + [0.7] * 3 + [np.nan] * 3 + [0.4] * 3
    oy = [0.6] * 3 + [np.nan] * 3 + [1.8] * 3 + [2.2] * 3 + [np.nan] * 3 + [0.4] * 3
    c = classify_tracks(ids, np.array(speed), np.array(ox), np.array(oy), P)
    c = {r["track_id"]: r for r in c.to_dicts()}
    assert c["ped"]["class_guess"] == "pedestrian" and c["ped"]["box_length_m"] == P.pedestrian_size_m
    assert c["car"]["class_guess"] == "vehicle" and c["car"]["box_length_m"] == P.vehicle_length_m
    # a parked car seen end-on (1.8 m wide, no wider than a car): the vehicle prior
    assert c["parked"]["class_guess"] == "vehicle" and c["parked"]["box_width_m"] == P.vehicle_width_m
    # wider than any car and thin: what was seen (no prior)
    assert c["barrier"]["class_guess"] == "static"
    assert np.isclose(c["barrier"]["box_length_m"], 0.7) and np.isclose(c["barrier"]["box_width_m"], 2.2)
    assert c["cone"]["class_guess"] == "static" and np.isclose(c["cone"]["box_length_m"], 0.4)
    assert c["radar_still"]["class_guess"] == "unknown" and np.isnan(c["radar_still"]["box_length_m"])


def _ego(n=200, hz=20.0, speed=10.0):
    t = (np.arange(n) / hz * 1e9).astype(np.int64)
    z = np.zeros(n)
    return EgoState(t, np.full(n, speed), z, z, np.ones(n), z, hz, {})


def test_track_reports_centre_and_near_face_and_lead_gap_uses_the_near_face():
    """A lead car 20 m ahead (rear face) driving with the ego (10 m/s), seen by radar at 20 Hz: `x` is
    its box centre (rear + L/2), `x_near`/`range_near_m` the rear face; the lead gap stays the rear
    face's distance."""
    ego = _ego()
    frames = [Frame(int(t), "radar", np.array([[20.0, 0.0]]), None, np.array([7])) for t in ego.t_ns]
    tr = track(frames, ego, P, "d")
    tail = tr.filter(pl.col("t_ns") >= int(2e9))
    assert tail["class_guess"].unique().to_list() == ["vehicle"]
    assert np.allclose(tail["x_near"], 20.0, atol=0.05)
    assert np.allclose(tail["range_near_m"], 20.0, atol=0.05)
    assert np.allclose(tail["x"], 20.0 + P.vehicle_length_m / 2, atol=0.05)
    assert np.allclose(tail["y"], 0.0, atol=0.05)
    tracks = tr.with_columns(pl.lit(0.0).alias("lateral_offset_m"))
    leads = lead_vehicles(tracks, ego, DEFAULT_POLICY.detectors, 3.5)
    assert len(leads) == 1
    gap = float(leads[0]["detail"].split()[0].split("=")[1])
    assert abs(gap - 20.0) < 0.3, leads[0]["detail"]  # not the centre (22.3 m)
