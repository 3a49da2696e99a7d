"""What a job carries from the web process to a worker: the checked input and the fast answer given.

The worker reuses the fast answer the client actually received, so the receipt's `fast` section
records what was served, not a recomputation.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from zkinfer.core.formats.inputs import Sample
from zkinfer.core.formats.receipt import TensorData
from zkinfer.core.zkp.onnx_model import TensorSpec
from zkinfer.prover.prove import FastAnswer, tensors


class FastRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str
    ms: float
    outputs: list[TensorData]


class JobPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: list[TensorData]
    fast: FastRecord


def _arrays(items: list[TensorData], dtype: type) -> list[np.ndarray]:
    return [np.asarray(t.values, dtype=dtype).reshape(t.shape) for t in items]


def encode(
    input_specs: tuple[TensorSpec, ...], sample: Sample, output_specs: tuple[TensorSpec, ...], fast: FastAnswer
) -> str:
    fast_record = FastRecord(provider=fast.provider, ms=fast.ms, outputs=tensors(output_specs, fast.outputs))
    return JobPayload(inputs=tensors(input_specs, sample), fast=fast_record).model_dump_json()


def decode(payload: str) -> tuple[Sample, FastAnswer]:
    job = JobPayload.model_validate_json(payload)
    fast = FastAnswer(outputs=_arrays(job.fast.outputs, np.float64), provider=job.fast.provider, ms=job.fast.ms)
    return _arrays(job.inputs, np.float32), fast
