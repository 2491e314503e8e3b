"""`mine.mined_frame`: the ml/mined_scenarios rows of one query's mine document."""

from av_assets.mining.mine import MINED_SCHEMA, mined_frame


def _cand(clip_id, score):
    return {
        "clip_id": clip_id,
        "drive_id": "d1",
        "t_start_ns": 0,
        "t_end_ns": 20,
        "score": score,
        "novelty": 0.5,
        "rarity": 0.25,
        "uncertainty": 0.1,
        "matched_s": 2.0,
        "match_start_ns": 1,
        "match_end_ns": 3,
        "track_ids": ["t1"],
        "extra": "dropped",
    }


def test_mined_frame_ranks_the_candidates():
    doc = {"program_id": "p1", "candidates": [_cand("d1:0", 0.9), _cand("d1:20", 0.4)]}
    frame = mined_frame("q", doc)
    assert frame.schema == MINED_SCHEMA
    assert frame["rank"].to_list() == [1, 2] and frame["clip_id"].to_list() == ["d1:0", "d1:20"]
    assert frame.row(0, named=True) | {"track_ids": None} == {
        "query_name": "q",
        "program_id": "p1",
        "rank": 1,
        **{k: v for k, v in _cand("d1:0", 0.9).items() if k != "extra"},
        "track_ids": None,
    }
    empty = mined_frame("q", {"program_id": "p1", "candidates": []})
    assert empty.height == 0 and empty.schema == MINED_SCHEMA
