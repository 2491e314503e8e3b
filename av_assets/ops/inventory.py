"""What the lake holds, per layer and dataset: the base of cost telemetry and tiering (workflows 29-30)."""

from __future__ import annotations

import re

import polars as pl

from av_contracts import tables

_DRIVE_PART = re.compile(r"(?:^|/)(?:drive_id=|drives/)([a-z0-9][a-z0-9_-]{2,63})(?:/|$)")

INVENTORY_SCHEMA = {
    "layer": pl.String,
    "dataset": pl.String,
    "objects": pl.Int64,
    "bytes": pl.Int64,
    "drives": pl.Int64,
}


def inventory_frame(sizes: dict[str, int]) -> pl.DataFrame:
    """One row per (layer, dataset): object count, bytes and distinct drives referenced by path."""
    if not sizes:
        return pl.DataFrame(schema=INVENTORY_SCHEMA)
    paths = list(sizes)
    layers = [p.split("/", 1)[0] for p in paths]
    datasets = [p.split("/")[1] if p.count("/") >= 2 else "" for p in paths]
    drive_ids = [(m.group(1) if (m := _DRIVE_PART.search(p)) else None) for p in paths]
    frame = pl.DataFrame(
        {"layer": layers, "dataset": datasets, "size": list(sizes.values()), "drive_id": drive_ids},
        schema={"layer": pl.String, "dataset": pl.String, "size": pl.Int64, "drive_id": pl.String},
    )
    return (
        frame.group_by("layer", "dataset")
        .agg(
            pl.len().cast(pl.Int64).alias("objects"),
            pl.col("size").sum().cast(pl.Int64).alias("bytes"),
            pl.col("drive_id").drop_nulls().n_unique().cast(pl.Int64).alias("drives"),
        )
        .sort("layer", "dataset")
        .select(list(INVENTORY_SCHEMA))
    )


def bronze_drive_ids(paths: list[str]) -> list[str]:
    """Drives committed to bronze (their manifest exists): the drives an inventory covers."""
    prefix, suffix = tables.BRONZE_MANIFEST.path.split("{drive_id}")
    return sorted(
        p[len(prefix) : -len(suffix)]
        for p in paths
        if p.startswith(prefix) and p.endswith(suffix) and p.count("/") == 3
    )
