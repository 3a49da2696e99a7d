"""The referee circuit of the `attend` sub-step (one head): built once per head shape (cached), and a step proven.

Built from `zkinfer.llm.referee_graphs.Attend` (torch export, the torch extra), compiled with the trace's
scale as the input scale (2^-12: the proof's public inputs are then exactly the committed integers) and
calibrated on real attend steps of the model. The compiled circuit and its keys are build artifacts under
$ZKINFER_HOME/referee, never committed. ezkl is reached through the adapter only.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zkinfer.chain.claims import felt_int
from zkinfer.core.crypto.digest import digest_file, digest_json
from zkinfer.core.formats.circuit import Circuit, load
from zkinfer.core.support import cache
from zkinfer.core.zkp import ezkl_adapter as _ezkl
from zkinfer.llm import referee, substeps, trace
from zkinfer.llm.trace_tree import FIELD_MODULUS

CALIBRATION_TOKENS = 24
CALIBRATION_STEPS = 16


@dataclass(frozen=True)
class Proven:
    proof: bytes
    instances: list[int]  # field elements: inputs ‖ outputs
    outputs: np.ndarray  # the circuit's output as integers at the trace's scale
    seconds: float

    @property
    def output_felts(self) -> list[int]:
        """The public outputs as the contract takes them (it lays out the inputs itself)."""
        return self.instances[-len(self.outputs) :]


def attend_circuit(weights: substeps.Weights, max_logrows: int | None = None) -> Circuit:
    """The compiled one-head attend circuit for this head width (from the cache, else exported and compiled).
    `max_logrows` caps k (a small model's test: k 14 proves in seconds, its exp table over several
    columns); left out, ezkl picks k (17 for the bundled model: one column for the exp table)."""
    from zkinfer.llm import referee_graphs
    from zkinfer.prover.compile import compile_model
    from zkinfer.prover.export import export

    shape = {
        "kind": "attend",
        "width": weights.head_width,
        "scale": substeps.SCALE_BITS,
        "floor": substeps.EXP_FLOOR,
        "graph": digest_file(Path(referee_graphs.__file__)),
        "ezkl": _ezkl.VERSION,
    }
    key = digest_json(shape if max_logrows is None else {**shape, "max_logrows": max_logrows})
    folder = cache.cache_dir("referee", cache.key_part(key))
    if (folder / "circuit" / "manifest.json").is_file():
        return load(folder / "circuit")
    samples = _calibration(weights)
    with tempfile.TemporaryDirectory(prefix="zkinfer-referee-") as tmp:
        work = Path(tmp)
        export(referee_graphs.Attend(1, weights.head_width), [samples[:1]], work / "model.onnx")
        (work / "calibration.json").write_text(json.dumps({"input_data": [samples.reshape(-1).tolist()]}))
        compile_model(
            work / "model.onnx",
            work / "calibration.json",
            folder / "circuit",
            name="referee-attend",
            search=False,
            input_scale=substeps.SCALE_BITS,
            max_logrows=max_logrows,
        )
    return load(folder / "circuit")


def _calibration(weights: substeps.Weights) -> np.ndarray:
    """Inputs of real attend steps (a fixed token sequence, steps across layers and keys)."""
    tokens = [
        int(x) for x in np.random.default_rng(1).integers(1, weights.token_embedding.shape[0], CALIBRATION_TOKENS)
    ]
    computed = trace.compute(weights, tokens)
    rng = np.random.default_rng(2)
    rows = []
    for _ in range(CALIBRATION_STEPS):
        t = int(rng.integers(0, CALIBRATION_TOKENS))
        step = trace.Step("attend", t, int(rng.integers(0, len(weights.layers))), int(rng.integers(0, t + 1)))
        head = int(rng.integers(0, weights.heads))
        rows.append(substeps.dequantize(referee.attend_instances(computed, weights, step, head)))
    return np.stack(rows).astype(np.float32)


def attend_outputs(circuit: Circuit, inputs: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """What the circuit computes from these inputs (ezkl's witness, no proof): the integers and their felts."""
    with tempfile.TemporaryDirectory(prefix="zkinfer-referee-witness-") as tmp:
        work = Path(tmp)
        (work / "input.json").write_text(json.dumps({"input_data": [substeps.dequantize(inputs).tolist()]}))
        witness = _ezkl.gen_witness(work / "input.json", circuit.compiled_path, work / "witness.json")
        outputs = substeps.quantize(_ezkl.witness_outputs(witness, circuit.settings.output_scales)[0])
    return outputs, [int(v) % FIELD_MODULUS for v in outputs.tolist()]


def prove_attend(circuit: Circuit, inputs: np.ndarray) -> Proven:
    """A proof of one head's attend update on these integer inputs (m, d, n ‖ q ‖ k ‖ v)."""
    import time

    from zkinfer.prover.keys import ensure

    keys = ensure(circuit)
    with tempfile.TemporaryDirectory(prefix="zkinfer-referee-prove-") as tmp:
        work = Path(tmp)
        (work / "input.json").write_text(json.dumps({"input_data": [substeps.dequantize(inputs).tolist()]}))
        witness = _ezkl.gen_witness(work / "input.json", circuit.compiled_path, work / "witness.json")
        outputs = substeps.quantize(_ezkl.witness_outputs(witness, circuit.settings.output_scales)[0])
        started = time.perf_counter()
        _ezkl.prove(work / "witness.json", circuit.compiled_path, keys.pk, work / "proof.json", keys.srs.path)
        seconds = time.perf_counter() - started
        document = json.loads((work / "proof.json").read_text())
    instances = [felt_int(f) for f in document["instances"][0]]
    return Proven(bytes.fromhex(document["hex_proof"].removeprefix("0x")), instances, outputs, seconds)
