"""Every control tick to MCAP (the log format Foxglove and the robotics tools read), crash-tolerant.

Topics (JSON messages, one JSON schema each):
- `/tick`: time, observation, action, command target, reward estimate, tracking error, latent summary
  (PEARL z mean and variance, RL² hidden-state norm), timing (period, compute time, lateness), link age;
- `/link`: link statistics once a second (frames, CRC/COBS errors, sequence gaps, round-trip p50/p99);
- `/event`: arm, payload change, e-stop with its reason, fault, end;
- `/session`: once at the start: the manifest summary, the robot's HELLO_ACK, the operator's commands;
- `/pose`: the robot base's orientation each tick, in Foxglove's `foxglove.PoseInFrame` schema (3D panel).
Every channel has a real JSON schema (`SCHEMAS`); the tick's observation is also given by named slice.

The writer closes its chunk and flushes the file every `flush_s` seconds, so that a crash or a
kill loses at most the last chunk (the last second): `read_log` reads a file that never got its footer, and
`recover_log` (`robot-meta log recover`, what `mcap recover` does) rewrites one into a complete file that
every MCAP reader opens (the `mcap` library's `make_reader` raises on a file without a footer).
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np

TOPICS = ("/session", "/tick", "/link", "/event", "/pose")

_NUM = {"type": "number"}
_NUMS = {"type": "array", "items": _NUM}
_OPT_NUM = {"type": ["number", "null"]}
# Each topic's JSON schema, registered with its channel: Foxglove lists the fields by name for its plots, and a
# log can be checked against them (tests/deploy/test_telemetry_schemas.py).
SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    "/session": ("robot_meta.Session", {
        "type": "object",
        "properties": {"policy": {"type": "object"}, "adaptation": {"type": "string"}, "robot": {"type": "object"},
                       "commands": {"type": "object", "additionalProperties": _NUM}, "port": {"type": "string"},
                       "observation": {"type": "array", "items": {"type": "object"}},
                       "tracking_error_floor": _OPT_NUM, "action": {"type": "array", "items": {"type": "string"}}},
    }),
    "/tick": ("robot_meta.Tick", {
        "type": "object",
        "required": ["k", "t", "obs", "obs_named", "action", "tracking_error", "latent"],
        "properties": {
            "k": {"type": "integer"}, "t": _NUM,
            "obs": _NUMS, "obs_named": {"type": "object", "additionalProperties": _NUMS},  # the manifest's slices
            "action": _NUMS, "target": _NUMS, "reward": _OPT_NUM, "tracking_error": _OPT_NUM,
            "latent": {"type": "object", "additionalProperties": {"type": ["number", "array"]}},
            "state_age_ms": _NUM, "state_seq": {"type": "integer"}, "tilt_deg": _NUM, "jitter_ms": _NUM,
            "compute_us": _NUM,
        },
    }),
    "/link": ("robot_meta.Link", {"type": "object", "properties": {"t": _NUM}, "additionalProperties": _OPT_NUM}),
    "/event": ("robot_meta.Event", {"type": "object", "required": ["event"], "properties": {"event": {"type": "string"}, "t": _NUM}}),
    # Foxglove's own schema: the 3D panel shows the robot's base orientation (position: no estimate, 0)
    "/pose": ("foxglove.PoseInFrame", {
        "type": "object",
        "required": ["timestamp", "frame_id", "pose"],
        "properties": {
            "timestamp": {"type": "object", "properties": {"sec": {"type": "integer"}, "nsec": {"type": "integer"}}},
            "frame_id": {"type": "string"},
            "pose": {"type": "object", "properties": {
                "position": {"type": "object", "properties": {k: _NUM for k in "xyz"}},
                "orientation": {"type": "object", "properties": {k: _NUM for k in "xyzw"}},
            }},
        },
    }),
}  # fmt: skip


def jsonable(x: Any) -> Any:
    """`x` with numpy arrays and scalars as plain Python lists and numbers (what json.dumps takes)."""
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    return x


class TelemetryLog:
    """An MCAP writer with one channel per topic; `write(topic, dict)` stamps it with the wall clock."""

    def __init__(self, path: str | Path, flush_s: float = 1.0, chunk_size: int = 256 * 1024) -> None:
        from mcap.writer import CompressionType, Writer

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")
        self._writer = Writer(self._file, chunk_size=chunk_size, compression=CompressionType.ZSTD)
        self._writer.start(profile="", library="robot-meta")
        self._channels = {}
        for topic in TOPICS:
            name, schema = SCHEMAS[topic]
            sid = self._writer.register_schema(name=name, encoding="jsonschema", data=json.dumps(schema).encode())
            self._channels[topic] = self._writer.register_channel(topic, "json", sid)
        self._writer.flush()  # the file's header is on disk from the start: a kill before the first tick leaves a valid start
        self._seq = 0
        self._flush_s = flush_s
        self._last_flush = time.monotonic()
        self.closed = False

    def write(self, topic: str, message: dict[str, Any], t_ns: int | None = None) -> None:
        if self.closed:
            return
        t = time.time_ns() if t_ns is None else t_ns
        self._writer.add_message(
            self._channels[topic], log_time=t, publish_time=t, sequence=self._seq, data=json.dumps(jsonable(message)).encode()
        )
        self._seq += 1
        now = time.monotonic()
        if now - self._last_flush >= self._flush_s:
            self.flush()

    def flush(self) -> None:
        """Close the current chunk and write it: everything logged so far survives a kill."""
        if not self.closed:
            self._writer.flush()
            self._last_flush = time.monotonic()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._writer.finish()
        self._file.close()


def read_log(path: str | Path, topics: tuple[str, ...] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Messages by topic, in log order, from a finished MCAP file or one cut short by a crash (its complete
    chunks; the torn tail is dropped)."""
    from mcap.exceptions import McapError
    from mcap.records import Channel, Chunk, Message
    from mcap.stream_reader import StreamReader

    out: dict[str, list[dict[str, Any]]] = {t: [] for t in (topics or TOPICS)}
    channels: dict[int, str] = {}
    with open(path, "rb") as f:
        reader = StreamReader(f, skip_magic=False)
        try:
            for record in reader.records:
                if isinstance(record, Channel):
                    channels[record.id] = record.topic
                elif isinstance(record, Message):
                    topic = channels.get(record.channel_id)
                    if topic in out:
                        out[topic].append(json.loads(record.data))
                elif isinstance(record, Chunk):  # pragma: no cover - StreamReader expands chunks itself
                    continue
        except (McapError, struct.error, ValueError):  # a truncated tail (killed writer): keep what was complete
            pass
    return out


def recover_log(src: str | Path, dst: str | Path) -> dict[str, Any]:
    """Rewrite the complete records of `src` (an MCAP file cut short by a kill or a crash) into a finished MCAP
    file `dst`: the same schemas, channels and messages (times and sequence numbers kept), with the summary and
    footer a killed writer never wrote. The torn tail, if any, is dropped. `src` is only read.

    Returns {"messages": n, "by_topic": {topic: n}, "unfinished": True when `src` ended before its footer (a
    killed writer; a torn last record is dropped), False for a log that was closed properly}.
    """
    from mcap.exceptions import McapError
    from mcap.records import Channel, Message, Schema
    from mcap.stream_reader import StreamReader
    from mcap.writer import CompressionType, Writer

    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise ValueError(f"recover writes a new file: {dst} is the log being recovered")
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    messages: list[Message] = []
    unfinished = False
    with open(src, "rb") as f:
        try:
            for record in StreamReader(f, skip_magic=False).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    channels[record.id] = record
                elif isinstance(record, Message):
                    messages.append(record)
        except (McapError, struct.error, ValueError, EOFError):  # no footer, or a record the kill cut short
            unfinished = True
    tmp = dst.with_name(dst.name + ".tmp")
    with open(tmp, "wb") as out:
        writer = Writer(out, compression=CompressionType.ZSTD)
        writer.start(profile="", library="robot-meta (recovered)")
        schema_ids = {sid: writer.register_schema(s.name, s.encoding, s.data) for sid, s in schemas.items()}
        channel_ids = {
            cid: writer.register_channel(c.topic, c.message_encoding, schema_ids.get(c.schema_id, 0), dict(c.metadata))
            for cid, c in channels.items()
        }
        by_topic: dict[str, int] = {}
        kept = 0
        for m in messages:
            if m.channel_id not in channel_ids:  # a message whose channel record was lost with the tail
                continue
            writer.add_message(channel_ids[m.channel_id], m.log_time, m.data, m.publish_time, m.sequence)
            topic = channels[m.channel_id].topic
            by_topic[topic] = by_topic.get(topic, 0) + 1
            kept += 1
        writer.finish()
    tmp.replace(dst)
    return {"messages": kept, "by_topic": by_topic, "unfinished": unfinished}
