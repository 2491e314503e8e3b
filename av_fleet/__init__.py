"""The synthetic fleet: drive offloads in the formats a car writes, with ground truth beside them.

Never imported by the pipeline (tests/test_definitions.py enforces it): it shares only
`av_assets.contracts` (ids, taxonomy, schemas, CLI helpers) with the platform.
"""

from av_assets.contracts.registry import DemoStep, Extension


def _demo_fleet(ctx) -> list[tuple[str, str]]:
    """`make demo` step 1: a small mixed-format fleet (same seed, same bytes) into ctx.out."""
    import os

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


EXTENSION = Extension(
    name="fleet",
    cli={"fleet": "av_fleet.cli:app"},
    demo_steps=[DemoStep(name="fleet", order=10, run=_demo_fleet)],
)
