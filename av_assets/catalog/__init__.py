"""Catalog (workflow 4): views over the lake and `av query`; the per-drive clip index
(`catalog/clip_index`) with its key-value upsert (LanceDB locally / DynamoDB) and text index
(LanceDB FTS / OpenSearch), Glue registration for production, `av search text` (the `av search` group)."""

from av_assets.contracts.registry import Extension, View


def _definitions():
    from av_assets.catalog.assets import clip_index
    from av_assets.contracts.defs import domain_definitions

    return domain_definitions(assets=[clip_index])


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
        )
    ],
    cli={
        "query": "av_assets.catalog.query:query",
        "catalog": "av_assets.catalog.cli:catalog_app",
        # the `av search` group: later workflows add commands in search_cli.SUBCOMMANDS
        "search": "av_assets.catalog.search_cli:search_app",
    },
    process_assets=["catalog/clip_index"],
)
