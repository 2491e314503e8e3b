"""Candidates, adjacency collapse, rarity, novelty, greedy budgeted selection (synthetic values), the
named-query policy and the sensor's plan."""

import json

import numpy as np
import polars as pl
import pytest

from av_assets.mining.select import (
    Weights,
    clip_candidates,
    collapse_adjacent,
    greedy_select,
    novelty,
    rarity,
)

S = 1_000_000_000  # 1 s in ns


def _clips(drive, n, length_s=20):
    return pl.DataFrame(
        {
            "clip_id": [f"{drive}:{i * length_s * S}" for i in range(n)],
            "drive_id": drive,
            "t_start_ns": [i * length_s * S for i in range(n)],
            "t_end_ns": [(i + 1) * length_s * S for i in range(n)],
        }
    )


def _referred(drive, track, a_s, b_s):
    t = np.arange(int(a_s * 10), int(b_s * 10) + 1) * S // 10
    return pl.DataFrame({"drive_id": drive, "track_id": track, "t_ns": t})


def test_clip_candidates_matched_seconds_and_tracks():
    ref = pl.concat(
        [_referred("d1", "ego", 5, 6.9), _referred("d1", "t2", 18, 21.9), _referred("d1", "t1", 19, 19.4)]
    )
    c = clip_candidates(ref, _clips("d1", 3))
    assert c["clip_id"].to_list() == ["d1:0", f"d1:{20 * S}"]
    first, second = c.row(0, named=True), c.row(1, named=True)
    assert first["matched_s"] == pytest.approx(2.0 + 2.0)  # 5.0-6.9 s and 18.0-19.9 s: 40 ticks
    assert first["track_ids"] == ["t1", "t2"]  # ego is not an object
    assert first["match_start_ns"] == 5 * S and first["match_end_ns"] == 19_900_000_000
    assert second["matched_s"] == pytest.approx(2.0) and second["track_ids"] == ["t2"]
    assert clip_candidates(ref.head(0), _clips("d1", 3)).height == 0


def test_adjacent_clips_of_one_match_collapse_to_the_best():
    # one contiguous match 18-27.9 s spans clips 0 and 1 (2 s vs 8 s): clip 1 stands for both;
    # a separate match at 45 s keeps clip 2; another drive is never merged
    ref = pl.concat(
        [_referred("d1", "x", 18, 27.9), _referred("d1", "x", 45, 46), _referred("d2", "y", 19, 21)]
    )
    clips = pl.concat([_clips("d1", 3), _clips("d2", 2)])
    c = collapse_adjacent(clip_candidates(ref, clips), ref)
    got = {r["clip_id"]: r["collapsed"] for r in c.iter_rows(named=True)}
    assert got == {f"d1:{20 * S}": 2, f"d1:{40 * S}": 1, f"d2:{20 * S}": 2}  # d2: 1.0 s vs 1.1 s
    # a gap longer than 1 s splits a match: no collapse
    ref2 = pl.concat([_referred("d1", "x", 17, 19.0), _referred("d1", "x", 20.5, 22)])
    c2 = collapse_adjacent(clip_candidates(ref2, _clips("d1", 2)), ref2)
    assert c2["collapsed"].to_list() == [1, 1]


def test_rarity_is_normalised_inverse_frequency():
    catalog = ["a"] * 8 + ["b"] * 1 + ["c"] * 1  # N = 10
    r = rarity(catalog, ["a", "b", "never"])
    assert r == pytest.approx([np.log(10 / 8) / np.log(10), 1.0, 1.0])
    assert rarity(["a"], ["a"]).tolist() == [0.0]


def test_novelty_against_reference():
    v = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=float)
    assert novelty(v, np.zeros((0, 3))).tolist() == [1.0, 1.0, 1.0]
    ref = np.array([[2.0, 0, 0]])  # normalised inside
    assert novelty(v, ref) == pytest.approx([0.0, 1.0, 1 - 1 / np.sqrt(2)])


def _cands(n, rar=None, cost=None):
    return pl.DataFrame(
        {
            "clip_id": [f"c{i}" for i in range(n)],
            "rarity": rar if rar is not None else [0.0] * n,
            "cost_s": cost if cost is not None else [20.0] * n,
        }
    )


def test_greedy_drops_embedding_duplicates_and_prefers_novel_rare():
    vec = {
        "c0": np.array([1.0, 0.0, 0.0]),
        "c1": np.array([1.0, 0.001, 0.0]),  # a near-duplicate of c0 (cosine distance ~5e-7)
        "c2": np.array([0.0, 1.0, 0.0]),
        "c3": np.array([0.7, 0.7, 0.0]),
    }
    sel, summary = greedy_select(_cands(4, rar=[0.2, 0.9, 0.1, 0.1]), vec, budget=10)
    # first pick: all novelty 1 -> highest rarity c1; c0 is then a duplicate; c2 (novelty 1) before c3
    assert sel["clip_id"].to_list() == ["c1", "c2", "c3"]
    assert summary["embedding_duplicates"] == 1 and summary["selected"] == 3
    assert sel["novelty"].to_list() == pytest.approx([1.0, 1.0, 1 - np.cos(np.pi / 4)], abs=2e-3)
    assert sel["score"].to_list() == pytest.approx(
        [0.5 * 1 + 0.3 * 0.9, 0.5 * 1 + 0.3 * 0.1, 0.5 * (1 - np.cos(np.pi / 4)) + 0.3 * 0.1], abs=2e-3
    )
    assert sel["uncertainty"].to_list() == [0.0, 0.0, 0.0]


def test_budget_by_count_and_by_cost_and_held_set():
    vec = {f"c{i}": np.eye(5)[i] for i in range(5)}
    sel, _ = greedy_select(_cands(5, rar=[0.5, 0.4, 0.3, 0.2, 0.1]), vec, budget=2)
    assert sel["clip_id"].to_list() == ["c0", "c1"]
    sel, s = greedy_select(
        _cands(5, rar=[0.5, 0.4, 0.3, 0.2, 0.1], cost=[30.0, 25.0, 10.0, 5.0, 40.0]),
        vec,
        budget=None,
        budget_cost_s=45,
    )
    assert sel["clip_id"].to_list() == ["c0", "c2", "c3"] and s["cost_s"] == 45.0
    # already-held clips: c0 is held (a duplicate), c1 is half-similar to a held vector
    held = np.array([np.eye(5)[0], np.eye(5)[1] + np.eye(5)[4]])
    sel, s = greedy_select(_cands(5), vec, held=held, budget=None)
    assert "c0" not in sel["clip_id"].to_list() and s["embedding_duplicates"] == 1
    nov = dict(zip(sel["clip_id"], sel["novelty"], strict=True))
    assert nov["c2"] == pytest.approx(1.0) and nov["c1"] == pytest.approx(1 - 1 / np.sqrt(2), abs=1e-6)


def test_uncertainty_hook_and_weights():
    vec = {f"c{i}": np.eye(3)[i] for i in range(3)}
    sel, s = greedy_select(
        _cands(3), vec, budget=3, weights=Weights(novelty=0.0, rarity=0.0, uncertainty=1.0),
        uncertainty_fn=lambda c: np.array([0.1, 0.9, 0.5]),
    )  # fmt: skip
    assert sel["clip_id"].to_list() == ["c1", "c2", "c0"] and sel["score"].to_list() == [0.9, 0.5, 0.1]
    assert s["weights"] == {"novelty": 0.0, "rarity": 0.0, "uncertainty": 1.0}


def test_clips_without_vectors_are_kept_with_novelty_one():
    sel, s = greedy_select(_cands(3, rar=[0.1, 0.2, 0.3]), {"c0": np.array([1.0, 0.0])}, budget=5)
    assert sel["clip_id"].to_list() == ["c2", "c1", "c0"] and sel["novelty"].to_list() == [1.0, 1.0, 1.0]
    assert greedy_select(_cands(0), {}, budget=5)[0].height == 0


def test_named_queries_policy_and_sensor_plan():
    from av_assets.mining.assets import plan_sensor
    from av_assets.mining.named import DEFAULT_POLICY, load_queries, parse_queries

    doc, sha, source = load_queries(None)
    version, queries = parse_queries(doc)
    assert source == "repository default" and version.startswith("mining-queries-v") and len(sha) == 64
    assert len(queries) >= 5 and len({q.name for q in queries}) == len(queries)
    assert DEFAULT_POLICY.name == "queries.yaml"
    with pytest.raises(ValueError, match="duplicate name"):
        parse_queries({"version": "v", "queries": [{"name": "ab", "query": "cut_in"}] * 2})
    with pytest.raises(ValueError, match="unknown atom"):
        parse_queries({"version": "v", "queries": [{"name": "ab", "query": "cut_inn"}]})
    with pytest.raises(ValueError, match="version"):
        parse_queries({"queries": []})
    with pytest.raises(ValueError, match="must match"):
        parse_queries({"version": "v", "queries": [{"name": "Bad Name", "query": "cut_in"}]})

    add, run, cur = plan_sensor(None, ["a1", "b1"], [], "sha1", "2026-01-01")
    assert add == ["a1", "b1"] and run == ["a1", "b1"]
    add, run, cur2 = plan_sensor(cur, ["a1", "b1"], ["a1", "b1"], "sha1", "2026-01-01")
    assert add == [] and run == [] and cur2 == cur  # same day, same document: nothing to do
    add, run, _ = plan_sensor(cur, ["a1", "b1", "c1"], ["a1", "b1"], "sha2", "2026-01-01")
    assert add == ["c1"] and run == ["a1", "b1", "c1"]  # the document changed: everything re-runs
    add, run, _ = plan_sensor(cur, ["a1", "b1"], ["a1", "b1"], "sha1", "2026-01-02")
    assert run == ["a1", "b1"] and json.loads(cur)["day"] == "2026-01-01"


def test_demo_top_rows():
    from av_assets.mining.demo import top_rows

    res = {
        "q1": [
            {"clip_id": "d:1", "score": 0.8, "matched_s": 1.5},
            {"clip_id": "d:2", "score": 0.5, "matched_s": 3},
        ],
        "q2": [],
    }
    rows = top_rows(res, per_query=1)
    assert rows == [("top mined: q1 #1", "d:1  score 0.80  matched 1.5 s"), ("q2", "no clip matched")]
