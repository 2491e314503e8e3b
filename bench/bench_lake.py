"""Lake writes: the atomic Parquet path against a plain pyarrow write of the same table."""

from __future__ import annotations

import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from av_resources.lake import LakeStorage

ROWS = 2_000_000


def _table() -> pa.Table:
    rng = np.random.default_rng(0)
    return pa.table(
        {
            "t_ns": np.arange(ROWS, dtype=np.int64) * 10_000_000,
            "value": rng.normal(size=ROWS),
            "signal": pa.array(
                np.array(["WHEEL_SPEEDS.WHEEL_SPEED_FL", "STEER_ANGLE_SENSOR.STEER_ANGLE"])[
                    rng.integers(0, 2, ROWS)
                ]
            ),
        }
    )


TABLE = None


def _rows_per_s(write) -> float:
    global TABLE
    TABLE = TABLE if TABLE is not None else _table()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        write(d, TABLE)
        return ROWS / (time.perf_counter() - t0)


def _lake_write(d: str, table: pa.Table) -> None:
    LakeStorage(root=d).write_parquet("silver/signals/drive_id=x/part-0.parquet", table)


def _plain_write(d: str, table: pa.Table) -> None:
    pq.write_table(table, f"{d}/plain.parquet", compression="zstd")


CASES = [
    {
        "name": "lake_write_parquet",
        "unit": "rows/s",
        "run": lambda: _rows_per_s(_lake_write),
        "reference": lambda: _rows_per_s(_plain_write),
    }
]


if __name__ == "__main__":
    from bench.run import main, module_cli

    module_cli(__doc__)
    raise SystemExit(main(["bench_lake"]))
