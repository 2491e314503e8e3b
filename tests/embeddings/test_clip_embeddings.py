"""Clip embeddings end to end: a small fleet through `av process` (which runs ml/clip_embeddings),
then the vectors, `av search like`, and neighbour quality against the fleet's ground-truth events."""

import json

import dagster as dg
import numpy as np
import polars as pl
import pytest

from av_assets.contracts.schemas import validation_errors
from av_assets.embeddings.features import DIM, MODEL_NAME, MODEL_VERSION, clip_vectors, colour_histogram
from tests.helpers import processed_fleet

K = 2


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    args = ["--drives", "3", "--duration", "40", "--seed", "7", "--camera", "160x90"]
    with processed_fleet(tmp_path_factory.mktemp("emb"), *args) as f:
        md = (
            f["instance"]
            .get_latest_materialization_event(dg.AssetKey(["ml", "clip_embeddings"]))
            .asset_materialization.metadata
        )
        gts = [json.loads(p.read_text()) for p in (f["landing"] / "_ground_truth").glob("*.json")]
        yield {"rows": f["rows"], "lake": f["lake"], "md": md, "gt": {g["drive_id"]: g for g in gts}}


def _table(lake):
    from av_assets.embeddings.store import EmbeddingStore

    return EmbeddingStore.for_lake(lake)


def _like(*args):
    from typer.testing import CliRunner

    from av_assets.cli import app

    return CliRunner().invoke(app, ["search", "like", *args])


def _gt_types(fleet) -> dict[str, set[str]]:
    """Ground-truth event types per clip (time overlap), read only here in the test."""
    clips = pl.concat(
        [fleet["lake"].read_parquet(p) for p in fleet["lake"].list("silver/clips", "*/part-0.parquet")]
    )
    out = {}
    for c in clips.iter_rows(named=True):
        events = fleet["gt"][c["drive_id"]].get("events") or []
        out[c["clip_id"]] = {
            e["type"] for e in events if e["t_start_ns"] < c["t_end_ns"] and e["t_end_ns"] >= c["t_start_ns"]
        }
    return out


def _precision(ranked: dict[str, list[str]], truth: dict[str, set[str]]) -> float:
    scores = [np.mean([bool(truth[n] & truth[q]) for n in ns]) for q, ns in ranked.items() if truth[q] and ns]
    return float(np.mean(scores))


def test_process_runs_embeddings_every_clip_unit_norm(fleet):
    for r in fleet["rows"]:
        assert r["run"]["success"] and "ml/clip_embeddings" in r["run"]["materialized"], r
    rows = _table(fleet["lake"]).table().to_arrow().to_pylist()
    clip_ids = set(_gt_types(fleet))
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


def test_neighbours_share_ground_truth_events_better_than_random(fleet):
    store = _table(fleet["lake"])
    truth = _gt_types(fleet)
    ours = {q: [r["clip_id"] for r in store.like(q, k=K)] for q in truth}
    p_ours = _precision(ours, truth)
    ids = sorted(truth)
    rng = np.random.default_rng(0)
    p_rand = []
    for _ in range(200):
        v = rng.normal(size=(len(ids), DIM))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        sim = v @ v.T
        np.fill_diagonal(sim, -np.inf)
        ranked = {q: [ids[j] for j in np.argsort(-sim[i])[:K]] for i, q in enumerate(ids)}
        p_rand.append(_precision(ranked, truth))
    p_rand = float(np.mean(p_rand))
    print(f"precision@{K}: embeddings {p_ours:.3f} vs random {p_rand:.3f} over {len(ids)} clips")
    assert p_ours >= p_rand + 0.05, (p_ours, p_rand)


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
