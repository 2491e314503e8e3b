"""Session-scoped pytest fixtures for the real loopback servers in ``av_resources.local_services``.

Imported into ``tests/conftest.py`` with ``from tests.services.fixtures import *``. Each server starts
on first use (once per test session) and is stopped at the end of the session.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from av_resources.local_services import (
    MotoEndpoint,
    PostgresServer,
    S3Endpoint,
    moto_server,
    postgres_cluster,
    seaweedfs_s3,
)
from tests.services.label_studio import label_studio_server

__all__ = ["label_studio_server", "moto_endpoint", "postgres_server", "s3_server"]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """SeaweedFS S3 on loopback; signatures enforced for this session's random key pair."""
    workdir = tmp_path_factory.mktemp("seaweedfs")
    with seaweedfs_s3(
        workdir, access_key=f"av-test-{secrets.token_hex(4)}", secret_key=secrets.token_hex(20)
    ) as ep:
        yield ep


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster on loopback with database ``av`` (password auth)."""
    workdir = tmp_path_factory.mktemp("postgres")
    with postgres_cluster(workdir, db="av", user="av") as server:
        yield server


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoEndpoint]:
    """moto in server mode (DynamoDB / Glue control plane; no signature checks)."""
    with moto_server(tmp_path_factory.mktemp("moto")) as ep:
        yield ep
