"""One pass over a bag: per-topic counts and spans from the records, timing flags, and (optionally)
message validation on the same stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from av_assets.ingest.validate import ValidationReport, validate_messages
from av_assets.shared.bag_containers import (
    ContainerSummary,
    StructuralError,
    iter_mcap,
    iter_messages,
    scan_mcap,
    scan_sqlite,
)

GAP_FACTOR = 5.0  # a gap longer than 5x a topic's median period (and > 1 s) is a WARN


@dataclass
class BagScan:
    path: str
    format: str
    summary: ContainerSummary | None = None
    error: str | None = None
    validation: ValidationReport | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)


def scan_bag(path: str | Path, fmt: str, *, validate: bool = True, rel: str = "") -> BagScan:
    scan = BagScan(path=rel or str(path), format=fmt)
    summary = ContainerSummary(fmt)
    times: dict[str, list[int]] = {}

    def stream():
        it = iter_mcap(path, summary=summary) if fmt == "mcap" else iter_messages(path, fmt)
        for m in it:
            st = summary.topics.get(m.topic) or summary.declare(m.topic, m.type, m.encoding)
            st.add(m.log_time)
            times.setdefault(m.topic, []).append(m.log_time)
            yield m

    try:
        if fmt == "ros2-sqlite3":
            from av_assets.shared.bag_containers import summarise_sqlite

            for name, st in summarise_sqlite(path).topics.items():  # declares topics with zero messages too
                summary.declare(name, st.type, st.encoding)
        if validate:
            scan.validation = validate_messages(stream())
        elif fmt == "mcap":  # same counts, spans and times, without building a message per record
            times = scan_mcap(path, summary)
        elif fmt == "ros2-sqlite3":
            times = scan_sqlite(path, summary)
        else:
            for _ in stream():
                pass
    except StructuralError as exc:
        scan.error = str(exc)
        return scan
    scan.summary = summary
    scan.warnings = timing_warnings(times, rel or str(path))
    return scan


def timing_warnings(times: dict[str, list[int]], where: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for topic, ts in times.items():
        if len(ts) < 3:
            continue
        t = np.asarray(ts, dtype=np.int64)
        d = np.diff(t)
        back = int((d < 0).sum())
        if back:
            i = int(np.argmin(d))
            out.append(
                {
                    "flag": "clock_backwards",
                    "file": where,
                    "topic": topic,
                    "count": back,
                    "evidence": {"at_index": i + 1, "jump_ns": int(d[i])},
                }
            )
        st = np.sort(t)
        ds = np.diff(st)
        positive = ds[ds > 0]
        if positive.size:
            med = float(np.median(positive))
            big = ds > max(GAP_FACTOR * med, 1e9)
            if big.any():
                j = int(np.argmax(ds))
                out.append(
                    {
                        "flag": "time_gap",
                        "file": where,
                        "topic": topic,
                        "count": int(big.sum()),
                        "evidence": {
                            "largest_gap_ns": int(ds[j]),
                            "median_period_ns": int(med),
                            "after_ns": int(st[j]),
                        },
                    }
                )
    return out
