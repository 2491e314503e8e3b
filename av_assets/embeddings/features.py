"""Clip embeddings: one L2-normalised vector per clip from what carries meaning in it.

Plain functions (no Dagster, no I/O): `clip_vectors(...)` takes a drive's clips and the per-drive
frames (signals_grid, object_tracks, event_detections, road_context, catalog rows, keyframe
descriptors) and returns one row per clip with its vector. The vector is a concatenation of blocks,
each L2-normalised and weighted, then the whole is L2-normalised:

- signals: speed / longitudinal accel / yaw-rate stats and fixed-bin histograms, brake and
  turn-signal duty (10 Hz SI grid over the clip)
- tracks: object counts, stationary objects, nearest lead in the ego lane (gap, closing speed),
  objects entering the ego lane
- events: multi-hot over the detected event types whose interval overlaps the clip
- conditions: day/night, weather, road class (one-hot)
- visual: the mean VisualEncoder vector of the clip's redacted keyframes (colour, light, layout,
  edges today; see visual.py)

Scalars use fixed reference scales (not fleet statistics), so a clip's vector depends only on its
own drive: per-drive runs stay independent and re-running a drive reproduces its vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from av_assets.embeddings.visual import colour_histogram  # noqa: F401 - re-exported (tests, clip visual)

MODEL_NAME = "av-clip-profile"
MODEL_VERSION = "2"  # bump when the features or weights change what is written (2: colour-layout visual)
DIM = 160  # fixed width (blocks zero-padded) so the ANN index (PQ sub-vectors) divides it

EVENT_TYPES = ("cut_in", "harsh_brake", "stationary_hazard", "disengagement", "speeding", "lane_change")
DAY_NIGHT = ("day", "dusk", "night")  # silver/road_context labels (enrich/sun.py); "twilight" read as dusk
WEATHERS = ("clear", "cloudy", "rain", "snow", "fog")
ROAD_CLASSES = ("motorway", "trunk", "primary", "secondary", "tertiary", "residential", "service")

VIS_BINS = 3  # colour histogram bins per channel (27 joint bins)

WEIGHTS = {"signals": 1.0, "tracks": 0.6, "events": 1.2, "conditions": 0.5, "visual": 1.0}

SPEED = ("SPEED.SPEED",)
ACCEL_X = ("KINEMATICS.ACCEL_X", "linear_acceleration.x")
ACCEL_Y = ("KINEMATICS.ACCEL_Y", "linear_acceleration.y")
YAW = ("KINEMATICS.YAW_RATE", "angular_velocity.z")
BRAKE = ("BRAKE_MODULE.BRAKE_PRESSED",)
TURN = ("BLINKERS_STATE.TURN_SIGNALS",)
STEER_RATE = ("STEER_ANGLE_SENSOR.STEER_RATE",)

SPEED_BINS = np.array([0.0, 2.0, 8.0, 14.0, 20.0, 26.0, 33.0, 1e9])
ACCEL_BINS = np.array([-1e9, -4.0, -2.0, -0.7, 0.7, 2.0, 1e9])
YAW_BINS = np.array([0.0, 0.02, 0.06, 0.15, 0.3, 1e9])


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-12 else v


def _series(grid: pl.DataFrame, names: Sequence[str], a: int, b: int) -> np.ndarray:
    """Values of the first signal of `names` present in the grid over [a, b)."""
    for name in names:
        s = grid.filter((pl.col("signal") == name) & (pl.col("t_ns") >= a) & (pl.col("t_ns") < b))
        if s.height:
            return s.sort("t_ns")["value"].drop_nulls().to_numpy().astype(float)
    return np.empty(0)


def _stats(x: np.ndarray, scale: float) -> list[float]:
    if x.size == 0:
        return [0.0] * 4
    return [float(np.tanh(v / scale)) for v in (x.mean(), x.std(), x.min(), x.max())]


def _hist(x: np.ndarray, bins: np.ndarray) -> list[float]:
    if x.size == 0:
        return [0.0] * (len(bins) - 1)
    h, _ = np.histogram(x, bins=bins)
    return (h / x.size).tolist()


def signal_block(grid: pl.DataFrame, a: int, b: int) -> np.ndarray:
    speed = _series(grid, SPEED, a, b)
    ax, ay = _series(grid, ACCEL_X, a, b), _series(grid, ACCEL_Y, a, b)
    yaw = np.abs(_series(grid, YAW, a, b))
    brake, turn = _series(grid, BRAKE, a, b), _series(grid, TURN, a, b)
    steer = np.abs(_series(grid, STEER_RATE, a, b))
    feats = (
        _stats(speed, 15.0)
        + _stats(ax, 2.0)
        + _stats(ay, 2.0)
        + _stats(yaw, 0.1)
        + _hist(speed, SPEED_BINS)
        + _hist(ax, ACCEL_BINS)
        + _hist(yaw, YAW_BINS)
        + [
            float((brake > 0.5).mean()) if brake.size else 0.0,
            float((turn > 0.5).mean()) if turn.size else 0.0,
            float(np.tanh(steer.max() / 0.5)) if steer.size else 0.0,
            float(np.tanh(np.abs(np.diff(ax)).max() / 1.0)) if ax.size > 1 else 0.0,  # jerk per tick
        ]
    )
    return np.asarray(feats, float)


def track_block(tracks: pl.DataFrame | None, a: int, b: int) -> np.ndarray:
    n = 10
    if tracks is None or tracks.height == 0:
        return np.zeros(n)
    t = tracks.filter((pl.col("t_ns") >= a) & (pl.col("t_ns") < b))
    if t.height == 0:
        return np.zeros(n)
    n_tracks = t["track_id"].n_unique()
    per_tick = t.group_by("t_ns").len()["len"].to_numpy()
    speed = (
        t["ground_speed_mps"].fill_null(0.0).to_numpy() if "ground_speed_mps" in t.columns else np.zeros(0)
    )
    stationary = (
        t.filter(pl.col("ground_speed_mps").abs() < 0.5)["track_id"].n_unique()
        if "ground_speed_mps" in t.columns
        else 0
    )
    lane = t["lane"].to_numpy() if "lane" in t.columns else np.full(t.height, 99)
    near = pl.coalesce("x_near", "x") if "x_near" in t.columns else pl.col("x")
    x = t.select(near)[:, 0].to_numpy()  # gaps to the near face
    vx = t["vx"].fill_null(0.0).to_numpy() if "vx" in t.columns else np.zeros(t.height)
    lead = (lane == 0) & (x > 0)
    gaps = x[lead]
    closing = -vx[lead]
    entered = 0
    if "lane" in t.columns:
        lanes = t.sort("t_ns").group_by("track_id").agg(pl.col("lane"))
        for ls in lanes["lane"].to_list():
            ls = [v for v in ls if v is not None]
            entered += int(any(p != 0 and q == 0 for p, q in zip(ls[:-1], ls[1:], strict=True)))
    return np.asarray(
        [
            float(np.tanh(n_tracks / 10.0)),
            float(np.tanh(per_tick.mean() / 5.0)),
            float(np.tanh(stationary / 3.0)),
            float(np.tanh(speed.mean() / 15.0)) if speed.size else 0.0,
            float(lead.any()),
            float(np.tanh(gaps.min() / 30.0)) if gaps.size else 1.0,
            float(np.tanh(gaps.mean() / 30.0)) if gaps.size else 1.0,
            float(np.tanh(closing.max() / 5.0)) if closing.size else 0.0,
            float(lead.mean()),
            float(np.tanh(entered / 2.0)),
        ],
        float,
    )


def clip_event_types(events: pl.DataFrame | None, a: int, b: int) -> list[str]:
    """Detected event types whose interval overlaps [a, b)."""
    if events is None or events.height == 0:
        return []
    hit = events.filter((pl.col("t_start_ns") < b) & (pl.col("t_end_ns") >= a))
    return sorted(set(hit["type"].to_list()))


def _one_hot(value: str | None, vocab: Sequence[str]) -> list[float]:
    return [1.0 if value == v else 0.0 for v in vocab]


def _mode(frame: pl.DataFrame | None, col: str, a: int, b: int) -> str | None:
    if frame is None or frame.height == 0 or col not in frame.columns:
        return None
    s = frame.filter((pl.col("t_ns") >= a) & (pl.col("t_ns") < b))[col].drop_nulls()
    if s.len() == 0:
        return None
    return str(s.mode().sort()[0])


def _event_hot(types: Sequence[str]) -> np.ndarray:
    """Multi-hot over EVENT_TYPES plus 'no event'."""
    return np.asarray([1.0 if t in types else 0.0 for t in EVENT_TYPES] + [0.0 if types else 1.0])


def _conditions(day_night: str | None, weather: str | None, road_class: str | None) -> np.ndarray:
    light = "dusk" if day_night == "twilight" else day_night
    return np.asarray(
        _one_hot(light, DAY_NIGHT) + _one_hot(weather, WEATHERS) + _one_hot(road_class, ROAD_CLASSES)
    )


_SIGNAL_DIM = 4 * 4 + (len(SPEED_BINS) - 1) + (len(ACCEL_BINS) - 1) + (len(YAW_BINS) - 1) + 4
_TRACK_DIM = 10
_CONDITION_DIM = len(DAY_NIGHT) + len(WEATHERS) + len(ROAD_CLASSES)


def clip_vectors(
    clips: Sequence[dict[str, Any]],
    grid: pl.DataFrame,
    *,
    tracks: pl.DataFrame | None = None,
    events: pl.DataFrame | None = None,
    road: pl.DataFrame | None = None,
    catalog: dict[str, dict[str, Any]] | None = None,
    keyframe_hist: list[tuple[int, np.ndarray]] | None = None,
    visual_dim: int | None = None,
) -> list[dict[str, Any]]:
    """One row per clip: clip_id, drive_id, times, tags and `vector` (DIM floats, unit norm).
    `keyframe_hist`: (t_ns, visual vector) of the drive's keyframes (a VisualEncoder's output); the
    visual block is their mean over the clip (zeros of `visual_dim` without keyframes)."""
    if visual_dim is None:
        from av_assets.embeddings.visual import DEFAULT_ENCODER

        visual_dim = len(keyframe_hist[0][1]) if keyframe_hist else DEFAULT_ENCODER.dim
    catalog = catalog or {}
    rows = []
    for c in clips:
        a, b = int(c["t_start_ns"]), int(c["t_end_ns"])
        cat = catalog.get(c["clip_id"], {})
        types = clip_event_types(events, a, b)
        day_night = _mode(road, "day_night", a, b)
        weather = _mode(road, "weather", a, b) or cat.get("weather")
        road_class = _mode(road, "road_class", a, b)
        vis = [h for t, h in (keyframe_hist or []) if a <= t < b]
        blocks = {
            "signals": signal_block(grid, a, b),
            "tracks": track_block(tracks, a, b),
            "events": _event_hot(types),
            "conditions": _conditions(day_night, weather, road_class),
            "visual": np.mean(vis, axis=0) if vis else np.zeros(visual_dim),
        }
        parts = [WEIGHTS[k] * _unit(v) for k, v in blocks.items()]
        vec = np.concatenate(parts)
        if vec.size > DIM:
            raise ValueError(f"feature width {vec.size} > DIM {DIM}")
        vec = _unit(np.pad(vec, (0, DIM - vec.size)))
        rows.append(
            {
                "clip_id": c["clip_id"],
                "drive_id": c["drive_id"],
                "t_start_ns": a,
                "t_end_ns": b,
                "event_types": ",".join(types),
                "day_night": day_night,
                "weather": weather,
                "road_class": road_class,
                "speed_mean_mps": cat.get("speed_mean_mps"),
                "model": MODEL_NAME,
                "model_version": MODEL_VERSION,
                "vector": vec.astype(np.float32).tolist(),
            }
        )
    return rows


# --- keyframes --------------------------------------------------------------------------------------

KEYFRAME_MODEL_NAME = "av-keyframe-profile"
KEYFRAME_MODEL_VERSION = "1"  # bump when the context blocks or weights change
KEYFRAME_WINDOW_NS = 1_000_000_000  # context of a keyframe: [t - 1 s, t + 1 s)
KEYFRAME_WEIGHTS = {"visual": 1.0, "signals": 0.6, "tracks": 0.4, "events": 0.8, "conditions": 0.5}


def keyframe_dim(visual_dim: int) -> int:
    """Vector width for a visual encoder of `visual_dim`: visual + context blocks, rounded up to 32
    (so PQ sub-vectors divide it)."""
    width = visual_dim + _SIGNAL_DIM + _TRACK_DIM + len(EVENT_TYPES) + 1 + _CONDITION_DIM
    return -(-width // 32) * 32


def keyframe_model_version(encoder) -> str:
    """The keyframe model version names the visual encoder too: '1+colour-layout.1'."""
    return f"{KEYFRAME_MODEL_VERSION}+{encoder.name}.{encoder.version}"


def keyframe_vectors(
    keyframes: Sequence[dict[str, Any]],
    visual: np.ndarray,
    encoder,
    clips: Sequence[dict[str, Any]],
    grid: pl.DataFrame,
    *,
    tracks: pl.DataFrame | None = None,
    events: pl.DataFrame | None = None,
    road: pl.DataFrame | None = None,
    catalog: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One row per keyframe ({drive_id, sensor_id, t_ns}): the encoder's visual vector (`visual[i]`,
    from the redacted frame) with the driving context of [t - 1 s, t + 1 s) (signals, tracks, detected
    events) and the conditions at t, each block unit-normalised and weighted; unit norm overall."""
    catalog = catalog or {}
    dim = keyframe_dim(encoder.dim)
    version = keyframe_model_version(encoder)
    spans = sorted((int(c["t_start_ns"]), int(c["t_end_ns"]), c["clip_id"]) for c in clips)
    rows = []
    for kf, vis in zip(keyframes, visual, strict=True):
        t = int(kf["t_ns"])
        a, b = t - KEYFRAME_WINDOW_NS, t + KEYFRAME_WINDOW_NS
        clip_id = next((cid for s, e, cid in spans if s <= t < e), None)
        cat = catalog.get(clip_id, {}) if clip_id else {}
        types = clip_event_types(events, a, b)
        day_night = _mode(road, "day_night", a, b)
        weather = _mode(road, "weather", a, b) or cat.get("weather")
        road_class = _mode(road, "road_class", a, b)
        blocks = {
            "visual": np.asarray(vis, float),
            "signals": signal_block(grid, a, b),
            "tracks": track_block(tracks, a, b),
            "events": _event_hot(types),
            "conditions": _conditions(day_night, weather, road_class),
        }
        vec = np.concatenate([KEYFRAME_WEIGHTS[k] * _unit(v) for k, v in blocks.items()])
        vec = _unit(np.pad(vec, (0, dim - vec.size)))
        rows.append(
            {
                "keyframe_id": f"{kf['drive_id']}:{kf['sensor_id']}:{t}",
                "drive_id": kf["drive_id"],
                "clip_id": clip_id,
                "sensor_id": kf["sensor_id"],
                "t_ns": t,
                "event_types": ",".join(types),
                "day_night": day_night,
                "weather": weather,
                "model": KEYFRAME_MODEL_NAME,
                "model_version": version,
                "vector": vec.astype(np.float32).tolist(),
            }
        )
    return rows
