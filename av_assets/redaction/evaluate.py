"""Recall/precision of the redaction detectors against per-frame ground-truth PII boxes.

Works on a directory of drive offloads (any folder holding bags, e.g. a synthetic fleet's output) plus a
folder of ground-truth documents `<drive_id>.json` carrying `pii_boxes` (docs/redaction.md). It reads
the bags with ingestion's container readers; it never imports the generator (av_fleet).

Evaluation rule (docs/redaction.md, "Measured on the synthetic fleet"):
- per box, per class; a detection matches a ground-truth box when IoU >= 0.3 or it covers >= 70 % of
  the box; greedy one-to-one (`redact.match_counts`);
- the ground truth's `faces`/`plates` (flag `ok`) are the positives; its `ignored` boxes (flag
  `too_small` or `occluded`) are don't-care: they count neither as misses nor, when a detection
  matches one, as false positives (the count of ignored boxes is reported);
- frames without a `pii_boxes` entry are evaluated with no positives (every detection there is a
  false positive).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from av_assets.redaction.config import DEFAULT_CONFIG, RedactionConfig
from av_assets.redaction.frames import BAG_FORMATS, COMPRESSED_IMAGE, decode_image
from av_assets.redaction.redact import match_counts, matches

KINDS = (("face", "faces"), ("plate", "plates"))


def find_bags(root: str | Path) -> list[tuple[str, Path, str]]:
    """`(drive_id, bag path, format)` for every bag under `root` (drive id = the folder holding drive.json)."""
    root = Path(root)
    out = []
    for dj in sorted(root.rglob("drive.json")):
        drive_dir = dj.parent
        drive_id = json.loads(dj.read_text()).get("drive_id", drive_dir.name)
        for p in sorted(drive_dir.rglob("*")):
            if p.suffix == ".mcap":
                out.append((drive_id, p, "mcap"))
            elif p.suffix == ".db3":
                out.append((drive_id, p, "ros2-sqlite3"))
            elif p.suffix == ".bag":
                out.append((drive_id, p, "ros1-bag"))
    assert all(f in BAG_FORMATS for _, _, f in out)
    return out


def iter_bag_images(
    path: str | Path, fmt: str, keyframe_hz: float | None = 2.0
) -> Iterator[tuple[int, bytes]]:
    """`(header stamp ns, compressed bytes)` of every CompressedImage (thinned to keyframes like the asset)."""
    from av_assets.redaction.frames import _deserialise
    from av_assets.shared.bag_containers import Typestores, iter_messages, normalise_type

    stores = Typestores()
    period = int(1e9 / keyframe_hz) if keyframe_hz else 0
    seen: set[tuple[str, int]] = set()
    for raw in iter_messages(path, fmt):
        if normalise_type(raw.type or "") != COMPRESSED_IMAGE:
            continue
        decoded = _deserialise(stores, raw)
        if decoded is None:
            continue
        stamp, data, _fmt = decoded
        t_ns = stamp or int(raw.log_time)
        if period:
            key = (raw.topic, t_ns // period)
            if key in seen:
                continue
            seen.add(key)
        yield t_ns, data


def load_pii_boxes(gt_path: str | Path) -> dict[int, dict[str, list]]:
    """`{t_ns: {"faces": [...], "plates": [...], "ignored": {"face": [...], "plate": [...]}}}` (source px)."""
    doc = json.loads(Path(gt_path).read_text())
    out: dict[int, dict[str, Any]] = {}
    for row in doc.get("pii_boxes") or []:
        ign: dict[str, list] = {"face": [], "plate": []}
        for item in row.get("ignored") or []:
            ign.setdefault(str(item["kind"]), []).append(list(item["box"]))
        out[int(row["t_ns"])] = {
            "faces": [list(b[:4]) for b in row.get("faces", [])],
            "plates": [list(b[:4]) for b in row.get("plates", [])],
            "ignored": ign,
        }
    return out


def score_frame(
    gt: Mapping[str, Any] | None, dets: Sequence[Any], scale: float = 1.0
) -> dict[str, dict[str, int]]:
    """Per-class tp/fp/fn/ignored_fp of one frame; `dets` are `Detection`s in working pixels,
    `gt` in source pixels (multiplied by `scale`)."""
    out: dict[str, dict[str, int]] = {}
    for kind, key in KINDS:
        pos = [[v * scale for v in b[:4]] for b in (gt or {}).get(key, [])]
        ign = [[v * scale for v in b[:4]] for b in ((gt or {}).get("ignored") or {}).get(kind, [])]
        boxes = [list(d.box) for d in dets if d.kind == kind]
        c = match_counts(pos, boxes)
        # Detections left unmatched that hit a don't-care box are not false positives.
        if c["fp"] and ign:
            unmatched = _unmatched(pos, boxes)
            hit = sum(any(matches(g, b) or matches(b, g) for g in ign) for b in unmatched)
            c["fp"] -= hit
            c["ignored_hits"] = hit
        c.setdefault("ignored_hits", 0)
        c["ignored"] = len(ign)
        out[kind] = c
    return out


def _unmatched(gt_boxes: Sequence[Sequence[float]], det_boxes: Sequence[Sequence[float]]) -> list:
    from av_assets.redaction.redact import coverage, iou

    pairs = sorted(
        (
            (iou(g, d), coverage(g, d), i, j)
            for i, g in enumerate(gt_boxes)
            for j, d in enumerate(det_boxes)
            if matches(g, d)
        ),
        reverse=True,
    )
    ug: set[int] = set()
    ud: set[int] = set()
    for _a, _b, i, j in pairs:
        if i not in ug and j not in ud:
            ug.add(i)
            ud.add(j)
    return [d for j, d in enumerate(det_boxes) if j not in ud]


def evaluate_fleet(
    fleet_dir: str | Path,
    gt_dir: str | Path | None = None,
    config: RedactionConfig = DEFAULT_CONFIG,
    *,
    keyframe_hz: float | None = 2.0,
    max_frames: int = 0,
    keep_misses: bool = False,
) -> dict[str, Any]:
    """Run `redact_frame_full` over the camera (key)frames of every drive in `fleet_dir`; per-class totals."""
    from av_assets.redaction.redact import redact_frame_full

    fleet_dir = Path(fleet_dir)
    gt_dir = Path(gt_dir) if gt_dir else fleet_dir / "_ground_truth"
    totals = {k: {"tp": 0, "fp": 0, "fn": 0, "ignored": 0, "ignored_hits": 0} for k, _ in KINDS}
    frames = 0
    det_s = 0.0
    misses: list[dict[str, Any]] = []
    sizes: tuple[int, int] | None = None
    for drive_id, bag, fmt in find_bags(fleet_dir):
        gt = load_pii_boxes(gt_dir / f"{drive_id}.json")
        for t_ns, data in iter_bag_images(bag, fmt, keyframe_hz):
            rgb = decode_image(data)
            sizes = rgb.shape[1], rgb.shape[0]
            t0 = time.perf_counter()
            res = redact_frame_full(rgb, config)
            det_s += time.perf_counter() - t0
            frames += 1
            g = gt.get(t_ns)
            sc = score_frame(g, res.detections, res.scale)
            for kind, c in sc.items():
                for k in totals[kind]:
                    totals[kind][k] += c.get(k, 0)
            if keep_misses and g and any(c["fn"] or c["fp"] for c in sc.values()):
                misses.append(
                    {
                        "drive_id": drive_id,
                        "t_ns": t_ns,
                        "gt": g,
                        "dets": [d.to_dict() for d in res.detections],
                    }
                )
            if max_frames and frames >= max_frames:
                break
        if max_frames and frames >= max_frames:
            break
    out: dict[str, Any] = {
        "frames": frames,
        "source_size": sizes,
        "frames_per_s": round(frames / det_s, 3) if det_s else None,
    }
    for kind, c in totals.items():
        n = c["tp"] + c["fn"]
        out[kind] = {
            **c,
            "recall": round(c["tp"] / n, 4) if n else None,
            "precision": round(c["tp"] / (c["tp"] + c["fp"]), 4) if c["tp"] + c["fp"] else None,
        }
    if keep_misses:
        out["misses"] = misses
    return out


def _main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - developer tool
    import argparse

    ap = argparse.ArgumentParser(description="recall/precision of redaction on a fleet directory")
    ap.add_argument("fleet_dir")
    ap.add_argument("--keyframe-hz", type=float, default=2.0)
    ap.add_argument("--max-frames", type=int, default=0)
    ap.add_argument("--no-pii-net", action="store_true", help="without pii_net + verifier (redaction-v1)")
    a = ap.parse_args(argv)
    cfg = DEFAULT_CONFIG.with_(pii_net=False) if a.no_pii_net else DEFAULT_CONFIG
    res = evaluate_fleet(a.fleet_dir, config=cfg, keyframe_hz=a.keyframe_hz or None, max_frames=a.max_frames)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())


__all__ = ["evaluate_fleet", "find_bags", "iter_bag_images", "load_pii_boxes", "score_frame", "np"]
