"""What every domain uses to plug into Dagster: the extension registry, `domain_definitions`, the
drives partition, the lineage convention, `gpu_step()`, in-process runs for the CLI, demo steps.

Dagster helpers only; the pure contracts (ids, schemas, tables) are `av_contracts`.
"""
