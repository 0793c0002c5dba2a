"""firmware_bridge: wire protocol, host link over pyserial, robot client, virtual robot (issue 6)."""
