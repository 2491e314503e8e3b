"""Front camera: a plain road with lane markings and the objects as shaded cuboids, drawn through the
pinhole model of the published CameraInfo (no distortion), JPEG-encoded; plus the exact 2D boxes.

2D boxes are the projection of each ground-truth cuboid (clipped against the near plane z >= 0.1 m
in the optical frame), the bounding rectangle clipped to the image [0, W] x [0, H]; objects wholly
behind the camera or wholly outside the image are omitted. Boxes ignore occlusion (they are the
cuboid's projection); `depth_m` and `truncated` come with each box. Visibility is measured separately on
the label buffer (`CameraRenderer.visibility` after each `render`), as is the per-pixel segmentation
ground truth (`CameraRenderer.segmentation`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from av_fleet import params as P
from av_fleet.roads import Route
from av_fleet.sensors import appearance
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


VEHICLES = ("car", "truck", "bus")
RIDERS = ("pedestrian", "cyclist", "motorcyclist")  # classes that carry a face
CAR_PALETTES = {
    "default": ((60, 60, 200), (200, 200, 205), (40, 40, 40), (150, 90, 30), (30, 120, 40), (230, 230, 230)),
    "heldout": (
        (20, 20, 120),
        (110, 110, 115),
        (190, 170, 60),
        (90, 160, 200),
        (60, 60, 60),
        (160, 200, 230),
    ),
}
SKY = {
    "default": ((200, 150, 110), (235, 215, 200), (170, 165, 160), (200, 200, 198)),
    "heldout": ((190, 160, 140), (225, 220, 215), (150, 150, 150), (185, 185, 185)),
}
ASPHALT = {"default": (88, 86, 84), "heldout": (70, 72, 76)}
# segmentation ground truth: class indices of SEG_CLASSES (background, drivable, lane_marking) and the
# drivable band's lateral extent (m, + = left of the ego lane centre): right edge line .. left edge line
SEG_BACKGROUND, SEG_DRIVABLE, SEG_LANE_MARKING = 0, 1, 2
DRIVABLE_D = (-1.75, 8.65)


def _uid_int(uid: str, salt: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{salt}/{uid}".encode()).digest()[:4], "little")


class CameraRenderer:
    """Draws one frame from the true scene; `render` returns (JPEG bytes, PII list).

    Painter's order (far to near) with a label buffer (which surface owns each pixel) and a depth
    buffer (for fog, rain haze and headlight fall-off). Faces are camera-facing billboards at head
    height pasted at integer pixel rectangles; plates are textures warped onto the vehicle's rear
    (or front) face through the homography of its projected corners. Each PII item's box is exactly
    where its pixels went (clipped to the image); its visible fraction is the share of its pixels still
    its own after nearer surfaces were drawn, times the share of its area inside the image.

    After each `render`:
      `visibility`    {track uuid: visible fraction} for every object drawn: the pixels it (its body
                      faces and its plates / face) owns in the final label buffer / the pixels it owned
                      right after it was drawn (its whole silhouette inside the image, as nothing drawn
                      later had covered it yet), times the share of its silhouette's area (projected
                      front faces, near-plane clipped) inside the image; 0.0 if it got no pixel.
      `segmentation`  uint8 H x W class indices (0 background, 1 drivable, 2 lane_marking): the asphalt
                      painted between the solid edge lines (ego lane, left lane, oncoming lane; not the
                      parking strip right of the right edge line, nor the sidewalk), the painted
                      markings over it, and every object pixel (label buffer) back to background."""

    def __init__(
        self,
        intr: Intrinsics,
        route: Route,
        rng: np.random.Generator,
        light: str,
        weather: str,
        style: str = "default",
    ):
        self.intr = intr
        self.route = route
        self.light, self.weather, self.style = light, weather, style
        self.visibility: dict[str, float] = {}
        self.segmentation: np.ndarray | None = None
        h, w = intr.height, intr.width
        self.noise_std = P.CAMERA_NOISE_STD[light]
        noise = np.round(rng.normal(0.0, self.noise_std, size=(h + 16, w + 16))).astype(np.int16)
        self.noise_pos = np.repeat(np.clip(noise, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
        self.noise_neg = np.repeat(np.clip(-noise, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
        t0, b0, t1, b1 = SKY[style]
        clear = weather == "clear"
        top = np.array(t0 if clear else t1, float)
        bottom = np.array(b0 if clear else b1, float)
        sky = np.zeros((h, w, 3), np.uint8)
        for r in range(h):
            f = min(1.0, r / max(1.0, intr.cy))
            sky[r, :] = (top * (1 - f) + bottom * f).astype(np.uint8)
        horizon = int(math.ceil(intr.cy))
        sky[horizon:, :] = (70, 110, 85)  # verges and buildings' feet, BGR
        self.background = sky
        # depth of the flat ground per row (optical z), inf above the horizon
        v = np.arange(h, dtype=np.float64) + 0.5
        cam_h = 1.45
        with np.errstate(divide="ignore"):
            zrow = np.where(v > intr.cy + 0.5, intr.fy * cam_h / (v - intr.cy), np.inf)
        self.ground_depth = np.repeat(np.minimum(zrow, 1e4).astype(np.float32)[:, None], w, axis=1)
        near = np.arange(2.5, 24.0, 1.0)
        far = np.arange(24.0, 140.0, 3.0)
        self.s_offsets = np.concatenate([near, far])
        # light: ambient gain x style, plus the ego's low beams at dusk/night
        sl = P.STYLE_LIGHT[style]
        self.tint = np.array(sl["tint"], np.float32) * sl["gain"]
        amb = P.LIGHT_GAIN[light]
        self.extinction = 0.0
        if weather == "fog":
            self.extinction = 3.0 / float(rng.uniform(*P.FOG_VISIBILITY_M))
        elif weather == "rain":
            self.extinction = 3.0 / float(rng.uniform(*P.RAIN_VISIBILITY_M))
        self.fog_bgr = np.array((190, 190, 188) if weather != "rain" else (150, 150, 150), np.float32)
        self.lit = light != "day"
        if self.lit:
            u = (np.arange(w, dtype=np.float32) + 0.5 - intr.cx) / intr.fx  # tan of the azimuth
            vv = (np.arange(h, dtype=np.float32) + 0.5 - intr.cy) / intr.fy
            cone = np.exp(-((u[None, :] / 0.45) ** 2)) * np.clip(0.35 + vv[:, None] * 2.5, 0.0, 1.0)
            self.beam = (cone * (1.0 - amb)).astype(np.float32)
        self.ambient = amb
        # rain streaks: one layer per drive, scrolled per frame
        self.streaks = None
        if weather == "rain":
            n = int(rng.integers(*P.RAIN_STREAKS) * (w * h) / (640 * 360))
            layer = np.zeros((2 * h, w), np.uint8)
            xs = rng.uniform(0, w, n)
            ys = rng.uniform(0, 2 * h, n)
            ln = rng.uniform(6, 18, n) * h / 360
            for x, y, length in zip(xs, ys, ln, strict=True):
                cv2.line(
                    layer, (int(x), int(y)), (int(x - 0.15 * length), int(y + length)), 70, 1, cv2.LINE_AA
                )
            self.streaks = layer

    def _frame_road(self, s: np.ndarray):
        x, y, h = self.route.pose(s)
        return x, y, np.sin(h), np.cos(h)

    def _band(self, img, road, d0, d1, ego, color, mask=None) -> list[np.ndarray]:
        """Fill the ground band between lateral offsets d0..d1 (anti-aliased); returns its quads."""
        q = self._band_quads(road, d0, d1, ego, mask)
        if q:
            cv2.fillPoly(img, q, color, lineType=cv2.LINE_AA, shift=4)
        return q

    def _band_quads(self, road, d0, d1, ego, mask=None) -> list[np.ndarray]:
        """The band's quads in 1/16 px (cv2 shift 4), one per road step both ends of which are in front."""
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
            return []
        pa, pb = self._to_px(np.where(ok[:, None], a, 1.0)), self._to_px(np.where(ok[:, None], b, 1.0))
        q = np.stack([pa[:-1], pa[1:], pb[1:], pb[:-1]], axis=1)[keep]
        q = (np.clip(q, -4000, 4000) * 16).astype(np.int32)
        return list(q)

    def _to_px(self, p: np.ndarray) -> np.ndarray:
        u = self.intr.fx * p[:, 0] / p[:, 2] + self.intr.cx
        v = self.intr.fy * p[:, 1] / p[:, 2] + self.intr.cy
        return np.stack([u, v], axis=1)

    def _fill(self, img, depth, label, px, color, z, lab):
        q = (np.clip(px, -4000, 4000) * 16).astype(np.int32)
        cv2.fillConvexPoly(img, q, color, lineType=cv2.LINE_AA, shift=4)
        qi = np.round(np.clip(px, -4000, 4000)).astype(np.int32)
        cv2.fillConvexPoly(depth, qi, float(z))
        cv2.fillConvexPoly(label, qi, int(lab))

    def _color(self, ob) -> np.ndarray:
        if ob["cls"] in VEHICLES:
            pal = CAR_PALETTES[self.style]
            return np.array(pal[_uid_int(ob["uid"], "paint") % len(pal)], float)
        return np.array(CLASS_BGR[ob["cls"]], float)

    def render(
        self, ego_pose: tuple[float, float, float], ego_s: float, objects: list[dict]
    ) -> tuple[bytes, list[dict]]:
        W, H = self.intr.width, self.intr.height
        img = self.background.copy()
        depth = self.ground_depth.copy()
        label = np.zeros((H, W), np.int16)
        road = self._frame_road(ego_s + self.s_offsets)
        self._band(img, road, -7.0, -4.6, ego_pose, (150, 155, 160))  # sidewalk
        # parking strip, two lanes + oncoming
        asphalt = self._band(img, road, -4.6, 8.75, ego_pose, ASPHALT[self.style])
        # segmentation ground truth (SEG_CLASSES): drivable = the asphalt the band above painted between
        # the two solid edge lines; then each marking band as painted (same quads, same fill calls)
        seg = np.zeros((H, W), np.uint8)
        if asphalt:
            cv2.fillPoly(seg, asphalt, SEG_DRIVABLE, lineType=cv2.LINE_8, shift=4)
            lanes = np.zeros((H, W), np.uint8)
            q = self._band_quads(road, *DRIVABLE_D, ego_pose)
            if q:
                cv2.fillPoly(lanes, q, SEG_DRIVABLE, lineType=cv2.LINE_8, shift=4)
            np.bitwise_and(seg, lanes, out=seg)
        for d, col in ((-1.75, (235, 235, 235)), (8.65, (235, 235, 235)), (5.25, (40, 200, 230))):
            q = self._band(img, road, d - 0.06, d + 0.06, ego_pose, col)
            if q:
                cv2.fillPoly(seg, q, SEG_LANE_MARKING, lineType=cv2.LINE_8, shift=4)
        ss = ego_s + np.arange(2.5, 90.0, 1.5)
        dash = (np.floor(ss / 4.5).astype(int) % 2) == 0
        q = self._band(img, self._frame_road(ss), 1.69, 1.81, ego_pose, (235, 235, 235), mask=dash)
        if q:
            cv2.fillPoly(seg, q, SEG_LANE_MARKING, lineType=cv2.LINE_8, shift=4)
        pii: list[dict] = []
        emissive: list[tuple[np.ndarray, int]] = []  # (px quad, owner label) drawn after the lighting
        cam = np.array([1.60, 0.0, 1.45])
        # per drawn object: (uid, label, first/last+1 PII index, roi, pixels owned right after drawing,
        # share of its silhouette's area inside the image)
        drawn_objs: list[tuple[str, int, int, int, tuple[int, int, int, int], int, float]] = []
        order = sorted(range(len(objects)), key=lambda i: -(objects[i]["xb"] ** 2 + objects[i]["yb"] ** 2))
        for i in order:
            ob = objects[i]
            lab = i + 1
            ln, wd, ht = ob["size"]
            centre = np.array([ob["xb"], ob["yb"], ht / 2])
            corners = cuboid_corners(centre, ob["size"], ob["yawb"])
            c = base_to_optical(corners)
            if (c[:, 2] < NEAR).all():
                continue
            base = self._color(ob)
            oc = c.mean(axis=0)
            n_pii = len(pii)
            polys: list[np.ndarray] = []
            for fi, face in enumerate(FACES):
                poly = c[list(face)]
                fc = poly.mean(axis=0)
                if np.dot(fc - oc, fc) >= 0:  # facing away from the camera
                    continue
                poly = _clip_near(poly)
                if len(poly) < 3:
                    continue
                shade = (0.62, 0.78, 0.62, 0.78, 1.0, 0.5)[fi]
                px = self._to_px(poly)
                polys.append(px)
                self._fill(img, depth, label, px, tuple(float(v) for v in base * shade), fc[2], lab)
                if ob["cls"] in VEHICLES and fi in (0, 2):
                    self._vehicle_face(img, depth, label, ob, fi, lab, fc[2], pii, emissive)
            if ob["cls"] in RIDERS:
                self._head(img, depth, label, ob, cam, lab, pii)
            if polys:
                roi = _roi(polys, [it["_roi"] for it in pii[n_pii:]], W, H)
                own = _owned(label, roi, lab, n_pii, len(pii))
                drawn_objs.append((ob["uid"], lab, n_pii, len(pii), roi, own, _inside_share(polys, W, H)))
        # visibility of every PII item: its own pixels left after nearer surfaces were drawn
        for it in pii:
            x0, y0, x1, y1 = it.pop("_roi")
            own = int(np.count_nonzero(label[y0:y1, x0:x1] == it["_lab"])) if x1 > x0 and y1 > y0 else 0
            it["visible_fraction"] = round(min(1.0, own / max(1, it.pop("_drawn"))) * it.pop("_inside"), 4)
            it.pop("_lab")
        # ... and of every object: its pixels (body, plates, face) left of those it owned when drawn
        self.visibility = {}
        for uid, lab, p0, p1, roi, drawn, inside in drawn_objs:
            own = _owned(label, roi, lab, p0, p1)
            self.visibility[uid] = round(min(1.0, own / drawn) * inside, 4) if drawn else 0.0
        seg[label != 0] = SEG_BACKGROUND  # objects (and their plates/faces) hide the road
        self.segmentation = seg
        img = self._atmosphere(img, depth, ego_s, emissive, label)
        off = int((ego_s * 7.0) % 16)
        img = cv2.add(img, self.noise_pos[off : off + H, off : off + W])
        img = cv2.subtract(img, self.noise_neg[off : off + H, off : off + W])
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, P.CAMERA_JPEG_QUALITY])
        assert ok
        for it in pii:
            bw, bh = it["box"][2] - it["box"][0], it["box"][3] - it["box"][1]
            it["min_px"] = round(float(min(bw, bh)), 3)
            small = P.FACE_MIN_PX if it["kind"] == "face" else P.PLATE_MIN_PX
            it["flag"] = (
                "occluded"
                if it["visible_fraction"] < P.PII_MIN_VISIBLE
                else ("too_small" if min(bw, bh) < small else "ok")
            )
        return buf.tobytes(), pii

    # ---- parts ------------------------------------------------------------------------------------------
    def _vehicle_face(self, img, depth, label, ob, fi, lab, z, pii, emissive):
        """Plate (+ rear window and tail lights on the rear) on face 0 (front) or 2 (rear)."""
        ln, wd, ht = ob["size"]
        sign = 1.0 if fi == 0 else -1.0
        xf = sign * (ln / 2 + 0.005)
        c, s = math.cos(ob["yawb"]), math.sin(ob["yawb"])

        def to_px(pts_local):  # (n, 3) in the box frame (z from the ground) -> pixels, or None
            p = np.asarray(pts_local, float)
            xb = ob["xb"] + c * p[:, 0] - s * p[:, 1]
            yb = ob["yb"] + s * p[:, 0] + c * p[:, 1]
            o = base_to_optical(np.stack([xb, yb, p[:, 2]], axis=1))
            if (o[:, 2] < 0.3).any():
                return None
            return self._to_px(o)

        if fi == 2:
            win = to_px(
                [
                    [xf, -sign * wd * 0.42, ht * 0.62],
                    [xf, sign * wd * 0.42, ht * 0.62],
                    [xf, sign * wd * 0.40, ht * 0.9],
                    [xf, -sign * wd * 0.40, ht * 0.9],
                ]
            )
            if win is not None and ob["cls"] == "car":
                cv2.fillConvexPoly(
                    img, (np.clip(win, -4000, 4000) * 16).astype(np.int32), (45, 40, 38), cv2.LINE_AA, shift=4
                )
            for side in (-1, 1):
                tl = to_px(
                    [
                        [xf, side * wd * 0.46, ht * 0.5],
                        [xf, side * wd * 0.34, ht * 0.5],
                        [xf, side * wd * 0.34, ht * 0.58],
                        [xf, side * wd * 0.46, ht * 0.58],
                    ]
                )
                if tl is not None:
                    cv2.fillConvexPoly(
                        img,
                        (np.clip(tl, -4000, 4000) * 16).astype(np.int32),
                        (30, 30, 150),
                        cv2.LINE_AA,
                        shift=4,
                    )
                    emissive.append((tl, lab))
        tex, text, sname, (pw, ph) = appearance.plate_texture(self.style, ob["uid"])
        hlo, hhi = P.PLATE_HEIGHT_M[ob["cls"]]
        zc = hlo + (hhi - hlo) * (_uid_int(ob["uid"], "ph") % 1000) / 999
        # texture corners TL, TR, BR, BL as seen from outside the face
        quad = to_px(
            [
                [xf, -sign * pw / 2, zc + ph / 2],
                [xf, sign * pw / 2, zc + ph / 2],
                [xf, sign * pw / 2, zc - ph / 2],
                [xf, -sign * pw / 2, zc - ph / 2],
            ]
        )
        if quad is None:
            return
        self._paste(img, label, quad, tex, 20_000 + len(pii) + 1, "plate", ob, pii, z, text=text, style=sname)
        cv2.fillConvexPoly(depth, np.round(np.clip(quad, -4000, 4000)).astype(np.int32), float(z))

    def _paste(self, img, label, quad, tex, plab, kind, ob, pii, z, text=None, style=None, rect=False):
        W, H = self.intr.width, self.intr.height
        x0f, y0f = float(quad[:, 0].min()), float(quad[:, 1].min())
        x1f, y1f = float(quad[:, 0].max()), float(quad[:, 1].max())
        if rect:  # integer rectangle: exactly the pixels pasted
            x0f, y0f, x1f, y1f = (float(round(v)) for v in (x0f, y0f, x1f, y1f))
        bx = [max(0.0, x0f), max(0.0, y0f), min(float(W), x1f), min(float(H), y1f)]
        if bx[2] <= bx[0] or bx[3] <= bx[1] or x1f - x0f < 1.0 or y1f - y0f < 1.0:
            return
        full = (x1f - x0f) * (y1f - y0f)
        inside = (bx[2] - bx[0]) * (bx[3] - bx[1]) / full
        X0, Y0 = int(math.floor(bx[0])), int(math.floor(bx[1]))
        X1, Y1 = int(math.ceil(bx[2])), int(math.ceil(bx[3]))
        roi = img[Y0:Y1, X0:X1]
        th, tw = tex.shape[:2]
        if rect:
            ix0, iy0 = int(x0f), int(y0f)
            warped = cv2.resize(tex, (int(x1f - x0f), int(y1f - y0f)), interpolation=cv2.INTER_AREA)
            roi[:] = warped[Y0 - iy0 : Y1 - iy0, X0 - ix0 : X1 - ix0]
            mask = np.ones(roi.shape[:2], bool)
        else:
            # pre-shrink the texture to about twice the target so the warp does not alias
            target_w = max(x1f - x0f, 1.0)
            if tw > 2 * target_w:
                f = 2 * target_w / tw
                tex = cv2.resize(
                    tex, (max(2, int(tw * f)), max(2, int(th * f))), interpolation=cv2.INTER_AREA
                )
                th, tw = tex.shape[:2]
            src = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], np.float32)
            M = cv2.getPerspectiveTransform(src, (quad - [X0, Y0]).astype(np.float32))
            warped = cv2.warpPerspective(tex, M, (X1 - X0, Y1 - Y0), flags=cv2.INTER_LINEAR)
            m = np.zeros(roi.shape[:2], np.uint8)
            cv2.fillConvexPoly(m, np.round((quad - [X0, Y0]) * 16).astype(np.int32), 1, shift=4)
            mask = m.astype(bool)
            roi[mask] = warped[mask]
        lroi = label[Y0:Y1, X0:X1]
        lroi[mask] = plab
        drawn = int(mask.sum())
        if drawn == 0:
            return
        it = {
            "kind": kind,
            "track_uuid": ob["uid"],
            "class": ob["cls"],
            "box": [round(v, 3) for v in bx],
            "depth_m": float(z),
            "truncated": inside < 1.0,
            "_roi": (X0, Y0, X1, Y1),
            "_lab": plab,
            "_drawn": drawn,
            "_inside": inside,
        }
        if text is not None:
            it["text"] = text
            it["style"] = style
        pii.append(it)

    def _head(self, img, depth, label, ob, cam, lab, pii):
        ln, wd, ht = ob["size"]
        fw = P.FACE_SIZE_M[0] + (P.FACE_SIZE_M[1] - P.FACE_SIZE_M[0]) * (_uid_int(ob["uid"], "fw") % 100) / 99
        fh = fw * 1.25
        head = np.array([ob["xb"], ob["yb"], ht - fh * 0.55])
        o = base_to_optical(head[None, :])[0]
        if o[2] < 0.5:
            return
        u = self.intr.fx * o[0] / o[2] + self.intr.cx
        v = self.intr.fy * o[1] / o[2] + self.intr.cy
        hw, hh = self.intr.fx * fw / o[2] / 2, self.intr.fy * fh / o[2] / 2
        # hair / back of the head, slightly larger than the face
        cv2.ellipse(
            img,
            (int(round(u * 16)), int(round((v - hh * 0.15) * 16))),
            (int(hw * 1.15 * 16), int(hh * 1.1 * 16)),
            0,
            0,
            360,
            (30, 35, 45),
            -1,
            cv2.LINE_AA,
            shift=4,
        )
        to_cam = cam[:2] - head[:2]
        facing = math.cos(ob["yawb"]) * to_cam[0] + math.sin(ob["yawb"]) * to_cam[1]
        if facing <= 0:
            return  # seen from behind: no face
        quad = np.array([[u - hw, v - hh], [u + hw, v - hh], [u + hw, v + hh], [u - hw, v + hh]])
        tex = appearance.face_texture(self.style, ob["uid"])
        self._paste(img, label, quad, tex, 20_000 + len(pii) + 1, "face", ob, pii, o[2], rect=True)

    def _atmosphere(self, img, depth, ego_s, emissive, label):
        need = self.extinction > 0 or self.lit or self.style != "default"
        if not need and self.streaks is None:
            return img
        f = img.astype(np.float32)
        if self.lit:
            near = np.exp(-((depth / P.HEADLIGHT_RANGE_M) ** 2))
            f *= (self.ambient + self.beam * near)[:, :, None]
        if self.extinction > 0:
            tr = np.exp(-depth * self.extinction)[:, :, None]
            fog = self.fog_bgr * (self.ambient if not self.lit else self.ambient + 0.1)
            f = f * tr + fog * (1.0 - tr)
        if self.style != "default":
            f *= self.tint
        out = np.clip(f, 0, 255).astype(np.uint8)
        if self.lit:  # tail lights glow at dusk and night, where their owner is still visible
            m = np.zeros(label.shape, np.uint8)
            for px, lab in emissive:
                cv2.fillConvexPoly(m, np.round(np.clip(px, -4000, 4000)).astype(np.int32), 255)
                m[(m == 255) & (label != lab)] = 0
                m[m == 255] = 1
            if m.any():
                glow = cv2.GaussianBlur(m.astype(np.float32), (0, 0), 2.0)
                out = np.clip(out + glow[:, :, None] * np.array([40, 40, 255], np.float32), 0, 255).astype(
                    np.uint8
                )
        if self.streaks is not None:
            H = img.shape[0]
            off = int((ego_s * 37.0) % H)
            layer = self.streaks[off : off + H]
            out = cv2.add(out, np.repeat(layer[:, :, None], 3, axis=2))
        return out


def _roi(polys, rois, W: int, H: int) -> tuple[int, int, int, int]:
    """Integer pixel rectangle (clipped to the image) holding the label-buffer fills of `polys` and
    the PII `rois` (x0, y0, x1, y1)."""
    p = np.round(np.clip(np.concatenate(polys), -4000, 4000))
    x0, y0 = p.min(axis=0)
    x1, y1 = p.max(axis=0) + 1
    for r in rois:
        x0, y0, x1, y1 = min(x0, r[0]), min(y0, r[1]), max(x1, r[2]), max(y1, r[3])
    return int(max(0, x0)), int(max(0, y0)), int(min(W, x1)), int(min(H, y1))


def _owned(label: np.ndarray, roi, lab: int, p0: int, p1: int) -> int:
    """Pixels of `roi` owned by object `lab` or by its PII items (labels 20000 + p0 + 1 .. 20000 + p1)."""
    x0, y0, x1, y1 = roi
    if x1 <= x0 or y1 <= y0:
        return 0
    r = label[y0:y1, x0:x1]
    m = r == lab
    if p1 > p0:
        m |= (r > 20_000 + p0) & (r <= 20_000 + p1)
    return int(np.count_nonzero(m))


def _inside_share(polys, W: int, H: int) -> float:
    """Share of the silhouette's area (the projected front faces of a convex cuboid, which do not
    overlap) inside the image [0, W] x [0, H]; exactly 1.0 when every vertex is inside."""
    allp = np.concatenate(polys)
    if (
        (allp[:, 0] >= 0).all()
        and (allp[:, 0] <= W).all()
        and (allp[:, 1] >= 0).all()
        and (allp[:, 1] <= H).all()
    ):
        return 1.0
    rect = np.array([[0, 0], [W, 0], [W, H], [0, H]], np.float32)
    full = inside = 0.0
    for p in polys:
        x, y = p[:, 0], p[:, 1]
        full += 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
        hull = cv2.convexHull(p.astype(np.float32))  # convex already; hull fixes the orientation
        area, _ = cv2.intersectConvexConvex(hull, rect)
        inside += max(0.0, float(area))
    return min(1.0, inside / full) if full > 0 else 0.0


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
