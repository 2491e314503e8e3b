"""Offline drivable-area and lane-marking masks for camera keyframes, made without looking at the image.

The labeller knows where the road is from what the pipeline already measured, not from pixels:

- the ego's own future path: dead-reckoned odometry (speed x yaw rate) from silver/signals. Offline, the
  whole drive is known, so the path the ego *will* drive is the lane centre ahead of every keyframe;
  beyond the recorded drive (or `horizon_s`) it continues straight on its last heading;
- the ego's lane changes (silver/event_detections `lane_change`, else the tracks' `ego_lane_shift_m`):
  during and after a change the path is one lane width off the lane the drive started in, so the road's
  edges, fixed to that starting lane, are shifted back by the change, following the sideways move
  measured from odometry around the detected interval (`lane_change_profile`), and the road's normal is
  the path's turned back by the angle the change crosses the road at;
- the road's cross-section in lanes of the starting ("base") lane frame (`road_lanes`): the lanes the ego
  drove in, plus lanes where moving vehicles were tracked for long enough (silver/object_tracks: lateral
  offset + the ego's lane shift at that instant), plus `oncoming_lanes` assumed left of the leftmost
  same-direction lane (a two-way road under right-hand traffic) unless the tracks show more;
- the lane width: silver/road_context `lane_width_m` where enrichment gives it, else the width the scenes
  domain assigned the tracks' `lane` column with (recovered from the tracks themselves), else the
  policy's default;
- the camera: the calibration.json sidecar of silver/calibration (extrinsics base_link -> optical frame,
  intrinsics K).

The road and lane-boundary strips are swept along the path as quads on the flat ground (base_link z = 0),
clipped at a near plane in front of the camera (points behind it never wrap into the image), projected
through the pinhole model and filled with cv2. Tracked objects (silver/object_tracks boxes) are carved
back to background, as they hide the road. Pure geometry lives in plain functions; `drive_masks` reads.

The masks use no image, so light and weather do not change them. The keyframe's `t_ns` is taken as its
capture time: a camera clock offset that silver/signals_clock did not correct shows as a slight
rotation of the road while the ego's heading changes (lane changes, bends).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from av_assets.labels.projection import Camera, cuboid_corners, project_cuboids
from av_assets.shared.ego import EgoState, ego_state, odometry
from av_contracts import tables
from av_contracts.taxonomy import SEG_CLASSES

BACKGROUND = SEG_CLASSES.index("background")
DRIVABLE = SEG_CLASSES.index("drivable")
LANE_MARKING = SEG_CLASSES.index("lane_marking")


@dataclass(frozen=True)
class MaskPolicy:
    """The labeller's own defaults (none taken from the fleet generator)."""

    horizon_s: float = 40.0
    """Seconds of the ego's future odometry used as the road's centre line; beyond, straight on."""
    max_range_m: float = 150.0
    """How far ahead (along the path) the road is drawn; beyond, the road is a few pixels tall."""
    step_m: float = 1.0
    """Sampling step along the path (m) of the swept quads."""
    near_plane_m: float = 0.5
    """Polygons are clipped at this depth in front of the camera (optical z) before projection."""
    lane_width_m: float = 3.25
    """Lane width when neither road context nor the tracks give one (a common urban lane)."""
    marking_width_m: float = 0.15
    """Painted width of a lane-boundary line (m); each boundary becomes a strip this wide."""
    oncoming_lanes: int = 1
    """Lanes assumed left of the leftmost same-direction lane (two-way road, right-hand traffic)."""
    lane_evidence_s: float = 2.0
    """Track-seconds of moving vehicles centred in a lane needed to add that lane to the road."""
    lane_evidence_mps: float = 6.0
    """Ground speed (m/s) above which a tracked vehicle is traffic in a lane (not parked, not a bike)."""
    lane_evidence_tol: float = 0.3
    """How close (fraction of a lane width) to a lane's centre a vehicle must be to count for it."""
    lane_evidence_min_track_s: float = 1.0
    """Tracks shorter than this (s) are not lane evidence (clutter, fragments)."""
    lane_change_pad_s: float = 1.0
    """Seconds either side of a lane change's padded window over which the road's heading is taken."""
    lane_change_tolerance: float = 0.35
    """A lane change's measured sideways move is used as its shape when it is within this fraction of
    one lane width; else the shift ramps linearly over the detected interval."""
    carve_objects: bool = True
    """Tracked objects' boxes hide the road: their projection is set back to background."""
    object_min_hits: int = 5
    """Tracks with fewer hits than this are not carved."""
    object_max_gap_s: float = 0.15
    """A track is carved at a keyframe only if it has a sample within this time of the frame."""


# --- geometry ---------------------------------------------------------------------------------------


def clip_near(poly: np.ndarray, near: float) -> np.ndarray:
    """Sutherland-Hodgman clip of a polygon (N x 3, optical frame) to z >= near."""
    if poly.shape[0] == 0:
        return poly
    z = poly[:, 2]
    if (z >= near).all():
        return poly
    out = []
    n = poly.shape[0]
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        ina, inb = a[2] >= near, b[2] >= near
        if ina:
            out.append(a)
        if ina != inb:
            u = (near - a[2]) / (b[2] - a[2])
            out.append(a + u * (b - a))
    return np.array(out) if out else np.empty((0, 3))


@dataclass
class EgoPath:
    """The ego's whole-drive odometry on a time grid, plus its lane shift (m, left positive) relative
    to the lane the drive started in."""

    t_ns: np.ndarray
    s: np.ndarray
    x: np.ndarray
    y: np.ndarray
    psi: np.ndarray
    shift: np.ndarray

    @classmethod
    def from_ego(cls, ego: EgoState, shift=None) -> EgoPath:
        s, x, y, psi = odometry(ego)
        sh = np.zeros(ego.t_ns.size) if shift is None else np.asarray(shift, float)
        return cls(ego.t_ns, s, x, y, psi, sh)


def path_ahead(path: EgoPath, t_ns: int, policy: MaskPolicy) -> tuple[np.ndarray, ...]:
    """Samples of the ego's path ahead of the pose at t_ns, in base_link at t_ns: (x, y, the road's
    heading there, lane shift relative to the shift at t_ns). Arclength steps of `policy.step_m` up to
    `policy.max_range_m`; the recorded path is used up to `horizon_s` ahead, straight on beyond."""
    tg = (path.t_ns - path.t_ns[0]).astype(float)
    tq = float(t_ns - path.t_ns[0])
    s0 = np.interp(tq, tg, path.s)
    x0, y0, p0 = np.interp(tq, tg, path.x), np.interp(tq, tg, path.y), np.interp(tq, tg, path.psi)
    sh0 = np.interp(tq, tg, path.shift)
    s_end = min(np.interp(tq + policy.horizon_s * 1e9, tg, path.s), path.s[-1])
    s_u, first = np.unique(path.s, return_index=True)
    # arclength -> time: the last grid time at that arclength would wait out standstills; the first is
    # when the ego got there
    sq = s0 + np.arange(0.0, policy.max_range_m + policy.step_m / 2, policy.step_m)
    known = np.minimum(sq, s_end)
    qx, qy = np.interp(known, s_u, path.x[first]), np.interp(known, s_u, path.y[first])
    qh = np.interp(known, s_u, path.psi[first])
    over = sq - known
    qx, qy = qx + over * np.cos(qh), qy + over * np.sin(qh)
    q_sh = np.interp(known, s_u, path.shift[first])
    # the road's heading: the path's, less the angle the ego's lane shift turns it by (a lane change
    # crosses the road at an angle; the road's normal, not the path's, carries the lateral offsets)
    if sq.size > 1:
        qh = qh - np.arctan(np.gradient(q_sh, sq))
    c, sn = np.cos(p0), np.sin(p0)
    dx, dy = qx - x0, qy - y0
    return c * dx + sn * dy, -sn * dx + c * dy, qh - p0, q_sh - sh0


def band_quads(px, py, ph, lat0: np.ndarray, lat1: np.ndarray) -> np.ndarray:
    """Ground quads (M x 4 x 3, base_link, z = 0) of the band between lateral offsets lat0..lat1 (per
    path sample, left positive) swept along the path samples (px, py, heading ph)."""
    nx, ny = -np.sin(ph), np.cos(ph)
    a = np.stack([px + lat0 * nx, py + lat0 * ny, np.zeros_like(px)], axis=1)
    b = np.stack([px + lat1 * nx, py + lat1 * ny, np.zeros_like(px)], axis=1)
    return np.stack([a[:-1], a[1:], b[1:], b[:-1]], axis=1)


def fill_ground(
    mask: np.ndarray, cam: Camera, quads: np.ndarray, value: int, near: float, pixels_ok=None
) -> None:
    """Fill ground quads (M x 4 x 3, base_link) into mask, each clipped at the near plane first."""
    import cv2

    if quads.size == 0:
        return
    opt = cam.to_optical(quads.reshape(-1, 3)).reshape(quads.shape)
    z = opt[:, :, 2]
    keep = (z >= near).any(1)
    lim = 8.0 * max(cam.width, cam.height)
    all_in = (z >= near).all(1)
    polys = []
    for q, full in zip(opt[keep], all_in[keep], strict=True):
        if not full:
            q = clip_near(q, near)
            if q.shape[0] < 3:
                continue
        px = np.clip(cam.pixels(q), -lim, lim)
        polys.append(np.round(px * 16).astype(np.int32))
    for p in polys:  # one by one: overlapping quads (inside of a bend) must not cancel out
        cv2.fillPoly(mask, [p], int(value), lineType=cv2.LINE_8, shift=4)


@dataclass(frozen=True)
class Road:
    """The road's cross-section in the drive's base lane frame: lanes k_min..k_max (0 = the lane the
    drive started in, +1 its left neighbour) of width lane_width_m. Edges at (k -+ 1/2) lane widths,
    lane-boundary markings at every half-integer lane position between them."""

    k_min: int
    k_max: int
    lane_width_m: float
    source: str = ""

    @property
    def edges(self) -> tuple[float, float]:
        return (self.k_min - 0.5) * self.lane_width_m, (self.k_max + 0.5) * self.lane_width_m

    @property
    def boundaries(self) -> np.ndarray:
        return (np.arange(self.k_min, self.k_max + 2) - 0.5) * self.lane_width_m


def render_mask(
    cam: Camera, path: EgoPath, t_ns: int, road: Road, policy: MaskPolicy, boxes: np.ndarray | None = None
) -> np.ndarray:
    """The class-index mask of one frame at t_ns: the road band and its lane-boundary strips swept
    along the ego's path ahead, projected through `cam`; then `boxes` (n x 8 x 3 corners) carved out
    (each box's silhouette: the convex hull of its part in front of the near plane)."""
    mask = np.zeros((cam.height, cam.width), np.uint8)
    px, py, ph, sh = path_ahead(path, t_ns, policy)
    if px.size < 2:
        return mask
    # a base-frame lateral position d lies at d - (ego's shift there) from the ego's path point
    lo, hi = road.edges
    base = -sh - float(np.interp(t_ns, path.t_ns, path.shift))
    fill_ground(mask, cam, band_quads(px, py, ph, base + lo, base + hi), DRIVABLE, policy.near_plane_m)
    hw = policy.marking_width_m / 2
    for d in road.boundaries:
        q = band_quads(px, py, ph, base + d - hw, base + d + hw)
        fill_ground(mask, cam, q, LANE_MARKING, policy.near_plane_m)
    if boxes is not None and len(boxes):
        import cv2

        for hull in project_cuboids(cam, boxes, policy.near_plane_m)[1]:
            if hull is not None:
                poly = np.round(hull * 16).astype(np.int32)
                cv2.fillConvexPoly(mask, poly, BACKGROUND, lineType=cv2.LINE_8, shift=4)
    return mask


def mask_iou(pred: np.ndarray, true: np.ndarray, cls: int) -> float | None:
    """Intersection over union of class `cls`; None when neither mask has the class."""
    p, t = pred == cls, true == cls
    union = int(np.count_nonzero(p | t))
    if union == 0:
        return None
    return int(np.count_nonzero(p & t)) / union


# --- what the pipeline knows about the road --------------------------------------------------------


def lane_width_from_tracks(lat: np.ndarray, lane: np.ndarray) -> float | None:
    """The lane width W the tracks' `lane` column was assigned with (lane = round(lat / W)): the
    middle of the interval of widths consistent with every row; None when the rows do not pin it
    (no row off the ego lane, or inconsistent rows)."""
    ok = np.isfinite(lat)
    a, k = np.abs(lat[ok]), np.abs(lane[ok]).astype(float)
    if not np.any(k >= 1):
        return None
    lo = float(np.max(a / (k + 0.5)))
    hi = float(np.min(a[k >= 1] / (k[k >= 1] - 0.5)))
    if not (lo > 0 and hi >= lo and hi < 3 * lo):
        return None
    return 0.5 * (lo + hi)


def road_lanes(
    ego_lanes: np.ndarray,
    track_lanes: np.ndarray,
    track_seconds: np.ndarray,
    oncoming: np.ndarray,
    policy: MaskPolicy,
) -> tuple[int, int, str]:
    """The road's lanes (k_min, k_max) in the base lane frame and why.

    - the ego's own lanes (0 and every lane it changed into) are road;
    - a lane where moving vehicles (already filtered by the caller: speed, track length, centred in
      the lane) were tracked for >= `lane_evidence_s` track-seconds in the ego's direction is a
      same-direction lane; lanes between road lanes are road;
    - left of the leftmost same-direction lane, `oncoming_lanes` lanes are assumed (two-way road,
      right-hand traffic), or as many as oncoming vehicles evidence, whichever is more."""
    same = {int(k) for k in np.unique(ego_lanes)} | {0}
    onc: set[int] = set()
    for k in np.unique(track_lanes) if track_lanes.size else []:
        sel = track_lanes == k
        fwd = float(track_seconds[sel & ~oncoming].sum())
        back = float(track_seconds[sel & oncoming].sum())
        if fwd >= policy.lane_evidence_s:
            same.add(int(k))
        if back >= policy.lane_evidence_s:
            onc.add(int(k))
    k_min, k_same = min(same), max(same)
    onc = {k for k in onc if k > k_same}
    k_max = max([k_same + policy.oncoming_lanes, *onc])
    why = f"same-direction lanes {k_min}..{k_same}, oncoming {k_same + 1}..{k_max}" if k_max > k_same else ""
    return k_min, k_max, why or f"same-direction lanes {k_min}..{k_same}"


def lane_change_profile(
    t_ns: np.ndarray, speed: np.ndarray, psi: np.ndarray, t0: float, t1: float, pad_s: float
) -> tuple[np.ndarray, float] | None:
    """The ego's sideways move over a lane change detected in [t0, t1], measured from odometry: the
    heading's deviation from the road's (the heading interpolated linearly between its means over
    `pad_s` before and after the padded window, so a steady bend is no move) integrated into a lateral
    displacement. Returns (fraction of the move done, 0 -> 1 on the grid; its total in m) or None when
    the window leaves the drive."""
    tg = t_ns.astype(float)
    span = max(t1 - t0, 1.0)
    a, b = t0 - span, t1 + span  # the detected interval is the move's core: pad it by its length
    pad = pad_s * 1e9
    if a - pad < tg[0] or b + pad > tg[-1]:
        return None
    pre, post = (tg >= a - pad) & (tg < a), (tg > b) & (tg <= b + pad)
    if not pre.any() or not post.any():
        return None
    h0, h1 = float(psi[pre].mean()), float(psi[post].mean())
    road = h0 + (h1 - h0) * np.clip((tg - (a - pad / 2)) / (b - a + pad), 0.0, 1.0)
    inside = (tg >= a) & (tg <= b)
    dt = np.diff(tg, prepend=tg[0]) / 1e9
    lat = np.cumsum(np.where(inside, speed * np.sin(psi - road) * dt, 0.0))
    total = float(lat[-1])
    if total == 0.0:
        return None
    frac = np.clip(lat / total, 0.0, 1.0)
    frac[tg > b] = 1.0
    return np.maximum.accumulate(frac), total


def lane_shift_from_events(
    t_ns: np.ndarray, events, lane_width: float, speed=None, psi=None, policy: MaskPolicy = MaskPolicy()
) -> np.ndarray | None:
    """The ego's cumulative lane shift (m, left positive) on the grid from `lane_change` events: one
    lane width per change toward the event's side. The shift follows the move measured from odometry
    (`lane_change_profile`) where that is consistent with one lane width (within
    `lane_change_tolerance`), else ramps linearly over the event's interval. None without an events
    table."""
    if events is None:
        return None
    shift = np.zeros(t_ns.size)
    if not events.height or "type" not in events.columns:
        return shift
    for row in events.filter(events["type"] == "lane_change").iter_rows(named=True):
        detail = (row.get("detail") or "").strip().lower()
        side = 1.0 if detail.startswith("left") else -1.0 if detail.startswith("right") else 0.0
        t0, t1 = float(row["t_start_ns"]), float(row["t_end_ns"])
        frac = np.clip((t_ns.astype(float) - t0) / max(t1 - t0, 1.0), 0.0, 1.0)
        if speed is not None and psi is not None:
            prof = lane_change_profile(t_ns, speed, psi, t0, t1, policy.lane_change_pad_s)
            if prof is not None and abs(side * prof[1] / lane_width - 1.0) <= policy.lane_change_tolerance:
                frac = prof[0]
        shift += side * lane_width * frac
    return shift


def lane_shift_from_tracks(t_ns: np.ndarray, tracks) -> np.ndarray:
    """The ego's lane shift on the grid from the tracks' `ego_lane_shift_m` (zero where absent)."""
    if tracks is None or not tracks.height or "ego_lane_shift_m" not in tracks.columns:
        return np.zeros(t_ns.size)
    d = tracks.select("t_ns", "ego_lane_shift_m").drop_nulls().unique("t_ns").sort("t_ns")
    if not d.height:
        return np.zeros(t_ns.size)
    t0 = t_ns[0]
    return np.interp(
        (t_ns - t0).astype(float), (d["t_ns"].to_numpy() - t0).astype(float), d["ego_lane_shift_m"].to_numpy()
    )


def lane_evidence(tracks, lane_width: float, policy: MaskPolicy):
    """Per track (moving vehicles only): (base-frame lane, seconds centred in it, oncoming?)."""
    import polars as pl

    empty = np.empty(0, int), np.empty(0), np.empty(0, bool)
    need = {"track_id", "t_ns", "lateral_offset_m", "ego_lane_shift_m", "ground_speed_mps", "vx_ground"}
    if tracks is None or not tracks.height or not need <= set(tracks.columns):
        return empty
    cls = pl.col("class_guess") if "class_guess" in tracks.columns else pl.lit("vehicle")
    d = (
        tracks.with_columns(
            ((pl.col("lateral_offset_m") + pl.col("ego_lane_shift_m")) / lane_width).alias("_pos"),
            cls.alias("_cls"),
        )
        .drop_nulls(["_pos", "ground_speed_mps", "vx_ground"])
        .sort("track_id", "t_ns")
        .with_columns(pl.col("t_ns").diff().over("track_id").fill_null(0).clip(0, 200_000_000).alias("_dt"))
    )
    d = d.filter(
        (pl.col("_cls") == "vehicle")
        & (pl.col("ground_speed_mps") >= policy.lane_evidence_mps)
        & ((pl.col("_pos") - pl.col("_pos").round()).abs() <= policy.lane_evidence_tol)
    )
    if not d.height:
        return empty
    g = (
        d.group_by("track_id", pl.col("_pos").round().cast(pl.Int64).alias("_lane"))
        .agg(
            (pl.col("_dt").sum() / 1e9).alias("_s"),
            ((pl.col("t_ns").max() - pl.col("t_ns").min()) / 1e9).alias("_span"),
            (pl.col("vx_ground").median() < 0).alias("_onc"),
        )
        .filter(pl.col("_span") >= policy.lane_evidence_min_track_s)
    )
    return g["_lane"].to_numpy(), g["_s"].to_numpy(), g["_onc"].to_numpy()


def track_boxes(tracks, t_ns: int, policy: MaskPolicy) -> np.ndarray:
    """Corners (n x 8 x 3, base_link at t_ns) of every confirmed track with a sample near t_ns, moved to
    t_ns with its relative velocity."""
    import polars as pl

    empty = np.empty((0, 8, 3))
    need = {"track_id", "t_ns", "x", "y", "box_length_m", "box_width_m", "box_height_m"}
    if tracks is None or not tracks.height or not need <= set(tracks.columns):
        return empty
    gap = int(policy.object_max_gap_s * 1e9)
    d = tracks.filter((pl.col("t_ns") - t_ns).abs() <= gap)
    if "hits" in d.columns:
        d = d.filter(pl.col("hits") >= policy.object_min_hits)
    if not d.height:
        return empty
    d = (
        d.with_columns((pl.col("t_ns") - t_ns).abs().alias("_gap"))
        .sort("_gap")
        .unique("track_id", keep="first")
    )

    def col(name):  # a float column, 0 where absent or unknown
        c = pl.col(name).cast(pl.Float64) if name in d.columns else pl.lit(0.0)
        return c.fill_null(0.0).fill_nan(0.0)

    dt = (t_ns - pl.col("t_ns")) / 1e9
    dims = ("box_length_m", "box_width_m", "box_height_m")
    d = d.select(
        (pl.col("x") + col("vx") * dt).alias("x"),
        (pl.col("y") + col("vy") * dt).alias("y"),
        col("heading_rad").alias("yaw"),
        *(pl.col(c).cast(pl.Float64) for c in dims),
    ).filter(pl.all_horizontal(pl.all().is_finite()) & pl.all_horizontal(pl.col(*dims) > 0))
    if not d.height:
        return empty
    x, y, yaw, length, width, height = (d[c].to_numpy() for c in d.columns)
    return cuboid_corners(x, y, np.zeros(d.height), length, width, height, yaw)


# --- the reader -------------------------------------------------------------------------------------


@dataclass
class DriveRoad:
    """Everything the masks of one drive need, read once."""

    path: EgoPath
    road: Road
    tracks: object | None
    info: dict


def drive_road(lake, drive_id: str, policy: MaskPolicy = MaskPolicy()) -> DriveRoad | None:
    """Read signals, road context, tracks and events of a drive and decide its road; None without
    odometry (no speed signal)."""

    def read(table):
        rel = table.rel(drive_id=drive_id)
        return lake.read_parquet(rel) if lake.exists(rel) else None

    sig_rel = tables.SIGNALS.rel(drive_id=drive_id)
    if not lake.exists(sig_rel):
        return None
    ego = ego_state(lake.read_parquet(sig_rel))
    if ego.t_ns.size < 2:
        return None
    t = ego.t_ns
    tracks = read(tables.OBJECT_TRACKS)
    road_ctx = read(tables.ROAD_CONTEXT)
    width, src = None, ""
    if road_ctx is not None and "lane_width_m" in road_ctx.columns:
        w = road_ctx["lane_width_m"].drop_nulls()
        if w.len():
            width, src = float(w.median()), "silver/road_context"
    if width is None and tracks is not None and {"lateral_offset_m", "lane"} <= set(tracks.columns):
        d = tracks.select("lateral_offset_m", "lane").drop_nulls()
        width = lane_width_from_tracks(
            d["lateral_offset_m"].to_numpy(), d["lane"].to_numpy().astype(np.int64)
        )
        src = "silver/object_tracks lanes" if width else ""
    if width is None:
        width, src = policy.lane_width_m, "policy default"
    path = EgoPath.from_ego(ego)
    shift = lane_shift_from_events(t, read(tables.EVENT_DETECTIONS), width, ego.speed, path.psi, policy)
    shift_src = "silver/event_detections"
    if shift is None:
        shift, shift_src = lane_shift_from_tracks(t, tracks), "silver/object_tracks"
    path.shift = shift
    ego_lanes = np.round(shift / width).astype(int)
    k_min, k_max, why = road_lanes(ego_lanes, *lane_evidence(tracks, width, policy), policy)
    info = {
        "lane_width_m": round(width, 3),
        "lane_width_source": src,
        "lane_shift_source": shift_src,
        "lanes": why,
    }
    return DriveRoad(path, Road(k_min, k_max, width, why), tracks, info)


def drive_masks(
    lake, drive_id: str, keyframes, policy: MaskPolicy = MaskPolicy()
) -> dict[tuple[str, int], np.ndarray]:
    """keyframes: rows of silver/redacted_frames (drive_id, sensor_id, t_ns, width, height). Returns
    {(sensor_id, t_ns): uint8 mask H x W}. Frames of sensors without a camera model in the drive's
    calibration, or of a drive without odometry, are left out (not labelled, rather than empty)."""
    if keyframes is None or not keyframes.height:
        return {}
    cal_rel = tables.CALIBRATION.sidecar("calibration.json", drive_id=drive_id)
    calibration = lake.read_json(cal_rel) if lake.exists(cal_rel) else {}
    dr = drive_road(lake, drive_id, policy)
    if dr is None:
        return {}
    out: dict[tuple[str, int], np.ndarray] = {}
    cams: dict[str, Camera | None] = {}
    for row in keyframes.iter_rows(named=True):
        sensor, t = row["sensor_id"], int(row["t_ns"])
        if sensor not in cams:
            cams[sensor] = Camera.from_calibration(calibration, sensor)
        cam = cams[sensor]
        if cam is None:
            continue
        cam = cam.scaled(int(row.get("width") or cam.width), int(row.get("height") or cam.height))
        boxes = track_boxes(dr.tracks, t, policy) if policy.carve_objects else None
        out[(sensor, t)] = render_mask(cam, dr.path, t, dr.road, policy, boxes)
    return out
