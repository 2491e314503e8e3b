"""Synthetic fleet: label ground truth of the camera renderer on hand-built scenes.

Object `visible_fraction` and the per-pixel segmentation (`background`, `drivable`, `lane_marking`) are
by-products of the renderer's label buffer; these tests render tiny scenes on a straight road (no OSM
route, no drive) where the right answer is known: a car alone, a car hidden behind a nearer one, a car
half behind one, a car cut by the image edge. The drive-level checks (tables, PNGs, determinism, the
rendered image agreeing with the mask) are in test_fleet.py and test_fleet_realism.py.
"""

from __future__ import annotations

import numpy as np
import pytest

CAR = (4.5, 1.8, 1.5)


def _renderer(w: int = 640, h: int = 360):
    from av_fleet.roads import Route
    from av_fleet.sensors.camera import CameraRenderer
    from av_fleet.sensors.rig import camera_intrinsics

    s = np.arange(0.0, 400.0, 1.0)
    route = Route(
        graph=None,
        s=s,
        x=s.copy(),
        y=np.zeros_like(s),
        heading=np.zeros_like(s),
        kappa=np.zeros_like(s),
        limit_kmh=np.full_like(s, 40.0),
        osm_nodes=[],
    )
    intr = camera_intrinsics(w, h)
    return CameraRenderer(intr, route, np.random.default_rng(0), "day", "clear", "default"), intr


def _car(uid: str, xb: float, yb: float, cls: str = "car", size=CAR) -> dict:
    return {"uid": uid, "cls": cls, "xb": xb, "yb": yb, "yawb": 0.0, "size": size}


def _render(objects: list[dict], w: int = 640, h: int = 360):
    r, intr = _renderer(w, h)
    r.render((10.0, 0.0, 0.0), 10.0, objects)  # ego at s = 10 m on the straight road, heading east
    return r, intr


def _box(ob: dict, intr):
    from av_fleet.sensors.camera import project_box
    from av_fleet.sensors.rig import cuboid_corners

    c = cuboid_corners(np.array([ob["xb"], ob["yb"], ob["size"][2] / 2]), ob["size"], ob["yawb"])
    return project_box(c, intr)


def test_a_car_in_the_open_is_fully_visible():
    lone = _car("lone", 25.0, 3.5)
    r, intr = _render([lone])
    assert r.visibility == {"lone": 1.0}
    box, _, truncated = _box(lone, intr)
    assert not truncated


def test_a_car_behind_a_nearer_one_is_hidden_and_half_behind_is_partly_visible():
    front = _car("front", 15.0, 0.0)
    hidden = _car("hidden", 35.0, 0.0)  # same lane, farther: inside the nearer car's silhouette
    half = _car("half", 35.0, 2.6)  # offset 2.6 m: about half behind `front`
    open_ = _car("open", 30.0, -5.0, cls="truck", size=(8.0, 2.5, 3.2))
    r, intr = _render([hidden, front, half, open_])
    v = r.visibility
    assert set(v) == {"front", "hidden", "half", "open"}
    assert all(0.0 <= x <= 1.0 for x in v.values())
    assert v["front"] == 1.0 and v["open"] == 1.0
    assert v["hidden"] <= 0.05
    assert 0.25 < v["half"] < 0.75
    # the boxes (which ignore occlusion) of the hidden car lie inside the front car's box
    (hb, _, _), (fb, _, _) = _box(hidden, intr), _box(front, intr)
    assert fb[0] <= hb[0] and fb[1] <= hb[1] and hb[2] <= fb[2] and hb[3] <= fb[3]


def test_truncation_at_the_image_edge_lowers_the_fraction():
    edge = _car("edge", 7.0, 4.5)  # close, to the left: cut by the image's left edge
    r, intr = _render([edge])
    box, _, truncated = _box(edge, intr)
    assert truncated and box[0] == 0.0
    assert 0.0 < r.visibility["edge"] < 0.95


def test_segmentation_of_a_hand_built_scene():
    from av_contracts.taxonomy import SEG_CLASSES

    assert SEG_CLASSES == ("background", "drivable", "lane_marking")  # CONTRACTS.md, label_masks
    front = _car("front", 15.0, 0.0)
    r, intr = _render([front])
    seg = r.segmentation
    assert seg.shape == (intr.height, intr.width) and seg.dtype == np.uint8
    assert set(np.unique(seg)) == {0, 1, 2}
    horizon = int(np.ceil(intr.cy))
    assert not seg[:horizon].any()  # nothing above the horizon is road

    def ground_px(ahead: float, left: float) -> tuple[int, int]:  # a road point, metres from the camera
        return int(intr.cy + intr.fy * 1.45 / ahead), int(intr.cx - intr.fx * left / ahead)

    assert seg[ground_px(5.0, 0.0)] == 1  # our lane, right in front
    assert seg[ground_px(20.0, 7.0)] == 1  # the oncoming lane counts as drivable
    assert seg[ground_px(10.0, -3.2)] == 0  # the parking strip right of the edge line does not
    assert seg[ground_px(10.0, -6.0)] == 0  # nor does the sidewalk
    assert seg[ground_px(8.0, -1.75)] == 2  # the right edge line
    # the car hides the road: its box centre is background
    (x0, y0, x1, y1), _, _ = _box(front, intr)
    assert seg[int((y0 + y1) / 2), int((x0 + x1) / 2)] == 0
    assert (seg[int(y0) + 2 : int(y1) - 2, int(x0) + 2 : int(x1) - 2] == 0).all()
    # without the car, the same pixels are drivable (the band under it) or markings
    r2, _ = _render([])
    under = r2.segmentation[int(y1) - 3, int((x0 + x1) / 2)]
    assert under == 1
    # markings: a small share of the image
    share = (seg == 2).mean()
    assert 0.002 < share < 0.05


@pytest.mark.parametrize("size", [(640, 360), (1280, 720)])
def test_segmentation_is_deterministic_and_independent_of_the_look(size):
    from av_fleet.ground_truth import mask_png
    from av_fleet.sensors.camera import CameraRenderer

    objs = [_car("a", 20.0, 0.0), _car("b", 40.0, 3.5)]
    r1, intr = _render(objs, *size)
    r2, _ = _render(objs, *size)
    assert mask_png(r1.segmentation) == mask_png(r2.segmentation)
    r3 = CameraRenderer(intr, r1.route, np.random.default_rng(9), "night", "fog", "heldout")
    r3.render((10.0, 0.0, 0.0), 10.0, objs)
    assert np.array_equal(r3.segmentation, r1.segmentation)
    assert r3.visibility == r1.visibility
