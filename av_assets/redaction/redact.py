"""PII redaction as pure functions: detect faces and plates, anonymise them irreversibly.

Images are RGB uint8 arrays (H, W, 3). `redact_frame` first brings the frame to the working resolution
(longest side <= `RedactionConfig.working_max_side`, never upscaled); the redacted image, and every
box it reports, are in that working resolution (`Detection.scale` maps back to the input).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from av_assets.redaction.config import DEFAULT_CONFIG, RedactionConfig


@dataclass(frozen=True)
class Detection:
    kind: str  # "face" | "plate"
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in working-resolution pixels
    score: float
    detector: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["box"] = [round(float(v), 2) for v in self.box]
        d["score"] = round(float(self.score), 4)
        return d


@dataclass
class FrameResult:
    redacted: np.ndarray
    detections: list[Detection]
    scale: float  # working / input
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def faces(self) -> int:
        return sum(d.kind == "face" for d in self.detections)

    @property
    def plates(self) -> int:
        return sum(d.kind == "plate" for d in self.detections)


def to_working_resolution(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale (INTER_AREA) so the longest side is <= max_side; returns (image, scale)."""
    import cv2

    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = np.ascontiguousarray(image[..., :3])
    if image.dtype != np.uint8:
        image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    h, w = image.shape[:2]
    scale = min(1.0, float(max_side) / max(h, w)) if max_side else 1.0
    if scale < 1.0:
        image = cv2.resize(
            image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    return image, scale


def expand_box(box: Sequence[float], margin: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    mw, mh = (x2 - x1) * margin, (y2 - y1) * margin
    h, w = shape[:2]
    return (
        max(0, int(np.floor(x1 - mw))),
        max(0, int(np.floor(y1 - mh))),
        min(w, int(np.ceil(x2 + mw))),
        min(h, int(np.ceil(y2 + mh))),
    )


def anonymize_region(image: np.ndarray, box: Sequence[int], config: RedactionConfig = DEFAULT_CONFIG) -> None:
    """In place: pixelate the region to at most `pixel_cells` cells along its shorter side, then
    Gaussian-blur it. The coarse grid discards the detail irreversibly; the blur removes cell edges."""
    import cv2

    x1, y1, x2, y2 = (int(v) for v in box)
    if x2 - x1 < 1 or y2 - y1 < 1:
        return
    region = image[y1:y2, x1:x2]
    rh, rw = region.shape[:2]
    short = min(rh, rw)
    cells = max(1, int(config.pixel_cells))
    gh = max(1, round(rh * cells / short))
    gw = max(1, round(rw * cells / short))
    small = cv2.resize(region, (gw, gh), interpolation=cv2.INTER_AREA)
    pix = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_NEAREST)
    sigma = max(1.0, config.blur_sigma_frac * short)
    image[y1:y2, x1:x2] = cv2.GaussianBlur(
        pix, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE
    )


def detect(
    image: np.ndarray, config: RedactionConfig = DEFAULT_CONFIG
) -> tuple[list[Detection], dict[str, float]]:
    """Faces and plates in an image already at working resolution."""
    from av_assets.redaction import detectors

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    net_faces, net_plates = detectors.detect_pii_net(image, config)
    timings["pii_net_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    faces = _union(detectors.detect_faces(image, config), "+".join(config.face_detectors), net_faces, config)
    timings["faces_s"] = time.perf_counter() - t0
    plates: list[tuple[np.ndarray, str]] = []
    if config.detect_plates:
        t0 = time.perf_counter()
        plates = _union(detectors.detect_plates(image, config), "text_det+plate_shape", net_plates, config)
        timings["plates_s"] = time.perf_counter() - t0
    elif config.pii_net:
        plates = [(b, "pii_net") for b in net_plates]
    dets = [Detection("face", tuple(float(v) for v in b[:4]), float(b[4]), name) for b, name in faces]
    dets += [Detection("plate", tuple(float(v) for v in b[:4]), float(b[4]), name) for b, name in plates]
    return dets, timings


def _union(
    boxes: np.ndarray, name: str, net_boxes: np.ndarray, config: RedactionConfig
) -> list[tuple[np.ndarray, str]]:
    """The detector's boxes plus every `pii_net` box that none of them already covers (IoU >= NMS IoU
    or containment), so one face/plate is redacted once and reported once."""
    from av_assets.redaction.detectors import nms

    out = [(b, name) for b in boxes]
    for nb in nms(net_boxes, config.face_nms_iou) if len(net_boxes) else []:
        if not any(
            iou(b[:4], nb[:4]) >= config.face_nms_iou
            or coverage(nb[:4], b[:4]) >= 0.7
            or coverage(b[:4], nb[:4]) >= 0.7
            for b, _ in out
        ):
            out.append((nb, "pii_net"))
    return out


def redact_frame(
    image: np.ndarray, config: RedactionConfig = DEFAULT_CONFIG
) -> tuple[np.ndarray, list[Detection]]:
    """Redact one RGB frame: returns (redacted frame at working resolution, detections in it)."""
    result = redact_frame_full(image, config)
    return result.redacted, result.detections


def redact_frame_full(image: np.ndarray, config: RedactionConfig = DEFAULT_CONFIG) -> FrameResult:
    t0 = time.perf_counter()
    work, scale = to_working_resolution(image, config.working_max_side)
    dets, timings = detect(work, config)
    redacted = work.copy()
    for d in dets:
        margin = config.face_margin if d.kind == "face" else config.plate_margin
        anonymize_region(redacted, expand_box(d.box, margin, redacted.shape), config)
    timings["total_s"] = time.perf_counter() - t0
    return FrameResult(redacted=redacted, detections=dets, scale=scale, timings_s=timings)


def redact_frames(
    frames: Iterable[np.ndarray], config: RedactionConfig = DEFAULT_CONFIG
) -> list[FrameResult]:
    """Redact a batch of frames (sequentially: ONNX Runtime already uses `config.threads` threads)."""
    return [redact_frame_full(f, config) for f in frames]


# ---- evaluation against ground-truth boxes ------------------------------------------------------
def iou(a: Sequence[float], b: Sequence[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def coverage(gt: Sequence[float], det: Sequence[float]) -> float:
    """Fraction of the ground-truth box's area inside the detection box."""
    iw = max(0.0, min(gt[2], det[2]) - max(gt[0], det[0]))
    ih = max(0.0, min(gt[3], det[3]) - max(gt[1], det[1]))
    area = (gt[2] - gt[0]) * (gt[3] - gt[1])
    return iw * ih / area if area > 0 else 0.0


# A detection matches a ground-truth box when IoU >= 0.3, or when it covers >= 70 % of the ground-truth
# box (a redaction that hides the whole plate with a generous box is a success, whatever its IoU).
MATCH_IOU = 0.3
MATCH_COVERAGE = 0.7


def matches(gt: Sequence[float], det: Sequence[float]) -> bool:
    return iou(gt, det) >= MATCH_IOU or coverage(gt, det) >= MATCH_COVERAGE


def match_counts(gt_boxes: Sequence[Sequence[float]], det_boxes: Sequence[Sequence[float]]) -> dict[str, int]:
    """Greedy one-to-one matching (by IoU, then coverage): true positives, false positives/negatives."""
    pairs = []
    for i, g in enumerate(gt_boxes):
        for j, d in enumerate(det_boxes):
            if matches(g, d):
                pairs.append((iou(g, d), coverage(g, d), i, j))
    pairs.sort(reverse=True)
    used_g: set[int] = set()
    used_d: set[int] = set()
    for _iou, _cov, i, j in pairs:
        if i not in used_g and j not in used_d:
            used_g.add(i)
            used_d.add(j)
    tp = len(used_g)
    return {"tp": tp, "fp": len(det_boxes) - len(used_d), "fn": len(gt_boxes) - tp}


# ---- one drive: the per-frame loop of `silver/redacted_frames` -----------------------------------
MAX_AUDIT_CROPS = 200


@dataclass
class DriveRedaction:
    """What `redact_drive` wrote and measured: index rows, per-frame report entries, the ground-truth
    boxes (working resolution) of the frames that have them, the JPEGs' sha256s and timings."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    frames_for_report: list[dict[str, Any]] = field(default_factory=list)
    gt_for_report: dict[str, dict[str, list]] = field(default_factory=dict)
    frame_hashes: list[str] = field(default_factory=list)
    detect_s: float = 0.0
    wall_s: float = 0.0

    @property
    def faces(self) -> int:
        return sum(r["faces"] for r in self.rows)

    @property
    def plates(self) -> int:
        return sum(r["plates"] for r in self.rows)


def redact_drive(
    drive_id: str,
    frames: Iterable[Any],
    config: RedactionConfig,
    *,
    prefix: str,
    write_bytes,
    gt_boxes: dict[tuple[str, int], dict[str, list]] | None = None,
    max_frames: int = 0,
    max_crops: int = MAX_AUDIT_CROPS,
) -> DriveRedaction:
    """Redact every camera frame (`CameraFrame`s: sensor_id, t_ns, data) and write, through
    `write_bytes(rel, data)`, its JPEG under `<prefix>/frames/<sensor>/<t_ns>.jpg` and up to
    `max_crops` audit crops of the redacted result under `<prefix>/audit/`; stop after `max_frames`."""
    import hashlib

    from av_assets.redaction.frames import decode_image, encode_jpeg

    gt_boxes = gt_boxes or {}
    out = DriveRedaction()
    crops_written = 0
    t0 = time.perf_counter()
    for frame in frames:
        result = redact_frame_full(decode_image(frame.data), config)
        out.detect_s += result.timings_s.get("total_s", 0.0)
        jpeg = encode_jpeg(result.redacted, config.jpeg_quality)
        rel = f"{prefix}/frames/{frame.sensor_id}/{frame.t_ns}.jpg"
        write_bytes(rel, jpeg)
        out.frame_hashes.append(hashlib.sha256(jpeg).hexdigest())
        frame_id = f"{frame.sensor_id}:{frame.t_ns}"
        crops = []
        for k, d in enumerate(result.detections):
            if crops_written >= max_crops:
                break
            # Crops of the *redacted* frame with context around the region: reviewers see the result.
            x1, y1, x2, y2 = expand_box(d.box, 1.0, result.redacted.shape)
            crop_rel = f"{prefix}/audit/{frame.sensor_id}_{frame.t_ns}_{k}_{d.kind}.jpg"
            write_bytes(crop_rel, encode_jpeg(result.redacted[y1:y2, x1:x2], 85))
            crops.append(crop_rel)
            crops_written += 1
        out.frames_for_report.append(
            {"frame_id": frame_id, "detections": result.detections, "path": rel, "crops": crops}
        )
        gt = gt_boxes.get((frame.sensor_id, frame.t_ns))
        if gt is not None:
            s = result.scale
            out.gt_for_report[frame_id] = {
                k: [[v * s for v in b[:4]] for b in boxes] for k, boxes in gt.items()
            }
        h, w = result.redacted.shape[:2]
        out.rows.append(
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
        if max_frames and len(out.rows) >= max_frames:
            break
    out.wall_s = time.perf_counter() - t0
    return out


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


def index_table(rows: list[dict[str, Any]]) -> Any:
    """The redacted-frames index (pyarrow.Table, `INDEX_SCHEMA`) of `DriveRedaction.rows`."""
    import pyarrow as pa

    return pa.Table.from_pylist(
        rows, schema=pa.schema([(k, getattr(pa, v)()) for k, v in INDEX_SCHEMA.items()])
    )
