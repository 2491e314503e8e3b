"""Construction zones: a versioned policy (GeoJSON FeatureCollection of polygons with validity times).

The effective policy is the lake's `ops/policies/construction_zones.geojson` when the operations team
has published one, else the repository default beside this module. Its version is the sha256 of its
canonical JSON: the `ops/construction_zones` policy asset (`av_assets.platform.policies`) records it as its data version, and every
`silver/road_context` row set records which version it used.

Feature properties: `zone_id` (str), `valid_from` / `valid_to` (ISO 8601 UTC; null = open-ended),
`description`. Geometry: Polygon or MultiPolygon in lon/lat (GeoJSON order).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from av_assets.platform.lineage import sha256_json

LAKE_POLICY = "ops/policies/construction_zones.geojson"
DEFAULT_POLICY = Path(__file__).with_name("policies") / "construction_zones.geojson"


def _iso_ns(value: str | None, default: int) -> int:
    if not value:
        return default
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1e9)


def validate_policy(doc: dict[str, Any]) -> None:
    if doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise ValueError("construction zone policy must be a GeoJSON FeatureCollection")
    for f in doc["features"]:
        geom = f.get("geometry") or {}
        if geom.get("type") not in ("Polygon", "MultiPolygon"):
            raise ValueError(f"zone {f.get('properties', {}).get('zone_id')}: geometry must be a polygon")
        if not (f.get("properties") or {}).get("zone_id"):
            raise ValueError("every zone needs properties.zone_id")


def load_policy(lake: Any | None = None) -> tuple[dict[str, Any], str, str]:
    """(policy, version sha256, where it came from)."""
    if lake is not None and lake.exists(LAKE_POLICY):
        doc, where = json.loads(lake.read_bytes(LAKE_POLICY)), lake.uri(LAKE_POLICY)
    else:
        doc, where = json.loads(DEFAULT_POLICY.read_text()), "repo:" + DEFAULT_POLICY.name
    validate_policy(doc)
    return doc, sha256_json(doc), where


def in_zone(doc: dict[str, Any], t_ns: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """True where a sample lies inside a zone polygon while the zone is valid."""
    import shapely

    t_ns, lat, lon = np.asarray(t_ns), np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    out = np.zeros(len(t_ns), dtype=bool)
    ok = np.isfinite(lat) & np.isfinite(lon)
    for f in doc.get("features", []):
        props = f.get("properties") or {}
        t0 = _iso_ns(props.get("valid_from"), np.iinfo(np.int64).min)
        t1 = _iso_ns(props.get("valid_to"), np.iinfo(np.int64).max)
        live = ok & (t_ns >= t0) & (t_ns <= t1) & ~out
        if not live.any():
            continue
        geom = shapely.geometry.shape(f["geometry"])
        idx = np.flatnonzero(live)
        out[idx] = shapely.contains_xy(geom, lon[idx], lat[idx])
    return out


def zone_polygon(lat: float, lon: float, half_size_m: float = 40.0) -> list[list[list[float]]]:
    """A square polygon (GeoJSON coordinates) around a point: handy for policies and tests."""
    dlat = half_size_m / 111_320.0
    dlon = half_size_m / (111_320.0 * max(np.cos(np.radians(lat)), 1e-6))
    ring = [
        [lon - dlon, lat - dlat],
        [lon + dlon, lat - dlat],
        [lon + dlon, lat + dlat],
        [lon - dlon, lat + dlat],
    ]
    return [[*ring, ring[0]]]
