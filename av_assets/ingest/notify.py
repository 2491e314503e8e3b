"""The event an ingest outcome sends through the `notifier` resource."""

from __future__ import annotations

from typing import Any


def event_for(result) -> dict[str, Any]:
    return {
        "event": "drive_ingested" if result.status == "ingested" else f"drive_{result.status}",
        **result.as_dict(),
    }
