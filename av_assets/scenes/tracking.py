"""Multi-object tracking from radar detections and lidar clusters: a constant-velocity Kalman filter
per track in the ego's odometry frame (so parked cars and cones have zero velocity), Hungarian
association on Mahalanobis distance, vectorised over tracks per frame. Plain numpy/scipy."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np

from av_assets.scenes.policy import TrackerPolicy
from av_assets.shared.ego import EgoState, odometry
from av_assets.shared.geometry import box_centre

TRACK_NAMESPACE = uuid.UUID("6f1c7d0e-5c1a-4c8e-9d7e-2f0a3b4c5d6e")


@dataclass
class Frame:
    """One sensor frame of object measurements in base_link."""

    t_ns: int
    source: str  # radar | lidar
    xy: np.ndarray  # (n, 2)
    size: np.ndarray | None = None  # (n, 2) length/width (lidar clusters)
    radar_id: np.ndarray | None = None  # (n,)


def radar_frame(
    t_ns: int, pts: np.ndarray, fields: list[str], rot: np.ndarray, trans: np.ndarray, p: TrackerPolicy
) -> Frame:
    f = {n: i for i, n in enumerate(fields)}
    pts = pts[np.isfinite(pts[:, f["x"]])]
    tid = pts[:, f["track_id"]] if "track_id" in f else np.ones(len(pts))
    if p.radar_drop_untracked:
        pts, tid = pts[tid > 0], tid[tid > 0]
    xyz = np.column_stack([pts[:, f["x"]], pts[:, f["y"]], np.zeros(len(pts))]) @ rot.T + trans
    return Frame(t_ns, "radar", xyz[:, :2].astype(float), None, tid.astype(np.int64))


def lidar_clusters(
    t_ns: int, pts: np.ndarray, fields: list[str], rot: np.ndarray, trans: np.ndarray, p: TrackerPolicy
) -> Frame:
    """Non-ground points (base_link z in [lidar_min_z_m, lidar_max_z_m]) within range, grouped by
    8-connected occupancy cells (`lidar_cell_m`); one measurement per cluster: its bounding-box centre."""
    from scipy import ndimage

    f = {n: i for i, n in enumerate(fields)}
    xyz = pts[:, [f["x"], f["y"], f["z"]]]
    xyz = xyz[np.isfinite(xyz).all(1)] @ rot.T + trans
    r = np.hypot(xyz[:, 0], xyz[:, 1])
    keep = (
        (xyz[:, 2] >= p.lidar_min_z_m)
        & (xyz[:, 2] <= p.lidar_max_z_m)
        & (r <= p.lidar_max_range_m)
        & (r > 1.0)
    )
    xy = xyz[keep, :2]
    if not len(xy):
        return Frame(t_ns, "lidar", np.empty((0, 2)), np.empty((0, 2)))
    n = int(np.ceil(2 * p.lidar_max_range_m / p.lidar_cell_m)) + 1
    ij = np.floor((xy + p.lidar_max_range_m) / p.lidar_cell_m).astype(int).clip(0, n - 1)
    grid = np.zeros((n, n), bool)
    grid[ij[:, 0], ij[:, 1]] = True
    lab, _ = ndimage.label(grid, structure=np.ones((3, 3)))
    pl_ = lab[ij[:, 0], ij[:, 1]]
    ids, inv, cnt = np.unique(pl_, return_inverse=True, return_counts=True)
    lo = np.full((ids.size, 2), np.inf)
    hi = np.full((ids.size, 2), -np.inf)
    np.minimum.at(lo, inv, xy)
    np.maximum.at(hi, inv, xy)
    ext = hi - lo
    ok = (cnt >= p.lidar_min_points) & (ext.max(1) <= p.lidar_max_extent_m)
    return Frame(t_ns, "lidar", ((lo + hi) / 2)[ok], ext[ok])


def track(frames: list[Frame], ego: EgoState, p: TrackerPolicy, drive_id: str):
    """Returns a polars frame: one row per track update (confirmed tracks only) with position,
    relative and ground velocity in base_link."""
    from scipy.optimize import linear_sum_assignment

    frames = sorted(frames, key=lambda fr: (fr.t_ns, fr.source))
    s, ox, oy, opsi = odometry(ego)
    tg = ego.t_ns.astype(float)

    def pose(t):
        return np.interp(t, tg, ox), np.interp(t, tg, oy), np.interp(t, tg, opsi)

    X = np.zeros((0, 4))
    P = np.zeros((0, 4, 4))
    last_t = np.zeros(0)
    last_hit = np.zeros(0)
    hits = np.zeros(0, int)
    ids = np.zeros(0, int)
    next_id = 0
    H = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
    rows: dict[str, list] = {
        k: [] for k in ("tid", "t_ns", "wx", "wy", "wvx", "wvy", "source", "length", "width", "radar_id")
    }
    q = p.accel_noise**2
    for fr in frames:
        t = fr.t_ns / 1e9
        if X.shape[0]:
            dt = np.clip(t - last_t, 0.0, None)
            F = np.tile(np.eye(4), (X.shape[0], 1, 1))
            F[:, 0, 2] = F[:, 1, 3] = dt
            X = np.einsum("nij,nj->ni", F, X)
            d3, d4 = dt**3 / 2, dt**4 / 4
            Q = np.zeros_like(P)
            Q[:, 0, 0] = Q[:, 1, 1] = d4 * q
            Q[:, 2, 2] = Q[:, 3, 3] = dt**2 * q
            Q[:, 0, 2] = Q[:, 2, 0] = Q[:, 1, 3] = Q[:, 3, 1] = d3 * q
            P = F @ P @ F.transpose(0, 2, 1) + Q
            last_t = np.full(X.shape[0], t)
        # measurement in the odometry frame
        px, py, ppsi = pose(fr.t_ns)
        c, sn = np.cos(ppsi), np.sin(ppsi)
        z = (
            np.column_stack(
                [px + c * fr.xy[:, 0] - sn * fr.xy[:, 1], py + sn * fr.xy[:, 0] + c * fr.xy[:, 1]]
            )
            if len(fr.xy)
            else np.empty((0, 2))
        )
        sigma = p.radar_pos_sigma_m if fr.source == "radar" else p.lidar_pos_sigma_m
        R = np.eye(2) * sigma**2
        assigned_m = np.zeros(len(z), bool)
        if X.shape[0] and len(z):
            S = P[:, :2, :2] + R
            Si = np.linalg.inv(S)
            diff = z[None, :, :] - X[:, None, :2]
            d2m = np.einsum("tmi,tij,tmj->tm", diff, Si, diff)
            dist = np.linalg.norm(diff, axis=2)
            cost = np.where((d2m <= p.gate_chi2) & (dist <= p.gate_m), d2m, 1e6)
            ri, ci = linear_sum_assignment(cost)
            ok = cost[ri, ci] < 1e6
            ri, ci = ri[ok], ci[ok]
            if ri.size:
                K = P[ri][:, :, :2] @ Si[ri]  # (k,4,2)
                innov = z[ci] - X[ri, :2]
                X[ri] = X[ri] + np.einsum("kij,kj->ki", K, innov)
                P[ri] = (np.eye(4) - K @ H) @ P[ri]
                hits[ri] += 1
                last_hit[ri] = t
                assigned_m[ci] = True
                for a, b in zip(ri, ci, strict=True):
                    rows["tid"].append(ids[a])
                    rows["t_ns"].append(fr.t_ns)
                    rows["wx"].append(X[a, 0])
                    rows["wy"].append(X[a, 1])
                    rows["wvx"].append(X[a, 2])
                    rows["wvy"].append(X[a, 3])
                    rows["source"].append(fr.source)
                    rows["length"].append(float(fr.size[b, 0]) if fr.size is not None else np.nan)
                    rows["width"].append(float(fr.size[b, 1]) if fr.size is not None else np.nan)
                    rows["radar_id"].append(int(fr.radar_id[b]) if fr.radar_id is not None else -1)
        # births
        new = z[~assigned_m]
        if len(new):
            k = len(new)
            X = np.vstack([X, np.column_stack([new, np.zeros((k, 2))])])
            P0 = np.zeros((k, 4, 4))
            P0[:, 0, 0] = P0[:, 1, 1] = sigma**2
            P0[:, 2, 2] = P0[:, 3, 3] = 10.0**2
            P = np.concatenate([P, P0])
            last_t = np.concatenate([last_t, np.full(k, t)])
            last_hit = np.concatenate([last_hit, np.full(k, t)])
            hits = np.concatenate([hits, np.ones(k, int)])
            new_ids = np.arange(next_id, next_id + k)
            next_id += k
            ids = np.concatenate([ids, new_ids])
            bi = np.flatnonzero(~assigned_m)
            for j, tid in enumerate(new_ids):
                rows["tid"].append(tid)
                rows["t_ns"].append(fr.t_ns)
                rows["wx"].append(new[j, 0])
                rows["wy"].append(new[j, 1])
                rows["wvx"].append(0.0)
                rows["wvy"].append(0.0)
                rows["source"].append(fr.source)
                rows["length"].append(float(fr.size[bi[j], 0]) if fr.size is not None else np.nan)
                rows["width"].append(float(fr.size[bi[j], 1]) if fr.size is not None else np.nan)
                rows["radar_id"].append(int(fr.radar_id[bi[j]]) if fr.radar_id is not None else -1)
        # deaths
        alive = (t - last_hit) <= p.max_missed_s
        if not alive.all():
            X, P, last_t, last_hit, hits, ids = (
                X[alive],
                P[alive],
                last_t[alive],
                last_hit[alive],
                hits[alive],
                ids[alive],
            )
    return _track_table(rows, ego, p, drive_id, pose)


TRACK_SCHEMA = {
    "drive_id": "String",
    "track_id": "String",
    "t_ns": "Int64",
    "x": "Float64",
    "y": "Float64",
    "vx": "Float64",
    "vy": "Float64",
    "vx_ground": "Float64",
    "vy_ground": "Float64",
    "ground_speed_mps": "Float64",
    "source": "String",
    "length_m": "Float64",
    "width_m": "Float64",
    "radar_track_id": "Int64",
    "hits": "Int64",
    "x_near": "Float64",
    "y_near": "Float64",
    "range_near_m": "Float64",
    "box_length_m": "Float64",
    "box_width_m": "Float64",
    "box_height_m": "Float64",
    "heading_rad": "Float64",
    "class_guess": "String",
}

CLASSES = ("vehicle", "pedestrian", "cyclist", "static", "unknown")


def classify_tracks(track_id, ground_speed, obs_x, obs_y, p: TrackerPolicy):
    """Per track: class guess and box size from the lidar footprint (the clusters' base_link x/y
    extents; NaN on radar rows) and the median ground speed:
    - vehicle: median ground speed >= `vehicle_min_speed_mps`, or moving (>= `heading_min_speed_mps`)
      with a footprint longer than `small_max_extent_m` (or none seen): the vehicle size prior, the
      length at least the longest side seen (sensors see a moving car mostly end-on);
    - pedestrian / cyclist: a person-sized footprint (<= `small_max_extent_m`), moving, split at
      `pedestrian_max_speed_mps`: their size priors;
    - vehicle, standing: a footprint seen end-on (across the line of sight wider than
      `small_max_extent_m`, at most `vehicle_max_width_m`, shorter than `vehicle_min_extent_m` and
      not deeper than wide): a parked car's rear or front, the vehicle prior along the ego's axis;
    - static: other standing lidar-seen objects: the footprint seen (90th percentile of the x and y
      extents; no heading, so no prior: a barrier, a cone, a parked car seen side-on);
    - unknown: standing, radar only: no size (the position stays the measured one).
    Returns a polars frame `track_id, class_guess, box_length_m, box_width_m, box_height_m`."""
    import polars as pl

    prof = (
        pl.DataFrame({"track_id": track_id, "v": ground_speed, "ex": obs_x, "ey": obs_y})
        .with_columns(pl.col("ex").fill_nan(None), pl.col("ey").fill_nan(None))
        .group_by("track_id")
        .agg(
            pl.col("v").median().alias("v50"),
            pl.col("ex").drop_nulls().quantile(0.9).alias("ex"),
            pl.col("ey").drop_nulls().quantile(0.9).alias("ey"),
            pl.max_horizontal("ex", "ey").drop_nulls().quantile(0.9).alias("ext"),
        )
    )
    v50 = prof["v50"].to_numpy()
    ext = prof["ext"].fill_null(np.nan).to_numpy()
    ex, ey = prof["ex"].fill_null(np.nan).to_numpy(), prof["ey"].fill_null(np.nan).to_numpy()
    seen = np.isfinite(ext)
    small = seen & (ext <= p.small_max_extent_m)
    moving = v50 >= p.heading_min_speed_mps
    cls = np.full(prof.height, "unknown", dtype=object)
    cls[seen & ~moving] = "static"
    cls[moving & ~small] = "vehicle"
    cls[moving & small] = "pedestrian"
    cls[moving & small & (v50 > p.pedestrian_max_speed_mps)] = "cyclist"
    cls[v50 >= p.vehicle_min_speed_mps] = "vehicle"
    # standing and seen end-on: wider than a person, no wider than a car, deeper than wide is not
    # seen: a parked car's rear/front (a barrier across the road is wider than any car)
    end_on = (
        seen & ~moving & ~small & (ext < p.vehicle_min_extent_m) & (ey >= ex) & (ey <= p.vehicle_max_width_m)
    )
    cls[end_on] = "vehicle"
    e = np.nan_to_num(ext, nan=0.0)
    kinds = [cls == "vehicle", cls == "pedestrian", cls == "cyclist", cls == "static"]
    length = np.select(
        kinds, [np.maximum(p.vehicle_length_m, e), p.pedestrian_size_m, p.cyclist_length_m, ex], np.nan
    )
    width = np.select(kinds, [p.vehicle_width_m, p.pedestrian_size_m, p.cyclist_width_m, ey], np.nan)
    height = np.select(
        kinds,
        [p.vehicle_height_m, p.pedestrian_height_m, p.pedestrian_height_m, p.small_static_height_m],
        np.nan,
    )
    return prof.select("track_id").with_columns(
        pl.Series("class_guess", cls.astype(str)),
        pl.Series("box_length_m", length),
        pl.Series("box_width_m", width),
        pl.Series("box_height_m", height),
    )


def empty_tracks():
    import polars as pl

    return pl.DataFrame(schema={k: getattr(pl, v) for k, v in TRACK_SCHEMA.items()})


def _track_table(rows, ego: EgoState, p: TrackerPolicy, drive_id: str, pose):
    import polars as pl

    if not rows["tid"]:
        return empty_tracks()
    df = pl.DataFrame({k: np.asarray(v) for k, v in rows.items()})
    df = df.with_columns(pl.len().over("tid").alias("hits")).filter(pl.col("hits") >= p.confirm_hits)
    # uuids numbered in order of first appearance (deterministic)
    first = df.group_by("tid").agg(pl.col("t_ns").min().alias("t0")).sort("t0", "tid")
    first = first.with_columns(
        pl.Series(
            "track_id", [str(uuid.uuid5(TRACK_NAMESPACE, f"{drive_id}/{i}")) for i in range(first.height)]
        )
    )
    df = df.join(first.select("tid", "track_id"), on="tid").sort("track_id", "t_ns")
    t = df["t_ns"].to_numpy()
    px, py, ppsi = pose(t)
    c, sn = np.cos(ppsi), np.sin(ppsi)
    dx, dy = df["wx"].to_numpy() - px, df["wy"].to_numpy() - py
    bx, by = c * dx + sn * dy, -sn * dx + c * dy
    wvx, wvy = df["wvx"].to_numpy(), df["wvy"].to_numpy()
    gvx, gvy = c * wvx + sn * wvy, -sn * wvx + c * wvy  # ground velocity in base_link axes
    v = np.interp(t, ego.t_ns, ego.speed)
    w = np.interp(t, ego.t_ns, np.nan_to_num(ego.yaw_rate))
    # relative velocity in the rotating ego frame: v_rel = v_ground - v_ego - omega x p
    rvx, rvy = gvx - v + w * by, gvy - w * bx
    gspeed = np.hypot(gvx, gvy)
    length, width = df["length"].to_numpy(), df["width"].to_numpy()
    source = df["source"].to_numpy()
    cls = classify_tracks(df["track_id"], gspeed, length, width, p)
    box = df.select("track_id").join(cls, on="track_id", how="left", maintain_order="left")
    heading = np.where(gspeed >= p.heading_min_speed_mps, np.arctan2(gvy, gvx), 0.0)
    cx, cy = box_centre(
        bx, by, heading, box["box_length_m"].to_numpy(), box["box_width_m"].to_numpy(), source, length, width
    )
    out = pl.DataFrame(
        {
            "drive_id": [drive_id] * df.height,
            "track_id": df["track_id"],
            "t_ns": df["t_ns"].cast(pl.Int64),
            "x": cx,
            "y": cy,
            "vx": rvx,
            "vy": rvy,
            "vx_ground": gvx,
            "vy_ground": gvy,
            "ground_speed_mps": gspeed,
            "source": df["source"],
            "length_m": df["length"],
            "width_m": df["width"],
            "radar_track_id": df["radar_id"].cast(pl.Int64),
            "hits": df["hits"].cast(pl.Int64),
            "x_near": bx,
            "y_near": by,
            "range_near_m": np.hypot(bx, by),
            "box_length_m": box["box_length_m"],
            "box_width_m": box["box_width_m"],
            "box_height_m": box["box_height_m"],
            "heading_rad": heading,
            "class_guess": box["class_guess"],
        }
    )
    return out.sort("t_ns", "track_id")
