"""The read path of an embedding table for callers that search more than once: the retrieval API,
index calibration, the vector bench.

LanceDB's synchronous query API hands every query to a background event loop about six times and
re-reads the table schema three times (~2.5 ms of Python per query, measured with cProfile; more than
the search itself below ~100k rows per probed partition). `VectorSearcher` keeps one async
connection and table open and reads the index parameters once per `refresh_s`, so a query costs
about 1.4 ms plus the search. Use either the `a*` coroutines from one event loop (FastAPI), or the
synchronous methods (they run the coroutines on the searcher's own loop), not both on one instance.

All searchers of a process share one LanceDB `Session` (index and metadata caches): the partitions an
IVF_FLAT index loads (its full vectors, 1.5 GB per 1M x 384) are read once per process, not once per
searcher (calibration opens one per probe count), and its index cache holds `INDEX_CACHE_BYTES`, twice
the largest IVF_FLAT index `vector_store.index_kind` builds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

from av_resources.vector_store import FLAT_MAX_BYTES, METRIC, IndexParams, index_params_of

INDEX_CACHE_BYTES = 2 * FLAT_MAX_BYTES
_session = None
_session_lock = threading.Lock()


def shared_session():
    """The process's LanceDB session for searchers (created on first use)."""
    global _session
    with _session_lock:
        if _session is None:
            import lancedb

            _session = lancedb.Session(index_cache_size_bytes=INDEX_CACHE_BYTES)
        return _session


class VectorSearcher:
    def __init__(
        self,
        uri: str,
        table: str,
        key: str,
        storage_options: dict | None = None,
        *,
        nprobes: int | None = None,
        refine_factor: int | None = None,
        refresh_s: float = 5.0,
    ):
        """`nprobes`, `refine_factor`: instead of the index's calibrated values (calibration and the
        bench's sweep set them; refine_factor 0 = no re-rank). `refresh_s`: how stale a long-lived
        searcher may be (new rows, a new index)."""
        self.uri, self.table_name, self.key = uri, table, key
        self.storage_options = storage_options or None
        self.nprobes, self.refine_factor, self.refresh_s = nprobes, refine_factor, refresh_s
        self._table = None
        self._params: tuple[float, IndexParams | None] | None = None  # (read at, None = no index)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    # -- async -----------------------------------------------------------------------------------

    async def _open(self):
        if self._table is None:
            import lancedb

            from av_resources.clip_store import missing_local

            if missing_local(self.uri):
                return None  # connecting would create the folder

            db = await lancedb.connect_async(
                self.uri,
                storage_options=self.storage_options,
                read_consistency_interval=timedelta(seconds=self.refresh_s),
                session=shared_session(),
            )
            try:
                self._table = await db.open_table(self.table_name)
            except (FileNotFoundError, ValueError):
                return None
        return self._table

    async def _index_params(self, table) -> IndexParams | None:
        """The index's search parameters with this searcher's overrides (None: no index, flat scan)."""
        now = time.monotonic()
        if self._params is None or now - self._params[0] > self.refresh_s:
            indices = await table.list_indices()
            idx = next((i for i in indices if "vector" in list(i.columns or [])), None)
            meta = (await table.schema()).field("vector").metadata if idx is not None else None
            self._params = (now, None if idx is None else index_params_of(idx.name, meta))
        params = self._params[1]
        if params is None:
            return None
        return params._replace(
            nprobes=self.nprobes or params.nprobes,
            refine_factor=params.refine_factor if self.refine_factor is None else self.refine_factor,
        )

    async def anearest(
        self, vector, k: int = 20, where: str | None = None, columns: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """The k rows nearest to `vector` (cosine; `_distance` = 1 - cosine similarity), best first."""
        table = await self._open()
        if table is None:
            return []
        q = table.query().nearest_to(vector).column("vector").distance_type(METRIC)
        params = await self._index_params(table)
        if params is not None:
            q = q.nprobes(params.nprobes)
            if params.refine_factor:
                q = q.refine_factor(params.refine_factor)
        if where:
            q = q.where(where)  # a prefilter: the async API filters before the vector search
        if columns is not None:
            q = q.select([*columns, "_distance"])
        return await q.limit(k).to_list()

    async def aget(self, key: str) -> dict[str, Any] | None:
        table = await self._open()
        if table is None:
            return None
        safe = key.replace("'", "''")
        hits = await table.query().where(f"{self.key} = '{safe}'").limit(1).to_list()
        return hits[0] if hits else None

    async def alike(self, key: str, k: int = 20, where: str | None = None) -> list[dict[str, Any]]:
        """The k rows nearest to row `key`, the row itself excluded, best first. KeyError when the
        table has no such row."""
        query = await self.aget(key)
        if query is None:
            raise KeyError(key)
        safe = key.replace("'", "''")
        cond = f"{self.key} != '{safe}'" + (f" AND ({where})" if where else "")
        hits = await self.anearest(query["vector"], k=k + 1, where=cond)
        out, seen = [], {key}
        for h in hits:
            if h[self.key] not in seen:
                seen.add(h[self.key])
                out.append(h)
        return out[:k]

    # -- sync --------------------------------------------------------------------------------------

    def _run(self, coro):
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(coro)

    def nearest(self, vector, k: int = 20, where: str | None = None, columns: list[str] | None = None):
        return self._run(self.anearest(vector, k=k, where=where, columns=columns))

    def get(self, key: str) -> dict[str, Any] | None:
        return self._run(self.aget(key))

    def like(self, key: str, k: int = 20, where: str | None = None) -> list[dict[str, Any]]:
        return self._run(self.alike(key, k=k, where=where))

    def __enter__(self) -> VectorSearcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._loop is not None:
                self._loop.close()
                self._loop = None
            self._table = None
