"""`silver/road_context` rows: per GNSS sample, the matched road's class and speed limit, the distance
to the nearest junction, construction zones, match quality, sun elevation, day/night and weather."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from av_assets.enrich.matching import MatchResult, match
from av_assets.enrich.roads import RoadGraph
from av_assets.enrich.sun import day_night, sun_elevation_deg
from av_assets.enrich.zones import in_zone
from av_resources.weather import HOUR_NS, WeatherObs

# The contract other domains read (scenes reads speed limits): exactly these columns, in this order.
ROAD_CONTEXT_SCHEMA: dict[str, str] = {
    "drive_id": "String",
    "t_ns": "Int64",
    "lat": "Float64",
    "lon": "Float64",
    "road_class": "String",
    "speed_limit_kph": "Float64",
    "junction_dist_m": "Float64",
    "in_construction_zone": "Boolean",
    "match_quality": "Float64",
    "sun_elevation_deg": "Float64",
    "day_night": "String",
    "weather": "String",
    "weather_source": "String",  # drive (the logger's report) | open-meteo | climatology (a guess)
}


def gnss_fixes(grid: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t_ns, lat, lon) from a `signals_grid` (or `signals`) frame: the latitude/longitude signals in
    degrees, joined on t_ns."""
    import polars as pl

    pos = grid.filter(pl.col("signal").is_in(["latitude", "longitude"]) & (pl.col("unit") == "deg"))
    if pos.is_empty():
        return np.empty(0, dtype=np.int64), np.empty(0), np.empty(0)
    wide = (
        pos.group_by("t_ns", "signal")
        .agg(pl.col("value").mean())
        .pivot(on="signal", index="t_ns", values="value")
        .sort("t_ns")
        .drop_nulls()
    )
    return wide["t_ns"].to_numpy(), wide["latitude"].to_numpy(), wide["longitude"].to_numpy()


def empty_frame():
    import polars as pl

    return pl.DataFrame(schema={k: getattr(pl, v) for k, v in ROAD_CONTEXT_SCHEMA.items()})


def road_context_frame(
    drive_id: str,
    t_ns: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    graph: RoadGraph,
    zones_policy: dict[str, Any],
    weather: Sequence[WeatherObs],
    *,
    sigma_m: float | None = None,
) -> tuple[Any, MatchResult | None]:
    import polars as pl

    n = len(t_ns)
    if n == 0:
        return empty_frame(), None
    t_ns = np.asarray(t_ns, dtype=np.int64)
    m = match(graph, lat, lon, t_ns, sigma_m=sigma_m)
    seg = np.where(m.matched, m.seg, 0)
    road_class = np.where(m.matched, graph.seg_class[seg], None)
    speed = np.where(m.matched, graph.seg_speed_kph[seg], np.nan)
    jx = np.where(m.matched, m.x, graph.to_xy(lat, lon)[0])
    jy = np.where(m.matched, m.y, graph.to_xy(lat, lon)[1])
    junction = graph.junction_distance(jx, jy)
    zlat, zlon = graph.to_latlon(jx, jy)
    zone = in_zone(zones_policy, t_ns, zlat, zlon)
    elev = sun_elevation_deg(t_ns, lat, lon)
    by_hour = {w.hour_start_ns: w for w in weather}
    obs = [by_hour.get(int(t) // HOUR_NS * HOUR_NS) for t in t_ns]
    frame = pl.DataFrame(
        {
            "drive_id": [drive_id] * n,
            "t_ns": t_ns,
            "lat": np.asarray(lat, dtype=float),
            "lon": np.asarray(lon, dtype=float),
            "road_class": road_class.tolist(),
            "speed_limit_kph": np.where(m.matched, speed, None).tolist(),
            "junction_dist_m": np.round(junction, 2),
            "in_construction_zone": zone,
            "match_quality": m.quality,
            "sun_elevation_deg": np.round(elev, 4),
            "day_night": day_night(elev).tolist(),
            "weather": [o.condition if o else None for o in obs],
            "weather_source": [o.source if o else None for o in obs],
        },
        schema={k: getattr(pl, v) for k, v in ROAD_CONTEXT_SCHEMA.items()},
    )
    return frame, m


def drive_road_context(
    drive_id: str,
    grid: Any,
    drive_json: dict[str, Any] | None,
    graph: RoadGraph,
    zones_policy: dict[str, Any],
    weather_provider,
    *,
    sigma_m: float | None = None,
    log=None,
) -> tuple[Any, MatchResult | None, list[WeatherObs]]:
    """(road context frame, match result, hourly weather) of one drive from its 10 Hz signals grid:
    GNSS fixes, the drive's weather at their centroid (`weather_provider()` is called only when the
    drive has fixes) and `road_context_frame`."""
    from av_assets.enrich.weather import weather_for_drive

    t_ns, lat, lon = gnss_fixes(grid)
    wx: list[WeatherObs] = []
    if len(t_ns):
        wx = weather_for_drive(
            weather_provider(),
            drive_json=drive_json,
            lat=float(lat.mean()),
            lon=float(lon.mean()),
            start_ns=int(t_ns[0]),
            end_ns=int(t_ns[-1]),
            log=log,
        )
    frame, m = road_context_frame(drive_id, t_ns, lat, lon, graph, zones_policy, wx, sigma_m=sigma_m)
    return frame, m, wx


def road_context_summary(frame: Any, m: MatchResult | None, weather: Sequence[WeatherObs]) -> dict[str, Any]:
    """The numbers `silver/road_context` reports: the match summary (`match_<k>`, floats to 4 places),
    samples, share in a construction zone, weather sources and samples per road class."""
    summary = m.summary() if m else {"matched_share": 0.0}
    out: dict[str, Any] = {
        "match_" + k: (round(v, 4) if isinstance(v, float) else v) for k, v in summary.items()
    }
    out["samples"] = frame.height
    out["in_construction_zone_share"] = (
        float(frame["in_construction_zone"].mean() or 0.0) if frame.height else 0.0
    )
    out["weather_sources"] = sorted({w.source for w in weather})
    out["road_classes"] = {
        k: int(v) for k, v in frame["road_class"].value_counts().iter_rows() if k is not None
    }
    return out
