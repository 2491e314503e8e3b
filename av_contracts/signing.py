"""Ed25519 signatures over JSON documents (drive manifests, redaction reports).

The signed bytes are the canonical JSON of the payload (sorted keys, no whitespace, UTF-8), so the
same document signs the same wherever it was serialised.

Key resolution (first hit wins):
1. `AV_SIGNING_KEY`: an Ed25519 private key as PEM (PKCS#8, unencrypted), or the raw 32-byte seed as
   64 hex characters or base64. Production sets it from a secret.
2. A development key generated on first use at `$DAGSTER_HOME/signing/dev_ed25519.pem` when
   `DAGSTER_HOME` is set, else `~/.config/av-platform/dev_ed25519.pem` (mode 0600). Never in the repo.
`AV_SIGNING_KEY_FILE` overrides the path of that development key file.

Verification uses the public key in the signature record unless `trusted_public_keys` (or the
`AV_TRUSTED_PUBLIC_KEYS` env var, comma-separated hex) pins which keys are accepted.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

ALG = "ed25519"
SIG_SCHEMA = "av-signature-v1"


def canonical_bytes(payload: Any) -> bytes:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def _load_private(text: str):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("AV_SIGNING_KEY PEM is not an Ed25519 private key")
        return key
    raw: bytes | None = None
    if len(text) == 64:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("AV_SIGNING_KEY is neither PEM, 64 hex characters nor base64") from exc
    if len(raw) != 32:
        raise ValueError(f"AV_SIGNING_KEY seed must be 32 bytes, got {len(raw)}")
    return Ed25519PrivateKey.from_private_bytes(raw)


def dev_key_path() -> Path:
    override = os.environ.get("AV_SIGNING_KEY_FILE")
    if override:
        return Path(override).expanduser()
    home = os.environ.get("DAGSTER_HOME")
    if home:
        return Path(home).expanduser() / "signing" / "dev_ed25519.pem"
    return Path("~/.config/av-platform/dev_ed25519.pem").expanduser()


def _dev_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = dev_key_path()
    if path.is_file():
        return _load_private(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_suffix(".pem.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.replace(tmp, path)
    return key


def load_signing_key(key: str | None = None):
    """The private key: explicit text, else $AV_SIGNING_KEY, else the local development key."""
    text = key if key is not None else os.environ.get("AV_SIGNING_KEY")
    return _load_private(text) if text else _dev_key()


def public_key_hex(private_key) -> str:
    from cryptography.hazmat.primitives import serialization

    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        .hex()
    )


def sign_document(payload: dict, key: str | None = None) -> dict[str, str]:
    """`{"alg": "ed25519", "public_key": hex, "signature": hex, "payload_sha256": hex, "schema"}`."""
    import hashlib

    private = load_signing_key(key)
    data = canonical_bytes(payload)
    return {
        "schema": SIG_SCHEMA,
        "alg": ALG,
        "public_key": public_key_hex(private),
        "payload_sha256": hashlib.sha256(data).hexdigest(),
        "signature": private.sign(data).hex(),
    }


def trusted_keys_from_env() -> set[str] | None:
    raw = os.environ.get("AV_TRUSTED_PUBLIC_KEYS", "").strip()
    return {k.strip().lower() for k in raw.split(",") if k.strip()} or None


def verify_document(
    payload: dict, signature_record: dict, trusted_public_keys: set[str] | None = None
) -> bool:
    """True only if the record is a valid Ed25519 signature of `payload`'s canonical JSON (and, when
    keys are pinned, made by one of them). Never raises on malformed input."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        if signature_record.get("alg") != ALG:
            return False
        pub_hex = str(signature_record["public_key"]).lower()
        trusted = trusted_public_keys if trusted_public_keys is not None else trusted_keys_from_env()
        if trusted is not None and pub_hex not in trusted:
            return False
        pub = Ed25519PublicKey.from_public_bytes(bytes.fromhex(pub_hex))
        pub.verify(bytes.fromhex(str(signature_record["signature"])), canonical_bytes(payload))
        return True
    except (InvalidSignature, KeyError, ValueError, TypeError, AttributeError):
        return False
