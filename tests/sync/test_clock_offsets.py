"""Clock offsets against the synthetic fleet's ground truth (`sensor_clocks`, fleet part 2): a floor on
the estimation error over three drives, and the fusion rule on its own."""

import json
import subprocess
import sys

import numpy as np
import pytest

from av_assets.sync.clock import Lag, despike, fuse_offset, logger_offset
from av_assets.sync.signals import gt_clock_errors as _gt_clock_errors
from av_contracts import tables
from tests.helpers import REPO_ROOT

ERROR_FLOOR_MS = 5.0


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    from av_assets.ingest.cli import ingest_path
    from av_assets.sync.dbc import load_dbc_string, resolve_dbc_text
    from av_assets.sync.read import read_drive
    from av_assets.sync.signals import sync_streams
    from av_resources.lake import LakeStorage

    root = tmp_path_factory.mktemp("clocks")
    fleet = root / "fleet"
    cmd = [sys.executable, "-m", "av_cli", "fleet", "simulate", "--out", str(fleet)]
    cmd += ["--drives", "3", "--duration", "45", "--seed", "11", "--camera", "160x90", "--workers", "2"]
    subprocess.run(cmd, check=True, cwd=REPO_ROOT, capture_output=True, timeout=300)
    lake = LakeStorage(root=str(root / "lake"))
    ingest_path(fleet, lake=lake)
    out = []
    for gt_file in sorted((fleet / "_ground_truth").glob("*.json")):
        gt = json.loads(gt_file.read_text())
        d = gt["drive_id"]
        manifest = lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id=d))
        _, text = resolve_dbc_text(
            manifest["drive_json"]["can_dbc"], lambda rel, d=d: lake.read_bytes(f"bronze/drives/{d}/{rel}")
        )
        result = sync_streams(read_drive(lake, d, manifest=manifest), dbc=load_dbc_string(text))
        out.append((gt, result))
    return out


def test_offsets_within_floor_of_ground_truth(synced):
    assert len(synced) == 3
    for gt, result in synced:
        clock = result.clock.as_dict()
        errors = _gt_clock_errors(gt, clock)
        assert set(errors) == {"can0", "imu"}, errors
        assert all(abs(e) <= ERROR_FLOOR_MS for e in errors.values()), (gt["drive_id"], errors, clock)
        truth = gt["sensor_clocks"]
        # the corrected clock is the reference's: t_ns = t_raw - (offset - reference offset) per sensor
        assert clock["reference"] == "gnss" and clock["flagged"] is False
        for s in ("can0", "imu"):
            true_rel = truth[s]["offset_ns"] - truth["gnss"]["offset_ns"]
            assert abs(clock["offsets_ns"][s] - true_rel) <= ERROR_FLOOR_MS * 1e6
            assert clock["estimated"][s]["axis" if s == "imu" else "method"]
        assert clock["estimated"]["imu"]["axis"] == "+x"


def test_signals_t_ns_corrected_and_monotonic(synced):
    import polars as pl

    gt, result = synced[0]
    offs = result.clock.offsets_ns
    sig = result.frame
    for source in ("can0", "imu", "gnss"):
        part = sig.filter(pl.col("source") == source)
        assert (part["t_raw_ns"] - part["t_ns"]).unique().to_list() == [offs[source]]
    assert int(result.monotonic["backward_steps"].sum()) == 0
    assert result.monotonic.height == sig.select("source", "signal").n_unique()


def test_gt_errors_read_the_fleet_format():
    gt = {
        "sensor_clocks": {
            "gnss": {"offset_ns": 960_000, "jitter_ns_std": 910_000},
            "can0": {"offset_ns": -4_166_000, "jitter_ns_std": 438_000},
        }
    }
    clock = {"reference": "gnss", "estimated": {"can0": {}}, "offsets_ns": {"can0": -5_126_000}}
    assert _gt_clock_errors(gt, clock) == {"can0": 0.0}
    assert _gt_clock_errors({}, clock) is None


def test_fusion_refuses_a_logger_estimate_the_signals_contradict():
    xc = Lag(lag_s=0.0445, score=0.99, overlap_s=50.0, sigma_s=0.002)
    # comma2k19: GNSS arrives ~204 ms after its fix time, so the logger says +204 ms: refused
    assert fuse_offset(xc, 0.2085) == (0.0445, "xcorr")
    assert fuse_offset(xc, 0.046)[1] == "logger clock, confirmed by xcorr"
    noisy = Lag(lag_s=0.027, score=0.97, overlap_s=37.0, sigma_s=0.05)
    assert fuse_offset(noisy, -0.005) == (-0.005, "logger clock, confirmed by xcorr")
    assert fuse_offset(Lag(0.01, 0.3, 40.0, 0.001), 0.01)[1] == "xcorr"  # no usable peak: no fusion


def test_logger_offset_and_despike():
    t_log = np.arange(100) * 10_000_000
    lo = logger_offset(t_log + 3_000_000 + (np.arange(100) % 3) * 1000, t_log)
    assert lo.median_ns == 3_001_000 and lo.mad_ns == 1000 and lo.n == 100
    assert logger_offset(t_log, t_log) is None  # stamps filled from the log time carry no information
    v = np.linspace(0, 10, 200)
    bad = v.copy()
    bad[100:107] = 40.0  # a 7-sample burst
    fixed = despike(bad)
    assert np.abs(fixed - v).max() < 0.5 and np.array_equal(fixed[:90], v[:90])  # burst gone
    assert np.array_equal(despike(v), v)  # a clean ramp is untouched


def test_clock_offset_rows_one_per_sensor():
    from av_assets.sync.signals import CLOCK_OFFSETS_SCHEMA, clock_offset_rows

    clock = {
        "reference": "imu",
        "offsets_ns": {"imu": 0, "cam": 2_000_000},
        "estimated": {"cam": {"score": 0.9}},
        "flagged": False,
    }
    rows = clock_offset_rows("d1", clock)
    assert rows.columns == list(CLOCK_OFFSETS_SCHEMA)
    assert rows.to_dicts()[1] == {
        "drive_id": "d1",
        "sensor": "cam",
        "offset_ns": 2_000_000,
        "estimated": True,
        "score": 0.9,
        "reference": "imu",
        "flagged": False,
    }
    assert not rows["estimated"][0] and rows["score"].is_nan()[0]
