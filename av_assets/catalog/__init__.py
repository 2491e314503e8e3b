"""Catalog (workflow 4): views over the lake, `av query`; the clip index joins here."""

from av_assets.contracts.registry import Extension

EXTENSION = Extension(name="catalog", cli={"query": "av_assets.catalog.query:query"})
