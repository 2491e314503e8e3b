"""Errors the CLI and the API show for a search filter, from the errors a real LanceDB table raises
for filters wrapped the way the searches wrap them."""

import lancedb
import pyarrow as pa
import pytest

from av_cli.output import ExitCode, fail
from av_contracts.search_filters import where_error


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    db = lancedb.connect(str(tmp_path_factory.mktemp("where")))
    data = pa.table(
        {
            "clip_id": ["d:1", "d:2"],
            "day_night": ["night", "day"],
            "speed_mean_mps": [3.0, 9.0],
            "vector": pa.array([[1.0, 0.0], [0.0, 1.0]], pa.list_(pa.float32(), 2)),
        }
    )
    return db.create_table("t", data=data)


def _refusal(table, where: str) -> Exception:
    with pytest.raises(Exception) as info:  # noqa: PT011 - LanceDB raises generic errors
        table.search().where(f"clip_id <> 'd:1' AND ({where})").limit(5).to_list()
    return info.value


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("day_night = 'night' AND", "Expected: an expression, found: the end of the filter"),
        ("day_night = 'night'; DROP TABLE t", "unexpected ;"),
        (
            "day_night = night",
            "no column night (a text value needs single quotes: day_night = 'night'); "
            "filter columns: clip_id, day_night, speed_mean_mps",
        ),
        (
            "day_nite = 'night'",
            "no column day_nite (did you mean day_night?); filter columns: clip_id, day_night, speed_mean_mps",
        ),
        ("day_night IN ('day', night)", "no column night (a text value needs single quotes"),
        ("speed_mean_mps > 'fast'", '"fast" is text, but the column holds numbers'),
        ("day_night = ['night']", "[night] is a list, but the column holds text (lists are comma text: LIKE"),
    ],
)
def test_a_refused_filter_is_said_in_the_users_terms(table, where, said):
    message = where_error(_refusal(table, where), where)
    assert message.startswith(f"--where {where!r} is not a filter on this table: ")
    assert said in message
    # none of the statement around the filter, nor LanceDB's Rust source location
    assert "clip_id <>" not in message and "SELECT" not in message and ".rs:" not in message
    assert where_error(_refusal(table, where), where, name="where").startswith(f"where {where!r}")


def test_errors_not_about_the_filter_are_not_filter_errors(table):
    assert where_error(RuntimeError("connection reset by peer"), "day_night = 'night'") is None
    assert where_error(_refusal(table, "day_night = night"), None) is None  # no filter was given


def test_fail_prints_the_message_as_written(capsys):
    """Brackets in a message (a list literal, a user's text) are not terminal markup."""
    with pytest.raises(SystemExit) as exit_info:
        fail("literal List([cut_in]) in '[red]x[/red]'", ExitCode.USAGE)
    assert exit_info.value.code == 2
    assert "literal List([cut_in]) in '[red]x[/red]'" in capsys.readouterr().err.replace("\n", "")
