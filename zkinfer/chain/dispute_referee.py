"""The referee circuits of the sub-steps (one part of a step each: `referee`), built once (cached), and a step proven.

`attend` (one head: one circuit for every layer), `pre` (one head's q, k, v: one circuit per layer and
head) and `post` (a quarter of the output: one per layer and part), built from `zkinfer.llm.referee_graphs`
(torch export, the torch extra), compiled with the trace's scale as the input scale (2^-12: the proof's
public inputs are then exactly the committed integers) and calibrated on real steps of the model. The
post circuit spreads its dot products over POST_INNER_COLS columns, which brings it to k 17 (its tanh
table needs 2^17 rows; 2 columns need 157 k rows, k 18; 4 make its verifier 26,135 bytes, over EIP-170's
24,576). The compiled circuits and their keys are build artifacts under $ZKINFER_HOME/referee, never
committed. ezkl is reached through the adapter only.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from zkinfer.chain.claims import felt_int
from zkinfer.core.crypto.digest import digest_bytes, digest_file, digest_json
from zkinfer.core.formats.circuit import Circuit, load
from zkinfer.core.support import cache
from zkinfer.core.zkp import ezkl_adapter as _ezkl
from zkinfer.llm import referee, substeps, trace
from zkinfer.llm.trace_tree import FIELD_MODULUS

CALIBRATION_TOKENS = 24
CALIBRATION_STEPS = 16
POST_INNER_COLS = 3
# pre and post rescale sums of squares (LN's variance) and long dot products: with ezkl's 2 legs of 2^14 some
# real steps overflow the range check (witness fails), with 3 legs none of the ~1,900 pre and post steps measured did
DECOMPOSITION = (16384, 3)


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
    """The compiled one-head attend circuit for this head width (no weights: one for every layer and head)."""
    return circuit(weights, "attend", max_logrows=max_logrows)


def circuit(
    weights: substeps.Weights, kind: trace.Kind, layer: int = 0, part: int = 0, max_logrows: int | None = None
) -> Circuit:
    """The compiled referee circuit of one part of a `kind` step (`referee.part_values`) at `layer` (pre and
    post fix the layer's weights in the circuit), from the cache, else exported and compiled. `max_logrows`
    caps k (a small model's test: k 14 proves in seconds, its lookup tables over several columns); left
    out, ezkl picks k (17 for the bundled model's attend: one column for the exp table)."""
    from zkinfer.llm import referee_graphs
    from zkinfer.prover.compile import compile_model
    from zkinfer.prover.export import export

    key: dict[str, object] = {
        "kind": kind,
        "scale": substeps.SCALE_BITS,
        "graph": digest_file(Path(referee_graphs.__file__)),
        "ezkl": _ezkl.VERSION,
    }
    if max_logrows is not None:
        key["max_logrows"] = max_logrows
    inner_cols, decomposition, gain = None, None, 1.0
    samples, norm_inputs = _calibration(weights, kind, layer, part)
    # the calibration (real steps of this model) sets the circuit's ranges: two models never share a circuit
    # a node's cache built for the other (its verifying key would not be the one deployed for this model)
    key["calibration"] = digest_bytes(np.ascontiguousarray(samples).tobytes())
    if kind == "attend":
        module: Any = referee_graphs.Attend(1, weights.head_width)
        key.update(width=weights.head_width, floor=substeps.EXP_FLOOR)
    elif kind == "pre":
        gain = ln_gain(norm_inputs)
        module = referee_graphs.Pre(weights.layers[layer], referee.pre_columns(weights, part).tolist(), gain)
    elif kind == "post":
        gain = ln_gain(norm_inputs)
        module = referee_graphs.Post(weights.layers[layer], weights.heads, referee.post_columns(weights, part), gain)
        key.update(bound=substeps.TANH_BOUND, inner_cols=POST_INNER_COLS)
        inner_cols = POST_INNER_COLS
    else:
        raise ValueError(f"no referee circuit for {kind} steps")
    if kind != "attend":
        decomposition = DECOMPOSITION
        key.update(
            layer=layer, part=part, weights=_layer_digest(weights.layers[layer]), decomposition=decomposition, gain=gain
        )
    folder = cache.cache_dir("referee", cache.key_part(digest_json(key)))
    if (folder / "circuit" / "manifest.json").is_file():
        return load(folder / "circuit")
    with tempfile.TemporaryDirectory(prefix="zkinfer-referee-") as tmp:
        work = Path(tmp)
        export(module, [samples[:1]], work / "model.onnx")
        (work / "calibration.json").write_text(json.dumps({"input_data": [samples.reshape(-1).tolist()]}))
        compile_model(
            work / "model.onnx",
            work / "calibration.json",
            folder / "circuit",
            name=f"referee-{kind}" if kind == "attend" else f"referee-{kind}-{layer}-{part}",
            search=False,
            input_scale=substeps.SCALE_BITS,
            max_logrows=max_logrows,
            inner_cols=inner_cols,
            decomposition=decomposition,
        )
    return load(folder / "circuit")


def _layer_digest(layer: substeps.Layer) -> str:
    """The layer's weights (fixed in its pre and post circuits), as one digest: part of the cache key."""
    return digest_bytes(b"".join(np.ascontiguousarray(getattr(layer, f.name)).tobytes() for f in fields(layer)))


def ln_gain(rows: np.ndarray) -> float:
    """The power of two that brings the least spread LayerNorm input among `rows` to σ ≥ 1 (1 if it is already):
    the circuit normalizes gain · (x − mean), so its variance and 1/σ keep their precision at 2^-12."""
    spread = float(np.asarray(rows, dtype=np.float64).std(axis=-1).min())
    return float(2.0 ** max(0, math.floor(-math.log2(spread)))) if spread > 0 else 1.0


def _calibration(weights: substeps.Weights, kind: trace.Kind, layer: int, part: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs of real steps of this kind (a fixed token sequence; attend: steps across layers, keys, heads),
    and the LayerNorm's input of each (pre: h_{ℓ-1}[t]; post: the attention residual; attend: none)."""
    tokens = [
        int(x) for x in np.random.default_rng(1).integers(1, weights.token_embedding.shape[0], CALIBRATION_TOKENS)
    ]
    computed = trace.compute(weights, tokens)
    rng = np.random.default_rng(2)
    rows, norm_inputs = [], []
    for _ in range(CALIBRATION_STEPS):
        t = int(rng.integers(0, CALIBRATION_TOKENS))
        if kind == "attend":
            step = trace.Step("attend", t, int(rng.integers(0, len(weights.layers))), int(rng.integers(0, t + 1)))
            part = int(rng.integers(0, weights.heads))
        else:
            step = trace.Step(kind, t, layer)
        rows.append(referee.circuit_inputs(computed, weights, step, part))
    if kind == "pre":
        norm_inputs = [substeps.dequantize(row) for row in rows]
    elif kind == "post":
        hidden, state = (
            np.stack(rows)[:, weights.state_width - weights.heads :],
            np.stack(rows)[:, : weights.width + weights.heads],
        )
        full = np.concatenate([np.zeros((len(rows), weights.heads), dtype=np.int64), state], axis=1)
        norm_inputs = list(substeps.attention_residual(weights.layers[layer], weights.heads, full, hidden))
    return substeps.dequantize(np.stack(rows)).astype(np.float32), np.array(norm_inputs)


def step_outputs(circuit: Circuit, inputs: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """What the circuit computes from these inputs (ezkl's witness, no proof): the integers and their felts."""
    with tempfile.TemporaryDirectory(prefix="zkinfer-referee-witness-") as tmp:
        work = Path(tmp)
        (work / "input.json").write_text(json.dumps({"input_data": [substeps.dequantize(inputs).tolist()]}))
        witness = _ezkl.gen_witness(work / "input.json", circuit.compiled_path, work / "witness.json")
        outputs = substeps.quantize(_ezkl.witness_outputs(witness, circuit.settings.output_scales)[0])
    return outputs, [int(v) % FIELD_MODULUS for v in outputs.tolist()]


def prove_step(circuit: Circuit, inputs: np.ndarray) -> Proven:
    """A proof of a referee circuit on these integer inputs (`referee.circuit_inputs`)."""
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
