"""Named queries: a versioned YAML list (the lake's `ops/policies/mining_queries.yaml`, else the
repository default `av_assets/mining/queries.yaml`). Each name is a `mining_queries` partition key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAKE_POLICY = "ops/policies/mining_queries.yaml"
DEFAULT_POLICY = Path(__file__).with_name("queries.yaml")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")
DEFAULT_BUDGET = 20


@dataclass(frozen=True)
class NamedQuery:
    name: str
    query: str  # as written
    canonical: str
    program_id: str
    budget: int = DEFAULT_BUDGET
    budget_cost_s: float | None = None
    description: str = ""


def parse_queries(doc: Any) -> tuple[str, list[NamedQuery]]:
    """Validate a queries document: a `version` and unique, well-formed names whose queries compile.
    Raises ValueError naming the first problem."""
    from av_assets.mining.dsl import QueryError, compile_query

    if not isinstance(doc, dict) or not isinstance(doc.get("queries"), list):
        raise ValueError("a queries document is a mapping with `version` and a `queries` list")
    version = doc.get("version")
    if not isinstance(version, str) or not version:
        raise ValueError("queries document: `version` (a string) is required")
    out: list[NamedQuery] = []
    seen: set[str] = set()
    for i, q in enumerate(doc["queries"]):
        if (
            not isinstance(q, dict)
            or not isinstance(q.get("name"), str)
            or not isinstance(q.get("query"), str)
        ):
            raise ValueError(f"queries[{i}]: needs `name` and `query` strings")
        name = q["name"]
        if not NAME_RE.match(name):
            raise ValueError(f"queries[{i}]: name {name!r} must match {NAME_RE.pattern}")
        if name in seen:
            raise ValueError(f"queries[{i}]: duplicate name {name!r}")
        seen.add(name)
        try:
            program = compile_query(q["query"])
        except QueryError as exc:
            raise ValueError(f"queries[{i}] ({name}): {exc}") from None
        budget = q.get("budget", DEFAULT_BUDGET)
        cost = q.get("budget_cost_s")
        out.append(
            NamedQuery(
                name=name,
                query=q["query"],
                canonical=program.canonical,
                program_id=program.program_id,
                budget=int(budget),
                budget_cost_s=None if cost is None else float(cost),
                description=str(q.get("description", "")),
            )
        )
    return version, out


def load_queries(lake) -> tuple[dict, str, str]:
    """(document, sha256 of its canonical JSON, source) — the lake's policy when present."""
    import yaml

    from av_assets.platform.lineage import sha256_json

    if lake is not None and lake.exists(LAKE_POLICY):
        doc, source = yaml.safe_load(lake.read_bytes(LAKE_POLICY).decode()), f"lake:{LAKE_POLICY}"
    else:
        doc, source = yaml.safe_load(DEFAULT_POLICY.read_text()), "repository default"
    return doc, sha256_json(doc), source


GOLDEN = Path(__file__).with_name("golden.yaml")


def load_golden(path: Path | None = None) -> list[dict]:
    """The golden queries `[{name, query, truth}]` (a YAML list, or a mapping holding one under
    `queries`/`golden`); [] when the file is absent."""
    import yaml

    p = path or GOLDEN
    if not p.is_file():
        return []
    doc = yaml.safe_load(p.read_text())
    if isinstance(doc, dict):
        doc = doc.get("queries") or doc.get("golden") or []
    return [g for g in doc or [] if isinstance(g, dict) and "name" in g and "query" in g]
