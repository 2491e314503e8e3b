"""Reading the per-drive inputs of the scenes domain from the lake (sweeps from the Zarr clip shards,
calibration, road context) and building the tracker's frames."""

from __future__ import annotations

from av_assets.scenes.policy import TrackerPolicy
from av_assets.scenes.tracking import Frame, lidar_clusters, radar_frame
from av_assets.shared.rig import extrinsics, open_shard
from av_contracts import tables


def sweep_frames(lake, drive_id: str, calibration: dict, p: TrackerPolicy) -> tuple[list[Frame], dict]:
    """Every radar scan and lidar sweep of the drive's clip shards as tracker frames in base_link."""
    idx_rel = tables.FRAMES.rel(drive_id=drive_id)
    frames: list[Frame] = []
    stats = {
        "radar_scans": 0,
        "lidar_sweeps": 0,
        "radar_detections": 0,
        "lidar_clusters": 0,
        "no_extrinsics": [],
    }
    if not lake.exists(idx_rel):
        return frames, stats
    idx = lake.read_parquet(idx_rel)
    shards = sorted(set(idx.filter(idx["kind"].is_in(["radar", "lidar"]))["shard"].to_list()))
    for shard in shards:
        g = open_shard(lake, shard)
        for kind in ("radar", "lidar"):
            if kind not in g:
                continue
            for sensor in g[kind]:
                sg = g[kind][sensor]
                ex = extrinsics(calibration, sensor)
                if ex is None:
                    stats["no_extrinsics"].append(sensor)
                    continue
                rot, trans = ex
                fields = list(sg.attrs["fields"])
                pts = sg["points"][:]
                n = sg["n_points"][:]
                ts = sg["t_ns"][:]
                for i in range(len(ts)):
                    block = pts[i, : n[i]]
                    if kind == "radar":
                        fr = radar_frame(int(ts[i]), block, fields, rot, trans, p)
                        stats["radar_scans"] += 1
                        stats["radar_detections"] += len(fr.xy)
                    else:
                        fr = lidar_clusters(int(ts[i]), block, fields, rot, trans, p)
                        stats["lidar_sweeps"] += 1
                        stats["lidar_clusters"] += len(fr.xy)
                    frames.append(fr)
    stats["no_extrinsics"] = sorted(set(stats["no_extrinsics"]))
    return frames, stats


def road_context(lake, drive_id: str):
    """silver/road_context rows of the drive (enrichment, workflow 5) or None when not written."""
    import polars as pl

    files = lake.list(tables.ROAD_CONTEXT.folder(drive_id=drive_id), "*.parquet")
    if not files:
        return None
    frames = [lake.read_parquet(f) for f in files]
    return pl.concat(frames, how="diagonal_relaxed").sort("t_ns")
