"""`make demo` step: inventory the lake the loop just filled, recorded in the demo's Dagster home."""

from __future__ import annotations

from av_assets.platform.demo import DemoContext
from av_assets.platform.runs import current_instance, quiet_run_config
from av_contracts import tables


def inventory_step(ctx: DemoContext) -> list[tuple[str, str]]:
    import dagster as dg
    import polars as pl

    from av_assets.ops.assets import lake_inventory
    from av_resources.env import build_resources, current_env

    resources = build_resources(current_env())
    result = dg.materialize(
        [lake_inventory],
        resources=resources,
        instance=current_instance(),
        run_config=quiet_run_config(),
    )
    md = result.asset_materializations_for_node("ops__lake_inventory")[0].metadata
    frame = resources["lake"].read_parquet(tables.LAKE_INVENTORY.rel())
    rows = [("lake objects", str(md["av/objects"].value)), ("lake bytes", f"{md['av/bytes'].value:,}")]
    for layer, size in frame.group_by("layer").agg(pl.col("bytes").sum()).sort("layer").iter_rows():
        rows.append((f"{layer} bytes", f"{size:,}"))
    return rows
