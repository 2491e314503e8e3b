"""The offline labeller's parts on inputs with known answers: smoothing, projection (near plane,
occlusion), box centres from radar returns, duplicate tracks, classification, weak supervision,
routing, evaluation, and how human reviews replace auto-labels."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from av_assets.labels.autolabel import centre_from_nearest_point, classify, suppress_duplicates
from av_assets.labels.evaluate import ap50, match
from av_assets.labels.policy import LabellerPolicy, RoutingPolicy
from av_assets.labels.projection import Camera, cuboid_corners, project_cuboids, visible_fractions
from av_assets.labels.smoothing import rts_smooth
from av_assets.labels.store import merge_reviews
from av_assets.labels.weak import ABSTAIN, label_model_scores, vote_matrix
from av_assets.shared.geometry import iou_matrix

# a forward camera 1.5 m up: optical z = base x, optical x = -base y, optical y = -base z
CAM = Camera(
    "cam",
    np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]),
    np.array([0.0, 0.0, 1.5]),
    np.array([[400.0, 0, 320], [0, 400.0, 180], [0, 0, 1]]),
    640,
    360,
)


def test_rts_smoother_beats_the_raw_measurements_and_fills_a_gap():
    rng = np.random.default_rng(3)
    t = np.arange(0, 10, 0.1)
    keep = (t < 4.0) | (t > 4.8)  # a 0.8 s gap
    truth = np.column_stack([5 + 8 * t, 2 - 0.5 * t])
    z = truth + rng.normal(0, 0.5, truth.shape)
    q = np.array([2.0, 4.4, 7.0])
    est, std = rts_smooth(t[keep], z[keep], np.full(keep.sum(), 0.5), q, accel_sigma=0.5)
    want = np.column_stack([5 + 8 * q, 2 - 0.5 * q])
    err = np.hypot(*(est[:, :2] - want).T)
    assert err.max() < 0.35  # raw noise is 0.5 m per axis (0.7 m radial)
    assert np.allclose(est[:, 2], 8.0, atol=0.3) and np.allclose(est[:, 3], -0.5, atol=0.3)
    assert std[1] > std[0]  # less sure in the gap


def test_projection_centre_near_plane_and_occlusion():
    ahead = cuboid_corners(
        np.array([20.0]), np.array([0.0]), np.array([0.0]), [4.0], [2.0], [1.5], np.array([0.0])
    )
    boxes, hulls, depth = project_cuboids(CAM, ahead, 0.5)
    cx = (boxes[0, 0] + boxes[0, 2]) / 2
    assert cx == pytest.approx(320.0, abs=1e-6)  # straight ahead: centred
    assert depth[0] == pytest.approx(18.0, abs=0.2)  # nearest face 18 m away, 1.5 m above ground
    # a box from behind the camera to 10 m ahead: clipped at the near plane, not wrapped round
    straddle = cuboid_corners(
        np.array([4.0]), np.array([3.0]), np.array([0.0]), [12.0], [2.0], [1.5], np.array([0.0])
    )
    b, _, _ = project_cuboids(CAM, straddle, 0.5)
    assert np.isfinite(b).all() and b[0, 2] < 320  # wholly on the left half (y > 0 is left)
    # a car right behind another, bigger, one: mostly hidden
    two = cuboid_corners(
        np.array([15.0, 30.0]),
        np.array([0.0, 0.0]),
        np.zeros(2),
        [4.5, 4.5],
        [2.5, 1.8],
        [3.0, 1.5],
        np.zeros(2),
    )
    b2, h2, d2 = project_cuboids(CAM, two, 0.5)
    vis, clipped = visible_fractions(CAM, b2, h2, d2)
    assert vis[0] > 0.95 and vis[1] < 0.05
    behind = cuboid_corners(np.array([-10.0]), np.array([0.0]), np.zeros(1), [4.0], [2.0], [1.5], np.zeros(1))
    assert np.isnan(project_cuboids(CAM, behind, 0.5)[0]).all()


def _nearest(cx, cy, yaw, ln, w, sensor):
    c, s = np.cos(yaw), np.sin(yaw)
    lx, ly = c * (sensor[0] - cx) + s * (sensor[1] - cy), -s * (sensor[0] - cx) + c * (sensor[1] - cy)
    qx, qy = np.clip(lx, -ln / 2, ln / 2), np.clip(ly, -w / 2, w / 2)
    return cx + c * qx - s * qy, cy + s * qx + c * qy


def test_box_centre_from_the_footprint_point_nearest_the_radar():
    sensor, ln, w = (3.6, 0.0), 4.6, 1.9
    # ahead-left, seen obliquely: the radar sees the rear-right corner, which fixes the centre
    px, py = _nearest(40.0, 7.0, 0.05, ln, w, sensor)
    one = [np.array([v]) for v in (px, py, 0.05, ln, w)]
    ex, ey = centre_from_nearest_point(*one, *sensor)
    assert ex[0] == pytest.approx(40.0, abs=1e-3) and ey[0] == pytest.approx(7.0, abs=1e-3)
    # straight behind it, the return is on the rear face: any centre whose rear face holds the point
    # is an answer; the one found must put its nearest point where the radar saw it
    px, py = _nearest(40.0, 0.4, 0.0, ln, w, sensor)
    ex, ey = centre_from_nearest_point(*[np.array([v]) for v in (px, py, 0.0, ln, w)], *sensor)
    assert ex[0] == pytest.approx(40.0, abs=1e-3) and abs(ey[0] - 0.4) <= w / 2
    assert _nearest(ex[0], ey[0], 0.0, ln, w, sensor) == pytest.approx((px, py), abs=1e-6)


def test_one_object_split_into_two_tracks_is_labelled_once():
    keep = suppress_duplicates(
        np.array([20.0, 22.0, 20.0]),
        np.array([0.0, 0.2, 6.0]),
        np.array([9.0, 4.5, 4.5]),
        np.array([2.5, 1.8, 1.8]),
        np.zeros(3),
        support=np.array([50, 400, 10]),
        max_overlap=0.3,
    )
    assert keep.tolist() == [False, True, True]  # the weaker of the overlapping pair goes


def test_classification_over_the_whole_track():
    rows = pl.DataFrame(
        {
            "track_id": list("abcdefgh"),
            "class_guess": [
                "vehicle",
                "vehicle",
                "vehicle",
                "pedestrian",
                "vehicle",
                "static",
                "static",
                "vehicle",
            ],
            "height_m": [1.5, 3.3, None, 1.8, 1.8, 2.9, 0.7, 1.75],
            "across_m": [1.9, 2.5, None, 0.6, 0.7, 2.1, 0.4, 1.65],
            "extent_m": [1.9, 2.6, None, 0.6, 1.7, 2.2, 0.4, 1.7],
            "upper_width_m": [1.4, 2.3, None, 0.5, 0.6, 2.0, 0.3, 0.75],
            "speed_mps": [12.0, 9.0, 8.0, 1.2, 5.0, 0.1, 0.0, 5.0],
        }
    )
    got = dict(zip(rows["track_id"], classify(rows, LabellerPolicy())["class"], strict=True))
    assert got == {
        "a": "car",
        "b": "truck",
        "c": "car",  # radar only: the tracker's guess
        "d": "pedestrian",
        "e": "cyclist",  # narrow and fast: a rider, though the tracker called it a vehicle
        "f": "truck",  # parked and taller than a car
        "g": "traffic_cone",
        "h": "cyclist",  # seen obliquely as wide as a car's rear, but its top is a person's
    }


def test_label_model_separates_right_from_wrong_without_ground_truth():
    rng = np.random.default_rng(0)
    n = 600
    y = rng.random(n) < 0.6
    accs = [0.9, 0.85, 0.8, 0.75, 0.7]
    cols = []
    for a in accs:
        correct = rng.random(n) < a
        v = np.where(correct, y, ~y).astype(int)
        v[rng.random(n) < 0.3] = ABSTAIN
        cols.append(v)
    votes = np.column_stack(cols)
    score, info = label_model_scores(votes)
    assert info["model"] == "snorkel.LabelModel"
    assert score[y].mean() - score[~y].mean() > 0.5
    assert ((score >= 0.5) == y).mean() > 0.85
    # too few candidates to fit: the share of votes that say right
    small, info = label_model_scores(votes[:10])
    assert info["model"] == "majority" and np.all((small >= 0) & (small <= 1))


def test_labelling_functions_vote_on_the_evidence():
    c = pl.DataFrame(
        {
            "pos_std_m": [0.1, 0.5],
            "size_ok": [1, 0],
            "range_m": [12.0, 70.0],
            "visible": [1.0, 0.2],
            "lidar_points": [20, 0],
            "track_updates": [300, 12],
            "gap_s": [0.05, 0.6],
            "radar_seen": [True, False],
            "lidar_seen": [True, True],
            "edge_ratio": [1.8, 0.3],
            "class": ["car", "barrier"],
            "speed_mps": [9.0, 0.0],
        }
    )
    v = vote_matrix(c)
    assert (v[0] != 0).all() and (v[0] == 1).sum() >= 5  # every function for, or abstaining
    assert (v[1] != 1).all() and (v[1] == 0).sum() >= 8  # every function against, or abstaining


def test_routing_policy_thresholds_and_veto():
    r = RoutingPolicy.from_doc({"accept_min": 0.8, "review_min": 0.4}, version="v1")
    got = r.route([0.95, 0.95, 0.6, 0.1], vetoed=[False, True, False, False]).tolist()
    assert got == ["accepted", "needs_review", "needs_review", "rejected"]
    assert RoutingPolicy.from_doc({"veto": False}).route([0.95], vetoed=[True]).tolist() == ["accepted"]
    with pytest.raises(ValueError, match="review_min"):
        RoutingPolicy.from_doc({"accept_min": 0.3, "review_min": 0.5})
    with pytest.raises(ValueError, match="unknown"):
        RoutingPolicy.from_doc({"accept": 0.3})


def _rows(boxes, cls, t=1, score=None):
    n = len(boxes)
    b = np.asarray(boxes, float)
    return pl.DataFrame(
        {
            "sensor_id": ["cam"] * n,
            "t_ns": [t] * n,
            "class": cls,
            "x_min": b[:, 0],
            "y_min": b[:, 1],
            "x_max": b[:, 2],
            "y_max": b[:, 3],
            "score": score if score is not None else [1.0] * n,
        }
    )


def test_matching_and_ap50():
    assert iou_matrix(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10]]))[0, 0] == pytest.approx(1 / 3)
    truth = _rows([[0, 0, 10, 10], [20, 0, 30, 10]], ["car", "pedestrian"])
    pred = _rows(
        [[1, 0, 11, 10], [20, 0, 30, 10], [50, 50, 60, 60]], ["car", "car", "car"], score=[0.9, 0.8, 0.1]
    )
    pm, tm = match(pred, truth)
    assert pm.tolist() == [True, False, False] and tm.tolist() == [True, False]  # class must agree
    frames = pl.DataFrame({"sensor_id": ["cam"], "t_ns": [1], "width": [640], "height": [360]})
    perfect = ap50(truth.with_columns(pl.lit(1.0).alias("score")), truth, frames)
    assert perfect["car"] == pytest.approx(1.0) and perfect["pedestrian"] == pytest.approx(1.0)


def test_verified_frames_take_the_reviewers_labels():
    from av_assets.labels.label_drive import LABEL_SCHEMA

    auto = pl.DataFrame(
        {
            "label_id": ["a1", "a2"],
            "drive_id": ["d", "d"],
            "sensor_id": ["cam", "cam"],
            "t_ns": [1, 2],
            "class": ["car", "car"],
            "x_min": [0.0, 0.0],
            "y_min": [0.0, 0.0],
            "x_max": [10.0, 10.0],
            "y_max": [10.0, 10.0],
            "track_id": ["t", "t"],
            "score": [0.9, 0.9],
            "source": ["auto", "auto"],
            "status": ["accepted", "needs_review"],
            "label_set": ["auto:x", "auto:x"],
        }
    ).with_columns(
        *(
            pl.lit(None).cast(LABEL_SCHEMA[c]).alias(c)
            for c in ("votes", "labeller", "policy_version", "model_version", "cuboid")
        )
    )
    frames = pl.DataFrame(
        {
            "drive_id": ["d", "d"],
            "sensor_id": ["cam", "cam"],
            "t_ns": [1, 2],
            "status": ["accepted", "needs_review"],
            "label_set": ["auto:x"] * 2,
        }
    )
    reviews = auto.filter(pl.col("t_ns") == 2).with_columns(
        pl.lit("h1").alias("label_id"),
        pl.lit("truck").alias("class"),
        pl.lit("human").alias("source"),
        pl.lit("verified").alias("status"),
        pl.lit("qa-consensus").alias("label_set"),
    )
    review_frames = pl.DataFrame(
        {
            "drive_id": ["d"],
            "sensor_id": ["cam"],
            "t_ns": [2],
            "status": ["verified"],
            "label_set": ["qa-consensus"],
        }
    )
    labels, out_frames = merge_reviews(auto, frames, reviews, review_frames)
    assert labels.sort("t_ns")["label_id"].to_list() == ["a1", "h1"]
    assert labels.filter(pl.col("t_ns") == 2)["class"].to_list() == ["truck"]
    assert out_frames.sort("t_ns")["status"].to_list() == ["accepted", "verified"]
    # a frame still in adjudication keeps its auto-labels
    pending = review_frames.with_columns(pl.lit("adjudication").alias("status"))
    same, _ = merge_reviews(auto, frames, reviews, pending)
    assert same.sort("t_ns")["label_id"].to_list() == ["a1", "a2"]


def test_model_pre_labels_vote_once_a_model_exists():
    from av_assets.labels.label_drive import model_agreement
    from av_assets.labels.weak import LABELLING_FUNCTIONS

    cands = _rows([[0, 0, 10, 10], [20, 0, 30, 10]], ["car", "car"])
    preds = _rows([[1, 0, 11, 10], [20, 0, 30, 10]], ["car", "truck"]).with_columns(
        pl.lit("m@1").alias("model_version")
    )
    iou = model_agreement(cands, preds)
    assert iou[0] == pytest.approx(9 / 11) and iou[1] == 0.0  # the class must agree
    model_lf = next(lf for lf in LABELLING_FUNCTIONS if lf.name == "model")
    assert model_lf.vote(cands.with_columns(pl.Series("model_iou", iou))).tolist() == [1, 0]
    assert model_lf.vote(cands).tolist() == [ABSTAIN, ABSTAIN]  # no model yet
