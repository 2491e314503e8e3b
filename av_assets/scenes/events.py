"""The whole detector pass of one drive: ego state from signals, lane changes, track-based detectors,
clip assignment and tags per clip. Plain function (no Dagster)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from av_assets.scenes.policy import EVENT_TYPES, TriggerPolicy

EVENTS_SCHEMA = {
    "drive_id": "String",
    "type": "String",
    "t_start_ns": "Int64",
    "t_end_ns": "Int64",
    "severity": "Float64",
    "clip_id": "String",
    "track_id": "String",
    "detail": "String",
    "policy_version": "String",
}


@dataclass
class DriveEvents:
    events: object  # polars.DataFrame
    clip_tags: object  # polars.DataFrame
    counts: dict
    skipped: dict


def _schema(spec):
    import polars as pl

    return {k: getattr(pl, v) for k, v in spec.items()}


def speed_limit_on_grid(road, grid_t: np.ndarray) -> np.ndarray | None:
    """speed_limit_kph from silver/road_context held to the ego grid (m/s); None without it."""
    if road is None or "speed_limit_kph" not in road.columns or not road.height:
        return None
    r = road.select("t_ns", "speed_limit_kph").drop_nulls().sort("t_ns")
    if not r.height:
        return None
    t, v = r["t_ns"].to_numpy(), r["speed_limit_kph"].to_numpy().astype(float) / 3.6
    idx = np.searchsorted(t, grid_t, side="right") - 1
    out = v[np.clip(idx, 0, None)]
    # beyond 2 s from any road-context sample the limit is unknown
    near = np.abs(t[np.clip(idx, 0, None)] - grid_t) <= 2e9
    return np.where(near | (idx >= 0), out, np.nan)


def detect_drive(
    drive_id: str, signals, tracks, clips, road, policy: TriggerPolicy, lane_width: float | None = None
) -> DriveEvents:
    import polars as pl

    from av_assets.scenes import detect
    from av_assets.shared.ego import ego_state

    p = policy.detectors
    if (
        lane_width is None
        and road is not None
        and "lane_width_m" in road.columns
        and road["lane_width_m"].drop_nulls().len()
    ):
        lane_width = float(road["lane_width_m"].drop_nulls().median())
    w = lane_width or p.lane_width_m
    ego = ego_state(signals, accel_smooth_s=p.accel_smooth_s)
    skipped: dict[str, str] = {}
    rows: list[dict] = []
    if not ego.t_ns.size:
        skipped.update({t: "no speed signal" for t in EVENT_TYPES if t != "disengagement"})
    rows += detect.harsh_brake(ego, p)
    if ego.t_ns.size and np.all(np.isnan(ego.engaged)):
        skipped["disengagement"] = "no engaged flag (PCM_CRUISE.CRUISE_ACTIVE) in silver/signals"
    rows += detect.disengagement(ego, p)
    limit = speed_limit_on_grid(road, ego.t_ns) if ego.t_ns.size else None
    if limit is None:
        skipped["speeding"] = "no silver/road_context speed_limit_kph for this drive"
    else:
        rows += detect.speeding(ego, limit, p)
    if ego.t_ns.size and np.all(np.isnan(ego.yaw_rate)):
        skipped["lane_change"] = "no yaw rate in silver/signals"
    lcs, shift = detect.lane_changes(ego, p, w)
    rows += lcs
    if tracks is None or not tracks.height:
        skipped["cut_in"] = skipped["stationary_hazard"] = "no object tracks"
    else:
        if (
            "lateral_offset_m" not in tracks.columns
            or tracks["lateral_offset_m"].null_count() == tracks.height
        ):
            tracks = detect.track_lanes(ego, tracks.drop("lateral_offset_m", "lane", strict=False), shift, w)
        tracks = detect.sorted_tracks(tracks)  # once for both track detectors
        rows += detect.cut_ins(tracks, p, w, lcs)
        rows += detect.stationary_hazards(tracks, p, w)
    ev = (
        pl.DataFrame(
            rows,
            schema={
                k: v
                for k, v in _schema(EVENTS_SCHEMA).items()
                if k in ("type", "t_start_ns", "t_end_ns", "severity", "track_id", "detail")
            },
        )
        if rows
        else None
    )
    if ev is None:
        ev = pl.DataFrame(schema=_schema(EVENTS_SCHEMA))
    else:
        ev = ev.with_columns(
            pl.lit(drive_id).alias("drive_id"),
            pl.lit(None, pl.String).alias("clip_id"),
            pl.lit(policy.version).alias("policy_version"),
        ).select(list(EVENTS_SCHEMA))
    ev = ev.sort("t_start_ns", "type")
    tags = pl.DataFrame(
        schema={"clip_id": pl.String, "drive_id": pl.String, "tags": pl.List(pl.String), "n_events": pl.Int64}
    )
    if clips is not None and clips.height:
        c = clips.sort("t_start_ns")
        cs, ce, cid = c["t_start_ns"].to_numpy(), c["t_end_ns"].to_numpy(), c["clip_id"].to_numpy()
        if ev.height:
            k = np.clip(np.searchsorted(cs, ev["t_start_ns"].to_numpy(), side="right") - 1, 0, len(cs) - 1)
            ev = ev.with_columns(pl.Series("clip_id", cid[k].astype(str)))
        # tags per clip: every event type whose interval overlaps the clip
        a, b = ev["t_start_ns"].to_numpy(), ev["t_end_ns"].to_numpy()
        types = np.asarray(ev["type"].to_list(), dtype=object)
        ov = (
            (a[None, :] < ce[:, None]) & (b[None, :] >= cs[:, None])
            if ev.height
            else np.zeros((len(cs), 0), bool)
        )
        tags = pl.DataFrame(
            {
                "clip_id": cid.astype(str).tolist(),
                "drive_id": [drive_id] * len(cs),
                "tags": [sorted(set(types[ov[i]].tolist())) for i in range(len(cs))],
                "n_events": ov.sum(1).astype(np.int64),
            },
            schema=tags.schema,
        )
        for t in EVENT_TYPES:
            tags = tags.with_columns(pl.col("tags").list.contains(t).alias(f"has_{t}"))
    counts = {t: int((ev["type"] == t).sum()) for t in EVENT_TYPES}
    return DriveEvents(ev, tags, counts, skipped)
