import dagster as dg
import polars as pl

from av_assets.ops.assets import lake_inventory
from av_assets.ops.inventory import inventory_frame
from av_contracts import tables
from av_resources.lake import LakeStorage


def test_inventory_groups_by_layer_dataset_and_counts_drives():
    frame = inventory_frame(
        {
            "bronze/drives/d-001/bag/a.mcap": 100,
            "bronze/drives/d-002/drive.json": 10,
            "silver/signals/drive_id=d-001/part-0.parquet": 7,
            "quarantine/d-003/reason.json": 3,
        }
    )
    rows = {(r["layer"], r["dataset"]): r for r in frame.iter_rows(named=True)}
    assert rows[("bronze", "drives")] == {
        "layer": "bronze",
        "dataset": "drives",
        "objects": 2,
        "bytes": 110,
        "drives": 2,
    }
    assert rows[("silver", "signals")]["drives"] == 1
    assert rows[("quarantine", "d-003")]["objects"] == 1
    assert inventory_frame({}).height == 0


def test_lake_inventory_asset_materialises_with_lineage(lake):
    lake.write_bytes("bronze/drives/d-001/bag/a.mcap", b"x" * 1000)
    lake.write_bytes("silver/signals/drive_id=d-001/part-0.parquet", b"y" * 10)
    result = dg.materialize(
        [lake_inventory], resources={"lake": lake}, instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    md = result.asset_materializations_for_node("ops__lake_inventory")[0].metadata
    assert md["av/bytes"].value == 1010
    assert md["dagster/row_count"].value == 2
    assert len(md["av/content_sha256"].value) == 64
    stored = lake.read_parquet(tables.LAKE_INVENTORY.rel())
    assert stored.filter(pl.col("layer") == "bronze")["bytes"].to_list() == [1000]


def test_rerun_is_idempotent(tmp_path):
    lake = LakeStorage(root=str(tmp_path / "lake"))
    lake.write_bytes("bronze/drives/d-001/x.bin", b"abc")
    instance = dg.DagsterInstance.ephemeral()
    shas = []
    for _ in range(2):
        res = dg.materialize([lake_inventory], resources={"lake": lake}, instance=instance)
        shas.append(
            res.asset_materializations_for_node("ops__lake_inventory")[0].metadata["av/content_sha256"].value
        )
    assert shas[0] == shas[1]
