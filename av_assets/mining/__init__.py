"""Scenario mining (issue 8, workflow 8): a RefAV-style scenario DSL over object tracks, events,
signals and road context (`dsl.py`, `atoms.py`), `av mine "<query>"` with de-duplication, novelty /
rarity ranking and budgeted selection (`select.py`, `mine.py`), and named queries (`queries.yaml`) as
dynamic partitions of `ml/mined_scenarios`. Docs: docs/mining.md.

Stable interface: `compile_query(text) -> Program` (`.canonical`, `.program_id`, `.run(inputs)`),
`load_inputs(lake, drive_id) -> MiningInputs`, `run_query(lake, text, drive_ids) -> referred`.
"""

from av_assets.platform.registry import DemoStep, Extension

_LAZY = {
    "compile_query": "av_assets.mining.dsl",
    "Program": "av_assets.mining.dsl",
    "QueryError": "av_assets.mining.dsl",
    "load_inputs": "av_assets.mining.inputs",
    "run_query": "av_assets.mining.inputs",
    "MiningInputs": "av_assets.mining.inputs",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)


def _definitions():
    from av_assets.mining.assets import (
        mined_scenarios,
        mining_mine_job,
        mining_queries,
        mining_queries_sensor,
    )
    from av_assets.platform.defs import domain_definitions

    return domain_definitions(
        assets=[mining_queries, mined_scenarios], jobs=[mining_mine_job], sensors=[mining_queries_sensor]
    )


EXTENSION = Extension(
    name="mining",
    definitions=_definitions,
    cli={"mine": "av_assets.mining.cli:mine"},
    demo_steps=[DemoStep(name="top mined scenarios", order=70, run="av_assets.mining.demo:mining_step")],
)
