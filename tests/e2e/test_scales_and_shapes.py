"""The prover and the verifier agree on every shape and scale ezkl can produce (issue 18, item 10).

A new user's third-party models (ezkl's own examples) got honest receipts rejected: a ReduceMax to a
scalar (ezkl lists a rank-0 output's instance shape as [1]) and an int32 bit-shift model (ezkl folds
x << 2 into a scale of -2). The operator corpus proves such models (`tests/corpus.py`); here: the
command-line path a user takes, the prover's own check before it hands out a receipt, and the
compile warning for an output the circuit computes coarsely.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests import tiny
from tests.cli import zkinfer
from tests.corpus import case
from zkinfer import Prover, compile_model, verify_receipt
from zkinfer.core.support.errors import ProvingError
from zkinfer.core.zkp import instance_layout
from zkinfer.prover.compile import CoarseOutputWarning

pytestmark = pytest.mark.e2e  # compiles models and proves

DECOMPOSITION = (1024, 3)  # k=11 for these models: proofs in well under a second


def _bitshift(tmp_path: Path) -> tuple[Path, Path, list[np.ndarray]]:
    return case("int32_bitshift_negative_scales").write(tmp_path / "model")


def test_cli_prove_writes_only_receipts_that_verify(tmp_path: Path) -> None:
    """The review's path: compile an int32 bit-shift model (output scales -2 and -1), prove with
    `--executor local`, verify. The receipt states the negative scales and verifies."""
    model, calibration, sample = _bitshift(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoarseOutputWarning)
        circuit = compile_model(model, calibration, tmp_path / "circuit", decomposition=DECOMPOSITION)
    assert min(circuit.settings.output_scales) < 0
    (tmp_path / "input.json").write_text(json.dumps({"input_data": [a.ravel().tolist() for a in sample]}))

    proved = zkinfer(
        "prove",
        circuit.path,
        "--input",
        tmp_path / "input.json",
        "-o",
        tmp_path / "receipt.json",
        "--cpu",
        "--executor",
        "local",
    )
    assert proved.returncode == 0, proved.stderr
    verified = zkinfer("verify", tmp_path / "receipt.json", "--json")
    assert verified.returncode == 0, verified.stdout
    receipt = json.loads((tmp_path / "receipt.json").read_text())
    assert receipt["output"]["scales"] == circuit.settings.output_scales
    shifted_left = np.asarray(receipt["output"]["tensors"][0]["values"])  # x << 2, held at scale -2 (steps of 4): exact
    np.testing.assert_array_equal(shifted_left, sample[1].ravel() * 4)


def test_a_scalar_output_keeps_its_shape_in_the_receipt(tmp_path: Path) -> None:
    """The receipt states the model's own shape [] (what onnxruntime returns), the settings list [1]."""
    model, calibration, sample = case("reduce_max_to_scalar").write(tmp_path / "model")
    circuit = compile_model(model, calibration, tmp_path / "circuit", decomposition=DECOMPOSITION)
    assert circuit.settings.instance_shapes[-1] == [1]
    receipt = Prover(circuit, prefer_gpu=False).prove(sample)
    assert receipt.output.tensors[0].shape == [] and receipt.fast.tensors[0].shape == []
    assert verify_receipt(receipt).verified
    assert receipt.output.tensors[0].values == pytest.approx([float(sample[0].max())], abs=1e-3)

    doc = json.loads(
        receipt.model_dump_json()
    )  # a restated shape of another size still fails binding, naming the field
    doc["output"]["tensors"][0]["shape"] = [1, 1, 2]
    doc["fast"]["tensors"][0]["shape"] = [1, 1, 2]
    from zkinfer.verify.verifier import verify_document

    verdict = verify_document(doc, check_signature=False)
    assert "binding" in verdict.failed()
    assert "output.tensors[0].shape is [1, 1, 2]" in next(c.detail for c in verdict.checks if c.name == "binding")


def test_prove_never_hands_out_a_receipt_its_verifier_rejects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Should the verifier's rules and the prover ever disagree again, the prover finds out before
    anyone gets the receipt: it runs the verifier's statement checks on what it built (here: a
    verifier narrowed to scales within +-2 against a circuit at scales 3 and 4)."""
    model, calibration, sample = _bitshift(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoarseOutputWarning)
        circuit = compile_model(model, calibration, tmp_path / "circuit", decomposition=DECOMPOSITION)
    prover = Prover(circuit, prefer_gpu=False)
    assert verify_receipt(prover.prove(sample)).verified
    monkeypatch.setattr(instance_layout, "MAX_SCALE", 2)
    with pytest.raises(ProvingError, match=r"binding: field output.scales\[1\] = 3 is not a fixed-point scale"):
        prover.prove(sample)


def test_compile_warns_naming_each_coarse_output(tmp_path: Path) -> None:
    """Outputs the circuit gets far wrong against their range are named (the int32 Div onnxruntime
    rounds down and ezkl does not); the exact ones (x << 2, z << 1) are not."""
    model, calibration, _ = _bitshift(tmp_path)
    with pytest.warns(CoarseOutputWarning) as caught:
        compile_model(model, calibration, tmp_path / "circuit", decomposition=DECOMPOSITION)
    messages = [str(w.message) for w in caught if issubclass(w.category, CoarseOutputWarning)]
    assert [m.split("'")[1] for m in messages] == ["output_1", "output_3"]
    assert "more than rounding" in messages[0] and "integer Div" in messages[0]


def test_the_warning_says_how_to_get_a_finer_circuit_and_following_it_works(tmp_path: Path) -> None:
    """A float model compiled at input scale 2 is coarse: the CLI names the output and the scale to
    ask for; compiled at that scale (`--input-scale`), no warning."""
    tiny.mlp(tmp_path / "model.onnx")
    tiny.samples(tmp_path / "calibration.json", n=16, size=8)
    coarse = zkinfer(
        "compile",
        tmp_path / "model.onnx",
        "--data",
        tmp_path / "calibration.json",
        "-o",
        tmp_path / "coarse",
        "--no-search",
        "--no-setup",
        "--input-scale",
        "2",
    )
    assert coarse.returncode == 0, coarse.stderr
    text = " ".join((coarse.stdout + coarse.stderr).split())
    assert (
        "Traceback" not in text
        and "warning: output 'output' (#0)" in text
        and "input scale (this circuit's is 2)" in text
    )
    suggested = int(text.split("--input-scale ")[1].split("`")[0])
    assert suggested > 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", CoarseOutputWarning)
        compile_model(
            tmp_path / "model.onnx",
            tmp_path / "calibration.json",
            tmp_path / "finer",
            decomposition=DECOMPOSITION,
            input_scale=suggested,
        )


def _matmul_relu_max(path: Path) -> None:
    """x [1, 4] → MatMul → h → Relu → ReduceMax (keepdims=0) → a scalar: a split chain's last output of rank 0."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(4).normal(0, 0.5, (4, 4)).astype(np.float32), "w")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="matmul"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("ReduceMax", ["r"], ["y"], name="max_all", keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "matmul_relu_max",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_a_split_chain_ending_in_a_scalar_proves_and_verifies(tmp_path: Path) -> None:
    """The split prover checks its receipt as the verifier does too, and they agree on a rank-0 last output."""
    from zkinfer.prover import split
    from zkinfer.prover.prove import ChainProver as SplitProver
    from zkinfer.verify.verifier import verify_document

    _matmul_relu_max(tmp_path / "model.onnx")
    calibration = tiny.samples(tmp_path / "calibration.json", n=16, size=4)
    chain = split.compile_split(
        tmp_path / "model.onnx", calibration, tmp_path / "chain", cuts=["h"], search=False, decomposition=DECOMPOSITION
    )
    prover = SplitProver(chain.path, prefer_gpu=False)
    try:
        receipt = prover.prove([np.asarray([[0.2, 0.9, 0.4, 0.1]], np.float32)])
    finally:
        prover.close()
    assert receipt.output.tensors[0].shape == []
    verdict = verify_document(json.loads(receipt.model_dump_json()), check_signature=False)
    assert verdict.verified, [(c.name, c.detail) for c in verdict.checks if c.status == "fail"]
