"""Real data: one minute of a 2018 Toyota RAV4 (comma2k19 Example_1) packed into a ROS 2 MCAP drive,
ingested and processed by `av process`; decoded CAN must match comma's own decoded wheel speeds."""

import dagster as dg
import numpy as np
import polars as pl
import pytest

from av_assets.ingest.cli import process_path
from av_contracts import tables
from av_resources.lake import LakeStorage
from tests.helpers import shared_data_dir
from tests.sync.comma import DRIVE_ID, pack

WHEELS = ["FL", "FR", "RL", "RR"]  # processed_log/CAN/wheel_speed column order


@pytest.fixture(scope="module")
def comma(tmp_path_factory):
    base = shared_data_dir("comma2k19", "Example_1")
    root = tmp_path_factory.mktemp("comma")
    (root / "home").mkdir()
    packed = pack(base, root / "landing")
    mp = pytest.MonkeyPatch()
    mp.setenv("DAGSTER_HOME", str(root / "home"))
    mp.setenv("AV_LAKE_ROOT", str(root / "lake"))
    lake = LakeStorage(root=str(root / "lake"))
    with dg.DagsterInstance.get() as instance:
        rows = process_path(root / "landing", lake=lake, instance=instance)
    yield {"base": base, "lake": lake, "rows": rows, "packed": packed}
    mp.undo()


def test_process_runs_sync_and_catalog(comma):
    (row,) = comma["rows"]
    assert row["status"] == "ingested", row
    run = row["run"]
    assert run["success"], run
    assert {"silver/signals", "silver/clips", "silver/signals_grid"} <= set(run["materialized"])


def test_wheel_speeds_equal_comma_decoded_times_3_6(comma):
    base, lake = comma["base"], comma["lake"]
    sig = lake.read_parquet(tables.SIGNALS.rel(drive_id=DRIVE_ID))
    expected = np.load(base / "processed_log/CAN/wheel_speed/value", allow_pickle=False) * 3.6
    for k, w in enumerate(WHEELS):
        s = sig.filter(pl.col("signal") == f"WHEEL_SPEEDS.WHEEL_SPEED_{w}").sort("t_raw_ns")
        assert s.height == expected.shape[0] == 4974  # one row per frame
        assert set(s["unit"].unique()) == {"km/h"} and set(s["source"].unique()) == {"can0"}
        np.testing.assert_allclose(s["value"].to_numpy(), expected[:, k], rtol=0, atol=1e-6)
    # the frames' raw stamps are comma's boot clock mapped to UTC: same instants as wheel_speed/t
    t = np.load(base / "processed_log/CAN/wheel_speed/t", allow_pickle=False)
    off = comma["packed"]["boot_to_utc_offset_ns"]
    raw = (
        sig.filter(pl.col("signal") == "WHEEL_SPEEDS.WHEEL_SPEED_FL").sort("t_raw_ns")["t_raw_ns"].to_numpy()
    )
    assert np.max(np.abs((raw - off) / 1e9 - t)) < 1e-6


def test_three_time_bases_reconcile(comma):
    tb = comma["packed"]["time_bases"]
    # boot seconds + one offset == GPS week/seconds (leap seconds removed) on every camera frame
    assert tb["frames_offset_max_dev_ms"] < 0.01
    # the ublox fixes' own UTC (epoch ms) arrive one receiver latency later on the boot clock
    assert 150 < tb["gnss_latency_ms_median"] < 260 and tb["gnss_latency_ms_mad"] < 20
    # the UTC start lies in August 2018 (the drive's date)
    assert str(np.datetime64(tb["boot_to_utc_offset_ns"] + int(46408.5e9), "ns")).startswith("2018-08-02")


def test_clock_offsets_on_real_data(comma):
    lake = comma["lake"]
    clock = lake.read_json(tables.CLOCK_OFFSETS.sidecar("clock.json", drive_id=DRIVE_ID))
    assert clock["reference"] == "gnss"
    est = clock["estimated"]
    assert est["can0"]["score"] > 0.9 and est["imu"]["score"] > 0.5
    # CAN stamped on arrival vs GNSS velocity stamped at measurement: CAN's bus latency is small
    assert abs(clock["offsets_ns"]["can0"]) < 100e6
    assert clock["backwards_jumps"] == []


def test_views_answer_through_av_query(comma):
    from av_resources.catalog import connect

    con = connect(comma["lake"])
    n = con.execute(
        "SELECT count(*) FROM signals WHERE signal LIKE 'WHEEL_SPEEDS.WHEEL_SPEED_%' AND drive_id = ?",
        [DRIVE_ID],
    ).fetchone()[0]
    assert n == 4 * 4974
    clips = con.execute(
        "SELECT clip_id, t_start_ns, policy_version FROM clips ORDER BY t_start_ns"
    ).fetchall()
    assert len(clips) == 3 and all(c[0] == f"{DRIVE_ID}:{c[1]}" for c in clips)
    con.close()
