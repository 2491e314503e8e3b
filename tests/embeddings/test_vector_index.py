"""The ANN path of the clip embedding table: 1,000 synthetic clip rows (clustered unit vectors)
through the store's public upsert in a tmp lake -> IVF_FLAT index exists (probe count calibrated), `like()` through the index
has recall@10 >= 0.9 against exact cosine (numpy), re-upserting is idempotent, and `optimize()`
after more rows keeps the index and the recall."""

import numpy as np
import pytest

from av_resources.vector_store import INDEX_MIN_ROWS, REFINE_FACTOR, EmbeddingStore, index_partitions

DIM = 128
N_CLUSTERS = 40


def _rows(n: int, start: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(0).normal(size=(N_CLUSTERS, DIM))
    lab = rng.integers(0, N_CLUSTERS, n)
    v = centers[lab] + 0.6 * rng.normal(size=(n, DIM))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return [
        {
            "clip_id": f"d-{i // 50:03d}:{(i % 50) * 20_000_000_000}",
            "drive_id": f"d-{i // 50:03d}",
            "t_start_ns": (i % 50) * 20_000_000_000,
            "t_end_ns": (i % 50 + 1) * 20_000_000_000,
            "event_types": "cut_in" if lab[j] % 3 == 0 else "",
            "day_night": ("day", "night")[int(lab[j]) % 2],
            "weather": "clear",
            "road_class": "motorway",
            "speed_mean_mps": float(lab[j]),
            "model": "test-clusters",
            "model_version": "1",
            "vector": v[j].astype(np.float32).tolist(),
        }
        for j, i in enumerate(range(start, start + n))
    ]


def _recall(store: EmbeddingStore, queries: list[str], k: int = 10) -> float:
    rows = store.table().to_arrow().to_pylist()
    ids = [r["clip_id"] for r in rows]
    x = np.asarray([r["vector"] for r in rows], dtype=np.float64)
    pos = {c: i for i, c in enumerate(ids)}
    hits = []
    for q in queries:
        sim = x @ x[pos[q]]
        sim[pos[q]] = -np.inf  # like() excludes the query
        exact = {ids[j] for j in np.argpartition(-sim, k)[:k]}
        got = {r["clip_id"] for r in store.like(q, k=k)}
        hits.append(len(exact & got) / k)
    return float(np.mean(hits))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from av_resources.lake import LakeStorage

    lake = LakeStorage(root=str(tmp_path_factory.mktemp("vec") / "lake"))
    s = EmbeddingStore.for_lake(lake)
    first = _rows(INDEX_MIN_ROWS - 1, 0, seed=1)
    assert s.upsert(first) == len(first)
    assert s.ensure_index().startswith("flat") and not s.has_vector_index()
    s.upsert(_rows(1000 - len(first), len(first), seed=2))
    made = s.ensure_index()
    return {"store": s, "made": made}


def test_index_created_at_threshold(store):
    s = store["store"]
    assert s.count() == 1000
    assert store["made"].startswith(f"IVF_FLAT partitions={index_partitions(1000)} nprobes=")
    idx = [i for i in s.table().list_indices() if "vector" in i.columns]
    assert len(idx) == 1 and "FLAT" in str(idx[0].index_type).upper()
    info = s.index_info()
    assert (
        info["num_partitions"] == 3 and info["num_indexed_rows"] == 1000 and info["num_unindexed_rows"] == 0
    )
    assert 1 <= info["nprobes"] <= 3 and f"nprobes={info['nprobes']} " in store["made"]
    assert info["kind"] == "ivfflat" and info["refine_factor"] == 0  # exact distances: no re-rank


def test_indexed_search_recall_vs_exact(store):
    s = store["store"]
    queries = [f"d-{i // 50:03d}:{(i % 50) * 20_000_000_000}" for i in range(0, 1000, 10)]
    recall = _recall(s, queries)
    print(f"recall@10 through IVF_FLAT (1,000 rows, 100 queries): {recall:.3f}")
    assert recall >= 0.9, recall
    # the index is what answered: the plan of an indexed search reads it
    q = s.get(queries[0])["vector"]
    plan = s.search_query(q, k=10).explain_plan(True)
    assert "ANNSubIndex: name=vector_ivfflat_p3" in plan, plan
    assert f"minimum_nprobes={s.index_info()['nprobes']}" in plan, plan
    # a prefilter still applies under the index
    res = s.like(queries[0], k=10, where="day_night = 'night'")
    assert len(res) == 10 and {r["day_night"] for r in res} == {"night"}


def test_reupsert_is_idempotent(store):
    s = store["store"]
    before = s.table().to_arrow().sort_by("clip_id")
    again = _rows(INDEX_MIN_ROWS - 1, 0, seed=1)
    s.upsert(again)
    s.upsert(again)
    after = s.table().to_arrow().sort_by("clip_id")
    assert s.count() == 1000 and after.column("clip_id").to_pylist() == before.column("clip_id").to_pylist()
    assert after.column("vector").to_pylist() == before.column("vector").to_pylist()


def test_optimize_after_more_rows_keeps_index_and_recall(store):
    s = store["store"]
    new = _rows(300, 1000, seed=3)
    s.upsert(new)
    assert s.index_info()["num_unindexed_rows"] >= 300  # + the re-upserted (rewritten) rows
    # new (unindexed) rows are already found, by the flat scan of unindexed rows (a mean over 50
    # queries: one query's neighbours may sit in a partition its single probe misses)
    assert len(s.like(new[0]["clip_id"], k=5)) == 5
    assert _recall(s, [r["clip_id"] for r in new[::6]], k=5) >= 0.8
    assert s.ensure_index().startswith("optimized")
    info = s.index_info()
    assert s.count() == 1300 and info["num_indexed_rows"] == 1300 and info["num_unindexed_rows"] == 0
    queries = [r["clip_id"] for r in new[::6]] + [
        f"d-{i // 50:03d}:{(i % 50) * 20_000_000_000}" for i in range(5, 1000, 20)
    ]
    recall = _recall(s, queries)
    print(f"recall@10 after optimize (1,300 rows): {recall:.3f}")
    assert recall >= 0.9, recall


def test_retrain_when_table_outgrew_index(tmp_path, monkeypatch):
    """An index trained on 256 rows is rebuilt once the table is > 4x larger: more partitions, and
    IVF_SQ with an exact re-rank once the vectors outgrow IVF_FLAT's memory budget."""
    from av_resources import vector_store as store_mod
    from av_resources.lake import LakeStorage

    monkeypatch.setattr(store_mod, "FLAT_MAX_BYTES", 1000 * DIM * 4)  # flat up to 1,000 rows
    s = EmbeddingStore.for_lake(LakeStorage(root=str(tmp_path / "lake")))
    s.upsert(_rows(INDEX_MIN_ROWS, 0, seed=4))
    assert s.ensure_index().startswith(f"IVF_FLAT partitions={index_partitions(INDEX_MIN_ROWS)} ")
    s.upsert(_rows(1100, INDEX_MIN_ROWS, seed=5))
    assert s.ensure_index().startswith(f"IVF_SQ partitions={index_partitions(1356)} ")
    info = s.index_info()
    assert info["num_partitions"] == index_partitions(1356)
    assert info["kind"] == "ivfsq" and info["refine_factor"] == REFINE_FACTOR
    assert [i.name for i in s.table().list_indices()] == [f"vector_ivfsq_p{index_partitions(1356)}"]
    recall = _recall(s, [f"d-{i // 50:03d}:{(i % 50) * 20_000_000_000}" for i in range(0, 1356, 14)])
    print(f"recall@10 through IVF_SQ + re-rank (1,356 rows): {recall:.3f}")
    assert recall >= 0.9, recall
    # the same size and kind again: folded in, not retrained
    assert s.ensure_index().startswith("optimized")


def test_probe_count_belongs_to_its_index():
    from av_resources.vector_store import LEGACY_REFINE_FACTOR, MIN_NPROBES, index_params_of, search_nprobes

    meta = {b"av.index": b"vector_ivfsq_p30", b"av.nprobes": b"4", b"av.refine_factor": b"3"}
    assert index_params_of("vector_ivfsq_p30", meta) == (30, 4, 3, "ivfsq")
    flat = {"av.index": "vector_ivfflat_p30", "av.nprobes": "2", "av.refine_factor": "0"}
    assert index_params_of("vector_ivfflat_p30", flat) == (30, 2, 0, "ivfflat")
    # another index (retrained, or calibrated for an older one): the values do not carry over
    assert index_params_of("vector_ivfsq_p60", meta) == (
        60,
        search_nprobes(60),
        LEGACY_REFINE_FACTOR,
        "ivfsq",
    )
    assert index_params_of("vector_ivfflat_p60", meta) == (
        60,
        search_nprobes(60),
        LEGACY_REFINE_FACTOR,
        "ivfflat",
    )
    assert index_params_of("vector_ivfpq_p3", None) == (3, MIN_NPROBES, LEGACY_REFINE_FACTOR, "ivfpq")
    assert index_params_of("someone_elses_index", meta) == (None, MIN_NPROBES, LEGACY_REFINE_FACTOR, None)


def test_async_searcher_matches_sync_and_sees_new_rows(store):
    """The API's read path (async, one open table) answers as the CLI's and picks up new rows."""
    import asyncio

    s = store["store"]
    q = "d-000:0"
    sync = [r["clip_id"] for r in s.like(q, k=10)]
    searcher = s.searcher(refresh_s=0.0)
    twin = {**s.get(q), "clip_id": "d-999:0", "drive_id": "d-999"}

    async def go():
        first = [r["clip_id"] for r in await searcher.alike(q, k=10)]
        s.upsert([twin])  # an exact copy of the query: the nearest row from now on
        second = await searcher.alike(q, k=10)
        s.table().delete("clip_id = 'd-999:0'")
        return first, second

    first, second = asyncio.run(go())
    assert first == sync
    assert second[0]["clip_id"] == "d-999:0" and second[0]["_distance"] < 1e-6
    with pytest.raises(KeyError):
        asyncio.run(s.searcher().alike("d-404:0"))


def test_a_missing_lake_is_reported_and_not_created(tmp_path):
    from typer.testing import CliRunner

    from av_cli.main import app
    from av_resources.lake import LakeStorage

    root = tmp_path / "no-lake-here"
    store = EmbeddingStore.for_lake(LakeStorage(root=str(root)))
    assert not store.exists()
    with store.searcher() as s:
        assert s.nearest([1.0, 0.0], k=3) == [] and s.get("d-1:0") is None
    res = CliRunner().invoke(app, ["search", "like", "d-000:0"], env={"AV_LAKE_ROOT": str(root)})
    assert res.exit_code == 2 and "no clip embeddings in the lake" in res.output, res.output
    assert not root.exists()  # read-only commands write nothing


def test_exists_once_rows_are_written(store):
    assert store["store"].exists()
