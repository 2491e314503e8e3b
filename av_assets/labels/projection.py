"""Cuboids in base_link -> 2D boxes in a camera image: pinhole projection through the drive's
calibration, clipping at a near plane (a box reaching behind the camera must not wrap), clipping at
the image edge, and occlusion by depth order (nearer silhouettes hide farther ones)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from av_assets.shared.rig import extrinsics

# the 12 edges of a cuboid over corners numbered by bits (x: 1, y: 2, z: 4)
_EDGES = [(a, a | b) for a in range(8) for b in (1, 2, 4) if not a & b]


@dataclass(frozen=True)
class Camera:
    """A calibrated camera: base_link -> optical rotation/translation, intrinsics, native size."""

    sensor_id: str
    rot: np.ndarray  # optical axes expressed in base_link (3x3)
    trans: np.ndarray  # optical origin in base_link (3,)
    k: np.ndarray  # 3x3
    width: int
    height: int

    @classmethod
    def from_calibration(cls, calibration: dict, sensor_id: str) -> Camera | None:
        ex = extrinsics(calibration, sensor_id)
        intr = ((calibration.get("sensors") or {}).get(sensor_id) or {}).get("intrinsics") or {}
        if ex is None or not intr.get("K") or not intr.get("width"):
            return None
        return cls(
            sensor_id,
            ex[0],
            ex[1],
            np.asarray(intr["K"], float).reshape(3, 3),
            int(intr["width"]),
            int(intr["height"]),
        )

    def to_optical(self, pts: np.ndarray) -> np.ndarray:
        """(..., 3) base_link -> camera optical frame (z forward)."""
        return (pts - self.trans) @ self.rot

    def pixels(self, cam: np.ndarray) -> np.ndarray:
        """(..., 3) optical-frame points in front of the camera -> (..., 2) pixels."""
        uvw = cam @ self.k.T
        return uvw[..., :2] / uvw[..., 2:3]

    def scaled(self, width: int, height: int) -> Camera:
        """The same camera at another resolution (a frame resized from the calibrated size)."""
        if (width, height) == (self.width, self.height):
            return self
        k = self.k.copy()
        k[0] *= width / self.width
        k[1] *= height / self.height
        return replace(self, k=k, width=int(width), height=int(height))


def cuboid_corners(x, y, z0, length, width, height, yaw) -> np.ndarray:
    """(n, 8, 3) corners of ground-standing cuboids (base z0, centre x/y, heading yaw) in base_link."""
    bits = np.arange(8)
    sx = np.where(bits & 1, 0.5, -0.5)
    sy = np.where(bits & 2, 0.5, -0.5)
    sz = np.where(bits & 4, 1.0, 0.0)
    lx = sx[None] * np.asarray(length)[:, None]
    ly = sy[None] * np.asarray(width)[:, None]
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    return np.stack(
        [
            np.asarray(x)[:, None] + c * lx - s * ly,
            np.asarray(y)[:, None] + s * lx + c * ly,
            np.asarray(z0)[:, None] + sz[None] * np.asarray(height)[:, None],
        ],
        axis=-1,
    )


def project_cuboids(cam: Camera, corners: np.ndarray, near_m: float) -> tuple[np.ndarray, list, np.ndarray]:
    """Per cuboid: the 2D box of its visible part before image clipping (x0, y0, x1, y1; NaN when
    wholly behind the near plane), its silhouette polygon (pixels, convex hull) and its nearest depth."""
    import cv2

    oc = cam.to_optical(corners)  # (n, 8, 3)
    boxes = np.full((len(oc), 4), np.nan)
    hulls: list = [None] * len(oc)
    depth = np.full(len(oc), np.inf)
    for i, pts in enumerate(oc):
        z = pts[:, 2]
        if (z <= near_m).all():
            continue
        keep = [pts[z > near_m]]
        for a, b in _EDGES:  # where an edge crosses the near plane
            if (z[a] - near_m) * (z[b] - near_m) < 0:
                f = (near_m - z[a]) / (z[b] - z[a])
                keep.append((pts[a] + f * (pts[b] - pts[a]))[None])
        vis = np.concatenate(keep)
        uv = cam.pixels(vis)
        boxes[i] = [uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()]
        hulls[i] = cv2.convexHull(np.clip(uv, -1e5, 1e5).astype(np.float32)).reshape(-1, 2)
        depth[i] = float(np.linalg.norm(vis, axis=1).min())
    return boxes, hulls, depth


def visible_fractions(
    cam: Camera, boxes: np.ndarray, hulls: list, depth: np.ndarray, scale: float = 0.25
) -> tuple[np.ndarray, np.ndarray]:
    """Share of each silhouette's pixels inside the image and not hidden by a nearer one (on a grid
    `scale` times the image size), and each box clipped to the image (NaN when nothing is inside)."""
    import cv2

    w, h = max(1, round(cam.width * scale)), max(1, round(cam.height * scale))
    taken = np.zeros((h, w), np.uint8)
    frac = np.zeros(len(boxes))
    clipped = np.full_like(boxes, np.nan)
    for i in np.argsort(depth, kind="stable"):
        if hulls[i] is None:
            continue
        poly = hulls[i] * scale
        full = abs(cv2.contourArea(poly.astype(np.float32)))
        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, np.round(poly * 16).astype(np.int32), 1, shift=4)
        own = (mask > 0) & (taken == 0)
        frac[i] = min(1.0, own.sum() / max(full, 1.0))
        taken |= mask
        x0, y0, x1, y1 = boxes[i]
        c = [max(x0, 0.0), max(y0, 0.0), min(x1, float(cam.width)), min(y1, float(cam.height))]
        if c[2] > c[0] and c[3] > c[1]:
            clipped[i] = c
    return frac, clipped
