"""The dbt gold layer materialised through Dagster on a small hand-built lake: rows and values of
clip_metadata_enriched, event_windows, slices and the ODD cube; dbt tests as asset checks."""

import dagster as dg
import numpy as np
import polars as pl
import pytest

from av_contracts import tables

S = 1_000_000_000
T0 = 1_774_029_480 * S  # 2026-03-20T17:58:00Z
DA, DB = "drive-aaa", "drive-bbb"


def _write(lake, rel, rows, schema):
    lake.write_parquet(rel, pl.DataFrame(rows, schema=schema, orient="row"))


def _clip_rows():
    # drive A: two 20 s clips (night, primary), drive B: one 20 s clip (day, residential, 50 km/h avg)
    return [
        (f"{DA}:{T0}", DA, "v1", T0, T0 + 20 * S, 20.0, 60.17, 24.94, 150.0, 7.5, 9.0, None),
        (
            f"{DA}:{T0 + 20 * S}",
            DA,
            "v1",
            T0 + 20 * S,
            T0 + 40 * S,
            20.0,
            60.17,
            24.94,
            150.0,
            7.5,
            9.0,
            None,
        ),
        (f"{DB}:{T0}", DB, "v1", T0, T0 + 20 * S, 20.0, 60.16, 24.93, 280.0, 14.0, 15.0, "rain"),
    ]


CLIP_SCHEMA = {
    "clip_id": pl.String,
    "drive_id": pl.String,
    "vehicle_id": pl.String,
    "t_start_ns": pl.Int64,
    "t_end_ns": pl.Int64,
    "duration_s": pl.Float64,
    "lat_centroid": pl.Float64,
    "lon_centroid": pl.Float64,
    "distance_m": pl.Float64,
    "speed_mean_mps": pl.Float64,
    "speed_max_mps": pl.Float64,
    "weather": pl.String,
}


def write_drive(lake, d):
    """Drive A: night, primary road, fog from the weather provider, two harsh brakes 0.5 s apart (merged)
    and a cut-in. Drive B: day, residential, overcast, a track lost for 1.2 s (occluded)."""
    from av_assets.enrich.context import ROAD_CONTEXT_SCHEMA

    _write(
        lake,
        tables.CLIP_INDEX.rel(drive_id=d),
        [r for r in _clip_rows() if r[1] == d],
        CLIP_SCHEMA,
    )
    rc_schema = {k: getattr(pl, v) for k, v in ROAD_CONTEXT_SCHEMA.items()}
    t = T0 + np.arange(400) * S // 10
    if d == DA:
        rc = [
            (
                DA,
                int(x),
                60.17,
                24.94,
                "primary",
                40.0,
                30.0,
                bool((x - T0) < 5 * S),
                0.99,
                -11.0,
                "night",
                "clear",
                "climatology",
            )
            for x in t
        ]
        ev = [
            (DA, "harsh_brake", T0 + 2 * S, T0 + 3 * S, 0.4, None),
            (DA, "harsh_brake", T0 + 3 * S + S // 2, T0 + 5 * S, 0.9, None),
            (DA, "cut_in", T0 + 25 * S, T0 + 27 * S, 0.5, None),
        ]
        schema = {
            "drive_id": pl.String,
            "type": pl.String,
            "t_start_ns": pl.Int64,
            "t_end_ns": pl.Int64,
            "severity": pl.Float64,
            "clip_id": pl.String,
        }
        _write(lake, tables.EVENT_DETECTIONS.rel(drive_id=DA), ev, schema)
        _write(
            lake,
            tables.WEATHER_HOURLY.rel(),
            [(DA, T0 // (3600 * S) * 3600 * S, "fog", "open-meteo")],
            {"drive_id": pl.String, "hour_start_ns": pl.Int64, "condition": pl.String, "source": pl.String},
        )
    else:
        rc = [
            (
                DB,
                int(x),
                60.16,
                24.93,
                "residential",
                30.0,
                80.0,
                False,
                0.97,
                25.0,
                "day",
                "overcast",
                "open-meteo",
            )
            for x in t[:200]
        ]
        _write(
            lake,
            tables.OBJECT_TRACKS.rel(drive_id=DB),
            [(DB, "trk-1", T0 + k * S // 10) for k in (0, 1, 2, 3, 15, 16)],
            {"drive_id": pl.String, "track_id": pl.String, "t_ns": pl.Int64},
        )
    _write(lake, tables.ROAD_CONTEXT.rel(drive_id=d), rc, rc_schema)


@pytest.fixture
def small_lake(tmp_path):
    from av_resources.lake import LakeStorage

    lake = LakeStorage(root=str(tmp_path / "lake"))
    for d in (DA, DB):
        write_drive(lake, d)
    return lake


def test_gold_models_materialise_with_checks(small_lake):
    from av_assets.gold.assets import gold_dbt_assets, read_gold
    from av_resources.dbt import dbt_resource

    lake = small_lake
    assets = gold_dbt_assets()
    res = dg.materialize(
        [assets], resources={"lake": lake, "dbt": dbt_resource()}, instance=dg.DagsterInstance.ephemeral()
    )
    assert res.success
    mats = {
        m.asset_key.to_user_string(): m
        for m in res.get_asset_materialization_events()
        for m in [m.event_specific_data.materialization]
    }
    assert set(mats) == {
        "gold/clip_metadata_enriched",
        "gold/event_windows",
        "gold/slices",
        "gold/odd_coverage",
    }
    cme = mats["gold/clip_metadata_enriched"].metadata
    assert cme["av/drive_ids"].value == [DA, DB] and cme["dagster/row_count"].value == 3
    assert len(cme["av/content_sha256"].value) == 64 and "dagster/column_schema" in cme
    assert mats["gold/odd_coverage"].metadata["av/drive_ids"].value == [DA, DB]
    checks = res.get_asset_check_evaluations()
    assert len(checks) >= 10 and all(c.passed for c in checks)
    assert {c.asset_key.to_user_string() for c in checks} == set(mats)

    clips = read_gold(lake, "clip_metadata_enriched").sort("clip_id")
    a0 = clips.row(0, named=True)
    assert (a0["road_class"], a0["day_night"], a0["weather"], a0["weather_source"]) == (
        "primary",
        "night",
        "fog",
        "provider",
    )
    assert a0["in_construction_zone"] and a0["construction_share"] == pytest.approx(0.25)
    b = clips.filter(pl.col("drive_id") == DB).row(0, named=True)
    assert (b["weather"], b["weather_source"], b["speed_band"]) == ("rain", "drive", "50-80")

    ev = read_gold(lake, "event_windows").sort("t_start_ns")
    assert ev["type"].to_list() == ["harsh_brake", "cut_in"]
    hb = ev.row(0, named=True)
    assert (hb["t_end_ns"] - hb["t_start_ns"], hb["n_detections"], hb["severity"]) == (3 * S, 2, 0.9)
    assert hb["clip_id"] == f"{DA}:{T0}" and ev.row(1, named=True)["clip_id"] == f"{DA}:{T0 + 20 * S}"
    assert hb["in_construction_zone"] and hb["road_class"] == "primary"

    sl = read_gold(lake, "slices")
    counts = dict(sl.group_by("slice").len().iter_rows())
    assert counts == {"night": 2, "fog": 2, "rain": 1, "construction": 1, "occlusion": 1, "urban": 3}

    cube = read_gold(lake, "odd_coverage")
    assert cube["hours"].sum() == pytest.approx(3 * 20 / 3600, abs=1e-5)  # each clip holds <= 1 event type
    prim = cube.filter(pl.col("road_class") == "primary")
    assert dict(zip(prim["event_type"], prim["clip_count"], strict=True)) == {"harsh_brake": 1, "cut_in": 1}
    assert cube.filter(pl.col("event_type") == "none")["hours"].sum() == pytest.approx(20 / 3600, abs=1e-5)


def test_climatology_in_road_context_is_called_climatology(tmp_path):
    """Drive A without its provider hour: road_context's weather is enrichment's climatology fallback
    (weather_source), so gold says climatology, not an observed road-context weather."""
    from av_assets.gold.assets import gold_dbt_assets, read_gold
    from av_resources.dbt import dbt_resource
    from av_resources.lake import LakeStorage

    lake = LakeStorage(root=str(tmp_path / "lake"))
    write_drive(lake, DA)
    _write(
        lake,
        tables.WEATHER_HOURLY.rel(),
        [],
        {"drive_id": pl.String, "hour_start_ns": pl.Int64, "condition": pl.String, "source": pl.String},
    )
    res = dg.materialize(
        [gold_dbt_assets()],
        resources={"lake": lake, "dbt": dbt_resource()},
        instance=dg.DagsterInstance.ephemeral(),
        selection=dg.AssetSelection.assets(["gold", "clip_metadata_enriched"]),
    )
    assert res.success
    clips = read_gold(lake, "clip_metadata_enriched")
    assert clips.height == 2 and set(zip(clips["weather"], clips["weather_source"], strict=True)) == {
        ("clear", "climatology")
    }


def test_empty_lake_builds_empty_tables(tmp_path):
    from av_assets.gold.assets import gold_dbt_assets, read_gold
    from av_resources.dbt import dbt_resource
    from av_resources.lake import LakeStorage

    lake = LakeStorage(root=str(tmp_path / "lake"))
    res = dg.materialize(
        [gold_dbt_assets()],
        resources={"lake": lake, "dbt": dbt_resource()},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert res.success
    for m in ("clip_metadata_enriched", "event_windows", "slices", "odd_coverage"):
        assert read_gold(lake, m).height == 0  # no dbt-duckdb all-NULL sentinel row
