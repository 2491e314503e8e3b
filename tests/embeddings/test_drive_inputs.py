"""`embeddings/drive.py`: one drive's keyframes and context tables read from the lake, and the
per-drive embedding tables (what ml/clip_embeddings and ml/keyframe_embeddings write)."""

import io

import numpy as np
import polars as pl

from av_assets.embeddings.drive import (
    clip_embeddings_frame,
    context_inputs,
    decode_keyframes,
    keyframe_embeddings_frame,
)
from av_assets.embeddings.features import DIM
from av_contracts import tables
from av_resources.lake import LakeStorage


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((36, 64, 3), 90, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_decode_keyframes_sorted_and_skipping_unreadable(tmp_path):
    lake = LakeStorage(root=str(tmp_path / "lake"))
    assert decode_keyframes(lake, "drv1", (64, 36)) == ([], [])
    lake.write_bytes("kf/b.png", _png())
    lake.write_bytes("kf/bad.png", b"not an image")
    idx = pl.DataFrame(
        {
            "sensor_id": ["cam2", "cam1", "cam1"],
            "t_ns": [5, 9, 3],
            "path": ["kf/b.png", "kf/bad.png", "kf/b.png"],
        }
    )
    lake.write_parquet(tables.REDACTED_FRAMES.rel(drive_id="drv1"), idx)
    rows, images = decode_keyframes(lake, "drv1", (64, 36))
    assert rows == [
        {"drive_id": "drv1", "sensor_id": "cam1", "t_ns": 3},
        {"drive_id": "drv1", "sensor_id": "cam2", "t_ns": 5},
    ]
    assert len(images) == 2 and images[0].shape[:2] == (36, 64)


def test_context_inputs_optional_tables(tmp_path):
    lake = LakeStorage(root=str(tmp_path / "lake"))
    lake.write_parquet(
        tables.CLIPS.rel(drive_id="drv1"), pl.DataFrame({"clip_id": ["drv1:0"], "t_start_ns": [0]})
    )
    lake.write_parquet(tables.SIGNALS_GRID.rel(drive_id="drv1"), pl.DataFrame({"t_ns": [0]}))
    lake.write_parquet(
        tables.CLIP_INDEX.rel(drive_id="drv1"), pl.DataFrame({"clip_id": ["drv1:0"], "weather": ["rain"]})
    )
    inputs = context_inputs(lake, "drv1")
    assert inputs["clips"] == [{"clip_id": "drv1:0", "t_start_ns": 0}] and inputs["grid"].height == 1
    assert inputs["tracks"] is None and inputs["events"] is None and inputs["road"] is None
    assert inputs["catalog"] == {"drv1:0": {"clip_id": "drv1:0", "weather": "rain"}}


def test_embedding_frames():
    assert clip_embeddings_frame([]).height == 0
    rows = [{"clip_id": "drv1:0", "vector": np.ones(DIM, np.float32).tolist()}]
    assert clip_embeddings_frame(rows).schema["vector"] == pl.Array(pl.Float32, DIM)
    empty = keyframe_embeddings_frame([], 96)
    assert empty.height == 0 and empty.schema["vector"] == pl.Array(pl.Float32, 96)
    assert empty.columns[:5] == ["keyframe_id", "drive_id", "clip_id", "sensor_id", "t_ns"]
