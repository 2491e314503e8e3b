"""What the labeller reads of one drive: redacted keyframes (never a bronze frame), object tracks,
the ego's motion, calibration, and the lidar sweeps nearest the keyframes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from av_assets.labels.projection import Camera
from av_assets.shared.ego import EgoState
from av_contracts import tables


@dataclass
class DriveInputs:
    drive_id: str
    keyframes: pl.DataFrame  # silver/redacted_frames rows
    tracks: pl.DataFrame
    ego: EgoState
    calibration: dict
    cameras: dict[str, Camera]
    sweeps: dict[int, np.ndarray]  # t_ns -> (n, 3) base_link lidar points
    sensor_xy: dict[str, tuple[float, float]]  # radar | lidar -> mount position in base_link (x, y)


def read_drive(lake, drive_id: str, sweep_tolerance_s: float = 0.06) -> DriveInputs:
    from av_assets.shared.ego import ego_state

    kf_rel = tables.REDACTED_FRAMES.rel(drive_id=drive_id)
    keyframes = lake.read_parquet(kf_rel) if lake.exists(kf_rel) else pl.DataFrame()
    tr_rel = tables.OBJECT_TRACKS.rel(drive_id=drive_id)
    tracks = lake.read_parquet(tr_rel) if lake.exists(tr_rel) else pl.DataFrame()
    cal_rel = tables.CALIBRATION.sidecar("calibration.json", drive_id=drive_id)
    calibration = lake.read_json(cal_rel) if lake.exists(cal_rel) else {}
    ego = ego_state(lake.read_parquet(tables.SIGNALS.rel(drive_id=drive_id)))
    sensors = keyframes["sensor_id"].unique().to_list() if keyframes.height else []
    cameras = {s: c for s in sensors if (c := Camera.from_calibration(calibration, s)) is not None}
    t = keyframes["t_ns"].to_numpy() if keyframes.height else np.empty(0, np.int64)
    sweeps = lidar_sweeps(lake, drive_id, calibration, t, sweep_tolerance_s)
    return DriveInputs(
        drive_id,
        keyframes,
        tracks,
        ego,
        calibration,
        cameras,
        sweeps,
        sensor_mounts(lake, drive_id, calibration),
    )


def sensor_mounts(lake, drive_id: str, calibration: dict) -> dict[str, tuple[float, float]]:
    """Where the radar and the lidar sit in base_link (the mean mount of each kind's sensors)."""
    from av_assets.shared.rig import extrinsics

    idx_rel = tables.FRAMES.rel(drive_id=drive_id)
    if not lake.exists(idx_rel):
        return {}
    kinds = lake.read_parquet(idx_rel).select("kind", "sensor_id").unique()
    out: dict[str, tuple[float, float]] = {}
    for (kind,), g in kinds.filter(pl.col("kind").is_in(["radar", "lidar"])).group_by(["kind"]):
        mounts = [
            ex[1][:2] for s in g["sensor_id"].to_list() if (ex := extrinsics(calibration, s)) is not None
        ]
        if mounts:
            m = np.mean(mounts, axis=0)
            out[kind] = (float(m[0]), float(m[1]))
    return out


def lidar_sweeps(
    lake, drive_id: str, calibration: dict, near_ns: np.ndarray, tol_s: float
) -> dict[int, np.ndarray]:
    """The lidar sweeps nearest the given times (within tol_s), as base_link xyz points."""
    from av_assets.shared.rig import extrinsics, open_shard

    idx_rel = tables.FRAMES.rel(drive_id=drive_id)
    if not near_ns.size or not lake.exists(idx_rel):
        return {}
    idx = lake.read_parquet(idx_rel).filter(pl.col("kind") == "lidar").sort("t_ns")
    if not idx.height:
        return {}
    t = idx["t_ns"].to_numpy()
    j = np.clip(np.searchsorted(t, near_ns), 1, t.size - 1) if t.size > 1 else np.zeros(near_ns.size, int)
    best = np.where(np.abs(t[j - 1] - near_ns) < np.abs(t[j] - near_ns), j - 1, j) if t.size > 1 else j
    best = np.unique(best[np.abs(t[best] - near_ns) <= tol_s * 1e9])
    out: dict[int, np.ndarray] = {}
    wanted = idx[best.tolist()]
    for (shard, sensor), g in wanted.group_by(["shard", "sensor_id"], maintain_order=True):
        ex = extrinsics(calibration, sensor)
        if ex is None:
            continue
        rot, trans = ex
        sg = open_shard(lake, shard)["lidar"][sensor]
        f = {n: i for i, n in enumerate(sg.attrs["fields"])}
        n_pts = sg["n_points"][:]
        for ti, k in zip(g["t_ns"].to_list(), g["index"].to_list(), strict=True):
            block = sg["points"][k, : n_pts[k]]
            xyz = block[:, [f["x"], f["y"], f["z"]]]
            xyz = xyz[np.isfinite(xyz).all(1)] @ rot.T + trans
            out[int(ti)] = xyz
    return out
