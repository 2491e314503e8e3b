"""Clip-level precision / truth coverage of event queries on a processed fleet (a folder made by
`tests.helpers.processed_fleet`: <dir>/lake and <dir>/landing/_ground_truth). Ground truth is read
here only. Usage: `python -m tests.mining.measure DIR`."""

import glob
import json
import sys

from av_assets.mining.mine import mine
from av_resources.lake import LakeStorage
from av_resources.vector_store import VectorStoreResource

PAIRS = [
    ("cut_in", "cut_in"),
    ("stationary_hazard", "stationary_hazard"),
    ("harsh_braking", "harsh_brake"),
    ("ego_lane_change", "lane_change"),
    ("disengagement", "disengagement"),
    ("speeding", "speeding"),
]


def _overlaps(c, e) -> bool:
    return e["t_start_ns"] < c["t_end_ns"] and e["t_end_ns"] >= c["t_start_ns"]


def measure(root: str, budget: int = 100) -> list[dict]:
    lake = LakeStorage(root=f"{root}/lake")
    gt = {}
    for p in glob.glob(f"{root}/landing/_ground_truth/*.json"):
        g = json.load(open(p))
        gt[g["drive_id"]] = g
    store = VectorStoreResource().clips(lake)
    out = []
    for query, etype in PAIRS:
        cands = mine(lake, query, budget=budget, embeddings=store).document["candidates"]
        by_drive = {d: [e for e in g.get("events", []) if e["type"] == etype] for d, g in gt.items()}
        events = by_drive.get
        right = sum(any(_overlaps(c, e) for e in events(c["drive_id"], [])) for c in cands)
        truth = [(d, e) for d in gt for e in events(d, [])]
        found = sum(any(c["drive_id"] == d and _overlaps(c, e) for c in cands) for d, e in truth)
        out.append(
            {
                "query": query,
                "candidates": len(cands),
                "precision": right / len(cands) if cands else None,
                "truth": len(truth),
                "found": found,
            }
        )
    return out


if __name__ == "__main__":
    for row in measure(sys.argv[1]):
        print(row)
