"""JSON Schemas of the contracts, shipped in the package so every component validates the same way."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load_schema(name: str) -> dict[str, Any]:
    """`name` without suffix: 'drive', 'manifest', 'ground_truth', ..."""
    text = resources.files("av_contracts").joinpath("schemas", f"{name}.schema.json").read_text()
    return json.loads(text)


def validation_errors(document: Any, schema_name: str) -> list[str]:
    """Every violation as 'path: message', empty when valid (a clear reason for quarantine records)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema(schema_name))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]
