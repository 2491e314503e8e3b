"""Sun elevation (NOAA) against known values; weather providers on a recorded Open-Meteo response."""

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from av_assets.enrich.sun import day_night, sun_elevation_deg
from av_assets.enrich.weather import drive_reported_weather, weather_for_drive
from av_resources.weather import OfflineWeatherProvider, OpenMeteoProvider, climatology, wmo_condition

FIXTURE = Path(__file__).parent / "fixtures" / "open_meteo_archive_helsinki_2026-03-20.json"
HEL = (60.1699, 24.9384)


def ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1e9)


def _day(iso_date: str, lat: float, lon: float) -> np.ndarray:
    t = ns(f"{iso_date}T00:00:00") + np.arange(1440) * 60_000_000_000
    return sun_elevation_deg(t, lat, lon)


def test_solar_noon_and_midnight_follow_the_declination():
    # June solstice 2024 (declination +23.44): noon 90 - 60.17 + 23.44, lowest -(90 - 60.17) + 23.44
    el = _day("2024-06-20", *HEL)
    assert el.max() == pytest.approx(90 - HEL[0] + 23.44, abs=0.05)
    assert el.min() == pytest.approx(-(90 - HEL[0]) + 23.44, abs=0.1)
    assert 10.2 < el.argmax() / 60 < 10.5  # solar noon ~10:20 UTC at 24.94 E
    # December solstice: the sun barely rises in Helsinki (noon 90 - 60.17 - 23.44 = 6.4 deg)
    assert _day("2024-12-21", *HEL).max() == pytest.approx(6.39, abs=0.1)
    # March equinox at (0, 0): overhead at ~12:07 UTC (equation of time -7.5 min)
    eq = _day("2024-03-20", 0.0, 0.0)
    assert eq.max() > 89.7 and 12.05 < eq.argmax() / 60 < 12.2


def test_helsinki_sunrise_and_sunset_at_minus_0833():
    # Helsinki 2024-06-20: sunrise 03:54, sunset 22:50 EEST (UTC+3) per almanac tables
    el = sun_elevation_deg([ns("2024-06-20T00:54:00"), ns("2024-06-20T19:50:00")], *HEL)
    assert np.allclose(el, -0.833, atol=0.25)
    assert list(day_night([10.0, -0.5, -3.0, -12.0])) == ["day", "day", "dusk", "night"]


def test_wmo_codes_map_to_conditions():
    assert [wmo_condition(c) for c in (0, 2, 3, 45, 53, 63, 81, 73, 86, 95, None)] == [
        "clear",
        "clear",
        "overcast",
        "fog",
        "rain",
        "rain",
        "rain",
        "snow",
        "snow",
        "rain",
        None,
    ]


def test_open_meteo_provider_on_a_recorded_response():
    doc = json.loads(FIXTURE.read_text())
    calls = []

    def fetch(url, params):
        calls.append((url, params))
        return doc

    p = OpenMeteoProvider(fetch=fetch)
    obs = p.hourly(60.17, 24.94, ns("2026-03-20T05:30:00"), ns("2026-03-20T23:10:00"))
    ((url, params),) = calls
    assert url == "https://archive-api.open-meteo.com/v1/archive"
    assert params["start_date"] == params["end_date"] == "2026-03-20"
    assert params["hourly"] == "weather_code,temperature_2m,precipitation,cloud_cover"
    by_hour = {datetime.fromtimestamp(o.hour_start_ns / 1e9, tz=UTC).hour: o for o in obs}
    assert sorted(by_hour) == list(range(5, 24))
    assert by_hour[5].condition == "overcast" and by_hour[5].source == "open-meteo"
    assert by_hour[7].condition == "rain" and by_hour[7].precipitation_mm == pytest.approx(1.2)
    assert by_hour[15].condition == "fog" and by_hour[19].condition == "clear"
    assert by_hour[21].condition == "snow" and by_hour[21].temperature_c == pytest.approx(0.4)
    # the last hour is null in the archive (ERA5 lags): climatology fills it
    assert by_hour[23].source == "climatology" and by_hour[23].condition == climatology(60.17, 3)


def test_offline_provider_drive_report_and_failure_fallback():
    t0, t1 = ns("2026-07-01T10:10:00"), ns("2026-07-01T11:05:00")
    obs = OfflineWeatherProvider().hourly(60.2, 24.9, t0, t1)
    assert [o.condition for o in obs] == ["clear", "clear"] and {o.source for o in obs} == {"climatology"}
    assert climatology(60.2, 1) == "overcast" and climatology(-60.2, 7) == "overcast"  # hemispheres
    assert drive_reported_weather({"weather": "Rain"}) == "rain"
    assert drive_reported_weather({"conditions": {"weather": "fog"}}) == "fog"
    assert drive_reported_weather({}, ["snow", "snow", "clear"]) == "snow"
    own = weather_for_drive(
        OpenMeteoProvider(fetch=lambda u, p: 1 / 0),
        drive_json={"weather": "fog"},
        lat=60.2,
        lon=24.9,
        start_ns=t0,
        end_ns=t1,
    )
    assert {(o.condition, o.source) for o in own} == {("fog", "drive")}
    logged = []

    def broken(url, params):
        raise ConnectionError("no network")

    fb = weather_for_drive(
        OpenMeteoProvider(fetch=broken),
        drive_json={},
        lat=60.2,
        lon=24.9,
        start_ns=t0,
        end_ns=t1,
        log=logged.append,
    )
    assert {o.source for o in fb} == {"climatology"} and "no network" in logged[0]
