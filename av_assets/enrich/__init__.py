"""Enrichment (workflow 5): GNSS map-matched to an OSM road graph (HMM/Viterbi), speed limits with a
country default table, junction proximity, construction zones from a versioned policy, sun elevation
(NOAA) and day/night, weather behind a provider interface (offline climatology / Open-Meteo archive).

Plain functions: `roads.road_graph`, `matching.match`, `sun.sun_elevation_deg`, `weather.*`,
`zones.in_zone`, `context.road_context_frame`. Docs: docs/enrich.md.
"""

from av_assets.platform.registry import Extension


def _definitions():
    import os

    import dagster as dg

    from av_assets.enrich.assets import (
        WeatherResource,
        construction_zones,
        road_context,
        road_context_match_quality_above_floor,
        weather_hourly,
    )
    from av_assets.platform.defs import domain_definitions

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
    process_assets=["silver/road_context"],
)
