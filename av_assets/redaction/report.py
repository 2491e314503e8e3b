"""The per-drive redaction report: what was scanned, found, with which detectors and thresholds, and —
where ground-truth face/plate boxes exist — recall, precision and a sampled audit list."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from av_assets.redaction.config import DEFAULT_CONFIG, RedactionConfig
from av_assets.redaction.redact import MATCH_COVERAGE, MATCH_IOU, Detection, match_counts

REPORT_SCHEMA_VERSION = 1


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def redaction_report(
    drive_id: str,
    frames: Sequence[Mapping[str, Any]],
    config: RedactionConfig = DEFAULT_CONFIG,
    *,
    ground_truth: Mapping[str, Mapping[str, Sequence[Sequence[float]]]] | None = None,
    audit_samples: int = 10,
    seed: int = 0,
    model_hashes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Build the report of one drive.

    `frames`: one mapping per redacted frame with `frame_id` (str), `detections` (list of `Detection`
    or dicts with kind/box/score), optional `path` (the redacted JPEG) and `crops` (paths of audit
    crops). `ground_truth`: `{frame_id: {"faces": [[x1,y1,x2,y2]...], "plates": [...]}}` in the same
    (working-resolution) pixel coordinates; frames absent from it are not evaluated.
    Matching rule: IoU >= 0.3 or the detection covers >= 70 % of the ground-truth box, one-to-one.
    """
    faces = plates = 0
    per_kind = {"face": {"tp": 0, "fp": 0, "fn": 0}, "plate": {"tp": 0, "fp": 0, "fn": 0}}
    evaluated = 0
    frames_with_pii: list[str] = []
    for fr in frames:
        dets = [d.to_dict() if isinstance(d, Detection) else dict(d) for d in fr.get("detections", [])]
        n_faces = sum(d["kind"] == "face" for d in dets)
        n_plates = sum(d["kind"] == "plate" for d in dets)
        faces += n_faces
        plates += n_plates
        if n_faces or n_plates:
            frames_with_pii.append(str(fr["frame_id"]))
        gt = (ground_truth or {}).get(str(fr["frame_id"]))
        if gt is None:
            continue
        evaluated += 1
        for kind, key in (("face", "faces"), ("plate", "plates")):
            counts = match_counts(list(gt.get(key, [])), [d["box"] for d in dets if d["kind"] == kind])
            for k, v in counts.items():
                per_kind[kind][k] += v

    report: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "drive_id": drive_id,
        "config_version": config.version,
        "config_sha256": config.fingerprint(),
        "working_max_side": config.working_max_side,
        "detector_versions": config.detector_versions(),
        "model_sha256": dict(model_hashes or {}),
        "thresholds": config.thresholds(),
        "anonymisation": {
            "method": "pixelate+gaussian_blur",
            "pixel_cells": config.pixel_cells,
            "blur_sigma_frac": config.blur_sigma_frac,
            "face_margin": config.face_margin,
            "plate_margin": config.plate_margin,
        },
        "frames_scanned": len(frames),
        "frames_with_detections": len(frames_with_pii),
        "faces_found": faces,
        "plates_found": plates,
        "evaluation": None,
    }
    if ground_truth is not None:
        ev: dict[str, Any] = {
            "frames_evaluated": evaluated,
            "match_rule": f"IoU>={MATCH_IOU} or coverage>={MATCH_COVERAGE}",
        }
        for kind, c in per_kind.items():
            ev[kind] = {
                **c,
                "recall": _ratio(c["tp"], c["tp"] + c["fn"]),
                "precision": _ratio(c["tp"], c["tp"] + c["fp"]),
            }
        report["evaluation"] = ev
    # A reproducible audit sample: frames with detections first (was the redaction right?), then a few
    # without (was anything missed?). Reviewers open `path` and `crops`.
    rng = random.Random(f"{drive_id}:{seed}")
    by_id = {str(fr["frame_id"]): fr for fr in frames}
    with_pii = sorted(frames_with_pii)
    without = sorted(set(by_id) - set(with_pii))
    half = max(1, audit_samples // 2) if audit_samples else 0
    picked = rng.sample(with_pii, min(len(with_pii), half)) if half else []
    picked += rng.sample(without, min(len(without), max(0, audit_samples - len(picked))))
    report["audit"] = [
        {"frame_id": fid, "path": by_id[fid].get("path"), "crops": list(by_id[fid].get("crops", []))}
        for fid in sorted(picked)
    ]
    return report
