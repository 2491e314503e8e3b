"""`make demo` step of the gold layer (run by `av demo`)."""

from __future__ import annotations


def gold_step(ctx) -> list[tuple[str, str]]:
    """`make demo` step: build the dbt gold layer over the processed drives, then show the slices."""
    from av_assets.definitions import defs
    from av_assets.platform.demo import demo_query
    from av_assets.platform.runs import current_instance, quiet_run_config

    d = defs()
    gold = [k for k in d.resolve_all_asset_keys() if k.path[0] == "gold"]
    job = d.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(gold))
    result = job.execute_in_process(
        instance=current_instance(), run_config=quiet_run_config(), raise_on_error=False
    )
    rows = [("gold build", "ok" if result.success else "FAILED (see the run in `make ui`)")]
    rows += [
        (f"slice {name}", f"{n} clips")
        for name, n in demo_query("SELECT slice, count(*) FROM slices GROUP BY 1 ORDER BY 1")
    ]
    return rows
