"""`make demo` step of redaction (run by `av demo`)."""

from __future__ import annotations


def redaction_step(ctx) -> list[tuple[str, str]]:
    """`make demo` step: what redaction did to the drives the ingest step processed."""
    from av_contracts import tables
    from av_resources.env import local_lake

    lake = local_lake()
    reports = [
        lake.read_json(p) for p in lake.list(tables.REDACTED_FRAMES.root, f"*/{tables.REDACTION_REPORT}")
    ]
    return [
        ("drives redacted", str(len(reports))),
        ("keyframes redacted (2 Hz)", str(sum(r["frames_scanned"] for r in reports))),
        (
            "faces / plates blurred",
            f"{sum(r['faces_found'] for r in reports)} / {sum(r['plates_found'] for r in reports)}",
        ),
    ]
