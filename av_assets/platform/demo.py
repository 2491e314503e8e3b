"""What a `make demo` step receives: the sample fleet's place and size, and what earlier steps left."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class DemoContext:
    out: Path
    drives: int
    duration: float
    seed: int
    results: dict[str, Any] = field(default_factory=dict)  # step name -> what it produced


def demo_query(sql: str) -> list[tuple]:
    """Rows of a query over the catalog views of the current lake, for a demo step's summary."""
    from av_resources.catalog import connect
    from av_resources.env import local_lake

    con = connect(local_lake())
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
