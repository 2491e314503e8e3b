"""Enrichment loops as plain functions: `weather.weather_hourly_frame` (silver/weather_hourly) and
`context.road_context_summary` (the numbers silver/road_context reports)."""

import polars as pl

from av_assets.enrich.context import road_context_summary
from av_assets.enrich.weather import WEATHER_HOURLY_SCHEMA, weather_hourly_frame
from av_resources.weather import OfflineWeatherProvider, WeatherObs

HOUR = 3_600_000_000_000
T0 = 1_700_000_000 * 1_000_000_000 // HOUR * HOUR


def test_weather_hourly_frame_per_drive_and_hour():
    drives = [
        {"drive_id": "drv_b", "lat": 60.0, "lon": 25.0, "t_start_ns": T0, "t_end_ns": T0 + HOUR + 1},
        {"drive_id": "drv_a", "lat": 60.0, "lon": 25.0, "t_start_ns": T0, "t_end_ns": T0 + 1},
    ]
    reports = {"drv_a": {"weather": "rain"}}
    frame = weather_hourly_frame(drives, OfflineWeatherProvider(), reports.get)
    assert frame.columns == list(WEATHER_HOURLY_SCHEMA)
    assert frame.select("drive_id", "hour_start_ns").rows() == [
        ("drv_a", T0),
        ("drv_b", T0),
        ("drv_b", T0 + HOUR),
    ]
    assert frame["source"].to_list() == ["drive", "climatology", "climatology"]
    assert frame["condition"][0] == "rain" and set(frame["provider"]) == {"offline"}
    assert weather_hourly_frame([], OfflineWeatherProvider(), reports.get).height == 0


class Match:
    def summary(self):
        return {"matched_share": 0.912345, "candidates": 7}


def test_road_context_summary():
    frame = pl.DataFrame(
        {
            "in_construction_zone": [True, False, False, False],
            "road_class": ["primary", "primary", None, "service"],
        }
    )
    wx = [WeatherObs(T0, "rain", "drive"), WeatherObs(T0 + HOUR, "clear", "climatology")]
    s = road_context_summary(frame, Match(), wx)
    assert s == {
        "match_matched_share": 0.9123,
        "match_candidates": 7,
        "samples": 4,
        "in_construction_zone_share": 0.25,
        "weather_sources": ["climatology", "drive"],
        "road_classes": {"primary": 2, "service": 1},
    }
    empty = pl.DataFrame(schema={"in_construction_zone": pl.Boolean, "road_class": pl.String})
    assert road_context_summary(empty, None, []) == {
        "match_matched_share": 0.0,
        "samples": 0,
        "in_construction_zone_share": 0.0,
        "weather_sources": [],
        "road_classes": {},
    }
