"""Catalog (workflow 4): views over the lake and `av query`; the per-drive clip index
(`catalog/clip_index`) with its key-value upsert (LanceDB locally / DynamoDB); the per-drive clip text
(`catalog/clip_text`: summary + tags + sentence embedding) in the text index (LanceDB FTS + vectors /
OpenSearch match + knn); Glue registration for production; `av search text` (the `av search` group) and
the HTTP retrieval API (`av api serve`, workflow 7)."""

from av_assets.platform.registry import Extension


def _definitions():
    from av_assets.catalog.assets import clip_index, clip_text
    from av_assets.platform.defs import domain_definitions

    return domain_definitions(assets=[clip_index, clip_text])


EXTENSION = Extension(
    name="catalog",
    definitions=_definitions,
    cli={
        "query": "av_assets.catalog.query:query",
        "catalog": "av_assets.catalog.cli:catalog_app",
        # the `av search` group: later workflows add commands in search_cli.SUBCOMMANDS
        "search": "av_assets.catalog.search_cli:search_app",
        # the HTTP retrieval API (FastAPI): `av api serve`, `av api openapi`
        "api": "av_assets.catalog.api:api_app",
    },
    process_assets=["catalog/clip_index", "catalog/clip_text"],
)
