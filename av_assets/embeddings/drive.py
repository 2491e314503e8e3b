"""One drive's embeddings: read its redacted keyframes and context tables from the lake, encode the
keyframes, and build the clip and keyframe vectors (`features.py`) and their per-drive tables.

What `ml/clip_embeddings` and `ml/keyframe_embeddings` run; the assets only upsert into the vector
store and write the tables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from av_contracts import tables


def decode_keyframes(lake, drive_id: str, size: tuple[int, int]) -> tuple[list, list]:
    """(keyframe rows, RGB images) of the drive's redacted keyframes; unreadable frames are skipped."""
    from av_assets.embeddings.visual import decode_rgb

    rel = tables.REDACTED_FRAMES.rel(drive_id=drive_id)
    if not lake.exists(rel):
        return [], []
    rows, images = [], []
    for r in lake.read_parquet(rel).sort("sensor_id", "t_ns").iter_rows(named=True):
        try:
            images.append(decode_rgb(lake.read_bytes(r["path"]), size))
        except Exception:  # noqa: BLE001 - an unreadable frame only loses its row
            continue
        rows.append({"drive_id": drive_id, "sensor_id": r["sensor_id"], "t_ns": int(r["t_ns"])})
    return rows, images


def context_inputs(lake, drive_id: str) -> dict[str, Any]:
    """The drive's clips (dicts), signals grid and, where they exist, tracks, events, road context and
    catalog rows by clip_id: the keyword inputs of `clip_vectors` / `keyframe_vectors`."""

    def opt(rel):
        return lake.read_parquet(rel) if lake.exists(rel) else None

    cat = opt(tables.CLIP_INDEX.rel(drive_id=drive_id))
    return {
        "clips": lake.read_parquet(tables.CLIPS.rel(drive_id=drive_id)).to_dicts(),
        "grid": lake.read_parquet(tables.SIGNALS_GRID.rel(drive_id=drive_id)),
        "tracks": opt(tables.OBJECT_TRACKS.rel(drive_id=drive_id)),
        "events": opt(tables.EVENT_DETECTIONS.rel(drive_id=drive_id)),
        "road": opt(tables.ROAD_CONTEXT.rel(drive_id=drive_id)),
        "catalog": {r["clip_id"]: r for r in cat.to_dicts()} if cat is not None else {},
    }


@dataclass
class DriveVectors:
    """Vector rows of one drive, how many keyframes were decoded, and timings (seconds)."""

    rows: list[dict[str, Any]]
    keyframes: int
    timings_s: dict[str, float] = field(default_factory=dict)


def drive_clip_vectors(lake, drive_id: str, encoder) -> DriveVectors:
    """One vector per clip (`clip_vectors`), the visual block from `encoder` over the redacted
    keyframes; `timings_s["features_s"]` covers decoding, encoding, reading and the vectors."""
    from av_assets.embeddings.features import clip_vectors

    t0 = time.perf_counter()
    keyframes, images = decode_keyframes(lake, drive_id, encoder.input_size)
    visual = encoder.encode(images)
    inputs = context_inputs(lake, drive_id)
    rows = clip_vectors(
        inputs.pop("clips"),
        inputs.pop("grid"),
        **inputs,
        keyframe_hist=[(kf["t_ns"], v) for kf, v in zip(keyframes, visual, strict=True)],
        visual_dim=encoder.dim,
    )
    return DriveVectors(rows, len(keyframes), {"features_s": time.perf_counter() - t0})


def drive_keyframe_vectors(lake, drive_id: str, encoder) -> DriveVectors:
    """One vector per redacted keyframe (`keyframe_vectors`); timings `decode_s`, `encode_s` and
    `context_s` (reading the context tables and building the vectors)."""
    from av_assets.embeddings.features import keyframe_vectors

    t0 = time.perf_counter()
    keyframes, images = decode_keyframes(lake, drive_id, encoder.input_size)
    t1 = time.perf_counter()
    visual = encoder.encode(images)
    t2 = time.perf_counter()
    inputs = context_inputs(lake, drive_id)
    rows = keyframe_vectors(keyframes, visual, encoder, inputs.pop("clips"), inputs.pop("grid"), **inputs)
    t3 = time.perf_counter()
    return DriveVectors(
        rows, len(keyframes), {"decode_s": t1 - t0, "encode_s": t2 - t1, "context_s": t3 - t2}
    )


def clip_embeddings_frame(rows: list[dict[str, Any]]):
    """The per-drive `ml/clip_embeddings` table (polars.DataFrame; empty without clips)."""
    import polars as pl

    from av_assets.embeddings.features import DIM

    return (
        pl.DataFrame(rows, schema_overrides={"vector": pl.Array(pl.Float32, DIM)}) if rows else pl.DataFrame()
    )


def keyframe_embeddings_frame(rows: list[dict[str, Any]], dim: int):
    """The per-drive `ml/keyframe_embeddings` table; a drive without camera keyframes still gets a
    readable (zero-row, typed) table for its view."""
    import polars as pl

    schema = {
        **dict.fromkeys(("keyframe_id", "drive_id", "clip_id", "sensor_id"), pl.String),
        "t_ns": pl.Int64,
        **dict.fromkeys(("event_types", "day_night", "weather", "model", "model_version"), pl.String),
        "vector": pl.Array(pl.Float32, dim),
    }
    if rows:
        return pl.DataFrame(rows, schema_overrides={"vector": schema["vector"]})
    return pl.DataFrame(schema=schema)
