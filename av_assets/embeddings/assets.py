"""Clip embeddings (issue 8, workflow 7): `ml/clip_embeddings`, one vector per clip, per drive."""

import time
from typing import Any

import dagster as dg

from av_assets.platform.gpu import gpu_step
from av_assets.platform.lineage import lineage_result, sha256_bytes
from av_assets.platform.partitions import DRIVES
from av_contracts import tables
from av_resources.lake import LakeStorage
from av_resources.vector_store import VectorStoreResource


def _decode_keyframes(lake: LakeStorage, drive_id: str, size: tuple[int, int]) -> tuple[list, list]:
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


# what a clip's or keyframe's vector is made of: its frames and the driving context around them
CONTEXT_INPUTS = [
    dg.AssetKey(["catalog", "clip_index"]),
    dg.AssetKey(["silver", "event_detections"]),
    dg.AssetKey(["silver", "object_tracks"]),
    dg.AssetKey(["silver", "signals_grid"]),
    dg.AssetKey(["silver", "road_context"]),
    dg.AssetKey(["silver", "redacted_frames"]),
]


@dg.asset(
    key=["ml", "clip_embeddings"],
    group_name="embeddings",
    partitions_def=DRIVES,
    deps=CONTEXT_INPUTS,
    kinds={"lancedb"},
    owners=["team:perception-data"],
    code_version="2",
    description=(
        "One L2-normalised vector per clip (signal profile, track profile, event/condition tags, mean "
        "VisualEncoder vector of its redacted keyframes; model name+version in every row), upserted by clip_id into LanceDB "
        "<lake>/ml/embeddings (ANN index from 256 rows) for `av search like`."
    ),
    **gpu_step(),
)
def clip_embeddings(
    context: dg.AssetExecutionContext, lake: LakeStorage, vector_store: VectorStoreResource
) -> dg.MaterializeResult:
    import polars as pl

    from av_assets.embeddings.features import DIM, MODEL_NAME, MODEL_VERSION, clip_vectors
    from av_assets.embeddings.visual import DEFAULT_ENCODER

    drive_id = context.partition_key
    encoder = DEFAULT_ENCODER
    t0 = time.perf_counter()

    def opt(rel):
        return lake.read_parquet(rel) if lake.exists(rel) else None

    keyframes, images = _decode_keyframes(lake, drive_id, encoder.input_size)
    visual = encoder.encode(images)
    clips = lake.read_parquet(tables.CLIPS.rel(drive_id=drive_id))
    grid = lake.read_parquet(tables.SIGNALS_GRID.rel(drive_id=drive_id))
    cat = opt(tables.CLIP_INDEX.rel(drive_id=drive_id))
    catalog = {r["clip_id"]: r for r in cat.to_dicts()} if cat is not None else {}
    rows = clip_vectors(
        clips.to_dicts(),
        grid,
        tracks=opt(tables.OBJECT_TRACKS.rel(drive_id=drive_id)),
        events=opt(tables.EVENT_DETECTIONS.rel(drive_id=drive_id)),
        road=opt(tables.ROAD_CONTEXT.rel(drive_id=drive_id)),
        catalog=catalog,
        keyframe_hist=[(kf["t_ns"], v) for kf, v in zip(keyframes, visual, strict=True)],
        visual_dim=encoder.dim,
    )
    t1 = time.perf_counter()
    store = vector_store.clips(lake)
    upserted = store.upsert(rows)
    index = store.ensure_index()
    t2 = time.perf_counter()

    frame = (
        pl.DataFrame(rows, schema_overrides={"vector": pl.Array(pl.Float32, DIM)}) if rows else pl.DataFrame()
    )
    rel = tables.CLIP_EMBEDDINGS.rel(drive_id=drive_id)
    uri = lake.write_parquet(rel, frame)
    md: dict[str, Any] = {
        "av/model": MODEL_NAME,
        "av/model_version": MODEL_VERSION,
        "av/dim": DIM,
        "av/visual_encoder": f"{encoder.name}.{encoder.version}",
        "av/keyframes": len(keyframes),
        "av/clips": len(rows),
        "av/upserted": upserted,
        "av/table_rows": store.count(),
        "av/table_uri": store.uri.rstrip("/") + "/embeddings.lance",
        "av/ann_index": index,
        "av/features_s": round(t1 - t0, 3),
        "av/upsert_s": round(t2 - t1, 3),
    }
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=sha256_bytes(lake.read_bytes(rel)),
        uri=uri,
        row_count=len(rows),
        metadata=md,
    )


@dg.asset(
    key=["ml", "keyframe_embeddings"],
    group_name="embeddings",
    partitions_def=DRIVES,
    deps=[*CONTEXT_INPUTS, dg.AssetKey(["silver", "clips"])],
    kinds={"lancedb"},
    owners=["team:perception-data"],
    code_version="1",
    description=(
        "One L2-normalised vector per redacted keyframe: a visual encoder (VisualEncoder protocol; "
        "colour/light/layout/edge descriptor today, a perception backbone later) plus the driving "
        "context of +-1 s; upserted by keyframe_id into LanceDB <lake>/ml/keyframe_embeddings."
    ),
    **gpu_step(),
)
def keyframe_embeddings(
    context: dg.AssetExecutionContext, lake: LakeStorage, vector_store: VectorStoreResource
) -> dg.MaterializeResult:
    import polars as pl

    from av_assets.embeddings.features import (
        KEYFRAME_MODEL_NAME,
        keyframe_dim,
        keyframe_model_version,
        keyframe_vectors,
    )
    from av_assets.embeddings.visual import DEFAULT_ENCODER

    drive_id = context.partition_key
    encoder = DEFAULT_ENCODER
    t0 = time.perf_counter()

    def opt(rel):
        return lake.read_parquet(rel) if lake.exists(rel) else None

    keyframes, images = _decode_keyframes(lake, drive_id, encoder.input_size)
    t1 = time.perf_counter()
    visual = encoder.encode(images)
    t2 = time.perf_counter()
    cat = opt(tables.CLIP_INDEX.rel(drive_id=drive_id))
    rows = keyframe_vectors(
        keyframes,
        visual,
        encoder,
        lake.read_parquet(tables.CLIPS.rel(drive_id=drive_id)).to_dicts(),
        lake.read_parquet(tables.SIGNALS_GRID.rel(drive_id=drive_id)),
        tracks=opt(tables.OBJECT_TRACKS.rel(drive_id=drive_id)),
        events=opt(tables.EVENT_DETECTIONS.rel(drive_id=drive_id)),
        road=opt(tables.ROAD_CONTEXT.rel(drive_id=drive_id)),
        catalog={r["clip_id"]: r for r in cat.to_dicts()} if cat is not None else {},
    )
    t3 = time.perf_counter()
    store = vector_store.keyframes(lake)
    upserted = store.upsert(rows)
    index = store.ensure_index()
    t4 = time.perf_counter()

    dim = keyframe_dim(encoder.dim)
    schema = {
        **dict.fromkeys(("keyframe_id", "drive_id", "clip_id", "sensor_id"), pl.String),
        "t_ns": pl.Int64,
        **dict.fromkeys(("event_types", "day_night", "weather", "model", "model_version"), pl.String),
        "vector": pl.Array(pl.Float32, dim),
    }
    # a drive without camera keyframes still gets a readable (zero-row, typed) table for its view
    frame = (
        pl.DataFrame(rows, schema_overrides={"vector": schema["vector"]})
        if rows
        else pl.DataFrame(schema=schema)
    )
    rel = tables.KEYFRAME_EMBEDDINGS.rel(drive_id=drive_id)
    uri = lake.write_parquet(rel, frame)
    md: dict[str, Any] = {
        "av/model": KEYFRAME_MODEL_NAME,
        "av/model_version": keyframe_model_version(encoder),
        "av/visual_encoder": f"{encoder.name}.{encoder.version}",
        "av/dim": dim,
        "av/keyframes": len(rows),
        "av/upserted": upserted,
        "av/table_rows": store.count(),
        "av/table_uri": store.uri.rstrip("/") + f"/{store.table_name}.lance",
        "av/ann_index": index,
        "av/decode_s": round(t1 - t0, 3),
        "av/encode_s": round(t2 - t1, 3),
        "av/context_s": round(t3 - t2, 3),
        "av/upsert_s": round(t4 - t3, 3),
    }
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=sha256_bytes(lake.read_bytes(rel)),
        uri=uri,
        row_count=len(rows),
        metadata=md,
    )
