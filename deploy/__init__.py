"""deploy: what runs on the robot computer, with numpy and onnxruntime only (no torch, no MuJoCo, no robot_meta).

The typed policy manifest (`manifest`), the online adaptation runtime (`runtime`), robot I/O from STATE to
observation and reward and from action to COMMAND (`robot_io`), the control loop (`control`), MCAP telemetry
(`telemetry`), field sessions and their reports (`field`) and the online metrics they share with the
simulated evaluation (`metrics`). The layers are held by import-linter (setup.cfg).
"""
