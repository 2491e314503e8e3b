"""The catalog: a view per table declared in `av_contracts.tables`, applied to a fresh in-process DuckDB
connection over the lake's Parquet. No writable database file, so concurrent runs and `av query`
never fight over a lock; S3 is read through a registered fsspec filesystem (DuckDB 2.0 has no
httpfs wheel here).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg

from av_contracts.tables import Table
from av_contracts.tables import views as table_views
from av_resources.lake import LakeStorage

if TYPE_CHECKING:
    import duckdb


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _static_prefix(glob: str) -> str:
    """The folder part of a glob before its first wildcard."""
    parts = glob.split("/")
    fixed = []
    for p in parts:
        if any(ch in p for ch in "*?["):
            break
        fixed.append(p)
    return "/".join(fixed)


def _matching_files(lake: LakeStorage, glob: str) -> list[str]:
    if not any(ch in glob for ch in "*?["):  # one object, not a pattern
        return [glob] if lake.exists(glob) else []
    prefix = _static_prefix(glob)
    files = lake.list(prefix) if prefix else lake.list()
    return [f for f in files if fnmatch.fnmatch(f, glob)]


def view_sql(lake: LakeStorage, view: Table) -> str:
    """`SELECT` for one view: the Parquet files under its glob, or an empty typed relation."""
    files = _matching_files(lake, view.glob)
    if not files:
        cols = ", ".join(f"CAST(NULL AS {t}) AS {_quote(c)}" for c, t in view.columns.items())
        return f"SELECT {cols} WHERE false"
    listing = "[" + ", ".join(_literal(lake.uri(f)) for f in files) + "]"
    return f"SELECT * FROM read_parquet({listing}, union_by_name=true, hive_partitioning=false)"


def connect(lake: LakeStorage, views: Sequence[Table] | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection with every registered view over `lake`."""
    import duckdb

    con = duckdb.connect(":memory:")
    if lake.is_s3:
        con.register_filesystem(lake.fs)
    for view in table_views() if views is None else views:
        con.execute(f"CREATE OR REPLACE VIEW {_quote(view.name)} AS {view_sql(lake, view)}")
    return con


class CatalogResource(dg.ConfigurableResource):
    """Catalog access for assets and checks; each call gets its own connection."""

    lake: LakeStorage

    def connect(self) -> duckdb.DuckDBPyConnection:
        return connect(self.lake)

    def query(self, sql: str, params: Sequence[object] | None = None):  # -> polars.DataFrame
        con = self.connect()
        try:
            return con.execute(sql, params or []).pl()
        finally:
            con.close()
