"""firmware_bridge: the wire protocol and both ends of the serial link.

Host side (numpy and pyserial only): `protocol` (framing, CRC, messages), `link` (a port chosen by URL, a
reader thread, link statistics), `client` (handshake, arming, e-stop). Robot side: `virtual_robot` (the
firmware state machine over MuJoCo physics of a task family) and `virtual_robot_server` (that firmware on a
pty or TCP), the only modules here that import the simulator.
"""
