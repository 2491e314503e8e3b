"""The architecture's boundaries, held by reading the code (AST), so a shortcut fails here, not in review.

- `av_contracts` is pure: no Dagster, no storage, no CLI, none of our other packages.
- `av_resources` never imports the pipeline (`av_assets`), the CLI or the fleet generator.
- A domain (`av_assets/<domain>/` with an EXTENSION) imports another domain's modules never: it reads
  another domain's data through `av_contracts.tables` (or the catalog), and shares code only through
  `av_assets.platform` (Dagster helpers) and `av_assets.shared` (code several domains run).
- Nothing imports a CLI module except the CLI.
- The fleet generator shares only `av_contracts` and the CLI's output helpers with the platform.
- Every lake path is spelled once, in `av_contracts.tables`; dbt's sources are generated from it.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

PACKAGES = ("av_contracts", "av_resources", "av_assets", "av_cli", "av_fleet")
NON_DOMAINS = {"platform", "shared"}  # av_assets subpackages every domain may use


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((REPO_ROOT / pkg).rglob("*.py"))}


@cache
def _imports(module: str) -> frozenset[str]:
    """Every module `module` imports (absolute names; `from a import b` counts `a` and `a.b`)."""
    tree = ast.parse(_modules()[module].read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}: relative import (the house style is absolute)"
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return frozenset(n for n in names if n)


def _ours(names) -> set[str]:
    """Imported names that are modules of ours (drops `from x import function` attribute names)."""
    mods = _modules()
    return {n for n in names if n in mods}


def _top(name: str) -> str:
    return name.split(".")[0]


def _domain(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "av_assets" or len(parts) < 2 or parts[1] in NON_DOMAINS:
        return None
    return parts[1] if (REPO_ROOT / "av_assets" / parts[1]).is_dir() else None


@cache
def _cli_modules() -> frozenset[str]:
    """The CLI: `av_cli`, every module a domain registers as a command (Extension.cli), and modules
    named `cli`, `*_cli` or `demo` (what `av demo` runs)."""
    from av_assets.platform.registry import extensions

    registered = {target.split(":")[0] for ext in extensions() for target in ext.cli.values()}
    out = set(registered)
    for m in _modules():
        last = m.split(".")[-1]
        if _top(m) == "av_cli" or last in ("cli", "demo") or last.endswith("_cli"):
            out.add(m)
    return frozenset(out)


def test_the_package_map_is_what_this_test_reads():
    mods = _modules()
    assert {"av_contracts.tables", "av_assets.platform.registry", "av_cli", "av_resources.env"} <= set(mods)
    assert "av_assets.contracts" not in mods  # split into av_contracts and av_assets.platform
    assert _imports("av_assets.definitions") & {"av_assets.platform.registry"}


def test_contracts_are_pure():
    for m in _modules():
        if _top(m) != "av_contracts":
            continue
        bad = {n for n in _imports(m) if _top(n) in PACKAGES[1:] or _top(n) == "dagster"}
        assert not bad, f"{m} imports {sorted(bad)}: av_contracts must stay pure"


def test_resources_never_import_the_pipeline_the_cli_or_the_generator():
    for m in _modules():
        if _top(m) == "av_resources":
            bad = {n for n in _imports(m) if _top(n) in ("av_assets", "av_cli", "av_fleet")}
            assert not bad, f"{m} imports {sorted(bad)}"


def test_domains_import_each_other_never():
    offenders = []
    for m in _modules():
        d = _domain(m)
        if d is None:
            continue
        for n in _ours(_imports(m)):
            other = _domain(n)
            if other is not None and other != d:
                offenders.append(f"{m} -> {n}")
            if n == "av_assets.definitions" and m not in _cli_modules():
                offenders.append(f"{m} -> {n} (only the CLI may load the root)")
    assert not offenders, "cross-domain imports (read through av_contracts.tables):\n" + "\n".join(offenders)


def test_platform_and_shared_code_import_no_domain():
    for m in _modules():
        if m.startswith(("av_assets.platform", "av_assets.shared")):
            bad = {n for n in _ours(_imports(m)) if _domain(n) or n == "av_assets.definitions"}
            assert not bad, f"{m} imports {sorted(bad)}"


def test_only_the_cli_imports_cli_modules():
    cli = _cli_modules()
    offenders = [
        f"{m} -> {n}" for m in _modules() if m not in cli for n in _ours(_imports(m)) & cli if n != m
    ]
    assert not offenders, "non-CLI code imports a CLI module:\n" + "\n".join(offenders)


def test_the_fleet_generator_shares_only_contracts_and_cli_output():
    for m in _modules():
        if _top(m) == "av_fleet":
            for n in _ours(_imports(m)):
                assert _top(n) in ("av_fleet", "av_contracts") or n == "av_cli.output", f"{m} imports {n}"
        elif _top(m) != "av_cli":  # the CLI mounts `av fleet` where it is installed
            bad = {n for n in _imports(m) if _top(n) == "av_fleet"}
            assert not bad, f"{m} imports {sorted(bad)}"


def test_every_table_is_declared_once_and_belongs_to_a_real_asset_and_domain():
    from av_assets.definitions import defs
    from av_assets.platform.registry import extensions
    from av_contracts import tables

    keys = {k.to_user_string() for k in defs().resolve_all_asset_keys()}
    domains = {ext.name for ext in extensions()}
    all_tables = tables.all_tables()
    assert len({t.name for t in all_tables}) == len(all_tables)
    assert len({t.path for t in all_tables}) == len(all_tables)
    for t in all_tables:
        assert t.asset_key in keys, f"table {t.name}: no asset {t.asset_key}"
        assert t.owner in domains, f"table {t.name}: owner {t.owner!r} is not a domain"
        assert t.format in ("parquet", "json")
        assert not t.view or t.columns, f"view {t.name} has no columns"
    assert all(t.partitioning in tables.PARTITIONINGS for t in all_tables)


def test_table_paths_validate_the_names_they_are_given():
    from av_contracts import tables
    from av_contracts.ids import InvalidIdentifier

    assert tables.SIGNALS.rel(drive_id="d-001") == "silver/signals/drive_id=d-001/part-0.parquet"
    assert tables.SIGNALS.glob == "silver/signals/drive_id=*/part-0.parquet"
    assert tables.CALIBRATION.sidecar("calibration.json", drive_id="d-001") == (
        "silver/calibration/drive_id=d-001/calibration.json"
    )
    assert tables.WEATHER_HOURLY.partitioning == "none" and tables.CLIPS.partitioning == "drive"
    for bad in ("../x", "a/b", ""):
        with pytest.raises(InvalidIdentifier):
            tables.SIGNALS.rel(drive_id=bad)


def test_no_table_path_is_spelled_outside_its_declaration():
    """A table's folder (`silver/signals/`...) appears in no string of the code: writers and readers
    use `tables.X.rel()/glob/folder()`. Docstrings may mention a table; code strings may not."""
    from av_contracts import tables

    roots = sorted({t.root + "/" for t in tables.all_tables() if t.root.count("/") >= 1}, key=len)
    offenders = []
    for m, path in _modules().items():
        if _top(m) in ("av_contracts", "av_fleet"):
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
            and n.body
            and isinstance(n.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                hit = [r for r in roots if r in node.value and not node.value.startswith(("`", " "))]
                if hit and "\n" not in node.value and len(node.value) < 120:
                    offenders.append(f"{m}:{node.lineno}: {node.value!r}")
    assert not offenders, "table paths spelled outside av_contracts.tables:\n" + "\n".join(offenders)


def test_dbt_sources_are_generated_from_the_table_declarations():
    from av_contracts.tables import dbt_sources_yaml

    on_disk = (REPO_ROOT / "dbt_project" / "models" / "sources.yml").read_text()
    assert on_disk == dbt_sources_yaml(), (
        "dbt_project/models/sources.yml is stale: "
        "python -m av_contracts.tables --dbt-sources > dbt_project/models/sources.yml"
    )


def test_dbt_models_read_lake_tables_only_through_declared_sources():
    from av_contracts.tables import DBT_SOURCES

    declared = {(t.key_path[0], t.key_path[-1]) for t in DBT_SOURCES}
    used = set()
    for sql in sorted((REPO_ROOT / "dbt_project" / "models").rglob("*.sql")):
        text = sql.read_text()
        assert not re.search(r"lake_parquet\(\s*'", text), f"{sql.name}: a lake glob spelled in SQL"
        used |= set(re.findall(r"lake_source\('(\w+)', '(\w+)'", text))
    assert used == declared, f"sources read {sorted(used)} != declared {sorted(declared)}"


def test_the_architecture_page_lists_every_table_with_its_owner():
    from av_contracts import tables

    page = (REPO_ROOT / "docs" / "architecture.md").read_text()
    for t in tables.all_tables():
        row = f"| `{t.name}` | `{t.asset_key}` | {t.owner} | `{t.path}` | {t.partitioning} |"
        assert row in page, f"docs/architecture.md lacks (or has a stale) row for table {t.name}:\n{row}"
