"""Sync throughput in MB/s of bag: decode + sync + write vs bare iteration of the same bag.

- ours: `read_drive` (one pass; fixed-layout messages - CAN, IMU, GNSS - decoded per channel with numpy
  from their CDR layout, images and point clouds read for their header only) +
  `sync_streams` (CAN decoded through the Toyota DBC, vectorised per id; clock offsets; the long
  signals table built from int32 codes, sorted by a numpy lexsort) + the Parquet write of silver/signals.
- reference: `mcap.reader.make_reader(f).iter_messages()` over the same MCAP file(s), touching every
  message record and decoding nothing: the floor any converter pays to see the bytes. Goal >= 0.5x.
- MB/s = bag bytes on disk / wall seconds, for both sides.

Data (prepared once per process, untimed):
- the real comma2k19 Example_1 minute packed as a ROS 2 MCAP drive (tests/sync/comma.py; 61,214
  messages, CAN-heavy, small messages);
- a synthetic 30 s fleet drive (seed 5; camera JPEGs and lidar sweeps: few, large messages).
Case 3: CAN decoding alone, ours (numpy per id) vs cantools `Message.decode` per frame (frames/s).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from pathlib import Path

from av_contracts import tables

_STATE: dict = {}


def _drive():
    if "comma" not in _STATE:
        from av_assets.ingest.cli import ingest_path
        from av_resources.lake import LakeStorage
        from tests.helpers import REPO_ROOT
        from tests.sync.comma import DRIVE_ID, pack

        base = REPO_ROOT.parent / "shared" / "data" / "comma2k19" / "Example_1"
        root = _tmp()
        pack(base, root / "landing")
        lake = LakeStorage(root=str(root / "lake"))
        ingest_path(root / "landing", lake=lake, validate=False)
        _STATE["comma"] = {"lake": lake, "drive_id": DRIVE_ID}
    return _STATE["comma"]


def _fleet_drive():
    if "fleet" not in _STATE:
        import subprocess
        import sys

        from av_assets.ingest.cli import ingest_path
        from av_resources.lake import LakeStorage
        from tests.helpers import REPO_ROOT

        root = _tmp()
        cmd = [sys.executable, "-m", "av_cli", "fleet", "simulate", "--out", str(root / "landing")]
        cmd += ["--drives", "1", "--duration", "30", "--seed", "5"]
        subprocess.run(cmd, check=True, cwd=REPO_ROOT, capture_output=True)
        lake = LakeStorage(root=str(root / "lake"))
        (res,) = ingest_path(root / "landing", lake=lake, validate=False)
        _STATE["fleet"] = {"lake": lake, "drive_id": res.drive_id}
    return _STATE["fleet"]


def _tmp() -> Path:
    root = Path(tempfile.mkdtemp(prefix="av-bench-sync-"))
    atexit.register(shutil.rmtree, root, True)
    return root


def _bags(s) -> list[Path]:
    return sorted(Path(s["lake"].path(f"bronze/drives/{s['drive_id']}/bag")).glob("*.mcap"))


def _mb(s) -> float:
    return sum(p.stat().st_size for p in _bags(s)) / 1e6


def _ours(s) -> float:
    from av_assets.sync.dbc import load_dbc_string, resolve_dbc_text
    from av_assets.sync.read import read_drive
    from av_assets.sync.signals import sync_streams

    manifest = s["lake"].read_json(tables.BRONZE_MANIFEST.rel(drive_id=s["drive_id"]))
    t = time.perf_counter()
    streams = read_drive(s["lake"], s["drive_id"], manifest=manifest)
    db = load_dbc_string(resolve_dbc_text("toyota_nodsu_pt_generated")[1])
    res = sync_streams(streams, dbc=db)
    s["lake"].write_parquet("bench/signals.parquet", res.frame)
    return _mb(s) / (time.perf_counter() - t)


def _mcap_iteration(s) -> float:
    from mcap.reader import make_reader

    bags = _bags(s)
    t = time.perf_counter()
    n = 0
    for bag in bags:
        with open(bag, "rb") as f:
            for _schema, _channel, _message in make_reader(f).iter_messages():
                n += 1
    assert n > 0
    return _mb(s) / (time.perf_counter() - t)


def _can_frames():
    if "can" not in _STATE:
        import numpy as np

        from av_assets.sync.dbc import load_dbc_string, pad_payloads, resolve_dbc_text
        from tests.helpers import REPO_ROOT

        base = (
            REPO_ROOT.parent
            / "shared"
            / "data"
            / "comma2k19"
            / "Example_1"
            / "processed_log"
            / "CAN"
            / "raw_can"
        )
        src = np.load(base / "src")
        sel = src == 0
        _STATE["can"] = (
            load_dbc_string(resolve_dbc_text("toyota_nodsu_pt_generated")[1]),
            np.load(base / "address")[sel],
            pad_payloads(np.load(base / "data")[sel]),
        )
    return _STATE["can"]


def _can_ours() -> float:
    from av_assets.sync.dbc import decode_can

    db, ids, data = _can_frames()
    t = time.perf_counter()
    decode_can(db, ids, data)
    return ids.size / (time.perf_counter() - t)


def _can_cantools() -> float:
    db, ids, data = _can_frames()
    msgs = {m.frame_id: m for m in db.messages}
    t = time.perf_counter()
    for fid, row in zip(ids.tolist(), data, strict=True):
        m = msgs.get(fid)
        if m is not None:
            try:
                m.decode(bytes(row[: m.length]), decode_choices=False)
            except Exception:  # noqa: BLE001
                pass
    return ids.size / (time.perf_counter() - t)


CASES = [
    {
        "name": "sync comma2k19 minute to silver/signals vs mcap iter_messages",
        "unit": "MB/s",
        "run": lambda: _ours(_drive()),
        "reference": lambda: _mcap_iteration(_drive()),
    },
    {
        "name": "sync synthetic 30 s drive to silver/signals vs mcap iter_messages",
        "unit": "MB/s",
        "run": lambda: _ours(_fleet_drive()),
        "reference": lambda: _mcap_iteration(_fleet_drive()),
    },
    {
        "name": "CAN decode (numpy per id vs cantools per frame)",
        "unit": "frames/s",
        "run": _can_ours,
        "reference": _can_cantools,
    },
]


if __name__ == "__main__":
    from bench.run import main, module_cli

    module_cli(__doc__)
    raise SystemExit(main(["bench_sync"]))
