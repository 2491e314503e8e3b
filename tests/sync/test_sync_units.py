"""Plain functions of the sync domain, with values."""

import numpy as np
import pytest

from av_assets.sync.calibration import calibration_record, extrinsics_in_base
from av_assets.sync.clips import ClipPolicy, clip_windows
from av_assets.sync.clock import estimate_lag, repair_backwards_jumps
from av_assets.sync.dbc import DbcNotFound, decode_can, load_dbc_string, pad_payloads, resolve_dbc_text

NS = 1_000_000_000


@pytest.fixture(scope="module")
def toyota():
    source, text = resolve_dbc_text("toyota_nodsu_pt_generated")
    assert source == "opendbc:toyota_nodsu_pt_generated"
    return load_dbc_string(text)


def test_vectorised_decode_equals_cantools_on_random_payloads(toyota):
    rng = np.random.default_rng(0)
    msgs = [m for m in toyota.messages if not m.is_multiplexed() and m.length <= 8][:40]
    ids = np.array([m.frame_id for m in msgs for _ in range(25)])
    data = rng.integers(0, 256, size=(ids.size, 8), dtype=np.uint8)
    dec = decode_can(toyota, ids, data)
    got = {(int(i), s): v for i, s, v in zip(dec.frame_index, dec.signal, dec.value, strict=True)}
    checked = 0
    for r, fid in enumerate(ids):
        m = toyota.get_message_by_frame_id(int(fid))
        try:
            ref = m.decode(bytes(data[r][: m.length]), decode_choices=False, scaling=True)
        except Exception:  # noqa: BLE001 - cantools refuses a few opendbc layouts (PCS_HUD overlaps)
            continue
        for name, v in ref.items():
            assert got[(r, f"{m.name}.{name}")] == pytest.approx(float(v), abs=1e-12), (m.name, name)
            checked += 1
    assert checked > 1000
    assert dec.frames_unknown_id == 0


def test_unknown_ids_are_counted_and_payloads_padded(toyota):
    p = pad_payloads([b"\x01", b"\x00\x10\x00\x20\x00\x30\x00"])
    assert p.shape == (2, 8) and p[0].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    dec = decode_can(toyota, np.array([0x7FE, 0xAA]), p)
    assert dec.frames_unknown_id == 1 and dec.frames_decoded == 1
    assert {s.split(".")[0] for s in dec.signal} == {"WHEEL_SPEEDS"}


def test_dbc_resolution_plain_opendbc_and_drive_relative_path():
    src, text = resolve_dbc_text("ESR")  # a DBC file shipped as is in opendbc/dbc/
    assert src == "opendbc:ESR" and "BO_ " in text
    files = {"dbc/car.dbc": b'VERSION ""\nBO_ 256 TEST: 8 XXX\n SG_ A : 7|8@0+ (0.5,0) [0|127] "m/s" XXX\n'}
    src, text = resolve_dbc_text("dbc/car.dbc", lambda rel: files[rel])
    assert src == "drive:dbc/car.dbc"
    db = load_dbc_string(text)
    dec = decode_can(db, np.array([256]), pad_payloads([b"\x14"]))
    assert dec.value.tolist() == [10.0] and dec.unit.tolist() == ["m/s"]
    with pytest.raises(DbcNotFound):
        resolve_dbc_text("../../etc/passwd", lambda rel: b"")
    with pytest.raises(DbcNotFound):
        resolve_dbc_text("no_such_dbc")


@pytest.mark.parametrize("true_lag", [0.0, 0.137, -0.42])
def test_estimate_lag_recovers_a_known_offset(true_lag):
    rng = np.random.default_rng(1)
    t = np.arange(0, 60, 0.01)
    sig = np.convolve(rng.normal(size=t.size), np.ones(50) / 50, mode="same")  # band-limited
    ref_t, ref_v = t, sig
    x_t = np.arange(0.3, 59.7, 0.1)  # sparser sensor, stamped `true_lag` ahead of the reference
    x_v = np.interp(x_t - true_lag, t, sig) + rng.normal(scale=0.01, size=x_t.size)
    lag = estimate_lag(ref_t, ref_v, x_t, x_v, max_lag_s=1.0)
    assert lag.ok
    assert abs(lag.lag_s - true_lag) < 0.005


def test_backwards_jump_is_repaired_and_reported():
    t = np.arange(20, dtype=np.int64) * 100_000_000
    t[12:] -= 3 * NS  # the clock steps back 3 s at message 12
    fixed, jumps = repair_backwards_jumps(t)
    assert np.all(np.diff(fixed) > 0)
    assert np.array_equal(fixed, np.arange(20, dtype=np.int64) * 100_000_000)
    assert len(jumps) == 1 and jumps[0].index == 12 and jumps[0].jump_ns == -2_900_000_000


def test_clip_windows_policy():
    w = clip_windows(0, 45 * NS - 1, ClipPolicy())
    assert w == [(0, 20 * NS), (20 * NS, 40 * NS), (40 * NS, 45 * NS)]
    w = clip_windows(0, 41 * NS - 1, ClipPolicy(min_length_s=2.0))
    assert w[-1] == (20 * NS, 40 * NS)  # a 1 s tail is dropped
    w = clip_windows(0, 30 * NS - 1, ClipPolicy(length_s=20, overlap_s=10))
    assert w == [(0, 20 * NS), (10 * NS, 30 * NS)]  # stops once a clip reaches the end
    assert clip_windows(0, NS, ClipPolicy()) == [(0, NS + 1)]  # a short drive is one clip


def test_extrinsics_chain_into_base_link():
    q90z = [0.0, 0.0, np.sqrt(0.5), np.sqrt(0.5)]
    tfs = [
        {"parent": "base_link", "child": "roof", "translation": [1.0, 0.0, 1.5], "rotation_xyzw": q90z},
        {"parent": "roof", "child": "cam", "translation": [1.0, 0.0, 0.0], "rotation_xyzw": [0, 0, 0, 1]},
    ]
    ext = extrinsics_in_base(tfs)
    assert ext["cam"]["translation"] == pytest.approx([1.0, 1.0, 1.5])
    assert ext["cam"]["chain"] == ["base_link", "roof", "cam"]
    rec = calibration_record(
        "d-001",
        tfs,
        {
            "cam_info": {
                "frame_id": "cam",
                "width": 640,
                "height": 360,
                "K": [500, 0, 320, 0, 500, 180, 0, 0, 1],
                "D": [],
                "distortion_model": "plumb_bob",
            }
        },
        [{"name": "cam_front", "frame_id": "cam"}, {"name": "cam_info", "frame_id": "cam"}],
    )
    assert rec["sensors"]["cam_front"]["intrinsics"]["K"][0] == 500
