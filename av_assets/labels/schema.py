"""Polars schemas of the labels domain's tables, from their one declaration in av_contracts."""

from __future__ import annotations

import polars as pl

from av_contracts import tables

_POLARS = {
    "VARCHAR": pl.String,
    "BIGINT": pl.Int64,
    "INTEGER": pl.Int32,
    "DOUBLE": pl.Float64,
    "DOUBLE[]": pl.List(pl.Float64),
    "VARCHAR[]": pl.List(pl.String),
}


def polars_schema(table) -> dict[str, pl.DataType]:
    return {name: _POLARS[t] for name, t in table.columns.items()}


LABELS = polars_schema(tables.LABELS)  # auto-labels with their provenance (and merged reviews)
LABEL_FRAMES = polars_schema(tables.LABEL_FRAMES)
REVIEWS = polars_schema(tables.LABEL_REVIEWS)  # consensus: the contract columns + votes, annotators, size
REVIEW_FRAMES = polars_schema(tables.LABEL_REVIEW_FRAMES)
