"""Per-drive bronze assets: the copy (bronze/drive_files) and the manifest with its integrity gate
(bronze/drive_manifest + the blocking check `drive_integrity_passed`)."""

import dagster as dg

from av_assets.ingest.core import (
    LakeSource,
    ingest_drive,
    integrity_outcome,
    manifest_frames,
    result_from_manifest,
)
from av_assets.ingest.notify import event_for
from av_assets.platform.lineage import lineage_result, sha256_json
from av_assets.platform.partitions import DRIVES
from av_contracts import tables
from av_resources.lake import LakeStorage
from av_resources.notify import Notifier

LANDING_TAG = "av/landing_prefix"
OWNERS = ["team:data-platform"]

INTEGRITY_CHECK = "drive_integrity_passed"


def _find_landing(lake: LakeStorage, drive_id: str) -> str | None:
    hits = lake.list("landing", f"*/{drive_id}/drive.json")
    return hits[0].rsplit("/", 1)[0] if hits else None


@dg.asset(
    key=["bronze", "drive_files"],
    group_name="ingest",
    partitions_def=DRIVES,
    description=(
        "The drive's offload copied byte for byte into bronze/drives/<drive_id>/ (streamed, sha256 while "
        "copying, parallel across files, vehicle checksums verified). Idempotent: same bytes -> skipped; "
        "same id with other bytes -> refused (quarantine id_conflict)."
    ),
    kinds={"s3", "python"},
    owners=OWNERS,
    code_version="1",
    tags={"layer": "bronze"},
)
def drive_files(context: dg.AssetExecutionContext, lake: LakeStorage) -> dg.MaterializeResult:
    drive_id = context.partition_key
    prefix = context.run.tags.get(LANDING_TAG) or _find_landing(lake, drive_id)
    if prefix:
        result = ingest_drive(LakeSource(lake, prefix), lake, progress=context.log.info)
        manifest = result.manifest
    elif lake.exists(tables.BRONZE_MANIFEST.rel(drive_id=drive_id)):
        manifest = lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id=drive_id))
        context.log.info(f"{drive_id}: already in bronze (ingested outside Dagster); recording it")
        result = None
    else:
        raise dg.Failure(f"drive {drive_id!r}: no landing folder landing/*/{drive_id}/ and no bronze copy")
    if manifest is None:  # refused before any copy (invalid drive.json)
        raise dg.Failure(f"drive {drive_id!r} refused: {result.reason}: {result.detail}")
    files = manifest["files"]
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=manifest["content_sha256"],
        uri=lake.uri(tables.BRONZE_MANIFEST.folder(drive_id=drive_id)),
        row_count=len(files),
        metadata={
            "av/ingest_status": result.status if result else "skipped",
            "av/reason": (result.reason if result else None) or "",
            "av/files": len(files),
            "av/bytes": sum(f["size"] for f in files),
            "av/copy_seconds": round((result.timings.get("copy_s", 0.0) if result else 0.0), 3),
            "av/formats": dg.MetadataValue.json(sorted({f["format"] for f in files})),
        },
    )


@dg.asset(
    key=["bronze", "drive_manifest"],
    group_name="ingest",
    partitions_def=DRIVES,
    deps=[drive_files],
    description=(
        "manifest.json of the drive (files with sha256 and format, topics with types, message counts and "
        "time spans counted from the container records, sensors present, integrity checks, WARN flags) "
        "and its rows in the drives/files/topics tables. Its blocking check gates every per-drive layer."
    ),
    kinds={"parquet", "duckdb"},
    owners=OWNERS,
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec(
            INTEGRITY_CHECK,
            asset=dg.AssetKey(["bronze", "drive_manifest"]),
            blocking=True,
            description="the drive passed ingestion integrity (else it is quarantined with a reason)",
        )
    ],
)
def drive_manifest(
    context: dg.AssetExecutionContext, lake: LakeStorage, notifier: Notifier
) -> dg.MaterializeResult:
    drive_id = context.partition_key
    manifest = lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id=drive_id))
    # the tables are rewritten from the manifest (same bytes when nothing changed: idempotent)
    for name, frame in manifest_frames(manifest).items():
        lake.write_parquet(tables.table(name).rel(drive_id=drive_id), frame)
    outcome = integrity_outcome(manifest)
    check = dg.AssetCheckResult(
        check_name=INTEGRITY_CHECK,
        passed=outcome["passed"],
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "status": outcome["status"],
            "reason": outcome["reason"],
            "detail": outcome["detail"],
            "failed_checks": dg.MetadataValue.json(outcome["failed_checks"]),
            "warnings": dg.MetadataValue.json(outcome["warnings"]),
            "quarantine_uri": lake.uri(tables.QUARANTINE.sidecar("reason.json", drive_id=drive_id))
            if not outcome["passed"]
            else "",
        },
    )
    notifier.notify(event_for(result_from_manifest(drive_id, manifest)))
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=sha256_json(manifest),
        uri=lake.uri(tables.BRONZE_MANIFEST.rel(drive_id=drive_id)),
        row_count=len(manifest["topics"]),
        schema={
            "topic": "VARCHAR",
            "type": "VARCHAR",
            "message_count": "BIGINT",
            "t_first_ns": "BIGINT",
            "t_last_ns": "BIGINT",
        },
        metadata={
            "av/status": manifest["status"],
            "av/message_count": manifest["message_count"],
            "av/topics": len(manifest["topics"]),
            "av/warnings": dg.MetadataValue.json(manifest["warnings"][:20]),
            "av/sensors_present": dg.MetadataValue.json(manifest["sensor_types_present"]),
            "av/t_first_ns": manifest["t_first_ns"] or 0,
            "av/t_last_ns": manifest["t_last_ns"] or 0,
            "preview": dg.MetadataValue.md(_markdown(manifest)),
        },
        check_results=[check],
    )


def _markdown(manifest) -> str:
    lines = [
        f"**{manifest['drive_id']}**: {manifest['status']}, {manifest['message_count']} messages",
        "",
        "| topic | type | messages |",
        "|---|---|---:|",
    ]
    for t in manifest["topics"][:30]:
        lines.append(f"| {t['topic']} | {t['type']} | {t['message_count']} |")
    return "\n".join(lines)
