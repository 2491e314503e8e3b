"""How a domain builds its `Definitions`, so global conventions apply without a shared switchboard."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg

REPO_ROOT = Path(__file__).resolve().parents[2]


def domain_definitions(
    *,
    assets: Sequence[Any] = (),
    asset_checks: Sequence[Any] = (),
    sensors: Sequence[Any] = (),
    schedules: Sequence[Any] = (),
    jobs: Sequence[Any] = (),
) -> dg.Definitions:
    """A domain's Definitions with source-code references (linked to git when AV_GIT_URL is set)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # code references are beta in 1.13; accepted
        with_refs = dg.with_source_code_references(list(assets))
    git_url = os.environ.get("AV_GIT_URL")
    if git_url:
        with_refs = dg.link_code_references_to_git(
            with_refs,
            git_url=git_url,
            git_branch=os.environ.get("AV_GIT_BRANCH", "main"),
            file_path_mapping=dg.AnchorBasedFilePathMapping(
                local_file_anchor=REPO_ROOT, file_anchor_path_in_repository=""
            ),
        )
    return dg.Definitions(
        assets=with_refs,
        asset_checks=list(asset_checks),
        sensors=list(sensors),
        schedules=list(schedules),
        jobs=list(jobs),
    )
