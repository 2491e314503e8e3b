"""The one registry for extensions (CONTRACTS.md): each domain declares, next to its own code, what it
adds to the platform — Dagster definitions, CLI commands, the assets `av process` runs,
and `make demo` steps. Nothing else needs editing when a workflow is added.

A domain is a subpackage of `av_assets` whose `__init__.py` defines `EXTENSION = Extension(...)`.
The fleet generator is not one: it is a development tool the CLI mounts where it is installed.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dagster as dg


@dataclass(frozen=True)
class DemoStep:
    """One step of `make demo`, run in `order`; its function returns rows for the summary table."""

    name: str
    order: int
    run: str  # "module:function" taking the DemoContext, loaded only by `av demo`


@dataclass(frozen=True)
class Extension:
    name: str
    # -> dg.Definitions; a function so that importing the registry stays light.
    definitions: Callable[[], dg.Definitions] | None = None
    # name -> "module:attribute" of a typer.Typer (a group) or a plain function (one command).
    cli: dict[str, str] = field(default_factory=dict)
    # Asset key prefixes ("silver/signals") that `av process` materialises for each new drive.
    process_assets: Sequence[str] = ()
    demo_steps: Sequence[DemoStep] = ()


@cache
def extensions() -> tuple[Extension, ...]:
    import av_assets

    found: list[Extension] = []
    names = [f"av_assets.{m.name}" for m in pkgutil.iter_modules(av_assets.__path__) if m.ispkg]
    for module_name in sorted(names):
        module = importlib.import_module(module_name)
        ext = getattr(module, "EXTENSION", None)
        if ext is not None:
            found.append(ext)
    seen: set[str] = set()
    for ext in found:
        if ext.name in seen:
            raise ValueError(f"two extensions are named {ext.name!r}")
        seen.add(ext.name)
    return tuple(found)


def all_process_assets() -> list[str]:
    return [a for ext in extensions() for a in ext.process_assets]


def all_demo_steps() -> list[DemoStep]:
    return sorted((s for ext in extensions() for s in ext.demo_steps), key=lambda s: (s.order, s.name))


def load_object(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
