"""Map matching and `silver/road_context` on a fleet drive: clean and noisy GNSS against the roads
the drive really took (ground truth), speed-limit defaults, construction-zone policy, the asset."""

import json

import dagster as dg
import numpy as np
import polars as pl
import pytest

from av_assets.enrich.context import ROAD_CONTEXT_SCHEMA
from av_assets.enrich.evaluation import accuracy_vs_trajectory
from av_assets.enrich.roads import parse_maxspeed, road_graph
from av_assets.enrich.zones import LAKE_POLICY, zone_polygon
from av_contracts import tables
from tests.helpers import shared_data_dir


def _noisy(ego, sigma, seed=0):
    g = road_graph()
    e = ego[::10]  # 100 Hz -> 10 Hz, like the GNSS receiver
    x, y = g.to_xy(e["lat"].to_numpy(), e["lon"].to_numpy())
    rng = np.random.default_rng(seed)
    lat, lon = g.to_latlon(x + rng.normal(0, sigma, len(x)), y + rng.normal(0, sigma, len(x)))
    return e["t_ns"].to_numpy(), lat, lon


def test_speed_limit_parsing_and_country_defaults():
    assert parse_maxspeed("40", "primary") == (40.0, True)
    assert parse_maxspeed("30 mph", "residential")[0] == pytest.approx(48.28, abs=0.01)
    assert parse_maxspeed("FI:rural", "secondary") == (80.0, True)
    assert parse_maxspeed(None, "residential") == (50.0, False)  # Finland, urban default
    assert parse_maxspeed(None, "motorway") == (120.0, False)
    assert parse_maxspeed(None, "living_street") == (20.0, False)
    assert parse_maxspeed(None, "residential", "DE") == (50.0, False)
    # pyrosm's test extract (Kotka, FI): untagged motorways get the motorway default
    g = road_graph(str(shared_data_dir("osm", "test.osm.pbf")))
    mw = g.seg_class == "motorway"
    assert mw.any() and set(g.seg_speed_kph[mw & ~g.seg_speed_tagged]) == {120.0}
    h = road_graph()  # Helsinki: 724 of 725 drivable ways tagged
    assert h.seg_speed_tagged.mean() > 0.99 and set(np.unique(h.seg_speed_kph)) <= {30.0, 40.0, 50.0}


@pytest.mark.parametrize("sigma,floor", [(0.35, 0.97), (5.0, 0.95), (10.0, 0.9)])
def test_matching_accuracy_against_ground_truth(fleet_drive, sigma, floor):
    from av_assets.enrich.context import road_context_frame
    from av_assets.enrich.zones import load_policy

    g = road_graph()
    t, lat, lon = _noisy(fleet_drive["ego"], sigma, seed=int(sigma * 10))
    frame, m = road_context_frame("d", t, lat, lon, g, load_policy()[0], [])
    acc = accuracy_vs_trajectory(frame, fleet_drive["ego"], g)
    print(f"sigma={sigma}: {acc} {m.summary()}")
    assert m.matched.all()
    assert acc["road_class_accuracy"] >= floor
    assert acc["speed_limit_accuracy_vs_simulator"] >= floor
    assert m.summary()["quality_mean"] >= 0.8
    if sigma >= 5:  # the sigma estimate follows the noise
        assert 0.5 * sigma < m.sigma_m < 1.6 * sigma


def _lake_with_drive(lake, drive_id, t, lat, lon):

    n = len(t)
    grid = pl.DataFrame(
        {
            "drive_id": [drive_id] * (2 * n),
            "t_ns": np.concatenate([t, t]),
            "source": ["gnss"] * (2 * n),
            "signal": ["latitude"] * n + ["longitude"] * n,
            "value": np.concatenate([lat, lon]),
            "unit": ["deg"] * (2 * n),
            "n_samples": np.ones(2 * n, dtype=np.uint32),
        }
    )
    lake.write_parquet(tables.SIGNALS_GRID.rel(drive_id=drive_id), grid)
    lake.write_json(
        tables.BRONZE_MANIFEST.rel(drive_id=drive_id),
        {"drive_id": drive_id, "drive_json": {"drive_id": drive_id}},
    )


def test_road_context_asset_noisy_gnss_policy_and_accuracy(fleet_drive, tmp_path):
    from av_assets.enrich.assets import construction_zones, road_context
    from av_resources.evaluation import GroundTruthResource
    from av_resources.lake import LakeStorage
    from av_resources.weather import WeatherResource

    lake = LakeStorage(root=str(tmp_path / "lake"))
    d, ego = fleet_drive["drive_id"], fleet_drive["ego"]
    t, lat, lon = _noisy(ego, 7.0, seed=3)
    _lake_with_drive(lake, d, t, lat, lon)
    # a construction zone around the true position 15 s into the drive, valid for that drive's day
    mid = ego.filter(pl.col("t_ns") >= ego["t_ns"][0] + 15_000_000_000).row(0, named=True)
    day = np.datetime64(int(mid["t_ns"]), "ns").astype("datetime64[D]")
    policy = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "zone_id": "test-1",
                    "valid_from": f"{day}T00:00:00Z",
                    "valid_to": f"{day}T23:59:59Z",
                },
                "geometry": {"type": "Polygon", "coordinates": zone_polygon(mid["lat"], mid["lon"], 30.0)},
            }
        ],
    }
    lake.write_json(LAKE_POLICY, policy)

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("drives", [d])
    res = dg.materialize(
        [road_context],
        partition_key=d,
        instance=instance,
        resources={
            "lake": lake,
            "weather": WeatherResource(),
            "ground_truth": GroundTruthResource(root=str(fleet_drive["gt_dir"])),
        },
    )
    assert res.success
    md = res.asset_materializations_for_node("silver__road_context")[0].metadata
    frame = lake.read_parquet(tables.ROAD_CONTEXT.rel(drive_id=d))
    assert list(frame.columns) == list(ROAD_CONTEXT_SCHEMA) and frame.height == len(t)
    assert md["dagster/row_count"].value == frame.height and md["av/drive_ids"].value == [d]
    acc = md["av/accuracy_vs_ground_truth"].value
    assert acc["road_class_accuracy"] >= 0.9 and acc["speed_limit_accuracy_vs_simulator"] >= 0.9
    assert md["av/match_matched_share"].value == 1.0
    # the zone: samples within ~20 m of its centre are in it, samples 100 m away are not
    zone_t = frame.filter(pl.col("in_construction_zone"))["t_ns"]
    assert zone_t.len() > 0 and zone_t.min() <= mid["t_ns"] <= zone_t.max()
    assert frame["in_construction_zone"].mean() < 0.5
    from av_assets.platform.lineage import sha256_json

    assert md["av/construction_policy_sha256"].value == sha256_json(json.loads(lake.read_bytes(LAKE_POLICY)))
    assert set(frame["day_night"]) <= {"day", "dusk", "night"} and frame["weather"].null_count() == 0
    # no report in this drive.json and the offline provider: every sample says its weather is a guess
    assert set(frame["weather_source"]) == {"climatology"}
    assert frame["speed_limit_kph"].null_count() == 0 and (frame["junction_dist_m"] >= 0).all()

    # the policy is a versioned policy asset whose data version is that hash
    res = dg.materialize([construction_zones], instance=instance, resources={"lake": lake})
    (mat,) = res.asset_materializations_for_node("ops__construction_zones")
    assert mat.tags["dagster/data_version"] == md["av/construction_policy_sha256"].value
