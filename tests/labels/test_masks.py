"""The offline labeller's drivable-area and lane-marking masks (av_assets/labels/masks.py): the geometry
on synthetic input, and a floor against the fleet's true masks on a held-out fleet."""

import io
import math

import numpy as np
import pytest

from av_assets.labels import masks as M
from av_assets.labels.projection import Camera, cuboid_corners
from av_assets.shared.ego import EgoState

W, H = 640, 360
FX = 400.0
CX, CY = 320.0, 180.0
CAM_Z = 1.5
# base_link -> optical (x right, y down, z forward), the camera 1.5 m ahead of base_link, 1.5 m up
CALIBRATION = {
    "sensors": {
        "cam": {
            "extrinsics": {"rotation_xyzw": [-0.5, 0.5, -0.5, 0.5], "translation": [1.5, 0.0, CAM_Z]},
            "intrinsics": {"K": [FX, 0, CX, 0, FX, CY, 0, 0, 1], "width": W, "height": H},
        },
        "lidar": {"extrinsics": {"rotation_xyzw": [0, 0, 0, 1], "translation": [1, 0, 2]}},
    }
}
T0 = 1_700_000_000_000_000_000


def _cam() -> Camera:
    cam = Camera.from_calibration(CALIBRATION, "cam")
    assert cam is not None
    return cam


def _path(t, speed, yaw, hz=50.0) -> M.EgoPath:
    """The ego's path from speed and yaw rate on a uniform `hz` grid."""
    n = t.size
    nan = np.full(n, np.nan)
    return M.EgoPath.from_ego(EgoState(t, speed, np.zeros(n), yaw, nan, nan, hz, {}))


def _straight(speed=10.0, seconds=30.0) -> M.EgoPath:
    t = T0 + np.arange(0, int(seconds * 1e9), 20_000_000)
    return _path(t, np.full(t.size, speed), np.zeros(t.size))


def _road_only(mask):
    return (mask != M.BACKGROUND).astype(np.uint8)


def test_camera_from_calibration_projects_like_a_pinhole():
    cam = _cam()
    # a point at the camera's height straight ahead lies on the principal point
    p = cam.pixels(cam.to_optical(np.array([[21.5, 0.0, CAM_Z]])))[0]
    assert p == pytest.approx([CX, CY])
    # a ground point 20 m ahead of the camera, 2 m to the left: below the centre, left of it
    u, v = cam.pixels(cam.to_optical(np.array([[21.5, 2.0, 0.0]])))[0]
    assert u == pytest.approx(CX - FX * 2.0 / 20.0)
    assert v == pytest.approx(CY + FX * CAM_Z / 20.0)
    assert Camera.from_calibration(CALIBRATION, "lidar") is None  # no intrinsics: no camera
    assert Camera.from_calibration(CALIBRATION, "nope") is None
    half = cam.scaled(W // 2, H // 2)
    assert half.k[0, 0] == pytest.approx(FX / 2) and half.k[1, 2] == pytest.approx(CY / 2)
    assert (half.width, half.height, half.sensor_id) == (W // 2, H // 2, "cam")
    assert cam.k[0, 0] == FX and cam.scaled(W, H) is cam  # the calibrated camera is left as it was


def test_straight_path_projects_to_a_trapezoid_narrowing_toward_the_horizon():
    policy = M.MaskPolicy(marking_width_m=0.0)
    road = M.Road(0, 0, 3.0)  # one lane centred on the ego: edges at +-1.5 m
    mask = M.render_mask(_cam(), _straight(), T0 + 1_000_000_000, road, policy)
    assert mask.dtype == np.uint8 and mask.shape == (H, W)
    assert set(np.unique(mask)) <= {M.BACKGROUND, M.DRIVABLE, M.LANE_MARKING}
    rows = np.flatnonzero((mask == M.DRIVABLE).any(1))
    assert rows.size and rows.max() == H - 1
    widths = (mask == M.DRIVABLE).sum(1)
    # narrower toward the horizon: monotone over the road's rows
    assert np.all(np.diff(widths[rows]) >= -1)
    assert widths[H - 1] > 5 * widths[rows.min() + 2]
    for v in (H - 1, 300, 240, 200):
        z = FX * CAM_Z / (v + 0.5 - CY)  # optical depth of the ground in this row
        assert widths[v] == pytest.approx(FX * 3.0 / z, abs=2.0)  # the lane's width in pixels
        cols = np.flatnonzero(mask[v] == M.DRIVABLE)
        assert (cols.min() + cols.max() + 1) / 2 == pytest.approx(CX, abs=1.0)  # centred
    # the far end (max_range_m ahead) stays below the horizon
    z_far = policy.max_range_m - 1.5
    assert rows.min() >= math.floor(CY + FX * CAM_Z / z_far) - 1


def test_nothing_above_the_horizon_is_drivable_even_on_curves():
    cam = _cam()
    t = T0 + np.arange(0, 30_000_000_000, 20_000_000)
    n = t.size
    for yaw in (0.0, 0.15, -0.15):  # straight, left and right bends (r ~ 67 m at 10 m/s)
        path = _path(t, np.full(n, 10.0), np.full(n, yaw))
        mask = M.render_mask(cam, path, T0 + 2_000_000_000, M.Road(-1, 3, 3.5), M.MaskPolicy())
        assert mask.any()
        assert not mask[: math.ceil(CY)].any()


def test_points_behind_the_camera_do_not_wrap():
    cam = _cam()
    # a ground quad from 30 m behind to 30 m ahead: clipped at the near plane, only the part in front
    quad = np.array([[[-30.0, -1.0, 0], [30.0, -1.0, 0], [30.0, 1.0, 0], [-30.0, 1.0, 0]]])
    mask = np.zeros((H, W), np.uint8)
    M.fill_ground(mask, cam, quad, M.DRIVABLE, near=0.5)
    assert mask.any() and not mask[: math.ceil(CY)].any()
    # entirely behind: nothing at all
    mask[:] = 0
    M.fill_ground(mask, cam, quad - [40.0, 0, 0], M.DRIVABLE, near=0.5)
    assert not mask.any()
    # the clip itself
    opt = cam.to_optical(quad[0])
    clipped = M.clip_near(opt, 0.5)
    assert clipped.shape[0] == 4 and (clipped[:, 2] >= 0.5 - 1e-9).all()
    assert M.clip_near(opt - [0, 0, 100.0], 0.5).shape[0] == 0
    # a path that runs back toward and past the camera (a U-turn) does not wrap either
    t = T0 + np.arange(0, 20_000_000_000, 20_000_000)
    yaw = np.where((t - T0) < 2e9, np.pi / 2, 0.0)  # 90 deg/s for 2 s: a full turn-around (r ~ 3 m)
    path = _path(t, np.full(t.size, 5.0), yaw)
    mask = M.render_mask(cam, path, T0, M.Road(0, 1, 3.5), M.MaskPolicy())
    assert not mask[: math.ceil(CY)].any()


def test_lane_shift_moves_the_road_and_markings_are_thin_strips():
    cam = _cam()
    path = _straight()
    policy = M.MaskPolicy(marking_width_m=0.15)
    road = M.Road(0, 0, 3.5)
    base = M.render_mask(cam, path, T0 + 1_000_000_000, road, policy)
    # after a lane change to the left the ego's path is one lane left of the base lane: the road is
    # to the ego's right
    shifted = M.EgoPath(path.t_ns, path.s, path.x, path.y, path.psi, np.full(path.t_ns.size, 3.5))
    right = M.render_mask(cam, shifted, T0 + 1_000_000_000, road, policy)
    v = 300
    c0, c1 = np.flatnonzero(base[v]), np.flatnonzero(right[v])
    assert c1.mean() > c0.mean() + 50
    # two boundaries, each a thin strip: the markings are a small share of the road
    marks = (base == M.LANE_MARKING).sum()
    assert 0 < marks < 0.15 * (base != M.BACKGROUND).sum()
    runs = np.flatnonzero(np.diff((base[v] == M.LANE_MARKING).astype(int)) == 1)
    assert runs.size == 2


def test_carved_box_hides_the_road():
    cam = _cam()
    policy = M.MaskPolicy()
    box = cuboid_corners([15.0], [0.0], [0.0], [4.5], [1.8], [1.5], [0.0])
    free = M.render_mask(cam, _straight(), T0, M.Road(0, 0, 3.5), policy)
    hidden = M.render_mask(cam, _straight(), T0, M.Road(0, 0, 3.5), policy, box)
    u, v = cam.pixels(cam.to_optical(np.array([[15.0 - 2.25, 0.0, 0.5]])))[0]
    assert free[int(v), int(u)] == M.DRIVABLE and hidden[int(v), int(u)] == M.BACKGROUND
    assert (hidden != M.BACKGROUND).sum() < (free != M.BACKGROUND).sum()


def test_track_boxes_are_moved_to_the_frame_and_need_a_confirmed_track():
    import polars as pl

    policy = M.MaskPolicy(object_min_hits=5, object_max_gap_s=0.15)
    tracks = pl.DataFrame(
        {
            "track_id": [1, 1, 2, 3, 4],
            "t_ns": [T0 - 100_000_000, T0 + 20_000_000, T0, T0, T0 + 500_000_000],
            "x": [9.0, 20.0, 30.0, 40.0, 50.0],
            "y": [0.0, 1.0, -3.0, 0.0, 0.0],
            "vx": [0.0, -10.0, None, 0.0, 0.0],
            "vy": [0.0, 0.0, 0.0, 0.0, 0.0],
            "heading_rad": [0.0, 0.0, np.pi / 2, 0.0, 0.0],
            "box_length_m": [4.0, 4.0, 4.0, 4.0, 4.0],
            "box_width_m": [2.0, 2.0, 2.0, float("nan"), 2.0],
            "box_height_m": [1.5, 1.5, 1.5, 1.5, 1.5],
            "hits": [10, 10, 10, 10, 10],
        }
    )
    boxes = M.track_boxes(tracks, T0, policy)
    # track 1: its nearest sample (20 ms after), moved back to T0 at -10 m/s; track 2 turned 90 deg;
    # track 3 has no width, track 4 no sample near T0
    assert boxes.shape == (2, 8, 3)
    by_x = boxes[np.argsort(boxes[:, :, 0].mean(1))]
    assert by_x[0, :, :2].mean(0) == pytest.approx([20.2, 1.0])
    assert np.ptp(by_x[0, :, 0]) == pytest.approx(4.0) and np.ptp(by_x[0, :, 2]) == pytest.approx(1.5)
    assert by_x[1, :, :2].mean(0) == pytest.approx([30.0, -3.0])
    assert np.ptp(by_x[1, :, 0]) == pytest.approx(2.0) and np.ptp(by_x[1, :, 1]) == pytest.approx(4.0)
    assert M.track_boxes(tracks.with_columns(pl.lit(1).alias("hits")), T0, policy).shape == (0, 8, 3)
    assert M.track_boxes(None, T0, policy).shape == (0, 8, 3)


def test_mask_iou():
    a = np.zeros((4, 4), np.uint8)
    b = np.zeros((4, 4), np.uint8)
    assert M.mask_iou(a, b, 1) is None
    a[:2] = 1
    b[1:3] = 1
    assert M.mask_iou(a, b, 1) == pytest.approx(4 / 12)
    assert M.mask_iou(a, a, 1) == 1.0
    assert M.mask_iou(a, b, 2) is None


def test_lane_width_from_tracks_recovers_the_assignment_width():
    rng = np.random.default_rng(0)
    lat = rng.uniform(-9, 9, 2000)
    lane = np.round(lat / 3.3).astype(np.int64)
    assert M.lane_width_from_tracks(lat, lane) == pytest.approx(3.3, abs=0.02)
    assert M.lane_width_from_tracks(np.array([0.2, -0.4]), np.array([0, 0])) is None


def test_road_lanes_from_ego_lane_changes_and_traffic():
    p = M.MaskPolicy(oncoming_lanes=1, lane_evidence_s=2.0)
    none = np.empty(0, int), np.empty(0), np.empty(0, bool)
    # nothing known: the ego's lane plus the assumed oncoming lane
    assert M.road_lanes(np.zeros(10, int), *none, p)[:2] == (0, 1)
    # the ego changed into the left lane: two same-direction lanes, oncoming beyond
    assert M.road_lanes(np.array([0, 0, 1, 1]), *none, p)[:2] == (0, 2)
    # traffic evidence: same direction on the right (long enough), oncoming two lanes left
    lanes, secs, onc = np.array([-1, -1, 1, 3]), np.array([1.5, 1.0, 0.5, 4.0]), np.array([0, 0, 0, 1], bool)
    assert M.road_lanes(np.zeros(3, int), lanes, secs, onc, p)[:2] == (-1, 3)
    # a glimpse (under lane_evidence_s) is no lane
    assert M.road_lanes(np.zeros(3, int), np.array([1]), np.array([0.5]), np.array([False]), p)[:2] == (0, 1)


def _lane_change_drive(seconds=20.0, hz=50.0, speed=10.0, width=3.5, start=8.0, dur=4.0):
    """A straight drive with a lane change to the left (smooth sideways move of `width` over `dur` s)."""
    t = T0 + np.arange(0, int(seconds * 1e9), int(1e9 / hz))
    u = np.clip(((t - T0) / 1e9 - start) / dur, 0, 1)
    d = width * (3 * u**2 - 2 * u**3)  # lateral position
    psi = np.arcsin(np.clip(np.gradient(d, (t - T0) / 1e9) / speed, -1, 1))
    yaw = np.gradient(psi, (t - T0) / 1e9)
    return t, np.full(t.size, speed), yaw, d


def test_lane_shift_follows_the_measured_move_of_a_lane_change():
    import polars as pl

    t, speed, yaw, d = _lane_change_drive()
    path = _path(t, speed, yaw)
    # the detector reports the move's core (here 15 %..85 % of the move's time); the shift follows the
    # move measured from odometry, not a ramp over the reported interval
    events = pl.DataFrame(
        {"type": ["lane_change"], "t_start_ns": [T0 + 8_600_000_000], "t_end_ns": [T0 + 11_400_000_000]}
    ).with_columns(pl.lit("left (signal)").alias("detail"))
    shift = M.lane_shift_from_events(t, events, 3.5, speed, path.psi, M.MaskPolicy())
    assert shift[-1] == pytest.approx(3.5) and shift[0] == 0.0
    assert np.abs(shift - d).max() < 0.1
    ramp = M.lane_shift_from_events(t, events, 3.5)  # no odometry: a linear ramp over the interval
    assert np.abs(ramp - d).max() > 0.2
    assert M.lane_shift_from_events(t, None, 3.5) is None
    no_changes = events.with_columns(pl.lit("harsh_brake").alias("type"))
    assert not M.lane_shift_from_events(t, no_changes, 3.5).any()


def test_drive_masks_reads_the_lake(tmp_path):
    import polars as pl

    from av_contracts import tables
    from av_resources.lake import LakeStorage

    lake = LakeStorage(root=str(tmp_path))
    drive = "20260101t000000-sim-veh-01-abcdef"
    t, speed, yaw, _ = _lane_change_drive()
    n = t.size
    sig = pl.DataFrame(
        {
            "drive_id": drive,
            "t_ns": np.concatenate([t, t]),
            "t_raw_ns": np.concatenate([t, t]),
            "signal": ["SPEED.SPEED"] * n + ["angular_velocity.z"] * n,
            "value": np.concatenate([speed * 3.6, yaw]),
            "unit": ["km/h"] * n + ["rad/s"] * n,
            "source": ["can0"] * n + ["imu"] * n,
        }
    )
    lake.write_parquet(tables.SIGNALS.rel(drive_id=drive), sig)
    lake.write_json(tables.CALIBRATION.sidecar("calibration.json", drive_id=drive), CALIBRATION)
    keyframes = pl.DataFrame(
        {
            "drive_id": drive,
            "sensor_id": ["cam", "cam", "lidar"],
            "t_ns": [T0 + 1_000_000_000, T0 + 9_000_000_000, T0 + 1_000_000_000],
            "width": [W, W // 2, W],
            "height": [H, H // 2, H],
        }
    )
    out = M.drive_masks(lake, drive, keyframes)
    assert set(out) == {("cam", T0 + 1_000_000_000), ("cam", T0 + 9_000_000_000)}  # no camera: no mask
    assert out[("cam", T0 + 1_000_000_000)].shape == (H, W)
    assert out[("cam", T0 + 9_000_000_000)].shape == (H // 2, W // 2)  # the frame's own resolution
    for m in out.values():
        assert m.dtype == np.uint8 and (m == M.DRIVABLE).any() and (m == M.LANE_MARKING).any()
        assert not m[: m.shape[0] // 2].any()
    # no tracks, events or road context: the policy's lane width, the ego's lane and one oncoming lane
    info = M.drive_road(lake, drive).info
    assert info["lane_width_source"] == "policy default" and "oncoming 1..1" in info["lanes"]
    assert M.drive_masks(lake, "20260101t000000-sim-veh-01-000000", keyframes) == {}  # no signals


# --- the floor on a held-out fleet ----------------------------------------------------------------


def _true_mask(gt, t_ns: int):
    """The true mask of the frame stamped t_ns: the row with that sensor stamp, else the nearest true
    time within half a frame period (the camera clock may be off by tens of ms)."""
    from PIL import Image

    stamps = gt["stamp_ns"].to_numpy() if "stamp_ns" in gt.columns else np.empty(0)
    i = np.flatnonzero(stamps == t_ns)
    if i.size:
        k = int(i[0])
    else:
        dt = np.abs(gt["t_ns"].to_numpy() - t_ns)
        k = int(dt.argmin())
        if dt[k] > 50_000_000:
            return None
    return np.array(Image.open(io.BytesIO(gt["png"][k])))


@pytest.mark.slow
def test_drivable_iou_floor_on_heldout_fleet(label_fleet):
    import time

    import polars as pl

    from av_contracts import tables

    lake = label_fleet["lake"]
    assert label_fleet["drives"]
    for drive_id in label_fleet["drives"]:
        keyframes = lake.read_parquet(tables.REDACTED_FRAMES.rel(drive_id=drive_id))
        t0 = time.perf_counter()
        masks = M.drive_masks(lake, drive_id, keyframes)
        wall = time.perf_counter() - t0
        assert masks, drive_id
        gt = pl.read_parquet(label_fleet["gt_root"] / f"{drive_id}.masks.parquet")
        drivable, lane = [], []
        for (sensor, t_ns), pred in masks.items():
            true = _true_mask(gt.filter(pl.col("sensor") == sensor), t_ns)
            assert true is not None, (drive_id, sensor, t_ns)
            assert pred.shape == true.shape and pred.dtype == np.uint8
            for cls, acc in ((M.DRIVABLE, drivable), (M.LANE_MARKING, lane)):
                iou = M.mask_iou(pred, true, cls)
                if iou is not None:
                    acc.append(iou)
        info = M.drive_road(lake, drive_id).info
        print(
            f"{drive_id}: {len(masks)} keyframes in {wall:.2f}s, drivable IoU {np.mean(drivable):.3f} "
            f"(min {np.min(drivable):.3f}), lane_marking IoU {np.mean(lane):.3f}; {info}"
        )
        assert np.mean(drivable) >= 0.8, (drive_id, np.mean(drivable))
