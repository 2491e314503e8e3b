"""Weather providers (resource `weather`, built in `av_resources/env.py`): one interface, two
external services.

- `OfflineWeatherProvider`: climatology (month x latitude band, the table below); no network.
- `OpenMeteoProvider`: the Open-Meteo historical archive API (ERA5 reanalysis, hourly
  `weather_code` etc.; https://open-meteo.com/en/docs/historical-weather-api). The HTTP call goes
  through an injectable `fetch(url, params) -> dict`, so tests replay recorded responses; no call is
  made at import or definition time. ERA5 lags about five days: the cross-drive weather table is
  re-pulled daily, and hours the archive does not have yet fall back to climatology.

`WeatherResource(provider=...)` picks one (`get()`). What enrichment makes of them (the drive's own
report wins over any provider, a failing provider degrades to climatology) is enrichment's:
`av_assets/enrich/weather.py`.

Conditions are one vocabulary: clear, overcast, rain, snow, fog (the fleet's clear/overcast/rain/fog
plus snow).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import dagster as dg
from pydantic import Field

CONDITIONS = ("clear", "overcast", "rain", "snow", "fog")
HOUR_NS = 3_600_000_000_000


# WMO 4677 weather interpretation codes as Open-Meteo reports them -> our condition.
def wmo_condition(code: int | None) -> str | None:
    if code is None:
        return None
    c = int(code)
    if c in (0, 1, 2):
        return "clear"
    if c == 3:
        return "overcast"
    if c in (45, 48):
        return "fog"
    if 51 <= c <= 67 or 80 <= c <= 82 or 95 <= c <= 99:
        return "rain"
    if 71 <= c <= 77 or c in (85, 86):
        return "snow"
    return None


# Climatology: the most frequent condition per month (Jan..Dec, northern hemisphere; the southern
# hemisphere shifts six months) and latitude band. A coarse, documented prior — not a forecast.
LAT_BANDS = (
    (0, 23.5, "tropical"),
    (23.5, 40, "subtropical"),
    (40, 55, "temperate"),
    (55, 66.5, "boreal"),
    (66.5, 90.1, "polar"),
)
CLIMATOLOGY: dict[str, tuple[str, ...]] = {
    "tropical": ("clear",) * 5 + ("rain",) * 4 + ("clear",) * 3,
    "subtropical": ("clear",) * 12,
    "temperate": ("overcast",) * 3 + ("clear",) * 6 + ("overcast",) * 3,
    "boreal": (
        "overcast",
        "overcast",
        "clear",
        "clear",
        "clear",
        "clear",
        "clear",
        "clear",
        "overcast",
        "overcast",
        "overcast",
        "overcast",
    ),
    "polar": ("snow",) * 5 + ("overcast",) * 4 + ("snow",) * 3,
}


def lat_band(lat: float) -> str:
    a = abs(float(lat))
    for lo, hi, name in LAT_BANDS:
        if lo <= a < hi:
            return name
    return "polar"


def climatology(lat: float, month: int) -> str:
    m = (int(month) - 1 + (6 if lat < 0 else 0)) % 12
    return CLIMATOLOGY[lat_band(lat)][m]


@dataclass(frozen=True)
class WeatherObs:
    hour_start_ns: int
    condition: str
    source: str  # drive | open-meteo | climatology
    temperature_c: float | None = None
    precipitation_mm: float | None = None
    cloud_cover_pct: float | None = None
    weather_code: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class WeatherProvider(Protocol):
    name: str

    def hourly(self, lat: float, lon: float, start_ns: int, end_ns: int) -> list[WeatherObs]:
        """One observation per UTC hour touching [start_ns, end_ns]."""
        ...


def hours(start_ns: int, end_ns: int) -> list[int]:
    """The start of every UTC hour touching [start_ns, end_ns]."""
    h0 = start_ns // HOUR_NS * HOUR_NS
    return list(range(h0, max(end_ns, start_ns) + 1, HOUR_NS))


class OfflineWeatherProvider:
    name = "offline"

    def hourly(self, lat: float, lon: float, start_ns: int, end_ns: int) -> list[WeatherObs]:
        return [
            WeatherObs(h, climatology(lat, datetime.fromtimestamp(h / 1e9, tz=UTC).month), "climatology")
            for h in hours(start_ns, end_ns)
        ]


ARCHIVE_URL = "https://archive-api.open-meteo.com/v1/archive"
HOURLY_VARS = ("weather_code", "temperature_2m", "precipitation", "cloud_cover")


def _http_get_json(url: str, params: Mapping[str, Any]) -> dict:
    import httpx

    r = httpx.get(url, params=dict(params), timeout=30.0)
    r.raise_for_status()
    return r.json()


class OpenMeteoProvider:
    """Open-Meteo historical weather (archive) API; `fetch` replaces the HTTP call in tests."""

    name = "open-meteo"

    def __init__(self, fetch: Callable[[str, Mapping[str, Any]], dict] | None = None, url: str = ARCHIVE_URL):
        self.fetch = fetch or _http_get_json
        self.url = url

    def params(self, lat: float, lon: float, start_ns: int, end_ns: int) -> dict[str, Any]:
        d0 = datetime.fromtimestamp(start_ns / 1e9, tz=UTC).date()
        d1 = datetime.fromtimestamp(end_ns / 1e9, tz=UTC).date()
        return {
            "latitude": round(float(lat), 4),
            "longitude": round(float(lon), 4),
            "start_date": d0.isoformat(),
            "end_date": d1.isoformat(),
            "hourly": ",".join(HOURLY_VARS),
            "timezone": "UTC",
        }

    def hourly(self, lat: float, lon: float, start_ns: int, end_ns: int) -> list[WeatherObs]:
        doc = self.fetch(self.url, self.params(lat, lon, start_ns, end_ns))
        return parse_open_meteo(doc, lat, start_ns, end_ns)


def parse_open_meteo(doc: Mapping[str, Any], lat: float, start_ns: int, end_ns: int) -> list[WeatherObs]:
    """Hourly rows of an archive response; hours missing (or null: not in ERA5 yet) -> climatology."""
    if doc.get("error"):
        raise ValueError(f"open-meteo: {doc.get('reason', 'error')}")
    hourly = doc.get("hourly") or {}
    offset = int(doc.get("utc_offset_seconds") or 0)
    by_hour: dict[int, dict[str, Any]] = {}
    for i, t in enumerate(hourly.get("time") or []):
        ts = datetime.fromisoformat(t).replace(tzinfo=UTC) - timedelta(seconds=offset)
        by_hour[int(ts.timestamp()) * 1_000_000_000] = {
            k: (hourly.get(k) or [None] * (i + 1))[i] for k in HOURLY_VARS
        }
    out = []
    for h in hours(start_ns, end_ns):
        row = by_hour.get(h)
        cond = wmo_condition(row.get("weather_code")) if row else None
        if cond is None:
            month = datetime.fromtimestamp(h / 1e9, tz=UTC).month
            out.append(WeatherObs(h, climatology(lat, month), "climatology"))
            continue
        out.append(
            WeatherObs(
                h,
                cond,
                "open-meteo",
                temperature_c=row.get("temperature_2m"),
                precipitation_mm=row.get("precipitation"),
                cloud_cover_pct=row.get("cloud_cover"),
                weather_code=int(row["weather_code"]),
            )
        )
    return out


def provider_by_name(
    name: str, fetch: Callable[[str, Mapping[str, Any]], dict] | None = None
) -> WeatherProvider:
    if name == "offline":
        return OfflineWeatherProvider()
    if name in ("open-meteo", "open_meteo"):
        return OpenMeteoProvider(fetch=fetch)
    raise ValueError(f"unknown weather provider {name!r} (offline | open-meteo)")


class WeatherResource(dg.ConfigurableResource):
    """Which weather provider enrichment uses: `offline` (climatology; the drive's report still wins)
    or `open-meteo` (historical archive API; production)."""

    provider: str = Field(default="offline", description="offline | open-meteo")

    def get(self) -> WeatherProvider:
        return provider_by_name(self.provider)
