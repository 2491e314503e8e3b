"""Train `pii_verifier`: the second stage that accepts or rejects each `pii_net` region.

Why: `pii_net` finds every small face/plate of the synthetic renders (recall 1.0 on held-out renders)
but also fires on heads seen from behind, tail lights, and on real photos (textures). The verifier is
a logistic regression over a 16x16 context crop of each region (`detectors.verifier_features`:
normalised grey pixels, gradient-orientation histograms, centre-vs-surround colour/contrast, region
size/aspect/peak), one per class, exported as ONNX (Sub, Div, Gemm, Sigmoid) so that the runtime needs
only ONNX Runtime. CPU only, seconds to fit.

Data (the held-out render style and its seeds are never used):
- `pii_net` regions (cells >= 0.3, peak >= 0.3, before any size gate) on `default`-style renders: every
  2 Hz keyframe plus every frame whose ground truth holds a face (faces are rare). A region matching a
  ground-truth `ok` box (IoU >= 0.3 or coverage >= 0.7) is positive; one touching an `ignored` box is
  dropped; any other is a negative (near misses: backs of heads, lamps, wheels, other text).
- `pii_net` regions on scikit-image's bundled photos that show no person and no plate
  (`REAL_NEGATIVES`), at scales 0.5, 1 and 2: all negatives (the domain gap to real cameras).
- Every region also mirrored left-right.

Reproduce the committed weights (deterministic: liblinear-free lbfgs, fixed data order):

    python -m av_fleet.cli simulate --out /tmp/pii_train21 --drives 8 --duration 20 --seed 21 \\
        --render-style default --camera 1280x720
    python -m av_fleet.cli simulate --out /tmp/pii_train22 --drives 8 --duration 20 --seed 22 \\
        --render-style default --camera 1280x720
    python -m av_assets.redaction.training.train_pii_verifier build /tmp/pii_train21 /tmp/pii_train22 \\
        --dataset /tmp/pii_verifier.npz
    python -m av_assets.redaction.training.train_pii_verifier fit --dataset /tmp/pii_verifier.npz \\
        --out av_assets/redaction/models/pii_verifier.onnx
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

# scikit-image photos with no human face and no licence plate. Not `astronaut`, `camera` (a person),
# nor `lfw_subset`: those, KITTI and nuScenes are the real images the tests measure on.
REAL_NEGATIVES = (
    "brick",
    "cat",
    "cell",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "colorwheel",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "page",
    "retina",
    "rocket",
    "stereo_motorcycle",
    "text",
)
PROPOSAL_THRESHOLD = 0.3  # cells and peaks: collect far more regions than the runtime keeps


def _config():
    from av_assets.redaction.config import RedactionConfig

    return RedactionConfig(
        pii_net=True,
        pii_verifier=False,
        pii_net_cell_threshold=PROPOSAL_THRESHOLD,
        pii_net_face_threshold=PROPOSAL_THRESHOLD,
        pii_net_plate_threshold=PROPOSAL_THRESHOLD,
        pii_net_max_face_px=1e9,
        pii_net_max_plate_height_px=1e9,
    )


def _regions(image: np.ndarray, cfg) -> list[tuple[int, np.ndarray]]:
    from av_assets.redaction.detectors import detect_pii_net

    faces, plates = detect_pii_net(image, cfg)
    return [(0, b) for b in faces] + [(1, b) for b in plates]


def _label(c: int, box, gt) -> int:
    from av_assets.redaction.redact import matches

    key, kind = ("faces", "face") if c == 0 else ("plates", "plate")
    if any(matches(g, box[:4]) for g in (gt or {}).get(key, [])):
        return 1
    for g in ((gt or {}).get("ignored") or {}).get(kind, []):
        if matches(g, box[:4]) or matches(box[:4], g):
            return -1
    return 0


def _features(image, regions) -> tuple[np.ndarray, np.ndarray]:
    """Features of the regions and of their left-right mirror images."""
    from av_assets.redaction.detectors import verifier_features

    boxes = np.asarray([b for _, b in regions], np.float32).reshape(-1, 5)
    w = image.shape[1]
    mirrored = boxes.copy()
    mirrored[:, 0], mirrored[:, 2] = w - boxes[:, 2], w - boxes[:, 0]
    return verifier_features(image, boxes), verifier_features(np.ascontiguousarray(image[:, ::-1]), mirrored)


def build(fleet_dirs, keyframe_hz: float = 2.0, log=print) -> dict[str, np.ndarray]:
    import cv2

    from av_assets.redaction.evaluate import find_bags, iter_bag_images, load_pii_boxes
    from av_assets.redaction.frames import decode_image

    cfg = _config()
    feats, cls, labels, src = [], [], [], []

    def add(image, regions, ys, source):
        keep = [(r, y) for r, y in zip(regions, ys, strict=True) if y >= 0]
        if not keep:
            return
        f, fm = _features(image, [r for r, _ in keep])
        for part in (f, fm):
            feats.append(part)
            cls.extend(c for (c, _), _ in keep)
            labels.extend(y for _, y in keep)
            src.extend([source] * len(keep))

    period = int(1e9 / keyframe_hz)
    for fleet in fleet_dirs:
        fleet = Path(fleet)
        for drive_id, bag, fmt in find_bags(fleet):
            gt_all = load_pii_boxes(fleet / "_ground_truth" / f"{drive_id}.json")
            seen: set[int] = set()
            for t_ns, data in iter_bag_images(bag, fmt, None):
                gt = gt_all.get(t_ns)
                key = t_ns // period
                if key in seen and not (gt or {}).get("faces"):
                    continue
                seen.add(key)
                img = decode_image(data)
                regions = _regions(img, cfg)
                add(img, regions, [_label(c, b, gt) for c, b in regions], 0)
        log(f"{fleet}: {len(labels)} regions so far")
    from skimage import data

    for name in REAL_NEGATIVES:
        img = getattr(data, name)()
        img = np.asarray(img[0] if isinstance(img, tuple) else img)  # stereo_motorcycle: (left, right, disp)
        if img.dtype != np.uint8:
            img = (np.clip(img, 0, 1) * 255).astype(np.uint8) if img.max() <= 1 else img.astype(np.uint8)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = np.ascontiguousarray(img[..., :3])
        for f in (0.5, 1.0, 2.0):
            im = cv2.resize(
                img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
            )
            regions = _regions(im, cfg)
            add(im, regions, [0] * len(regions), 1)
    log(f"with real negatives: {len(labels)} regions")
    return {
        "X": np.concatenate(feats).astype(np.float32),
        "cls": np.asarray(cls, np.int8),
        "y": np.asarray(labels, np.int8),
        "src": np.asarray(src, np.int8),
    }


def export_onnx(
    models: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, float]], path: Path, meta
) -> None:
    """`models[kind] = (mean, std, coef, intercept)` -> one graph, input `features`, outputs `p_<kind>`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, outs = [], [], []
    dim = None
    for kind, (mean, std, coef, intercept) in models.items():
        dim = len(mean)
        inits += [
            numpy_helper.from_array(mean.astype(np.float32)[None], f"{kind}_mean"),
            numpy_helper.from_array(std.astype(np.float32)[None], f"{kind}_std"),
            numpy_helper.from_array(coef.astype(np.float32).reshape(-1, 1), f"{kind}_w"),
            numpy_helper.from_array(np.asarray([intercept], np.float32), f"{kind}_b"),
        ]
        nodes += [
            helper.make_node("Sub", ["features", f"{kind}_mean"], [f"{kind}_c"]),
            helper.make_node("Div", [f"{kind}_c", f"{kind}_std"], [f"{kind}_z"]),
            helper.make_node("Gemm", [f"{kind}_z", f"{kind}_w", f"{kind}_b"], [f"{kind}_logit"]),
            helper.make_node("Sigmoid", [f"{kind}_logit"], [f"p_{kind}"]),
        ]
        outs.append(helper.make_tensor_value_info(f"p_{kind}", TensorProto.FLOAT, ["N", 1]))
    graph = helper.make_graph(
        nodes,
        "pii_verifier",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", dim])],
        outs,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="av-platform")
    model.ir_version = 8
    for k, v in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=str(v)))
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())


def fit(dataset: Path, out: Path, *, c: float = 0.05, log=print) -> dict:
    from sklearn.linear_model import LogisticRegression

    d = np.load(dataset)
    X, cls, y, src = d["X"], d["cls"], d["y"], d["src"]
    models, meta = {}, {"trained_on": "pii_net regions on av fleet default-style renders + skimage photos"}
    for k, kind in enumerate(("face", "plate")):
        m = cls == k
        Xk, yk = X[m].astype(np.float64), y[m]
        mean, std = Xk.mean(0), Xk.std(0) + 1e-3
        lr = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, solver="lbfgs")
        lr.fit((Xk - mean) / std, yk)
        p = lr.predict_proba((Xk - mean) / std)[:, 1]
        stats = {
            "n": int(m.sum()),
            "positives": int(yk.sum()),
            "real_negatives": int((src[m] == 1).sum()),
            "train_recall@0.5": round(float((p[yk == 1] >= 0.5).mean()), 4),
            "train_fpr@0.5": round(float((p[yk == 0] >= 0.5).mean()), 4),
        }
        log(f"{kind}: {stats}")
        meta[kind] = json.dumps(stats)
        models[kind] = (mean, std, lr.coef_[0], float(lr.intercept_[0]))
    meta["C"] = c
    export_onnx(models, out, meta)
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser(
        "build", help="pii_net regions + features + labels (default render style only) -> .npz"
    )
    b.add_argument("fleet_dirs", nargs="+")
    b.add_argument("--dataset", type=Path, required=True)
    f = sub.add_parser("fit", help="logistic regression per class -> ONNX")
    f.add_argument("--dataset", type=Path, required=True)
    f.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "pii_verifier.onnx"
    )
    f.add_argument("--C", type=float, default=0.05)
    a = ap.parse_args(argv)
    if a.cmd == "build":
        for fd in a.fleet_dirs:
            for gt in Path(fd, "_ground_truth").glob("*.json"):
                style = json.loads(gt.read_text()).get("render_style")
                if style not in (None, "default"):
                    raise SystemExit(f"{gt}: render style {style!r}; train on the default style only")
        np.savez_compressed(a.dataset, **build(a.fleet_dirs))
        return 0
    print(json.dumps(fit(a.dataset, a.out, c=a.C)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
