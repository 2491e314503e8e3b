"""Asset bodies stay thin (docs: "asset bodies that hold the loop": keep them a screen long, the loop in
the plain module beside them). Every `@dg.asset` / `@dg.multi_asset` / `@dg.asset_check` (and the
other asset decorators) function in av_assets/, nested ones (factories) included, is at most
MAX_LINES long from its `def` line to its end."""

import ast
from pathlib import Path

from tests.helpers import REPO_ROOT

MAX_LINES = 60
ASSET_DECORATORS = {
    "asset",
    "multi_asset",
    "asset_check",
    "multi_asset_check",
    "graph_asset",
    "graph_multi_asset",
    "observable_source_asset",
    "multi_observable_source_asset",
    "dbt_assets",
}


def _decorator_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def asset_function_lengths(root: Path) -> dict[str, int]:
    """`<path>:<function>` -> lines from the def line to the end, for every decorated asset function."""
    out = {}
    for path in sorted((root / "av_assets").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if any(_decorator_name(d) in ASSET_DECORATORS for d in node.decorator_list):
                out[f"{path.relative_to(root).as_posix()}:{node.name}"] = node.end_lineno - node.lineno + 1
    return out


def test_the_walk_finds_the_assets():
    lengths = asset_function_lengths(REPO_ROOT)
    for name in ("av_assets/sync/assets.py:frames", "av_assets/redaction/assets.py:redacted_frames"):
        assert name in lengths, sorted(lengths)
    assert len(lengths) > 20


def test_asset_bodies_are_at_most_a_screen_long():
    lengths = asset_function_lengths(REPO_ROOT)
    offenders = {k: n for k, n in sorted(lengths.items()) if n > MAX_LINES}
    assert not offenders, (
        f"asset bodies longer than {MAX_LINES} lines (move the loop into the plain module beside the "
        f"asset, keep the asset a thin wrapper): " + ", ".join(f"{k} ({n})" for k, n in offenders.items())
    )
