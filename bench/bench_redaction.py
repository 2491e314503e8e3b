"""Redaction throughput at the working resolution (1280x720, 2 ONNX Runtime threads) vs references
measured side by side: JPEG decode + encode only, and decode + whole-frame GaussianBlur + encode.

Input: the 6 nuScenes camera JPEGs (1600x900) from ../shared/data/kitti_nuscenes_nc when present,
else synthetic 1600x900 JPEGs (noise + shapes), so the bench runs anywhere.
"""

from __future__ import annotations

import os
import time
from functools import cache
from pathlib import Path

import numpy as np


@cache
def _jpegs() -> list[bytes]:
    base = Path(
        os.environ.get("AV_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
    paths = sorted((base / "kitti_nuscenes_nc" / "nuscenes").glob("*.jpg"))
    if paths:
        return [p.read_bytes() for p in paths]
    import cv2

    rng = np.random.default_rng(0)
    out = []
    for _ in range(6):
        img = cv2.GaussianBlur(rng.integers(0, 255, (900, 1600, 3), dtype=np.uint8), (0, 0), 3)
        ok, buf = cv2.imencode(".jpg", img)
        out.append(buf.tobytes())
    return out


def _fps(step) -> float:
    frames = _jpegs()
    t0 = time.perf_counter()
    for data in frames:
        step(data)
    return len(frames) / (time.perf_counter() - t0)


def _redact(data: bytes) -> None:
    from av_assets.redaction.config import DEFAULT_CONFIG
    from av_assets.redaction.frames import decode_image, encode_jpeg
    from av_assets.redaction.redact import redact_frame

    redacted, _ = redact_frame(decode_image(data), DEFAULT_CONFIG)
    encode_jpeg(redacted, DEFAULT_CONFIG.jpeg_quality)


def _codec_only(data: bytes) -> None:
    from av_assets.redaction.frames import decode_image, encode_jpeg
    from av_assets.redaction.redact import to_working_resolution

    encode_jpeg(to_working_resolution(decode_image(data), 1280)[0], 90)


def _blur_all(data: bytes) -> None:
    import cv2

    from av_assets.redaction.frames import decode_image, encode_jpeg
    from av_assets.redaction.redact import to_working_resolution

    img = to_working_resolution(decode_image(data), 1280)[0]
    encode_jpeg(cv2.GaussianBlur(img, (0, 0), 8), 90)


def _warm() -> None:
    _redact(_jpegs()[0])  # model sessions are created once per process


def _redaction_fps() -> float:
    _warm()
    return _fps(_redact)


CASES = [
    {
        "name": "redaction_fps_vs_jpeg_codec",
        "unit": "frames/s (1280x720)",
        "run": _redaction_fps,
        "reference": lambda: _fps(_codec_only),
    },
    {
        "name": "redaction_fps_vs_full_blur",
        "unit": "frames/s (1280x720)",
        "run": _redaction_fps,
        "reference": lambda: _fps(_blur_all),
    },
]


if __name__ == "__main__":
    from bench.run import main, module_cli

    module_cli(__doc__)
    raise SystemExit(main(["bench_redaction"]))
