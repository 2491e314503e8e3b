"""Metadata & catalog (workflow 4): the per-drive clip index, its key-value upsert and text index."""

import time
from typing import Any

import dagster as dg

from av_assets.contracts.lineage import lineage_result, sha256_bytes
from av_assets.contracts.partitions import DRIVES
from av_resources.clip_store import ClipStoreResource
from av_resources.lake import LakeStorage
from av_resources.text_index import TextIndexResource


def clip_index_rel(drive_id: str) -> str:
    return f"catalog/clip_index/drive_id={drive_id}/part-0.parquet"


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
        "route id, weather if known, sensors, quality flags), upserted into the clip key-value store and "
        "the full-text index; Parquet per drive behind the `clip_index` view."
    ),
)
def clip_index(
    context: dg.AssetExecutionContext,
    lake: LakeStorage,
    clip_store: ClipStoreResource,
    text_index: TextIndexResource,
) -> dg.MaterializeResult:
    import polars as pl

    from av_assets.catalog.clip_index import CLIP_INDEX_SCHEMA, clip_index_rows
    from av_assets.ingest.core import manifest_path
    from av_assets.sync.assets import clips_rel, clock_rel, frames_prefix, signals_rel

    drive_id = context.partition_key
    manifest = lake.read_json(manifest_path(drive_id))
    clips = lake.read_parquet(clips_rel(drive_id))
    sig = lake.read_parquet(signals_rel(drive_id))
    clock = lake.read_json(clock_rel(drive_id))
    fidx_rel = f"{frames_prefix(drive_id)}/index.parquet"
    fidx = lake.read_parquet(fidx_rel) if lake.exists(fidx_rel) else None
    rows = clip_index_rows(clips.to_dicts(), sig, manifest, clock, fidx)
    schema = {
        k: (pl.List(pl.String) if v == "List[String]" else getattr(pl, v))
        for k, v in CLIP_INDEX_SCHEMA.items()
    }
    frame = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    rel = clip_index_rel(drive_id)
    uri = lake.write_parquet(rel, frame)

    t0 = time.perf_counter()
    store = clip_store.open(lake)
    upserted = store.upsert(rows)
    t1 = time.perf_counter()
    indexed = text_index.open(lake).upsert([{**r, "text": r["description"]} for r in rows])
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
