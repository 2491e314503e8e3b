"""Vector search: the embedding store's IVF index (cosine, LanceDB; IVF_FLAT at this size, IVF_SQ
with a re-rank above `vector_store.FLAT_MAX_BYTES`; probe count calibrated at build) searched through
`VectorSearcher`, over N x 384 float32 vectors, vs exact numpy top-k in the same run.

Data: a seeded mixture of 1,000 Gaussian clusters (centres ~ N(0, I), points = centre + SIGMA * N(0, I),
then L2-normalised; uniform random vectors would defeat every ANN index). 1,000 queries are held-out
draws from the same mixture. Truth: exact cosine top-10 by batched matmul + argpartition.

The index is built by `EmbeddingStore.create_index` (the production path: kind, partitions, training
sample, calibration of `nprobes` on the table's own rows) and searched with the production
`VectorSearcher` (the retrieval API's read path), so this measures what `av api serve` does.

Cases (python -m bench.run bench_vectors; AV_BENCH_REPEATS=1 for one pass):
- p95 single-query latency, index vs exact numpy (`X @ q` + argpartition); goal: ratio <= 0.1 at the
  default 1M (at small N a query's fixed cost dominates: docs/embeddings.md)
- recall@10 of the index on the held-out queries vs exact (reference 1.0); goal >= 0.95
- index build time (training + calibration) vs the exact batched top-10 of all queries: no goal, a
  scale for the one-off cost (building pays off after roughly build / (exact - index per query)
  queries); built once per process, so its "repeats" are the same number

Size: AV_BENCH_VECTORS_N (default 1,000,000; e.g. 50000 for a quick check), AV_BENCH_VECTORS_Q queries
(default 1,000). AV_BENCH_VECTORS_NPROBES overrides the calibrated probe count.
`python -m bench.bench_vectors [--sweep]` prints recall and p95 over a range of probe counts on the
build first, then runs the CASES like bench.run (same build).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import time
from functools import cache

import numpy as np

DIM = 384
CLUSTERS = 1000
SIGMA = 1.0  # per-dimension noise = the centres' scale: a point is ~45 deg from its centre
K = 10
EXACT_LATENCY_QUERIES = 100  # single-query exact searches timed (each scans all N vectors)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


N = _env_int("AV_BENCH_VECTORS_N", 1_000_000)
Q = _env_int("AV_BENCH_VECTORS_Q", 1000)


def _draw(n: int, centres: np.ndarray, rng: np.random.Generator, out: np.ndarray | None = None) -> np.ndarray:
    """n unit vectors from the mixture, generated in chunks (no full-size temporaries)."""
    x = out if out is not None else np.empty((n, DIM), np.float32)
    for a in range(0, n, 100_000):
        b = min(n, a + 100_000)
        chunk = centres[rng.integers(0, CLUSTERS, b - a)]
        chunk += SIGMA * rng.standard_normal((b - a, DIM), dtype=np.float32)
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        x[a:b] = chunk
    return x


def exact_topk(x: np.ndarray, queries: np.ndarray, k: int = K, batch: int = 50) -> np.ndarray:
    """Exact cosine top-k (unit vectors: dot product) per query, best first: batched matmul + argpartition."""
    out = np.empty((len(queries), k), np.int64)
    for a in range(0, len(queries), batch):
        sim = queries[a : a + batch] @ x.T
        idx = np.argpartition(-sim, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sim, idx, axis=1), axis=1)
        out[a : a + batch] = np.take_along_axis(idx, order, axis=1)
    return out


def exact_single(x: np.ndarray, q: np.ndarray, k: int = K) -> np.ndarray:
    sim = x @ q
    idx = np.argpartition(-sim, k)[:k]
    return idx[np.argsort(-sim[idx])]


@cache
def _state() -> dict:
    import pyarrow as pa

    from av_resources.vector_store import EmbeddingStore

    t0 = time.perf_counter()
    centres = np.random.default_rng(0).standard_normal((CLUSTERS, DIM), dtype=np.float32)
    x = _draw(N, centres, np.random.default_rng(1))
    queries = _draw(Q, centres, np.random.default_rng(2))  # held out: another stream of the mixture
    t1 = time.perf_counter()
    truth = exact_topk(x, queries)
    t2 = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="bench-vectors-")
    atexit.register(shutil.rmtree, tmp, True)
    schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), DIM))])
    store = EmbeddingStore(tmp, table="v", key="id", schema=lambda _dim: schema)
    vec = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), DIM)  # zero-copy view of x
    store.table(DIM).add(pa.table({"id": pa.array(np.arange(N, dtype=np.int64)), "vector": vec}))
    del vec
    t3 = time.perf_counter()
    made = store.create_index()
    t4 = time.perf_counter()
    searcher = store.searcher(nprobes=_env_int("AV_BENCH_VECTORS_NPROBES", 0) or None)
    # warm-up: one untimed search per query loads the index partitions into LanceDB's cache (the exact
    # side has its vectors in RAM too); without it p95 measures cold partition loads
    for q in queries:
        ann_search(searcher, q)
    print(f"  warm-up pass {time.perf_counter() - t4:.1f} s", file=sys.stderr)
    print(
        f"vectors N={N} Q={Q}: generate {t1 - t0:.1f} s, exact batched top-{K} {t2 - t1:.1f} s, "
        f"write {t3 - t2:.1f} s, index build + calibration {t4 - t3:.1f} s ({made})",
        file=sys.stderr,
    )
    return {
        "x": x,
        "queries": queries,
        "truth": truth,
        "store": store,
        "searcher": searcher,
        "tmp": tmp,
        "made": made,
        "build_s": t4 - t3,
        "exact_batch_s": t2 - t1,
    }


def ann_search(searcher, q: np.ndarray, k: int = K) -> np.ndarray:
    return np.array([r["id"] for r in searcher.nearest(q, k=k, columns=["id"])])


def ann_pass(nprobes: int | None = None) -> dict:
    """One search per query through the index: recall@10 and p95 latency (ms)."""
    s = _state()
    searcher = s["searcher"] if nprobes is None else s["store"].searcher(nprobes=nprobes)
    lat, hits = [], 0
    for q, truth in zip(s["queries"], s["truth"], strict=True):
        t0 = time.perf_counter()
        got = ann_search(searcher, q)
        lat.append(time.perf_counter() - t0)
        hits += len(set(got.tolist()) & set(truth.tolist()))
    out = {
        "recall": hits / (K * len(s["queries"])),
        "p95_ms": float(np.percentile(lat, 95)) * 1e3,
        "p50_ms": float(np.percentile(lat, 50)) * 1e3,
    }
    if nprobes is None:
        s["last_recall"] = out["recall"]
    return out


def exact_p95_ms() -> float:
    s = _state()
    lat = []
    for i, q in enumerate(s["queries"][:EXACT_LATENCY_QUERIES]):
        t0 = time.perf_counter()
        got = exact_single(s["x"], q)
        lat.append(time.perf_counter() - t0)
        assert got[0] == s["truth"][i][0]
    return float(np.percentile(lat, 95)) * 1e3


def _ann_p95() -> float:
    r = ann_pass()
    print(
        f"  index recall@{K} {r['recall']:.4f}, p95 {r['p95_ms']:.2f} ms, p50 {r['p50_ms']:.2f} ms "
        f"({_state()['made']})",
        file=sys.stderr,
    )
    return r["p95_ms"]


def _recall() -> float:
    s = _state()
    return s["last_recall"] if "last_recall" in s else ann_pass()["recall"]


def _tag() -> str:
    from av_resources.vector_store import index_kind

    return f"{N:,} x {DIM} ({CLUSTERS} clusters), store {index_kind(N, DIM).upper().replace('IVF', 'IVF_')}, calibrated nprobes"


_TAG = _tag()

CASES = [
    {
        "name": f"vector search p95 single query, index vs exact numpy: {_TAG}",
        "unit": "ms p95 (lower is better)",
        "run": _ann_p95,
        "reference": exact_p95_ms,
    },
    {
        "name": f"vector search recall@10 vs exact: {_TAG}",
        "unit": "recall@10",
        "run": _recall,
        "reference": lambda: 1.0,
    },
    {
        "name": f"vector index build vs exact top-10 of {Q} queries: {_TAG}",
        "unit": "s (lower is better)",
        "run": lambda: _state()["build_s"],
        "reference": lambda: _state()["exact_batch_s"],
    },
]


def sweep(probes=(1, 2, 4, 8, 16, 32), queries: int = 300) -> None:
    """Recall / p95 over probe counts on the same build, first `queries` queries."""
    s = _state()
    ref = exact_p95_ms()
    print(f"exact numpy single-query p95 {ref:.2f} ms; index: {s['made']}", file=sys.stderr)
    full = s["queries"], s["truth"]
    s["queries"], s["truth"] = full[0][:queries], full[1][:queries]
    try:
        for nprobes in probes:
            r = ann_pass(nprobes)
            print(
                f"  sweep nprobes={nprobes:>3} recall@{K}={r['recall']:.4f} "
                f"p95={r['p95_ms']:.2f} ms (p50 {r['p50_ms']:.2f}) ratio={r['p95_ms'] / ref:.3f}",
                file=sys.stderr,
            )
    finally:
        s["queries"], s["truth"] = full


if __name__ == "__main__":
    # python -m bench.bench_vectors [--sweep]: the sweep, then the CASES written to bench/results.json
    # exactly as `python -m bench.run bench_vectors` does, on the same build (one process).
    import bench.bench_vectors as this
    from bench.run import main, module_cli

    module_cli(__doc__, allowed=frozenset({"--sweep"}))
    if "--sweep" in sys.argv:
        this.sweep()
    raise SystemExit(main(["bench_vectors"]))
