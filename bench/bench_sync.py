"""Sync throughput (messages/s) against plain deserialisation of the same messages.

Data: the real comma2k19 Example_1 minute packed as a ROS 2 MCAP drive (tests/sync/comma.py: 53,800
CAN frames of bus 0, 6,256 IMU, 579 GNSS fixes + 579 velocities; 61,214 messages) and ingested into a
temp lake once (untimed).

- ours: `read_drive` (every message deserialised with rosbags into columns) + `sync_streams` (CAN
  decoded through the Toyota DBC, vectorised per id; clock offsets estimated; the long signals table
  built and sorted with polars) + the Parquet write of silver/signals.
- reference: iterate the same MCAP and `deserialise` every message with the same typestores, building
  no table and decoding no CAN: the floor any converter pays.
- case 2: CAN decoding alone, ours (numpy per id) vs cantools `Message.decode` per frame.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from pathlib import Path

_STATE: dict = {}


def _drive():
    if not _STATE:
        from av_assets.ingest.cli import ingest_path
        from av_resources.lake import LakeStorage
        from tests.helpers import REPO_ROOT
        from tests.sync.comma import DRIVE_ID, pack

        base = REPO_ROOT.parent / "shared" / "data" / "comma2k19" / "Example_1"
        root = Path(tempfile.mkdtemp(prefix="av-bench-sync-"))
        atexit.register(shutil.rmtree, root, True)
        pack(base, root / "landing")
        lake = LakeStorage(root=str(root / "lake"))
        ingest_path(root / "landing", lake=lake, validate=False)
        _STATE.update(lake=lake, drive_id=DRIVE_ID)
    return _STATE


def _ours() -> float:
    from av_assets.sync.dbc import load_dbc_string, resolve_dbc_text
    from av_assets.sync.read import read_drive
    from av_assets.sync.signals import sync_streams

    s = _drive()
    t = time.perf_counter()
    streams = read_drive(s["lake"], s["drive_id"])
    db = load_dbc_string(resolve_dbc_text("toyota_nodsu_pt_generated")[1])
    res = sync_streams(streams, dbc=db)
    s["lake"].write_parquet("bench/signals.parquet", res.frame)
    return streams.messages / (time.perf_counter() - t)


def _reference() -> float:
    from av_assets.ingest.containers import Typestores, iter_messages

    s = _drive()
    path = s["lake"].path(f"bronze/drives/{s['drive_id']}/bag/bag.mcap")
    t = time.perf_counter()
    stores, n = Typestores(), 0
    for raw in iter_messages(path, "mcap"):
        if stores.ensure(raw):
            stores.deserialise(raw)
        n += 1
    return n / (time.perf_counter() - t)


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
        "name": "sync comma2k19 minute to silver/signals",
        "unit": "messages/s",
        "run": _ours,
        "reference": _reference,
    },
    {
        "name": "CAN decode (numpy per id vs cantools per frame)",
        "unit": "frames/s",
        "run": _can_ours,
        "reference": _can_cantools,
    },
]
