"""Scenario-mining evaluation against fleet ground truth, scored with the Argoverse 2 scenario-mining
evaluator (`av2.evaluation.scenario_mining.eval` + `trackeval`).

Three parts, plain functions over data (no Dagster, no lake I/O except `evaluate_lake`):

- `golden_truth(spec, gt, grid_ns)`: the TRUE referred objects of a golden query on one drive, derived
  from the drive's ground truth only (events with their actor uuids, conditions over time, GT 3D
  cuboids, GT ego trajectory). A spec is a small structured tree (see `golden.yaml` and
  docs/mining.md "Evaluation"); it never touches pipeline tables nor the DSL code.
- `build_sequences(...)`: both sides in the evaluator's input format: one sequence per
  `(log_id, prompt)`, one frame per 10 Hz grid tick with every object present (GT cuboids for labels,
  `silver/object_tracks` positions for predictions, the ego as a box at the base_link origin), the
  referred ones labelled `REFERRED_OBJECT`, the rest `OTHER_OBJECT` (needed for HOTA-Track, which
  extends a referred label to the object's whole track). One frame for both sides: base_link.
- `evaluate_golden(referred_by_query, tracks, ground_truth)`: runs the evaluator over all golden
  queries and drives (`run_av2`, one call per prompt); returns overall and per-query HOTA-Temporal,
  HOTA-Track, timestamp balanced accuracy and log balanced accuracy as plain floats
  (`metadata(result)` flattens them for Dagster). `evaluate_lake(lake, gt_root)` = the golden set
  through the DSL's `run_query` plus `evaluate_golden`.
"""

import json
import math
import os
import sys
import uuid
from collections.abc import Iterable, Mapping
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from av_contracts import tables

GRID_NS = 100_000_000  # the 10 Hz grid the DSL refers on (multiples of 100 ms epoch ns)
EGO = "ego"
GOLDEN_PATH = Path(__file__).with_name("golden.yaml")

# Evaluation geometry (documented in docs/mining.md "Evaluation"). Standard road geometry, not the
# generator's parameters.
HALF_LANE_M = 1.75  # a 3.5 m lane (the EU/US standard width)
EGO_SIZE_M = (4.6, 1.9, 1.6)  # a mid-size car; the same box on both sides, so it only has to be plausible
VEHICLE_CLASSES = ("car", "truck", "bus", "motorcyclist")
MAX_RANGE_M = 50  # AV2's default evaluation range around the ego
INTERP_MAX_GAP_NS = 300_000_000  # a tick is covered by a track only within 0.3 s of a sample of it
ZERO_DISTANCE_M = 2.0  # the evaluator's matching: similarity 1 - d/2 m on box centres (xy)

# Sequence ids are parsed by fixed slices in av2 (a 36-character log id).
_LOG_NS = uuid.UUID("6f1c1f35-3d0e-4a8e-9d55-3c3f3b1a5e10")
_REFERRED, _OTHER = 0, 2  # av2 SCENARIO_MINING_CATEGORIES: REFERRED_OBJECT, RELATED_OBJECT, OTHER_OBJECT


# --------------------------------------------------------------------------------------------------
# golden set


def load_golden(path: Path | str = GOLDEN_PATH) -> list[dict[str, Any]]:
    """The golden queries `[{name, query, truth}]` (names unique, lower-case identifiers)."""
    import yaml

    doc = yaml.safe_load(Path(path).read_text())
    queries = doc["queries"] if isinstance(doc, dict) else doc
    names = [q["name"] for q in queries]
    if len(set(names)) != len(names):
        raise ValueError("golden query names must be unique")
    for q in queries:
        if not q["name"].replace("_", "").isalnum() or q["name"] != q["name"].lower():
            raise ValueError(f"golden query name {q['name']!r}: use [a-z0-9_]")
        if not {"name", "query", "truth"} <= set(q):
            raise ValueError(f"golden query {q['name']!r} needs name, query and truth")
    return queries


# --------------------------------------------------------------------------------------------------
# ground truth on the grid


def read_ground_truth(root: Path | str, drive_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """`<fleet>/_ground_truth/<drive_id>.json` with its Parquet companions attached as polars frames
    under `_cuboids` (tracks_table) and `_ego` (ego_trajectory). All drives of the folder when
    `drive_ids` is None; drives without a ground-truth file are skipped."""
    root = Path(root)
    paths = sorted(root.glob("*.json")) if drive_ids is None else [root / f"{d}.json" for d in drive_ids]
    out = {}
    for p in paths:
        if not p.is_file():
            continue
        gt = json.loads(p.read_text())
        for key, attr in (("tracks_table", "_cuboids"), ("ego_trajectory", "_ego")):
            ref = gt.get(key)
            if isinstance(ref, dict) and (root / ref["path"]).is_file():
                gt[attr] = pl.read_parquet(root / ref["path"])
        out[gt["drive_id"]] = gt
    return out


def drive_grid(gt: Mapping[str, Any]) -> np.ndarray:
    """The drive's 10 Hz evaluation ticks: multiples of 100 ms inside [t_start_ns, t_end_ns]."""
    first = -(-int(gt["t_start_ns"]) // GRID_NS) * GRID_NS
    return np.arange(first, int(gt["t_end_ns"]) + 1, GRID_NS, dtype=np.int64)


def interp_on_grid(
    frame: pl.DataFrame,
    id_col: str,
    cols: Iterable[str],
    grid_ns: np.ndarray,
    *,
    angle_cols: Iterable[str] = (),
    max_gap_ns: int = INTERP_MAX_GAP_NS,
    keep: Iterable[str] = (),
) -> pl.DataFrame:
    """Each track of `frame` (`id_col, t_ns, cols...`) linearly interpolated onto the grid ticks it
    covers (no sample of it farther than `max_gap_ns`); angles unwrapped first. Columns in `keep` are
    per-track constants (first value). Returns `id_col, t_ns, *cols, *keep`."""
    cols, angle_cols, keep = list(cols), set(angle_cols), list(keep)
    grid = np.asarray(grid_ns, dtype=np.int64)
    parts = []
    if frame.height == 0 or grid.size == 0:
        return pl.DataFrame(
            schema={id_col: pl.String, "t_ns": pl.Int64, **dict.fromkeys(cols, pl.Float64)}
            | {k: frame.schema.get(k, pl.String) for k in keep}
        )
    for (tid,), grp in frame.sort("t_ns").group_by(id_col, maintain_order=True):
        t = grp["t_ns"].to_numpy().astype(np.int64)
        t, first = np.unique(t, return_index=True)
        # ticks within max_gap of the nearest sample
        pos = np.searchsorted(t, grid)
        left = np.abs(grid - t[np.clip(pos - 1, 0, t.size - 1)])
        right = np.abs(t[np.clip(pos, 0, t.size - 1)] - grid)
        ticks = grid[np.minimum(left, right) <= max_gap_ns]
        if ticks.size == 0:
            continue
        data = {id_col: [tid] * ticks.size, "t_ns": ticks}
        for c in cols:
            v = grp[c].cast(pl.Float64).to_numpy()[first]
            if c in angle_cols:
                v = np.unwrap(v)
            ok = np.isfinite(v)
            data[c] = np.interp(ticks, t[ok], v[ok]) if ok.any() else np.full(ticks.size, np.nan)
            if c in angle_cols:
                data[c] = (data[c] + np.pi) % (2 * np.pi) - np.pi
        for k in keep:
            data[k] = [grp[k][0]] * ticks.size
        parts.append(pl.DataFrame(data, schema_overrides={"t_ns": pl.Int64}))
    if not parts:
        return interp_on_grid(frame.clear(), id_col, cols, grid, keep=keep)
    return pl.concat(parts)


def gt_objects(gt: Mapping[str, Any], grid_ns: np.ndarray) -> pl.DataFrame:
    """GT 3D cuboids on the grid: `track_uuid, t_ns, x, y, z, yaw (base_link), length, width, height,
    vx, vy (ground velocity in base_link), speed, class`."""
    cub = gt.get("_cuboids")
    if cub is None:
        raise ValueError(f"ground truth of {gt.get('drive_id')}: cuboids not loaded (use read_ground_truth)")
    cub = cub.rename(
        {"x_base": "x", "y_base": "y", "z_base": "z", "yaw_base": "yaw", "vx_base": "vx", "vy_base": "vy"}
    )
    return interp_on_grid(
        cub,
        "track_uuid",
        ["x", "y", "z", "yaw", "length", "width", "height", "vx", "vy", "speed"],
        grid_ns,
        angle_cols=["yaw"],
        keep=["class"],
    )


def gt_ego(gt: Mapping[str, Any], grid_ns: np.ndarray) -> pl.DataFrame:
    """GT ego state on the grid: `t_ns, speed (m/s), accel (m/s2), yaw_rate (rad/s), engaged (0/1),
    speed_limit (m/s), lane_offset (m)`."""
    ego = gt.get("_ego")
    if ego is None:
        raise ValueError(f"ground truth of {gt.get('drive_id')}: ego trajectory not loaded")
    cols = [
        c for c in ("speed", "accel", "yaw_rate", "engaged", "speed_limit", "lane_offset") if c in ego.columns
    ]
    out = interp_on_grid(ego.with_columns(pl.lit(EGO).alias("_id")), "_id", cols, grid_ns)
    return out.drop("_id")


# --------------------------------------------------------------------------------------------------
# truth specs -> referred rows


def _ticks_in(grid: np.ndarray, intervals: Iterable[tuple[int, int]]) -> np.ndarray:
    mask = np.zeros(grid.size, dtype=bool)
    for a, b in intervals:
        mask |= (grid >= a) & (grid <= b)
    return grid[mask]


def _ego_rows(ticks: np.ndarray) -> pl.DataFrame:
    ticks = np.unique(np.asarray(ticks, dtype=np.int64))
    return pl.DataFrame(
        {"track_uuid": [EGO] * ticks.size, "t_ns": ticks}, schema={"track_uuid": pl.String, "t_ns": pl.Int64}
    )


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={"track_uuid": pl.String, "t_ns": pl.Int64})


def _tidy(f: pl.DataFrame) -> pl.DataFrame:
    return f.select("track_uuid", "t_ns").unique().sort("track_uuid", "t_ns")


def _split(f: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    is_ego = pl.col("track_uuid") == EGO
    return f.filter(is_ego).select("t_ns"), f.filter(~is_ego)


def _runs(ticks: np.ndarray, max_gap_ns: int = 2 * GRID_NS) -> list[tuple[int, int]]:
    t = np.unique(np.asarray(ticks, dtype=np.int64))
    if t.size == 0:
        return []
    cut = np.flatnonzero(np.diff(t) > max_gap_ns)
    starts, ends = np.r_[0, cut + 1], np.r_[cut, t.size - 1]
    return [(int(t[a]), int(t[b])) for a, b in zip(starts, ends, strict=True)]


class _Ctx:
    """One drive's ground truth on its grid (computed once per drive, shared by all specs)."""

    def __init__(self, gt: Mapping[str, Any], grid_ns: np.ndarray):
        self.gt = gt
        self.grid = np.asarray(grid_ns, dtype=np.int64)
        self._objects = None
        self._ego = None

    @property
    def objects(self) -> pl.DataFrame:
        if self._objects is None:
            self._objects = gt_objects(self.gt, self.grid)
        return self._objects

    @property
    def ego(self) -> pl.DataFrame:
        if self._ego is None:
            self._ego = gt_ego(self.gt, self.grid)
        return self._ego


def _event(spec: Mapping[str, Any], ctx: _Ctx) -> pl.DataFrame:
    where = spec.get("where") or {}
    refer = spec.get("refer", "ego")
    events = [
        e
        for e in ctx.gt.get("events") or []
        if e["type"] == spec["event"]
        and all((e.get("attributes") or {}).get(k) == v for k, v in where.items())
    ]
    if refer == "ego":
        return _ego_rows(_ticks_in(ctx.grid, [(e["t_start_ns"], e["t_end_ns"]) for e in events]))
    if refer != "actors":
        raise ValueError(f"event refer must be ego or actors, not {refer!r}")
    parts = []
    for e in events:
        rows = ctx.objects.filter(
            pl.col("track_uuid").is_in(list(e["actors"]))
            & pl.col("t_ns").is_between(e["t_start_ns"], e["t_end_ns"])
        )
        parts.append(rows.select("track_uuid", "t_ns"))
    return _tidy(pl.concat(parts)) if parts else _empty()


def _condition(spec: Mapping[str, Any], ctx: _Ctx) -> pl.DataFrame:
    key = spec["condition"]
    conds = ctx.gt.get("conditions") or {}
    if key == "construction":
        spans = [(z["t_start_ns"], z["t_end_ns"]) for z in conds.get("construction_zones") or []]
    else:
        values = spec["in"] if isinstance(spec["in"], list) else [spec["in"]]
        spans = [(c["t_start_ns"], c["t_end_ns"]) for c in conds.get(key) or [] if c["value"] in values]
    return _ego_rows(_ticks_in(ctx.grid, spans))


_EGO_SCALE = {
    "speed_kmh": ("speed", 3.6),
    "speed_limit_kmh": ("speed_limit", 3.6),
    "yaw_rate_dps": ("yaw_rate", 180 / math.pi),
}


def _ego_signal(spec: Mapping[str, Any], ctx: _Ctx) -> pl.DataFrame:
    name = spec["ego"]
    col, scale = _EGO_SCALE.get(name, (name, 1.0))
    if col not in ctx.ego.columns:
        return _empty()
    v = ctx.ego[col].to_numpy() * scale
    if spec.get("abs"):
        v = np.abs(v)
    mask = np.isfinite(v)
    if "min" in spec:
        mask &= v >= spec["min"]
    if "max" in spec:
        mask &= v < spec["max"]
    return _ego_rows(ctx.ego["t_ns"].to_numpy()[mask])


def _objects(spec: Mapping[str, Any], ctx: _Ctx) -> pl.DataFrame:
    kind = spec["objects"]
    obj = ctx.objects
    if obj.height == 0:
        return _empty()
    dist = (pl.col("x") ** 2 + pl.col("y") ** 2).sqrt()
    classes = spec.get("classes")
    if classes:
        obj = obj.filter(pl.col("class").is_in(list(classes)))
    if kind == "near":
        return _tidy(obj.filter(dist <= float(spec["within_m"])))
    vehicles = obj.filter(pl.col("class").is_in(list(classes or VEHICLE_CLASSES)))
    in_lane = (pl.col("y").abs() <= spec.get("half_lane_m", HALF_LANE_M)) & (pl.col("x") > 0)
    if kind == "in_lane":
        return _tidy(vehicles.filter(in_lane & (pl.col("x") <= float(spec.get("max_dist_m", 60.0)))))
    if kind == "lead":
        # the nearest same-direction vehicle ahead in the ego lane, bumper gap <= max_gap_m, both moving
        moving_ego = ctx.ego.filter(pl.col("speed") >= spec.get("min_speed_mps", 1.0)).select("t_ns")
        cand = vehicles.filter(
            in_lane
            & (pl.col("yaw").cos() > math.cos(math.radians(45)))
            & (pl.col("speed") >= spec.get("min_speed_mps", 1.0))
        ).join(moving_ego, on="t_ns", how="semi")
        lead = cand.sort("x").group_by("t_ns", maintain_order=True).first()
        gap = pl.col("x") - pl.col("length") / 2 - EGO_SIZE_M[0] / 2
        return _tidy(lead.filter(gap <= float(spec["max_gap_m"])))
    if kind == "oncoming":
        vx_heading = pl.col("vx")  # ground velocity along the ego's heading
        return _tidy(
            vehicles.filter((vx_heading <= -float(spec.get("min_speed_mps", 2.0))) & (pl.col("speed") > 0))
        )
    if kind == "stationary":
        return _tidy(
            obj.filter(
                (pl.col("speed") < spec.get("max_speed_mps", 0.5)) & (dist <= spec.get("within_m", 50.0))
            )
        )
    raise ValueError(f"unknown objects relation {kind!r}")


def _eval(spec: Mapping[str, Any], ctx: _Ctx) -> pl.DataFrame:
    if "event" in spec:
        return _event(spec, ctx)
    if "condition" in spec:
        return _condition(spec, ctx)
    if "ego" in spec:
        return _ego_signal(spec, ctx)
    if "objects" in spec:
        return _objects(spec, ctx)
    if "and" in spec:
        out = _eval(spec["and"][0], ctx)
        for item in spec["and"][1:]:
            out = _and(out, _eval(item, ctx))
        return out
    if "or" in spec:
        return _tidy(pl.concat([_eval(i, ctx) for i in spec["or"]]))
    if "not" in spec:
        return _not(spec["not"], ctx)
    if "then" in spec:
        first, second = spec["then"]
        return _then(_eval(first, ctx), _eval(second, ctx), float(spec["within_s"]))
    if "during" in spec:
        item, cond = spec["during"]
        return _tidy(_eval(item, ctx).join(_eval(cond, ctx).select("t_ns").unique(), on="t_ns", how="semi"))
    raise ValueError(f"unknown truth spec {dict(spec)!r}")


def _scope(spec: Mapping[str, Any]) -> str:
    if "event" in spec:
        return "object" if spec.get("refer") == "actors" else "ego"
    if "condition" in spec or "ego" in spec:
        return "ego"
    if "objects" in spec:
        return "object"
    if "not" in spec:
        return _scope(spec["not"])
    if "then" in spec:
        return _scope(spec["then"][1])
    if "during" in spec:
        return _scope(spec["during"][0])
    scopes = {_scope(s) for s in spec.get("and") or spec.get("or")}
    if "and" in spec:
        return "ego" if scopes == {"ego"} else ("object" if "object" in scopes else "mixed")
    return scopes.pop() if len(scopes) == 1 else "mixed"


def _and(x: pl.DataFrame, y: pl.DataFrame) -> pl.DataFrame:
    """Objects in both; objects of one side where the other side's ego condition holds; ego where both do."""
    xe, xo = _split(x)
    ye, yo = _split(y)
    parts = [
        xo.join(yo, on=["track_uuid", "t_ns"], how="semi"),
        xo.join(ye, on="t_ns", how="semi"),
        yo.join(xe, on="t_ns", how="semi"),
        _ego_rows(xe.join(ye, on="t_ns", how="semi")["t_ns"].to_numpy()),
    ]
    return _tidy(pl.concat(parts))


def _not(inner: Mapping[str, Any], ctx: _Ctx) -> pl.DataFrame:
    """Complement within the drive: ego ticks where it does not hold; GT objects on the grid it does
    not refer to."""
    x = _eval(inner, ctx)
    scope = _scope(inner)
    xe, xo = _split(x)
    parts = []
    if scope in ("ego", "mixed"):
        parts.append(_ego_rows(np.setdiff1d(ctx.grid, xe["t_ns"].to_numpy())))
    if scope in ("object", "mixed"):
        parts.append(ctx.objects.select("track_uuid", "t_ns").join(xo, on=["track_uuid", "t_ns"], how="anti"))
    return _tidy(pl.concat(parts)) if parts else _empty()


def _then(a: pl.DataFrame, b: pl.DataFrame, within_s: float) -> pl.DataFrame:
    """B's runs (per referred object) starting after a run of A started and no later than `within_s`
    after it ended; the rows of those B runs."""
    a_runs = _runs(a["t_ns"].to_numpy())
    if not a_runs or b.height == 0:
        return _empty()
    a_start = np.array([s for s, _ in a_runs])
    a_end = np.array([e for _, e in a_runs])
    within = int(round(within_s * 1e9))
    keep = []
    for _, grp in b.group_by("track_uuid", maintain_order=True):
        for s, e in _runs(grp["t_ns"].to_numpy()):
            if np.any((a_start < s) & (s <= a_end + within)):
                keep.append(grp.filter(pl.col("t_ns").is_between(s, e)))
    return _tidy(pl.concat(keep)) if keep else _empty()


def golden_truth(
    spec: Mapping[str, Any], gt: Mapping[str, Any], grid_ns: np.ndarray | None = None, *, _ctx=None
) -> pl.DataFrame:
    """The true referred objects of one golden truth spec on one drive: `drive_id, track_uuid, t_ns`
    plus the GT cuboid (`x, y, z, yaw` in base_link, `length, width, height, class`; the ego as a box
    at the base_link origin, class "ego"). `gt` is a ground-truth document with its companions
    attached (`read_ground_truth`); `grid_ns` defaults to `drive_grid(gt)`."""
    ctx = _ctx or _Ctx(gt, drive_grid(gt) if grid_ns is None else grid_ns)
    rows = _eval(spec, ctx)
    boxes = pl.concat(
        [
            ctx.objects.select(
                "track_uuid", "t_ns", "x", "y", "z", "yaw", "length", "width", "height", "class"
            ),
            _ego_boxes(ctx.grid).rename({"track_id": "track_uuid"}),
        ],
        how="vertical_relaxed",
    )
    out = rows.join(boxes, on=["track_uuid", "t_ns"], how="left")
    return out.select(pl.lit(gt["drive_id"], dtype=pl.String).alias("drive_id"), pl.all()).sort(
        "track_uuid", "t_ns"
    )


def _ego_boxes(grid: np.ndarray) -> pl.DataFrame:
    n = len(grid)
    length, width, height = EGO_SIZE_M
    return pl.DataFrame(
        {
            "track_id": [EGO] * n,
            "t_ns": np.asarray(grid, dtype=np.int64),
            "x": np.zeros(n),
            "y": np.zeros(n),
            "z": np.full(n, height / 2),
            "yaw": np.zeros(n),
            "length": np.full(n, length),
            "width": np.full(n, width),
            "height": np.full(n, height),
            "class": ["ego"] * n,
        }
    )


# --------------------------------------------------------------------------------------------------
# predictions on the grid


def pipeline_objects(tracks: pl.DataFrame, drive_id: str, grid_ns: np.ndarray) -> pl.DataFrame:
    """`silver/object_tracks` of one drive on the grid (base_link positions interpolated per track):
    `track_id, t_ns, x, y, z, yaw, length, width, height, class` (yaw from the ground velocity,
    sizes from the track's median, 1 m where the sensor gave none)."""
    tr = tracks.filter(pl.col("drive_id") == drive_id) if "drive_id" in tracks.columns else tracks
    if tr.height == 0:
        return pl.DataFrame(
            schema={"track_id": pl.String, "t_ns": pl.Int64}
            | dict.fromkeys(("x", "y", "z", "yaw", "length", "width", "height"), pl.Float64)
            | {"class": pl.String}
        )
    tr = tr.with_columns(pl.col("track_id").cast(pl.String))
    sizes = tr.group_by("track_id").agg(
        pl.col(c).filter(pl.col(c).is_finite()).median().fill_null(1.0).alias(c)
        for c in ("length_m", "width_m")
        if c in tr.columns
    )
    on = interp_on_grid(tr, "track_id", ["x", "y"], grid_ns)
    on = on.join(sizes, on="track_id", how="left")
    return on.select(
        "track_id",
        "t_ns",
        "x",
        "y",
        pl.lit(0.0).alias("z"),
        pl.lit(0.0).alias("yaw"),
        (pl.col("length_m") if "length_m" in on.columns else pl.lit(1.0)).fill_null(1.0).alias("length"),
        (pl.col("width_m") if "width_m" in on.columns else pl.lit(1.0)).fill_null(1.0).alias("width"),
        pl.lit(1.5).alias("height"),
        pl.lit("object").alias("class"),
    )


def snap_referred(referred: pl.DataFrame) -> pl.DataFrame:
    """`drive_id, track_id, t_ns` with t_ns snapped to the nearest 100 ms tick, de-duplicated."""
    if referred.height == 0:
        return pl.DataFrame(schema={"drive_id": pl.String, "track_id": pl.String, "t_ns": pl.Int64})
    snapped = ((pl.col("t_ns") + GRID_NS // 2) // GRID_NS) * GRID_NS
    return referred.select(
        pl.col("drive_id").cast(pl.String),
        pl.col("track_id").cast(pl.String),
        snapped.cast(pl.Int64).alias("t_ns"),
    ).unique()


# --------------------------------------------------------------------------------------------------
# the evaluator's input format


def log_id(drive_id: str) -> str:
    """av2 parses sequence ids with fixed slices: a 36-character log id (uuid5 of the drive id)."""
    return str(uuid.uuid5(_LOG_NS, drive_id))


def _frames(
    boxes: pl.DataFrame,
    id_col: str,
    referred: pl.DataFrame,
    grid: np.ndarray,
    ids: dict[str, int],
    *,
    score: bool,
) -> list[dict[str, Any]]:
    """One av2 frame per grid tick: every box present, referred ones labelled REFERRED_OBJECT."""
    ref = referred.select(pl.col(id_col), "t_ns").with_columns(pl.lit(True).alias("_ref"))
    b = (
        boxes.join(ref, on=[id_col, "t_ns"], how="left")
        .with_columns(pl.col("_ref").fill_null(False))
        .sort("t_ns")
    )
    t = b["t_ns"].to_numpy()
    tid = np.array([ids.setdefault(k, len(ids)) for k in b[id_col].to_list()], dtype=np.int64)
    xyz = b.select("x", "y", "z").to_numpy().astype(np.float64)
    size = b.select("length", "width", "height").to_numpy().astype(np.float64)
    yaw = b["yaw"].to_numpy().astype(np.float64)
    label = np.where(b["_ref"].to_numpy(), _REFERRED, _OTHER).astype(np.int64)
    names = np.array(b["class"].to_list(), dtype="<U31") if b.height else np.zeros(0, dtype="<U31")
    starts = np.searchsorted(t, grid, side="left")
    ends = np.searchsorted(t, grid, side="right")
    frames = []
    for tick, a, z in zip(grid, starts, ends, strict=True):
        f = {
            "timestamp_ns": int(tick),
            "track_id": tid[a:z],
            "translation_m": xyz[a:z],
            "size": size[a:z],
            "yaw": yaw[a:z],
            "velocity_m_per_s": np.zeros((z - a, 3)),
            "label": label[a:z],
            "name": names[a:z],
            # base_link: the ego is the origin (a list, not an ndarray: av2 indexes every ndarray by object)
            "ego_translation_m": [0.0, 0.0, 0.0],
        }
        if score:
            f["score"] = np.ones(z - a)
        frames.append(f)
    return frames


def build_sequences(
    queries: list[dict[str, Any]],
    referred_by_query: Mapping[str, pl.DataFrame],
    tracks: pl.DataFrame,
    ground_truth: Mapping[str, Mapping[str, Any]],
) -> tuple[dict, dict, dict[str, dict[str, int]]]:
    """(labels, predictions, counts): av2 sequences keyed `(log_id, query name)` for every drive with
    ground truth and every golden query, and per-query row counts of both sides."""
    labels, preds = {}, {}
    counts: dict[str, dict[str, int]] = {
        q["name"]: {"truth_rows": 0, "pred_rows": 0, "truth_logs": 0, "pred_logs": 0} for q in queries
    }
    snapped = {name: snap_referred(f) for name, f in referred_by_query.items()}
    for drive_id, gt in ground_truth.items():
        grid = drive_grid(gt)
        ctx = _Ctx(gt, grid)
        gt_boxes = pl.concat(
            [
                ctx.objects.select(
                    "track_uuid", "t_ns", "x", "y", "z", "yaw", "length", "width", "height", "class"
                ),
                _ego_boxes(grid).rename({"track_id": "track_uuid"}),
            ],
            how="vertical_relaxed",
        )
        pred_objects = pipeline_objects(tracks, drive_id, grid)
        for q in queries:
            name = q["name"]
            truth = _eval(q["truth"], ctx).filter(pl.col("t_ns").is_in(grid.tolist()))
            ref = snapped.get(name)
            ref = (
                ref.filter((pl.col("drive_id") == drive_id) & pl.col("t_ns").is_in(grid.tolist())).drop(
                    "drive_id"
                )
                if ref is not None
                else pl.DataFrame(schema={"track_id": pl.String, "t_ns": pl.Int64})
            )
            # referred objects the grid interpolation does not cover (track ends) get their nearest box
            pred_boxes = pl.concat([pred_objects, _ego_boxes(grid)], how="vertical_relaxed")
            missing = ref.join(pred_boxes, on=["track_id", "t_ns"], how="anti")
            if missing.height:
                pred_boxes = pl.concat(
                    [pred_boxes, _nearest_boxes(missing, tracks, drive_id)], how="vertical_relaxed"
                )
            seq = (log_id(drive_id), name)
            ids: dict[str, int] = {}
            labels[seq] = _frames(gt_boxes, "track_uuid", truth, grid, ids, score=False)
            ids = {}
            preds[seq] = _frames(pred_boxes, "track_id", ref, grid, ids, score=True)
            counts[name]["truth_rows"] += truth.height
            counts[name]["pred_rows"] += ref.height
            counts[name]["truth_logs"] += int(truth.height > 0)
            counts[name]["pred_logs"] += int(ref.height > 0)
    return labels, preds, counts


def _nearest_boxes(missing: pl.DataFrame, tracks: pl.DataFrame, drive_id: str) -> pl.DataFrame:
    tr = tracks.filter(pl.col("drive_id") == drive_id) if "drive_id" in tracks.columns else tracks
    tr = tr.select(pl.col("track_id").cast(pl.String), "t_ns", "x", "y").sort("t_ns")
    out = missing.sort("t_ns").join_asof(tr, on="t_ns", by="track_id", strategy="nearest")
    return out.select(
        "track_id",
        "t_ns",
        pl.col("x").fill_null(0.0),
        pl.col("y").fill_null(0.0),
        pl.lit(0.0).alias("z"),
        pl.lit(0.0).alias("yaw"),
        pl.lit(1.0).alias("length"),
        pl.lit(1.0).alias("width"),
        pl.lit(1.5).alias("height"),
        pl.lit("object").alias("class"),
    )


# --------------------------------------------------------------------------------------------------
# the evaluator


@contextmanager
def _default_sigterm():
    """av2 forks a multiprocessing pool and ends it with SIGTERM. Under Dagster (which turns SIGTERM
    into KeyboardInterrupt) every worker would print a traceback on its way out: give the forked
    workers the default SIGTERM action (main thread only; elsewhere nothing changes)."""
    import signal

    try:
        previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


@contextmanager
def _quiet_progress():
    """av2 draws a tqdm bar per threshold search (hundreds per golden set): off unless AV_VERBOSE=1.
    TQDM_DISABLE cannot do it (tqdm reads its environment once, at import), so av2's tracking module
    gets a tqdm that is disabled for the duration of the call (the bars are drawn in this process)."""
    import functools

    import av2.evaluation.tracking.eval as tracking_eval

    if os.environ.get("AV_VERBOSE") == "1":
        yield
        return
    original = tracking_eval.tqdm
    tracking_eval.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        tracking_eval.tqdm = original


def run_av2(labels: dict, predictions: dict, *, max_range_m: int = MAX_RANGE_M) -> dict[str, Any]:
    """av2's scenario-mining `evaluate` (HOTA objective, `dataset_dir=None`: no map ROI pruning) on
    prepared sequences, called once per prompt: av2 treats every prompt as its own class (own score
    threshold, own HOTA, own balanced accuracies), so per-prompt calls give the same numbers while its
    per-class filtering stays linear instead of quadratic in the number of prompts. Returns the
    evaluator's class averages and per-prompt values; its progress output goes to stderr (stdout stays
    clean for `--json` commands)."""
    from av2.evaluation.scenario_mining.eval import evaluate

    by: dict[str, dict[str, float]] = {
        "hota_temporal": {},
        "hota_track": {},
        "timestamp_ba": {},
        "log_ba": {},
    }
    prompts = sorted({seq[1] for seq in labels})
    for prompt in prompts:
        lab = {seq: frames for seq, frames in labels.items() if seq[1] == prompt}
        pred = {seq: predictions[seq] for seq in lab}
        with redirect_stdout(sys.stderr), _default_sigterm(), _quiet_progress():
            values = evaluate(
                pred, lab, objective_metric="HOTA", max_range_m=max_range_m, dataset_dir=None, out=None
            )
        for key, v in zip(by, values, strict=True):
            by[key][prompt] = float(v)
    return {key: _mean(list(vals.values())) for key, vals in by.items()} | {"by_query": by}


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def evaluate_golden(
    referred_by_query: Mapping[str, pl.DataFrame],
    tracks: pl.DataFrame,
    ground_truth: Mapping[str, Mapping[str, Any]],
    queries: list[dict[str, Any]] | None = None,
    *,
    max_range_m: int = MAX_RANGE_M,
) -> dict[str, Any]:
    """Score the DSL's referred frames (`name -> drive_id, track_id, t_ns`) of the golden queries
    against ground truth over the drives in `ground_truth` (documents from `read_ground_truth`).

    HOTA is only defined where a query has truth somewhere (with no truth anywhere trackeval returns
    0 even for a perfect empty answer), so the overall HOTA numbers average the queries with truth;
    the balanced accuracies average all queries. `av2_*` are the evaluator's own class averages over
    all queries. Returns plain floats/ints, ready for Dagster metadata."""
    queries = load_golden() if queries is None else queries
    if not ground_truth:
        raise ValueError("no ground truth to evaluate against")
    labels, preds, counts = build_sequences(queries, referred_by_query, tracks, ground_truth)
    res = run_av2(labels, preds, max_range_m=max_range_m)
    by = res["by_query"]
    per_query = {}
    for q in queries:
        n = q["name"]
        c = counts[n]
        per_query[n] = {
            "query": q["query"],
            "hota_temporal": by["hota_temporal"].get(n, float("nan")) if c["truth_rows"] else float("nan"),
            "hota_track": by["hota_track"].get(n, float("nan")) if c["truth_rows"] else float("nan"),
            "timestamp_ba": by["timestamp_ba"].get(n, float("nan")),
            "log_ba": by["log_ba"].get(n, float("nan")),
            **c,
        }
    with_truth = [v for v in per_query.values() if v["truth_rows"]]
    return {
        "n_queries": len(queries),
        "n_queries_with_truth": len(with_truth),
        "n_drives": len(ground_truth),
        "hota_temporal": _mean([v["hota_temporal"] for v in with_truth]),
        "hota_track": _mean([v["hota_track"] for v in with_truth]),
        "timestamp_ba": _mean([v["timestamp_ba"] for v in per_query.values()]),
        "log_ba": _mean([v["log_ba"] for v in per_query.values()]),
        "av2_hota_temporal": res["hota_temporal"],
        "av2_hota_track": res["hota_track"],
        "av2_timestamp_ba": res["timestamp_ba"],
        "av2_log_ba": res["log_ba"],
        "max_range_m": max_range_m,
        "per_query": per_query,
    }


def metadata(result: Mapping[str, Any]) -> dict[str, Any]:
    """Flat metadata of an `evaluate_golden` result: `eval/<metric>` floats plus a per-query table as
    JSON-able dict (NaN -> None)."""

    def clean(v):
        return None if isinstance(v, float) and math.isnan(v) else v

    out = {f"eval/{k}": clean(v) for k, v in result.items() if k != "per_query"}
    out["eval/per_query"] = {
        n: {k: clean(v) for k, v in row.items()} for n, row in result["per_query"].items()
    }
    return out


def evaluate_lake(
    lake, ground_truth_root: Path | str, drive_ids: Iterable[str] | None = None, queries=None
) -> dict[str, Any] | None:
    """The golden set through the DSL (`run_query`) on lake drives that have ground truth, scored with
    `evaluate_golden`. `None` when no drive has ground truth (real drives: nothing to measure)."""
    from av_assets.mining import run_query

    gt = read_ground_truth(ground_truth_root, drive_ids)
    if not gt:
        return None
    queries = load_golden() if queries is None else queries
    ids = sorted(gt)
    referred = {q["name"]: run_query(lake, q["query"], ids) for q in queries}
    paths = [p for d in ids for p in lake.list(tables.OBJECT_TRACKS.folder(drive_id=d), "*.parquet")]
    tracks = (
        pl.concat([lake.read_parquet(p) for p in paths], how="diagonal_relaxed")
        if paths
        else pl.DataFrame(
            schema={
                "drive_id": pl.String,
                "track_id": pl.String,
                "t_ns": pl.Int64,
                "x": pl.Float64,
                "y": pl.Float64,
            }
        )
    )
    return evaluate_golden(referred, tracks, gt, queries)
