"""Train `pii_net`: a small fully-convolutional face/plate detector for small, distant PII.

Why: CenterFace, Haar and the PP-OCRv4 text detector were built for faces and text of a few dozen pixels
and more; a vehicle camera's faces (6-20 px) and plates (4-15 px high) are far smaller. This net predicts,
per 4x4-pixel cell of the frame, whether the cell lies on a face (channel 0) or a licence plate
(channel 1); the runtime (`detectors.detect_pii_net`) turns connected cells into boxes.

Data: ONLY the `default` render style of the synthetic fleet (the `heldout` style is for measurement;
the project rule is that the generator and the detectors share no constants, so this reads the fleet's
bags and ground-truth JSON like any consumer would). Reproduce the committed weights exactly with:

    python -m av_cli fleet simulate --out /tmp/pii_train --drives 8 --duration 20 --seed 21 \
        --render-style default --camera 1280x720
    python -m av_assets.redaction.training.train_pii_net /tmp/pii_train \
        --out av_assets/redaction/models/pii_net.onnx

(CPU, torch 2.13, 2 threads: a few minutes; seeds fixed, `torch.use_deterministic_algorithms`.)
The ground truth's `ok` boxes are positives; its `ignored` boxes (too small / occluded) and a one-cell
ring around every positive are don't-care. Augmentation is generic photometric randomisation (channel
gains/permutations, gamma, haze, blur, noise, flips) plus recolouring of plate and face regions
(inverted / re-tinted plates: real plates come in many colours), so the net cannot key on one palette.

Architecture (no batch norm, so export is a plain chain of Conv + Relu; built with `onnx.helper`):
conv3x3 s2 3->16, conv3x3 s2 16->24, conv3x3 24->24 (dilation 1, 2, 4), conv1x1 24->2, sigmoid.
Input: RGB float32 (x / 255 - 0.5), NCHW, H and W multiples of 4; output N x 2 x H/4 x W/4.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

STRIDE = 4
LAYERS = [  # (in, out, kernel, stride, dilation)
    (3, 16, 3, 2, 1),
    (16, 24, 3, 2, 1),
    (24, 24, 3, 1, 1),
    (24, 24, 3, 1, 2),
    (24, 24, 3, 1, 4),
    (24, 2, 1, 1, 1),
]
CROP = 96


# ---- data -----------------------------------------------------------------------------------------
def _cells(box, shape_cells, grow: int = 0):
    gh, gw = shape_cells
    x1, y1, x2, y2 = box[:4]
    cx1 = max(0, int(np.floor(x1 / STRIDE)) - grow)
    cy1 = max(0, int(np.floor(y1 / STRIDE)) - grow)
    cx2 = min(gw, int(np.ceil(x2 / STRIDE)) + grow)
    cy2 = min(gh, int(np.ceil(y2 / STRIDE)) + grow)
    return cx1, cy1, cx2, cy2


def frame_targets(shape, gt) -> tuple[np.ndarray, np.ndarray]:
    """(target, weight) maps, 2 x H/4 x W/4, for one frame's ground truth (source pixels)."""
    h, w = shape[:2]
    gh, gw = int(np.ceil(h / STRIDE)), int(np.ceil(w / STRIDE))
    tgt = np.zeros((2, gh, gw), np.float32)
    wgt = np.ones((2, gh, gw), np.float32)
    for c, key in enumerate(("faces", "plates")):
        for b in (gt or {}).get(key, []):
            x1, y1, x2, y2 = _cells(b, (gh, gw), 1)
            wgt[c, y1:y2, x1:x2] = 0.0  # ring: don't care
        for kind_boxes in ((gt or {}).get("ignored") or {}).get("face" if c == 0 else "plate", []):
            x1, y1, x2, y2 = _cells(kind_boxes, (gh, gw), 1)
            wgt[c, y1:y2, x1:x2] = 0.0
        for b in (gt or {}).get(key, []):
            x1, y1, x2, y2 = _cells(b, (gh, gw), 0)
            tgt[c, y1:y2, x1:x2] = 1.0
            wgt[c, y1:y2, x1:x2] = 1.0
    return tgt, wgt


def build_dataset(
    fleet_dirs, *, per_frame_pos: int = 2, per_frame_neg: int = 2, seed: int = 0, keyframe_hz=None
):
    """Crops (N, CROP, CROP, 3) uint8, targets/weights (N, 2, CROP/4, CROP/4), plus the plate/face boxes
    inside each crop (for region recolouring)."""
    from av_assets.redaction.evaluate import find_bags, iter_bag_images, load_pii_boxes
    from av_assets.redaction.frames import decode_image

    rng = np.random.default_rng(seed)
    xs, ts, ws, boxes = [], [], [], []
    for fleet in fleet_dirs:
        fleet = Path(fleet)
        for drive_id, bag, fmt in find_bags(fleet):
            gt_all = load_pii_boxes(fleet / "_ground_truth" / f"{drive_id}.json")
            for t_ns, data in iter_bag_images(bag, fmt, keyframe_hz):
                gt = gt_all.get(t_ns)
                img = decode_image(data)
                h, w = img.shape[:2]
                tgt, wgt = frame_targets(img.shape, gt)
                pos = [(0, b) for b in (gt or {}).get("faces", [])] + [
                    (1, b) for b in (gt or {}).get("plates", [])
                ]
                origins = []
                for _ in range(per_frame_pos if pos else 0):
                    _c, b = pos[int(rng.integers(len(pos)))]
                    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
                    ox = int(np.clip(cx - rng.uniform(16, CROP - 16), 0, w - CROP)) // STRIDE * STRIDE
                    oy = int(np.clip(cy - rng.uniform(16, CROP - 16), 0, h - CROP)) // STRIDE * STRIDE
                    origins.append((ox, oy))
                for _ in range(per_frame_neg):
                    origins.append(
                        (
                            int(rng.integers(0, w - CROP + 1)) // STRIDE * STRIDE,
                            int(rng.integers(0, h - CROP + 1)) // STRIDE * STRIDE,
                        )
                    )
                for ox, oy in origins:
                    xs.append(img[oy : oy + CROP, ox : ox + CROP].copy())
                    sl = np.s_[:, oy // STRIDE : (oy + CROP) // STRIDE, ox // STRIDE : (ox + CROP) // STRIDE]
                    ts.append(tgt[sl].copy())
                    ws.append(wgt[sl].copy())
                    inside = [
                        (c, [b[0] - ox, b[1] - oy, b[2] - ox, b[3] - oy])
                        for c, b in pos
                        if b[2] > ox and b[0] < ox + CROP and b[3] > oy and b[1] < oy + CROP
                    ]
                    boxes.append(inside)
    return np.stack(xs), np.stack(ts), np.stack(ws), boxes


def augment(x: np.ndarray, boxes, rng: np.random.Generator) -> np.ndarray:
    """Photometric randomisation of one crop (uint8 HxWx3 -> float32 in 0..255)."""
    img = x.astype(np.float32)
    # Recolour plate / face regions: other plate colours (inverted, re-tinted), other skin tones.
    for c, b in boxes:
        if rng.random() < (0.6 if c == 1 else 0.3):
            x1, y1 = max(0, int(np.floor(b[0])) - 1), max(0, int(np.floor(b[1])) - 1)
            x2, y2 = min(CROP, int(np.ceil(b[2])) + 1), min(CROP, int(np.ceil(b[3])) + 1)
            if x2 <= x1 or y2 <= y1:
                continue
            reg = img[y1:y2, x1:x2]
            if c == 1 and rng.random() < 0.5:
                reg = 255.0 - reg
            reg = reg[..., rng.permutation(3)] * rng.uniform(0.5, 1.3, 3)
            img[y1:y2, x1:x2] = reg
    if rng.random() < 0.5:
        img = img[..., rng.permutation(3)]
    img = img * rng.uniform(0.6, 1.3, 3) * rng.uniform(0.4, 1.4)
    img = np.clip(img, 0, 255)
    img = 255.0 * (img / 255.0) ** rng.uniform(0.6, 1.6)
    if rng.random() < 0.3:  # haze (fog / rain)
        a = rng.uniform(0.1, 0.6)
        img = img * (1 - a) + a * rng.uniform(120, 230)
    if rng.random() < 0.3:
        import cv2

        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.0))
    img = img + rng.normal(0, rng.uniform(0, 8), img.shape)
    return np.clip(img, 0, 255).astype(np.float32)


# ---- model ----------------------------------------------------------------------------------------
def make_torch_net():
    import torch.nn as nn

    mods = []
    for i, (cin, cout, k, s, d) in enumerate(LAYERS):
        mods.append(nn.Conv2d(cin, cout, k, stride=s, padding=d * (k // 2), dilation=d))
        if i < len(LAYERS) - 1:
            mods.append(nn.ReLU(inplace=True))
    net = nn.Sequential(*mods)
    # prior: objects are rare (focal-loss style bias init)
    import torch

    with torch.no_grad():
        net[-1].bias.fill_(-4.0)
    return net


def export_onnx(net, path: Path, meta: dict) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    convs = [m for m in net if m.__class__.__name__ == "Conv2d"]
    nodes, inits = [], []
    cur = "input"
    for i, (conv, (_cin, _cout, k, s, d)) in enumerate(zip(convs, LAYERS, strict=True)):
        wname, bname = f"w{i}", f"b{i}"
        inits.append(numpy_helper.from_array(conv.weight.detach().cpu().numpy().astype(np.float32), wname))
        inits.append(numpy_helper.from_array(conv.bias.detach().cpu().numpy().astype(np.float32), bname))
        out = f"c{i}"
        p = d * (k // 2)
        nodes.append(
            helper.make_node(
                "Conv",
                [cur, wname, bname],
                [out],
                kernel_shape=[k, k],
                strides=[s, s],
                dilations=[d, d],
                pads=[p, p, p, p],
            )
        )
        cur = out
        if i < len(LAYERS) - 1:
            nodes.append(helper.make_node("Relu", [cur], [f"r{i}"]))
            cur = f"r{i}"
    nodes.append(helper.make_node("Sigmoid", [cur], ["prob"]))
    graph = helper.make_graph(
        nodes,
        "pii_net",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 2, "h", "w"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="av-platform")
    model.ir_version = 8
    for k, v in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=str(v)))
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())


def save_dataset(path: Path, X, T, W, B, fleet_dirs) -> None:
    flat = np.asarray([[n, c, *b] for n, bs in enumerate(B) for c, b in bs], dtype=np.float32).reshape(-1, 6)
    np.savez_compressed(
        path,
        X=X,
        T=T.astype(np.uint8),
        W=W.astype(np.uint8),
        boxes=flat,
        fleets=np.asarray([Path(f).name for f in fleet_dirs]),
    )


def load_dataset(path: Path):
    d = np.load(path)
    X, T, W = d["X"], d["T"].astype(np.float32), d["W"].astype(np.float32)
    B: list[list] = [[] for _ in range(len(X))]
    for n, c, *b in d["boxes"]:
        B[int(n)].append((int(c), list(b)))
    return X, T, W, B, [str(f) for f in d["fleets"]]


def train(
    dataset: Path,
    out: Path,
    *,
    steps: int = 1500,
    batch: int = 32,
    seed: int = 0,
    threads: int = 2,
    device: str = "cpu",
    workers: int = 0,
    log=print,
) -> dict:
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    X, T, W, B, fleets = load_dataset(dataset)
    log(
        f"dataset: {len(X)} crops, {int(T[:, 0].max(axis=(1, 2)).sum())} with faces, "
        f"{int(T[:, 1].max(axis=(1, 2)).sum())} with plates ({time.perf_counter() - t0:.1f} s)"
    )
    net = make_torch_net().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    pos_w = torch.tensor([1.0, 1.0], device=device).view(1, 2, 1, 1)  # alpha: positives vs negatives
    t1 = time.perf_counter()
    import torch.utils.data as tud

    class Crops(tud.Dataset):  # sample n of the run is fully determined by (seed, n): workers change nothing
        def __len__(self):
            return steps * batch

        def __getitem__(self, n):
            r = np.random.default_rng([seed, n])
            i = int(r.integers(0, len(X)))
            img = augment(X[i], B[i], r)
            t, w = T[i], W[i]
            if r.random() < 0.5:
                img, t, w = img[:, ::-1], t[:, :, ::-1], w[:, :, ::-1]
            return (
                np.ascontiguousarray(img.transpose(2, 0, 1) / 255.0 - 0.5, dtype=np.float32),
                np.ascontiguousarray(t),
                np.ascontiguousarray(w),
            )

    loader = tud.DataLoader(
        Crops(),
        batch_size=batch,
        shuffle=False,
        num_workers=workers,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
    for step, (x, t, w) in enumerate(loader):
        x, t, w = x.to(device), t.to(device), w.to(device)
        logits = net(x)
        # focal-weighted BCE, positives up-weighted, don't-care cells masked
        p = torch.sigmoid(logits)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, t, reduction="none")
        pt = torch.where(t > 0.5, p, 1 - p)
        loss = (
            bce * (1 - pt) ** 2 * w * torch.where(t > 0.5, pos_w, 3.0 * torch.ones_like(pos_w))
        ).sum() / max(1.0, float(t.sum()))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"step {step} loss {float(loss.detach()):.4f} ({time.perf_counter() - t1:.0f} s)")
    meta = {
        "trained_on": "av fleet simulate, render style default only",
        "fleet_dirs": ",".join(fleets),
        "steps": steps,
        "batch": batch,
        "seed": seed,
        "crops": len(X),
        "device": device,
    }
    export_onnx(net.eval().cpu(), out, meta)
    meta["train_s"] = round(time.perf_counter() - t0, 1)
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="crops + targets from fleet dirs (default render style only) -> .npz")
    b.add_argument("fleet_dirs", nargs="+")
    b.add_argument("--dataset", type=Path, required=True)
    b.add_argument("--seed", type=int, default=0)
    f = sub.add_parser("fit", help="train on a .npz dataset and export ONNX")
    f.add_argument("--dataset", type=Path, required=True)
    f.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "pii_net.onnx"
    )
    f.add_argument("--steps", type=int, default=1500)
    f.add_argument("--batch", type=int, default=32)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--threads", type=int, default=2)
    f.add_argument("--device", default="cpu")
    f.add_argument("--workers", type=int, default=0, help="DataLoader workers (augmentation)")
    a = ap.parse_args(argv)
    if a.cmd == "build":
        for fd in a.fleet_dirs:
            for gt in Path(fd, "_ground_truth").glob("*.json"):
                style = json.loads(gt.read_text()).get("render_style")
                if style not in (None, "default"):
                    raise SystemExit(f"{gt}: render style {style!r}; train on the default style only")
        X, T, W, B = build_dataset(a.fleet_dirs, seed=a.seed)
        save_dataset(a.dataset, X, T, W, B, a.fleet_dirs)
        print(json.dumps({"crops": len(X), "bytes": a.dataset.stat().st_size}))
        return 0
    meta = train(
        a.dataset,
        a.out,
        steps=a.steps,
        batch=a.batch,
        seed=a.seed,
        threads=a.threads,
        device=a.device,
        workers=a.workers,
    )
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
