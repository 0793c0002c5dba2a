"""Fixtures of the bridge's tests."""

import pytest

from firmware_bridge.cfirmware import CFirmware
from firmware_bridge.virtual_robot import VirtualFirmware


@pytest.fixture(params=["python", "c"])
def firmware_impl(request):
    """Runs a test on both firmwares, the Python reference (virtual_robot.py) and the C code a team flashes
    (firmware/rmfw.c through ctypes), which must behave the same frame for frame: sets the test module's
    `Firmware` for the test's duration. A module opts in with `pytestmark = pytest.mark.usefixtures("firmware_impl")`."""
    old = request.module.Firmware
    request.module.Firmware = {"python": VirtualFirmware, "c": CFirmware}[request.param]
    yield request.param
    request.module.Firmware = old
