"""Atomic functions of the scenario DSL (in the spirit of RefAV) and the combinators that evaluate a
compiled program on one drive.

Every atom maps a drive's `MiningInputs` to the objects it refers to on the drive's 10 Hz grid: a
polars frame `track_id, t_ns` (`track_id` = "ego" for ego-scoped atoms). Thresholds are physical or
industry definitions written here (docs/mining.md lists each), never the fleet generator's parameters.
Plain polars/numpy: no Dagster, no I/O (inputs.py reads the lake).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

EGO = "ego"
GRID_NS = 100_000_000  # 10 Hz, the grid of silver/signals_grid and silver/road_context
DIRECTIONS = ("any", "left", "right")

# Event types of silver/event_detections behind each events atom.
EVENT_ATOMS = {
    "cut_in": "cut_in",
    "stationary_hazard": "stationary_hazard",
    "harsh_braking": "harsh_brake",
    "speeding": "speeding",
    "disengagement": "disengagement",
    "ego_lane_change": "lane_change",
}

# Physical definitions (docs/mining.md, "Atoms"), not fitted to any data.
STATIONARY_MPS = 0.5  # below a slow walk; tracker noise on parked objects is ~0.1 m/s
MOVING_MPS = 1.0  # clearly moving (walking pace 1.4 m/s)
PEDESTRIAN_MAX_EXTENT_M = 1.2  # a person's footprint (shoulder width ~0.5 m, stride ~0.8 m)
PEDESTRIAN_SPEED_MPS = (0.5, 2.5)  # median ground speed: slow walk .. brisk walk / jog
VEHICLE_MIN_EXTENT_M = 2.5  # shortest cars ~2.7 m; bikes/pedestrians/cones are below
VEHICLE_MIN_MPS = 6.0  # ~22 km/h median: faster than walkers and most urban cyclists
ONCOMING_MPS = 2.0  # ground velocity against the ego's heading, above tracker noise
IN_LANE_AHEAD_M = 60.0  # ~stopping distance at 70 km/h (same horizon as the stationary-hazard detector)
STOPPED_MPS = 0.5
ACCEL_SMOOTH_S = 0.5
TURN_WINDOW_S = 3.0  # net heading change over a centred window: a lane change nets ~0, a turn does not
HIGHWAY_CLASSES = ("motorway", "motorway_link", "trunk", "trunk_link")
URBAN_MAX_LIMIT_KPH = 60.0  # built-up-area limits are 30-60 km/h almost everywhere

ATOMS: dict[str, dict[str, Any]] = {}


def atom(name: str, scope: str, doc: str, choices: dict | None = None, **params: Any):
    """Register an atom: `fn(inputs, **params) -> frame(track_id, t_ns)`."""

    def deco(fn: Callable) -> Callable:
        ATOMS[name] = {"fn": fn, "scope": scope, "params": params, "doc": doc, "choices": choices or {}}
        return fn

    return deco


# --- frames and helpers --------------------------------------------------------------------------

REFERRED_SCHEMA = {"track_id": pl.String, "t_ns": pl.Int64}


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema=REFERRED_SCHEMA)


def ego_rows(t_ns) -> pl.DataFrame:
    t = pl.Series("t_ns", t_ns, dtype=pl.Int64)
    return pl.DataFrame({"track_id": pl.Series([EGO] * len(t), dtype=pl.String), "t_ns": t})


def _tidy(frame: pl.DataFrame) -> pl.DataFrame:
    return (
        frame.select(pl.col("track_id").cast(pl.String), pl.col("t_ns").cast(pl.Int64))
        .unique()
        .sort("track_id", "t_ns")
    )


def snap(t_ns):
    """The 10 Hz grid bin of a timestamp (bins start at multiples of 100 ms, as silver/signals_grid)."""
    if isinstance(t_ns, pl.Expr):
        return (t_ns // GRID_NS) * GRID_NS
    return (np.asarray(t_ns, dtype=np.int64) // GRID_NS) * GRID_NS


def interval_ticks(grid: np.ndarray, t_start_ns: int, t_end_ns: int) -> np.ndarray:
    """Grid ticks whose 100 ms bin overlaps [t_start, t_end]."""
    lo = int(snap(t_start_ns))
    return grid[(grid >= lo) & (grid <= t_end_ns)]


def _ego_mask(inputs, mask) -> pl.DataFrame:
    m = np.asarray(mask, dtype=bool)
    return ego_rows(inputs.ego["t_ns"].to_numpy()[m])


def _min_duration(t: np.ndarray, mask: np.ndarray, seconds: float) -> np.ndarray:
    """Keep runs of True that last at least `seconds` on a uniform grid."""
    if seconds <= 0 or not mask.any():
        return mask
    need = max(1, int(round(seconds * 1e9 / GRID_NS)))
    out = np.zeros_like(mask)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    for a, b in zip(edges[0::2], edges[1::2], strict=True):
        if b - a >= need:
            out[a:b] = True
    return out


# --- events atoms --------------------------------------------------------------------------------


def _events(inputs, etype: str) -> pl.DataFrame:
    ev = inputs.events
    if ev is None or ev.height == 0:
        return ev if ev is not None else pl.DataFrame()
    return ev.filter(pl.col("type") == etype).sort("t_start_ns")


def _event_ego(inputs, etype: str, direction: str = "any") -> pl.DataFrame:
    ev = _events(inputs, etype)
    if ev.height == 0:
        return empty()
    if direction != "any" and "detail" in ev.columns:
        ev = ev.filter(pl.col("detail").fill_null("").str.starts_with(direction))
    grid = inputs.grid
    ticks = [interval_ticks(grid, s, e) for s, e in ev.select("t_start_ns", "t_end_ns").iter_rows()]
    return _tidy(ego_rows(np.concatenate(ticks) if ticks else np.empty(0, np.int64)))


def _nearest_in_lane(inputs, ticks: np.ndarray) -> pl.DataFrame:
    """For an object event without an actor: the nearest track ahead in the ego lane at each tick."""
    tr = inputs.tracks
    if tr.height == 0 or ticks.size == 0:
        return empty()
    cand = tr.filter(pl.col("t_ns").is_in(ticks.tolist()) & (pl.col("lane") == 0) & (pl.col("x") > 0))
    if cand.height == 0:
        return empty()
    return cand.sort("t_ns", "x").group_by("t_ns", maintain_order=True).first().select("track_id", "t_ns")


def _event_objects(inputs, etype: str) -> pl.DataFrame:
    ev = _events(inputs, etype)
    if ev.height == 0:
        return empty()
    parts = []
    for s, e, track in ev.select("t_start_ns", "t_end_ns", "track_id").iter_rows():
        ticks = interval_ticks(inputs.grid, s, e)
        if track:
            parts.append(
                pl.DataFrame({"track_id": [track] * ticks.size, "t_ns": ticks}, schema=REFERRED_SCHEMA)
            )
        else:
            parts.append(_nearest_in_lane(inputs, ticks))
    return _tidy(pl.concat(parts)) if parts else empty()


@atom(
    "cut_in",
    "object",
    "a vehicle cuts in ahead (silver/event_detections cut_in); refers to the cutting-in track",
)
def cut_in(inputs) -> pl.DataFrame:
    return _event_objects(inputs, "cut_in")


@atom(
    "stationary_hazard",
    "object",
    "a stationary object in the ego lane ahead (event cut stationary_hazard); refers to that object",
)
def stationary_hazard(inputs) -> pl.DataFrame:
    return _event_objects(inputs, "stationary_hazard")


@atom("harsh_braking", "ego", "the ego brakes harshly (event harsh_brake)")
def harsh_braking(inputs) -> pl.DataFrame:
    return _event_ego(inputs, "harsh_brake")


@atom("speeding", "ego", "the ego exceeds the posted limit (event speeding)")
def speeding(inputs) -> pl.DataFrame:
    return _event_ego(inputs, "speeding")


@atom("disengagement", "ego", "the autonomy disengaged (event disengagement)")
def disengagement(inputs) -> pl.DataFrame:
    return _event_ego(inputs, "disengagement")


@atom(
    "ego_lane_change",
    "ego",
    "the ego changes lanes (event lane_change; direction from its detail)",
    choices={"direction": DIRECTIONS},
    direction="any",
)
def ego_lane_change(inputs, direction: str = "any") -> pl.DataFrame:
    return _event_ego(inputs, "lane_change", direction)


# --- object atoms from silver/object_tracks ------------------------------------------------------


def _objects(frame: pl.DataFrame) -> pl.DataFrame:
    return _tidy(frame.select("track_id", "t_ns")) if frame.height else empty()


def track_profiles(tracks: pl.DataFrame) -> pl.DataFrame:
    """Per track: lidar footprint (median longer side, null without lidar rows) and speed quantiles."""
    if tracks.height == 0:
        return pl.DataFrame(
            schema={"track_id": pl.String, "extent_m": pl.Float64, "v50": pl.Float64, "v90": pl.Float64}
        )
    ext = pl.max_horizontal(pl.col("length_m"), pl.col("width_m")) if "length_m" in tracks.columns else None
    cols = [
        pl.col("ground_speed_mps").median().alias("v50"),
        pl.col("ground_speed_mps").quantile(0.9).alias("v90"),
    ]
    if ext is not None:
        cols.append(ext.fill_nan(None).drop_nulls().median().alias("extent_m"))
    else:
        cols.append(pl.lit(None, dtype=pl.Float64).alias("extent_m"))
    return tracks.group_by("track_id").agg(cols)


@atom(
    "stationary_object",
    "object",
    "a tracked object that stands still over its track (median ground speed <= max_speed_mps) and at that time",
    max_speed_mps=STATIONARY_MPS,
    within_m=IN_LANE_AHEAD_M,
)
def stationary_object(inputs, max_speed_mps: float = STATIONARY_MPS, within_m: float = IN_LANE_AHEAD_M):
    tr = inputs.tracks
    if tr.height == 0:
        return empty()
    still = track_profiles(tr).filter(pl.col("v50") <= max_speed_mps)["track_id"]
    return _objects(
        tr.filter(
            pl.col("track_id").is_in(still.implode())
            & (pl.col("ground_speed_mps") <= 2 * max_speed_mps)
            & ((pl.col("x") ** 2 + pl.col("y") ** 2).sqrt() <= within_m)
        )
    )


@atom(
    "changing_lanes",
    "object",
    "a tracked object changes lanes (its lane index, corrected for the ego's own lane changes, steps by one)",
    choices={"direction": DIRECTIONS},
    direction="any",
    window_s=1.5,
)
def changing_lanes(inputs, direction: str = "any", window_s: float = 1.5) -> pl.DataFrame:
    tr = inputs.tracks
    if tr.height == 0:
        return empty()
    offset = ego_lane_index(inputs)  # ego lane changes shift every track's relative lane index
    t = tr.join(offset, on="t_ns", how="left").with_columns(
        (pl.col("lane").cast(pl.Int32) + pl.col("ego_lane").fill_null(0)).alias("road_lane")
    )
    # a step must hold: the lane before and after, each stable over >= 0.5 s of the track's updates
    t = t.sort("track_id", "t_ns").with_columns(
        pl.col("road_lane").rolling_median(5, center=True).over("track_id").alias("lane_s")
    )
    t = t.with_columns((pl.col("lane_s") - pl.col("lane_s").shift(1).over("track_id")).alias("step"))
    steps = t.filter(pl.col("step").is_not_null() & (pl.col("step") != 0) & (pl.col("step").abs() == 1))
    if direction == "left":
        steps = steps.filter(pl.col("step") > 0)  # REP-103: y (and lane index) grows to the left
    elif direction == "right":
        steps = steps.filter(pl.col("step") < 0)
    # ignore steps within 1 s of an ego lane change boundary (the reference switches lanes then)
    elc = _events(inputs, "lane_change")
    if elc.height and steps.height:
        bounds = np.concatenate([elc["t_start_ns"].to_numpy(), elc["t_end_ns"].to_numpy()])
        near = np.min(np.abs(steps["t_ns"].to_numpy()[:, None] - bounds[None, :]), axis=1) <= 1e9
        steps = steps.filter(pl.Series(~near))
    if steps.height == 0:
        return empty()
    half = int(window_s * 1e9)
    win = steps.select("track_id", (pl.col("t_ns") - half).alias("lo"), (pl.col("t_ns") + half).alias("hi"))
    hits = (
        tr.select("track_id", "t_ns")
        .join(win, on="track_id")
        .filter((pl.col("t_ns") >= pl.col("lo")) & (pl.col("t_ns") <= pl.col("hi")))
    )
    return _objects(hits)


@atom(
    "following",
    "object",
    "the ego follows a moving lead in its lane within max_gap_m; refers to the lead (nearest ahead)",
    max_gap_m=30.0,
)
def following(inputs, max_gap_m: float = 30.0) -> pl.DataFrame:
    tr = inputs.tracks
    if tr.height == 0:
        return empty()
    moving = inputs.ego.filter(pl.col("speed_mps") >= MOVING_MPS).select("t_ns")
    ahead = tr.filter(
        (pl.col("lane") == 0)
        & (pl.col("x_near") > 0)
        & (pl.col("x_near") <= max_gap_m)  # the gap: to the lead's near face
        & (pl.col("vx_ground") >= MOVING_MPS)  # moving, in the ego's direction
    ).join(moving, on="t_ns", how="semi")
    lead = ahead.sort("t_ns", "x_near").group_by("t_ns", maintain_order=True).first()
    return _objects(lead)


@atom(
    "pedestrian_nearby",
    "object",
    "a pedestrian-like track (walking median speed 0.5-2.5 m/s, lidar footprint <= 1.2 m if seen) within within_m",
    within_m=20.0,
)
def pedestrian_nearby(inputs, within_m: float = 20.0) -> pl.DataFrame:
    tr = inputs.tracks
    if tr.height == 0:
        return empty()
    lo, hi = PEDESTRIAN_SPEED_MPS
    peds = track_profiles(tr).filter(
        (pl.col("extent_m").is_null() | (pl.col("extent_m") <= PEDESTRIAN_MAX_EXTENT_M))
        & (pl.col("v50") >= lo)
        & (pl.col("v50") <= hi)
    )["track_id"]
    return _objects(
        tr.filter(
            pl.col("track_id").is_in(peds.implode())
            & ((pl.col("x") ** 2 + pl.col("y") ** 2).sqrt() <= within_m)
        )
    )


def _vehicle_ids(tr: pl.DataFrame) -> pl.Series:
    prof = track_profiles(tr)
    return prof.filter((pl.col("extent_m") >= VEHICLE_MIN_EXTENT_M) | (pl.col("v50") >= VEHICLE_MIN_MPS))[
        "track_id"
    ]


@atom(
    "vehicle_in_ego_lane",
    "object",
    "a vehicle-like track (lidar footprint >= 2.5 m, or median ground speed >= 6 m/s) in the ego lane ahead",
    max_dist_m=IN_LANE_AHEAD_M,
)
def vehicle_in_ego_lane(inputs, max_dist_m: float = IN_LANE_AHEAD_M) -> pl.DataFrame:
    tr = inputs.tracks
    if tr.height == 0:
        return empty()
    veh = _vehicle_ids(tr)
    return _objects(
        tr.filter(
            pl.col("track_id").is_in(veh.implode())
            & (pl.col("lane") == 0)
            & (pl.col("x_near") > 0)
            & (pl.col("x_near") <= max_dist_m)
        )
    )


@atom(
    "oncoming",
    "object",
    "a track moving against the ego's heading (ground velocity along x <= -min_speed_mps)",
    min_speed_mps=ONCOMING_MPS,
)
def oncoming(inputs, min_speed_mps: float = ONCOMING_MPS) -> pl.DataFrame:
    tr = inputs.tracks
    if tr.height == 0:
        return empty()
    return _objects(tr.filter(pl.col("vx_ground") <= -min_speed_mps))


# --- ego atoms from signals_grid and road_context ------------------------------------------------


def _road(inputs, expr: pl.Expr) -> pl.DataFrame:
    road = inputs.road
    if road is None or road.height == 0:
        return empty()
    return _tidy(ego_rows(road.filter(expr.fill_null(False))["t_ns"].to_numpy()))


def _light(value: str):
    def fn(inputs):
        return _road(inputs, pl.col("day_night") == value)

    return fn


def _weather(value: str):
    def fn(inputs):
        return _road(inputs, pl.col("weather") == value)

    return fn


for _name, _value, _doc in (
    ("at_night", "night", "sun below -6 deg (road_context.day_night = night)"),
    ("at_twilight", "dusk", "sun between -6 and -0.833 deg (day_night = dusk)"),
    ("in_daylight", "day", "sun above -0.833 deg (day_night = day)"),
):
    atom(_name, "ego", _doc)(_light(_value))
for _name, _value in (("in_rain", "rain"), ("in_fog", "fog"), ("in_snow", "snow")):
    atom(_name, "ego", f"road_context.weather = {_value}")(_weather(_value))


@atom("near_construction", "ego", "the ego is inside a construction zone (road_context.in_construction_zone)")
def near_construction(inputs) -> pl.DataFrame:
    return _road(inputs, pl.col("in_construction_zone"))


@atom("on_highway", "ego", "map-matched road class motorway/trunk (or their links)")
def on_highway(inputs) -> pl.DataFrame:
    return _road(inputs, pl.col("road_class").is_in(list(HIGHWAY_CLASSES)))


@atom("in_urban", "ego", "not a highway and a posted limit <= 60 km/h (built-up area)")
def in_urban(inputs) -> pl.DataFrame:
    return _road(
        inputs,
        ~pl.col("road_class").is_in(list(HIGHWAY_CLASSES))
        & (pl.col("speed_limit_kph") <= URBAN_MAX_LIMIT_KPH),
    )


@atom("at_junction", "ego", "a map junction within within_m (road_context.junction_dist_m)", within_m=20.0)
def at_junction(inputs, within_m: float = 20.0) -> pl.DataFrame:
    return _road(inputs, pl.col("junction_dist_m") <= within_m)


@atom("stopped", "ego", "ego speed < max_speed_mps", max_speed_mps=STOPPED_MPS)
def stopped(inputs, max_speed_mps: float = STOPPED_MPS) -> pl.DataFrame:
    return _ego_mask(inputs, (inputs.ego["speed_mps"] < max_speed_mps).fill_null(False).to_numpy())


@atom("high_speed", "ego", "ego speed >= min_kmh", min_kmh=80.0)
def high_speed(inputs, min_kmh: float = 80.0) -> pl.DataFrame:
    return _ego_mask(inputs, (inputs.ego["speed_mps"] * 3.6 >= min_kmh).fill_null(False).to_numpy())


@atom(
    "accelerating",
    "ego",
    "longitudinal acceleration (speed derivative, 0.5 s smoothing) >= min_mps2 for >= 0.5 s",
    min_mps2=1.0,
)
def accelerating(inputs, min_mps2: float = 1.0) -> pl.DataFrame:
    e = inputs.ego
    mask = (e["accel_mps2"] >= min_mps2).fill_null(False).to_numpy()
    return _ego_mask(inputs, _min_duration(e["t_ns"].to_numpy(), mask, 0.5))


@atom(
    "turning",
    "ego",
    "net heading change >= min_heading_deg over a centred 3 s window, yawing that way (left = CCW, REP-103)",
    choices={"direction": DIRECTIONS},
    direction="any",
    min_heading_deg=25.0,
)
def turning(inputs, direction: str = "any", min_heading_deg: float = 25.0) -> pl.DataFrame:
    e = inputs.ego
    yaw = e["yaw_rate"].fill_null(0.0).fill_nan(0.0).to_numpy()
    if yaw.size == 0:
        return empty()
    n = max(1, int(round(TURN_WINDOW_S * 1e9 / GRID_NS)))
    heading = np.concatenate([[0.0], np.cumsum(yaw) * GRID_NS / 1e9])
    i = np.arange(yaw.size)
    lo = np.clip(i - n // 2, 0, yaw.size)
    hi = np.clip(i - n // 2 + n, 0, yaw.size)
    change = np.degrees(heading[hi] - heading[lo])
    thr = float(min_heading_deg)
    left = (change >= thr) & (yaw > 0)
    right = (change <= -thr) & (yaw < 0)
    mask = {"left": left, "right": right}.get(direction, left | right)
    return _ego_mask(inputs, mask)


def ego_lane_index(inputs) -> pl.DataFrame:
    """Cumulative ego lane index on the grid (+1 per left, -1 per right lane change, counted from each
    change's midpoint): `t_ns, ego_lane`."""
    grid = inputs.grid
    out = np.zeros(grid.size, dtype=np.int32)
    ev = _events(inputs, "lane_change")
    if ev.height and "detail" in ev.columns:
        for s, e, detail in ev.select("t_start_ns", "t_end_ns", "detail").iter_rows():
            d = (detail or "").split(" ")[0]
            sign = 1 if d == "left" else -1 if d == "right" else 0
            out[grid >= (s + e) // 2] += sign
    return pl.DataFrame({"t_ns": grid, "ego_lane": out}, schema={"t_ns": pl.Int64, "ego_lane": pl.Int32})


# --- evaluation of a program ---------------------------------------------------------------------


def scope_of(node) -> str:
    """'ego', 'object' or 'mixed' (an `or` of both kinds)."""
    from av_assets.mining import dsl

    if isinstance(node, dsl.Atom):
        return ATOMS[node.name]["scope"]
    if isinstance(node, dsl.Not):
        return scope_of(node.item)
    if isinstance(node, dsl.Then):
        return scope_of(node.second)
    if isinstance(node, dsl.During):
        return scope_of(node.item)
    scopes = {scope_of(i) for i in node.items}
    if isinstance(node, dsl.And):
        if scopes == {"ego"}:
            return "ego"
        return "object" if "object" in scopes else "mixed"
    return scopes.pop() if len(scopes) == 1 else "mixed"


def _split(f: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    is_ego = pl.col("track_id") == EGO
    return f.filter(is_ego).select("t_ns"), f.filter(~is_ego)


def and_(x: pl.DataFrame, y: pl.DataFrame) -> pl.DataFrame:
    """Objects referred by both; objects of one side kept where the other side's ego condition holds;
    ego where both ego conditions hold."""
    xe, xo = _split(x)
    ye, yo = _split(y)
    parts = [
        xo.join(yo, on=["track_id", "t_ns"], how="semi"),
        xo.join(ye, on="t_ns", how="semi"),
        yo.join(xe, on="t_ns", how="semi"),
        ego_rows(xe.join(ye, on="t_ns", how="semi")["t_ns"]),
    ]
    return _tidy(pl.concat(parts))


def or_(x: pl.DataFrame, y: pl.DataFrame) -> pl.DataFrame:
    return _tidy(pl.concat([x, y]))


def not_(x: pl.DataFrame, scope: str, inputs) -> pl.DataFrame:
    """The complement within the drive: ego ticks where x's ego part does not hold, and/or object
    rows (every tracked object on the grid) that x does not refer to."""
    xe, xo = _split(x)
    parts = []
    if scope in ("ego", "mixed"):
        parts.append(ego_rows(np.setdiff1d(inputs.grid, xe["t_ns"].to_numpy())))
    if scope in ("object", "mixed"):
        universe = inputs.tracks.select("track_id", "t_ns")
        parts.append(universe.join(xo, on=["track_id", "t_ns"], how="anti"))
    return _tidy(pl.concat(parts)) if parts else empty()


def episodes(t_ns: np.ndarray, max_gap_ns: int = 2 * GRID_NS) -> list[tuple[int, int]]:
    """Contiguous runs of sorted grid ticks (gaps up to `max_gap_ns` bridged): [(start, end)]."""
    t = np.unique(np.asarray(t_ns, dtype=np.int64))
    if t.size == 0:
        return []
    cut = np.flatnonzero(np.diff(t) > max_gap_ns)
    starts = np.concatenate([[0], cut + 1])
    ends = np.concatenate([cut, [t.size - 1]])
    return [(int(t[a]), int(t[b])) for a, b in zip(starts, ends, strict=True)]


def then_(a: pl.DataFrame, b: pl.DataFrame, within_s: float) -> pl.DataFrame:
    """B's episodes (per referred track) that start after an episode of A started and no later than
    `within_s` after it ended; the result is B's rows of those episodes."""
    a_eps = episodes(a["t_ns"].to_numpy())
    if not a_eps or b.height == 0:
        return empty()
    a_start = np.array([s for s, _ in a_eps])
    a_end = np.array([e for _, e in a_eps])
    within = int(round(within_s * 1e9))
    keep = []
    for _track, grp in b.group_by("track_id", maintain_order=True):
        t = grp["t_ns"].to_numpy()
        for s, e in episodes(t):
            if np.any((a_start < s) & (s <= a_end + within)):
                keep.append(grp.filter((pl.col("t_ns") >= s) & (pl.col("t_ns") <= e)))
    return _tidy(pl.concat(keep)) if keep else empty()


def during_(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    """A's rows at ticks where B refers to anything."""
    return _tidy(a.join(b.select("t_ns").unique(), on="t_ns", how="semi"))


def evaluate(node, inputs) -> pl.DataFrame:
    """The referred frame `drive_id, track_id, t_ns` of a program node on one drive."""
    out = _eval(node, inputs)
    return out.select(pl.lit(inputs.drive_id, dtype=pl.String).alias("drive_id"), "track_id", "t_ns")


def _eval(node, inputs) -> pl.DataFrame:
    from av_assets.mining import dsl

    if isinstance(node, dsl.Atom):
        out = ATOMS[node.name]["fn"](inputs, **node.kwargs)
        return _tidy(out) if out.height else empty()
    if isinstance(node, dsl.And):
        result = _eval(node.items[0], inputs)
        for item in node.items[1:]:
            result = and_(result, _eval(item, inputs))
        return result
    if isinstance(node, dsl.Or):
        return _tidy(pl.concat([_eval(i, inputs) for i in node.items]))
    if isinstance(node, dsl.Not):
        return not_(_eval(node.item, inputs), scope_of(node.item), inputs)
    if isinstance(node, dsl.Then):
        return then_(_eval(node.first, inputs), _eval(node.second, inputs), node.within_s)
    if isinstance(node, dsl.During):
        return during_(_eval(node.item, inputs), _eval(node.condition, inputs))
    raise TypeError(node)
