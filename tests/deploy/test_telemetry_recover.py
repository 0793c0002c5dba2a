"""`robot-meta log recover`: a log cut short by a kill becomes one the mcap library's standard reader opens."""

import json
import shutil

import pytest
from mcap.reader import make_reader

from deploy.telemetry import TelemetryLog, read_log, recover_log
from robot_meta.cli import main


def killed_log(tmp_path, torn_bytes: int = 0):
    """A log as a kill leaves it: written and flushed, never closed (the file copied while open), optionally with
    the last `torn_bytes` bytes cut off as if the kill came mid-write."""
    log = TelemetryLog(tmp_path / "live.mcap", flush_s=0.0)
    log.write("/session", {"policy": "p", "commands": {"target_velocity": 1.5}})
    for i in range(50):
        log.write("/tick", {"t": i * 0.05, "obs": [0.1 * i, 0.2], "action": [0.0]})
    log.write("/event", {"event": "armed"})
    log._writer.flush()
    killed = tmp_path / "killed.mcap"
    shutil.copyfile(tmp_path / "live.mcap", killed)
    if torn_bytes:
        data = killed.read_bytes()
        killed.write_bytes(data[:-torn_bytes])
    log.close()
    return killed


@pytest.mark.parametrize("torn", [0, 7])
def test_a_killed_log_is_recovered_into_one_the_standard_reader_opens(tmp_path, torn):
    killed = killed_log(tmp_path, torn)
    with open(killed, "rb") as f, pytest.raises(Exception):  # noqa: B017 - the mcap library's own error types vary
        list(make_reader(f).iter_messages())
    before, raw = read_log(killed), killed.read_bytes()
    out = recover_log(killed, tmp_path / "fixed.mcap")
    assert out["messages"] == sum(len(v) for v in before.values()) and out["by_topic"]["/tick"] == len(before["/tick"])
    with open(tmp_path / "fixed.mcap", "rb") as f:
        msgs = [(c.topic, json.loads(m.data)) for _, c, m in make_reader(f).iter_messages()]
    assert [m for t, m in msgs if t == "/tick"] == before["/tick"] and len(before["/tick"]) >= 40
    assert killed.read_bytes() == raw  # the original is only read
    assert out["unfinished"]
    whole = tmp_path / "live.mcap"  # closed properly: recovered as it is
    assert not recover_log(whole, tmp_path / "copy.mcap")["unfinished"]
    assert read_log(tmp_path / "copy.mcap")["/tick"] == read_log(whole)["/tick"]
    with pytest.raises(ValueError, match="is the log being recovered"):
        recover_log(killed, killed)


def test_log_recover_cli(tmp_path, capsys):
    killed = killed_log(tmp_path, 5)
    assert main(["log", "recover", str(killed), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["out"].endswith("killed.recovered.mcap") and out["messages"] > 40
    assert main(["log", "recover", str(killed)]) == 2  # the output exists: refused, nothing overwritten
    assert "exists" in capsys.readouterr().err
    assert main(["log", "recover", str(tmp_path / "nope.mcap")]) == 2


def test_a_log_killed_before_its_first_message_is_not_empty(tmp_path):
    """Killed while arming (before any message), the log used to be 0 bytes; now its header is on disk and the
    recovered file is a valid, empty MCAP."""
    log = TelemetryLog(tmp_path / "arming.mcap")
    shutil.copyfile(tmp_path / "arming.mcap", tmp_path / "killed.mcap")
    log.close()
    assert (tmp_path / "killed.mcap").stat().st_size > 0
    assert recover_log(tmp_path / "killed.mcap", tmp_path / "fixed.mcap")["messages"] == 0
    with open(tmp_path / "fixed.mcap", "rb") as f:
        assert list(make_reader(f).iter_messages()) == []
