"""Ingest throughput against `cp` + `sha256sum` + `sync FILE...` of the same files in the same run;
validation throughput (messages/s) against plain record iteration.

Data: 4 synthetic drives (`tests.ingest.synth.sensor_drive`), each a chunked zstd MCAP of 5 sensor
topics x `N_MSGS` messages (Imu, NavSatFix, PointCloud2, CameraInfo, CompressedImage JPEG; about
0.4 MB), a 20.5 MB opaque `video.mp4`, `logs.txt` and `drive.json`: about 83.5 MB, 16 files.

What each side does, per drive, timed from the first drive to the last (temp-dir cleanup untimed):
- ours (`ingest_drive(..., validate=False)`, 4 worker threads): read each file once in 8 MiB
  chunks, sha256 it and write it to a temp file in bronze, `fsync(2)` that file, `rename(2)` it into
  place; scan each bag's container records (MCAP: every record, chunks decompressed, CRCs checked)
  for per-topic counts, spans and timing flags; then build the manifest, write 3 Parquet tables, the
  signature and the manifest, each the same way (temp + fsync + rename). No directory fsync.
- reference (one process after another): `cp -r` the drive folder, `sha256sum` every copied file,
  `sync FILE...` on every copied file (coreutils: one `fsync(2)` per file, as ours; no
  system-wide `sync`, which would also flush unrelated dirty pages). No directory fsync either.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from av_assets.ingest.core import LocalSource, ingest_drive
from av_assets.ingest.validate import validate_messages
from av_assets.shared.bag_containers import iter_messages
from av_resources.lake import LakeStorage

_FLEET: Path | None = None
N_MSGS = 3000  # per topic, 5 sensor topics (Imu, NavSatFix, PointCloud2, CameraInfo, JPEG)


def _fleet() -> Path:
    """4 synthetic drives: a sensor MCAP and a big opaque mp4 each (about 83.5 MB in all)."""
    global _FLEET
    if _FLEET is None:
        from tests.ingest.synth import sensor_drive

        root = Path(tempfile.mkdtemp(prefix="av-bench-ingest-"))
        atexit.register(shutil.rmtree, root, True)
        for i in range(4):
            d = sensor_drive(root, f"bench-{i}", n=N_MSGS, checksums=False)
            blob = d / "video.mp4"  # the logger's big opaque files: copy + hash only
            blob.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * (80_000 + i))
        _FLEET = root
    return _FLEET


def _drives() -> list[Path]:
    return sorted(p for p in (_fleet() / "veh-001").iterdir())


def _bytes() -> int:
    return sum(f.stat().st_size for d in _drives() for f in d.rglob("*") if f.is_file())


def ingest_mb_s() -> float:
    with tempfile.TemporaryDirectory() as out:
        lake = LakeStorage(root=out)
        t0 = time.perf_counter()
        for d in _drives():
            res = ingest_drive(LocalSource(d), lake, validate=False)
            assert res.status == "ingested", res.detail
        return _bytes() / 1e6 / (time.perf_counter() - t0)


def cp_sha256sum_mb_s() -> float:
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        for d in _drives():
            dst = Path(out) / d.name
            subprocess.run(["cp", "-r", str(d), str(dst)], check=True)
            files = [str(f) for f in dst.rglob("*") if f.is_file()]
            subprocess.run(["sha256sum", *files], check=True, capture_output=True)
            # our copy fsyncs every file it writes: make the reference's copies durable the same way
            subprocess.run(["sync", *files], check=True)
        return _bytes() / 1e6 / (time.perf_counter() - t0)


def _bags() -> list[Path]:
    return [next((d / "bag").glob("*.mcap")) for d in _drives()]


def validation_msgs_s() -> float:
    t0 = time.perf_counter()
    n = 0
    for bag in _bags():
        n += validate_messages(iter_messages(bag, "mcap")).messages
    return n / (time.perf_counter() - t0)


def iteration_msgs_s() -> float:
    t0 = time.perf_counter()
    n = sum(1 for bag in _bags() for _ in iter_messages(bag, "mcap"))
    return n / (time.perf_counter() - t0)


CASES = [
    {
        "name": "ingest_copy_sha256_manifest",
        "unit": "MB/s",
        "run": ingest_mb_s,
        "reference": cp_sha256sum_mb_s,
    },
    {
        "name": "ingest_validation",
        "unit": "messages/s",
        "run": validation_msgs_s,
        "reference": iteration_msgs_s,
    },
]


if __name__ == "__main__":
    from bench.run import main, module_cli

    module_cli(__doc__)
    raise SystemExit(main(["bench_ingest"]))
