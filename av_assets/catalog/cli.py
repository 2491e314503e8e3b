"""`av catalog`: (text search moved to `av search text`; `av catalog search` is its alias), a clip's key-value item, Glue registration (production)."""

from __future__ import annotations

import typer

from av_cli.output import ExitCode, emit_json, fail

catalog_app = typer.Typer(
    help="The clip catalog: text search, key-value lookups, Glue registration.", no_args_is_help=True
)


@catalog_app.command("search", hidden=True)
def search(
    query: str = typer.Argument(..., help='words, e.g. "highway night rain"'),
    k: int = typer.Option(10, "-k", "--limit", min=1, help="clips returned"),
    where: str = typer.Option(None, "--where", help="SQL filter on the indexed columns"),
    as_json: bool = typer.Option(False, "--json", help='print {"results": [...]} on stdout'),
) -> None:
    """Alias of `av search text` (kept for scripts written against workflow 4)."""
    from av_assets.catalog.search_cli import text

    text(query, k=k, where=where, as_json=as_json)


@catalog_app.command("get")
def get(clip_id: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """A clip's item from the key-value store (the local LanceDB table)."""
    from av_resources.clip_store import ClipStoreResource, public_item
    from av_resources.env import local_lake

    lake = local_lake()
    item = ClipStoreResource().open(lake).get(clip_id)
    if item is None:
        fail(
            f"no clip {clip_id!r} in the clip store of the lake at {lake.uri()} "
            '(ids: `av query "SELECT clip_id FROM clips"`; AV_LAKE_ROOT chooses the lake)',
            ExitCode.USAGE,
        )
    item = public_item(item)
    emit_json(item) if as_json else typer.echo(
        "\n".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in item.items())
    )


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
