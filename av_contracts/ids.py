"""Identifiers from outside the platform are validated before they touch a path or a query."""

from __future__ import annotations

import re

DRIVE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{2,63}$")
VEHICLE_ID_RE = DRIVE_ID_RE  # vehicles follow the same rule: they become folder names too


class InvalidIdentifier(ValueError):
    """A name from outside that cannot be used as a key or a path component."""


def validate_drive_id(value: object) -> str:
    """Return `value` if it is a valid drive id, else raise with the reason."""
    return _validate(value, "drive_id", DRIVE_ID_RE)


def validate_vehicle_id(value: object) -> str:
    return _validate(value, "vehicle_id", VEHICLE_ID_RE)


def _validate(value: object, what: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str):
        raise InvalidIdentifier(f"{what} must be a string, got {type(value).__name__}")
    if pattern.fullmatch(value):
        return value
    if "/" in value or "\\" in value or ".." in value:
        reason = "contains a path separator or traversal"
    elif not value:
        reason = "is empty"
    elif len(value) > 64:
        reason = f"is {len(value)} characters long (at most 64)"
    elif len(value) < 3:
        reason = "is shorter than 3 characters"
    else:
        reason = "must match " + pattern.pattern + " (lowercase letters, digits, '_' and '-')"
    raise InvalidIdentifier(f"invalid {what} {value!r}: {reason}")


def clip_id(drive_id: str, t_start_ns: int) -> str:
    """Deterministic clip id, independent of the clip length (CONTRACTS.md)."""
    return f"{drive_id}:{int(t_start_ns)}"


def parse_clip_id(value: str) -> tuple[str, int]:
    drive, sep, t = value.rpartition(":")
    if not sep or not t.lstrip("-").isdigit():
        raise InvalidIdentifier(f"invalid clip_id {value!r}: expected '<drive_id>:<t_start_ns>'")
    return validate_drive_id(drive), int(t)


def safe_relative_path(value: str) -> str:
    """A relative POSIX path from outside (drive.json checksums, manifests): no absolute, no '..'."""
    if not isinstance(value, str) or not value:
        raise InvalidIdentifier("path must be a non-empty string")
    if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
        raise InvalidIdentifier(f"invalid path {value!r}: absolute paths are refused")
    parts = value.replace("\\", "/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidIdentifier(f"invalid path {value!r}: empty, '.' or '..' components are refused")
    return "/".join(parts)
