"""Injected faults: bad offloads that prove the pipeline's handling (`--faults LIST`).

Each fault is one extra drive beside the healthy ones, recorded in its ground truth `faults` (with
the ingestion outcome it should get under `expected`) and in the fleet summary. Two faults act while
the drive is written (simulate.py): `clock_jump` (the logger clock and every sensor clock step back)
and `sensor_missing` (a declared sensor never publishes). The ones here act on the finished offload;
`duplicate_drive` copies a healthy drive (fleet level, `duplicate`). All draws come from the drive's
fault stream, so a seed gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from av_fleet import params as P

POST_HOC = ("truncated_bag", "flipped_bytes", "empty_bag", "not_a_bag", "invalid_drive_json", "id_reused")
EXPECTED = {
    "truncated_bag": {"status": "quarantined", "reason": "structural_failure"},
    "flipped_bytes": {"status": "quarantined", "reason": "checksum_mismatch"},
    "sensor_missing": {"status": "quarantined", "reason": "sensor_missing"},
    "clock_jump": {"status": "ingested", "warning": "clock_backwards"},
    "duplicate_drive": {"status": "ingested", "note": "same bag bytes as fault_ref under its own id"},
    "id_reused": {"status": "quarantined", "reason": "id_conflict", "note": "after fault_ref is ingested"},
    "empty_bag": {"status": "quarantined", "reason": "empty_drive"},
    "not_a_bag": {"status": "quarantined", "reason": "structural_failure"},
    "invalid_drive_json": {"status": "quarantined", "reason": "invalid_drive_json"},
}


def parse_faults(text: str | None) -> tuple[str, ...]:
    """`all` or a comma-separated list of P.FAULTS names (order kept, duplicates refused)."""
    if not text:
        return ()
    if text.strip() == "all":
        return P.FAULTS
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in P.FAULTS]
    if bad:
        raise ValueError(
            f"unknown fault(s) {', '.join(bad)}; expected 'all' or some of {', '.join(P.FAULTS)}"
        )
    if len(set(names)) != len(names):
        raise ValueError("each fault may be named once")
    return names


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _bag_files(drive_dir: Path) -> list[Path]:
    return sorted(p for p in drive_dir.rglob("*") if p.is_file() and p.suffix in (".mcap", ".db3", ".bag"))


def _rechecksum(drive_dir: Path, doc: dict) -> None:
    """What the vehicle logger does: hash what is on disk."""
    files = sorted(p for p in drive_dir.rglob("*") if p.is_file() and p.name != "drive.json")
    doc["checksums"] = {p.relative_to(drive_dir).as_posix(): _sha(p) for p in files}


def _write_doc(drive_dir: Path, doc: dict) -> None:
    (drive_dir / "drive.json").write_text(json.dumps(doc, indent=2) + "\n")


def _mcap_chunk(path: Path) -> tuple[int, int] | None:
    """(offset, length) of the largest chunk record's data in an MCAP file."""
    from mcap.reader import make_reader

    with path.open("rb") as f:
        summary = make_reader(f).get_summary()
    if summary is None or not summary.chunk_indexes:
        return None
    ci = max(summary.chunk_indexes, key=lambda c: c.chunk_length)
    return ci.chunk_start_offset, ci.chunk_length


def apply(plan, drive_dir: Path, doc: dict, rng: np.random.Generator) -> dict:
    """Apply a post-hoc fault to a finished offload; returns its ground-truth `faults` entry."""
    fault = plan.fault
    entry: dict = {"type": fault, "expected": EXPECTED[fault]}
    bags = _bag_files(drive_dir)
    bag = max(bags, key=lambda p: p.stat().st_size) if bags else None
    if fault == "truncated_bag":
        size = bag.stat().st_size
        keep = int(size * rng.uniform(*P.TRUNCATE_FRACTION))
        with bag.open("r+b") as f:
            f.truncate(keep)
        _rechecksum(drive_dir, doc)  # the logger died mid-write and hashed what it had
        entry.update(
            path=bag.relative_to(drive_dir).as_posix(),
            bytes_kept=keep,
            bytes_original=size,
            detail="bag cut short (logger crash); drive.json checksums match the cut file",
        )
    elif fault == "flipped_bytes":
        data = bytearray(bag.read_bytes())
        where = _mcap_chunk(bag) if bag.suffix == ".mcap" else None
        if where is None:  # sqlite / ROS 1: the middle of the file lies inside a chunk or data page
            where = (len(data) // 4, len(data) // 2)
        start, length = where
        n = int(rng.integers(*P.FLIP_BYTES))
        pos = sorted(int(p) for p in rng.integers(start + 64, start + length - 64, n))
        for p in pos:
            data[p] ^= 0xFF
        bag.write_bytes(bytes(data))  # drive.json keeps the ORIGINAL sha256
        entry.update(
            path=bag.relative_to(drive_dir).as_posix(),
            offsets=pos,
            chunk={"offset": start, "length": length},
            detail="bytes inverted inside a chunk after the vehicle logger hashed the file",
        )
    elif fault == "empty_bag":
        from av_fleet.simulate import SENSORS
        from av_fleet.writers.ros import BagWriter, bag_files

        target = drive_dir / bag_files(plan.fmt, plan.drive_id)
        shutil.rmtree(target) if target.is_dir() else target.unlink()
        w = BagWriter(plan.fmt, drive_dir, plan.drive_id)
        for _n, topic, mtype, _f in SENSORS:
            w.add_topic(topic, mtype, latched=topic == "/tf_static")
        w.close()
        _rechecksum(drive_dir, doc)
        entry.update(detail="bag with every topic declared and no messages")
    elif fault == "not_a_bag":
        for p in bags:
            p.unlink()
        for p in drive_dir.rglob("metadata.yaml"):
            p.unlink()
        fake = drive_dir / "bag" / f"{plan.drive_id}_0.mcap"
        fake.parent.mkdir(parents=True, exist_ok=True)
        body = b"av_logger crash dump\nsegfault in camera driver\n" + bytes(
            rng.integers(0, 256, 4096, dtype=np.uint8)
        )
        fake.write_bytes(body)
        _rechecksum(drive_dir, doc)
        entry.update(path=fake.relative_to(drive_dir).as_posix(), detail="a non-bag file named .mcap")
    elif fault == "invalid_drive_json":
        doc.pop("sensors", None)
        doc["start_time"] = "yesterday around noon"
        entry.update(detail="drive.json lacks 'sensors' and start_time is not ISO 8601")
    elif fault == "id_reused":
        entry.update(
            offload_drive_id=plan.fault_ref,
            fault_ref=plan.fault_ref,
            detail="drive.json claims the drive_id of fault_ref with other content (other folder)",
        )
        doc["drive_id"] = plan.fault_ref
    _write_doc(drive_dir, doc)
    return entry


def duplicate(out: Path, ref_summary: dict, plan, gt_dir: Path) -> dict:
    """Copy a healthy drive's offload byte for byte under a new drive id (drive.json says the new id;
    every other file and the checksums are the original's). Returns the drive's summary."""
    src = out / ref_summary["path"]
    dst = out / ref_summary["vehicle_id"] / plan.drive_id
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    doc = json.loads((dst / "drive.json").read_text())
    doc["drive_id"] = plan.drive_id
    _write_doc(dst, doc)
    gt = json.loads((gt_dir / f"{ref_summary['drive_id']}.json").read_text())
    gt["drive_id"] = plan.drive_id
    gt["generator"]["drive_index"] = plan.index
    gt["faults"] = [
        {
            "type": "duplicate_drive",
            "t_start_ns": gt["t_start_ns"],
            "t_end_ns": gt["t_end_ns"],
            "fault_ref": ref_summary["drive_id"],
            "detail": "same files (bags, checksums) as fault_ref, drive.json names another drive_id; "
            "tables referenced are fault_ref's",
            "expected": EXPECTED["duplicate_drive"],
        }
    ]
    gt_path = gt_dir / f"{plan.drive_id}.json"
    gt_path.write_text(json.dumps(gt, indent=1) + "\n")
    files = [p for p in dst.rglob("*") if p.is_file()]
    summary = dict(ref_summary)
    summary.update(
        drive_id=plan.drive_id,
        path=f"{ref_summary['vehicle_id']}/{plan.drive_id}",
        fault="duplicate_drive",
        fault_ref=ref_summary["drive_id"],
        files=len(files),
        bytes=sum(p.stat().st_size for p in files),
        ground_truth_files=1,
        ground_truth_bytes=gt_path.stat().st_size,
    )
    return summary
