"""`silver/redacted_frames`: camera keyframes of a drive with faces and plates irreversibly redacted."""

import time
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

INDEX_SCHEMA = {
    "drive_id": "string",
    "sensor_id": "string",
    "t_ns": "int64",
    "path": "string",
    "faces": "int32",
    "plates": "int32",
    "width": "int32",
    "height": "int32",
}
MAX_AUDIT_CROPS = 200


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
    from av_assets.redaction.frames import decode_image, encode_jpeg, iter_camera_frames
    from av_assets.redaction.redact import expand_box, redact_frame_full
    from av_assets.redaction.report import redaction_report
    from av_contracts.signing import sign_document

    drive_id = context.partition_key
    rcfg = RedactionConfig(working_max_side=config.working_max_side, pii_net=config.pii_net)
    prefix = tables.REDACTED_FRAMES.folder(drive_id=drive_id)
    gt_doc = ground_truth.for_drive(drive_id)
    gt_src = _gt_boxes(gt_doc)
    lake.delete(prefix, recursive=True)  # a re-run replaces the partition

    rows: list[dict[str, Any]] = []
    frames_for_report: list[dict[str, Any]] = []
    gt_for_report: dict[str, dict[str, list]] = {}
    frame_hashes: list[str] = []
    crops_written = 0
    t0 = time.perf_counter()
    det_s = 0.0
    for frame in iter_camera_frames(lake, drive_id, keyframe_hz=config.keyframe_hz or None):
        rgb = decode_image(frame.data)
        result = redact_frame_full(rgb, rcfg)
        det_s += result.timings_s.get("total_s", 0.0)
        jpeg = encode_jpeg(result.redacted, rcfg.jpeg_quality)
        rel = f"{prefix}/frames/{frame.sensor_id}/{frame.t_ns}.jpg"
        lake.write_bytes(rel, jpeg)
        frame_hashes.append(sha256_bytes(jpeg))
        frame_id = f"{frame.sensor_id}:{frame.t_ns}"
        crops = []
        for k, d in enumerate(result.detections):
            if crops_written >= MAX_AUDIT_CROPS:
                break
            # Crops of the *redacted* frame with context around the region: reviewers see the result.
            x1, y1, x2, y2 = expand_box(d.box, 1.0, result.redacted.shape)
            crop_rel = f"{prefix}/audit/{frame.sensor_id}_{frame.t_ns}_{k}_{d.kind}.jpg"
            lake.write_bytes(crop_rel, encode_jpeg(result.redacted[y1:y2, x1:x2], 85))
            crops.append(crop_rel)
            crops_written += 1
        frames_for_report.append(
            {"frame_id": frame_id, "detections": result.detections, "path": rel, "crops": crops}
        )
        gt = gt_src.get((frame.sensor_id, frame.t_ns))
        if gt is not None:
            s = result.scale
            gt_for_report[frame_id] = {k: [[v * s for v in b[:4]] for b in boxes] for k, boxes in gt.items()}
        h, w = result.redacted.shape[:2]
        rows.append(
            {
                "drive_id": drive_id,
                "sensor_id": frame.sensor_id,
                "t_ns": frame.t_ns,
                "path": rel,
                "faces": result.faces,
                "plates": result.plates,
                "width": w,
                "height": h,
            }
        )
        if config.max_frames and len(rows) >= config.max_frames:
            break
    wall_s = time.perf_counter() - t0

    import pyarrow as pa

    table = pa.Table.from_pylist(
        rows, schema=pa.schema([(k, getattr(pa, v)()) for k, v in INDEX_SCHEMA.items()])
    )
    index_rel = tables.REDACTED_FRAMES.rel(drive_id=drive_id)
    index_uri = lake.write_parquet(index_rel, table)
    index_sha = sha256_bytes(lake.read_bytes(index_rel))

    report = redaction_report(
        drive_id,
        frames_for_report,
        rcfg,
        ground_truth=gt_for_report if gt_src else None,
        audit_samples=config.audit_samples,
        model_hashes=model_hashes(rcfg) if rows else {},
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
        "frames_sha256": combine_hashes(frame_hashes),
    }
    lake.write_json(tables.REDACTED_FRAMES.sidecar(tables.REDACTION_REPORT, drive_id=drive_id), report)
    signature = sign_document(report)
    lake.write_json(
        tables.REDACTED_FRAMES.sidecar(tables.REDACTION_REPORT_SIGNATURE, drive_id=drive_id), signature
    )

    faces = sum(r["faces"] for r in rows)
    plates = sum(r["plates"] for r in rows)
    md: dict[str, Any] = {
        "av/frames": len(rows),
        "av/faces": faces,
        "av/plates": plates,
        "av/frames_with_detections": report["frames_with_detections"],
        "av/frames_per_s": round(len(rows) / det_s, 3) if det_s else 0.0,
        "av/wall_s": round(wall_s, 2),
        "av/config_version": rcfg.version,
        "av/detector_versions": dg.MetadataValue.json(report["detector_versions"]),
        "av/report_path": tables.REDACTED_FRAMES.sidecar(tables.REDACTION_REPORT, drive_id=drive_id),
        "av/report_signer": signature["public_key"],
    }
    ev = report.get("evaluation")
    if ev:
        for kind in ("face", "plate"):
            md[f"av/{kind}_recall"] = ev[kind]["recall"] if ev[kind]["recall"] is not None else float("nan")
            md[f"av/{kind}_precision"] = (
                ev[kind]["precision"] if ev[kind]["precision"] is not None else float("nan")
            )
    context.log.info(f"{drive_id}: {len(rows)} frames redacted, {faces} faces, {plates} plates")
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=combine_hashes([index_sha, sha256_json(report)]),
        uri=index_uri,
        row_count=len(rows),
        schema=INDEX_SCHEMA,
        metadata=md,
    )
