"""What people and number plates look like: face textures (real photos shipped inside scikit-image:
`lfw_subset` faces and the `astronaut` portrait) and licence-plate textures with readable characters
(cv2's Hershey fonts and PIL's built-in font, both inside their wheels). Nothing is downloaded.

Everything is chosen deterministically from a track uuid, so a track keeps its face and plate for the
whole drive, and the render style (`default` | `heldout`) selects disjoint face sets, other fonts,
colours and layouts (docs/fleet.md).
"""

from __future__ import annotations

import hashlib
from functools import cache

import cv2
import numpy as np

from av_fleet import params as P

PLATE_TEX_H = 64  # texture height in px (width follows the plate's aspect ratio)


def _h(uid: str, salt: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}/{uid}".encode()).digest()[:8], "little")


@cache
def _lfw() -> np.ndarray:
    from skimage.data import lfw_subset

    return (np.clip(lfw_subset(), 0, 1) * 255).astype(np.uint8)  # (200, 25, 25); 0-99 faces


@cache
def _astronaut_face() -> np.ndarray:
    from skimage.data import astronaut

    return np.ascontiguousarray(astronaut()[62:190, 178:280, ::-1])  # BGR, forehead to chin


SKIN_TINTS = ((0.80, 0.92, 1.12), (0.70, 0.82, 1.0), (0.62, 0.72, 0.88), (0.86, 0.96, 1.10), (0.5, 0.6, 0.75))


@cache
def face_texture(style: str, uid: str) -> np.ndarray:
    """A BGR face image for this track (aspect ~ 1 : 1.25)."""
    src = P.FACE_SOURCES[style]
    lo, hi = src["lfw"]
    n = hi - lo + (1 if src["astronaut"] else 0)
    i = _h(uid, "face") % n
    if src["astronaut"] and i == n - 1:
        return _astronaut_face()
    g = _lfw()[lo + i].astype(np.float32)
    g = cv2.resize(g, (40, 50), interpolation=cv2.INTER_CUBIC)
    tint = np.array(SKIN_TINTS[_h(uid, "skin") % len(SKIN_TINTS)], np.float32)
    return np.clip(g[:, :, None] * tint[None, None, :], 0, 255).astype(np.uint8)


def plate_text(uid: str, layout: str) -> str:
    h = _h(uid, "plate")
    letters = "".join(P.PLATE_CHARS[(h >> (5 * k)) % len(P.PLATE_CHARS)] for k in range(3))
    digits = f"{(h >> 20) % 1000:03d}"
    if layout == "two_line":
        return f"{digits[0]}{letters}{digits[1:]}"
    return f"{letters}-{digits}"


def plate_style(style: str, uid: str) -> tuple:
    styles = P.PLATE_STYLES[style]
    return styles[_h(uid, "pstyle") % len(styles)]


@cache
def _pil_font(px: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=px)


def _put_pil(img: np.ndarray, text: str, box: tuple[int, int, int, int], color) -> None:
    from PIL import Image, ImageDraw

    x0, y0, x1, y1 = box
    pil = Image.fromarray(img[:, :, ::-1])
    d = ImageDraw.Draw(pil)
    px = max(8, int((y1 - y0) * 0.95))
    l_, t_, r_, b_ = d.textbbox((0, 0), text, font=_pil_font(px))
    if r_ - l_ > (x1 - x0) * 0.94:
        px = max(8, int(px * (x1 - x0) * 0.94 / (r_ - l_)))
    font = _pil_font(px)
    l_, t_, r_, b_ = d.textbbox((0, 0), text, font=font)
    x = x0 + ((x1 - x0) - (r_ - l_)) // 2 - l_
    y = y0 + ((y1 - y0) - (b_ - t_)) // 2 - t_
    d.text((x, y), text, font=font, fill=tuple(int(c) for c in color[::-1]))
    img[:] = np.asarray(pil)[:, :, ::-1]


def _put_hershey(img: np.ndarray, text: str, box: tuple[int, int, int, int], color, font: int) -> None:
    x0, y0, x1, y1 = box
    th = max(1, int(round((y1 - y0) / 9)))
    (tw, tht), _ = cv2.getTextSize(text, font, 1.0, th)
    scale = min((x1 - x0) * 0.94 / tw, (y1 - y0) * 0.78 / tht)
    (tw, tht), _ = cv2.getTextSize(text, font, scale, th)
    org = (x0 + ((x1 - x0) - tw) // 2, y0 + ((y1 - y0) + tht) // 2)
    cv2.putText(img, text, org, font, scale, tuple(int(c) for c in color), th, cv2.LINE_AA)


@cache
def plate_texture(style: str, uid: str) -> tuple[np.ndarray, str, str, tuple[float, float]]:
    """(BGR texture, text, style name, plate size in m) for this track's plate."""
    name, (w_m, h_m), bg, fg, band, layout, font = plate_style(style, uid)
    text = plate_text(uid, layout)
    h = PLATE_TEX_H
    w = int(round(h * w_m / h_m))
    img = np.empty((h, w, 3), np.uint8)
    img[:] = bg
    b = max(2, h // 16)
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), tuple(int(c * 0.5) for c in fg), b)  # rim
    x0 = b + 1
    if band is not None:
        bw = int(h * 0.42)
        img[b:-b, b : b + bw] = band
        cv2.circle(img, (b + bw // 2, h // 3), max(2, h // 10), (40, 200, 240), -1)  # the country mark
        x0 = b + bw + 2
    if layout == "two_line":
        top = (x0, b + 1, w - b - 1, int(h * 0.3))
        cv2.putText(img, "STATE", (x0 + 2, int(h * 0.26)), cv2.FONT_HERSHEY_PLAIN, h / 60, fg, 1, cv2.LINE_AA)
        main = (x0, top[3], w - b - 1, h - b - 1)
    else:
        main = (x0, b + 1, w - b - 1, h - b - 1)
    if font == "pil":
        _put_pil(img, text, main, fg)
    else:
        _put_hershey(img, text, main, fg, int(font))
    return img, text, name, (w_m, h_m)
