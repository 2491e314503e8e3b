"""`av catalog`: text search over clips, a clip's key-value item, Glue registration (production)."""

from __future__ import annotations

import typer

from av_assets.contracts.cli import ExitCode, emit_json, fail, stderr_console

catalog_app = typer.Typer(
    help="The clip catalog: text search, key-value lookups, Glue registration.", no_args_is_help=True
)


@catalog_app.command("search")
def search(
    text: str = typer.Argument(..., help='words, e.g. "highway night rain"'),
    limit: int = typer.Option(10, help="clips returned"),
    as_json: bool = typer.Option(False, "--json", help='print {"results": [...]} on stdout'),
) -> None:
    """Full-text search over clip descriptions (LanceDB FTS under the lake)."""
    from av_assets.catalog.text import LanceClipTextIndex
    from av_resources.env import local_lake

    lake = local_lake()
    results = LanceClipTextIndex(lake.uri("catalog/text")).search(text, limit=limit)
    if as_json:
        emit_json({"results": [{k: v for k, v in r.items()} for r in results]})
        return
    for r in results:
        typer.echo(f"{r['score']:7.3f}  {r['clip_id']}  {r['text'][:120]}")
    stderr_console.print(f"[dim]{len(results)} clips[/]")


@catalog_app.command("get")
def get(clip_id: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """A clip's item from the key-value store (the local LanceDB table)."""
    from av_resources.clip_store import ClipStoreResource
    from av_resources.env import local_lake

    item = ClipStoreResource().open(local_lake()).get(clip_id)
    if item is None:
        fail(f"no clip {clip_id!r} in the clip store", ExitCode.FAILED)
    item = {k: v for k, v in item.items() if not k.startswith("_")}
    emit_json(item) if as_json else typer.echo("\n".join(f"{k}: {v}" for k, v in item.items()))


@catalog_app.command("glue-register")
def glue_register(
    database: str = typer.Option("av_platform", help="Glue database"),
    lake_root: str = typer.Option(..., help="s3://bucket/prefix the tables point at"),
    endpoint_url: str = typer.Option(None, help="Glue endpoint (tests: moto)"),
    region: str = typer.Option("us-east-1"),
) -> None:
    """Create or update one Glue table per catalog view (production catalog)."""
    import boto3

    from av_assets.catalog.glue import register_views

    glue = boto3.client("glue", endpoint_url=endpoint_url, region_name=region)
    emit_json(register_views(glue, database, lake_root))
