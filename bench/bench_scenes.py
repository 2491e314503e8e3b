"""Scenes: rows/s of the whole detector pass (ego state from signals, harsh brake, disengagement,
speeding, lane change, cut-in and stationary hazard over tracks) over generated signals + tracks of
10M+ rows, vs the harsh-brake rule alone written as DuckDB window SQL over the same Parquet."""

from __future__ import annotations

import tempfile
import time
from functools import cache
from pathlib import Path

import numpy as np

N_SIGNAL_ROWS = 10_000_000
N_TRACK_ROWS = 1_000_000


@cache
def _data() -> dict:
    import polars as pl

    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp(prefix="bench-scenes-"))
    # 4 CAN signals at 50 Hz + 1 at 25 Hz-ish filler rows: 10M rows ~ 11 hours of driving
    n_t = N_SIGNAL_ROWS // 5
    t = np.arange(n_t, dtype=np.int64) * 20_000_000
    speed = np.clip(15 + np.cumsum(rng.normal(0, 0.05, n_t)), 0, 40) * 3.6
    speed[n_t // 3 : n_t // 3 + 40] -= np.linspace(0, 30, 40)  # one harsh brake
    cols = {
        "SPEED.SPEED": (speed, "km/h"),
        "angular_velocity.z": (rng.normal(0, 0.02, n_t), "rad/s"),
        "PCM_CRUISE.CRUISE_ACTIVE": ((rng.random(n_t) > 0.001).astype(float), ""),
        "BLINKERS_STATE.TURN_SIGNALS": (np.full(n_t, 3.0), ""),
        "KINEMATICS.ACCEL_X": (rng.normal(0, 0.5, n_t), "m/s^2"),
    }
    frames = [
        pl.DataFrame(
            {
                "drive_id": "bench",
                "t_ns": t,
                "t_raw_ns": t,
                "signal": k,
                "value": v,
                "unit": u,
                "source": "can0",
            }
        )
        for k, (v, u) in cols.items()
    ]
    sig = pl.concat(frames).sort("t_ns")
    sig_path = tmp / "signals.parquet"
    sig.write_parquet(sig_path)
    n_tr = N_TRACK_ROWS
    tracks = pl.DataFrame(
        {
            "drive_id": "bench",
            "track_id": (np.arange(n_tr) // 200).astype(str),
            "t_ns": (np.arange(n_tr) % 200) * 50_000_000 + (np.arange(n_tr) // 200) * 10_000_000_000 // 10,
            "x": rng.uniform(-20, 80, n_tr),
            "y": rng.uniform(-6, 6, n_tr),
            "ground_speed_mps": rng.uniform(0, 20, n_tr),
            "lateral_offset_m": rng.uniform(-6, 6, n_tr),
        }
    )
    tr_path = tmp / "tracks.parquet"
    tracks.write_parquet(tr_path)
    return {
        "sig": str(sig_path),
        "tracks": str(tr_path),
        "rows": sig.height + tracks.height,
        "sig_rows": sig.height,
    }


def detector_pass() -> float:
    import polars as pl

    from av_assets.scenes.events import detect_drive
    from av_assets.scenes.policy import DEFAULT_POLICY

    d = _data()
    t0 = time.perf_counter()
    sig = pl.scan_parquet(d["sig"])  # lazy: the pass reads only the signals and columns it uses
    tracks = pl.read_parquet(d["tracks"])
    road = pl.DataFrame({"t_ns": [0], "speed_limit_kph": [50.0]})
    detect_drive("bench", sig, tracks, None, road, DEFAULT_POLICY)
    return d["rows"] / (time.perf_counter() - t0)


def duckdb_harsh_brake() -> float:
    import duckdb

    d = _data()
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(
        f"""
        with s as (
          select t_ns, value / 3.6 as v from read_parquet('{d["sig"]}') where signal = 'SPEED.SPEED'
        ), a as (
          select t_ns, (lead(v) over w - lag(v) over w) / ((lead(t_ns) over w - lag(t_ns) over w) / 1e9) as acc
          from s window w as (order by t_ns)
        ), sm as (
          select t_ns, avg(acc) over (order by t_ns rows between 5 preceding and 4 following) as acc from a
        ), f as (
          select t_ns, acc < -4.0 as hb, case when (acc < -4.0) <> coalesce(lag(acc < -4.0) over (order by t_ns), false)
            then 1 else 0 end as edge from sm
        ), g as (select t_ns, hb, sum(edge) over (order by t_ns) as run from f)
        select run, min(t_ns), max(t_ns) from g where hb group by run having max(t_ns) - min(t_ns) >= 1e8
        """
    ).fetchall()
    con.close()
    # rows/s over the same input rows, so the ratio compares like with like
    return d["rows"] / (time.perf_counter() - t0)


CASES = [
    {
        "name": "scenes_detector_pass_rows_per_s",
        "unit": "rows/s",
        "run": detector_pass,
        "reference": duckdb_harsh_brake,
    }
]

if __name__ == "__main__":
    from bench.run import module_cli

    module_cli(__doc__)
    print(detector_pass(), duckdb_harsh_brake())
