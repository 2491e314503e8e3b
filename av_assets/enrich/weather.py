"""What enrichment makes of the weather providers (`av_resources/weather.py`, resource `weather`): the
drive's own report (drive.json `weather` / `conditions.weather`, or a `weather` signal) always wins
over any provider; a provider that fails degrades to climatology, logged, never fatal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from av_resources.weather import CONDITIONS, OfflineWeatherProvider, WeatherObs, WeatherProvider, hours


def drive_reported_weather(
    drive_json: Mapping[str, Any] | None, signal_values: list[str] | None = None
) -> str | None:
    """The drive's own weather: drive.json `weather` or `conditions.weather` (a string), else the most
    frequent value of a `weather` signal/topic when the logger recorded one. Never ground truth."""
    dj = drive_json or {}
    for value in (
        dj.get("weather"),
        (dj.get("conditions") or {}).get("weather") if isinstance(dj.get("conditions"), dict) else None,
    ):
        if isinstance(value, str) and value.strip().lower() in CONDITIONS:
            return value.strip().lower()
    vals = [
        v.strip().lower()
        for v in signal_values or []
        if isinstance(v, str) and v.strip().lower() in CONDITIONS
    ]
    if vals:
        return max(sorted(set(vals)), key=vals.count)
    return None


def weather_for_drive(
    provider: WeatherProvider,
    *,
    drive_json: Mapping[str, Any] | None,
    lat: float,
    lon: float,
    start_ns: int,
    end_ns: int,
    log: Callable[[str], None] | None = None,
) -> list[WeatherObs]:
    """Hourly weather for a drive: its own report wins, then the provider, then climatology (a
    provider that fails is logged, never fatal)."""
    own = drive_reported_weather(drive_json)
    if own:
        return [WeatherObs(h, own, "drive") for h in hours(start_ns, end_ns)]
    try:
        return provider.hourly(lat, lon, start_ns, end_ns)
    except Exception as exc:  # network, quota, schema: degrade to the prior
        if log:
            log(f"weather provider {getattr(provider, 'name', provider)} failed ({exc}); climatology used")
        return OfflineWeatherProvider().hourly(lat, lon, start_ns, end_ns)


WEATHER_HOURLY_SCHEMA = {
    "drive_id": "String",
    "lat": "Float64",
    "lon": "Float64",
    "provider": "String",
    "hour_start_ns": "Int64",
    "condition": "String",
    "source": "String",
    "temperature_c": "Float64",
    "precipitation_mm": "Float64",
    "cloud_cover_pct": "Float64",
    "weather_code": "Int64",
}


def weather_hourly_frame(
    drives: list[dict[str, Any]],
    provider: WeatherProvider,
    drive_json: Callable[[str], Mapping[str, Any] | None],
    log: Callable[[str], None] | None = None,
) -> Any:
    """`silver/weather_hourly` (polars.DataFrame, sorted by drive and hour): `weather_for_drive` at each
    drive's GPS centroid over its time span; `drives` rows carry drive_id, lat, lon, t_start_ns,
    t_end_ns and `drive_json(drive_id)` gives the drive's own report (None when unknown)."""
    import polars as pl

    rows = []
    for d in drives:
        for w in weather_for_drive(
            provider,
            drive_json=drive_json(d["drive_id"]),
            lat=d["lat"],
            lon=d["lon"],
            start_ns=d["t_start_ns"],
            end_ns=d["t_end_ns"],
            log=log,
        ):
            rows.append(
                {
                    "drive_id": d["drive_id"],
                    "lat": d["lat"],
                    "lon": d["lon"],
                    "provider": provider.name,
                    **w.as_dict(),
                }
            )
    schema = {k: getattr(pl, v) for k, v in WEATHER_HOURLY_SCHEMA.items()}
    return pl.DataFrame(rows, schema=schema, orient="row").sort("drive_id", "hour_start_ns")
