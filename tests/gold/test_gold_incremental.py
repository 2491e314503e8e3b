"""Gold is incremental by drive: building drive B leaves drive A's published rows byte-identical (not
even rewritten), re-building B replaces its rows (no duplicates), the cube spans both, and a drive
whose inputs are gone leaves gold."""

import os

import dagster as dg
import pytest

from av_contracts import tables
from tests.gold.test_gold_dbt import DA, DB, write_drive

MODELS = ("clip_metadata_enriched", "event_windows", "slices")


def _partitions(lake, d):
    from av_assets.gold.incremental import partition_rel

    out = {}
    for m in MODELS:
        p = lake.path(partition_rel(m, d))
        out[m] = (lake.read_bytes(partition_rel(m, d)), os.stat(p).st_mtime_ns)
    return out


def _build(lake, assets, resources, **config):
    res = dg.materialize(
        [assets],
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"gold_dbt": {"config": config}}} if config else None,
    )
    assert res.success
    return {
        m.asset_key.to_user_string(): m.metadata
        for e in res.get_asset_materialization_events()
        for m in [e.event_specific_data.materialization]
    }


def test_build_a_then_b_then_rebuild_b_then_remove_b(tmp_path):
    from av_assets.gold.assets import gold_dbt_assets, read_gold
    from av_resources.dbt import dbt_resource
    from av_resources.lake import LakeStorage

    lake = LakeStorage(root=str(tmp_path / "lake"))
    assets = gold_dbt_assets()
    resources = {"lake": lake, "dbt": dbt_resource()}

    # 1. drive A alone (no config: every drive whose inputs changed = A)
    write_drive(lake, DA)
    md = _build(lake, assets, resources)
    assert md["gold/clip_metadata_enriched"]["av/drive_ids"].value == [DA]
    assert md["gold/clip_metadata_enriched"]["dagster/row_count"].value == 2
    a_before = _partitions(lake, DA)
    assert read_gold(lake, "event_windows").height == 2
    assert lake.list("gold/_runs") == []  # the run's staging folder is gone

    # 2. drive B arrives: only B is built; A's partitions are neither changed nor rewritten
    write_drive(lake, DB)
    md = _build(lake, assets, resources)
    assert md["gold/clip_metadata_enriched"]["av/drive_ids"].value == [DB]
    assert md["gold/clip_metadata_enriched"]["dagster/row_count"].value == 3
    assert md["gold/odd_coverage"]["av/drive_ids"].value == [DA, DB]
    assert _partitions(lake, DA) == a_before
    clips = read_gold(lake, "clip_metadata_enriched")
    assert clips.height == 3 and clips["clip_id"].n_unique() == 3
    assert dict(clips.group_by("drive_id").len().iter_rows()) == {DA: 2, DB: 1}
    assert read_gold(lake, "event_windows").height == 2  # B has no detections: a zero-row partition
    assert lake.read_parquet(tables.GOLD_EVENT_WINDOWS.rel(drive_id=DB)).height == 0
    slices = dict(read_gold(lake, "slices").group_by("slice").len().iter_rows())
    assert slices == {"night": 2, "fog": 2, "rain": 1, "construction": 1, "occlusion": 1, "urban": 3}
    cube = read_gold(lake, "odd_coverage")
    assert cube["hours"].sum() == pytest.approx(3 * 20 / 3600, abs=1e-5)
    assert cube["drive_count"].sum() == 3  # A: harsh_brake + cut_in cells; B: the none cell
    b_first = _partitions(lake, DB)

    # 3. B again, explicitly: replaced, not appended (same rows, same bytes); A untouched
    md = _build(lake, assets, resources, drive_ids=[DB])
    assert md["gold/clip_metadata_enriched"]["dagster/row_count"].value == 3
    assert md["gold/slices"]["dagster/row_count"].value == 10
    assert read_gold(lake, "clip_metadata_enriched").height == 3
    assert read_gold(lake, "slices").height == 10
    assert read_gold(lake, "odd_coverage").equals(cube)
    assert {m: v[0] for m, v in _partitions(lake, DB).items()} == {m: v[0] for m, v in b_first.items()}
    assert _partitions(lake, DA) == a_before

    # 4. B's inputs are gone: its rows leave gold, the cube follows, A stays
    for prefix in ("catalog/clip_index", "silver/road_context", "silver/object_tracks"):
        lake.delete(f"{prefix}/drive_id={DB}", recursive=True)
    md = _build(lake, assets, resources)
    assert md["gold/clip_metadata_enriched"]["av/drives_removed"].value == [DB]
    assert read_gold(lake, "clip_metadata_enriched")["drive_id"].to_list() == [DA, DA]
    assert read_gold(lake, "odd_coverage")["hours"].sum() == pytest.approx(2 * 20 / 3600, abs=1e-5)
    assert _partitions(lake, DA) == a_before


def test_plan_drives():
    from av_assets.gold.incremental import plan_drives

    fps = {"a": "1", "b": "2", "c": "3"}
    states = {"a": {"fingerprint": "1"}, "b": {"fingerprint": "old"}, "gone": {"fingerprint": "9"}}
    p = plan_drives(fps, states)
    assert (p.build, p.remove) == (["b", "c"], ["gone"])
    p = plan_drives(fps, states, full_refresh=True)
    assert (p.build, p.remove) == (["a", "b", "c"], ["gone"])
    p = plan_drives(fps, states, drive_ids=["a", "gone", "never"])
    assert (p.build, p.remove) == (["a"], ["gone"])
