"""`sync/frames.py`: the per-clip loop of silver/frames as plain functions (clip membership, shards)."""

import io

import numpy as np
import pytest

from av_assets.sync.frames import FRAME_INDEX_SCHEMA, clip_members, write_frame_shards


class DictLake:
    def __init__(self, files=None):
        self.files = dict(files or {})

    def read_bytes(self, rel):
        return self.files[rel]

    def write_bytes(self, rel, data):
        self.files[rel] = data
        return rel


def _png(value: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((4, 6, 3), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


CLIPS = [
    {"clip_id": "d:0", "t_start_ns": 0, "t_end_ns": 100, "frames_shard": "f/0.zarr", "policy_version": "v"},
    {
        "clip_id": "d:100",
        "t_start_ns": 100,
        "t_end_ns": 200,
        "frames_shard": "f/100.zarr",
        "policy_version": "v",
    },
]
OFFSETS = {"cam": 10, "lidar": 0}
# corrected camera stamps: 40, 100 (second clip), 250 (no clip)
KEYFRAMES = [
    {"sensor_id": "cam", "t_ns": 50, "path": "img/a.png"},
    {"sensor_id": "cam", "t_ns": 110, "path": "img/b.png"},
    {"sensor_id": "cam", "t_ns": 260, "path": "img/c.png"},
]
PTS = np.arange(8, dtype=np.float32).reshape(2, 4)
CLOUDS = [
    ("lidar", "lidar", 5, 5, ["x", "y", "z", "i"], PTS),
    ("lidar", "lidar", 99, 99, ["x", "y", "z", "i"], PTS[:1]),
]


def test_clip_members_bins_by_corrected_time():
    read = {"img/a.png": "A", "img/b.png": "B", "img/c.png": "C"}.__getitem__
    cams, cl, rows = clip_members("d", CLIPS[0], KEYFRAMES, CLOUDS, OFFSETS, read)
    assert cams == {"cam": {"t_ns": [40], "t_raw_ns": [50], "images": ["A"]}}
    assert cl["lidar"]["t_ns"] == [5, 99] and cl["lidar"]["kind"] == "lidar"
    assert [(r["kind"], r["t_ns"], r["t_raw_ns"], r["index"], r["n_points"]) for r in rows] == [
        ("camera", 40, 50, 0, 0),
        ("lidar", 5, 5, 0, 2),
        ("lidar", 99, 99, 1, 1),
    ]
    assert {r["shard"] for r in rows} == {"f/0.zarr"} and set(rows[0]) == set(FRAME_INDEX_SCHEMA)
    cams, cl, rows = clip_members("d", CLIPS[1], KEYFRAMES, CLOUDS, OFFSETS, read)
    assert cams["cam"]["t_ns"] == [100] and not cl and len(rows) == 1


def test_write_frame_shards_writes_one_store_per_clip():
    pytest.importorskip("zarr")
    lake = DictLake({"img/a.png": _png(1), "img/b.png": _png(2), "img/c.png": _png(3)})
    out = write_frame_shards(lake, "d", CLIPS, KEYFRAMES, CLOUDS, OFFSETS)
    assert (out.keyframes, out.sweeps) == (2, 2)
    assert out.index.height == 4 and out.index.columns == list(FRAME_INDEX_SCHEMA)
    assert out.index["clip_id"].to_list() == ["d:0", "d:0", "d:0", "d:100"]
    written = {h.rsplit(":", 1)[0] for h in out.hashes}
    assert written == {k for k in lake.files if k.startswith("f/")}
    assert any(k.startswith("f/0.zarr/camera/cam/") for k in written)
    assert any(k.startswith("f/100.zarr/camera/cam/") for k in written)
    empty = write_frame_shards(DictLake(), "d", [], [], [], {})
    assert empty.index.height == 0 and empty.index.columns == list(FRAME_INDEX_SCHEMA) and not empty.hashes
