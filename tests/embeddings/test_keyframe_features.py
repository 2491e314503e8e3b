"""Keyframe embeddings as plain functions: the default visual encoder on images with known content,
the VisualEncoder interface (a second encoder plugs in and is named in the model version), and the
keyframe rows (clip assignment, local event context, unit norm)."""

import numpy as np
import polars as pl

from av_assets.embeddings.features import (
    KEYFRAME_MODEL_NAME,
    keyframe_dim,
    keyframe_model_version,
    keyframe_vectors,
)
from av_assets.embeddings.visual import DEFAULT_ENCODER, ColourLayoutEncoder, VisualEncoder

S = 1_000_000_000


def _scene(sky: tuple, road: tuple, h: int = 36, w: int = 64, stripes: bool = False) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2] = sky
    img[h // 2 :] = road
    if stripes:  # lane markings: vertical edges
        img[h // 2 :, ::8] = 230
    return img


def test_colour_layout_encoder_separates_day_from_night():
    enc = DEFAULT_ENCODER
    assert isinstance(enc, VisualEncoder) and enc.dim == 78
    day = [_scene((140, 180, 230), (90, 90, 90)), _scene((150, 185, 235), (95, 95, 95), stripes=True)]
    night = [_scene((10, 10, 25), (20, 20, 20)), _scene((12, 12, 30), (25, 25, 25), stripes=True)]
    v = enc.encode(day + night)
    assert v.shape == (4, 78) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sim = v @ v.T
    assert sim[0, 1] > 0.8 and sim[2, 3] > 0.8  # same light, with or without lane stripes
    assert max(sim[0, 2], sim[0, 3], sim[1, 2], sim[1, 3]) < 0.5  # day vs night
    b = enc.blocks(night[0])
    assert b["light"][5] == 1.0 and abs(b["colour"].sum() - 1) < 1e-9  # all pixels dark
    assert b["edges"][8] == 0.0 and enc.blocks(night[1])["edges"][8] > 0  # edge density
    assert np.array_equal(enc.encode(day[:1]), v[:1])  # deterministic


class _GreyEncoder:
    """Another VisualEncoder (as a backbone would be): 4 dims of grey-level statistics."""

    name, version, dim, input_size = "grey-stats", "7", 4, (32, 18)

    def encode(self, images):
        out = np.asarray([[im.mean(), im.std(), im.min(), im.max()] for im in images], np.float32) + 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _grid(t0: int, n: int, speed: float, ax: float) -> pl.DataFrame:
    t = t0 + np.arange(n) * S // 10
    return pl.DataFrame(
        {
            "t_ns": np.concatenate([t, t]),
            "signal": ["SPEED.SPEED"] * n + ["KINEMATICS.ACCEL_X"] * n,
            "value": np.concatenate([np.full(n, speed), np.full(n, ax)]),
        }
    )


def test_keyframe_vectors_context_and_swappable_encoder():
    t0 = 1_000 * S
    clips = [
        {"clip_id": f"d:{t0}", "drive_id": "d", "t_start_ns": t0, "t_end_ns": t0 + 20 * S},
        {"clip_id": f"d:{t0 + 20 * S}", "drive_id": "d", "t_start_ns": t0 + 20 * S, "t_end_ns": t0 + 40 * S},
    ]
    grid = _grid(t0, 400, 20.0, 0.0)
    events = pl.DataFrame({"type": ["harsh_brake"], "t_start_ns": [t0 + 5 * S], "t_end_ns": [t0 + 6 * S]})
    road = pl.DataFrame(
        {"t_ns": [t0 + i * S for i in range(40)], "day_night": "night", "road_class": "primary"}
    )
    kfs = [{"drive_id": "d", "sensor_id": "camera_front", "t_ns": t0 + s * S} for s in (2, 5, 25, 45)]
    images = [_scene((10, 10, 25), (20, 20, 20))] * 4
    for enc in (ColourLayoutEncoder(), _GreyEncoder()):
        rows = keyframe_vectors(kfs, enc.encode(images), enc, clips, grid, events=events, road=road)
        dim = keyframe_dim(enc.dim)
        assert dim % 32 == 0 and all(len(r["vector"]) == dim for r in rows)
        assert [r["clip_id"] for r in rows] == [f"d:{t0}", f"d:{t0}", f"d:{t0 + 20 * S}", None]
        assert [r["event_types"] for r in rows] == ["", "harsh_brake", "", ""]
        assert {(r["model"], r["model_version"]) for r in rows} == {
            (KEYFRAME_MODEL_NAME, keyframe_model_version(enc))
        }
        assert rows[0]["day_night"] == "night" and rows[0]["keyframe_id"] == f"d:camera_front:{t0 + 2 * S}"
        v = np.asarray([r["vector"] for r in rows])
        assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
        # same image and context -> same vector; the braking event moves the keyframe away
        assert float(v[0] @ v[2]) > 0.999 and float(v[0] @ v[1]) < 0.95
    assert keyframe_model_version(_GreyEncoder()) == "1+grey-stats.7"
