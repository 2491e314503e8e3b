"""Offline schema helpers for tests/k8s: the Dagster chart's values.schema.json with its remote
Kubernetes `$ref`s served from kubernetes-validate's bundled definitions, Helm's values merge, our own
schemas for eksctl and Karpenter, and a Dockerfile parser."""

from __future__ import annotations

import copy
import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

from tests.helpers import REPO_ROOT

CHART_DIR = REPO_ROOT.parent / "shared" / "data" / "dagster_helm_1.10.4"
DEPLOY = REPO_ROOT / "deploy"
K8S_SCHEMA_HOST = "https://kubernetesjsonschema.dev/"


def kubernetes_definitions(version: str, strict: bool) -> dict[str, Any]:
    """kubernetes-validate's bundled `_definitions.json` for a minor version ("1.32")."""
    folder = f"v{version}.0-local" + ("-strict" if strict else "")
    path = files("kubernetes_validate") / "kubernetes-json-schema" / folder / "_definitions.json"
    return json.loads(path.read_text())


def chart_validator(version: str, strict: bool = False) -> tuple[jsonschema.protocols.Validator, list[str]]:
    """A validator for the chart's values.schema.json. Its `$ref`s point at
    kubernetesjsonschema.dev/v1.18.0/_definitions.json#/definitions/...; they resolve against the
    bundled definitions of `version` (the same names, under `$defs`). Returns the list of URIs the
    registry retrieved, so a test can prove the remote refs were really followed. No network."""
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    defs = kubernetes_definitions(version, strict)["$defs"]
    retrieved: list[str] = []

    def retrieve(uri: str) -> Resource:
        if not uri.startswith(K8S_SCHEMA_HOST) or not uri.endswith("/_definitions.json"):
            raise NoSuchResource(ref=uri)
        retrieved.append(uri)
        contents = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": defs,
            "definitions": defs,
        }
        return Resource.from_contents(contents, default_specification=DRAFT202012)

    validator = jsonschema.Draft202012Validator(schema, registry=Registry(retrieve=retrieve))
    return validator, retrieved


def helm_merge(base: Any, override: Any) -> Any:
    """Helm's values coalescing: maps merge recursively, anything else (lists too) replaces, and a null
    override deletes the key."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = helm_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def chart_values(ours: dict[str, Any]) -> dict[str, Any]:
    """What `helm install -f ours` hands the schema: the chart's defaults coalesced with ours."""
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    return helm_merge(defaults, ours)


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def own_schema(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((DEPLOY / "schemas" / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator: jsonschema.protocols.Validator, instance: Any) -> list[str]:
    """Every error, with the sub-errors of anyOf/oneOf branches flattened in (so a typo under an
    `anyOf` still names the key)."""

    def walk(errs):
        for e in errs:
            yield e
            yield from walk(e.context or [])

    return sorted(
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message[:300]}"
        for e in walk(validator.iter_errors(instance))
    )


# ----------------------------------------------------------------------------- Dockerfiles
def parse_dockerfile(text: str) -> list[tuple[str, tuple[str, ...], bool]]:
    """(INSTRUCTION, arguments, exec-form?) per instruction. Uses the `dockerfile` package (BuildKit's
    own Go parser) when installed, else a small parser for the subset we write (no heredocs)."""
    try:
        import dockerfile
    except ImportError:
        dockerfile = None
    if dockerfile is not None:
        return [(c.cmd.upper(), tuple(c.value), bool(c.json)) for c in dockerfile.parse_string(text)]
    out: list[tuple[str, tuple[str, ...], bool]] = []
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        cmd, _, rest = logical.partition(" ")
        rest = rest.strip()
        if rest.startswith("["):
            out.append((cmd.upper(), tuple(json.loads(rest)), True))
        elif cmd.upper() in {"RUN", "ENV", "LABEL"}:
            out.append((cmd.upper(), (re.sub(r"\s+", " ", rest),), False))
        else:
            out.append((cmd.upper(), tuple(rest.split()), False))
        logical = ""
    return out
