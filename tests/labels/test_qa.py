"""QA sampling and consensus on synthetic annotators with known truth: consensus beats the median
annotator, disagreements reach adjudication, alpha tracks noise, sampling is reproducible and
covers every stratum, and the verified-labels check catches each fault."""

import numpy as np
import polars as pl
import pytest

from av_assets.labels.qa import (
    SamplingPlan,
    agreement,
    annotator_accuracy,
    consensus,
    sample_for_qa,
    verified_labels_check,
)
from av_contracts.taxonomy import OBJECT_CLASSES

W, H = 1920, 1080
# two careful annotators who still miss a fifth of the objects, one careless one
PANEL = {
    "ann_a": {"miss": 0.2, "confuse": 0.02, "sd": 2.0, "fp": 0.3},
    "ann_b": {"miss": 0.2, "confuse": 0.02, "sd": 2.0, "fp": 0.3},
    "ann_c": {"miss": 0.35, "confuse": 0.1, "sd": 4.0, "fp": 1.0},
}
IDENTICAL = {a: {"miss": 0.0, "confuse": 0.0, "sd": 0.0, "fp": 0.0} for a in ("ann_a", "ann_b", "ann_c")}


def _world(seed=0, n_frames=150):
    """True boxes: up to 11 objects per frame, one per cell of a 6x4 grid (they do not overlap)."""
    rng = np.random.default_rng(seed)
    truth = []
    for f in range(n_frames):
        for c in rng.choice(24, size=rng.integers(0, 12), replace=False):
            w, h = rng.uniform(40, 250), rng.uniform(40, 220)
            x0, y0 = (c % 6) * 320 + rng.uniform(0, 320 - w), (c // 6) * 270 + rng.uniform(0, 270 - h)
            cls = str(rng.choice(OBJECT_CLASSES))
            truth.append({"drive_id": "d", "sensor_id": "cam", "t_ns": f, "class": cls,
                          "x_min": x0, "y_min": y0, "x_max": x0 + w, "y_max": y0 + h})  # fmt: skip
    return pl.DataFrame(truth), [("d", "cam", f) for f in range(n_frames)]


def _annotate(truth, frames, panel, seed=100):
    """Each annotator misses, confuses the class, jitters the box and adds false boxes at its rate.
    Every annotator submits every frame (an empty answer is an answer)."""
    rng = np.random.default_rng(seed)
    rows, subs = [], []
    for a, p in panel.items():
        subs += [{"annotator": a, "drive_id": d, "sensor_id": s, "t_ns": t} for d, s, t in frames]
        for r in truth.iter_rows(named=True):
            if rng.random() < p["miss"]:
                continue
            cls = r["class"]
            if rng.random() < p["confuse"]:
                cls = str(rng.choice([c for c in OBJECT_CLASSES if c != cls]))
            box = np.array([r["x_min"], r["y_min"], r["x_max"], r["y_max"]]) + rng.normal(0, p["sd"], 4)
            box = np.clip(box, 0, [W, H, W, H])
            rows.append({"annotator": a, "drive_id": r["drive_id"], "sensor_id": r["sensor_id"], "t_ns": r["t_ns"],
                         "class": cls, **dict(zip(["x_min", "y_min", "x_max", "y_max"], box.tolist(), strict=True))})  # fmt: skip
        for d, s, t in frames:
            for _ in range(rng.poisson(p["fp"])):
                x0, y0 = rng.uniform(0, W - 100), rng.uniform(0, H - 100)
                rows.append({"annotator": a, "drive_id": d, "sensor_id": s, "t_ns": t,
                             "class": str(rng.choice(OBJECT_CLASSES)), "x_min": x0, "y_min": y0,
                             "x_max": x0 + rng.uniform(20, 100), "y_max": y0 + rng.uniform(20, 100)})  # fmt: skip
    ann = pl.DataFrame(rows).with_columns(pl.lit(W).alias("width"), pl.lit(H).alias("height"))
    return ann, pl.DataFrame(subs).with_columns(pl.lit(W).alias("width"), pl.lit(H).alias("height"))


@pytest.fixture(scope="module")
def panel():
    truth, frames = _world()
    ann, subs = _annotate(truth, frames, PANEL)
    return truth, frames, ann, subs


def _box(a, cls, box, t=0):
    return {"annotator": a, "drive_id": "d", "sensor_id": "cam", "t_ns": t, "class": cls,
            "x_min": box[0], "y_min": box[1], "x_max": box[2], "y_max": box[3], "width": W, "height": H}  # fmt: skip


# ------------------------------------------------------------------------------------------ consensus


def test_consensus_beats_the_median_annotator(panel):
    truth, frames, ann, subs = panel
    gold = set(frames)
    res = consensus(ann, k=3, submissions=subs)
    single = annotator_accuracy(ann, truth, submissions=subs, gold_frames=gold)
    assert sorted(single) == ["ann_a", "ann_b", "ann_c"]
    assert single["ann_c"]["f1"] < min(single["ann_a"]["f1"], single["ann_b"]["f1"]) - 0.2
    assert single["ann_c"]["recall"] == pytest.approx(0.57, abs=0.03)  # 0.65 drawn x 0.9 right class
    assert single["ann_a"]["recall"] == pytest.approx(0.78, abs=0.03)
    voted = res.labels.with_columns(pl.lit("consensus").alias("annotator"))
    as_one = subs.with_columns(pl.lit("consensus").alias("annotator")).unique()
    cons = annotator_accuracy(voted, truth, submissions=as_one, gold_frames=gold)["consensus"]
    med_p = float(np.median([v["precision"] for v in single.values()]))
    med_r = float(np.median([v["recall"] for v in single.values()]))
    assert cons["precision"] >= 0.99 > med_p + 0.07  # false boxes never reach a majority
    assert cons["recall"] > med_r + 0.02  # a careful annotator's miss is rescued by the other two
    assert cons["frames"] == 150 and cons["tp"] + cons["fn"] == truth.height
    # verified rows carry their evidence, and pass the check datasets rely on
    assert set(res.labels["source"]) == {"human"}
    # a decided box is verified only once its whole frame is (no adjudication left there)
    open_frames = res.frames.filter(pl.col("adjudications") > 0).select("drive_id", "sensor_id", "t_ns")
    on_open = res.labels.join(open_frames, on=["drive_id", "sensor_id", "t_ns"], how="semi")
    assert set(on_open["status"]) <= {"needs_review"} and on_open.height < res.labels.height
    assert set(res.labels.join(open_frames, on=["drive_id", "sensor_id", "t_ns"], how="anti")["status"]) == {
        "verified"
    }
    assert res.labels["votes"].min() >= 2 and set(res.labels["annotators"]) == {3}
    assert res.labels["score"].to_list() == (res.labels["votes"] / 3).round(4).to_list()
    assert verified_labels_check(res.labels) == (True, [])
    assert res.frames.height == 150
    assert res.frames["labels"].sum() == res.labels.height
    assert res.frames["adjudications"].sum() == res.adjudication.height
    assert set(res.adjudication["reason"]) <= {"no_majority", "class_tie", "class_split"}


def test_consensus_is_deterministic(panel):
    _, _, ann, subs = panel
    a = consensus(ann, k=3, submissions=subs)
    b = consensus(ann.sample(fraction=1.0, shuffle=True, seed=7), k=3, submissions=subs)
    assert a.labels.equals(b.labels) and a.adjudication.equals(b.adjudication)
    assert a.labels["label_id"].is_unique().all() and a.labels["label_id"].str.len_chars().min() == 16


def test_adjudication_gets_the_ties():
    car = (100.0, 100.0, 300.0, 250.0)
    rows = [
        # frame 0: all three agree on a car (median box), two tie bus/truck, one box only ann_c drew
        # (a clear minority: dropped, not adjudicated)
        _box("ann_a", "car", car),
        _box("ann_b", "car", (102.0, 98.0, 304.0, 251.0)),
        _box("ann_c", "truck", (99.0, 101.0, 299.0, 249.0)),
        _box("ann_a", "bus", (1000.0, 500.0, 1200.0, 700.0)),
        _box("ann_b", "truck", (1003.0, 502.0, 1198.0, 703.0)),
        _box("ann_c", "pedestrian", (1600.0, 100.0, 1650.0, 220.0)),
        # frame 1: three-way class split
        _box("ann_a", "car", car, t=1),
        _box("ann_b", "truck", car, t=1),
        _box("ann_c", "bus", car, t=1),
    ]
    subs = pl.DataFrame(
        [
            {"annotator": a, "drive_id": "d", "sensor_id": "cam", "t_ns": t}
            for a in ("ann_a", "ann_b", "ann_c")
            for t in (0, 1, 2)
        ]  # fmt: skip
    )  # frame 2: everyone submitted nothing: verified empty
    res = consensus(pl.DataFrame(rows), k=3, submissions=subs, label_set="qa@1")
    [label] = res.labels.rows(named=True)
    assert (label["class"], label["votes"], label["annotators"], label["label_set"]) == ("car", 3, 3, "qa@1")
    assert (label["x_min"], label["y_min"], label["x_max"], label["y_max"]) == (100.0, 100.0, 300.0, 250.0)
    assert label["score"] == 1.0 and label["track_id"] is None
    adj = res.adjudication.sort("t_ns", "x_min").select(
        "t_ns", "reason", "class", "classes", "drawn_by", "votes"
    )
    assert adj.rows() == [
        (0, "class_tie", None, ["bus", "truck"], ["ann_a", "ann_b"], 2),
        (1, "class_tie", None, ["car", "truck", "bus"], ["ann_a", "ann_b", "ann_c"], 3),
    ]
    assert res.frames.sort("t_ns").select("t_ns", "labels", "adjudications", "status").rows() == [
        (0, 1, 1, "needs_review"),
        (1, 0, 1, "needs_review"),
        (2, 0, 0, "verified"),
    ]


def test_missing_annotator_counts_as_not_drawn():
    # k=3 but only ann_a answered: its box has 1 vote of the 2 needed
    res = consensus(pl.DataFrame([_box("ann_a", "car", (0.0, 0.0, 50.0, 50.0))]), k=3)
    assert res.labels.height == 0
    assert res.adjudication.select("reason", "votes", "annotators").rows() == [("no_majority", 1, 1)]
    with pytest.raises(ValueError, match="k >= 2"):
        consensus(pl.DataFrame([_box("ann_a", "car", (0.0, 0.0, 50.0, 50.0))]), k=1)


# ------------------------------------------------------------------------------------------ agreement


def test_alpha_one_for_identical_lower_for_noisy(panel):
    truth, frames, ann, subs = panel
    same, same_subs = _annotate(truth, frames, IDENTICAL)
    ag_same = agreement(same, submissions=same_subs)
    assert ag_same["alpha_class"] == 1.0
    assert ag_same["mean_iou"] == 1.0 and ag_same["mean_votes"] == 3.0
    assert ag_same["clusters"] == truth.height and ag_same["matched_pairs"] == 3 * truth.height
    assert (ag_same["tasks"], ag_same["annotators"], ag_same["annotators_per_task"]) == (150, 3, 3.0)
    ag = agreement(ann, submissions=subs)
    assert 0.8 < ag["alpha_class"] < 0.95  # class confusion, mostly the careless annotator's
    assert 0.85 < ag["mean_iou"] < 0.95  # 2-4 px jitter
    assert ag["mean_votes"] < 2.5 and ag["clusters"] > truth.height  # misses and false boxes
    assert set(ag["mean_iou_per_class"]) == set(OBJECT_CLASSES)
    careless_out = agreement(ann.filter(pl.col("annotator") != "ann_c"))
    assert careless_out["alpha_class"] > ag["alpha_class"]


def test_annotator_accuracy_counts():
    gold = pl.DataFrame(
        [_box("truth", "car", (0.0, 0.0, 100.0, 100.0)), _box("truth", "bus", (500.0, 0.0, 700.0, 200.0))]
    )
    ann = pl.DataFrame(
        [
            _box("a", "car", (2.0, 2.0, 101.0, 99.0)),  # hit
            _box("a", "car", (500.0, 0.0, 700.0, 200.0)),  # right place, wrong class: fp + fn
            _box("b", "car", (60.0, 60.0, 160.0, 160.0)),  # IoU 0.09: miss
            _box("b", "car", (0.0, 0.0, 100.0, 100.0), t=9),  # not a gold frame: not scored
        ]
    )
    acc = annotator_accuracy(ann, gold)
    assert acc["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "tp": 1, "fp": 1, "fn": 1, "frames": 1}
    assert (acc["b"]["precision"], acc["b"]["recall"], acc["b"]["frames"]) == (0.0, 0.0, 1)


# ------------------------------------------------------------------------------------------ sampling


def _sampling_world(n=400, seed=3):
    rng = np.random.default_rng(seed)
    frames, labels = [], []
    for i in range(n):
        slices = [s for s, p in (("night", 0.2), ("rain", 0.1), ("heldout_style", 0.05)) if rng.random() < p]
        frames.append({"drive_id": f"d{i % 4}", "sensor_id": "cam", "t_ns": i, "width": W, "height": H,
                       "slices": slices, "gold": bool(i % 50 == 0)})  # fmt: skip
        for j in range(int(rng.integers(0, 4))):
            h = float(rng.choice([30.0, 150.0, 400.0]))
            status = "needs_review" if rng.random() < 0.05 else "accepted"
            labels.append({"label_id": f"{i}-{j}", "drive_id": f"d{i % 4}", "sensor_id": "cam", "t_ns": i,
                           "class": "car", "x_min": 10.0, "y_min": 10.0, "x_max": 60.0, "y_max": 10.0 + h,
                           "track_id": None, "score": float(rng.uniform(0.3, 1.0)), "source": "auto",
                           "status": status, "label_set": "auto@1"})  # fmt: skip
    return pl.DataFrame(frames), pl.DataFrame(labels)


def test_sampling_deterministic_and_covers_strata():
    frames, labels = _sampling_world()
    plan = SamplingPlan(accepted_share=0.1, low_confidence_share=0.5, gold_frames=5)
    a = sample_for_qa(frames, labels, plan, seed=11)
    assert a.equals(sample_for_qa(frames.sample(fraction=1.0, shuffle=True, seed=1), labels, plan, seed=11))
    assert not a.equals(sample_for_qa(frames, labels, plan, seed=12))
    assert a.columns == [
        "drive_id",
        "sensor_id",
        "t_ns",
        "width",
        "height",
        "slices",
        "gold",
        "band",
        "stratum",
    ]
    keys = a.select("drive_id", "sensor_id", "t_ns").rows()
    assert a["t_ns"].is_unique().all() and keys == sorted(keys)
    # every needs_review frame goes
    review = set(labels.filter(pl.col("status") == "needs_review")["t_ns"]) - set(range(0, 400, 50))
    assert review and review <= set(a["t_ns"])
    # gold: the planned count, all of them gold-flagged frames
    gold = a.filter(pl.col("stratum") == "gold")
    assert gold.height == 5 and gold["gold"].all() and set(gold["t_ns"]) <= set(range(0, 400, 50))
    # every stratum of the pool is represented, shares as planned
    full = sample_for_qa(
        frames, labels, SamplingPlan(accepted_share=1.0, low_confidence_share=1.0, gold_frames=0), 11
    )
    pool = full.filter(~pl.col("gold")).group_by("stratum").len()
    got = a.group_by("stratum").len()
    assert set(pool["stratum"]) <= set(got["stratum"])
    assert {s.split("/")[0] for s in pool["stratum"]} == {
        "needs_review",
        "low_confidence",
        "accepted",
        "empty",
    }
    for stratum, n in pool.rows():
        share = {"needs_review": 1.0, "low_confidence": 0.5}.get(stratum.split("/")[0], 0.1)
        assert got.filter(pl.col("stratum") == stratum)["len"].item() == min(
            n, max(1, int(np.ceil(share * n)))
        ), stratum
    # every slice, rare or not, and every distance band appears
    every = {s for ss in full["slices"] for s in ss}
    assert every == {"night", "rain", "heldout_style", "near", "mid", "far"}
    assert every <= {s for ss in a["slices"] for s in ss}
    assert a.height < 0.4 * frames.height


def test_sampling_band_and_distance_rules():
    frames = pl.DataFrame({"drive_id": ["d"] * 4, "sensor_id": ["c"] * 4, "t_ns": [0, 1, 2, 3], "width": [W] * 4,
                           "height": [H] * 4, "slices": [["rain"], [], ["far"], []]})  # fmt: skip
    lab = {"label_id": "x", "drive_id": "d", "sensor_id": "c", "class": "car", "x_min": 0.0, "y_min": 0.0,
           "x_max": 10.0, "track_id": None, "source": "auto", "label_set": "s"}  # fmt: skip
    labels = pl.DataFrame([
        lab | {"t_ns": 0, "y_max": 400.0, "score": 0.9, "status": "accepted"},
        lab | {"t_ns": 0, "y_max": 40.0, "score": 0.2, "status": "rejected"},  # ignored
        lab | {"t_ns": 1, "y_max": 100.0, "score": 0.4, "status": "accepted"},
        lab | {"t_ns": 2, "y_max": 50.0, "score": 0.9, "status": "needs_review"},
    ])  # fmt: skip
    out = sample_for_qa(frames, labels, SamplingPlan(gold_frames=0), seed=0)
    assert out.select("t_ns", "band", "slices", "stratum").rows() == [
        (0, "accepted", ["rain", "near"], "accepted/near"),
        (1, "low_confidence", ["mid"], "low_confidence/mid"),
        (2, "needs_review", ["far"], "needs_review/far"),  # its own distance slice kept
        (3, "empty", [], "empty/none"),
    ]
    with pytest.raises(ValueError):
        SamplingPlan(annotators_per_task=1)


# ------------------------------------------------------------------------------------------ the check


def _verified():
    rows = [_box("", "car", (10.0, 10.0, 100.0, 90.0), t=t) | {"label_id": f"id{t}"} for t in range(3)]
    return (
        pl.DataFrame(rows)
        .drop("annotator")
        .with_columns(
            pl.lit(None, pl.String).alias("track_id"),
            pl.lit(1.0).alias("score"),
            pl.lit("human").alias("source"),
            pl.lit("verified").alias("status"),
            pl.lit("qa@1").alias("label_set"),
            pl.lit(3).alias("votes"),
            pl.lit(3).alias("annotators"),
        )
    )


def _set(df, i, **values):
    return df.with_columns(
        [
            pl.when(pl.int_range(pl.len()) == i).then(pl.lit(v)).otherwise(pl.col(c)).alias(c)
            for c, v in values.items()
        ]
    )


@pytest.mark.parametrize(
    "fault, reason",
    [
        (
            lambda v: _set(v, 0, source="auto"),
            "1 verified label(s) with source not in human|adjudicated (e.g. id0)",
        ),
        (
            lambda v: _set(v, 1, x_max=1930.0),
            "1 verified label(s) with a box outside the frame or no frame size (e.g. id1)",
        ),
        (lambda v: _set(v, 1, y_min=-4.0), "with a box outside the frame"),
        (lambda v: _set(v, 2, x_max=5.0), "1 verified label(s) with an empty or inverted box (e.g. id2)"),
        (lambda v: _set(v, 2, y_max=float("nan")), "with a non-finite box coordinate"),
        (lambda v: _set(v, 2, label_id="id0"), "2 verified label(s) share a label_id (e.g. id0)"),
        (
            lambda v: _set(v, 0, source="adjudicated", annotators=1),
            "1 verified label(s) from a frame with fewer than 2 annotators (e.g. id0)",
        ),
        (
            lambda v: _set(v, 1, votes=1),
            "1 verified label(s) without a majority of >= 2 annotators' votes (e.g. id1)",
        ),
        (lambda v: _set(v, 1, votes=2, annotators=4), "without a majority"),
        (lambda v: _set(v, 1, votes=4), "without a majority"),  # more votes than annotators
        (lambda v: _set(v, 0, **{"class": "dog"}), "with a class outside the taxonomy"),
        (lambda v: _set(v, 0, score=1.5), "with a score outside [0, 1]"),
        (
            lambda v: v.drop("annotators"),
            "no consensus recorded: verified labels have no `annotators` column",
        ),
        (lambda v: v.drop("votes"), "no consensus recorded: verified labels have no `votes` column"),
        (lambda v: v.drop("width", "height"), "cannot check boxes lie inside the frame"),
    ],
)
def test_verified_labels_check_catches(fault, reason):
    assert verified_labels_check(_verified()) == (True, [])
    passed, reasons = verified_labels_check(fault(_verified()))
    assert passed is False and len(reasons) == 1
    assert reason in reasons[0], reasons


def test_verified_labels_check_scope():
    v = _verified()
    # adjudicated rows need the frame's annotators, not a majority of votes
    assert verified_labels_check(_set(v, 0, source="adjudicated", votes=1)) == (True, [])
    # only verified rows are checked; sizes may come from a frame table
    bad = v.with_columns(
        pl.lit("rejected").alias("status"), pl.lit("auto").alias("source"), pl.lit(-1.0).alias("x_min")
    )
    assert verified_labels_check(pl.concat([v, bad])) == (True, [])
    sizes = pl.DataFrame({"drive_id": ["d"], "sensor_id": ["cam"], "width": [W], "height": [H]})
    assert verified_labels_check(v.drop("width", "height"), sizes) == (True, [])
    small = sizes.with_columns(pl.lit(80).alias("width"))
    passed, reasons = verified_labels_check(v.drop("width", "height"), small)
    assert not passed and reasons[0].startswith("3 verified label(s) with a box outside the frame")
