"""`new_drive_sensor`: watches <lake>/landing/<vehicle_id>/<drive_id>/ and launches one run per ready drive.

Readiness (docs/ingest.md): a drive folder is ready when the offload tool's completion marker
`_OFFLOAD_COMPLETE` exists (written last), OR when its listing (file names and sizes) has not changed
for `quiet_seconds` across sensor ticks (for offload tools that write no marker).

The cursor is bounded (docs/decisions.md): a high-water mark `hwm` = the newest modification time
of any picked folder (its newest file: the marker, when there is one), the folders picked within
`lookback` seconds of that mark (so two drives with the same mtime, or one listed a little late, are
each picked once), and the pending folders (incomplete offloads still in the landing zone). A folder
whose newest file is older than `hwm - lookback` and that is not pending was handled before.
A cursor of the old format ({"picked": {prefix: sig}, "pending": ...}) is migrated on its first tick.
"""

import hashlib
import json
import os
import time

import dagster as dg

from av_assets.ingest.assets import LANDING_TAG
from av_assets.ingest.core import COMPLETE_MARKER, LakeSource, ingest_drive
from av_assets.platform.partitions import DRIVES
from av_contracts.ids import InvalidIdentifier, validate_drive_id
from av_resources.lake import LakeStorage

JOB_NAME = "ingest_drive_job"
DEFAULT_QUIET_SECONDS = float(os.environ.get("AV_INGEST_QUIET_SECONDS", "300"))


def landing_folders(lake: LakeStorage) -> dict[str, dict[str, tuple[int, float]]]:
    """{'landing/<vehicle>/<drive>': {relative file: (size, mtime)}} for every drive folder."""
    out: dict[str, dict[str, tuple[int, float]]] = {}
    for rel, stat in lake.stats("landing").items():
        parts = rel.split("/")
        if len(parts) < 4:
            continue
        prefix = "/".join(parts[:3])
        out.setdefault(prefix, {})["/".join(parts[3:])] = stat
    return out


def signature(listing: dict[str, int]) -> str:
    return hashlib.sha256(json.dumps(sorted(listing.items())).encode()).hexdigest()[:16]


def lookback_for(quiet_seconds: float) -> float:
    """How far behind the high-water mark a newly listed folder is still considered new."""
    return max(3600.0, 2 * quiet_seconds)


def _ready_time(files: dict[str, tuple[int, float]]) -> float:
    return max((m for _, m in files.values()), default=0.0)


def _read_state(cursor: str | None, folders: dict[str, dict[str, tuple[int, float]]]):
    state = json.loads(cursor) if cursor else {}
    pending: dict[str, list] = state.get("pending", {})
    if state.get("v") == 2:
        return dict(state.get("picked", {})), pending, state.get("hwm")
    # old format {"picked": {prefix: sig}}: the picked folders still landed give the mark
    picked = {p: _ready_time(folders[p]) for p in state.get("picked", {}) if p in folders}
    return picked, pending, max(picked.values(), default=None)


def evaluate_folders(
    folders: dict[str, dict[str, tuple[int, float]]],
    cursor: str | None,
    now: float,
    quiet_seconds: float = DEFAULT_QUIET_SECONDS,
    lookback: float | None = None,
):
    """Plain logic of the sensor over a listing: (ready [(prefix, sig)], new cursor dict)."""
    lookback = lookback_for(quiet_seconds) if lookback is None else lookback
    picked, pending, hwm = _read_state(cursor, folders)
    ready = []
    for prefix, files in sorted(folders.items()):
        if prefix in picked:
            continue
        t = _ready_time(files)
        if hwm is not None and t < hwm - lookback and prefix not in pending:
            continue  # picked long ago (its entry aged out of the cursor)
        sig = signature({k: size for k, (size, _) in files.items() if k != COMPLETE_MARKER})
        if COMPLETE_MARKER in files:
            ready.append((prefix, sig))
            picked[prefix] = t
            pending.pop(prefix, None)
            continue
        last = pending.get(prefix)
        if last is None or last[0] != sig:
            pending[prefix] = [sig, now]
        elif now - last[1] >= quiet_seconds and "drive.json" in files:
            ready.append((prefix, sig))
            picked[prefix] = t
            pending.pop(prefix, None)
    hwm = max([hwm or 0.0, *picked.values()]) if (picked or hwm is not None) else None
    if hwm is not None:
        picked = {p: t for p, t in picked.items() if t >= hwm - lookback}
    pending = {p: v for p, v in pending.items() if p in folders}
    return ready, {"v": 2, "hwm": hwm, "picked": picked, "pending": pending}


def evaluate(lake: LakeStorage, cursor: str | None, now: float, quiet_seconds: float = DEFAULT_QUIET_SECONDS):
    """Plain logic of the sensor: (ready [(prefix, sig)], new cursor dict)."""
    return evaluate_folders(landing_folders(lake), cursor, now, quiet_seconds)


@dg.sensor(
    name="new_drive_sensor",
    job_name=JOB_NAME,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a `drives` partition and launches ingest_drive_job for each offload that is complete "
    "(marker _OFFLOAD_COMPLETE, or a listing unchanged for the quiet period).",
)
def new_drive_sensor(context: dg.SensorEvaluationContext, lake: LakeStorage) -> dg.SensorResult:
    ready, state = evaluate(lake, context.cursor, time.time())
    keys: list[str] = []
    runs: list[dg.RunRequest] = []
    for prefix, sig in ready:
        try:
            doc = lake.read_json(f"{prefix}/drive.json")
            drive_id = validate_drive_id(doc.get("drive_id") if isinstance(doc, dict) else None)
        except (InvalidIdentifier, ValueError, FileNotFoundError, OSError) as exc:
            # no usable id: nothing to partition on; quarantine now (no copy happens) and move on
            res = ingest_drive(LakeSource(lake, prefix), lake)
            context.log.warning(f"{prefix}: refused before any run ({res.reason}: {res.detail}; {exc})")
            continue
        if drive_id not in keys and not context.instance.has_dynamic_partition(DRIVES.name, drive_id):
            keys.append(drive_id)
        runs.append(
            dg.RunRequest(
                run_key=f"{prefix}@{sig}",
                partition_key=drive_id,
                tags={LANDING_TAG: prefix, "av/drive_id": drive_id},
            )
        )
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[DRIVES.build_add_request(keys)] if keys else [],
        cursor=json.dumps(state, sort_keys=True),
    )
