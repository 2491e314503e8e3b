"""Walk the lineage records of CONTRACTS.md: the asset graph gives the upstream assets, the event
log the materialisation, its `av/drive_ids` the drives behind it (fan-in assets list all of them),
and each drive's signed bronze manifest the files with their hashes."""

from __future__ import annotations

from typing import Any

import dagster as dg

from av_assets.platform.lineage import CONTENT_SHA_KEY, DRIVE_IDS_KEY, drive_ids_of
from av_contracts import tables
from av_resources.lake import LakeStorage


class LineageError(LookupError):
    """The asset or its materialisation is not known: a usage error, not a failed audit."""


def upstream_keys(asset_graph, key: dg.AssetKey) -> list[dg.AssetKey]:
    """Every ancestor of `key` in the asset graph, sorted."""
    seen: set[dg.AssetKey] = set()
    stack = [key]
    while stack:
        for parent in asset_graph.get(stack.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return sorted(seen, key=lambda k: k.to_user_string())


def latest_materialization(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None
) -> dg.AssetMaterialization | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1
    ).records
    return records[0].asset_materialization if records else None


def drive_evidence(lake: LakeStorage, drive_id: str, verify: bool) -> dict[str, Any]:
    """The files and signature state of one drive; `verify` re-hashes every bronze file."""
    from av_assets.shared.bronze_verify import verify_drive
    from av_contracts.signing import verify_document

    if not lake.exists(tables.BRONZE_MANIFEST.rel(drive_id=drive_id)):
        return {"drive_id": drive_id, "files": [], "signature_ok": None, "problems": ["no bronze manifest"]}
    if verify:
        report = verify_drive(lake, drive_id)
        return {
            "drive_id": drive_id,
            "files": [
                {"path": f["path"], "sha256": f["sha256_expected"], "status": f["status"]}
                for f in report["files"]
            ],
            "signature_ok": report["signature_ok"],
            "verified": True,
            "problems": report["problems"],
        }
    manifest = lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id=drive_id))
    sig_ok = None
    if lake.exists(tables.BRONZE_MANIFEST.sidecar(tables.MANIFEST_SIGNATURE, drive_id=drive_id)):
        sig_ok = verify_document(
            manifest,
            lake.read_json(tables.BRONZE_MANIFEST.sidecar(tables.MANIFEST_SIGNATURE, drive_id=drive_id)),
        )
    return {
        "drive_id": drive_id,
        "files": [{"path": f["path"], "sha256": f["sha256"]} for f in manifest["files"]],
        "signature_ok": sig_ok,
        "problems": [] if sig_ok else ["manifest signature missing or invalid"],
    }


def lineage_report(
    *,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    lake: LakeStorage,
    asset: str,
    partition: str | None = None,
    verify: bool = False,
) -> dict[str, Any]:
    key = dg.AssetKey.from_user_string(asset)
    graph = defs.resolve_asset_graph()
    if not graph.has(key):
        raise LineageError(f"unknown asset {asset!r}")
    materialization = latest_materialization(instance, key, partition)
    if materialization is None:
        where = f" partition {partition!r}" if partition else ""
        raise LineageError(f"{asset}{where} has never been materialised on this instance")
    if partition is None and graph.get(key).partitions_def is not None:
        partition = materialization.partition  # the latest partition, said so in the report
    upstream = upstream_keys(graph, key)
    drive_ids = drive_ids_of(materialization.metadata)
    if not drive_ids and partition and graph.get(key).partitions_def is not None:
        drive_ids = [partition]
    upstream_records = []
    for up in upstream:
        up_partition = partition if partition and graph.get(up).partitions_def is not None else None
        rec = latest_materialization(instance, up, up_partition)
        upstream_records.append(
            {
                "asset": up.to_user_string(),
                "partition": up_partition,
                "materialized": rec is not None,
                "content_sha256": _value(rec.metadata.get(CONTENT_SHA_KEY)) if rec else None,
            }
        )
    drives = [drive_evidence(lake, d, verify) for d in sorted(drive_ids)]
    return {
        "asset": key.to_user_string(),
        "partition": partition,
        "content_sha256": _value(materialization.metadata.get(CONTENT_SHA_KEY)),
        "drive_ids_recorded": DRIVE_IDS_KEY in materialization.metadata,
        "upstream": [u.to_user_string() for u in upstream],
        "upstream_materializations": upstream_records,
        "drives": drives,
        "ok": all(not d["problems"] for d in drives),
    }


def _value(v: Any) -> Any:
    return getattr(v, "value", v)
