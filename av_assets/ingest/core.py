"""Ingestion of one drive folder into bronze: streamed copy with sha256, container scan, validation,
quarantine decision, manifest (written last: the commit marker), Parquet tables.

Plain functions over a `DriveSource` (a local folder or a landing prefix of the lake) and a
`LakeStorage`; the Dagster assets, the sensor and the CLI all call `ingest_drive`.
"""

from __future__ import annotations

import abc
import hashlib
import json
import os
import posixpath
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from av_assets.ingest.scan import BagScan, scan_bag
from av_assets.platform.lineage import combine_hashes
from av_assets.shared.bag_containers import BAG_FORMATS, detect_format, normalise_type
from av_contracts import tables
from av_contracts.ids import InvalidIdentifier, safe_relative_path, validate_drive_id
from av_contracts.schemas import validation_errors
from av_resources.lake import LakeStorage

MANIFEST_VERSION = 1
COMPLETE_MARKER = "_OFFLOAD_COMPLETE"
CHUNK = 8 << 20
BAG_SUFFIXES = {".mcap": "mcap", ".db3": "ros2-sqlite3", ".bag": "ros1-bag"}
KNOWN_PLATFORMS: frozenset[str] = frozenset()  # platform profiles live with the policies (workflow 36)
START_TIME_TOLERANCE_S = 3600

# Quarantine reasons (docs/ingest.md); everything else is a WARN flag.
QUARANTINE_REASONS = (
    "invalid_drive_json",
    "id_conflict",
    "checksum_mismatch",
    "structural_failure",
    "empty_drive",
    "sensor_missing",
    "validation_failed",
)


def sign_manifest(lake: LakeStorage, manifest: dict[str, Any], key: str | None = None) -> dict[str, str]:
    """Sign a manifest document and store the signature beside where the manifest goes.

    Written *before* the manifest, so the manifest stays the commit marker: a drive whose manifest
    exists always has its signature (ed25519 over the canonical JSON, `contracts.signing`)."""
    from av_contracts.signing import sign_document

    record = sign_document(manifest, key=key)
    lake.write_json(
        tables.BRONZE_MANIFEST.sidecar(tables.MANIFEST_SIGNATURE, drive_id=manifest["drive_id"]), record
    )
    return record


# ---- sources --------------------------------------------------------------------------------------
class DriveSource(abc.ABC):
    """A drive folder to ingest: `files()` -> {relative path: size}, `open(rel)`, `local_path(rel)`."""

    label: str
    name: str  # the folder name (informational)
    vehicle_folder: str | None

    @abc.abstractmethod
    def files(self) -> dict[str, int]: ...

    @abc.abstractmethod
    def open(self, rel: str) -> IO[bytes]: ...

    def local_path(self, rel: str) -> Path | None:
        return None


class LocalSource(DriveSource):
    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.label = str(self.root)
        self.name = self.root.name
        self.vehicle_folder = self.root.parent.name

    def files(self) -> dict[str, int]:
        out = {}
        for p in sorted(self.root.rglob("*")):
            if p.is_file() and not p.is_symlink():
                out[p.relative_to(self.root).as_posix()] = p.stat().st_size
        return out

    def open(self, rel: str) -> IO[bytes]:
        return open(self.root / rel, "rb")

    def local_path(self, rel: str) -> Path | None:
        return self.root / rel


class LakeSource(DriveSource):
    """`<lake>/landing/<vehicle>/<drive>/` read through LakeStorage (local folder or S3 alike)."""

    def __init__(self, lake: LakeStorage, prefix: str):
        self.lake = lake
        self.prefix = prefix.rstrip("/")
        self.label = lake.uri(self.prefix)
        parts = self.prefix.split("/")
        self.name = parts[-1]
        self.vehicle_folder = parts[-2] if len(parts) >= 2 else None

    def files(self) -> dict[str, int]:
        cut = len(self.prefix) + 1
        return {p[cut:]: s for p, s in self.lake.sizes(self.prefix).items()}

    def open(self, rel: str) -> IO[bytes]:
        return self.lake.open_read(f"{self.prefix}/{rel}")

    def local_path(self, rel: str) -> Path | None:
        return None if self.lake.is_s3 else Path(self.lake.path(f"{self.prefix}/{rel}"))


# ---- results --------------------------------------------------------------------------------------
@dataclass
class IngestResult:
    drive_id: str
    status: str  # ingested | skipped | quarantined
    reason: str | None = None
    detail: str | None = None
    files: int = 0
    bytes: int = 0
    message_count: int = 0
    topics: int = 0
    warnings: int = 0
    manifest: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    source: str | None = None  # the offload folder it came from (two folders may claim one id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "drive_id": self.drive_id,
            "status": self.status,
            "source": self.source,
            "reason": self.reason,
            "detail": self.detail,
            "files": self.files,
            "bytes": self.bytes,
            "message_count": self.message_count,
            "topics": self.topics,
            "warnings": self.warnings,
            "warning_flags": sorted({w["flag"] for w in (self.manifest or {}).get("warnings", [])}),
        }


@dataclass
class _Copied:
    path: str
    size: int
    sha256: str
    format: str
    scan: BagScan | None = None
    jpeg_error: str | None = None


# ---- hashing / copying ----------------------------------------------------------------------------
def _hash_only(source: DriveSource, rel: str) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with source.open(rel) as src:
        while chunk := src.read(CHUNK):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def _copy_one(
    source: DriveSource,
    lake: LakeStorage,
    rel: str,
    dst_rel: str,
    *,
    validate: bool,
    hook: Callable[[str], None] | None,
) -> _Copied:
    """Stream one file into the lake (atomic), hashing as it goes; scan it if it is a bag."""
    h = hashlib.sha256()
    size = 0
    fmt = "other"
    local = source.local_path(rel)
    spool = None
    with source.open(rel) as src, lake.open_atomic(dst_rel) as dst:
        first = True
        while chunk := src.read(CHUNK):
            if first:
                fmt = detect_format(chunk[:16])
                if local is None and (fmt in BAG_FORMATS or fmt == "jpeg"):
                    spool = tempfile.NamedTemporaryFile(prefix="av-ingest-", suffix=".bin", delete=False)
                first = False
            h.update(chunk)
            dst.write(chunk)
            if spool is not None:
                spool.write(chunk)
            size += len(chunk)
            if hook is not None:
                hook(rel)
    try:
        if spool is not None:
            spool.close()
            local = Path(spool.name)
        out = _Copied(rel, size, h.hexdigest(), fmt)
        suffix_fmt = BAG_SUFFIXES.get(posixpath.splitext(rel)[1].lower())
        if fmt in BAG_FORMATS:
            out.scan = scan_bag(local, fmt, validate=validate, rel=rel)
        elif suffix_fmt is not None:
            out.scan = BagScan(
                path=rel,
                format=suffix_fmt,
                error=f"{rel}: named like a {suffix_fmt} file but its bytes are {fmt!r} (magic mismatch)",
            )
        elif fmt == "jpeg" and validate:
            from av_assets.ingest.validate import jpeg_error

            out.jpeg_error = jpeg_error(Path(local).read_bytes())
        return out
    finally:
        if spool is not None:
            os.unlink(spool.name)


# ---- quarantine records ---------------------------------------------------------------------------
def write_quarantine(
    lake: LakeStorage, drive_id: str, reason: str, detail: str, checks: list[dict], source: str
) -> None:
    import polars as pl

    record = {
        "drive_id": drive_id,
        "reason": reason,
        "detail": detail,
        "checks": checks,
        "source": source,
        "released": False,
        "note": None,
    }
    lake.write_parquet(
        tables.QUARANTINE.rel(drive_id=drive_id),
        pl.DataFrame(
            [{"drive_id": drive_id, "reason": reason, "detail": detail, "released": False, "note": None}],
            schema={
                "drive_id": pl.String,
                "reason": pl.String,
                "detail": pl.String,
                "released": pl.Boolean,
                "note": pl.String,
            },
        ),
    )
    lake.write_json(tables.QUARANTINE.sidecar("reason.json", drive_id=drive_id), record)


def _fallback_id(source: DriveSource) -> str:
    try:
        return validate_drive_id(source.name)
    except InvalidIdentifier:
        return "invalid-" + hashlib.sha256(source.label.encode()).hexdigest()[:12]


# ---- the ingest -----------------------------------------------------------------------------------
def ingest_drive(
    source: DriveSource,
    lake: LakeStorage,
    *,
    validate: bool = True,
    workers: int = 4,
    copy_hook: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> IngestResult:
    """Ingest one drive folder; never raises for a bad drive (it is quarantined), only for real errors
    of the platform (a lake that cannot be written), after removing what it wrote."""
    import time

    say = progress or (lambda _m: None)
    t_start = time.perf_counter()
    listing = {
        p: s
        for p, s in source.files().items()
        if posixpath.basename(p) != COMPLETE_MARKER and not p.endswith(".part")
    }

    # 1. drive.json
    doc: Any = None
    errors: list[str] = []
    if "drive.json" not in listing:
        errors = ["drive.json: missing"]
    else:
        with source.open("drive.json") as fh:
            raw = fh.read()
        try:
            doc = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            errors = [f"drive.json: not JSON: {exc}"]
        else:
            errors = validation_errors(doc, "drive")
    bad_paths = []
    for p in listing:
        try:
            safe_relative_path(p)
        except InvalidIdentifier as exc:
            bad_paths.append(str(exc))
    if errors or bad_paths:
        drive_id = doc.get("drive_id") if isinstance(doc, dict) else None
        try:
            drive_id = validate_drive_id(drive_id)
        except InvalidIdentifier:
            drive_id = _fallback_id(source)
        reason = "invalid_drive_json" if errors else "structural_failure"
        detail = "; ".join((errors or bad_paths)[:5])
        write_quarantine(
            lake,
            drive_id,
            reason,
            detail,
            [{"check": "drive_json_schema", "passed": False, "evidence": errors or bad_paths}],
            source.label,
        )
        say(f"{drive_id}: quarantined ({reason}: {detail})")
        return IngestResult(drive_id, "quarantined", reason, detail, files=len(listing))
    drive_id = doc["drive_id"]

    # 2. idempotency: same bytes -> skipped; other bytes under the same id -> refused
    mpath = tables.BRONZE_MANIFEST.rel(drive_id=drive_id)
    if lake.exists(mpath):
        existing = lake.read_json(mpath)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            shas = dict(zip(listing, pool.map(lambda r: _hash_only(source, r)[0], listing), strict=True))
        known = {f["path"]: f["sha256"] for f in existing["files"]}
        if shas == known:
            say(
                f"{drive_id}: skipped (already ingested: the offload matches its bronze manifest; `av verify` checks the bronze copy)"
            )
            return IngestResult(
                drive_id,
                "skipped",
                None,
                f"already ingested ({existing['status']})",
                files=len(listing),
                bytes=sum(listing.values()),
                message_count=existing["message_count"],
                topics=len(existing["topics"]),
                warnings=len(existing["warnings"]),
                manifest=existing,
            )
        differing = sorted(set(shas) ^ set(known) | {p for p in shas if p in known and shas[p] != known[p]})
        detail = (
            f"drive_id {drive_id!r} is already in bronze with other bytes "
            f"({len(differing)} files differ, e.g. {differing[:3]}); refusing to overwrite"
        )
        write_quarantine(
            lake,
            drive_id,
            "id_conflict",
            detail,
            [
                {
                    "check": "drive_id_unique",
                    "passed": False,
                    "evidence": {"differing": differing[:20], "bronze_manifest": lake.uri(mpath)},
                }
            ],
            source.label,
        )
        say(f"{drive_id}: quarantined (id_conflict)")
        return IngestResult(drive_id, "quarantined", "id_conflict", detail, files=len(listing))

    # 3. copy (debris of a killed earlier attempt has no manifest: remove it first)
    lake.delete(tables.BRONZE_MANIFEST.folder(drive_id=drive_id), recursive=True)
    say(f"{drive_id}: copying {len(listing)} files, {sum(listing.values())} bytes")
    t_copy = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            copied = list(
                pool.map(
                    lambda r: _copy_one(
                        source,
                        lake,
                        r,
                        tables.BRONZE_MANIFEST.sidecar(r, drive_id=drive_id),
                        validate=validate,
                        hook=copy_hook,
                    ),
                    # biggest first, so the pool's tail is short
                    sorted(listing, key=lambda r: -listing[r]),
                )
            )
    except BaseException:
        lake.delete(tables.BRONZE_MANIFEST.folder(drive_id=drive_id), recursive=True)
        raise
    copied.sort(key=lambda c: c.path)
    t_copied = time.perf_counter()

    # 4. decide, write tables, quarantine record, manifest last
    try:
        manifest = build_manifest(doc, copied, source)
        _write_tables(lake, manifest)
        if manifest["status"] == "quarantined":
            q = manifest["quarantine"]
            write_quarantine(lake, drive_id, q["reason"], q["detail"], q["checks"], source.label)
        sign_manifest(lake, manifest)
        lake.write_json(mpath, manifest)
    except BaseException:
        lake.delete(tables.BRONZE_MANIFEST.folder(drive_id=drive_id), recursive=True)
        raise
    timings = {"copy_s": t_copied - t_copy, "total_s": time.perf_counter() - t_start}
    res = IngestResult(
        drive_id,
        manifest["status"],
        manifest.get("quarantine", {}).get("reason"),
        manifest.get("quarantine", {}).get("detail"),
        files=len(copied),
        bytes=sum(c.size for c in copied),
        message_count=manifest["message_count"],
        topics=len(manifest["topics"]),
        warnings=len(manifest["warnings"]),
        manifest=manifest,
        timings=timings,
    )
    say(
        f"{drive_id}: {res.status}"
        + (f" ({res.reason}: {res.detail})" if res.reason else "")
        + f", {res.message_count} messages, {res.bytes / max(timings['copy_s'], 1e-9) / 1e6:.0f} MB/s"
    )
    return res


def build_manifest(doc: dict[str, Any], copied: list[_Copied], source: DriveSource) -> dict[str, Any]:
    drive_id = doc["drive_id"]
    checks: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    by_path = {c.path: c for c in copied}

    # vehicle-side checksums
    mism = []
    for rel, want in sorted((doc.get("checksums") or {}).items()):
        got = by_path.get(rel)
        if got is None:
            mism.append({"path": rel, "expected": want, "actual": None, "detail": "file missing"})
        elif got.sha256 != want:
            mism.append({"path": rel, "expected": want, "actual": got.sha256})
    if doc.get("checksums") is not None:
        checks.append({"check": "checksum_mismatch", "passed": not mism, "evidence": mism})

    # containers
    scans = [c.scan for c in copied if c.scan is not None]
    broken = [{"path": s.path, "error": s.error} for s in scans if s.error]
    checks.append({"check": "structural_failure", "passed": not broken, "evidence": broken})
    bad_jpegs = [{"path": c.path, "error": c.jpeg_error} for c in copied if c.jpeg_error]

    topics: dict[str, dict[str, Any]] = {}
    for s in scans:
        if s.summary is None:
            continue
        for st in s.summary.topics.values():
            row = topics.setdefault(
                st.topic,
                {
                    "topic": st.topic,
                    "type": st.type,
                    "encoding": st.encoding,
                    "message_count": 0,
                    "t_first_ns": None,
                    "t_last_ns": None,
                    "files": [],
                },
            )
            row["message_count"] += st.message_count
            row["files"].append(s.path)
            for k, fn in (("t_first_ns", min), ("t_last_ns", max)):
                v = getattr(st, k)
                if v is not None:
                    row[k] = v if row[k] is None else fn(row[k], v)
        warnings.extend(s.warnings)
    topic_rows = [topics[k] for k in sorted(topics)]
    message_count = sum(t["message_count"] for t in topic_rows)
    checks.append(
        {
            "check": "empty_drive",
            "passed": message_count > 0,
            "evidence": {"bag_files": [s.path for s in scans], "message_count": message_count},
        }
    )

    # declared sensors, matched by message type
    types_present: dict[str, list[str]] = {}
    for t in topic_rows:
        if t["message_count"] > 0:
            types_present.setdefault(t["type"], []).append(t["topic"])
    sensors = []
    missing = []
    # A topic that another sensor declares by name belongs to that sensor: a missing radar must not be
    # "found" on the lidar's topic because both publish PointCloud2.
    declared = {s["topic"] for s in doc.get("sensors", [])}
    for s in doc.get("sensors", []):
        want = normalise_type(s["type"])
        matched = [t for t in types_present.get(want, []) if t == s["topic"] or t not in declared]
        present = bool(matched)
        sensors.append(
            {
                "name": s["name"],
                "topic": s["topic"],
                "type": want,
                "present": present,
                "matched_topics": matched,
            }
        )
        if not present:
            missing.append({"name": s["name"], "topic": s["topic"], "type": want})
        elif s["topic"] not in matched:
            warnings.append(
                {
                    "flag": "sensor_topic_differs",
                    "sensor": s["name"],
                    "evidence": {"declared": s["topic"], "found": matched},
                }
            )
        rate = s.get("rate_hz")
        if present and isinstance(rate, (int, float)) and rate > 0:
            row = topics[s["topic"] if s["topic"] in matched else matched[0]]
            span = (row["t_last_ns"] - row["t_first_ns"]) / 1e9 if row["t_first_ns"] is not None else 0
            if span > 0 and row["message_count"] > 1:
                actual = (row["message_count"] - 1) / span
                if abs(actual - rate) / rate > 0.2:
                    warnings.append(
                        {
                            "flag": "rate_off_nominal",
                            "sensor": s["name"],
                            "evidence": {"nominal_hz": rate, "actual_hz": round(actual, 3)},
                        }
                    )
    checks.append({"check": "sensor_missing", "passed": not missing, "evidence": missing})

    # message validation
    failures = []
    undecodable: dict[str, int] = {}
    validated = 0
    for s in scans:
        if s.validation is None:
            continue
        validated += s.validation.validated
        for f in s.validation.failures:
            failures.append({"file": s.path, **f})
        for k, v in s.validation.undecodable.items():
            undecodable[k] = undecodable.get(k, 0) + v
    failures.extend(
        {"file": j["path"], "check": "jpeg_decodes", "count": 1, "evidence": [j["error"]]} for j in bad_jpegs
    )
    ran_validation = any(s.validation is not None for s in scans)
    if ran_validation:
        checks.append({"check": "validation_failed", "passed": not failures, "evidence": failures[:20]})
        if undecodable:
            warnings.append({"flag": "undecodable_types", "evidence": undecodable})

    # WARN flags on metadata
    if doc.get("platform") is not None and doc["platform"] not in KNOWN_PLATFORMS:
        warnings.append({"flag": "unknown_platform", "evidence": {"platform": doc["platform"]}})
    if source.vehicle_folder and source.vehicle_folder != doc["vehicle_id"]:
        warnings.append(
            {
                "flag": "vehicle_folder_differs",
                "evidence": {"folder": source.vehicle_folder, "vehicle_id": doc["vehicle_id"]},
            }
        )
    if source.name != drive_id:
        warnings.append(
            {"flag": "folder_name_differs", "evidence": {"folder": source.name, "drive_id": drive_id}}
        )
    firsts = [t["t_first_ns"] for t in topic_rows if t["t_first_ns"] is not None]
    lasts = [t["t_last_ns"] for t in topic_rows if t["t_last_ns"] is not None]
    t_first, t_last = (min(firsts), max(lasts)) if firsts else (None, None)
    start_ns = _iso_to_ns(doc["start_time"])
    if (
        t_first is not None
        and start_ns is not None
        and abs(t_first - start_ns) > START_TIME_TOLERANCE_S * 1e9
    ):
        warnings.append(
            {
                "flag": "start_time_disagrees",
                "evidence": {
                    "start_time": doc["start_time"],
                    "first_message_ns": t_first,
                    "difference_s": round((t_first - start_ns) / 1e9, 3),
                },
            }
        )

    order = {r: i for i, r in enumerate(QUARANTINE_REASONS)}
    failed = sorted((c for c in checks if not c["passed"]), key=lambda c: order[c["check"]])
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "drive_id": drive_id,
        "vehicle_id": doc["vehicle_id"],
        "start_time": doc["start_time"],
        "platform": doc.get("platform"),
        "software_version": doc.get("software_version"),
        "status": "quarantined" if failed else "ingested",
        "files": [{"path": c.path, "size": c.size, "sha256": c.sha256, "format": c.format} for c in copied],
        "topics": topic_rows,
        "message_count": message_count,
        "t_first_ns": t_first,
        "t_last_ns": t_last,
        "sensors": sensors,
        "sensor_types_present": sorted(t for t in types_present if t.startswith("sensor_msgs/")),
        "checks": checks,
        "warnings": warnings,
        "validation": {"ran": ran_validation, "validated_messages": validated, "failures": len(failures)},
        "content_sha256": combine_hashes(f"{c.path}:{c.sha256}" for c in copied),
        "drive_json": doc,
    }
    if failed:
        first = failed[0]
        manifest["quarantine"] = {
            "reason": first["check"],
            "detail": _detail(first),
            "checks": [{"check": c["check"], "passed": False, "evidence": c["evidence"]} for c in failed],
        }
    return manifest


def _detail(check: dict[str, Any]) -> str:
    ev = check["evidence"]
    name = check["check"]
    if name == "checksum_mismatch":
        return "vehicle-side sha256 differs for " + ", ".join(e["path"] for e in ev[:5])
    if name == "structural_failure":
        return "; ".join(e["error"] for e in ev[:3])
    if name == "empty_drive":
        return f"no messages in {len(ev['bag_files'])} bag file(s)"
    if name == "sensor_missing":
        return "declared sensors without messages of their type: " + ", ".join(
            f"{e['name']} ({e['type']})" for e in ev
        )
    if name == "validation_failed":
        return "; ".join(f"{e['check']} failed on {e.get('topic', e['file'])} x{e['count']}" for e in ev[:3])
    return json.dumps(ev)[:300]


def _iso_to_ns(text: str) -> int | None:
    from datetime import datetime

    try:
        frac = ""
        base = text.replace("Z", "+00:00")
        if "." in base:
            head, rest = base.split(".", 1)
            digits = rest[: rest.index("+")] if "+" in rest else rest
            frac = digits
            base = head + rest[len(digits) :]
        dt = datetime.fromisoformat(base)
        return int(dt.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)
    except ValueError:
        return None


def manifest_frames(manifest: dict[str, Any]):
    import polars as pl

    d = manifest["drive_id"]
    drives = pl.DataFrame(
        [
            {
                "drive_id": d,
                "vehicle_id": manifest["vehicle_id"],
                "start_time": manifest["start_time"],
                "status": manifest["status"],
                "message_count": manifest["message_count"],
                "t_first_ns": manifest["t_first_ns"],
                "t_last_ns": manifest["t_last_ns"],
                "files": len(manifest["files"]),
                "bytes": sum(f["size"] for f in manifest["files"]),
                "warnings": len(manifest["warnings"]),
                "reason": (manifest.get("quarantine") or {}).get("reason"),
            }
        ],
        schema={
            "drive_id": pl.String,
            "vehicle_id": pl.String,
            "start_time": pl.String,
            "status": pl.String,
            "message_count": pl.Int64,
            "t_first_ns": pl.Int64,
            "t_last_ns": pl.Int64,
            "files": pl.Int64,
            "bytes": pl.Int64,
            "warnings": pl.Int64,
            "reason": pl.String,
        },
    )
    files = pl.DataFrame(
        [
            {"drive_id": d, **{k: f[k] for k in ("path", "size", "sha256", "format")}}
            for f in manifest["files"]
        ],
        schema={
            "drive_id": pl.String,
            "path": pl.String,
            "size": pl.Int64,
            "sha256": pl.String,
            "format": pl.String,
        },
    )
    topics = pl.DataFrame(
        [
            {
                "drive_id": d,
                **{k: t[k] for k in ("topic", "type", "message_count", "t_first_ns", "t_last_ns")},
            }
            for t in manifest["topics"]
        ],
        schema={
            "drive_id": pl.String,
            "topic": pl.String,
            "type": pl.String,
            "message_count": pl.Int64,
            "t_first_ns": pl.Int64,
            "t_last_ns": pl.Int64,
        },
    )
    return {"drives": drives, "files": files, "topics": topics}


def _write_tables(lake: LakeStorage, manifest: dict[str, Any]) -> None:
    for name, frame in manifest_frames(manifest).items():
        lake.write_parquet(tables.table(name).rel(drive_id=manifest["drive_id"]), frame)


# ---- quarantine admin -----------------------------------------------------------------------------
def list_quarantine(lake: LakeStorage) -> list[dict[str, Any]]:
    out = []
    for rel in lake.list(tables.QUARANTINE.root, "*/reason.json"):
        rec = lake.read_json(rel)
        out.append({k: rec.get(k) for k in ("drive_id", "reason", "detail", "released", "note")})
    return out


def release_quarantine(lake: LakeStorage, drive_id: str, note: str) -> dict[str, Any]:
    """Accept a quarantined drive on a person's word: the record stays (released, with the note); a
    bronze copy, if any, becomes `ingested` so downstream assets may run for it."""
    drive_id = validate_drive_id(drive_id)
    rel = tables.QUARANTINE.sidecar("reason.json", drive_id=drive_id)
    if not lake.exists(rel):
        raise FileNotFoundError(f"no quarantine record for {drive_id!r}")
    rec = lake.read_json(rel)
    rec["released"], rec["note"] = True, note
    import polars as pl

    lake.write_parquet(
        tables.QUARANTINE.rel(drive_id=drive_id),
        pl.DataFrame(
            [{k: rec[k] for k in ("drive_id", "reason", "detail", "released", "note")}],
            schema={
                "drive_id": pl.String,
                "reason": pl.String,
                "detail": pl.String,
                "released": pl.Boolean,
                "note": pl.String,
            },
        ),
    )
    lake.write_json(rel, rec)
    mpath = tables.BRONZE_MANIFEST.rel(drive_id=drive_id)
    if rec["reason"] != "id_conflict" and lake.exists(mpath):
        manifest = lake.read_json(mpath)
        manifest["status"] = "ingested"
        manifest["release"] = {"note": note, "reason": rec["reason"]}
        _write_tables(lake, manifest)
        sign_manifest(lake, manifest)  # the released manifest is a new document: sign it again
        lake.write_json(mpath, manifest)
    return rec


def copy_tree_to_landing(src: Path, lake: LakeStorage, prefix: str) -> None:
    """Test/demo helper: put a local drive folder into the landing zone, marker last."""
    for p in sorted(Path(src).rglob("*")):
        if p.is_file():
            lake.put_file(p, f"{prefix}/{p.relative_to(src).as_posix()}")
    lake.write_bytes(f"{prefix}/{COMPLETE_MARKER}", b"")


# ---- a stored manifest, summarised (bronze/drive_manifest) ----------------------------------------
def result_from_manifest(drive_id: str, manifest: dict[str, Any]) -> IngestResult:
    """The `IngestResult` a stored manifest describes (counts only: no manifest, timings or source)."""
    q = manifest.get("quarantine") or {}
    return IngestResult(
        drive_id,
        manifest["status"],
        q.get("reason"),
        q.get("detail"),
        files=len(manifest["files"]),
        bytes=sum(f["size"] for f in manifest["files"]),
        message_count=manifest["message_count"],
        topics=len(manifest["topics"]),
        warnings=len(manifest["warnings"]),
    )


def integrity_outcome(manifest: dict[str, Any]) -> dict[str, Any]:
    """Whether the drive passed ingestion integrity, and why not: status, quarantine reason and
    detail, the failed checks, the sorted warning flags."""
    q = manifest.get("quarantine") or {}
    return {
        "passed": manifest["status"] == "ingested",
        "status": manifest["status"],
        "reason": q.get("reason") or "",
        "detail": q.get("detail") or "",
        "failed_checks": [c["check"] for c in manifest["checks"] if not c["passed"]],
        "warnings": sorted({w["flag"] for w in manifest["warnings"]}),
    }
