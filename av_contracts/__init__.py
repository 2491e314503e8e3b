"""The platform's pure contracts (../shared/CONTRACTS.md): identifiers, the taxonomy, JSON Schemas,
manifest signing, search limits and filter wording, and every lake table declared once (`tables`).

No Dagster, no CLI, no storage: the pipeline (`av_assets`), its resources (`av_resources`), the CLI
(`av_cli`) and the fleet generator (`av_fleet`) all import this package, and it imports none of them.
"""
