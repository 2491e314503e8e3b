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
    from av_assets.embeddings.drive import clip_embeddings_frame, drive_clip_vectors
    from av_assets.embeddings.features import DIM, MODEL_NAME, MODEL_VERSION
    from av_assets.embeddings.visual import DEFAULT_ENCODER

    drive_id = context.partition_key
    encoder = DEFAULT_ENCODER
    vectors = drive_clip_vectors(lake, drive_id, encoder)
    rows = vectors.rows
    t1 = time.perf_counter()
    store = vector_store.clips(lake)
    upserted = store.upsert(rows)
    index = store.ensure_index()
    t2 = time.perf_counter()
    frame = clip_embeddings_frame(rows)
    rel = tables.CLIP_EMBEDDINGS.rel(drive_id=drive_id)
    uri = lake.write_parquet(rel, frame)
    md: dict[str, Any] = {
        "av/model": MODEL_NAME,
        "av/model_version": MODEL_VERSION,
        "av/dim": DIM,
        "av/visual_encoder": f"{encoder.name}.{encoder.version}",
        "av/keyframes": vectors.keyframes,
        "av/clips": len(rows),
        "av/upserted": upserted,
        "av/table_rows": store.count(),
        "av/table_uri": store.uri.rstrip("/") + "/embeddings.lance",
        "av/ann_index": index,
        "av/features_s": round(vectors.timings_s["features_s"], 3),
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
    from av_assets.embeddings.drive import drive_keyframe_vectors, keyframe_embeddings_frame
    from av_assets.embeddings.features import KEYFRAME_MODEL_NAME, keyframe_dim, keyframe_model_version
    from av_assets.embeddings.visual import DEFAULT_ENCODER

    drive_id = context.partition_key
    encoder = DEFAULT_ENCODER
    vectors = drive_keyframe_vectors(lake, drive_id, encoder)
    rows, timings = vectors.rows, vectors.timings_s
    t3 = time.perf_counter()
    store = vector_store.keyframes(lake)
    upserted = store.upsert(rows)
    index = store.ensure_index()
    t4 = time.perf_counter()

    dim = keyframe_dim(encoder.dim)
    frame = keyframe_embeddings_frame(rows, dim)
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
        "av/decode_s": round(timings["decode_s"], 3),
        "av/encode_s": round(timings["encode_s"], 3),
        "av/context_s": round(timings["context_s"], 3),
        "av/upsert_s": round(t4 - t3, 3),
    }
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=sha256_bytes(lake.read_bytes(rel)),
        uri=uri,
        row_count=len(rows),
        metadata=md,
    )
