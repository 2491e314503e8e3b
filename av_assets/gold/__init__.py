"""Gold layer (dbt on DuckDB, Parquet under <lake>/gold/): clip_metadata_enriched, event_windows,
slices (one Parquet per drive, built incrementally by drive) and the ODD coverage cube; dbt tests are
Dagster asset checks. Docs: docs/gold.md."""

from av_assets.platform.registry import DemoStep, Extension


def _definitions():
    from av_assets.gold.assets import gold_dbt_assets
    from av_assets.platform.defs import domain_definitions

    return domain_definitions(assets=[gold_dbt_assets()])


EXTENSION = Extension(
    name="gold",
    definitions=_definitions,
    demo_steps=[DemoStep(name="gold", order=60, run="av_assets.gold.demo:gold_step")],
)
