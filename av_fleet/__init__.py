"""The synthetic fleet: drive offloads in the formats a car writes, with ground truth beside them.

A development tool, not part of the platform: production images do not ship it, and the pipeline
never imports it (tests/test_boundaries.py enforces both directions). It shares only `av_contracts`
(ids, taxonomy, schemas) and the CLI's output helpers (`av_cli.output`) with the platform; the CLI
mounts `av fleet` and the demo's first step where it is installed.
"""
