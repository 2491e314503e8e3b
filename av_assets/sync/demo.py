"""`make demo` step of sensor sync (run by `av demo`)."""

from __future__ import annotations


def sync_step(ctx) -> list[tuple[str, str]]:
    """`make demo` step: what sync made of the processed drives."""
    from av_assets.platform.demo import demo_query

    ((clips, drives),) = demo_query("SELECT count(*), count(DISTINCT drive_id) FROM clips")
    ((rows, signals),) = demo_query("SELECT count(*), count(DISTINCT signal) FROM signals")
    return [
        ("clips (20 s)", f"{clips} over {drives} drives"),
        ("decoded signal rows", f"{rows:,} ({signals} signals)"),
    ]
