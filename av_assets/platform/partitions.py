"""The one partitioning of per-drive assets (CONTRACTS.md): a dynamic partition per drive id."""

import dagster as dg

DRIVES = dg.DynamicPartitionsDefinition(name="drives")
