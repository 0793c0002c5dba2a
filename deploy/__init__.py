"""deploy: ONNX export with a manifest, and the torch-free online adaptation runtime (issue 5)."""
