"""Vector search: a LanceDB IVF_PQ index (cosine) over N x 384 float32 vectors vs exact numpy top-k,
in the same run.

Data: a seeded mixture of 1,000 Gaussian clusters (centres ~ N(0, I), points = centre + SIGMA * N(0, I),
then L2-normalised; uniform random vectors would defeat every ANN index). 1,000 queries are held-out
draws from the same mixture. Truth: exact cosine top-10 by batched matmul + argpartition.

Cases (python -m bench.run bench_vectors; AV_BENCH_REPEATS=1 for one pass):
- p95 single-query latency, index (nprobes, refine_factor) vs exact numpy (`X @ q` + argpartition);
  goal: ratio <= 0.1
- recall@10 of the index vs exact (reference 1.0); goal >= 0.95
- index build time vs the exact batched top-10 of all queries (the brute-force cost of one query set)

Size: AV_BENCH_VECTORS_N (default 1,000,000; e.g. 50000 for a quick check), AV_BENCH_VECTORS_Q queries
(default 1,000). Index parameters: AV_BENCH_VECTORS_NPROBES / _REFINE / _PARTITIONS override the
defaults below. `python -m bench.bench_vectors [--sweep]` prints recall and p95 over a grid of
(nprobes, refine_factor) on the build first, then runs the CASES like bench.run (same build).
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


def index_params(n: int) -> dict:
    """IVF_PQ: ~sqrt(n) partitions (1,000 at 1M: partition size ~ the cluster size), 4 dims per PQ
    code (96 sub-vectors), k-means on 64 rows per partition for 20 iterations (well-separated
    clusters converge fast; Lance's defaults 256 x 50 take ~10x longer on 2 cores); search probes
    `nprobes` partitions and re-ranks refine_factor x k PQ candidates with exact distances."""
    parts = _env_int("AV_BENCH_VECTORS_PARTITIONS", max(1, min(round(n**0.5), n // 64)))
    return {
        "num_partitions": parts,
        "num_sub_vectors": DIM // 4,
        "sample_rate": 64,
        "max_iterations": 20,
        "nprobes": _env_int("AV_BENCH_VECTORS_NPROBES", max(20, parts // 50)),
        "refine_factor": _env_int("AV_BENCH_VECTORS_REFINE", 10),
    }


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
    import lancedb
    import pyarrow as pa
    from lancedb.index import IvfPq

    p = index_params(N)
    t0 = time.perf_counter()
    centres = np.random.default_rng(0).standard_normal((CLUSTERS, DIM), dtype=np.float32)
    x = _draw(N, centres, np.random.default_rng(1))
    queries = _draw(Q, centres, np.random.default_rng(2))  # held out: another stream of the mixture
    t1 = time.perf_counter()
    truth = exact_topk(x, queries)
    t2 = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="bench-vectors-")
    atexit.register(shutil.rmtree, tmp, True)
    db = lancedb.connect(tmp)
    vec = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), DIM)  # zero-copy view of x
    table = db.create_table("v", pa.table({"id": pa.array(np.arange(N, dtype=np.int64)), "vector": vec}))
    del vec
    t3 = time.perf_counter()
    config = IvfPq(
        distance_type="cosine",
        num_partitions=p["num_partitions"],
        num_sub_vectors=p["num_sub_vectors"],
        sample_rate=p["sample_rate"],
        max_iterations=p["max_iterations"],
    )
    table.create_index("vector", config=config)
    t4 = time.perf_counter()
    # warm-up: one untimed search per query loads the index partitions into LanceDB's cache (the exact
    # side has its vectors in RAM too); without it p95 measures cold partition loads
    for q in queries:
        ann_search(table, q, p["nprobes"], p["refine_factor"])
    print(f"  warm-up pass {time.perf_counter() - t4:.1f} s", file=sys.stderr)
    print(
        f"vectors N={N} Q={Q}: generate {t1 - t0:.1f} s, exact batched top-{K} {t2 - t1:.1f} s, "
        f"write {t3 - t2:.1f} s, IVF_PQ build {t4 - t3:.1f} s ({p})",
        file=sys.stderr,
    )
    return {
        "x": x,
        "queries": queries,
        "truth": truth,
        "table": table,
        "tmp": tmp,
        "params": p,
        "build_s": t4 - t3,
        "exact_batch_s": t2 - t1,
    }


def ann_search(table, q: np.ndarray, nprobes: int, refine: int, k: int = K) -> np.ndarray:
    res = (
        table.search(q, vector_column_name="vector")
        .distance_type("cosine")
        .nprobes(nprobes)
        .refine_factor(refine)
        .select(["id", "_distance"])
        .limit(k)
        .to_arrow()
    )
    return res["id"].to_numpy()


def ann_pass(nprobes: int | None = None, refine: int | None = None) -> dict:
    """One search per query through the index: recall@10 and p95 latency (ms)."""
    s = _state()
    nprobes = nprobes or s["params"]["nprobes"]
    refine = refine or s["params"]["refine_factor"]
    lat, hits = [], 0
    for q, truth in zip(s["queries"], s["truth"], strict=True):
        t0 = time.perf_counter()
        got = ann_search(s["table"], q, nprobes, refine)
        lat.append(time.perf_counter() - t0)
        hits += len(set(got.tolist()) & set(truth.tolist()))
    out = {
        "recall": hits / (K * len(s["queries"])),
        "p95_ms": float(np.percentile(lat, 95)) * 1e3,
        "p50_ms": float(np.percentile(lat, 50)) * 1e3,
    }
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
        f"  IVF_PQ recall@{K} {r['recall']:.4f}, p95 {r['p95_ms']:.2f} ms, p50 {r['p50_ms']:.2f} ms",
        file=sys.stderr,
    )
    return r["p95_ms"]


def _recall() -> float:
    s = _state()
    return s["last_recall"] if "last_recall" in s else ann_pass()["recall"]


_P = index_params(N)
_TAG = f"{N:,} x {DIM} ({CLUSTERS} clusters), IVF_PQ p={_P['num_partitions']} nprobes={_P['nprobes']} refine={_P['refine_factor']}"

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


def sweep(grid=((10, 10), (20, 20), (40, 10), (10, 40)), queries: int = 300) -> None:
    """Recall / p95 over (nprobes, refine_factor) on the same build, first `queries` queries."""
    s = _state()
    ref = exact_p95_ms()
    print(f"exact numpy single-query p95 {ref:.2f} ms", file=sys.stderr)
    full = s["queries"], s["truth"]
    s["queries"], s["truth"] = full[0][:queries], full[1][:queries]
    try:
        for nprobes, refine in grid:
            r = ann_pass(nprobes, refine)
            print(
                f"  sweep nprobes={nprobes:>3} refine={refine:>3} recall@{K}={r['recall']:.4f} "
                f"p95={r['p95_ms']:.2f} ms (p50 {r['p50_ms']:.2f}) ratio={r['p95_ms'] / ref:.3f}",
                file=sys.stderr,
            )
    finally:
        s["queries"], s["truth"] = full
        s.pop("last_recall", None)


if __name__ == "__main__":
    # python -m bench.bench_vectors [--sweep]: the sweep, then the CASES written to bench/results.json
    # exactly as `python -m bench.run bench_vectors` does, on the same build (one process).
    import bench.bench_vectors as this
    from bench.run import main

    if "--sweep" in sys.argv:
        this.sweep()
    raise SystemExit(main(["bench_vectors"]))
