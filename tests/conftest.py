"""Session-wide fixtures: one set of real servers, one lake per backend, shared across tests."""

from __future__ import annotations

import os
import uuid

import pytest

from av_resources.lake import LakeStorage
from tests.services.fixtures import *  # noqa: F403  (s3_server, postgres_server)

os.environ.setdefault("AV_ENV", "ci")


@pytest.fixture(params=["local", "s3"])
def lake(request, tmp_path) -> LakeStorage:
    """A fresh, empty lake on a local folder and on the real local S3 server."""
    if request.param == "local":
        return LakeStorage(root=str(tmp_path / "lake"))
    server = request.getfixturevalue("s3_server")
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    server.create_bucket(bucket)
    return LakeStorage(
        root=f"s3://{bucket}/av",
        s3_endpoint_url=server.endpoint_url,
        s3_access_key=server.access_key,
        s3_secret_key=server.secret_key,
    )
