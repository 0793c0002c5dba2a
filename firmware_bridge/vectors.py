"""Test vectors shared with firmware: `python -m firmware_bridge.vectors` writes tests/firmware_bridge/vectors.json.

Each vector is a message with fixed fields and its exact bytes on the wire (hex); a C implementation
decodes `wire` to the fields and encodes the fields to `wire`. `version` is the frame's protocol version; the
version 2 vectors use the scales of `_scales` (declared in `hello_ack_v2`).
"""

from __future__ import annotations

import json
import sys

import numpy as np

from firmware_bridge import protocol as p


def vectors() -> list[dict]:
    n = 12
    q = np.linspace(-1.0, 1.0, n, dtype=np.float32)
    state = p.State(
        p.FirmwareState.ACTIVE,
        q,
        q * 2,
        q * 3,
        np.array([1, 0, 0, 0], np.float32),
        np.array([0.1, -0.2, 0.3], np.float32),
        np.array([0, 0, 9.81], np.float32),
        np.array([0.5, 0, 0], np.float32),
    )
    command = p.Command(p.CommandMode.POSITION, q, np.full(n, 35.0, np.float32), np.full(n, 0.6, np.float32))
    joints = tuple(p.JointSpec(f"j{i}", -1.5, 1.5, 20.0, 23.7) for i in range(2))
    # version 2: the scales a HELLO_ACK declares (here +-pi rad, +-100 rad/s, +-33.5 N m, gains 0.01 and 0.001 per LSB)
    v2 = p.WireFormat(2, _scales(n))
    joints12 = tuple(p.JointSpec(f"j{i}", -1.5, 1.5, 20.0, 33.5) for i in range(n))
    two = p.WireFormat(2, _scales(2))
    f32 = np.float32
    failed = p.State(  # a failed sensor (NaN) and values past their range: INVALID and saturation
        p.FirmwareState.FAULT,
        np.array([np.nan, 4.0], f32),
        np.array([0.0, 150.0], f32),
        np.array([-40.0, 1.0], f32),
        np.array([1, 0, 0, 0], f32),
        np.zeros(3, f32),
        np.array([0, 0, 9.81], f32),
        np.zeros(3, f32),
        p.FaultCode.WATCHDOG,
    )
    cases = [
        (
            "hello",
            p.Frame(p.MsgType.HELLO, 0, p.Hello(p.SCHEMA_HASH, 12, 1000).pack()),
            {"schema_hash": p.SCHEMA_HASH, "n_joints": 12, "rate_hz": 1000},
        ),
        (
            "hello_ack",
            p.Frame(p.MsgType.HELLO_ACK, 0, p.HelloAck(p.SCHEMA_HASH, 20, 1000, joints).pack(), t_dev_us=1000),
            {"watchdog_ms": 20, "joints": ["j0", "j1"]},
        ),
        (
            "state_12",
            p.Frame(p.MsgType.STATE, 4242, state.pack(), t_dev_us=123456789, ack_seq=4241),
            {"state": "ACTIVE", "n": 12},
        ),
        ("command_12", p.Frame(p.MsgType.COMMAND, 65535, command.pack(), ack_seq=4242), {"mode": "POSITION", "n": 12}),
        ("arm", p.Frame(p.MsgType.ARM, 7), {}),
        ("estop", p.Frame(p.MsgType.ESTOP, 8), {}),
        ("heartbeat_compat_flag", p.Frame(p.MsgType.HEARTBEAT, 9, flags=0x01), {"note": "unknown compatible flag: accepted"}),
        (
            "fault_watchdog",
            p.Frame(p.MsgType.FAULT, 10, p.Fault(p.FaultCode.WATCHDOG, 3).pack(), t_dev_us=5),
            {"code": "WATCHDOG"},
        ),
        ("zeros_in_payload", p.Frame(p.MsgType.HEARTBEAT, 0, bytes(300)), {"note": "COBS across a 254-byte run"}),
        (
            "hello_v2",
            p.Frame(p.MsgType.HELLO, 0, p.Hello(p.SCHEMA_HASH_V2, 12, 1000, 2).pack(), version=2),
            {"proto_version": 2, "schema_hash": p.SCHEMA_HASH_V2, "n_joints": 12, "rate_hz": 1000},
        ),
        (
            "hello_ack_v2",
            p.Frame(
                p.MsgType.HELLO_ACK,
                1,
                p.HelloAck(p.SCHEMA_HASH_V2, 50, 1000, joints12, 2, modes=0b10, scales=v2.scales).pack(),
                t_dev_us=1000,
                version=2,
            ),
            {"modes": ["TORQUE"], "q_scale": np.pi / 32767, "tau_scale": 33.5 / 32767, "kp_scale": 0.01, "kd_scale": 0.001},
        ),
        (
            "state_12_v2",
            p.Frame(p.MsgType.STATE, 4243, v2.pack_state(state), t_dev_us=123457789, ack_seq=4242, version=2),
            {"state": "ACTIVE", "n": 12, "q": [round(float(x), 6) for x in v2.unpack_state(v2.pack_state(state)).q]},
        ),
        (
            "command_12_v2",
            p.Frame(p.MsgType.COMMAND, 1, v2.pack_command(command), ack_seq=4243, version=2),
            {
                "mode": "POSITION",
                "n": 12,
                "target_raw": [int(x) for x in np.rint(q / (np.pi / 32767))],
                "kp_raw": 3500,
                "kd_raw": 600,
            },
        ),
        (
            "ack_v2",
            p.Frame(p.MsgType.ACK, 4244, p.Ack(p.FirmwareState.ACTIVE).pack(), t_dev_us=123457900, ack_seq=1, version=2),
            {"state": "ACTIVE", "fault": "NONE", "note": "answers the COMMAND of seq ack_seq"},
        ),
        (
            "state_2_v2_invalid_and_saturated",
            p.Frame(p.MsgType.STATE, 7, two.pack_state(failed), t_dev_us=9, ack_seq=6, version=2),
            {"q_raw": [p.INVALID, 32767], "dq_raw": [0, 32767], "tau_raw": [-32767, round(1.0 / (33.5 / 32767))]},
        ),
    ]
    out = []
    for name, frame, fields in cases:
        out.append(
            {
                "name": name,
                "version": frame.version,
                "type": int(frame.type),
                "seq": frame.seq,
                "flags": frame.flags,
                "t_dev_us": frame.t_dev_us,
                "ack_seq": frame.ack_seq,
                "payload": frame.payload.hex(),
                "wire": p.encode_frame(frame).hex(),
                "fields": fields,
            }
        )
    rejects = [
        ("bad_crc", bytearray(p.encode_frame(p.Frame(p.MsgType.ARM, 1))), "CRC mismatch"),
        ("incompatible_flag", p.encode_frame(p.Frame(p.MsgType.ARM, 1, flags=0x10)), "unknown incompatible flags"),
        (
            "version_3",
            p.encode_frame(p.Frame(p.MsgType.HELLO, 1, p.Hello(0, 12, 1000, 3).pack(), version=3)),
            "protocol version 3",
        ),
    ]
    rejects[0][1][3] ^= 0x01  # one bit flipped inside the encoded body
    for name, wire, reason in rejects:
        out.append({"name": name, "wire": bytes(wire).hex(), "reject": reason})
    return out


def _scales(n: int) -> p.Scales:
    return p.Scales(
        (np.pi / 32767,) * n,
        (100 / 32767,) * n,
        (33.5 / 32767,) * n,
        (0.01,) * n,
        (0.001,) * n,
        35 / 32767,
        16 * 9.81 / 32767,
        20 / 32767,
    )


def main() -> None:
    data = {
        "protocol_version": p.VERSION,
        "protocol_versions": list(p.VERSIONS),
        "schema": p.SCHEMA,
        "schema_hash": p.SCHEMA_HASH,
        "schema_v2": p.SCHEMA_V2,
        "schema_hash_v2": p.SCHEMA_HASH_V2,
        "crc32c_check": {"input": "123456789", "crc": p.crc32c(b"123456789")},
        "vectors": vectors(),
    }
    text = json.dumps(data, indent=1)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
