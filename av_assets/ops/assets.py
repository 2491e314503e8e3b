import dagster as dg

from av_assets.ops.inventory import bronze_drive_ids, inventory_frame
from av_assets.platform.lineage import table_result
from av_contracts import tables
from av_resources.lake import LakeStorage


@dg.asset(
    key=["ops", "lake_inventory"],
    group_name="ops",
    description="Objects, bytes and drives per lake layer and dataset; feeds cost and tiering reports.",
    kinds={"parquet", "duckdb"},
    owners=["team:platform"],
    code_version="1",
    automation_condition=dg.AutomationCondition.on_cron("0 3 * * *"),
)
def lake_inventory(context: dg.AssetExecutionContext, lake: LakeStorage) -> dg.MaterializeResult:
    sizes = {p: s for p, s in lake.sizes().items() if not p.startswith(tables.LAKE_INVENTORY.root + "/")}
    frame = inventory_frame(sizes)
    context.log.info(f"lake holds {len(sizes)} objects, {int(frame['bytes'].sum() or 0)} bytes")
    return table_result(
        lake,
        tables.LAKE_INVENTORY.rel(),
        frame,
        drive_ids=bronze_drive_ids(list(sizes)),
        metadata={
            "av/objects": len(sizes),
            "av/bytes": int(frame["bytes"].sum() or 0),
            "preview": dg.MetadataValue.md(_markdown(frame)),
        },
    )


def _markdown(frame) -> str:
    lines = ["| layer | dataset | objects | bytes | drives |", "|---|---|---:|---:|---:|"]
    for row in frame.iter_rows(named=True):
        lines.append(
            f"| {row['layer']} | {row['dataset']} | {row['objects']} | {row['bytes']} | {row['drives']} |"
        )
    return "\n".join(lines)
