"""The lineage convention of CONTRACTS.md: what every materialisation records.

`av lineage` walks exactly these records (asset graph + event log + `av/drive_ids`) down to the drive
manifests, so every asset returns its result through `lineage_result`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dagster as dg

DRIVE_IDS_KEY = "av/drive_ids"
CONTENT_SHA_KEY = "av/content_sha256"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_json(document: Any) -> str:
    """Hash of a JSON-able document in canonical form (sorted keys, no whitespace)."""
    return sha256_bytes(json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode())


def combine_hashes(hashes: Iterable[str]) -> str:
    """One content hash for a set of parts (files of a partition, rows of a table...), order-free."""
    return sha256_bytes("\n".join(sorted(hashes)).encode())


def column_schema(schema: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> dg.TableSchema:
    """`dagster/column_schema` from a polars/pyarrow schema or a {name: type} mapping."""
    items = schema.items() if isinstance(schema, Mapping) else schema
    return dg.TableSchema(columns=[dg.TableColumn(name=str(n), type=str(t)) for n, t in items])


def lineage_metadata(
    *,
    drive_ids: Iterable[str],
    content_sha256: str,
    uri: str | None = None,
    row_count: int | None = None,
    schema: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
) -> dict[str, Any]:
    md: dict[str, Any] = {
        DRIVE_IDS_KEY: dg.MetadataValue.json(sorted(set(drive_ids))),
        CONTENT_SHA_KEY: content_sha256,
    }
    if uri is not None:
        md["dagster/uri"] = dg.MetadataValue.path(uri)
    if row_count is not None:
        md["dagster/row_count"] = int(row_count)
    if schema is not None:
        md["dagster/column_schema"] = column_schema(schema)
    return md


def lineage_result(
    *,
    drive_ids: Iterable[str],
    content_sha256: str,
    uri: str | None = None,
    row_count: int | None = None,
    schema: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
    metadata: Mapping[str, Any] | None = None,
    check_results: Sequence[dg.AssetCheckResult] | None = None,
    asset_key: dg.AssetKey | None = None,
) -> dg.MaterializeResult:
    """`MaterializeResult` with the lineage metadata and the content hash as its `DataVersion`."""
    md = lineage_metadata(
        drive_ids=drive_ids, content_sha256=content_sha256, uri=uri, row_count=row_count, schema=schema
    )
    md.update(metadata or {})
    return dg.MaterializeResult(
        asset_key=asset_key,
        metadata=md,
        data_version=dg.DataVersion(content_sha256),
        check_results=list(check_results or []),
    )


def table_result(
    lake: Any,
    rel: str,
    frame: Any,
    *,
    drive_ids: Iterable[str],
    metadata: Mapping[str, Any] | None = None,
    check_results: Sequence[dg.AssetCheckResult] | None = None,
) -> dg.MaterializeResult:
    """Write `frame` (polars/pyarrow) as Parquet at `rel` in the lake and return its lineage result:
    uri, row count, column schema and the hash of exactly the bytes written (no read-back)."""
    uri, sha = lake.write_parquet_hashed(rel, frame)
    return lineage_result(
        drive_ids=drive_ids,
        content_sha256=sha,
        uri=uri,
        row_count=len(frame) if not hasattr(frame, "num_rows") else frame.num_rows,
        schema=frame.schema if hasattr(frame.schema, "items") else [(f.name, f.type) for f in frame.schema],
        metadata=metadata,
        check_results=check_results,
    )


def drive_ids_of(materialization_metadata: Mapping[str, Any]) -> list[str]:
    """Read `av/drive_ids` back from a materialisation's metadata (MetadataValue or raw)."""
    value = materialization_metadata.get(DRIVE_IDS_KEY)
    if value is None:
        return []
    data = getattr(value, "data", value)
    return list(data or [])
