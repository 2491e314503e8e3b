"""Ingest throughput (copy + sha256 + manifest from container records) against `cp` + `sha256sum` of
the same files in the same run; validation throughput (messages/s) against plain record iteration."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from av_assets.ingest.containers import iter_messages
from av_assets.ingest.core import LocalSource, ingest_drive
from av_assets.ingest.validate import validate_messages
from av_resources.lake import LakeStorage

_FLEET: Path | None = None
N_MSGS = 3000  # per topic, 5 sensor topics (Imu, NavSatFix, PointCloud2, CameraInfo, JPEG)


def _fleet() -> Path:
    """4 drives of synthetic sensor MCAPs plus the real ROS 1 example bags (about 100 MB in all)."""
    global _FLEET
    if _FLEET is None:
        import shutil

        from tests.ingest.synth import sensor_drive

        root = Path(tempfile.mkdtemp(prefix="av-bench-ingest-"))
        for i in range(4):
            d = sensor_drive(root, f"bench-{i}", n=N_MSGS, checksums=False)
            blob = d / "video.mp4"  # the logger's big opaque files: copy + hash only
            blob.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * (80_000 + i))
        _FLEET = root
        _ = shutil
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
            subprocess.run(["sync"], check=True)  # our copy fsyncs every file; make the reference durable too
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
