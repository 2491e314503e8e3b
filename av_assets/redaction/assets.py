"""`silver/redacted_frames`: camera keyframes of a drive with faces and plates irreversibly redacted."""

from typing import Any

import dagster as dg
from pydantic import Field

from av_assets.platform.gpu import gpu_step
from av_assets.platform.lineage import combine_hashes, lineage_result, sha256_bytes, sha256_json
from av_assets.platform.partitions import DRIVES
from av_assets.redaction.config import REDACTION_CONFIG_VERSION, RedactionConfig
from av_contracts import tables
from av_resources.evaluation import GroundTruthResource
from av_resources.lake import LakeStorage


class RedactionRunConfig(dg.Config):
    keyframe_hz: float = Field(
        default=2.0, description="keep the first frame of each 1/hz bin per camera; 0 = all"
    )
    working_max_side: int = Field(default=1280, description="longest side of the working resolution (px)")
    audit_samples: int = Field(default=10, description="frames listed in the report's audit sample")
    max_frames: int = Field(default=0, description="stop after this many frames (0 = no limit)")
    pii_net: bool = Field(
        default=True,
        description="add pii_net + its verifier (small, distant faces/plates); off = v1 detectors",
    )


def _gt_boxes(gt: dict | None) -> dict[tuple[str, int], dict[str, list]]:
    """Ground truth per-frame PII boxes: `pii_boxes: [{sensor_id, t_ns, faces: [[x1,y1,x2,y2]...],
    plates: [...]}]` in source-image pixels (see docs/redaction.md)."""
    out: dict[tuple[str, int], dict[str, list]] = {}
    for row in (gt or {}).get("pii_boxes", []) or []:
        out[(str(row["sensor_id"]), int(row["t_ns"]))] = {
            "faces": row.get("faces", []),
            "plates": row.get("plates", []),
        }
    return out


@dg.asset(
    key=["silver", "redacted_frames"],
    group_name="redaction",
    partitions_def=DRIVES,
    deps=[dg.AssetKey(["bronze", "drive_manifest"])],
    kinds={"parquet", "onnx"},
    owners=["team:privacy"],
    code_version=f"1-{REDACTION_CONFIG_VERSION}",
    description=(
        "Camera keyframes (2 Hz by default) of a drive at the working resolution with faces (CenterFace + "
        "Haar) and licence plates (PP-OCRv4 text detector + plate-shape filter) pixelated and blurred; "
        "JPEGs, an index Parquet and an Ed25519-signed redaction report."
    ),
    **gpu_step(),
)
def redacted_frames(
    context: dg.AssetExecutionContext,
    config: RedactionRunConfig,
    lake: LakeStorage,
    ground_truth: GroundTruthResource,
) -> dg.MaterializeResult:
    from av_assets.redaction.detectors import model_hashes
    from av_assets.redaction.frames import iter_camera_frames
    from av_assets.redaction.redact import INDEX_SCHEMA, index_table, redact_drive
    from av_assets.redaction.report import redaction_report

    drive_id = context.partition_key
    rcfg = RedactionConfig(working_max_side=config.working_max_side, pii_net=config.pii_net)
    prefix = tables.REDACTED_FRAMES.folder(drive_id=drive_id)
    gt_src = _gt_boxes(ground_truth.for_drive(drive_id))
    lake.delete(prefix, recursive=True)  # a re-run replaces the partition
    run = redact_drive(
        drive_id,
        iter_camera_frames(lake, drive_id, keyframe_hz=config.keyframe_hz or None),
        rcfg,
        prefix=prefix,
        write_bytes=lake.write_bytes,
        gt_boxes=gt_src,
        max_frames=config.max_frames,
    )
    index_rel = tables.REDACTED_FRAMES.rel(drive_id=drive_id)
    index_uri = lake.write_parquet(index_rel, index_table(run.rows))
    index_sha = sha256_bytes(lake.read_bytes(index_rel))
    report = redaction_report(
        drive_id,
        run.frames_for_report,
        rcfg,
        ground_truth=run.gt_for_report if gt_src else None,
        audit_samples=config.audit_samples,
        model_hashes=model_hashes(rcfg) if run.rows else {},
    )
    manifest_rel = tables.BRONZE_MANIFEST.rel(drive_id=drive_id)
    report["inputs"] = {
        "manifest_path": manifest_rel,
        "manifest_sha256": sha256_bytes(lake.read_bytes(manifest_rel)),
        "keyframe_hz": config.keyframe_hz,
    }
    report["outputs"] = {
        "index_path": index_rel,
        "index_sha256": index_sha,
        "frames_sha256": combine_hashes(run.frame_hashes),
    }
    report_rel, signature = _write_signed(lake, drive_id, report)
    context.log.info(f"{drive_id}: {len(run.rows)} frames redacted, {run.faces} faces, {run.plates} plates")
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=combine_hashes([index_sha, sha256_json(report)]),
        uri=index_uri,
        row_count=len(run.rows),
        schema=INDEX_SCHEMA,
        metadata=_redaction_metadata(run, report, rcfg.version, report_rel, signature["public_key"]),
    )


def _write_signed(lake: LakeStorage, drive_id: str, report: dict) -> tuple[str, dict]:
    """Write the redaction report and its Ed25519 signature beside the index."""
    from av_contracts.signing import sign_document

    report_rel = tables.REDACTED_FRAMES.sidecar(tables.REDACTION_REPORT, drive_id=drive_id)
    lake.write_json(report_rel, report)
    signature = sign_document(report)
    lake.write_json(
        tables.REDACTED_FRAMES.sidecar(tables.REDACTION_REPORT_SIGNATURE, drive_id=drive_id), signature
    )
    return report_rel, signature


def _redaction_metadata(run, report: dict, config_version: str, report_rel: str, signer: str) -> dict:
    md: dict[str, Any] = {
        "av/frames": len(run.rows),
        "av/faces": run.faces,
        "av/plates": run.plates,
        "av/frames_with_detections": report["frames_with_detections"],
        "av/frames_per_s": round(len(run.rows) / run.detect_s, 3) if run.detect_s else 0.0,
        "av/wall_s": round(run.wall_s, 2),
        "av/config_version": config_version,
        "av/detector_versions": dg.MetadataValue.json(report["detector_versions"]),
        "av/report_path": report_rel,
        "av/report_signer": signer,
    }
    ev = report.get("evaluation")
    if ev:
        for kind in ("face", "plate"):
            md[f"av/{kind}_recall"] = ev[kind]["recall"] if ev[kind]["recall"] is not None else float("nan")
            md[f"av/{kind}_precision"] = (
                ev[kind]["precision"] if ev[kind]["precision"] is not None else float("nan")
            )
    return md
