"""Ed25519 signing of documents and `av verify` on a hand-made bronze drive in a temporary lake."""

import base64
import hashlib
import json

import pytest
from typer.testing import CliRunner

from av_assets.ingest.core import sign_manifest
from av_assets.shared.bronze_verify import verify_drive
from av_contracts import signing, tables
from av_resources.lake import LakeStorage


@pytest.fixture(autouse=True)
def _isolated_keys(tmp_path, monkeypatch):
    monkeypatch.delenv("AV_SIGNING_KEY", raising=False)
    monkeypatch.delenv("AV_TRUSTED_PUBLIC_KEYS", raising=False)
    monkeypatch.delenv("AV_SIGNING_KEY_FILE", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))


def _seed_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key, seed, pem.decode()


def test_sign_and_verify_roundtrip_and_tamper():
    doc = {"drive_id": "d-001", "files": [{"path": "a.mcap", "sha256": "ab" * 32, "size": 3}]}
    rec = signing.sign_document(doc)
    assert rec["alg"] == "ed25519" and len(rec["public_key"]) == 64 and len(rec["signature"]) == 128
    assert signing.verify_document(doc, rec)
    assert signing.verify_document(json.loads(json.dumps(doc, indent=4)), rec)  # canonical form
    tampered = json.loads(json.dumps(doc))
    tampered["files"][0]["size"] = 4
    assert not signing.verify_document(tampered, rec)
    assert not signing.verify_document(doc, {**rec, "signature": "00" * 64})
    assert not signing.verify_document(doc, {**rec, "alg": "rsa"})
    assert not signing.verify_document(doc, {"garbage": True})
    # pinning trusted keys rejects an otherwise valid signature from another key
    assert not signing.verify_document(doc, rec, trusted_public_keys={"11" * 32})
    assert signing.verify_document(doc, rec, trusted_public_keys={rec["public_key"]})


def test_dev_key_is_created_once_under_dagster_home(tmp_path):
    a = signing.sign_document({"x": 1})
    path = tmp_path / "home" / "signing" / "dev_ed25519.pem"
    assert path.is_file() and (path.stat().st_mode & 0o777) == 0o600
    assert signing.sign_document({"x": 2})["public_key"] == a["public_key"]


@pytest.mark.parametrize("form", ["hex", "base64", "pem"])
def test_env_key_forms(monkeypatch, form):
    key, seed, pem = _seed_key()
    text = {"hex": seed.hex(), "base64": base64.b64encode(seed).decode(), "pem": pem}[form]
    monkeypatch.setenv("AV_SIGNING_KEY", text)
    rec = signing.sign_document({"y": 1})
    assert rec["public_key"] == signing.public_key_hex(key)
    assert signing.verify_document({"y": 1}, rec)


def test_bad_env_key_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("AV_SIGNING_KEY", "not-a-key!")
    with pytest.raises(ValueError, match="AV_SIGNING_KEY"):
        signing.sign_document({})


# ---- av verify -------------------------------------------------------------------------------------
DRIVE = "veh1-2024-drive-01"


def _make_bronze_drive(lake: LakeStorage) -> None:
    files = {
        "bag/drive_0.mcap": b"\x89MCAP0\r\n" + b"payload" * 100,
        "drive.json": b'{"drive_id": "x"}',
        "logs/run.log": b"ok\n",
    }
    entries = []
    for rel, data in files.items():
        lake.write_bytes(f"bronze/drives/{DRIVE}/{rel}", data)
        entries.append(
            {"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "format": "other"}
        )
    lake.write_json(
        tables.BRONZE_MANIFEST.rel(drive_id=DRIVE), {"drive_id": DRIVE, "files": entries, "message_count": 0}
    )
    sign_manifest(lake, lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id=DRIVE)))


@pytest.fixture
def tmp_lake(tmp_path, monkeypatch):
    lake = LakeStorage(root=str(tmp_path / "lake"))
    monkeypatch.setenv("AV_LAKE_ROOT", lake.root)
    _make_bronze_drive(lake)
    return lake


def _cli(*args):
    from av_cli.main import app

    return CliRunner().invoke(app, ["verify", *args])


def test_verify_good_drive(tmp_lake):
    res = verify_drive(tmp_lake, DRIVE)
    assert res["ok"] and res["signature_ok"] and res["files_ok"] == 3
    out = _cli(DRIVE, "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)  # exactly one JSON document on stdout
    assert doc["ok"] is True and doc["files_checked"] == 3


def test_verify_tampered_file(tmp_lake):
    tmp_lake.write_bytes(f"bronze/drives/{DRIVE}/logs/run.log", b"OK\n")
    out = _cli(DRIVE, "--json")
    assert out.exit_code == 1
    doc = json.loads(out.stdout)
    assert doc["signature_ok"] is True  # the manifest is intact; the file is not
    assert [f["path"] for f in doc["files"] if f["status"] != "ok"] == ["logs/run.log"]


def test_verify_missing_file(tmp_lake):
    tmp_lake.delete(tables.BRONZE_MANIFEST.sidecar("drive.json", drive_id=DRIVE))
    assert _cli(DRIVE).exit_code == 1


def test_verify_tampered_manifest(tmp_lake):
    # Someone re-hashes a modified file into the manifest: the files match, the signature does not.
    data = b"forged\n"
    tmp_lake.write_bytes(f"bronze/drives/{DRIVE}/logs/run.log", data)
    manifest = tmp_lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id=DRIVE))
    for f in manifest["files"]:
        if f["path"] == "logs/run.log":
            f.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    tmp_lake.write_json(tables.BRONZE_MANIFEST.rel(drive_id=DRIVE), manifest)
    out = _cli(DRIVE, "--json")
    assert out.exit_code == 1
    doc = json.loads(out.stdout)
    assert doc["files_ok"] == 3 and doc["signature_ok"] is False


def test_verify_unsigned_manifest_fails(tmp_lake):
    tmp_lake.delete(tables.BRONZE_MANIFEST.sidecar("manifest.sig.json", drive_id=DRIVE))
    assert _cli(DRIVE).exit_code == 1


def test_verify_unknown_or_invalid_drive(tmp_lake):
    out = _cli("no-such-drive", "--json")
    assert out.exit_code == 2
    assert json.loads(out.stdout)["ok"] is False
    assert _cli("../etc").exit_code == 2
