"""Clip and keyframe embeddings end to end: a fleet of 6 drives x 50 s (18 clips, ~600 keyframes)
through `av process` (which runs ml/clip_embeddings and ml/keyframe_embeddings), then the vectors,
`av search like`, and neighbour quality against the fleet's ground truth (events, weather, light).

Quality: precision@3 of a clip's nearest clips that share its ground-truth event-type set (exactly),
its conditions (weather and light), or either, vs what random vectors score (the expected precision
of a random ranking: the share of relevant clips among the others). Weights were chosen on seed 11;
this fleet (seed 7) is held out."""

import json

import dagster as dg
import numpy as np
import polars as pl
import pytest

from av_assets.embeddings.features import (
    DIM,
    KEYFRAME_MODEL_NAME,
    MODEL_NAME,
    MODEL_VERSION,
    clip_vectors,
    colour_histogram,
    keyframe_dim,
    keyframe_model_version,
)
from av_assets.embeddings.visual import DEFAULT_ENCODER
from av_contracts.schemas import validation_errors
from tests.helpers import processed_fleet

K = 3
# The module fixture simulates and processes 6 drives x 50 s: ~2.5 min on an idle 2-core machine, but
# over 15 min (the default timeout) when the machine is shared by several test runs.
pytestmark = pytest.mark.timeout(2400)


def _md(instance, key):
    return instance.get_latest_materialization_event(dg.AssetKey(["ml", key])).asset_materialization.metadata


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    args = ["--drives", "6", "--duration", "50", "--seed", "7", "--camera", "160x90"]
    with processed_fleet(tmp_path_factory.mktemp("emb"), *args) as f:
        gts = [json.loads(p.read_text()) for p in (f["landing"] / "_ground_truth").glob("*.json")]
        yield {
            "rows": f["rows"],
            "lake": f["lake"],
            "md": _md(f["instance"], "clip_embeddings"),
            "kf_md": _md(f["instance"], "keyframe_embeddings"),
            "gt": {g["drive_id"]: g for g in gts},
        }


def _table(lake):
    from av_resources.vector_store import EmbeddingStore

    return EmbeddingStore.for_lake(lake)


def _like(*args):
    from typer.testing import CliRunner

    from av_cli.main import app

    return CliRunner().invoke(app, ["search", "like", *args])


def _conditions(gt: dict, a: int, b: int) -> tuple:
    """Ground-truth (weather, light) at the start of [a, b)."""
    return tuple(
        next((c["value"] for c in gt["conditions"][k] if c["t_start_ns"] < b and c["t_end_ns"] >= a), None)
        for k in ("weather", "light")
    )


def _gt_clips(fleet) -> dict[str, tuple[frozenset, tuple]]:
    """Ground truth per clip (read only here in the test): (event types overlapping, conditions)."""
    clips = pl.concat(
        [fleet["lake"].read_parquet(p) for p in fleet["lake"].list("silver/clips", "*/part-0.parquet")]
    )
    out = {}
    for c in clips.iter_rows(named=True):
        gt, a, b = fleet["gt"][c["drive_id"]], c["t_start_ns"], c["t_end_ns"]
        types = frozenset(
            e["type"] for e in gt.get("events") or [] if e["t_start_ns"] < b and e["t_end_ns"] >= a
        )
        out[c["clip_id"]] = (types, _conditions(gt, a, b))
    return out


RELEVANT = {
    "events": lambda q, n: q[0] == n[0],
    "conditions": lambda q, n: q[1] == n[1],
    "either": lambda q, n: q[0] == n[0] or q[1] == n[1],
}


def _precision(ranked: dict[str, list[str]], truth: dict, rel) -> float:
    return float(np.mean([np.mean([rel(truth[q], truth[n]) for n in ns]) for q, ns in ranked.items()]))


def _random_baseline(truth: dict, rel) -> float:
    """Expected precision@k of random vectors = share of relevant items among the others, per query."""
    ids = list(truth)
    return float(np.mean([np.mean([rel(truth[q], truth[n]) for n in ids if n != q]) for q in ids]))


def test_process_runs_embeddings_every_clip_unit_norm(fleet):
    for r in fleet["rows"]:
        assert r["run"]["success"] and "ml/clip_embeddings" in r["run"]["materialized"], r
    rows = _table(fleet["lake"]).table().to_arrow().to_pylist()
    clip_ids = set(_gt_clips(fleet))
    assert {r["clip_id"] for r in rows} == clip_ids and len(rows) == len(clip_ids)
    for r in rows:
        v = np.asarray(r["vector"])
        assert v.shape == (DIM,) and abs(np.linalg.norm(v) - 1) < 1e-5
        assert (r["model"], r["model_version"]) == (MODEL_NAME, MODEL_VERSION)
    md = fleet["md"]
    assert md["av/model_version"].value == MODEL_VERSION and md["av/table_rows"].value == len(clip_ids)


def test_search_like_json_contract_excludes_query(fleet):
    rows = _table(fleet["lake"]).table().to_arrow().to_pylist()
    q = rows[0]["clip_id"]
    res = _like(q, "-k", "20", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert validation_errors(doc, "cli_results") == []
    ids = [r["clip_id"] for r in doc["results"]]
    assert q not in ids and len(ids) == len(set(ids)) == len(rows) - 1
    scores = [r["score"] for r in doc["results"]]
    assert scores == sorted(scores, reverse=True)
    # --where filters; an unknown clip is a usage error
    drive = rows[0]["drive_id"]
    res = _like(q, "--where", f"drive_id = '{drive}'", "--json")
    assert res.exit_code == 0 and {r["drive_id"] for r in json.loads(res.stdout)["results"]} <= {drive}
    assert _like("nope:1", "--json").exit_code == 2
    bad = _like(q, "--where", "drive_id = 'x' AND")  # said in the user's terms, not LanceDB's statement
    assert bad.exit_code == 2 and "SELECT" not in bad.output and q not in bad.output
    assert (
        "--where \"drive_id = 'x' AND\" is not a filter on this table: Expected: an expression" in bad.output
    )
    # the plain output: a header, then score, clip id, conditions and events per clip, in JSON's order
    plain = _like(q, "-k", "3")
    assert plain.exit_code == 0, plain.output
    lines = plain.stdout.splitlines()
    assert lines[0].split() == ["score", "clip_id", "light/weather/road", "events"] and len(lines) == 4
    for line, r in zip(lines[1:], doc["results"][:3], strict=True):
        score, clip_id, conditions, events = line.split()
        assert (float(score), clip_id) == (round(r["score"], 3), r["clip_id"])
        assert conditions == "/".join(str(r[c] or "?") for c in ("day_night", "weather", "road_class"))
        assert events == (",".join(r["event_types"]) or "-")


def test_neighbours_share_ground_truth_well_above_random(fleet):
    store = _table(fleet["lake"])
    truth = _gt_clips(fleet)
    ranked = {q: [r["clip_id"] for r in store.like(q, k=K)] for q in truth}
    report = {}
    for name, rel in RELEVANT.items():
        report[name] = (_precision(ranked, truth, rel), _random_baseline(truth, rel))
    print(
        f"precision@{K} over {len(truth)} clips (ours vs random): "
        + ", ".join(f"{k} {o:.3f} vs {r:.3f}" for k, (o, r) in report.items())
    )
    # measured (seed 7, three runs): events 0.167 vs 0.039, conditions 0.333-0.389 vs 0.235,
    # either 0.500-0.556 vs 0.275
    assert report["either"][0] >= report["either"][1] + 0.18, report
    assert report["events"][0] >= report["events"][1] + 0.1, report
    assert report["conditions"][0] >= report["conditions"][1] + 0.05, report


def test_keyframe_table_rows_and_neighbours(fleet):
    from av_resources.vector_store import EmbeddingStore

    lake = fleet["lake"]
    store = EmbeddingStore.keyframes_for_lake(lake)
    frames = pl.concat([lake.read_parquet(p) for p in lake.list("silver/redacted_frames", "*/index.parquet")])
    rows = store.table().to_arrow().to_pylist()
    assert len(rows) == frames.height == store.count() and len({r["keyframe_id"] for r in rows}) == len(rows)
    dim = keyframe_dim(DEFAULT_ENCODER.dim)
    version = keyframe_model_version(DEFAULT_ENCODER)
    for r in rows:
        v = np.asarray(r["vector"])
        assert v.shape == (dim,) and abs(np.linalg.norm(v) - 1) < 1e-5
        assert (r["model"], r["model_version"]) == (KEYFRAME_MODEL_NAME, version)
    assert sum(r["clip_id"] is not None for r in rows) >= 0.95 * len(rows)
    md = fleet["kf_md"]
    assert md["av/model_version"].value == version and md["av/table_rows"].value == len(rows)
    # ~600 keyframes: the IVF_FLAT index was built (>= 256 rows) and answers the searches below
    assert store.has_vector_index() and md["av/ann_index"].value.startswith(("IVF_FLAT", "optimized"))
    # per-drive Parquet copies hold the same rows
    parquet = pl.concat(
        [lake.read_parquet(p) for p in lake.list("ml/keyframe_embeddings", "*/part-0.parquet")]
    )
    assert parquet.height == len(rows)
    # neighbours from *other* drives share the keyframe's ground-truth light (day/dusk/night)
    light = {
        r["keyframe_id"]: _conditions(fleet["gt"][r["drive_id"]], r["t_ns"], r["t_ns"] + 1)[1] for r in rows
    }
    drive = {r["keyframe_id"]: r["drive_id"] for r in rows}
    queries = rows[::10]
    ours, base = [], []
    for q in queries:
        hits = store.search_vector(q["vector"], k=5, where=f"drive_id != '{q['drive_id']}'")
        assert len(hits) == 5 and all(h["drive_id"] != q["drive_id"] for h in hits)
        ours.append(np.mean([light[h["keyframe_id"]] == light[q["keyframe_id"]] for h in hits]))
        others = [k for k in light if drive[k] != q["drive_id"]]
        base.append(np.mean([light[k] == light[q["keyframe_id"]] for k in others]))
    p_ours, p_base = float(np.mean(ours)), float(np.mean(base))
    print(f"keyframes: precision@5 same light in other drives {p_ours:.3f} vs random {p_base:.3f}")
    assert p_ours >= min(1.0, p_base + 0.2), (p_ours, p_base)


def test_clip_vectors_values():
    """Unit test on values: a braking clip and a cruising clip differ; same inputs, same vector."""
    t = np.arange(0, 100) * 100_000_000

    def grid(speed, ax):
        return pl.DataFrame(
            {
                "t_ns": np.concatenate([t, t]),
                "signal": ["SPEED.SPEED"] * 100 + ["KINEMATICS.ACCEL_X"] * 100,
                "value": np.concatenate([speed, ax]),
            }
        )

    clips = [{"clip_id": "d:0", "drive_id": "d", "t_start_ns": 0, "t_end_ns": 10_000_000_000}]
    ev = pl.DataFrame({"type": ["harsh_brake"], "t_start_ns": [2_000_000_000], "t_end_ns": [3_000_000_000]})
    brake = clip_vectors(clips, grid(np.linspace(20, 5, 100), np.full(100, -5.0)), events=ev)[0]
    brake2 = clip_vectors(clips, grid(np.linspace(20, 5, 100), np.full(100, -5.0)), events=ev)[0]
    cruise = clip_vectors(clips, grid(np.full(100, 20.0), np.zeros(100)))[0]
    vb, vc = np.asarray(brake["vector"]), np.asarray(cruise["vector"])
    assert brake["event_types"] == "harsh_brake" and cruise["event_types"] == ""
    assert abs(np.linalg.norm(vb) - 1) < 1e-6 and brake["vector"] == brake2["vector"]
    assert float(vb @ vc) < 0.9
    h = colour_histogram(np.zeros((4, 4, 3), np.uint8))
    assert h[0] == 1.0 and abs(h.sum() - 1) < 1e-9
