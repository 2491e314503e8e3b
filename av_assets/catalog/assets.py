"""Metadata & catalog (workflow 4): the per-drive clip index, its key-value upsert and text index."""

import time
from typing import Any

import dagster as dg

from av_assets.platform.lineage import lineage_result, sha256_bytes
from av_assets.platform.partitions import DRIVES
from av_contracts import tables
from av_resources.clip_store import ClipStoreResource
from av_resources.lake import LakeStorage
from av_resources.text_embedder import TextEmbedderResource
from av_resources.text_index import TextIndexResource


@dg.asset(
    key=["catalog", "clip_index"],
    group_name="catalog",
    partitions_def=DRIVES,
    deps=[
        dg.AssetKey(["silver", "clips"]),
        dg.AssetKey(["silver", "signals"]),
        dg.AssetKey(["silver", "frames"]),
        dg.AssetKey(["bronze", "drive_manifest"]),
    ],
    kinds={"parquet", "lancedb", "duckdb"},
    owners=["team:perception-data"],
    code_version="1",
    description=(
        "One catalog row per clip (vehicle, UTC start/end, GPS box and centroid, distance, speed stats, "
        "route id, weather if known, sensors, quality flags), upserted into the clip key-value store (and "
        "inserted into the text index when new); Parquet per drive behind the `clip_index` view."
    ),
)
def clip_index(
    context: dg.AssetExecutionContext,
    lake: LakeStorage,
    clip_store: ClipStoreResource,
    text_index: TextIndexResource,
) -> dg.MaterializeResult:
    from av_assets.catalog.clip_index import clip_index_frame, clip_index_rows

    drive_id = context.partition_key
    manifest = lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id=drive_id))
    clips = lake.read_parquet(tables.CLIPS.rel(drive_id=drive_id))
    sig = lake.read_parquet(tables.SIGNALS.rel(drive_id=drive_id))
    clock = lake.read_json(tables.CLOCK_OFFSETS.sidecar("clock.json", drive_id=drive_id))
    fidx_rel = f"{tables.FRAMES.folder(drive_id=drive_id)}/index.parquet"
    fidx = lake.read_parquet(fidx_rel) if lake.exists(fidx_rel) else None
    rows = clip_index_rows(clips.to_dicts(), sig, manifest, clock, fidx)
    frame = clip_index_frame(rows)
    rel = tables.CLIP_INDEX.rel(drive_id=drive_id)
    uri = lake.write_parquet(rel, frame)

    t0 = time.perf_counter()
    store = clip_store.open(lake)
    upserted = store.upsert(rows)
    t1 = time.perf_counter()
    # A first text row per new clip (catalog words, full text only: no model here) so `av search text`
    # finds a clip as soon as it is catalogued; `catalog/clip_text` (after events and road context)
    # owns the row after, with its vector.
    indexed = text_index.open(lake).upsert([{**r, "text": r["description"]} for r in rows], insert_only=True)
    t2 = time.perf_counter()
    md: dict[str, Any] = {
        "av/clips": frame.height,
        "av/kv_backend": clip_store.backend,
        "av/kv_upserted": upserted,
        "av/kv_upsert_s": round(t1 - t0, 3),
        "av/text_backend": text_index.backend,
        "av/text_indexed": indexed,
        "av/text_index_s": round(t2 - t1, 3),
        "av/quality_flags": dg.MetadataValue.json(sorted({f for r in rows for f in r["quality_flags"]})),
        "av/distance_m": round(sum(r["distance_m"] or 0.0 for r in rows), 1),
    }
    if frame.height:
        md["av/preview"] = dg.MetadataValue.md(
            frame.drop("description", "sensors", "quality_flags")
            .head(10)
            .to_pandas()
            .to_markdown(index=False)
        )
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=sha256_bytes(lake.read_bytes(rel)),
        uri=uri,
        row_count=frame.height,
        schema=frame.schema,
        metadata=md,
    )


@dg.asset(
    key=["catalog", "clip_text"],
    group_name="catalog",
    partitions_def=DRIVES,
    deps=[
        dg.AssetKey(["catalog", "clip_index"]),
        dg.AssetKey(["silver", "event_detections"]),
        dg.AssetKey(["silver", "road_context"]),
    ],
    kinds={"lancedb", "parquet"},
    owners=["team:perception-data"],
    code_version="1",
    description=(
        "Per clip the text `av search text` searches: a plain-words summary (day/night, weather, road "
        "class, speed, detected events) plus the catalog description, its all-MiniLM-L6-v2 sentence "
        "embedding (384-d, embedder name+version in every row) and tag columns for filters, upserted "
        "by clip_id into the text index (LanceDB FTS + vectors, or OpenSearch match + knn); the same "
        "conditions and event types are set on the clip's key-value item."
    ),
)
def clip_text(
    context: dg.AssetExecutionContext,
    lake: LakeStorage,
    text_index: TextIndexResource,
    clip_store: ClipStoreResource,
    text_embedder: TextEmbedderResource,
) -> dg.MaterializeResult:
    from av_assets.catalog.text_embed import clip_store_updates, clip_text_frame, text_index_rows

    drive_id = context.partition_key

    def opt(rel):
        return lake.read_parquet(rel) if lake.exists(rel) else None

    cat = lake.read_parquet(tables.CLIP_INDEX.rel(drive_id=drive_id))
    rows = text_index_rows(
        cat.to_dicts(),
        events=opt(tables.EVENT_DETECTIONS.rel(drive_id=drive_id)),
        road=opt(tables.ROAD_CONTEXT.rel(drive_id=drive_id)),
    )
    t0 = time.perf_counter()
    index = text_index.open(lake, embedder=text_embedder.get())
    embedder = getattr(index, "embedder", None)
    upserted = index.upsert(rows)
    t1 = time.perf_counter()
    ann = index.ensure_vector_index() if hasattr(index, "ensure_vector_index") else "backend-managed"
    # the catalog item was written before enrichment: give it what search results say of the clip
    updates = clip_store_updates(rows)
    kv_updated = clip_store.open(lake).update(updates)
    frame = clip_text_frame(rows, embedder)
    rel = tables.CLIP_TEXT.rel(drive_id=drive_id)
    uri = lake.write_parquet(rel, frame)
    md: dict[str, Any] = {
        "av/clips": len(rows),
        "av/text_backend": text_index.backend,
        "av/embedder": embedder.name if embedder else "none (full text only)",
        "av/embedder_version": embedder.version if embedder else "",
        "av/dim": embedder.dim if embedder else 0,
        "av/upserted": upserted,
        "av/upsert_s": round(t1 - t0, 3),
        "av/vector_index": ann,
        "av/kv_updated": kv_updated,
        "av/event_types": dg.MetadataValue.json(sorted({e for u in updates for e in u["event_types"]})),
    }
    if rows:
        md["av/example_text"] = rows[0]["text"]
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=sha256_bytes(lake.read_bytes(rel)),
        uri=uri,
        row_count=frame.height,
        schema=frame.schema,
        metadata=md,
    )
