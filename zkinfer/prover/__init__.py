"""The prover's side: export (torch -> ONNX), compile (ONNX -> calibrated circuit), keys and SRS
set-up, fast inference (onnxruntime) and proving.
"""
