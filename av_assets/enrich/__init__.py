"""Enrichment (workflow 5): GNSS map-matched to an OSM road graph (HMM/Viterbi), speed limits with a
country default table, junction proximity, construction zones from a versioned policy, sun elevation
(NOAA) and day/night, weather behind a provider interface (the `weather` resource,
`av_resources/weather.py`: offline climatology / Open-Meteo archive).

Plain functions: `roads.road_graph`, `matching.match`, `sun.sun_elevation_deg`, `weather.*`,
`zones.in_zone`, `context.road_context_frame`. Docs: docs/enrich.md.
"""

from av_assets.platform.registry import Extension


def _definitions():
    from av_assets.enrich.assets import (
        construction_zones,
        road_context,
        road_context_match_quality_above_floor,
        weather_hourly,
    )
    from av_assets.platform.defs import domain_definitions

    # the `weather` and `catalog` resources come from av_resources/env.py, per environment
    return domain_definitions(
        assets=[construction_zones, road_context, weather_hourly],
        asset_checks=[road_context_match_quality_above_floor],
    )


EXTENSION = Extension(
    name="enrich",
    definitions=_definitions,
    process_assets=["silver/road_context"],
)
