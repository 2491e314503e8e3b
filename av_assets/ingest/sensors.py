"""`new_drive_sensor`: watches <lake>/landing/<vehicle_id>/<drive_id>/ and launches one run per ready drive.

Readiness (docs/ingest.md): a drive folder is ready when the offload tool's completion marker
`_OFFLOAD_COMPLETE` exists (written last), OR when its listing (file names and sizes) has not changed
for `quiet_seconds` across sensor ticks (for offload tools that write no marker). The cursor remembers
every picked folder with the listing signature it was picked with, and the pending folders with their
last signature and when it was first seen.
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


def landing_folders(lake: LakeStorage) -> dict[str, dict[str, int]]:
    """{'landing/<vehicle>/<drive>': {relative file: size}} for every drive folder in the landing zone."""
    out: dict[str, dict[str, int]] = {}
    for rel, size in lake.sizes("landing").items():
        parts = rel.split("/")
        if len(parts) < 4:
            continue
        prefix = "/".join(parts[:3])
        out.setdefault(prefix, {})["/".join(parts[3:])] = size
    return out


def signature(listing: dict[str, int]) -> str:
    return hashlib.sha256(json.dumps(sorted(listing.items())).encode()).hexdigest()[:16]


def evaluate(lake: LakeStorage, cursor: str | None, now: float, quiet_seconds: float = DEFAULT_QUIET_SECONDS):
    """Plain logic of the sensor: (ready [(prefix, sig)], new cursor dict)."""
    state = json.loads(cursor) if cursor else {}
    picked: dict[str, str] = state.get("picked", {})
    pending: dict[str, list] = state.get("pending", {})
    ready = []
    for prefix, listing in sorted(landing_folders(lake).items()):
        if prefix in picked:
            continue
        sig = signature({k: v for k, v in listing.items() if k != COMPLETE_MARKER})
        if COMPLETE_MARKER in listing:
            ready.append((prefix, sig))
            pending.pop(prefix, None)
            continue
        last = pending.get(prefix)
        if last is None or last[0] != sig:
            pending[prefix] = [sig, now]
        elif now - last[1] >= quiet_seconds and "drive.json" in listing:
            ready.append((prefix, sig))
            pending.pop(prefix, None)
    for prefix, sig in ready:
        picked[prefix] = sig
    return ready, {"picked": picked, "pending": pending}


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
