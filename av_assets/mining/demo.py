"""`make demo` step: materialise every named query (one `mining_queries` partition each) and report
the top mined scenarios in the demo summary."""

from __future__ import annotations

from typing import Any

TOP_PER_QUERY = 2
MAX_ROWS = 12
# the demo scores a few golden queries (the whole set takes minutes of av2 time; the asset's default
# and the tests score all of them): the event atoms and the object-referring ones
DEMO_GOLDEN = [
    "cut_in",
    "harsh_braking",
    "stationary_hazard",
    "ego_lane_change",
    "following_30m",
    "pedestrian_nearby_20m",
]


def top_rows(results: dict[str, list[dict[str, Any]]], per_query: int = TOP_PER_QUERY, limit: int = MAX_ROWS):
    """The "top mined scenarios" table: (what, value) rows, best clips of each query first."""
    rows: list[tuple[str, str]] = []
    for name, cands in results.items():
        if not cands:
            rows.append((f"{name}", "no clip matched"))
            continue
        for i, c in enumerate(cands[:per_query], start=1):
            value = f"{c['clip_id']}  score {c['score']:.2f}  matched {c['matched_s']:.1f} s"
            rows.append((f"top mined: {name} #{i}", value))
    return rows[:limit]


def mining_step(ctx) -> list[tuple[str, str]]:
    import dagster as dg

    from av_assets.mining.assets import MINING_QUERIES, mined_scenarios
    from av_assets.mining.named import load_queries, parse_queries
    from av_assets.platform.runs import current_instance, quiet_run_config
    from av_resources.env import build_resources, current_env

    resources = build_resources(current_env())
    lake = resources["lake"]
    version, queries = parse_queries(load_queries(lake)[0])
    instance = current_instance()
    instance.add_dynamic_partitions(MINING_QUERIES.name, [q.name for q in queries])
    results: dict[str, list[dict[str, Any]]] = {}
    golden: dict[str, Any] | None = None
    for q in queries:
        run = dg.materialize(
            [mined_scenarios],
            resources=resources,
            instance=instance,
            partition_key=q.name,
            run_config=quiet_run_config()
            | {"ops": {"ml__mined_scenarios": {"config": {"golden_queries": DEMO_GOLDEN}}}},
        )
        md = run.asset_materializations_for_node("ml__mined_scenarios")[0].metadata
        if "av/golden_eval" in md:
            golden = md["av/golden_eval"].value
        frame = lake.read_parquet(md["av/path"].value)
        results[q.name] = frame.sort("rank").to_dicts()
    ctx.results["mining"] = results
    matched = sum(1 for v in results.values() if v)
    rows = [("named queries", f"{len(queries)} ({version}), {matched} with clips")]
    if golden and all(isinstance(golden.get(k), float) for k in ("hota_temporal", "timestamp_ba", "log_ba")):
        rows.append(
            (
                f"mining vs ground truth ({golden.get('n_queries')} golden queries, av2)",
                f"HOTA-Temporal {golden['hota_temporal']:.2f}, timestamp BA {golden['timestamp_ba']:.2f}, "
                f"log BA {golden['log_ba']:.2f}",
            )
        )
    return rows + top_rows(results)
