"""The offline, non-causal auto-labeller (workflow 9): it sees the whole drive, so each object track is
smoothed both ways and gaps are filled, each track is classified once from its size, shape and motion
over its whole life, and its cuboids are projected through the calibration into every redacted
keyframe (near-plane and image-edge clipping, occlusion by depth order) as 2D box candidates with the
evidence the weak-supervision step votes on."""

from __future__ import annotations

import uuid

import numpy as np
import polars as pl

from av_assets.labels.policy import LabellerPolicy
from av_assets.labels.projection import Camera, cuboid_corners, project_cuboids, visible_fractions
from av_assets.labels.smoothing import rts_smooth
from av_assets.shared.ego import EgoState, odometry
from av_assets.shared.geometry import box_centre

LABEL_NAMESPACE = uuid.UUID("0b6c2d1e-7a4f-4e57-9b0e-3c8d5f2a1e90")

CANDIDATE_COLUMNS = (
    "sensor_id",
    "t_ns",
    "track_id",
    "class",
    "x_min",
    "y_min",
    "x_max",
    "y_max",
    "range_m",
    "visible",
    "truncated",
    "lidar_points",
    "gap_s",
    "pos_std_m",
    "track_updates",
    "radar_seen",
    "lidar_seen",
    "size_ok",
    "speed_mps",  # the track's median ground speed
    "cuboid",  # [x, y, z0, length, width, height, yaw] in base_link at t_ns
)


def label_id(drive_id: str, sensor_id: str, t_ns: int, key: str) -> str:
    return str(uuid.uuid5(LABEL_NAMESPACE, f"{drive_id}/{sensor_id}/{t_ns}/{key}"))


def _pose(ego: EgoState):
    _, ox, oy, opsi = odometry(ego)
    tg = ego.t_ns.astype(float)

    def at(t_ns):
        return np.interp(t_ns, tg, ox), np.interp(t_ns, tg, oy), np.interp(t_ns, tg, opsi)

    return at


def smooth_tracks(
    tracks: pl.DataFrame,
    ego: EgoState,
    query_ns: np.ndarray,
    p: LabellerPolicy,
    cols: tuple[str, str] = ("x", "y"),
) -> pl.DataFrame:
    """Each track's RTS-smoothed position (`cols`, base_link) and velocity at the query times it
    covers (base_link at that time), with the gap its query time sits in. One row per (track, time)."""
    pose = _pose(ego)
    out: dict[str, list] = {
        k: [] for k in ("track_id", "t_ns", "x", "y", "yaw_motion", "speed", "gap_s", "pos_std_m")
    }
    query_ns = np.unique(query_ns)
    for (tid,), g in tracks.sort("t_ns").group_by(["track_id"], maintain_order=True):
        if g.height < p.min_track_updates:
            continue
        t = g["t_ns"].to_numpy()
        px, py, ppsi = pose(t)
        bx, by = g[cols[0]].to_numpy(), g[cols[1]].to_numpy()
        wx = px + np.cos(ppsi) * bx - np.sin(ppsi) * by
        wy = py + np.sin(ppsi) * bx + np.cos(ppsi) * by
        src = g["source"].to_numpy()
        sigma = np.where(src == "lidar", p.lidar_sigma_m, p.radar_sigma_m)
        pad = int(p.pad_s * 1e9)
        q = query_ns[(query_ns >= t[0] - pad) & (query_ns <= t[-1] + pad)]
        if not q.size:
            continue
        # the gap a query time sits in: the distance between the measurements around it
        j = np.searchsorted(t, q)
        before = np.where(j > 0, q - t[np.clip(j - 1, 0, t.size - 1)], np.inf)
        after = np.where(j < t.size, t[np.clip(j, 0, t.size - 1)] - q, np.inf)
        inner = np.isfinite(before) & np.isfinite(after)
        gap = np.where(inner, before + after, np.minimum(before, after)) / 1e9
        keep = np.where(inner, gap <= p.max_gap_s, gap <= p.pad_s)
        q, gap = q[keep], gap[keep]
        if not q.size:
            continue
        ts = (t - t[0]) / 1e9
        xs, std = rts_smooth(ts, np.column_stack([wx, wy]), sigma, (q - t[0]) / 1e9, p.accel_sigma)
        qx, qy, qpsi = pose(q)
        dx, dy = xs[:, 0] - qx, xs[:, 1] - qy
        c, s = np.cos(qpsi), np.sin(qpsi)
        out["track_id"] += [tid] * q.size
        out["t_ns"] += q.tolist()
        out["x"] += (c * dx + s * dy).tolist()
        out["y"] += (-s * dx + c * dy).tolist()
        out["yaw_motion"] += (np.arctan2(xs[:, 3], xs[:, 2]) - qpsi).tolist()
        out["speed"] += np.hypot(xs[:, 2], xs[:, 3]).tolist()
        out["gap_s"] += gap.tolist()
        out["pos_std_m"] += std.tolist()
    return pl.DataFrame(
        out,
        schema={
            "track_id": pl.String,
            "t_ns": pl.Int64,
            "x": pl.Float64,
            "y": pl.Float64,
            "yaw_motion": pl.Float64,
            "speed": pl.Float64,
            "gap_s": pl.Float64,
            "pos_std_m": pl.Float64,
        },
    )


def lidar_height(states: pl.DataFrame, sweeps: dict[int, np.ndarray], p: LabellerPolicy) -> pl.DataFrame:
    """Per smoothed state, from the lidar points above the ground within `near_face_radius_m` of its
    near-face position in the sweep nearest its time (`sweeps`: t_ns -> (n, 3) base_link points):
    how many, the top one's height (the object's height where the beams reach over it), and the
    width across the line of sight of the top `upper_band_m` (a rider's shoulders vs a car's roof)."""
    st = np.array(sorted(sweeps))
    n = states.height
    cnt, top, upper = np.zeros(n, int), np.full(n, np.nan), np.full(n, np.nan)
    t, x, y = states["t_ns"].to_numpy(), states["x"].to_numpy(), states["y"].to_numpy()
    tol = int(p.lidar_sweep_tolerance_s * 1e9)
    for i in range(n if st.size else 0):
        k = st[np.argmin(np.abs(st - t[i]))]
        if abs(k - t[i]) > tol:
            continue
        pts = sweeps[int(k)]
        d2 = (pts[:, 0] - x[i]) ** 2 + (pts[:, 1] - y[i]) ** 2
        sel = (d2 <= p.near_face_radius_m**2) & (pts[:, 2] > p.min_points_above_m)
        cnt[i] = int(sel.sum())
        if not cnt[i]:
            continue
        q = pts[sel]
        top[i] = float(q[:, 2].max())
        band = q[q[:, 2] >= top[i] - p.upper_band_m]
        if len(band) >= 2:
            r = max(float(np.hypot(x[i], y[i])), 1e-6)
            across = (-y[i] * band[:, 0] + x[i] * band[:, 1]) / r
            upper[i] = float(across.max() - across.min())
    return pl.DataFrame({"lidar_points": cnt, "lidar_top_m": top, "lidar_upper_width_m": upper})


def track_shape(tracks: pl.DataFrame) -> pl.DataFrame:
    """Per track, from the lidar clusters the tracker associated with it: the extent across the
    line of sight (a car's or truck's width seen from behind, a person's shoulders) and the longest
    side seen (90th percentiles), and the median ground speed."""
    x, y = tracks["x_near"].to_numpy(), tracks["y_near"].to_numpy()
    r = np.maximum(np.hypot(x, y), 1e-6)
    ex, ey = tracks["length_m"].to_numpy(), tracks["width_m"].to_numpy()
    across = np.abs(ex * y / r) + np.abs(ey * x / r)
    return (
        tracks.select("track_id", "ground_speed_mps")
        .with_columns(
            pl.Series("across", across).fill_nan(None), pl.Series("extent", np.fmax(ex, ey)).fill_nan(None)
        )
        .group_by("track_id")
        .agg(
            pl.col("across").quantile(0.9).alias("across_m"),
            pl.col("extent").quantile(0.9).alias("extent_m"),
            pl.col("ground_speed_mps").median().alias("speed_mps"),
        )
    )


def classify(per_track: pl.DataFrame, p: LabellerPolicy) -> pl.DataFrame:
    """One class per track from its whole life: person-wide or vehicle-wide from the lidar clusters
    across the line of sight, then height (trucks), length (buses, cyclists) and speed; standing
    objects by height and footprint. Radar-only tracks keep the tracker's motion-based guess."""
    guess = per_track["class_guess"].to_numpy()
    h = per_track["height_m"].fill_null(np.nan).to_numpy()
    wide = per_track["across_m"].fill_null(np.nan).to_numpy()
    ext = per_track["extent_m"].fill_null(np.nan).to_numpy()
    v = per_track["speed_mps"].fill_null(0.0).to_numpy()
    seen = np.isfinite(wide)
    tall = h >= p.truck_min_height_m  # taller than any person or car
    cls = np.full(per_track.height, "", dtype=object)
    moving = np.isin(guess, ["vehicle", "pedestrian", "cyclist"])
    blind = moving & ~seen  # no lidar cluster: the tracker's motion-based guess, or the height
    cls[blind] = np.where(guess[blind] == "vehicle", "car", guess[blind])
    # a person: narrow across the line of sight, or a little wider (a bike seen obliquely) but
    # person-tall and short
    upper = (
        per_track["upper_width_m"].fill_null(np.nan).to_numpy()
        if "upper_width_m" in per_track.columns
        else np.full(per_track.height, np.nan)
    )
    person = (wide < p.person_max_width_m) | (upper < p.person_max_upper_width_m)
    person = moving & seen & person & ~tall
    vehicle = moving & seen & ~person
    cls[person] = "pedestrian"
    cls[person & ((v >= p.cyclist_min_speed_mps) | (ext >= p.cyclist_min_length_m))] = "cyclist"
    cls[vehicle] = "car"
    cls[vehicle & (ext >= p.bus_min_length_m)] = "bus"
    cls[moving & tall & ~(vehicle & (ext >= p.bus_min_length_m))] = "truck"
    st = guess == "static"
    cls[st & (h >= p.parked_car_min_height_m) & (wide >= p.person_max_width_m)] = "car"
    cls[st & tall] = "truck"
    cls[st & (h < p.cone_max_height_m) & (ext <= p.cone_max_extent_m)] = "traffic_cone"
    cls[st & (h < p.barrier_max_height_m) & (ext >= p.barrier_min_length_m) & (cls == "")] = "barrier"
    return per_track.with_columns(pl.Series("class", cls.astype(str)))


def size_consistent(cls: np.ndarray, h: np.ndarray, ln: np.ndarray, p: LabellerPolicy) -> np.ndarray:
    """1 the lidar's measured size fits the class, 0 it contradicts it, -1 not measured."""
    out = np.full(cls.size, -1)
    prior_h = np.array([p.priors[c].height if c in p.priors else np.nan for c in cls])
    prior_l = np.array([p.priors[c].length if c in p.priors else np.nan for c in cls])
    seen = np.isfinite(h)
    ok = seen & (h >= 0.5 * prior_h) & (h <= 1.6 * prior_h) & ~(np.isfinite(ln) & (ln > 1.8 * prior_l))
    out[seen] = 0
    out[ok] = 1
    return out


def centre_from_nearest_point(px, py, yaw, length, width, sx, sy, iterations: int = 25):
    """Box centres from the point of each footprint nearest its sensor (a radar's return): the
    nearest point of a box c, R, (L, W) to a sensor s is c + R clamp(R^T (s - c), +-L/2, +-W/2), a
    corner when seen obliquely. Solved for c by fixed-point iteration from the line-of-sight guess."""
    c, s = np.cos(yaw), np.sin(yaw)
    dx, dy = px - sx, py - sy
    r = np.maximum(np.hypot(dx, dy), 1e-6)
    cx, cy = px + dx / r * length / 2, py + dy / r * length / 2
    for _ in range(iterations):
        lx, ly = c * (sx - cx) + s * (sy - cy), -s * (sx - cx) + c * (sy - cy)
        qx, qy = np.clip(lx, -length / 2, length / 2), np.clip(ly, -width / 2, width / 2)
        cx, cy = px - (c * qx - s * qy), py - (s * qx + c * qy)
    return cx, cy


def suppress_duplicates(x, y, length, width, yaw, support, max_overlap: float) -> np.ndarray:
    """Keep-mask over one instant's cuboids: where two footprints overlap by more than `max_overlap`
    of the smaller one (one object split into two tracks: a truck's cab and trailer, radar returns
    off several of its corners), the better supported track keeps it."""
    from shapely.geometry import Polygon

    corners = cuboid_corners(x, y, np.zeros(len(x)), length, width, np.ones(len(x)), yaw)[:, [0, 1, 3, 2], :2]
    polys = [Polygon(c) for c in corners]
    keep = np.zeros(len(x), bool)
    for i in np.argsort(-np.asarray(support), kind="stable"):
        clash = any(
            polys[i].intersection(polys[j]).area > max_overlap * min(polys[i].area, polys[j].area)
            for j in np.flatnonzero(keep)
        )
        keep[i] = not clash
    return keep


def box_sizes(per_track: pl.DataFrame, p: LabellerPolicy) -> pl.DataFrame:
    """Each classified track's cuboid size: measured where the lidar saw it (clipped to a sane band
    around the class prior), the prior elsewhere; and whether the measurement fits the class."""
    cls = per_track["class"].to_numpy()
    prior = [p.priors[c] for c in cls]
    h, ln, w = (per_track[c].fill_null(np.nan).to_numpy() for c in ("height_m", "extent_m", "across_m"))
    pl_, pw, ph = (np.array([getattr(q, a) for q in prior]) for a in ("length", "width", "height"))
    return per_track.with_columns(
        # the longest side seen is the length only once it is long enough to be one (from behind the
        # lidar sees a vehicle's width)
        pl.Series("box_length", np.where(ln >= 0.6 * pl_, np.clip(ln, 0.6 * pl_, 1.8 * pl_), pl_)),
        pl.Series("box_width", np.where(np.isfinite(w), np.clip(w, 0.85 * pw, 1.2 * pw), pw)),
        pl.Series("box_height", np.where(np.isfinite(h), np.clip(h, 0.8 * ph, 1.3 * ph), ph)),
        pl.Series("size_ok", size_consistent(cls, h, ln, p)),
    )


def candidates(
    drive_id: str,
    tracks: pl.DataFrame,
    ego: EgoState,
    keyframes: pl.DataFrame,
    cameras: dict[str, Camera],
    sweeps: dict[int, np.ndarray],
    p: LabellerPolicy,
    sensor_xy: dict[str, tuple[float, float]] | None = None,
) -> pl.DataFrame:
    """2D box candidates on every keyframe (one row per track seen in it), with their evidence."""
    empty = pl.DataFrame(schema={"label_id": pl.String, **{c: pl.Float64 for c in CANDIDATE_COLUMNS}})
    if not tracks.height or not keyframes.height:
        return empty.clear()
    query = keyframes["t_ns"].to_numpy()
    sensor_xy = sensor_xy or {}
    # pass 1: what the sensors saw (near faces), for the lidar evidence and the class
    near = smooth_tracks(tracks, ego, query, p, cols=("x_near", "y_near"))
    if not near.height:
        return empty.clear()
    near = near.hstack(lidar_height(near, sweeps, p))
    seen = pl.col("lidar_points") >= p.min_height_points
    per_track = (
        near.group_by("track_id")
        .agg(
            pl.col("lidar_top_m").filter(seen).quantile(0.9).alias("height_m"),
            pl.col("lidar_upper_width_m").filter(seen).drop_nans().median().alias("upper_width_m"),
        )
        .join(tracks.group_by("track_id").agg(pl.col("class_guess").first()), on="track_id")
        .join(track_shape(tracks), on="track_id", how="left")
    )
    per_track = box_sizes(classify(per_track, p).filter(pl.col("class") != ""), p)
    # pass 2: each measurement moved to the box centre with the track's size, then smoothed
    t2 = tracks.join(per_track.select("track_id", "box_length", "box_width"), on="track_id")
    args = [t2[c].to_numpy() for c in ("x_near", "y_near", "heading_rad", "box_length", "box_width")]
    cx, cy = box_centre(*args, t2["source"].to_numpy(), t2["length_m"].to_numpy(), t2["width_m"].to_numpy())
    # radar returns come off the footprint's nearest point (a corner when seen obliquely)
    radar = (t2["source"] == "radar").to_numpy()
    if radar.any() and "radar" in sensor_xy:
        rx, ry = centre_from_nearest_point(*(a[radar] for a in args), *sensor_xy["radar"])
        cx[radar], cy[radar] = rx, ry
    states = smooth_tracks(
        t2.with_columns(pl.Series("cx", cx), pl.Series("cy", cy)), ego, query, p, cols=("cx", "cy")
    )
    info = tracks.group_by("track_id").agg(
        pl.len().alias("track_updates"),
        (pl.col("source") == "radar").any().alias("radar_seen"),
        (pl.col("source") == "lidar").any().alias("lidar_seen"),
    )
    moving = states["speed"].to_numpy() >= p.moving_speed_mps
    states = (
        states.with_columns(pl.Series("yaw", np.where(moving, states["yaw_motion"].to_numpy(), 0.0)))
        .join(info, on="track_id", how="left")
        .join(per_track, on="track_id")
        .join(near.select("track_id", "t_ns", "lidar_points"), on=["track_id", "t_ns"], how="left")
        .with_columns(pl.col("lidar_points").fill_null(0))
    )
    if not states.height:
        return empty.clear()
    rows = []
    for (sensor_id, t_ns), _ in keyframes.group_by(["sensor_id", "t_ns"], maintain_order=True):
        cam = cameras.get(sensor_id)
        st = states.filter(pl.col("t_ns") == t_ns)
        if cam is None or not st.height:
            continue
        support = st["track_updates"].to_numpy() + st["lidar_points"].to_numpy()
        dup = suppress_duplicates(
            st["x"].to_numpy(),
            st["y"].to_numpy(),
            st["box_length"].to_numpy(),
            st["box_width"].to_numpy(),
            st["yaw"].to_numpy(),
            support,
            p.max_footprint_overlap,
        )
        st = st.filter(pl.Series(dup))
        x, y = st["x"].to_numpy(), st["y"].to_numpy()
        corners = cuboid_corners(
            x,
            y,
            np.zeros(st.height),
            st["box_length"].to_numpy(),
            st["box_width"].to_numpy(),
            st["box_height"].to_numpy(),
            st["yaw"].to_numpy(),
        )
        boxes, hulls, depth = project_cuboids(cam, corners, p.near_plane_m)
        vis, clipped = visible_fractions(cam, boxes, hulls, depth)
        rng = np.hypot(x, y)
        ok = (
            np.isfinite(clipped).all(1)
            & (rng <= p.max_range_m)
            & (vis >= p.min_visible)
            & (np.nan_to_num(clipped[:, 2] - clipped[:, 0]) >= p.min_box_px)
            & (np.nan_to_num(clipped[:, 3] - clipped[:, 1]) >= p.min_box_px)
        )
        for i in np.flatnonzero(ok):
            r = st.row(i, named=True)
            rows.append(
                {
                    "label_id": label_id(drive_id, sensor_id, t_ns, r["track_id"]),
                    "sensor_id": sensor_id,
                    "t_ns": int(t_ns),
                    "track_id": r["track_id"],
                    "class": r["class"],
                    "x_min": clipped[i, 0],
                    "y_min": clipped[i, 1],
                    "x_max": clipped[i, 2],
                    "y_max": clipped[i, 3],
                    "range_m": float(rng[i]),
                    "visible": float(vis[i]),
                    "truncated": bool((boxes[i] != clipped[i]).any()),
                    "lidar_points": int(r["lidar_points"]),
                    "gap_s": r["gap_s"],
                    "pos_std_m": r["pos_std_m"],
                    "track_updates": int(r["track_updates"]),
                    "radar_seen": bool(r["radar_seen"]),
                    "lidar_seen": bool(r["lidar_seen"]),
                    "size_ok": int(r["size_ok"]),
                    "speed_mps": float(r["speed_mps"] or 0.0),
                    "cuboid": [
                        float(x[i]),
                        float(y[i]),
                        0.0,
                        r["box_length"],
                        r["box_width"],
                        r["box_height"],
                        r["yaw"],
                    ],
                }
            )
    if not rows:
        return empty.clear()
    return pl.DataFrame(rows)
