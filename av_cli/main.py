"""The `av` command. Subcommands come from the extension registry (each domain registers its own)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

if not (sys.stdout.isatty() and sys.stderr.isatty()) and not {"-h", "--help"} & set(sys.argv[1:]):
    # piped or logged: rich would wrap tables at 80 columns and cut clip ids and commands in half
    # (help panels fill the width they get, so `--help` keeps the default)
    os.environ.setdefault("COLUMNS", "240")

from av_assets.platform.registry import DemoStep, all_demo_steps, extensions, load_object

app = typer.Typer(
    name="av",
    help=(
        "av-platform: the data engine for AV perception teams.\n\n"
        "Drives -> bronze -> silver -> catalog -> gold -> ml, as a Dagster asset graph. "
        "The lake is $AV_LAKE_ROOT (default .av_lake in the checkout), the Dagster home $DAGSTER_HOME "
        "(default .av_home beside it). "
        "Commands that take --json print exactly one JSON document on stdout; progress and logs go to "
        "stderr. Exit codes: 0 done, 1 some inputs failed the command's purpose, 2 usage/environment error."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _mount_extensions() -> None:
    # The fleet generator is a development tool, not a platform extension: production images do not
    # ship it, so `av fleet` is mounted only where the package is installed.
    try:
        from av_fleet.cli import app as fleet_app
    except ModuleNotFoundError as exc:
        if exc.name != "av_fleet":
            raise
    else:
        app.add_typer(fleet_app, name="fleet")
    for ext in extensions():
        for name, target in ext.cli.items():
            obj = load_object(target)
            if isinstance(obj, typer.Typer):
                app.add_typer(obj, name=name)
            else:
                app.command(name=name)(obj)


@app.command()
def demo(
    out: Path = typer.Option(Path(".av_demo"), help="where the sample fleet is generated"),
    drives: int = typer.Option(3, min=1, help="drives in the sample fleet"),
    duration: float = typer.Option(60.0, min=5.0, help="seconds per drive"),
    seed: int = typer.Option(7, help="fleet seed (same seed, same bytes)"),
) -> None:
    """Run the whole loop built so far on a small sample fleet (what `make demo` calls)."""
    from rich.table import Table

    from av_assets.platform.demo import DemoContext
    from av_cli.output import fail, stderr_console

    ctx = DemoContext(out=out.resolve(), drives=drives, duration=duration, seed=seed)
    # The demo fleet is synthetic: point the evaluation resource at its ground truth so every asset
    # that can measure itself against truth does (pipelines never read it to decide anything).
    os.environ.setdefault("AV_GROUND_TRUTH_ROOT", str(ctx.out / "_ground_truth"))
    table = Table(title="av-platform demo: what the loop produced", show_lines=False)
    table.add_column("step")
    table.add_column("what")
    table.add_column("value", justify="right")
    try:
        import av_fleet  # noqa: F401
    except ModuleNotFoundError:
        fail("`av demo` needs the fleet generator (av_fleet), which this installation does not include")
    for step in [DemoStep(name="fleet", order=10, run="av_fleet.demo:demo_fleet"), *all_demo_steps()]:
        stderr_console.rule(f"[bold]{step.name}")
        for what, value in load_object(step.run)(ctx):
            table.add_row(step.name, what, value)
    home = os.environ.get("DAGSTER_HOME", ".av_home")
    stderr_console.print(table)
    drives = [r["drive_id"] for r in ctx.results.get("ingest", []) if r.get("status") != "quarantined"]
    example = drives[0] if drives else "<drive_id>"
    stderr_console.print(
        "\nNext:\n"
        f'  .venv/bin/av query "SELECT drive_id, status, message_count FROM drives"\n'
        f"  .venv/bin/av lineage silver/redacted_frames --partition {example} --verify\n"
        f"  make ui      # the Dagster UI on the same home ({home}) and lake"
    )


_mount_extensions()


def main() -> None:
    """The `av` entry point: typer's, except that a usage error (a bad option value, a missing
    argument) under `--json` also prints CONTRACTS' one JSON document, {"error", "exit_code"}."""
    from av_cli.output import emit_json

    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        print("Aborted.", file=sys.stderr)
        raise SystemExit(1) from None
    except typer.TyperException as exc:
        if not hasattr(exc, "format_message"):  # not a usage error (typer's vendored click's)
            raise
        from typer import rich_utils

        rich_utils.rich_format_error(exc)
        if "--json" in sys.argv[1:]:
            emit_json({"error": exc.format_message(), "exit_code": exc.exit_code})
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(code if isinstance(code, int) else 0)
