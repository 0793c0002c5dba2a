"""The wire protocol: golden vectors, chunking, resync, corruption, oversize, sequence wrap, fuzz."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import protocol as p
from firmware_bridge.vectors import vectors

VECTORS = json.loads((Path(__file__).parent / "vectors.json").read_text())


def test_crc32c_check_value_and_schema_hash():
    assert p.crc32c(b"123456789") == 0xE3069283 == VECTORS["crc32c_check"]["crc"]
    assert p.SCHEMA_HASH == VECTORS["schema_hash"] == p.crc32c(VECTORS["schema"].encode())
    assert p.SCHEMA_HASH_V2 == VECTORS["schema_hash_v2"] == p.crc32c(VECTORS["schema_v2"].encode())


def test_the_shipped_vectors_are_what_the_encoder_produces():
    assert vectors() == VECTORS["vectors"], (
        "protocol changed: regenerate with python -m firmware_bridge.vectors and bump VERSION"
    )


@pytest.mark.parametrize("vec", [v for v in VECTORS["vectors"] if "reject" not in v], ids=lambda v: v["name"])
def test_golden_vectors_decode_to_their_fields(vec):
    frames = p.FrameDecoder().feed(bytes.fromhex(vec["wire"]))
    assert len(frames) == 1
    f = frames[0]
    assert (f.version, f.type, f.seq, f.flags, f.t_dev_us, f.ack_seq, f.payload.hex()) == (
        vec["version"],
        vec["type"],
        vec["seq"],
        vec["flags"],
        vec["t_dev_us"],
        vec["ack_seq"],
        vec["payload"],
    )


@pytest.mark.parametrize("vec", [v for v in VECTORS["vectors"] if "reject" in v], ids=lambda v: v["name"])
def test_golden_rejects(vec):
    with pytest.raises(p.ProtocolError, match=vec["reject"]):
        p.decode_body(bytes.fromhex(vec["wire"])[:-1])


def test_payload_round_trips():
    rng = np.random.default_rng(0)
    n = 12
    s = p.State(2, *(rng.normal(size=k).astype(np.float32) for k in (n, n, n, 4, 3, 3, 3)), fault=0)
    s2 = p.State.unpack(s.pack())
    for a, b in zip(
        (s.q, s.dq, s.tau, s.quat, s.gyro, s.accel, s.base_vel),
        (s2.q, s2.dq, s2.tau, s2.quat, s2.gyro, s2.accel, s2.base_vel),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    c = p.Command(0, *(rng.normal(size=n).astype(np.float32) for _ in range(3)))
    c2 = p.Command.unpack(c.pack())
    np.testing.assert_array_equal(c.target, c2.target)
    ack = p.HelloAck(p.SCHEMA_HASH, 20, 1000, (p.JointSpec("FR_hip", -1.0, 2.6, 30.0, 23.7),))
    assert p.HelloAck.unpack(ack.pack()).joints[0].name == "FR_hip"
    assert p.Hello.unpack(p.Hello(1, 12, 50).pack()) == p.Hello(1, 12, 50)
    with pytest.raises(p.ProtocolError, match="STATE payload of 10 bytes is shorter"):
        p.State.unpack(s.pack()[:10])


def _stream(n=30, seed=0):
    rng = np.random.default_rng(seed)
    frames = [
        p.Frame(p.MsgType.STATE, (65530 + i) & 0xFFFF, rng.bytes(int(rng.integers(0, 300))), t_dev_us=i) for i in range(n)
    ]
    return frames, b"".join(p.encode_frame(f) for f in frames)


def test_any_chunking_of_the_stream_gives_the_same_frames():
    frames, wire = _stream()
    rng = np.random.default_rng(1)
    for _ in range(20):
        dec, got, i = p.FrameDecoder(), [], 0
        while i < len(wire):
            k = int(rng.integers(1, 64))
            got += dec.feed(wire[i : i + k])
            i += k
        assert got == frames and dec.stats.frames == len(frames)
    one = p.FrameDecoder()
    assert [f for b in wire for f in one.feed(bytes([b]))] == frames  # byte at a time


def test_garbage_between_frames_is_skipped_and_counted():
    frames, _ = _stream(10)
    rng = np.random.default_rng(2)
    wire = b"".join(
        rng.bytes(int(rng.integers(1, 40))).replace(b"\x00", b"\x01") + b"\x00" + p.encode_frame(f) for f in frames
    )
    dec = p.FrameDecoder()
    assert dec.feed(wire) == frames
    assert dec.stats.cobs_errors + dec.stats.crc_errors + dec.stats.short == 10


def test_bit_flips_never_yield_a_frame_with_a_wrong_payload():
    frame = p.Frame(p.MsgType.COMMAND, 5, p.Command(0, np.ones(12), np.ones(12), np.ones(12)).pack())
    wire = p.encode_frame(frame)
    accepted_wrong = 0
    rng = np.random.default_rng(3)
    for _ in range(3000):
        bad = bytearray(wire)
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(0, len(bad) - 1))  # not the delimiter
            bad[i] ^= 1 << int(rng.integers(0, 8))
        for f in p.FrameDecoder().feed(bytes(bad)):
            accepted_wrong += f != frame
    assert accepted_wrong == 0


def test_oversize_frames_are_dropped_before_decoding_and_the_next_frame_survives():
    good = p.encode_frame(p.Frame(p.MsgType.ARM, 1))
    dec = p.FrameDecoder()
    out = dec.feed(b"\x01" * (p.MAX_ENCODED + 50) + b"\x00" + good)
    assert out == [p.Frame(p.MsgType.ARM, 1)] and dec.stats.oversize == 1
    with pytest.raises(p.ProtocolError, match="exceeds the maximum"):
        p.encode_frame(p.Frame(p.MsgType.STATE, 0, bytes(p.MAX_BODY)))


def test_sequence_wraps():
    assert p.seq_delta(0, 65535) == 1 and p.seq_delta(3, 65534) == 5 and p.seq_delta(10, 10) == 0
    _, wire = _stream(12)
    assert [f.seq for f in p.FrameDecoder().feed(wire)][5:8] == [65535, 0, 1]


def test_header_fields_out_of_range_are_refused():
    with pytest.raises(p.ProtocolError, match="seq 70000"):
        p.encode_frame(p.Frame(p.MsgType.ARM, 70000))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_decoder_fuzz_never_raises_and_accepts_only_valid_crc(data):
    dec = p.FrameDecoder()
    for f in dec.feed(data):
        assert p.decode_body(p.encode_frame(f)[:-1]) == f  # anything accepted re-encodes to itself


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 9), st.integers(0, 0xFFFF), st.binary(max_size=400), st.integers(0, 0x0F), st.binary(max_size=30))
def test_valid_frames_survive_any_prefix_garbage(mtype, seq, payload, flags, garbage):
    frame = p.Frame(mtype, seq, payload, flags=flags)
    got = p.FrameDecoder().feed(garbage + b"\x00" + p.encode_frame(frame))
    assert got[-1] == frame


def test_the_crc_package_and_the_pure_python_fallback_agree():
    """Issue 19: CRC-32C from the `crc32c` package, the pure-Python table kept as the fallback, equal on the check
    value, on every length to 1100 bytes, and when continued from a previous CRC."""
    import crc32c as package

    rng = np.random.default_rng(0)
    assert p.crc32c_py(b"123456789") == package.crc32c(b"123456789") == 0xE3069283
    for n in range(0, 1100, 7):
        data = rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()
        assert p.crc32c(data) == p.crc32c_py(data), n
        assert p.crc32c(data[n // 2 :], p.crc32c(data[: n // 2])) == p.crc32c_py(data), n


def test_the_cobs_package_the_pure_python_fallback_and_the_c_firmware_agree():
    """Issue 19: COBS from the `cobs` package on the host, the pure-Python code as its fallback and the C firmware's
    encoder byte for byte equal (runs of exactly 254 non-zero bytes included); malformed input refused alike."""
    import ctypes

    from cobs import cobs as package

    from firmware_bridge.cfirmware import load

    lib = load()
    lib.rmfw_cobs_encode.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_char_p]
    lib.rmfw_cobs_encode.restype = ctypes.c_uint32
    rng = np.random.default_rng(0)
    out = ctypes.create_string_buffer(2048)
    for n in [*range(0, 600, 3), 253, 254, 255, 507, 508, 509, 1024]:
        for zeros in (0.0, 0.05, 0.5):
            data = rng.integers(1, 256, size=n, dtype=np.uint8)
            data[rng.random(n) < zeros] = 0
            data = data.tobytes()
            enc = package.encode(data)
            assert p.cobs_encode_py(data) == enc == p.cobs_encode(data), (n, zeros)
            k = lib.rmfw_cobs_encode(data, len(data), out)
            assert out.raw[:k] == enc, (n, zeros)
            assert p.cobs_decode_py(enc) == p.cobs_decode(enc) == data
    for bad in (b"\x05\x01\x02", b"\x02\x00", b"\x00"):
        with pytest.raises(p.ProtocolError):
            p.cobs_decode(bad)
        with pytest.raises(p.ProtocolError):
            p.cobs_decode_py(bad)
