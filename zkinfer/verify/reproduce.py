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

from zkinfer.core.crypto import srs
from zkinfer.core.crypto.digest import digest_bytes, digest_file
from zkinfer.core.formats import inputs
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.support.errors import ModelError, RebuildError
from zkinfer.core.zkp import ezkl_worker as _ezkl_isolated
from zkinfer.core.zkp import onnx_model
from zkinfer.core.zkp.ezkl_views import Settings, Witness
from zkinfer.verify.fields import CheckFailed

# The settings fields that decode the proof's field elements; ezkl derives them from the model and
# the run args, and the verifying key does not fix them.
DECODING_FIELDS = ("model_input_scales", "model_output_scales", "model_instance_shapes", "input_types", "output_types")


@dataclass(frozen=True)
class Rebuilt:
    vk: bytes
    model_digest: str  # of the model as compile stores it (empty trailing node inputs dropped)
    params_commitment: list[str] | None  # only for hashed weights
    decoding: dict[str, Any]  # DECODING_FIELDS as ezkl derives them from the model under the receipt's run args


def limits(logrows: int, columns: int) -> tuple[int, float]:
    """(address-space bytes, seconds) a rebuild of a 2^logrows-row circuit with `columns` inner
    columns may use: a setup's cost grows with both (a LeNet-5-size CNN, k=19 with 2 columns:
    61 s and 5.5 GB here), so a hostile receipt cannot buy more than its size says, and never
    more than 80 % of this machine's memory."""
    scale = (1 << logrows) * max(1.0, columns / 2)
    wanted = (2 << 30) + int(scale * (16 << 10))
    try:
        machine = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.8)
    except (ValueError, OSError, AttributeError):
        machine = 16 << 30
    return min(wanted, machine), 60.0 + scale * 0.0004


def rebuild(
    model: Path, view: Settings, srs_fingerprint: str, hashed_params: bool, logrows: int, columns: int
) -> Rebuilt:
    """The verifying key, decoding settings (and, for hashed weights, the weights commitment)
    `model` has under the settings `view`, whose `logrows` and `columns` the caller has bounded."""
    settings = view.raw
    info = onnx_model.load(model, batch_size=view.batch_size)
    srs_info = srs.load(srs_fingerprint, logrows)  # SrsError naming the ceremony to import if missing
    memory_bytes, timeout_s = limits(logrows, columns)
    with tempfile.TemporaryDirectory(prefix="zkinfer-rebuild-") as tmp:
        folder = Path(tmp)
        prepared = onnx_model.without_empty_trailing_inputs(model, folder / "model.onnx")  # as compile stores it
        (folder / "settings.json").write_text(json.dumps(settings))
        zero_input = None
        if hashed_params:  # any input gives the weights' commitment; zeros are always in range
            zero_input = folder / "input.json"
            zero_input.write_text(
                json.dumps(inputs.to_ezkl_data([[np.zeros(s.shape, np.float32) for s in info.inputs]]))
            )
        request = {
            "model": str(prepared),
            "settings": str(folder / "settings.json"),
            "derived_settings": str(folder / "derived.json"),
            "compiled": str(folder / "model.compiled"),
            "srs": str(srs_info.path),
            "vk": str(folder / "vk"),
            "pk": str(folder / "pk"),
            "input": None if zero_input is None else str(zero_input),
            "witness": str(folder / "witness.json"),
            "memory_bytes": memory_bytes,
        }
        ok, reason = _ezkl_isolated.reproduce(request, timeout_s)
        if not ok:
            raise RebuildError(
                f"{model}: does not compile and set up under the receipt's settings ({reason}), so it is not the "
                "receipt's circuit"
            )
        commitment = None
        if hashed_params:
            commitment = Witness.of(json.loads((folder / "witness.json").read_text())).params_commitment
            if not commitment:
                raise ModelError(
                    f"{model}: has no weights for the receipt's hashed weights to commit to, so it is not the "
                    "receipt's model"
                )
        derived = json.loads((folder / "derived.json").read_text())
        decoding = {key: derived.get(key) for key in DECODING_FIELDS}
        return Rebuilt(
            vk=(folder / "vk").read_bytes(),
            model_digest=digest_file(prepared),
            params_commitment=commitment,
            decoding=decoding,
        )


def check_model(receipt: Receipt, model: Path) -> str:
    """The auditor's own copy of the model is the one the proof is about: compiled with the
    receipt's run args and set up with its SRS ceremony, it gives the embedded verifying key
    (and, for hashed weights, the stated weights commitment), and ezkl derives from it the same
    settings that decode the proof's field elements (scales, shapes): the key alone does not fix
    those, so a node could otherwise restate the output at another scale."""
    view = receipt.model.settings_view
    logrows, columns = view.logrows, view.num_inner_cols  # bounded before ezkl is handed them
    hashed = receipt.params.visibility == "hashed"
    rebuilt = rebuild(model, view, receipt.srs.fingerprint, hashed_params=hashed, logrows=logrows, columns=columns)
    if rebuilt.vk != receipt.model.verifying_key:
        raise CheckFailed(
            f"{model} compiles, under the receipt's settings and SRS, to verifying key {digest_bytes(rebuilt.vk)}, "
            f"not the receipt's {receipt.model.vk_digest}: the proof is not about this model"
        )
    for key, derived in rebuilt.decoding.items():
        stated = view.stated(key)
        if stated != derived:
            raise CheckFailed(
                f"{model} under the receipt's run args has {key} {derived}, the receipt's settings state "
                f"{str(stated)[:80]}: the receipt misstates how to read the proof"
            )
    if hashed and [c.lower() for c in rebuilt.params_commitment or []] != [
        c.lower() for c in receipt.params.commitment or []
    ]:
        raise CheckFailed(
            f"{model}'s weights commit to {rebuilt.params_commitment}, the receipt states "
            f"{receipt.params.commitment}: the proof is about other weights"
        )
    what = "verifying key, settings and weights commitment" if hashed else "verifying key and settings"
    note = (
        ""
        if rebuilt.model_digest == receipt.model.model_digest
        else f" (its bytes differ from the stated model {receipt.model.model_digest}: "
        "same circuit and weights, another file)"
    )
    return f"{model} ({rebuilt.model_digest}) rebuilds the receipt's {what}: the proof is about this model{note}"
