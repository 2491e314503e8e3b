"""One catalog row per clip: times, GPS box, distance, speeds, route, weather, sensors, quality flags."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import numpy as np

NS = 1_000_000_000
CLIP_INDEX_SCHEMA = {
    "clip_id": "String",
    "drive_id": "String",
    "vehicle_id": "String",
    "platform": "String",
    "t_start_ns": "Int64",
    "t_end_ns": "Int64",
    "utc_start": "String",
    "utc_end": "String",
    "duration_s": "Float64",
    "lat_min": "Float64",
    "lat_max": "Float64",
    "lon_min": "Float64",
    "lon_max": "Float64",
    "lat_centroid": "Float64",
    "lon_centroid": "Float64",
    "distance_m": "Float64",
    "speed_mean_mps": "Float64",
    "speed_max_mps": "Float64",
    "speed_p95_mps": "Float64",
    "route_id": "String",
    "weather": "String",
    "sensors": "List[String]",
    "quality_flags": "List[String]",
    "policy_version": "String",
    "description": "String",
}


def _utc(t_ns: int) -> str:
    return datetime.fromtimestamp(t_ns / NS, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _haversine(lat1, lon1, lat2, lon2):
    r = 6_371_008.8
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * r * np.arcsin(np.sqrt(a))


def route_id(lat0, lon0, lat1, lon1, cell_deg: float = 0.01) -> str | None:
    """A stable id for 'the same road stretch': start and end snapped to ~1 km cells, direction kept."""
    if any(v is None or not np.isfinite(v) for v in (lat0, lon0, lat1, lon1)):
        return None
    cells = [round(v / cell_deg) for v in (lat0, lon0, lat1, lon1)]
    return "route-" + hashlib.sha1(",".join(map(str, cells)).encode()).hexdigest()[:12]


def _weather(drive_json: dict[str, Any]) -> str | None:
    w = drive_json.get("weather") or (drive_json.get("conditions") or {}).get("weather")
    if isinstance(w, list):
        w = ",".join(sorted({str(x.get("value", x)) if isinstance(x, dict) else str(x) for x in w}))
    return str(w) if w else None


def clip_index_rows(
    clips: list[dict[str, Any]],
    signals,  # polars DataFrame of silver/signals for the drive
    manifest: dict[str, Any],
    clock: dict[str, Any],
    frames_index=None,  # polars DataFrame of silver/frames index (optional)
) -> list[dict[str, Any]]:
    import polars as pl

    drive_json = manifest.get("drive_json") or {}
    lat = signals.filter(pl.col("signal") == "latitude").sort("t_ns")
    lon = signals.filter(pl.col("signal") == "longitude").sort("t_ns")
    n = min(lat.height, lon.height)
    g_t = lat["t_ns"].to_numpy()[:n]
    g_lat, g_lon = lat["value"].to_numpy()[:n], lon["value"].to_numpy()[:n]
    wheels = signals.filter(pl.col("signal").str.contains(r"\.WHEEL_SPEED_"))
    if wheels.height:
        sp = wheels.group_by("t_ns").agg(pl.col("value").mean(), pl.col("unit").first()).sort("t_ns")
        factor = 1 / 3.6 if (sp["unit"][0] or "").lower() in ("km/h", "kph") else 1.0
        s_t, s_v = sp["t_ns"].to_numpy(), sp["value"].to_numpy() * factor
    else:
        s_t, s_v = np.empty(0, np.int64), np.empty(0)
    sensors_present = sorted(signals["source"].unique().to_list()) if signals.height else []
    cams = (
        sorted(frames_index["sensor_id"].unique().to_list())
        if frames_index is not None and frames_index.height
        else []
    )
    rows = []
    for c in clips:
        a, b = int(c["t_start_ns"]), int(c["t_end_ns"])
        gi = (g_t >= a) & (g_t < b)
        si = (s_t >= a) & (s_t < b)
        la, lo = g_lat[gi], g_lon[gi]
        flags = []
        if clock.get("flagged"):
            flags.append("clock_offset_or_jump")
        if la.size == 0:
            flags.append("no_gnss")
        if si.sum() == 0:
            flags.append("no_can_speed")
        if c.get("duration_s", (b - a) / NS) < c.get("clip_length_s", 20.0) - 1e-9:
            flags.append("short_clip")
        if frames_index is not None and "n_keyframes" in c and c["n_keyframes"] == 0:
            flags.append("no_keyframes")
        if si.sum() >= 2:
            v, t = s_v[si], s_t[si] / NS
            distance = float(np.sum((v[1:] + v[:-1]) / 2 * np.diff(t)))
            stats = (float(v.mean()), float(v.max()), float(np.percentile(v, 95)))
        elif la.size >= 2:
            distance = float(np.sum(_haversine(la[:-1], lo[:-1], la[1:], lo[1:])))
            stats = (None, None, None)
        else:
            distance, stats = None, (None, None, None)
        has = la.size > 0
        rid = route_id(la[0], lo[0], la[-1], lo[-1]) if has else None
        weather = _weather(drive_json)
        sensors = sorted(set(sensors_present) | set(cams))
        row = {
            "clip_id": c["clip_id"],
            "drive_id": c["drive_id"],
            "vehicle_id": manifest.get("vehicle_id"),
            "platform": manifest.get("platform"),
            "t_start_ns": a,
            "t_end_ns": b,
            "utc_start": _utc(a),
            "utc_end": _utc(b),
            "duration_s": (b - a) / NS,
            "lat_min": float(la.min()) if has else None,
            "lat_max": float(la.max()) if has else None,
            "lon_min": float(lo.min()) if has else None,
            "lon_max": float(lo.max()) if has else None,
            "lat_centroid": float(la.mean()) if has else None,
            "lon_centroid": float(lo.mean()) if has else None,
            "distance_m": distance,
            "speed_mean_mps": stats[0],
            "speed_max_mps": stats[1],
            "speed_p95_mps": stats[2],
            "route_id": rid,
            "weather": weather,
            "sensors": sensors,
            "quality_flags": flags,
            "policy_version": c.get("policy_version"),
        }
        row["description"] = describe(row)
        rows.append(row)
    return rows


def describe(row: dict[str, Any]) -> str:
    """The text the full-text index sees: plain words for vehicle, place, speed, weather, flags."""
    parts = [f"clip of drive {row['drive_id']} by vehicle {row['vehicle_id']}"]
    if row.get("platform"):
        parts.append(f"platform {row['platform']}")
    parts.append(f"starting {row['utc_start'][:19]} UTC lasting {row['duration_s']:.0f} s")
    if row.get("speed_mean_mps") is not None:
        v = row["speed_mean_mps"]
        kind = "stationary" if v < 0.5 else "slow urban" if v < 8 else "urban" if v < 16 else "highway"
        parts.append(
            f"{kind} driving mean speed {v * 3.6:.0f} km/h max {row['speed_max_mps'] * 3.6:.0f} km/h"
        )
    if row.get("distance_m") is not None:
        parts.append(f"distance {row['distance_m']:.0f} m")
    if row.get("lat_centroid") is not None:
        parts.append(f"near {row['lat_centroid']:.4f} {row['lon_centroid']:.4f}")
    if row.get("weather"):
        parts.append(f"weather {row['weather']}")
    parts.append("sensors " + " ".join(row.get("sensors") or []))
    if row.get("quality_flags"):
        parts.append("flags " + " ".join(row["quality_flags"]))
    return "; ".join(parts)


def clip_index_frame(rows: list[dict[str, Any]]):
    """The `catalog/clip_index` table (polars.DataFrame, `CLIP_INDEX_SCHEMA`) of `clip_index_rows`."""
    import polars as pl

    schema = {
        k: (pl.List(pl.String) if v == "List[String]" else getattr(pl, v))
        for k, v in CLIP_INDEX_SCHEMA.items()
    }
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
