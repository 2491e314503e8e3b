"""`av lineage`: the audit trail of a materialisation, down to the raw bytes of its drives."""

from __future__ import annotations

import typer

from av_cli.output import ExitCode, emit_json, fail, stderr_console


def lineage(
    asset: str = typer.Argument(..., help="asset key, e.g. silver/redacted_frames or ops/lake_inventory"),
    partition: str = typer.Option(
        None, "--partition", "-p", help="partition (drive id) of a per-drive asset"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the audit as one JSON document"),
    verify: bool = typer.Option(
        False, "--verify", help="re-hash every bronze file and re-check signatures; exit 1 on any mismatch"
    ),
) -> None:
    """Audit a materialisation: its upstream assets, the drives behind it (fan-in included), and each
    drive's files with sha256 and manifest-signature state, read from the asset graph, the event log of
    the instance ($DAGSTER_HOME) and the lake ($AV_LAKE_ROOT)."""
    from av_assets.definitions import defs
    from av_assets.lineage.audit import LineageError, lineage_report
    from av_assets.platform.runs import current_instance
    from av_contracts.ids import InvalidIdentifier, validate_drive_id
    from av_resources.env import local_lake

    if partition is not None:
        try:
            validate_drive_id(partition)
        except InvalidIdentifier as exc:
            fail(str(exc), ExitCode.USAGE)
    try:
        with current_instance() as instance:
            report = lineage_report(
                defs=defs(),
                instance=instance,
                lake=local_lake(),
                asset=asset,
                partition=partition,
                verify=verify,
            )
    except LineageError as exc:
        fail(str(exc), ExitCode.USAGE)
    if as_json:
        emit_json(report)
    else:
        _print(report)
    if verify and not report["ok"]:
        raise SystemExit(int(ExitCode.FAILED))


def _print(report: dict) -> None:
    from rich.console import Console
    from rich.tree import Tree

    title = report["asset"] + (f" [{report['partition']}]" if report["partition"] else "")
    tree = Tree(f"[bold]{title}[/]  sha256 {str(report['content_sha256'])[:12]}")
    ups = tree.add("upstream")
    for u in report["upstream_materializations"]:
        mark = "[green]materialised[/]" if u["materialized"] else "[red]never materialised[/]"
        ups.add(f"{u['asset']}" + (f" [{u['partition']}]" if u["partition"] else "") + f"  {mark}")
    drives = tree.add(f"drives ({len(report['drives'])})")
    for d in report["drives"]:
        sig = {True: "[green]signature ok[/]", False: "[red]signature BAD[/]", None: "[yellow]unsigned[/]"}
        node = drives.add(f"{d['drive_id']}  {sig[d['signature_ok']]}  {len(d['files'])} files")
        for f in d["files"]:
            status = f.get("status")
            colour = "" if status in (None, "ok") else "[red]"
            node.add(f"{colour}{f['path']}  {f['sha256'][:16]}" + (f"  {status}" if status else ""))
        for p in d["problems"]:
            node.add(f"[red]{p}[/]")
    Console().print(tree)
    if not report["ok"]:
        stderr_console.print("[red]lineage audit found problems[/]")
