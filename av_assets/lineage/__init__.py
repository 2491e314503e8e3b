"""Lineage audits (governance): from any materialisation down to the signed drive manifests behind it."""

from av_assets.platform.registry import Extension

EXTENSION = Extension(name="lineage", cli={"lineage": "av_assets.lineage.cli:lineage"})
