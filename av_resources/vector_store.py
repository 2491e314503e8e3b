"""The vector store (resource `vector_store`, built in `av_resources/env.py`): the embedding tables,
LanceDB `<lake>/ml/embeddings` (one row per clip, key `clip_id`) and `<lake>/ml/keyframe_embeddings`
(one row per redacted keyframe, key `keyframe_id`), upserted by key (merge_insert), with an ANN index
once a table holds enough rows, and nearest-neighbour search. `VectorStoreResource.clips(lake)` and
`.keyframes(lake)` return the two tables' `EmbeddingStore`s.

Index policy (`ensure_index`, measured in tests/embeddings/test_vector_index.py and bench/bench_vectors.py):
- below `INDEX_MIN_ROWS` rows: no index, a flat scan is exact and fast;
- from `INDEX_MIN_ROWS` rows: an IVF index (cosine), `num_partitions` = round(sqrt(rows)), at most
  rows / 256 (Lance trains IVF k-means on >= 256 rows per partition and warns/clamps otherwise) and
  4096; k-means on 64 rows per partition for 20 iterations (Lance's 256 x 50 take ~10x longer on 2
  cores; calibration absorbs a coarser clustering). Its kind follows the size of the vectors
  (`index_kind`): IVF_FLAT (full float32 vectors in the partitions, exact distances, no re-rank)
  while they fit in `FLAT_MAX_BYTES`, half of LanceDB's default 6 GiB index cache (1M x 384 = 1.5
  GiB); above, IVF_SQ (8-bit scalar quantisation, a quarter of the memory) with an exact re-rank of
  `REFINE_FACTOR` x k candidates. IVF_FLAT is the faster of the two at the bench's size: the re-rank's
  random reads of 30 vectors are a third of a query (docs/embeddings.md has the numbers);
- calibration: after training, `CALIBRATION_QUERIES` of the table's own rows (each excluded from its
  own answer, as in "more like this") are searched with 1, 2, 4, ... probes; the smallest count whose
  recall@10 against an exact numpy scan reaches `TARGET_RECALL` is the table's `nprobes`. Kind and
  partition count are in the index name `vector_<kind>_p<partitions>` (index stats do not report the
  partitions); the probe count and re-rank factor are metadata of the `vector` field keyed to that
  index name (`av.index`, `av.nprobes`, `av.refine_factor`), so they never outlive their index;
- later runs `optimize()` (folds new rows into the existing partitions, compacts), and retrain the index
  (`replace=True`) when the table grew past 4x the rows it was trained on (partitions too few) or
  outgrew IVF_FLAT;
- searches probe the calibrated partitions (and re-rank refine_factor x k candidates of an IVF_SQ
  index with exact distances); long-lived callers search through `vector_searcher.VectorSearcher`. An index
  from before calibration (`vector_ivfpq_p<partitions>`) probes max(20, partitions / 20) and re-ranks
  10 x k.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:
    from av_resources.vector_searcher import VectorSearcher

TABLE = "embeddings"
KEYFRAME_TABLE = "keyframe_embeddings"
INDEX_MIN_ROWS = 256  # below this a flat scan is exact and fast; above, an IVF index
METRIC = "cosine"
FLAT_MAX_BYTES = 3 << 30  # IVF_FLAT while rows x dim float32 fit here, IVF_SQ above (see docstring)
REFINE_FACTOR = 3  # IVF_SQ: re-rank 3 x k scalar-quantised candidates with exact distances
LEGACY_REFINE_FACTOR = 10  # PQ indexes from before calibration (coarser distances)
MIN_NPROBES = 20  # probes for an index without a calibrated count (named before calibration)
TARGET_RECALL = 0.98  # calibration target; the bench's goal is 0.95 on held-out queries
CALIBRATION_QUERIES = 200
IVF_SAMPLE_RATE = 64
IVF_MAX_ITERATIONS = 20
RETRAIN_GROWTH = 4.0  # retrain the index when rows > 4x the rows it was trained on


def _schema(dim: int):
    """The clip table."""
    import pyarrow as pa

    return pa.schema(
        [
            ("clip_id", pa.string()),
            ("drive_id", pa.string()),
            ("t_start_ns", pa.int64()),
            ("t_end_ns", pa.int64()),
            ("event_types", pa.string()),
            ("day_night", pa.string()),
            ("weather", pa.string()),
            ("road_class", pa.string()),
            ("speed_mean_mps", pa.float64()),
            ("model", pa.string()),
            ("model_version", pa.string()),
            ("vector", pa.list_(pa.float32(), dim)),
        ]
    )


def keyframe_schema(dim: int):
    """The keyframe table."""
    import pyarrow as pa

    return pa.schema(
        [
            ("keyframe_id", pa.string()),
            ("drive_id", pa.string()),
            ("clip_id", pa.string()),
            ("sensor_id", pa.string()),
            ("t_ns", pa.int64()),
            ("event_types", pa.string()),
            ("day_night", pa.string()),
            ("weather", pa.string()),
            ("model", pa.string()),
            ("model_version", pa.string()),
            ("vector", pa.list_(pa.float32(), dim)),
        ]
    )


def index_partitions(rows: int) -> int:
    """round(sqrt(rows)), at most rows / 256 (Lance trains k-means with >= 256 rows per partition)."""
    return max(1, min(4096, round(rows**0.5), rows // 256))


def index_kind(rows: int, dim: int) -> str:
    """IVF_FLAT ("ivfflat") while the vectors fit in `FLAT_MAX_BYTES`, else IVF_SQ ("ivfsq")."""
    return "ivfflat" if rows * dim * 4 <= FLAT_MAX_BYTES else "ivfsq"


def _index_name(kind: str, partitions: int) -> str:
    return f"vector_{kind}_p{partitions}"


class IndexParams(NamedTuple):
    partitions: int | None
    nprobes: int
    refine_factor: int  # 0: no re-rank
    kind: str | None = None  # "ivfflat", "ivfsq", "ivfpq"; None: not one of ours


def index_params_of(name: str, vector_metadata: dict | None = None) -> IndexParams:
    """Search parameters of the index `name`: partitions from the name; probes and re-rank factor
    from the `vector` field metadata when they were calibrated for this index, else the defaults of
    an uncalibrated (pre-calibration IVF_PQ) index."""
    m = re.fullmatch(r"vector_(ivfflat|ivfsq|ivfpq)_p(\d+)", name)
    kind, parts = (m[1], int(m[2])) if m else (None, None)
    meta = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in (vector_metadata or {}).items()
    }
    if meta.get("av.index") == name and str(meta.get("av.nprobes", "")).isdigit():
        return IndexParams(parts, int(meta["av.nprobes"]), int(meta.get("av.refine_factor") or 0), kind)
    return IndexParams(parts, search_nprobes(parts) if parts else MIN_NPROBES, LEGACY_REFINE_FACTOR, kind)


def search_nprobes(partitions: int) -> int:
    return max(MIN_NPROBES, partitions // 20)


class EmbeddingStore:
    def __init__(
        self,
        uri: str,
        storage_options: dict | None = None,
        table: str = TABLE,
        key: str = "clip_id",
        schema=_schema,
    ):
        self.uri, self.storage_options, self.table_name = uri, storage_options or None, table
        self.key, self.schema = key, schema

    @classmethod
    def for_lake(cls, lake, table: str = TABLE) -> EmbeddingStore:
        from av_resources.clip_store import lance_storage_options

        uri = lake.uri("ml")
        opts = lance_storage_options(lake) if "://" in uri else None
        if table == KEYFRAME_TABLE:
            return cls(uri, storage_options=opts, table=table, key="keyframe_id", schema=keyframe_schema)
        return cls(uri, storage_options=opts, table=table)

    @classmethod
    def keyframes_for_lake(cls, lake) -> EmbeddingStore:
        return cls.for_lake(lake, table=KEYFRAME_TABLE)

    def _db(self):
        import lancedb

        return lancedb.connect(self.uri, storage_options=self.storage_options)

    def table(self, dim: int | None = None):
        """The table (None when absent and `dim` is None). With `dim`: created when absent, and
        replaced when its vectors have another width (a new model version: old vectors are not
        comparable with new ones; the drives are re-embedded as they are processed)."""
        from av_resources.clip_store import missing_local

        if dim is None and missing_local(self.uri):
            return None
        db = self._db()
        try:
            t = db.open_table(self.table_name)
            if dim is None or t.schema.field("vector").type.list_size == dim:
                return t
            db.drop_table(self.table_name, ignore_missing=True)
            raise FileNotFoundError(self.table_name)
        except (FileNotFoundError, ValueError):
            if dim is None:
                return None
            try:
                return db.create_table(self.table_name, schema=self.schema(dim), exist_ok=True)
            except Exception:  # noqa: BLE001 - a concurrent creator won: open theirs
                return db.open_table(self.table_name)

    def upsert(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert or replace rows by key (idempotent: the same rows twice leave the same table)."""
        if not rows:
            return 0
        import pyarrow as pa

        from av_resources.clip_store import retry_on_conflict

        dim = len(rows[0]["vector"])

        def once():
            table = self.table(dim)
            data = pa.Table.from_pylist(list(rows), schema=table.schema)
            table.merge_insert(self.key).when_matched_update_all().when_not_matched_insert_all().execute(data)

        retry_on_conflict(once)
        return len(rows)

    def exists(self) -> bool:
        """Whether the table exists, without creating anything."""
        if "://" not in self.uri:
            return os.path.isdir(os.path.join(self.uri, f"{self.table_name}.lance"))
        return self.table() is not None

    def count(self) -> int:
        t = self.table()
        return 0 if t is None else t.count_rows()

    def _vector_index(self, t=None):
        t = t if t is not None else self.table()
        if t is None:
            return None
        return next((i for i in t.list_indices() if "vector" in list(getattr(i, "columns", []) or [])), None)

    def has_vector_index(self) -> bool:
        return self._vector_index() is not None

    def index_info(self) -> dict[str, Any] | None:
        """{name, kind, index_type, num_partitions, nprobes, refine_factor, num_indexed_rows,
        num_unindexed_rows} or None."""
        t = self.table()
        idx = self._vector_index(t)
        if idx is None:
            return None
        st = t.index_stats(idx.name)
        params = index_params_of(idx.name, t.schema.field("vector").metadata)
        return {
            "name": idx.name,
            "kind": params.kind,
            "index_type": str(getattr(st, "index_type", getattr(idx, "index_type", ""))),
            "num_partitions": params.partitions,
            "nprobes": params.nprobes,
            "refine_factor": params.refine_factor,
            "num_indexed_rows": getattr(st, "num_indexed_rows", None),
            "num_unindexed_rows": getattr(st, "num_unindexed_rows", None),
        }

    def ensure_index(self, min_rows: int = INDEX_MIN_ROWS) -> str:
        """Create the ANN index when the table reached `min_rows`; afterwards fold new rows in with
        `optimize()`, and retrain when the table outgrew the index (see the module docstring)."""
        from av_resources.clip_store import retry_on_conflict

        t = self.table()
        if t is None:
            return "empty"
        n = t.count_rows()
        info = self.index_info()
        if info is not None:
            parts = info.get("num_partitions") or 0
            same_kind = info["kind"] == index_kind(n, t.schema.field("vector").type.list_size)
            if parts and same_kind and index_partitions(n) <= RETRAIN_GROWTH**0.5 * parts:
                retry_on_conflict(lambda: t.optimize())
                return f"optimized ({info['index_type']} partitions={parts})"
        elif n < min_rows:
            return f"flat (<{min_rows} rows)"
        return self.create_index()

    def create_index(
        self, *, sample_rate: int = IVF_SAMPLE_RATE, max_iterations: int = IVF_MAX_ITERATIONS
    ) -> str:
        """Train the IVF index `index_kind` picks, swap it in, and calibrate its probe count (see the
        module docstring)."""
        from lancedb.index import IvfFlat, IvfSq

        from av_resources.clip_store import retry_on_conflict

        t = self.table()
        n = t.count_rows()
        kind, parts = index_kind(n, t.schema.field("vector").type.list_size), index_partitions(n)
        config = (IvfFlat if kind == "ivfflat" else IvfSq)(
            distance_type=METRIC, num_partitions=parts, sample_rate=sample_rate, max_iterations=max_iterations
        )
        refine = 0 if kind == "ivfflat" else REFINE_FACTOR
        name = _index_name(kind, parts)
        retry_on_conflict(lambda: t.create_index("vector", config=config, replace=True, name=name))
        for old in t.list_indices():
            if old.name != name and "vector" in list(old.columns or []):
                retry_on_conflict(lambda old=old: t.drop_index(old.name))
        nprobes, recall = self.calibrate_nprobes(parts, refine)
        meta = {
            "av.index": name,
            "av.nprobes": str(nprobes),
            "av.refine_factor": str(refine),
            "av.calibrated_recall": f"{recall:.4f}",
        }
        retry_on_conflict(lambda: t.update_field_metadata({"path": "vector", "metadata": meta}))
        label = kind.upper().replace("IVF", "IVF_")
        return f"{label} partitions={parts} nprobes={nprobes} (calibrated recall@10 {recall:.3f})"

    def calibrate_nprobes(self, partitions: int, refine_factor: int, k: int = 10) -> tuple[int, float]:
        """The smallest probe count (1, 2, 4, ... partitions) whose recall@k on up to
        `CALIBRATION_QUERIES` of the table's own rows reaches `TARGET_RECALL`, and that recall.
        Truth: exact cosine over every row (numpy), each query row excluded from its own answer."""
        import numpy as np

        data = self.table().to_arrow().select([self.key, "vector"])
        keys = data.column(self.key).to_numpy(zero_copy_only=False)
        x = np.asarray(data.column("vector").combine_chunks().flatten(), dtype=np.float32).reshape(
            len(keys), -1
        )
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        rng = np.random.default_rng(0)
        sample = rng.choice(len(keys), size=min(CALIBRATION_QUERIES, len(keys)), replace=False)
        truth = []
        for a in range(0, len(sample), 50):
            rows = sample[a : a + 50]
            sim = x[rows] @ x.T
            sim[np.arange(len(rows)), rows] = -np.inf  # the query itself is not an answer
            top = np.argpartition(-sim, k, axis=1)[:, :k]
            truth += [set(keys[t].tolist()) for t in top]
        del x
        ladder = sorted({min(partitions, 2**i) for i in range(partitions.bit_length() + 1)})
        recall = 0.0
        for nprobes in ladder:
            hits = 0
            with self.searcher(nprobes=nprobes, refine_factor=refine_factor) as searcher:
                for row, want in zip(sample, truth, strict=True):
                    got = searcher.nearest(
                        data.column("vector")[int(row)].as_py(), k=k + 1, columns=[self.key]
                    )
                    hits += len({h[self.key] for h in got if h[self.key] != keys[row]} & want)
            recall = hits / (k * len(sample))
            if recall >= TARGET_RECALL:
                return nprobes, recall
        return ladder[-1], recall

    def get(self, key: str) -> dict[str, Any] | None:
        with self.searcher() as s:
            return s.get(key)

    def searcher(self, **kw) -> VectorSearcher:
        """A reader that keeps the table open (close it, or use it as a context manager)."""
        from av_resources.vector_searcher import VectorSearcher

        return VectorSearcher(self.uri, self.table_name, self.key, self.storage_options, **kw)

    def search_query(self, vector, k: int = 20, where: str | None = None):
        """The synchronous LanceDB query equivalent to `search_vector` (for `explain_plan`); None
        without a table."""
        t = self.table()
        if t is None:
            return None
        q = t.search(list(map(float, vector)), vector_column_name="vector").metric(METRIC)
        info = self.index_info()
        if info is not None:
            q = q.nprobes(info["nprobes"])
            if info["refine_factor"]:
                q = q.refine_factor(info["refine_factor"])
        if where:
            q = q.where(where, prefilter=True)
        return q.limit(k)

    def search_vector(self, vector, k: int = 20, where: str | None = None) -> list[dict[str, Any]]:
        """The k rows nearest to `vector` (cosine, `_distance` = 1 - cosine similarity), best first."""
        with self.searcher() as s:
            return s.nearest(vector, k=k, where=where)

    def like(self, clip_id: str, k: int = 20, where: str | None = None) -> list[dict[str, Any]]:
        """The k clips nearest to `clip_id` (cosine), best first, the query excluded.
        Raises KeyError when the clip has no vector."""
        with self.searcher() as s:
            return clip_results(s.like(clip_id, k=k, where=where))


def clip_results(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nearest rows of the clip table as `av search like` / the API report them."""
    return [
        {
            "clip_id": h["clip_id"],
            "drive_id": h["drive_id"],
            "t_start_ns": int(h["t_start_ns"]),
            "t_end_ns": int(h["t_end_ns"]),
            "score": round(1.0 - float(h["_distance"]), 6),
            "event_types": [e for e in (h.get("event_types") or "").split(",") if e],
            "day_night": h.get("day_night"),
            "weather": h.get("weather"),
            "road_class": h.get("road_class"),
            "model": h.get("model"),
            "model_version": h.get("model_version"),
        }
        for h in hits
    ]


class VectorStoreResource(dg.ConfigurableResource):
    """Where the embedding tables live: LanceDB under the lake (local, CI and production, `s3://`
    lakes included). `clips(lake)`: the clip table (`ml/clip_embeddings`, `av search like`, mining's
    novelty); `keyframes(lake)`: the keyframe table (`ml/keyframe_embeddings`)."""

    backend: str = Field(default="lancedb", description="lancedb (tables under <lake>/ml)")

    def _check_backend(self) -> None:
        if self.backend != "lancedb":
            raise ValueError(f"unknown vector store backend {self.backend!r} (lancedb)")

    def clips(self, lake) -> EmbeddingStore:
        self._check_backend()
        return EmbeddingStore.for_lake(lake)

    def keyframes(self, lake) -> EmbeddingStore:
        self._check_backend()
        return EmbeddingStore.keyframes_for_lake(lake)
