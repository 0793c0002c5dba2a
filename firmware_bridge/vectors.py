"""Test vectors shared with firmware: `python -m firmware_bridge.vectors` writes tests/firmware_bridge/vectors.json.

Each vector is a message with fixed fields and its exact bytes on the wire (hex); a C implementation
decodes `wire` to the fields and encodes the fields to `wire`.
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
    ]
    out = []
    for name, frame, fields in cases:
        out.append(
            {
                "name": name,
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
    ]
    rejects[0][1][3] ^= 0x01  # one bit flipped inside the encoded body
    for name, wire, reason in rejects:
        out.append({"name": name, "wire": bytes(wire).hex(), "reject": reason})
    return out


def main() -> None:
    data = {
        "protocol_version": p.VERSION,
        "schema": p.SCHEMA,
        "schema_hash": p.SCHEMA_HASH,
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
