"""Enrichment (workflow 5): GNSS map-matched to an OSM road graph (HMM/Viterbi), speed limits with a
country default table, junction proximity, construction zones from a versioned policy, sun elevation
(NOAA) and day/night, weather behind a provider interface (offline climatology / Open-Meteo archive).

Plain functions: `roads.road_graph`, `matching.match`, `sun.sun_elevation_deg`, `weather.*`,
`zones.in_zone`, `context.road_context_frame`. Docs: docs/enrich.md.
"""

from av_assets.contracts.registry import Extension, View


def _definitions():
    import os

    import dagster as dg

    from av_assets.contracts.defs import domain_definitions
    from av_assets.enrich.assets import (
        WeatherResource,
        construction_zones,
        road_context,
        road_context_match_quality_above_floor,
        weather_hourly,
    )

    env = os.environ.get("AV_ENV", "local").strip().lower()
    provider = os.environ.get("AV_WEATHER_PROVIDER") or ("open-meteo" if env == "prod" else "offline")
    return dg.Definitions.merge(
        domain_definitions(
            assets=[construction_zones, road_context, weather_hourly],
            asset_checks=[road_context_match_quality_above_floor],
        ),
        dg.Definitions(resources={"weather": WeatherResource(provider=provider)}),
    )


EXTENSION = Extension(
    name="enrich",
    definitions=_definitions,
    views=[
        View(
            name="road_context",
            path="silver/road_context/*/part-0.parquet",
            columns={
                "drive_id": "VARCHAR",
                "t_ns": "BIGINT",
                "lat": "DOUBLE",
                "lon": "DOUBLE",
                "road_class": "VARCHAR",
                "speed_limit_kph": "DOUBLE",
                "junction_dist_m": "DOUBLE",
                "in_construction_zone": "BOOLEAN",
                "match_quality": "DOUBLE",
                "sun_elevation_deg": "DOUBLE",
                "day_night": "VARCHAR",
                "weather": "VARCHAR",
                "weather_source": "VARCHAR",
            },
            description="per GNSS sample: matched road class, speed limit, junction distance, zone, sun, "
            "weather and where it came from (drive report, archive, or climatology: a guess)",
        ),
        View(
            name="weather_hourly",
            path="silver/weather_hourly/*.parquet",
            columns={
                "drive_id": "VARCHAR",
                "hour_start_ns": "BIGINT",
                "condition": "VARCHAR",
                "source": "VARCHAR",
                "provider": "VARCHAR",
                "temperature_c": "DOUBLE",
                "precipitation_mm": "DOUBLE",
            },
            description="hourly weather per drive (drive report > provider > climatology), refreshed daily",
        ),
    ],
    process_assets=["silver/road_context"],
)
