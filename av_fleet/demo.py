"""The first step of `make demo`: a small mixed-format fleet to run the loop on."""

from __future__ import annotations

import os
from typing import Any


def demo_fleet(ctx: Any) -> list[tuple[str, str]]:
    """A small mixed-format fleet (same seed, same bytes) into ctx.out."""
    from av_fleet.simulate import simulate_fleet

    workers = max(1, min(ctx.drives, os.cpu_count() or 1))
    summary = simulate_fleet(ctx.out, ctx.drives, ctx.seed, ctx.duration, "mixed", workers=workers)
    ctx.results["fleet"] = summary
    rows = [
        ("drives generated", str(summary["drives"])),
        ("messages written", f"{summary['messages']:,}"),
        ("offload bytes", f"{summary['offload_bytes']:,}"),
    ]
    rows += [(f"ground-truth {k}", str(v)) for k, v in summary["events"].items()]
    return rows
