"""The lake: one root URI (a local folder or `s3://bucket/prefix`), read and written through one resource.

Every write is atomic: a local write goes to a temp file in the target folder and is renamed into
place; an S3 write is spooled locally and uploaded as one PUT / completed multipart upload, so a
reader never sees half an object and a killed writer leaves nothing visible.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import dagster as dg
from pydantic import Field

from av_contracts.ids import safe_relative_path

DEFAULT_LAKE_ROOT = ".av_lake"


class LakeStorage(dg.ConfigurableResource):
    """Read and write lake objects by path relative to `root`; the same code on a folder and on S3."""

    root: str = Field(default=DEFAULT_LAKE_ROOT, description="local folder or s3://bucket/prefix")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (tests, MinIO)")
    s3_access_key: str | None = Field(default=None, description="else the standard AWS credential chain")
    s3_secret_key: str | None = None
    s3_region: str = "us-east-1"

    # ---- addressing -------------------------------------------------------------------------
    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    @property
    def _base(self) -> str:
        """The root without scheme: a bucket/prefix for S3, an absolute folder path locally."""
        if self.is_s3:
            return self.root[len("s3://") :].rstrip("/")
        return str(Path(self.root).expanduser().resolve())

    def path(self, rel: str) -> str:
        """The filesystem path (no scheme) of a lake object, for `fs` calls."""
        rel = safe_relative_path(rel)
        return posixpath.join(self._base, rel) if self.is_s3 else str(Path(self._base, rel))

    def uri(self, rel: str = "") -> str:
        """The full URI: `s3://...` or an absolute local path; what `dagster/uri` records."""
        if not rel:
            return ("s3://" + self._base) if self.is_s3 else self._base
        return ("s3://" + self.path(rel)) if self.is_s3 else self.path(rel)

    @property
    def fs(self):  # -> fsspec.AbstractFileSystem
        if self.is_s3:
            import s3fs

            return s3fs.S3FileSystem(
                key=self.s3_access_key,
                secret=self.s3_secret_key,
                client_kwargs={"endpoint_url": self.s3_endpoint_url, "region_name": self.s3_region},
                use_listings_cache=False,
            )
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem()

    def storage_options(self) -> dict[str, Any]:
        """For polars/pyarrow readers that take fsspec-style options."""
        if not self.is_s3:
            return {}
        opts: dict[str, Any] = {"aws_region": self.s3_region}
        if self.s3_endpoint_url:
            opts["aws_endpoint_url"] = self.s3_endpoint_url
            opts["aws_allow_http"] = "true" if self.s3_endpoint_url.startswith("http://") else "false"
        if self.s3_access_key:
            opts["aws_access_key_id"] = self.s3_access_key
            opts["aws_secret_access_key"] = self.s3_secret_key or ""
        return opts

    # ---- atomic writes ----------------------------------------------------------------------
    @contextlib.contextmanager
    def open_atomic(self, rel: str) -> Iterator[IO[bytes]]:
        """Yield a binary file; the object appears at `rel` only if the block completes."""
        target = self.path(rel)
        if self.is_s3:
            with tempfile.NamedTemporaryFile(prefix="av-lake-", suffix=".part") as tmp:
                yield tmp
                tmp.flush()
                self.fs.put_file(tmp.name, target)
            return
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        tmp_path = f"{target}.{uuid.uuid4().hex}.part"
        try:
            with open(tmp_path, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_path, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp_path)

    def write_bytes(self, rel: str, data: bytes) -> str:
        with self.open_atomic(rel) as fh:
            fh.write(data)
        return self.uri(rel)

    def write_json(self, rel: str, document: Any) -> str:
        """Canonical JSON (sorted keys, 2-space indent, trailing newline): same input, same bytes."""
        text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
        return self.write_bytes(rel, text.encode())

    def write_parquet(self, rel: str, frame: Any) -> str:
        """Write a polars DataFrame or pyarrow Table; deterministic bytes (no wall-clock metadata)."""
        return self.write_bytes(rel, parquet_bytes(frame))

    def write_parquet_hashed(self, rel: str, frame: Any) -> tuple[str, str]:
        """`write_parquet`, also returning the sha256 of exactly the bytes written (no read-back)."""
        import hashlib

        data = parquet_bytes(frame)
        return self.write_bytes(rel, data), hashlib.sha256(data).hexdigest()

    def put_file(self, local_path: str | Path, rel: str) -> str:
        """Copy a local file into the lake atomically (streamed)."""
        with open(local_path, "rb") as src, self.open_atomic(rel) as dst:
            shutil.copyfileobj(src, dst, length=8 << 20)
        return self.uri(rel)

    # ---- reads ------------------------------------------------------------------------------
    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.path(rel))

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open(self.path(rel), "rb") as fh:
            return fh.read()

    def open_read(self, rel: str) -> IO[bytes]:
        return self.fs.open(self.path(rel), "rb")

    @contextlib.contextmanager
    def local_copy(self, rel: str) -> Iterator[Path]:
        """A local filesystem path of a lake object, for libraries that need one (bag readers, Zarr):
        the object itself on a local lake, a temporary download on S3 (removed afterwards)."""
        if not self.is_s3:
            yield Path(self.path(rel))
            return
        with tempfile.TemporaryDirectory(prefix="av-lake-") as tmp:
            dst = Path(tmp) / posixpath.basename(rel)
            self.fs.get_file(self.path(rel), str(dst))
            yield dst

    def read_json(self, rel: str) -> Any:
        return json.loads(self.read_bytes(rel))

    def read_parquet(self, rel: str):  # -> polars.DataFrame
        import polars as pl

        with self.open_read(rel) as fh:
            return pl.read_parquet(fh)

    def list(self, prefix: str = "", pattern: str = "**") -> list[str]:
        """Relative paths of objects under `prefix` matching a glob, sorted."""
        base = self.path(prefix) if prefix else (self._base)
        fs = self.fs
        if not fs.exists(base):
            return []
        hits = fs.glob(posixpath.join(base, pattern) if self.is_s3 else str(Path(base, pattern)))
        root = self._base.rstrip("/") + "/"
        out = []
        for h in hits:
            h = h.replace("\\", "/")
            if fs.isfile(h) and not h.endswith(".part"):
                out.append(h[len(root) :] if h.startswith(root) else h)
        return sorted(out)

    def sizes(self, prefix: str = "") -> dict[str, int]:
        """{relative path: size in bytes} of every object under `prefix` (in-flight temp files excluded)."""
        base = self.path(prefix) if prefix else self._base
        fs = self.fs
        if not fs.exists(base):
            return {}
        root = self._base.rstrip("/") + "/"
        out: dict[str, int] = {}
        for path, info in fs.find(base, detail=True).items():
            path = path.replace("\\", "/")
            if info.get("type") == "file" and not path.endswith(".part"):
                out[path[len(root) :] if path.startswith(root) else path] = int(info.get("size") or 0)
        return dict(sorted(out.items()))

    def stats(self, prefix: str = "") -> dict[str, tuple[int, float]]:
        """{relative path: (size in bytes, modified time as epoch seconds)} under `prefix`, like `sizes`."""
        base = self.path(prefix) if prefix else self._base
        fs = self.fs
        if not fs.exists(base):
            return {}
        root = self._base.rstrip("/") + "/"
        out: dict[str, tuple[int, float]] = {}
        for path, info in fs.find(base, detail=True).items():
            path = path.replace("\\", "/")
            if info.get("type") == "file" and not path.endswith(".part"):
                mtime = info.get("mtime", info.get("LastModified", info.get("created")))
                if hasattr(mtime, "timestamp"):
                    mtime = mtime.timestamp()
                rel = path[len(root) :] if path.startswith(root) else path
                out[rel] = (int(info.get("size") or 0), float(mtime or 0.0))
        return dict(sorted(out.items()))

    def delete(self, rel: str, recursive: bool = False) -> None:
        p = self.path(rel)
        if self.fs.exists(p):
            self.fs.rm(p, recursive=recursive)

    def ensure_root(self) -> None:
        if self.is_s3:
            bucket = self._base.split("/", 1)[0]
            if not self.fs.exists(bucket):
                self.fs.mkdir(bucket)
        else:
            Path(self._base).mkdir(parents=True, exist_ok=True)


def parquet_bytes(frame: Any) -> bytes:
    """A polars DataFrame or pyarrow Table as Parquet bytes: zstd, statistics, no wall-clock metadata,
    so the same rows give the same bytes (and the same content hash)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = frame if isinstance(frame, pa.Table) else frame.to_arrow()
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", write_statistics=True)
    return buf.getvalue()
