"""Incremental gold by drive: which drives a run builds, and publishing a run's staged dbt outputs.

Layout (docs/gold.md):
- per-drive models (`clip_metadata_enriched`, `event_windows`, `slices`):
  `gold/<model>/drive_id=<id>/part-0.parquet`, one file per drive, each replaced by one atomic write;
- the cross-drive cube (`odd_coverage`): `gold/odd_coverage.parquet`, replaced whole (atomic);
- `gold/_state/drive_id=<id>.json`: the input fingerprint the drive was built from and, per model,
  the published partition's sha256 and rows;
- `gold/_runs/<run>/<model>.parquet`: what one dbt build wrote (only the run's drives), removed after
  publishing.

A drive is built when its input fingerprint differs from the one in its state: the size and mtime
(ETag on S3) of its partitions of the gold inputs, its rows of the (unpartitioned) hourly weather
table, and the dbt project's code. Drives whose inputs are gone are removed from gold.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from av_contracts import tables

# The gold tables (av_contracts.tables) by layout, and the per-drive tables dbt reads: a drive's gold
# partitions are rebuilt when its rows of any of these change.
_GOLD = [t for t in tables.all_tables() if t.key_path[0] == "gold"]
PER_DRIVE_MODELS = tuple(t.key_path[-1] for t in _GOLD if t.partitioning == "drive")
WHOLE_MODELS = tuple(t.key_path[-1] for t in _GOLD if t.partitioning == "none")
INPUT_PREFIXES = tuple(t.root for t in tables.DBT_SOURCES if t.partitioning == "drive")
_DRIVE_PART = re.compile(r"(?:^|/)drive_id=([^/]+)/")


def partition_rel(model: str, drive_id: str) -> str:
    return tables.table(model).rel(drive_id=drive_id)


def whole_rel(model: str) -> str:
    """A model's one file: the cube's table, or a per-drive model's file of the old whole layout."""
    t = tables.table(model)
    return t.rel() if t.partitioning == "none" else f"{t.root}.parquet"


def state_rel(drive_id: str) -> str:
    return f"gold/_state/drive_id={drive_id}.json"


def run_prefix(run: str) -> str:
    return f"gold/_runs/{run}"


def staged_rel(run: str, model: str) -> str:
    return f"{run_prefix(run)}/{model}.parquet"


def code_fingerprint(project_dir: Path) -> str:
    """sha256 over the dbt project's models, macros and configs: a change rebuilds every drive."""
    h = hashlib.sha256()
    for p in sorted(project_dir.rglob("*")):
        if p.suffix in (".sql", ".yml", ".yaml") and not {"target", "logs", "dbt_packages"} & set(p.parts):
            h.update(p.relative_to(project_dir).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _file_stamp(info: dict[str, Any]) -> str:
    for k in ("ETag", "etag", "mtime", "LastModified", "last_modified", "created"):
        if info.get(k) is not None:
            return str(info[k])
    return ""


def input_fingerprints(lake, code: str) -> dict[str, str]:
    """{drive_id: fingerprint of everything gold reads for it} over the drives present in the inputs."""
    parts: dict[str, list[str]] = {}
    fs = lake.fs
    for prefix in INPUT_PREFIXES:
        base = lake.path(prefix)
        if not fs.exists(base):
            continue
        base_n = base.replace("\\", "/").rstrip("/")
        for path, info in sorted(fs.find(base, detail=True).items()):
            path = path.replace("\\", "/")
            tail = path[len(base_n) :] if path.startswith(base_n) else path
            m = _DRIVE_PART.search(tail)
            if info.get("type") != "file" or path.endswith(".part") or m is None:
                continue
            line = f"{prefix}{tail}|{info.get('size')}|{_file_stamp(info)}"
            parts.setdefault(m.group(1), []).append(line)
    weather = _weather_rows_by_drive(lake)
    out = {}
    for d in sorted(set(parts) | set(weather)):
        h = hashlib.sha256(code.encode())
        for line in sorted(parts.get(d, [])):
            h.update(line.encode() + b"\n")
        h.update(b"weather:" + weather.get(d, "").encode())
        out[d] = h.hexdigest()
    return out


def _weather_rows_by_drive(lake) -> dict[str, str]:
    """sha256 of each drive's rows of the hourly weather table (one file for all drives)."""
    import polars as pl

    out: dict[str, str] = {}
    rels = [tables.WEATHER_HOURLY.rel()] if lake.exists(tables.WEATHER_HOURLY.rel()) else []
    frames = [lake.read_parquet(r) for r in rels]
    frames = [f for f in frames if "drive_id" in f.columns and f.height]
    if not frames:
        return out
    df = pl.concat(frames, how="diagonal_relaxed")
    df = df.select(sorted(df.columns)).sort(sorted(df.columns), nulls_last=True)
    for (d,), g in df.group_by("drive_id", maintain_order=True):
        if d is not None:
            out[str(d)] = hashlib.sha256(g.write_csv().encode()).hexdigest()
    return out


def read_states(lake) -> dict[str, dict[str, Any]]:
    out = {}
    for rel in lake.list("gold/_state", "drive_id=*.json"):
        m = re.search(r"drive_id=(.+)\.json$", rel)
        if m:
            out[m.group(1)] = lake.read_json(rel)
    return out


@dataclass
class Plan:
    build: list[str]  # drives this run builds (their gold rows replaced)
    remove: list[str]  # drives whose inputs are gone (their gold rows deleted)
    fingerprints: dict[str, str] = field(default_factory=dict)
    reason: str = ""


def plan_drives(
    fingerprints: dict[str, str],
    states: dict[str, dict[str, Any]],
    *,
    drive_ids: Iterable[str] | None = None,
    full_refresh: bool = False,
) -> Plan:
    """Explicit `drive_ids` build exactly those (one with no inputs left is removed); otherwise every
    drive whose fingerprint changed (or every drive on `full_refresh`); drives with a state but no
    inputs any more are removed."""
    if drive_ids:
        ids = sorted(set(drive_ids))
        build = [d for d in ids if d in fingerprints]
        remove = [d for d in ids if d not in fingerprints and d in states]
        return Plan(build, remove, fingerprints, "explicit drive_ids")
    gone = sorted(d for d in states if d not in fingerprints)
    if full_refresh:
        return Plan(sorted(fingerprints), gone, fingerprints, "full refresh")
    stale = sorted(d for d, fp in fingerprints.items() if (states.get(d) or {}).get("fingerprint") != fp)
    return Plan(stale, gone, fingerprints, "changed inputs")


def remove_drives(lake, drive_ids: Iterable[str]) -> None:
    for d in drive_ids:
        for m in PER_DRIVE_MODELS:
            lake.delete(f"gold/{m}/drive_id={d}", recursive=True)
        lake.delete(state_rel(d))


def _read_table(lake, rel: str):
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(lake.read_bytes(rel)))


def drop_empty_sentinel(table):
    """dbt-duckdb writes an empty result as ONE all-NULL row (to keep the schema): that row is not
    data, so such a table becomes zero rows with the same schema."""
    if table.num_rows == 1 and all(table.column(i).null_count == 1 for i in range(table.num_columns)):
        return table.slice(0, 0)
    return table


@dataclass
class Published:
    model: str
    drives: list[str]  # the drives whose rows this run replaced (per-drive) / the cube's drives
    rows_written: int
    schema: list[tuple[str, str]]
    rel: str  # what a reader globs: gold/<model>/*/part-0.parquet or gold/<model>.parquet
    partition_sha: dict[str, str] = field(default_factory=dict)
    partition_rows: dict[str, int] = field(default_factory=dict)


def publish_per_drive(lake, run: str, model: str, drive_ids: list[str]) -> Published:
    """Split the run's staged output of `model` by drive and replace each drive's partition (one
    atomic write per drive; a drive without rows gets a zero-row file, so its old rows are gone)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from av_resources.lake import parquet_bytes

    table = drop_empty_sentinel(_read_table(lake, staged_rel(run, model)))
    col = table.column("drive_id")
    stray = set(pc.unique(col).to_pylist()) - set(drive_ids) - {None}
    if stray:
        raise ValueError(f"gold/{model}: run {run} produced rows of drives it did not build: {sorted(stray)}")
    shas, rows = {}, {}
    for d in drive_ids:
        part = table.filter(pc.equal(col, pa.scalar(d, col.type)))
        data = parquet_bytes(part)
        lake.write_bytes(partition_rel(model, d), data)
        shas[d], rows[d] = hashlib.sha256(data).hexdigest(), part.num_rows
    return Published(
        model,
        sorted(drive_ids),
        table.num_rows,
        [(f.name, str(f.type)) for f in table.schema],
        f"gold/{model}/*/part-0.parquet",
        shas,
        rows,
    )


def publish_whole(lake, run: str, model: str) -> tuple[Any, bytes]:
    """Replace `gold/<model>.parquet` by the run's staged output (one atomic write)."""
    from av_resources.lake import parquet_bytes

    table = drop_empty_sentinel(_read_table(lake, staged_rel(run, model)))
    data = parquet_bytes(table)
    lake.write_bytes(whole_rel(model), data)
    return table, data


def write_states(
    lake, drive_ids: Iterable[str], plan: Plan, published: dict[str, Published], run: str
) -> None:
    """Record, per drive built, the fingerprint it was built from and its partitions (only when every
    per-drive model was published: a drive with a failed model stays stale and is rebuilt next run)."""
    if not all(m in published for m in PER_DRIVE_MODELS):
        return
    for d in drive_ids:
        lake.write_json(
            state_rel(d),
            {
                "drive_id": d,
                "fingerprint": plan.fingerprints.get(d),
                "gold_run": run,
                "models": {
                    m: {"sha256": published[m].partition_sha[d], "rows": published[m].partition_rows[d]}
                    for m in PER_DRIVE_MODELS
                },
            },
        )


def model_totals(states: dict[str, dict[str, Any]], model: str) -> tuple[int, str, list[str]]:
    """(rows over every drive's partition, sha256 over the partitions' shas, drives) of a per-drive
    model, from the drive states."""
    h = hashlib.sha256()
    rows = 0
    drives = []
    for d in sorted(states):
        m = (states[d].get("models") or {}).get(model)
        if not m:
            continue
        drives.append(d)
        rows += int(m.get("rows") or 0)
        h.update(json.dumps([d, m.get("sha256")]).encode())
    return rows, h.hexdigest(), drives


def start_run(lake, project_dir: Path, drive_ids: list[str], full_refresh: bool) -> Plan:
    """Plan a gold run and clear what it replaces: the explicit drives, else those whose inputs
    changed; drives gone are removed first, so the cube built after no longer counts them."""
    fingerprints = input_fingerprints(lake, code_fingerprint(project_dir))
    plan = plan_drives(fingerprints, read_states(lake), drive_ids=drive_ids, full_refresh=full_refresh)
    remove_drives(lake, plan.remove)
    for model in PER_DRIVE_MODELS:  # the single files of the non-incremental layout
        lake.delete(whole_rel(model))
    return plan


def open_run_folder(lake, run: str) -> None:
    """Where dbt stages this run's outputs (a local COPY makes no folders)."""
    if not lake.is_s3:
        Path(lake.path(run_prefix(run))).mkdir(parents=True, exist_ok=True)


def publish_run(lake, run: str, plan: Plan, built: set[str]) -> dict[str, Any]:
    """Publish what dbt staged: per-drive models first (one atomic write per drive), the drive
    states, then the cube. Returns {model: what publishing it wrote}."""
    published: dict[str, Any] = {}
    for model in PER_DRIVE_MODELS:
        if model in built and lake.exists(staged_rel(run, model)):
            published[model] = publish_per_drive(lake, run, model, plan.build)
    write_states(lake, plan.build, plan, published, run)
    for model in WHOLE_MODELS:
        if model in built and lake.exists(staged_rel(run, model)):
            published[model] = publish_whole(lake, run, model)
    return published
