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
