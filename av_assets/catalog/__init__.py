"""Catalog (workflow 4): views over the lake and `av query`; the per-drive clip index
(`catalog/clip_index`) with its key-value upsert (LanceDB locally / DynamoDB); the per-drive clip text
(`catalog/clip_text`: summary + tags + sentence embedding) in the text index (LanceDB FTS + vectors /
OpenSearch match + knn); Glue registration for production; `av search text` (the `av search` group) and
the HTTP retrieval API (`av api serve`, workflow 7)."""

from av_assets.contracts.registry import Extension, View


def _definitions():
    from av_assets.catalog.assets import clip_index, clip_text
    from av_assets.contracts.defs import domain_definitions

    return domain_definitions(assets=[clip_index, clip_text])


EXTENSION = Extension(
    name="catalog",
    definitions=_definitions,
    views=[
        View(
            name="clip_index",
            path="catalog/clip_index/*/part-0.parquet",
            columns={
                "clip_id": "VARCHAR",
                "drive_id": "VARCHAR",
                "vehicle_id": "VARCHAR",
                "t_start_ns": "BIGINT",
                "t_end_ns": "BIGINT",
                "utc_start": "VARCHAR",
                "utc_end": "VARCHAR",
                "duration_s": "DOUBLE",
                "lat_min": "DOUBLE",
                "lat_max": "DOUBLE",
                "lon_min": "DOUBLE",
                "lon_max": "DOUBLE",
                "lat_centroid": "DOUBLE",
                "lon_centroid": "DOUBLE",
                "distance_m": "DOUBLE",
                "speed_mean_mps": "DOUBLE",
                "speed_max_mps": "DOUBLE",
                "route_id": "VARCHAR",
                "weather": "VARCHAR",
                "sensors": "VARCHAR[]",
                "quality_flags": "VARCHAR[]",
                "policy_version": "VARCHAR",
                "description": "VARCHAR",
            },
            description="one row per clip: times, GPS box, distance, speeds, route, weather, sensors, flags",
        ),
        View(
            name="clip_text",
            path="catalog/clip_text/*/part-0.parquet",
            columns={
                "clip_id": "VARCHAR",
                "drive_id": "VARCHAR",
                "t_start_ns": "BIGINT",
                "t_end_ns": "BIGINT",
                "day_night": "VARCHAR",
                "weather": "VARCHAR",
                "road_class": "VARCHAR",
                "event_types": "VARCHAR",
                "text": "VARCHAR",
                "embedder": "VARCHAR",
                "embedder_version": "VARCHAR",
            },
            description="one row per clip: the text `av search text` searches, its tags and embedder",
        ),
    ],
    cli={
        "query": "av_assets.catalog.query:query",
        "catalog": "av_assets.catalog.cli:catalog_app",
        # the `av search` group: later workflows add commands in search_cli.SUBCOMMANDS
        "search": "av_assets.catalog.search_cli:search_app",
        # the HTTP retrieval API (FastAPI): `av api serve`, `av api openapi`
        "api": "av_assets.catalog.api:api_app",
    },
    process_assets=["catalog/clip_index", "catalog/clip_text"],
)
