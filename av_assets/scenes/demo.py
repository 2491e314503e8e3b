"""`make demo` step of scene & event detection (run by `av demo`)."""

from __future__ import annotations


def events_step(ctx) -> list[tuple[str, str]]:
    """`make demo` step: events detected, by type (compare with the fleet step's ground truth)."""
    from av_assets.platform.demo import demo_query

    rows = demo_query("SELECT type, count(*) FROM events GROUP BY 1 ORDER BY 1")
    return [(f"detected {kind}", str(n)) for kind, n in rows] or [("events detected", "0")]
