"""Front camera: a plain road with lane markings and the objects as shaded cuboids, drawn through the
pinhole model of the published CameraInfo (no distortion), JPEG-encoded; plus the exact 2D boxes.

2D boxes are the projection of each ground-truth cuboid (clipped against the near plane z >= 0.1 m
in the optical frame), the bounding rectangle clipped to the image [0, W] x [0, H]; objects wholly
behind the camera or wholly outside the image are omitted. Boxes ignore occlusion (they are the
cuboid's projection); `depth_m` and `truncated` come with each box.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from av_fleet import params as P
from av_fleet.roads import Route
from av_fleet.sensors.rig import Intrinsics, base_to_optical, cuboid_corners

NEAR = 0.1
EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7))
FACES = ((0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7), (4, 5, 6, 7), (0, 3, 2, 1))
CLASS_BGR = {
    "car": (60, 60, 200),
    "truck": (40, 140, 230),
    "bus": (30, 200, 230),
    "pedestrian": (200, 120, 40),
    "cyclist": (180, 60, 160),
    "motorcyclist": (140, 40, 120),
    "traffic_cone": (20, 110, 250),
    "barrier": (235, 235, 235),
}
LIGHT_GAIN = {"day": 1.0, "dusk": 0.68, "night": 0.38}


def project_box(corners_base: np.ndarray, intr: Intrinsics) -> tuple[list[float], float, bool] | None:
    """Exact image box of a cuboid: [x_min, y_min, x_max, y_max], depth, truncated; None if not visible."""
    c = base_to_optical(corners_base)
    z = c[:, 2]
    if (z < NEAR).all():
        return None
    pts = [c[i] for i in range(8) if z[i] >= NEAR]
    for a, b in EDGES:
        if (z[a] >= NEAR) != (z[b] >= NEAR):
            u = (NEAR - z[a]) / (z[b] - z[a])
            pts.append(c[a] + u * (c[b] - c[a]))
    p = np.array(pts)
    u = intr.fx * p[:, 0] / p[:, 2] + intr.cx
    v = intr.fy * p[:, 1] / p[:, 2] + intr.cy
    x0, x1, y0, y1 = u.min(), u.max(), v.min(), v.max()
    cx0, cx1 = max(0.0, x0), min(float(intr.width), x1)
    cy0, cy1 = max(0.0, y0), min(float(intr.height), y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    truncated = bool((z < NEAR).any() or x0 < 0 or y0 < 0 or x1 > intr.width or y1 > intr.height)
    return [float(cx0), float(cy0), float(cx1), float(cy1)], float(z[z >= NEAR].min()), truncated


class CameraRenderer:
    def __init__(self, intr: Intrinsics, route: Route, rng: np.random.Generator, light: str, weather: str):
        self.intr = intr
        self.route = route
        self.gain = LIGHT_GAIN[light]
        self.weather = weather
        h, w = intr.height, intr.width
        noise = np.round(rng.normal(0.0, 2.5, size=(h + 16, w + 16))).astype(np.int16)
        self.noise_pos = np.repeat(np.clip(noise, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
        self.noise_neg = np.repeat(np.clip(-noise, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
        sky = np.zeros((h, w, 3), np.uint8)
        top = np.array([200, 150, 110], float) if weather == "clear" else np.array([170, 165, 160], float)
        bottom = np.array([235, 215, 200], float) if weather == "clear" else np.array([200, 200, 198], float)
        for r in range(h):
            f = min(1.0, r / max(1.0, intr.cy))
            sky[r, :] = (top * (1 - f) + bottom * f).astype(np.uint8)
        ground = np.array([70, 110, 85], np.uint8)  # verges and buildings' feet, BGR
        sky[int(math.ceil(intr.cy)) :, :] = ground
        self.background = sky
        near = np.arange(2.5, 24.0, 1.0)
        far = np.arange(24.0, 140.0, 3.0)
        self.s_offsets = np.concatenate([near, far])

    def _frame_road(self, s: np.ndarray):
        x, y, h = self.route.pose(s)
        return x, y, np.sin(h), np.cos(h)

    def _band(self, img, road, d0, d1, ego, color, mask=None):
        x, y, sn, cs = road
        ex, ey, eyaw = ego
        c, s_ = math.cos(eyaw), math.sin(eyaw)
        pts = []
        for d in (d0, d1):
            dx, dy = x - d * sn - ex, y + d * cs - ey
            xb, yb = c * dx + s_ * dy, -s_ * dx + c * dy
            pts.append(base_to_optical(np.stack([xb, yb, np.zeros_like(xb)], axis=1)))
        a, b = pts
        ok = (a[:, 2] > NEAR) & (b[:, 2] > NEAR)
        keep = ok[:-1] & ok[1:]
        if mask is not None:
            keep &= mask[:-1]
        if not keep.any():
            return
        pa, pb = self._to_px(np.where(ok[:, None], a, 1.0)), self._to_px(np.where(ok[:, None], b, 1.0))
        q = np.stack([pa[:-1], pa[1:], pb[1:], pb[:-1]], axis=1)[keep]
        q = (np.clip(q, -4000, 4000) * 16).astype(np.int32)
        cv2.fillPoly(img, list(q), color, lineType=cv2.LINE_AA, shift=4)

    def _to_px(self, p: np.ndarray) -> np.ndarray:
        u = self.intr.fx * p[:, 0] / p[:, 2] + self.intr.cx
        v = self.intr.fy * p[:, 1] / p[:, 2] + self.intr.cy
        return np.stack([u, v], axis=1)

    def render(self, ego_pose: tuple[float, float, float], ego_s: float, objects: list[dict]) -> bytes:
        img = self.background.copy()
        road = self._frame_road(ego_s + self.s_offsets)
        self._band(img, road, -7.0, -4.6, ego_pose, (150, 155, 160))  # sidewalk
        self._band(img, road, -4.6, 8.75, ego_pose, (88, 86, 84))  # asphalt (two lanes + oncoming)
        for d, col in ((-1.75, (235, 235, 235)), (8.65, (235, 235, 235)), (5.25, (40, 200, 230))):
            self._band(img, road, d - 0.06, d + 0.06, ego_pose, col)
        ss = ego_s + np.arange(2.5, 90.0, 1.5)
        dash = (np.floor(ss / 4.5).astype(int) % 2) == 0
        self._band(img, self._frame_road(ss), 1.69, 1.81, ego_pose, (235, 235, 235), mask=dash)
        # objects, far to near, visible faces only
        for ob in sorted(objects, key=lambda o: -(o["xb"] ** 2 + o["yb"] ** 2)):
            corners = cuboid_corners(
                np.array([ob["xb"], ob["yb"], ob["size"][2] / 2]), ob["size"], ob["yawb"]
            )
            c = base_to_optical(corners)
            if (c[:, 2] < NEAR).all():
                continue
            base = np.array(CLASS_BGR[ob["cls"]], float)
            center = c.mean(axis=0)
            for fi, face in enumerate(FACES):
                poly = c[list(face)]
                fc = poly.mean(axis=0)
                normal = fc - center
                if np.dot(normal, fc) >= 0:  # facing away from the camera
                    continue
                poly = _clip_near(poly)
                if len(poly) < 3:
                    continue
                shade = (0.62, 0.78, 0.62, 0.78, 1.0, 0.5)[fi]
                px = (np.clip(self._to_px(poly), -4000, 4000) * 16).astype(np.int32)
                cv2.fillConvexPoly(
                    img, px, tuple(float(v) for v in base * shade), lineType=cv2.LINE_AA, shift=4
                )
        if self.weather in ("rain", "fog"):
            haze = 0.25 if self.weather == "rain" else 0.45
            img = cv2.addWeighted(img, 1 - haze, np.full_like(img, 190), haze, 0)
        if self.gain != 1.0:
            img = cv2.convertScaleAbs(img, alpha=self.gain)
        h, w = self.intr.height, self.intr.width
        off = int((ego_s * 7.0) % 16)
        img = cv2.add(img, self.noise_pos[off : off + h, off : off + w])
        img = cv2.subtract(img, self.noise_neg[off : off + h, off : off + w])
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, P.CAMERA_JPEG_QUALITY])
        assert ok
        return buf.tobytes()


def _clip_near(poly: np.ndarray) -> np.ndarray:
    out = []
    n = len(poly)
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        ina, inb = a[2] >= NEAR, b[2] >= NEAR
        if ina:
            out.append(a)
        if ina != inb:
            u = (NEAR - a[2]) / (b[2] - a[2])
            out.append(a + u * (b - a))
    return np.array(out)
