"""The visual part of the embeddings, behind one interface so a perception backbone can replace it.

`VisualEncoder`: `name`, `version`, `dim`, `input_size` (W, H the images are decoded to) and
`encode(images) -> (n, dim) float32`, one L2-normalised row per RGB uint8 image (a zero row for an
image that carries nothing). The default, `ColourLayoutEncoder`, needs nothing but numpy:

| block | dims | weight | what |
|---|---|---|---|
| colour | 27 | 1.0 | joint RGB histogram, 3 bins per channel |
| light | 6 | 1.0 | luma mean, std, p10, p50, p90 and the share of dark pixels (< 40/255) |
| layout | 36 | 1.0 | mean RGB of a 4 x 3 grid (sky / road / sides) |
| edges | 9 | 0.7 | 8-bin gradient orientation histogram (magnitude-weighted) and edge density |

A backbone (e.g. a DINOv2 / CLIP image tower on the GPU) implements the same protocol; the keyframe
and clip tables record `encoder.name` / `encoder.version` through the model version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class VisualEncoder(Protocol):
    name: str
    version: str
    dim: int
    input_size: tuple[int, int]

    def encode(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(n, dim) float32, each row unit norm (or zero)."""
        ...


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-12 else v


def colour_histogram(rgb: np.ndarray, bins: int = 3) -> np.ndarray:
    """Joint RGB histogram (bins^3), normalised to sum 1."""
    q = (rgb.reshape(-1, 3).astype(np.int64) * bins) // 256
    idx = q[:, 0] * bins * bins + q[:, 1] * bins + q[:, 2]
    h = np.bincount(idx, minlength=bins**3).astype(float)
    return h / max(h.sum(), 1.0)


class ColourLayoutEncoder:
    """Colour, light, coarse layout and edge statistics of a small thumbnail (numpy only)."""

    name = "colour-layout"
    version = "1"
    input_size = (64, 36)
    GRID = (3, 4)  # rows, cols
    WEIGHTS = {"colour": 1.0, "light": 1.0, "layout": 1.0, "edges": 0.7}
    dim = 27 + 6 + 3 * 4 * 3 + 9

    def blocks(self, rgb: np.ndarray) -> dict[str, np.ndarray]:
        img = rgb.astype(np.float64) / 255.0
        luma = img @ np.array([0.299, 0.587, 0.114])
        h, w = luma.shape
        gr, gc = self.GRID
        layout = [
            img[r * h // gr : (r + 1) * h // gr, c * w // gc : (c + 1) * w // gc].reshape(-1, 3).mean(axis=0)
            for r in range(gr)
            for c in range(gc)
        ]
        gy, gx = np.gradient(luma)
        mag = np.hypot(gx, gy)
        ang = np.mod(np.arctan2(gy, gx), np.pi)  # orientation, sign-free
        orient = np.bincount(
            np.minimum((ang / np.pi * 8).astype(int), 7).ravel(), weights=mag.ravel(), minlength=8
        )
        orient = orient / max(orient.sum(), 1e-12)
        return {
            "colour": colour_histogram(rgb),
            "light": np.array(
                [
                    luma.mean(),
                    luma.std() * 2,
                    *np.percentile(luma, [10, 50, 90]),
                    float((luma < 40 / 255).mean()),
                ]
            ),
            "layout": np.concatenate(layout),
            "edges": np.concatenate([orient, [float(np.tanh((mag > 0.08).mean() * 4))]]),
        }

    def encode(self, images: Sequence[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(images), self.dim), np.float32)
        for i, rgb in enumerate(images):
            parts = [self.WEIGHTS[k] * _unit(v) for k, v in self.blocks(rgb).items()]
            out[i] = _unit(np.concatenate(parts))
        return out


DEFAULT_ENCODER = ColourLayoutEncoder()


def decode_rgb(data: bytes, size: tuple[int, int]) -> np.ndarray:
    """JPEG/PNG bytes -> RGB uint8 at `size` (W, H); JPEG draft mode decodes at reduced scale."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (size[0] * 2, size[1] * 2))
        return np.asarray(im.convert("RGB").resize(size))
