"""Clip embeddings (issue 8, workflow 7): `ml/clip_embeddings`, one vector per clip, per drive."""

import time
from typing import Any

import dagster as dg

from av_assets.contracts.gpu import gpu_step
from av_assets.contracts.lineage import lineage_result, sha256_bytes
from av_assets.contracts.partitions import DRIVES
from av_resources.lake import LakeStorage


def embeddings_rel(drive_id: str) -> str:
    """Per-drive copy of what was upserted (Parquet): lineage hash and `av query` view."""
    return f"ml/clip_embeddings/drive_id={drive_id}/part-0.parquet"


def _keyframe_hists(lake: LakeStorage, drive_id: str, max_per_clip_s: float = 1.0) -> list:
    """(t_ns, colour histogram) of the drive's redacted keyframes, at most one per `max_per_clip_s`."""
    import io

    import numpy as np
    from PIL import Image

    from av_assets.embeddings.features import colour_histogram

    rel = f"silver/redacted_frames/drive_id={drive_id}/index.parquet"
    if not lake.exists(rel):
        return []
    idx = lake.read_parquet(rel).sort("t_ns")
    out, last = [], None
    for r in idx.iter_rows(named=True):
        if last is not None and r["t_ns"] - last < max_per_clip_s * 1e9:
            continue
        try:
            with Image.open(io.BytesIO(lake.read_bytes(r["path"]))) as im:
                im.draft("RGB", (32, 32))
                rgb = np.asarray(im.convert("RGB").resize((32, 18)))
        except Exception:  # noqa: BLE001 - an unreadable frame only loses its descriptor
            continue
        out.append((int(r["t_ns"]), colour_histogram(rgb)))
        last = r["t_ns"]
    return out


@dg.asset(
    key=["ml", "clip_embeddings"],
    group_name="embeddings",
    partitions_def=DRIVES,
    deps=[
        dg.AssetKey(["catalog", "clip_index"]),
        dg.AssetKey(["silver", "event_detections"]),
        dg.AssetKey(["silver", "object_tracks"]),
        dg.AssetKey(["silver", "signals_grid"]),
        dg.AssetKey(["silver", "road_context"]),
        dg.AssetKey(["silver", "redacted_frames"]),
    ],
    kinds={"lancedb"},
    owners=["team:perception-data"],
    code_version="1",
    description=(
        "One L2-normalised vector per clip (signal profile, track profile, event/condition tags, keyframe "
        "colour histogram; model name+version in every row), upserted by clip_id into LanceDB "
        "<lake>/ml/embeddings (ANN index from 256 rows) for `av search like`."
    ),
    **gpu_step(),
)
def clip_embeddings(context: dg.AssetExecutionContext, lake: LakeStorage) -> dg.MaterializeResult:
    import polars as pl

    from av_assets.catalog.assets import clip_index_rel
    from av_assets.embeddings.features import DIM, MODEL_NAME, MODEL_VERSION, clip_vectors
    from av_assets.embeddings.store import EmbeddingStore
    from av_assets.enrich.assets import road_context_rel
    from av_assets.scenes.assets import events_rel, tracks_rel
    from av_assets.sync.assets import clips_rel

    drive_id = context.partition_key
    t0 = time.perf_counter()

    def opt(rel):
        return lake.read_parquet(rel) if lake.exists(rel) else None

    clips = lake.read_parquet(clips_rel(drive_id))
    grid = lake.read_parquet(f"silver/signals_grid/drive_id={drive_id}/part-0.parquet")
    cat = opt(clip_index_rel(drive_id))
    catalog = {r["clip_id"]: r for r in cat.to_dicts()} if cat is not None else {}
    rows = clip_vectors(
        clips.to_dicts(),
        grid,
        tracks=opt(tracks_rel(drive_id)),
        events=opt(events_rel(drive_id)),
        road=opt(road_context_rel(drive_id)),
        catalog=catalog,
        keyframe_hist=_keyframe_hists(lake, drive_id),
    )
    t1 = time.perf_counter()
    store = EmbeddingStore.for_lake(lake)
    upserted = store.upsert(rows)
    index = store.ensure_index()
    t2 = time.perf_counter()

    frame = (
        pl.DataFrame(rows, schema_overrides={"vector": pl.Array(pl.Float32, DIM)}) if rows else pl.DataFrame()
    )
    rel = embeddings_rel(drive_id)
    uri = lake.write_parquet(rel, frame)
    md: dict[str, Any] = {
        "av/model": MODEL_NAME,
        "av/model_version": MODEL_VERSION,
        "av/dim": DIM,
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
