import pytest

from av_contracts.ids import (
    InvalidIdentifier,
    clip_id,
    parse_clip_id,
    safe_relative_path,
    validate_drive_id,
)


@pytest.mark.parametrize("good", ["abc", "drive-001", "veh_7-2026-03-01", "a" * 64, "0ab"])
def test_valid_drive_ids(good):
    assert validate_drive_id(good) == good


@pytest.mark.parametrize(
    "bad,reason",
    [
        ("../etc", "separator or traversal"),
        ("a/b/c", "separator or traversal"),
        ("/abs/path", "separator or traversal"),
        ("ab", "shorter than 3"),
        ("a" * 65, "at most 64"),
        ("Drive01", "must match"),
        ("-abc", "must match"),
        ("abc def", "must match"),
        ("", "empty"),
    ],
)
def test_invalid_drive_ids_say_why(bad, reason):
    with pytest.raises(InvalidIdentifier, match=reason):
        validate_drive_id(bad)


def test_non_string_refused():
    with pytest.raises(InvalidIdentifier, match="must be a string"):
        validate_drive_id(123)


def test_clip_id_round_trip():
    cid = clip_id("drive-001", 1_700_000_000_000_000_000)
    assert cid == "drive-001:1700000000000000000"
    assert parse_clip_id(cid) == ("drive-001", 1_700_000_000_000_000_000)
    with pytest.raises(InvalidIdentifier):
        parse_clip_id("drive-001")


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x", "a/../b", "a//b", "C:\\x", "./a"])
def test_relative_paths_refused(bad):
    with pytest.raises(InvalidIdentifier):
        safe_relative_path(bad)


def test_relative_path_normalised():
    assert safe_relative_path("bag\\x.mcap") == "bag/x.mcap"
