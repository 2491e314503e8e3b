"""What a scenario program reads for one drive (never ground truth), through LakeStorage:
silver/object_tracks, silver/event_detections, silver/signals_grid (10 Hz SI), silver/road_context,
silver/clips. `build_inputs` is the pure part (frames in, `MiningInputs` out) so tests hand-build drives.

Stable interface (the evaluation module imports these): `load_inputs(lake, drive_id)`,
`run_query(lake, text, drive_ids)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl

from av_assets.mining.atoms import GRID_NS, snap
from av_contracts import tables

SPEED_SIGNALS = ("SPEED.SPEED", "vEgo", "speed")  # m/s on the SI grid
WHEEL_PREFIX = "WHEEL_SPEEDS.WHEEL_SPEED_"
YAW_SIGNALS = ("angular_velocity.z", "KINEMATICS.YAW_RATE", "yaw_rate")  # rad/s on the SI grid

# x, y: the box centre; x_near: the near face (gaps and distances ahead are measured to it)
TRACK_COLUMNS = (
    "x",
    "y",
    "x_near",
    "vx_ground",
    "vy_ground",
    "ground_speed_mps",
    "lane",
    "length_m",
    "width_m",
)


def rel_paths(drive_id: str) -> dict[str, str]:
    return {
        "tracks": tables.OBJECT_TRACKS.rel(drive_id=drive_id),
        "events": tables.EVENT_DETECTIONS.rel(drive_id=drive_id),
        "signals_grid": tables.SIGNALS_GRID.rel(drive_id=drive_id),
        "road": tables.ROAD_CONTEXT.rel(drive_id=drive_id),
        "clips": tables.CLIPS.rel(drive_id=drive_id),
    }


@dataclass
class MiningInputs:
    """One drive on its uniform 10 Hz grid.

    - `grid`: int64 ticks (multiples of 100 ms, as silver/signals_grid);
    - `ego`: `t_ns, speed_mps, accel_mps2, yaw_rate` on the grid (null where unknown);
    - `tracks`: object_tracks snapped to the grid (last update per track and tick);
    - `events`: silver/event_detections rows; `road`: silver/road_context rows on the grid (or None);
    - `clips`: silver/clips rows (clip_id, t_start_ns, t_end_ns).
    """

    drive_id: str
    grid: np.ndarray
    ego: pl.DataFrame
    tracks: pl.DataFrame
    events: pl.DataFrame | None
    road: pl.DataFrame | None
    clips: pl.DataFrame | None


def ego_frame(signals_grid: pl.DataFrame | None, grid: np.ndarray) -> pl.DataFrame:
    """Speed (CAN speed, else the wheel-speed mean), its derivative smoothed over 0.5 s, yaw rate."""
    base = pl.DataFrame({"t_ns": grid}, schema={"t_ns": pl.Int64})
    speed = yaw = None
    if signals_grid is not None and signals_grid.height:
        sg = signals_grid.select("t_ns", "signal", "value")
        names = set(sg["signal"].unique().to_list())
        for name in SPEED_SIGNALS:
            if name in names:
                speed = sg.filter(pl.col("signal") == name).group_by("t_ns").agg(pl.col("value").mean())
                break
        if speed is None and any(n.startswith(WHEEL_PREFIX) for n in names):
            speed = (
                sg.filter(pl.col("signal").str.starts_with(WHEEL_PREFIX))
                .group_by("t_ns")
                .agg(pl.col("value").mean())
            )
        for name in YAW_SIGNALS:
            if name in names:
                yaw = sg.filter(pl.col("signal") == name).group_by("t_ns").agg(pl.col("value").mean())
                break
    out = base
    for frame, col in ((speed, "speed_mps"), (yaw, "yaw_rate")):
        if frame is None:
            out = out.with_columns(pl.lit(None, dtype=pl.Float64).alias(col))
        else:
            out = out.join(frame.rename({"value": col}), on="t_ns", how="left")
    v = (
        out["speed_mps"]
        .cast(pl.Float64)
        .interpolate()
        .fill_null(strategy="forward")
        .fill_null(strategy="backward")
    )
    if v.null_count() == len(v) or len(v) < 2:
        accel = pl.Series("accel_mps2", [None] * len(v), dtype=pl.Float64)
    else:
        from av_assets.mining.atoms import ACCEL_SMOOTH_S

        dv = np.gradient(v.to_numpy().astype(float), GRID_NS / 1e9)
        n = max(1, int(round(ACCEL_SMOOTH_S * 1e9 / GRID_NS)))
        accel = pl.Series("accel_mps2", np.convolve(dv, np.ones(n) / n, mode="same"))
    return out.with_columns(accel).select("t_ns", "speed_mps", "accel_mps2", "yaw_rate")


def snap_tracks(tracks: pl.DataFrame | None, grid: np.ndarray) -> pl.DataFrame:
    """Object tracks on the grid: the last update of each track in each 100 ms bin."""
    cols = ["track_id", "t_ns", *TRACK_COLUMNS]
    schema = {"track_id": pl.String, "t_ns": pl.Int64} | {
        c: (pl.Int8 if c == "lane" else pl.Float64) for c in TRACK_COLUMNS
    }
    if tracks is None or tracks.height == 0:
        return pl.DataFrame(schema=schema)
    t = tracks
    for c in TRACK_COLUMNS:
        if c not in t.columns:
            t = t.with_columns(pl.lit(None, dtype=schema[c]).alias(c))
    t = t.with_columns(pl.col("x_near").fill_null(pl.col("x")))  # tables from before the centre estimate
    t = (
        t.select(cols)
        .with_columns(snap(pl.col("t_ns")).alias("t_ns"))
        .sort("track_id", "t_ns")
        .group_by("track_id", "t_ns", maintain_order=True)
        .last()
    )
    if grid.size:
        t = t.filter(pl.col("t_ns").is_between(int(grid[0]), int(grid[-1])))
    return t.cast(schema)


def make_grid(*frames: pl.DataFrame | None) -> np.ndarray:
    """Uniform 10 Hz ticks spanning the first frame that has rows (signals grid, road context, clips)."""
    for f in frames:
        if f is not None and f.height:
            if "t_ns" in f.columns:
                lo, hi = int(f["t_ns"].min()), int(f["t_ns"].max())
            else:
                lo, hi = int(f["t_start_ns"].min()), int(f["t_end_ns"].max())
            lo, hi = int(snap(lo)), int(snap(hi))
            return np.arange(lo, hi + 1, GRID_NS, dtype=np.int64)
    return np.empty(0, dtype=np.int64)


def build_inputs(
    drive_id: str,
    *,
    tracks: pl.DataFrame | None = None,
    events: pl.DataFrame | None = None,
    signals_grid: pl.DataFrame | None = None,
    road: pl.DataFrame | None = None,
    clips: pl.DataFrame | None = None,
) -> MiningInputs:
    grid = make_grid(signals_grid, road, clips)
    if road is not None and road.height:
        road = road.with_columns(snap(pl.col("t_ns")).alias("t_ns")).unique("t_ns", keep="last").sort("t_ns")
    return MiningInputs(
        drive_id=drive_id,
        grid=grid,
        ego=ego_frame(signals_grid, grid),
        tracks=snap_tracks(tracks, grid),
        events=events,
        road=road,
        clips=clips,
    )


def load_inputs(lake, drive_id: str) -> MiningInputs:
    """Read one drive's mining inputs through LakeStorage (absent tables become empty/None)."""
    paths = rel_paths(drive_id)
    frames = {k: (lake.read_parquet(p) if lake.exists(p) else None) for k, p in paths.items()}
    return build_inputs(drive_id, **frames)


def drives_in_lake(lake) -> list[str]:
    """Drives that have clips and event detections (what a catalog-wide query covers)."""
    out = []
    for rel in lake.list(tables.CLIPS.root, "*/part-0.parquet"):
        part = rel.split("/")[-2]
        if part.startswith("drive_id="):
            d = part.removeprefix("drive_id=")
            if lake.exists(rel_paths(d)["events"]):
                out.append(d)
    return sorted(set(out))


def run_query(lake, text, drive_ids: Iterable[str] | None = None) -> pl.DataFrame:
    """A query (text or compiled Program) over drives (default: every drive in the lake): the
    referred frame `drive_id, track_id, t_ns` across them."""
    from av_assets.mining.atoms import empty
    from av_assets.mining.dsl import Program, compile_query

    program = text if isinstance(text, Program) else compile_query(text)
    ids = sorted(drive_ids) if drive_ids is not None else drives_in_lake(lake)
    parts = [program.run(load_inputs(lake, d)) for d in ids]
    if not parts:
        return empty().select(pl.lit(None, dtype=pl.String).alias("drive_id"), "track_id", "t_ns")
    return pl.concat(parts).sort("drive_id", "track_id", "t_ns")
