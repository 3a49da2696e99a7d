"""The shared floor: receipt, digests, errors, node identity (BLS), the one ezkl adapter, and the
readers both sides use (strict JSON, inputs, ONNX models, SRS files, the cache).
"""
