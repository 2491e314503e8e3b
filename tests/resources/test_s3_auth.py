"""The S3 path checks credentials: a wrong secret is refused by the real server."""

import pytest

from av_resources.lake import LakeStorage


@pytest.mark.s3
def test_wrong_secret_is_refused(s3_server):
    s3_server.create_bucket("auth-check")
    good = LakeStorage(
        root="s3://auth-check/av",
        s3_endpoint_url=s3_server.endpoint_url,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
    )
    good.write_bytes("x/ok.bin", b"ok")
    bad = LakeStorage(
        root=good.root,
        s3_endpoint_url=good.s3_endpoint_url,
        s3_access_key=good.s3_access_key,
        s3_secret_key="not-the-secret",
    )
    with pytest.raises(PermissionError):
        bad.write_bytes("x/forged.bin", b"forged")
    with pytest.raises(PermissionError):
        bad.read_bytes("x/ok.bin")
    assert not good.exists("x/forged.bin")
