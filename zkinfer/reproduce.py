"""Rebuild a receipt's verifying key from a model file: the link from "this ONNX model" to the proof.

A receipt's model digest is only a claim; the proof is checked against the verifying key. With
fixed weights that key commits to the circuit and its weights, so compiling the auditor's own copy
of the model with the receipt's settings and setting it up with the receipt's SRS ceremony gives
the one key that model can have: equal bytes mean the proof is about that model. With hashed
weights the key leaves the weights open, so their Poseidon commitment is recomputed as well.

The settings come from an untrusted receipt, so ezkl runs in a one-shot worker process (memory
and time limited), as for the proof check.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zkinfer import _ezkl, _ezkl_isolated, inputs, onnx_model, srs
from zkinfer.digest import digest_file
from zkinfer.errors import ModelError, RebuildError

SETUP_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Rebuilt:
    vk: bytes
    model_digest: str  # of the model as compile stores it (empty trailing node inputs dropped)
    params_commitment: list[str] | None  # only for hashed weights


def _memory_limit() -> int:
    """Most of this machine's memory: setup needs far more than a proof check, but never all of it."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.8)
    except (ValueError, OSError, AttributeError):
        return 16 << 30


def _batch_size(settings: dict[str, Any]) -> int:
    variables = settings.get("run_args", {}).get("variables") or []
    return next((int(v) for name, v in variables if name == "batch_size"), 1)


def rebuild(model: Path, settings: dict[str, Any], srs_fingerprint: str, hashed_params: bool) -> Rebuilt:
    """The verifying key (and, for hashed weights, the weights commitment) `model` has under `settings`."""
    info = onnx_model.load(model, batch_size=_batch_size(settings))
    k = int(settings["run_args"]["logrows"])
    srs_info = srs.load(srs_fingerprint, k)  # SrsError naming the ceremony to import if missing
    with tempfile.TemporaryDirectory(prefix="zkinfer-rebuild-") as tmp:
        folder = Path(tmp)
        prepared = onnx_model.without_empty_trailing_inputs(model, folder / "model.onnx")  # as compile stores it
        (folder / "settings.json").write_text(json.dumps(settings))
        zero_input = None
        if hashed_params:  # any input gives the weights' commitment; zeros are always in range
            zero_input = folder / "input.json"
            zero_input.write_text(json.dumps(inputs.to_ezkl_data([[np.zeros(s.shape, np.float32) for s in info.inputs]])))
        request = {
            "model": str(prepared),
            "settings": str(folder / "settings.json"),
            "compiled": str(folder / "model.compiled"),
            "srs": str(srs_info.path),
            "vk": str(folder / "vk"),
            "pk": str(folder / "pk"),
            "input": None if zero_input is None else str(zero_input),
            "witness": str(folder / "witness.json"),
            "memory_bytes": _memory_limit(),
        }
        ok, reason = _ezkl_isolated.reproduce(request, SETUP_TIMEOUT_S)
        if not ok:
            raise RebuildError(f"{model}: does not compile and set up under the receipt's settings ({reason}), so it is not the receipt's circuit")
        commitment = None
        if hashed_params:
            commitment = _ezkl.witness_commitment(json.loads((folder / "witness.json").read_text()), "processed_params")
            if not commitment:
                raise ModelError(f"{model}: has no weights for the receipt's hashed weights to commit to, so it is not the receipt's model")
        return Rebuilt(vk=(folder / "vk").read_bytes(), model_digest=digest_file(prepared), params_commitment=commitment)
