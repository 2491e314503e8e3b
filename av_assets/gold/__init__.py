"""Gold layer (dbt on DuckDB, Parquet under <lake>/gold/): clip_metadata_enriched, event_windows,
slices (one Parquet per drive, built incrementally by drive) and the ODD coverage cube; dbt tests are
Dagster asset checks. Docs: docs/gold.md."""

from av_assets.contracts.registry import DemoStep, Extension, View


def _definitions():
    import dagster as dg

    from av_assets.contracts.defs import domain_definitions
    from av_assets.gold.assets import dbt_resource, gold_dbt_assets

    return dg.Definitions.merge(
        domain_definitions(assets=[gold_dbt_assets()]),
        dg.Definitions(resources={"dbt": dbt_resource()}),
    )


def _demo(ctx) -> list[tuple[str, str]]:
    """`make demo` step: build the dbt gold layer over the processed drives, then show the slices."""
    from av_assets.contracts.demo import demo_query
    from av_assets.contracts.runs import current_instance, quiet_run_config
    from av_assets.definitions import defs

    d = defs()
    gold = [k for k in d.resolve_all_asset_keys() if k.path[0] == "gold"]
    job = d.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(gold))
    result = job.execute_in_process(
        instance=current_instance(), run_config=quiet_run_config(), raise_on_error=False
    )
    rows = [("gold build", "ok" if result.success else "FAILED (see the run in `make ui`)")]
    rows += [
        (f"slice {name}", f"{n} clips")
        for name, n in demo_query("SELECT slice, count(*) FROM slices GROUP BY 1 ORDER BY 1")
    ]
    return rows


EXTENSION = Extension(
    name="gold",
    definitions=_definitions,
    views=[
        View(
            name="clip_metadata_enriched",
            path="gold/clip_metadata_enriched/*/part-0.parquet",
            columns={
                "clip_id": "VARCHAR",
                "drive_id": "VARCHAR",
                "t_start_ns": "BIGINT",
                "t_end_ns": "BIGINT",
                "duration_s": "DOUBLE",
                "road_class": "VARCHAR",
                "speed_band": "VARCHAR",
                "speed_limit_max_kph": "DOUBLE",
                "in_construction_zone": "BOOLEAN",
                "day_night": "VARCHAR",
                "weather": "VARCHAR",
            },
            description="gold: one row per clip with road context and weather",
        ),
        View(
            name="event_windows",
            path="gold/event_windows/*/part-0.parquet",
            columns={
                "event_id": "VARCHAR",
                "drive_id": "VARCHAR",
                "type": "VARCHAR",
                "t_start_ns": "BIGINT",
                "t_end_ns": "BIGINT",
                "severity": "DOUBLE",
                "clip_id": "VARCHAR",
                "road_class": "VARCHAR",
            },
            description="gold: merged, enriched event detections",
        ),
        View(
            name="slices",
            path="gold/slices/*/part-0.parquet",
            columns={"slice": "VARCHAR", "clip_id": "VARCHAR", "drive_id": "VARCHAR", "t_start_ns": "BIGINT"},
            description="gold: named clip slices (night, rain, fog, construction, occlusion, highway, urban)",
        ),
        View(
            name="odd_coverage",
            path="gold/odd_coverage.parquet",
            columns={
                "road_class": "VARCHAR",
                "speed_band": "VARCHAR",
                "weather": "VARCHAR",
                "light": "VARCHAR",
                "event_type": "VARCHAR",
                "clip_count": "BIGINT",
                "hours": "DOUBLE",
            },
            description="gold: ODD coverage cube with clip counts and hours",
        ),
    ],
    demo_steps=[DemoStep(name="gold", order=60, run=_demo)],
)
