"""Human QA of labels: which frames people check (`sample_for_qa`), how k annotators' boxes become
verified labels (`consensus`), how far annotators agree (`agreement`), how good each one is on gold
frames (`annotator_accuracy`), and the blocking check datasets run before trusting verified labels
(`verified_labels_check`).

Annotation rows are those of `av_assets.labels.label_studio.parse_import`: annotator, drive_id,
sensor_id, t_ns, class, x_min, y_min, x_max, y_max (native px), optionally width/height/gold.
Consensus records its evidence on every verified row: `votes` (annotators who drew the box) and
`annotators` (annotators who looked at the frame), which `verified_labels_check` requires."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import polars as pl
from scipy.optimize import linear_sum_assignment

from av_assets.labels import schema
from av_assets.shared.geometry import iou_matrix
from av_contracts.taxonomy import OBJECT_CLASSES

KEY = ["drive_id", "sensor_id", "t_ns"]
BOX = ["x_min", "y_min", "x_max", "y_max"]
DISTANCE_BANDS = ("near", "mid", "far")
CONSENSUS_LABEL_SET = "qa-consensus"
VERIFIED_SOURCES = ("human", "adjudicated")
BOX_TOL = 1e-6  # px


# ------------------------------------------------------------------------------------------- sampling


@dataclass(frozen=True)
class SamplingPlan:
    """How many frames people look at. Every frame with a needs_review label goes (the labeller
    asked); accepted frames are sampled per stratum (slice x confidence band) so that QA measures
    the quality of what ships, including rare slices; gold frames (known truth) measure the
    annotators themselves."""

    annotators_per_task: int = 3
    accepted_share: float = 0.1  # of accepted-only (and of empty) frames, per stratum
    low_score: float = 0.5  # an accepted label below this makes its frame low_confidence
    low_confidence_share: float = 0.5  # of low_confidence frames, per stratum
    gold_frames: int = 10
    min_per_stratum: int = 1  # so every stratum is measured, however small
    near_fraction: float = 0.25  # tallest box / image height from which a frame is "near"
    far_fraction: float = 0.08  # ... below which it is "far" (between: "mid")

    def __post_init__(self):
        if self.annotators_per_task < 2:
            raise ValueError("consensus needs at least 2 annotators per task")
        for name in ("accepted_share", "low_confidence_share", "low_score"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1]")
        if self.gold_frames < 0 or self.min_per_stratum < 0:
            raise ValueError("gold_frames and min_per_stratum must be >= 0")
        if not 0.0 < self.far_fraction <= self.near_fraction:
            raise ValueError("need 0 < far_fraction <= near_fraction")


def _rng(seed: int, stratum: str) -> np.random.Generator:
    """One generator per stratum: a stratum's picks do not move when another stratum changes."""
    digest = hashlib.blake2b(f"{seed}\x1f{stratum}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "big"))


def _pick(rows: list[dict], n: int, seed: int, stratum: str) -> list[dict]:
    rows = sorted(rows, key=lambda r: (r["drive_id"], r["sensor_id"], r["t_ns"]))
    order = _rng(seed, stratum).permutation(len(rows))
    return [rows[i] for i in sorted(order[:n])]


def sample_for_qa(frames: pl.DataFrame, labels: pl.DataFrame, plan: SamplingPlan, seed: int) -> pl.DataFrame:
    """Frames to send to annotators, deterministic for (frames, labels, plan, seed).

    `frames`: drive_id, sensor_id, t_ns, width, height, slices (list[str]), optionally gold (bool:
    truth known). A frame's distance band (near|mid|far, from its tallest label) joins its slices
    unless they carry one. A frame's band: needs_review (any needs_review label: all go),
    low_confidence (an accepted label scored below plan.low_score), accepted, or empty (no labels);
    rejected labels are ignored. Its stratum slice is its rarest slice, so rare conditions are not
    drowned by common ones; a final pass adds one frame for any slice still missing.

    Returns the chosen frames' columns plus `slices` (with the distance band), `band`, `gold` and
    `stratum`: `gold`, `needs_review/<slice>`, `low_confidence/<slice>`, `accepted/<slice>`,
    `empty/<slice>` or `coverage/<slice>` (why the frame was chosen), sorted by frame key."""
    live = labels.filter(pl.col("status") != "rejected")
    per_frame = live.group_by(KEY).agg(
        pl.len().alias("_n"),
        (pl.col("status") == "needs_review").any().alias("_review"),
        pl.col("score").min().alias("_min_score"),
        (pl.col("y_max") - pl.col("y_min")).max().alias("_tallest"),
    )
    f = frames.join(per_frame, on=KEY, how="left")
    if "gold" not in f.columns:
        f = f.with_columns(pl.lit(False).alias("gold"))
    f = f.with_columns(
        pl.col("gold").fill_null(False),
        pl.when(pl.col("_review"))
        .then(pl.lit("needs_review"))
        .when(pl.col("_n").is_null())
        .then(pl.lit("empty"))
        .when(pl.col("_min_score") < plan.low_score)
        .then(pl.lit("low_confidence"))
        .otherwise(pl.lit("accepted"))
        .alias("band"),
        pl.when(pl.col("_tallest").is_null())
        .then(pl.lit(None, pl.String))
        .when(pl.col("_tallest") >= plan.near_fraction * pl.col("height"))
        .then(pl.lit("near"))
        .when(pl.col("_tallest") >= plan.far_fraction * pl.col("height"))
        .then(pl.lit("mid"))
        .otherwise(pl.lit("far"))
        .alias("_distance"),
    )
    rows = f.sort(KEY).to_dicts()
    for r in rows:
        slices = list(r["slices"] or [])
        if r["_distance"] and not any(s in DISTANCE_BANDS for s in slices):
            slices.append(r["_distance"])
        r["slices"] = slices
    counts = Counter(s for r in rows for s in set(r["slices"]))
    for r in rows:
        r["_slice"] = min(r["slices"], key=lambda s: (counts[s], s)) if r["slices"] else "none"

    chosen: dict[tuple, str] = {}

    def take(picked: list[dict], stratum: str) -> None:
        for r in picked:
            chosen.setdefault((r["drive_id"], r["sensor_id"], r["t_ns"]), stratum)

    take(_pick([r for r in rows if r["gold"]], plan.gold_frames, seed, "gold"), "gold")
    pool = [r for r in rows if not r["gold"]]
    strata: dict[str, list[dict]] = {}
    for r in pool:
        strata.setdefault(f"{r['band']}/{r['_slice']}", []).append(r)
    share = {"needs_review": 1.0, "low_confidence": plan.low_confidence_share}
    for stratum in sorted(strata):
        members = strata[stratum]
        s = share.get(stratum.split("/")[0], plan.accepted_share)
        n = min(len(members), max(plan.min_per_stratum, math.ceil(s * len(members) - 1e-9)))
        take(_pick(members, n, seed, stratum), stratum)

    def covered() -> set[str]:
        return {s for r in rows if (r["drive_id"], r["sensor_id"], r["t_ns"]) in chosen for s in r["slices"]}

    for s in sorted(counts):
        if s not in covered():
            have = [r for r in pool if s in r["slices"]] or [r for r in rows if s in r["slices"]]
            take(_pick(have, 1, seed, f"coverage/{s}"), f"coverage/{s}")
    out = [
        {k: v for k, v in r.items() if not k.startswith("_")}
        | {"stratum": chosen[(r["drive_id"], r["sensor_id"], r["t_ns"])]}
        for r in rows
        if (r["drive_id"], r["sensor_id"], r["t_ns"]) in chosen
    ]
    schema = {c: t for c, t in frames.schema.items() if c not in ("slices", "gold", "band", "stratum")}
    schema |= {"slices": pl.List(pl.String), "gold": pl.Boolean, "band": pl.String, "stratum": pl.String}
    return pl.DataFrame(out, schema=schema)


# ------------------------------------------------------------------------------------------ matching


def _match(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """One-to-one matches with the largest total IoU, keeping pairs at or above the threshold."""
    if iou.size == 0:
        return []
    r, c = linear_sum_assignment(-iou)
    return [(int(i), int(j)) for i, j in zip(r, c, strict=True) if iou[i, j] >= threshold]


def _clusters(boxes: np.ndarray, owners: list[str], iou_match: float) -> list[list[int]]:
    """Group one frame's boxes into objects: annotators in name order, each one's boxes assigned by
    Hungarian matching onto the clusters so far (centre = per-coordinate median), at most one box
    per annotator per cluster; unmatched boxes open clusters. Class-agnostic, so a class confusion
    still counts as the same object (and then as a class disagreement)."""
    clusters: list[list[int]] = []
    for who in sorted(set(owners)):
        mine = [i for i, o in enumerate(owners) if o == who]
        centres = np.array([np.median(boxes[c], axis=0) for c in clusters]).reshape(-1, 4)
        matched = _match(iou_matrix(boxes[mine], centres), iou_match)
        for i, j in matched:
            clusters[j].append(mine[i])
        done = {i for i, _ in matched}
        clusters.extend([mine[i]] for i in range(len(mine)) if i not in done)
    return clusters


def _frames(annotations: pl.DataFrame):
    """(key, frame rows sorted deterministically) per frame, frames in key order."""
    cols = ["annotator", *KEY, "class", *BOX]
    rows = annotations.sort(["annotator", *KEY, *BOX, "class"]).select(cols).rows()
    frames: dict[tuple, list[tuple]] = {}
    for r in rows:
        frames.setdefault((r[1], r[2], r[3]), []).append(r)
    return sorted(frames.items())


def _frame_annotators(annotations: pl.DataFrame, submissions: pl.DataFrame | None) -> dict[tuple, set[str]]:
    seen: dict[tuple, set[str]] = {}
    for src in (annotations, submissions):
        if src is not None and src.height:
            for a, d, s, t in src.select("annotator", *KEY).rows():
                seen.setdefault((d, s, t), set()).add(a)
    return seen


# ------------------------------------------------------------------------------------------ consensus


@dataclass(frozen=True)
class ConsensusResult:
    """`labels`: verified label rows (the `labels` contract columns plus `votes`, `annotators`,
    `width`, `height`). `adjudication`: clusters a person must decide, with `reason`. `frames`: one row
    per annotated frame (for `label_frames`): verified when nothing is left to adjudicate."""

    labels: pl.DataFrame
    adjudication: pl.DataFrame
    frames: pl.DataFrame


def _cluster_id(key: tuple, box: np.ndarray, taken: set[str]) -> str:
    """Deterministic from the frame key and the cluster's (median) box, not its class, so an
    adjudicated cluster keeps its id."""
    base = f"{key[0]}\x1f{key[1]}\x1f{key[2]}\x1f" + "\x1f".join(f"{v:.1f}" for v in box)
    n = 0
    while True:
        lid = hashlib.blake2b(f"{base}\x1f{n}".encode(), digest_size=8).hexdigest()
        if lid not in taken:
            taken.add(lid)
            return lid
        n += 1


LABEL_SCHEMA = schema.REVIEWS
ADJUDICATION_SCHEMA = {
    "label_id": pl.String,
    "drive_id": pl.String,
    "sensor_id": pl.String,
    "t_ns": pl.Int64,
    "reason": pl.String,
    "class": pl.String,
    "classes": pl.List(pl.String),
    "drawn_by": pl.List(pl.String),
    "votes": pl.Int64,
    "annotators": pl.Int64,
    "x_min": pl.Float64,
    "y_min": pl.Float64,
    "x_max": pl.Float64,
    "y_max": pl.Float64,
    "width": pl.Int64,
    "height": pl.Int64,
    "label_set": pl.String,
}
FRAME_SCHEMA = schema.REVIEW_FRAMES


def consensus(
    annotations: pl.DataFrame,
    k: int,
    iou_match: float = 0.5,
    submissions: pl.DataFrame | None = None,
    label_set: str = CONSENSUS_LABEL_SET,
) -> ConsensusResult:
    """Verified labels from k annotators per frame.

    A frame's annotators are those with a box or a submission (an empty submission votes "nothing
    here"); the majority is of max(k, that count), so an annotator who never answered counts as not
    drawing, never as agreeing. A cluster (see `_clusters`) is kept when a majority drew it and
    more than half of its voters agree on the class; its box is the per-coordinate median, its score
    votes / annotators. A box fewer than half of the frame's
    submitting annotators drew is dropped (the majority saw nothing there). Otherwise it goes to
    adjudication: `no_majority` (exactly half, or too few answered), `class_tie` (top classes
    tied) or `class_split` (a unique top class without half of the votes)."""
    if k < 2:
        raise ValueError("consensus needs k >= 2 annotators per frame")
    who = _frame_annotators(annotations, submissions)
    sizes: dict[tuple, tuple[int | None, int | None]] = {}
    for src in (annotations, submissions):
        if src is not None and {"width", "height"} <= set(src.columns):
            for d, s, t, w, h in src.select(*KEY, "width", "height").rows():
                sizes[(d, s, t)] = (w, h)
    grouped = dict(_frames(annotations))
    labels, adjudication, frames = [], [], []
    for key in sorted(who):
        rows = grouped.get(key, [])
        n_ann = len(who[key])
        need = max(k, n_ann) // 2 + 1
        w, h = sizes.get(key, (None, None))
        boxes = np.array([r[5:9] for r in rows], float).reshape(-1, 4)
        taken: set[str] = set()
        n_labels = n_adj = 0
        members_all = _clusters(boxes, [r[0] for r in rows], iou_match)
        members_all.sort(key=lambda m: tuple(np.median(boxes[m], axis=0)))
        for members in members_all:
            box = np.median(boxes[members], axis=0)
            classes = [rows[i][4] for i in members]
            ranked = Counter(classes).most_common()
            top, top_n = ranked[0]
            votes = len(members)
            lid = _cluster_id(key, box, taken)
            base = {"label_id": lid, "drive_id": key[0], "sensor_id": key[1], "t_ns": key[2]}
            base |= dict(zip(BOX, map(float, box), strict=True))
            base |= {"votes": votes, "annotators": n_ann, "width": w, "height": h, "label_set": label_set}
            if 2 * votes < n_ann:
                continue  # a clear minority of those who looked drew it: the majority saw nothing
            if votes < need:
                reason = "no_majority"  # exactly half drew it
            elif len(ranked) > 1 and ranked[1][1] == top_n:
                reason = "class_tie"
            elif 2 * top_n <= votes:
                reason = "class_split"
            else:
                reason = None
            if reason is None:
                n_labels += 1
                labels.append(
                    base
                    | {
                        "class": top,
                        "track_id": None,
                        "score": round(votes / max(k, n_ann), 4),
                        "source": "human",
                        "status": "verified",
                    }
                )
            else:
                n_adj += 1
                drawn_by = [rows[i][0] for i in members]
                tied = len(ranked) > 1 and ranked[1][1] == top_n
                adjudication.append(
                    base
                    | {
                        "reason": reason,
                        "class": None if tied else top,
                        "classes": classes,
                        "drawn_by": drawn_by,
                    }
                )
        frames.append(
            {
                "drive_id": key[0],
                "sensor_id": key[1],
                "t_ns": key[2],
                "annotators": n_ann,
                "labels": n_labels,
                "adjudications": n_adj,
                "status": "verified" if n_adj == 0 else "needs_review",
                "label_set": label_set,
            }
        )
    open_frames = {(f["drive_id"], f["sensor_id"], f["t_ns"]) for f in frames if f["adjudications"]}
    for row in labels:  # decided, but its frame is not verified until every box is
        if (row["drive_id"], row["sensor_id"], row["t_ns"]) in open_frames:
            row["status"] = "needs_review"
    return ConsensusResult(
        labels=pl.DataFrame(labels, schema=LABEL_SCHEMA),
        adjudication=pl.DataFrame(adjudication, schema=ADJUDICATION_SCHEMA),
        frames=pl.DataFrame(frames, schema=FRAME_SCHEMA),
    )


# ------------------------------------------------------------------------------------------ agreement


def _alpha(matrix: np.ndarray) -> float:
    """Krippendorff's nominal alpha; 1.0 when every pairable value agrees on one category (alpha is
    0/0 there), NaN when no unit has two values."""
    import krippendorff

    pairable = (~np.isnan(matrix)).sum(axis=0) >= 2
    if not pairable.any():
        return float("nan")
    values = np.unique(matrix[:, pairable][~np.isnan(matrix[:, pairable])])
    if values.size < 2:
        return 1.0
    return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))


def agreement(
    annotations: pl.DataFrame, iou_match: float = 0.5, submissions: pl.DataFrame | None = None
) -> dict:
    """How far annotators agree, to trust (or retrain) the panel.

    `mean_iou` / `mean_iou_per_class`: mean IoU over every pair of boxes in the same cluster (class =
    the cluster's most common, ties by name). `alpha_class`: Krippendorff's nominal alpha on the
    class of clusters (units = clusters, coders = annotators, missing = not drawn): class agreement
    only — misses show in `mean_votes` (boxes per cluster) against the annotators per frame."""
    who = _frame_annotators(annotations, submissions)
    annotators = sorted({a for s in who.values() for a in s})
    col = {a: i for i, a in enumerate(annotators)}
    cls_code = {c: float(i) for i, c in enumerate(OBJECT_CLASSES)}
    ious: dict[str, list[float]] = {}
    units: list[np.ndarray] = []
    votes: list[int] = []
    for _key, rows in _frames(annotations):
        boxes = np.array([r[5:9] for r in rows], float).reshape(-1, 4)
        for members in _clusters(boxes, [r[0] for r in rows], iou_match):
            ranked = Counter(rows[i][4] for i in members).most_common()
            cls = min(c for c, n in ranked if n == ranked[0][1])
            for i, j in combinations(members, 2):
                ious.setdefault(cls, []).append(float(iou_matrix(boxes[i], boxes[j])[0, 0]))
            unit = np.full(len(annotators), np.nan)
            for i in members:
                unit[col[rows[i][0]]] = cls_code.get(rows[i][4], -1.0)
            units.append(unit)
            votes.append(len(members))
    all_ious = [v for vs in ious.values() for v in vs]
    return {
        "tasks": len(who),
        "annotators": len(annotators),
        "annotators_per_task": float(np.mean([len(s) for s in who.values()])) if who else float("nan"),
        "clusters": len(units),
        "mean_votes": float(np.mean(votes)) if votes else float("nan"),
        "matched_pairs": len(all_ious),
        "mean_iou": float(np.mean(all_ious)) if all_ious else float("nan"),
        "mean_iou_per_class": {c: float(np.mean(v)) for c, v in sorted(ious.items())},
        "alpha_class": _alpha(np.stack(units, axis=1) if units else np.empty((len(annotators), 0))),
    }


def annotator_accuracy(
    annotations: pl.DataFrame,
    gold: pl.DataFrame,
    iou: float = 0.5,
    submissions: pl.DataFrame | None = None,
    gold_frames: set[tuple] | None = None,
) -> dict[str, dict]:
    """Precision/recall/F1 of each annotator on the gold frames they did (a box counts when it
    matches a true box of the same class at IoU >= `iou`, one-to-one). `gold`: true boxes, label
    columns; `gold_frames` (frame keys) adds gold frames with nothing on them, where any box is a false
    positive (default: the frames in `gold`).
    Any rows with an `annotator` column can be scored, e.g. consensus labels."""
    truth: dict[tuple, list[tuple]] = {}
    for r in gold.select(*KEY, "class", *BOX).rows():
        truth.setdefault(r[:3], []).append(r)
    gold_keys = set(truth) | set(gold_frames or ())
    who = _frame_annotators(annotations, submissions)
    drawn: dict[tuple, list[tuple]] = {}
    for r in annotations.select("annotator", *KEY, "class", *BOX).rows():
        drawn.setdefault((r[0], r[1], r[2], r[3]), []).append(r[1:])
    out: dict[str, dict] = {}
    for annotator in sorted({a for s in who.values() for a in s}):
        tp = fp = fn = n_frames = 0
        for key in sorted(k for k, s in who.items() if annotator in s and k in gold_keys):
            n_frames += 1
            pred, true = drawn.get((annotator, *key), []), truth.get(key, [])
            m = iou_matrix([p[4:8] for p in pred], [t[4:8] for t in true])
            same = np.array([[p[3] == t[3] for t in true] for p in pred], bool).reshape(m.shape)
            hits = len(_match(np.where(same, m, 0.0), iou)) if m.size else 0
            tp, fp, fn = tp + hits, fp + len(pred) - hits, fn + len(true) - hits
        if not n_frames:
            continue
        precision = tp / (tp + fp) if tp + fp else float(fn == 0)
        recall = tp / (tp + fn) if tp + fn else float(fp == 0)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[annotator] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "frames": n_frames,
        }
    return out


# ------------------------------------------------------------------------------------------ the check


def _examples(df: pl.DataFrame, n: int = 3) -> str:
    return ", ".join(df["label_id"].head(n).cast(pl.String).fill_null("<null>").to_list())


def verified_labels_check(
    labels: pl.DataFrame, frame_sizes: pl.DataFrame | None = None
) -> tuple[bool, list[str]]:
    """The blocking check on verified labels (status == verified) before a dataset uses them: source
    human|adjudicated, class in the taxonomy, score in [0, 1], finite boxes with positive size inside
    the frame (width/height columns, or `frame_sizes` by frame key or by drive_id+sensor_id), unique
    label_id, and recorded consensus: `annotators` >= 2 on every row and, for human rows, `votes`
    >= 2 and more than half of `annotators`. Returns (passed, reasons)."""
    reasons: list[str] = []
    v = labels.filter(pl.col("status") == "verified")
    if v.is_empty():
        return True, reasons
    missing = [c for c in ["label_id", *KEY, "class", *BOX, "score", "source"] if c not in v.columns]
    if missing:
        return False, [f"verified labels lack columns {missing}"]

    def fault(mask: pl.Expr, what: str) -> None:
        bad = v.filter(mask.fill_null(True))
        if bad.height:
            reasons.append(f"{bad.height} verified label(s) {what} (e.g. {_examples(bad)})")

    fault(~pl.col("source").is_in(VERIFIED_SOURCES), f"with source not in {'|'.join(VERIFIED_SOURCES)}")
    fault(~pl.col("class").is_in(OBJECT_CLASSES), "with a class outside the taxonomy")
    fault(~pl.col("score").is_between(0.0, 1.0), "with a score outside [0, 1]")
    finite = pl.all_horizontal([pl.col(c).is_finite() for c in BOX])
    fault(~finite, "with a non-finite box coordinate")
    fault(
        finite & ~((pl.col("x_max") > pl.col("x_min")) & (pl.col("y_max") > pl.col("y_min"))),
        "with an empty or inverted box",
    )
    sized = v.filter(finite.fill_null(False))
    if not {"width", "height"} <= set(v.columns) and frame_sizes is not None:
        on = KEY if "t_ns" in frame_sizes.columns else ["drive_id", "sensor_id"]
        sizes = frame_sizes.select(*on, "width", "height").unique(on)
        sized = sized.join(sizes, on=on, how="left")
    if {"width", "height"} <= set(sized.columns):
        outside = (
            (pl.col("x_min") < -BOX_TOL)
            | (pl.col("y_min") < -BOX_TOL)
            | (pl.col("x_max") > pl.col("width") + BOX_TOL)
            | (pl.col("y_max") > pl.col("height") + BOX_TOL)
        )
        bad = sized.filter(outside.fill_null(True))
        if bad.height:
            reasons.append(
                f"{bad.height} verified label(s) with a box outside the frame or no frame size "
                f"(e.g. {_examples(bad)})"
            )
    else:
        reasons.append("cannot check boxes lie inside the frame: no width/height (columns or frame_sizes)")
    dups = v.filter(pl.col("label_id").is_duplicated())
    if dups.height:
        reasons.append(
            f"{dups.height} verified label(s) share a label_id (e.g. {_examples(dups.unique('label_id'))})"
        )
    if "annotators" not in v.columns:
        reasons.append("no consensus recorded: verified labels have no `annotators` column")
    else:
        fault(pl.col("annotators") < 2, "from a frame with fewer than 2 annotators")
        human = pl.col("source") == "human"
        if "votes" not in v.columns:
            reasons.append("no consensus recorded: verified labels have no `votes` column")
        else:
            fault(
                human
                & (
                    (pl.col("votes") < 2)
                    | (2 * pl.col("votes") <= pl.col("annotators"))
                    | (pl.col("votes") > pl.col("annotators"))
                ),
                "without a majority of >= 2 annotators' votes",
            )
    return not reasons, reasons
