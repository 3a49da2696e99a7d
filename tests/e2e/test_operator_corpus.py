"""The operator corpus (after ezkl's `examples/onnx/`): any ONNX model a user brings, not only ours.

Each supported case is compiled, proven and verified for real, and its proven output is checked
against onnxruntime on an input the calibration never saw. The rule: every honest receipt of the
corpus verifies (zero false rejections, whatever shapes and scales ezkl picks: rank-0 outputs,
size-1 dims, negative scales, several outputs of different ranks), and compile warns about exactly
the outputs a case lists as coarse. Unsupported operators must fail at compile time with a typed
error naming the node (or the operation), and the CLI with exit code 2.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.cli import zkinfer
from tests.corpus import CASES, UNSUPPORTED, Case, case
from zkinfer import Prover, Visibility, compile_model, verify_receipt
from zkinfer.core.support.errors import ModelError, UnsupportedOperatorError
from zkinfer.prover.compile import CoarseOutputWarning
from zkinfer.prover.runtime import FastSession, open_session

pytestmark = pytest.mark.e2e  # compiles models and proves: not in the quick loop

# The proven output may differ from the float one by a few quantization steps of its scale (2^-scale)
# per unit of magnitude: rounding at each fixed-point op and the lookup tables of non-linearities.
TOLERANCE_STEPS = 16
# A narrower decomposition than ezkl's default: same fidelity, 2^10 rows instead of 2^15 for most
# cases, so setting up keys takes a second instead of ~15 s and the corpus runs in the default suite.
DECOMPOSITION = (1024, 3)


def tolerance(scale: int, expected: np.ndarray) -> float:
    return TOLERANCE_STEPS * 2.0**-scale * max(1.0, float(np.abs(expected).max()))


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.slow else []) for c in CASES]
)
def test_model_proves_verifies_and_matches_onnxruntime(case: Case, tmp_path: Path) -> None:
    model, calibration, sample = case.write(tmp_path)
    assert set(case.ops) <= {node.op_type for node in onnx.load(str(model)).graph.node}, (
        "the export lost the operator under test"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CoarseOutputWarning)
        circuit = compile_model(model, calibration, tmp_path / "circuit", decomposition=DECOMPOSITION)
    assert [tuple(t.shape) for t in circuit.manifest.inputs] == [s.shape for s in sample]
    warned = [
        re.match(r"output '([^']*)'", str(w.message)) for w in caught if issubclass(w.category, CoarseOutputWarning)
    ]
    assert [m.group(1) for m in warned if m] == list(case.coarse), [str(w.message) for w in caught]

    # every honest receipt of the corpus verifies: zero false rejections, whatever shapes and scales ezkl chose
    receipt = Prover(circuit, prefer_gpu=False).prove(sample)
    verdict = verify_receipt(receipt)
    assert verdict.verified, [c for c in verdict.checks if c.status == "fail"]

    assert receipt.fast.provider == (case.provider or "CPUExecutionProvider")
    want = open_session(model, prefer_gpu=False).run(
        sample
    )  # onnxruntime (or the reference evaluator) on the user's own file
    assert len(receipt.output.tensors) == len(want)
    for tensor, expected, scale in zip(receipt.output.tensors, want, receipt.output.scales, strict=True):
        assert tensor.shape == list(expected.shape), tensor.name
        got = np.asarray(tensor.values).reshape(expected.shape)
        assert float(np.max(np.abs(got - expected))) <= tolerance(scale, expected), (tensor.name, got, expected)


def _unsupported(tmp_path: Path, name: str) -> tuple[Path, Path, tuple[str, ...]]:
    build, shape, needles = UNSUPPORTED[name]
    model = tmp_path / f"{name}.onnx"
    build(model)
    calibration = tmp_path / "calibration.json"
    calibration.write_text(json.dumps({"input_data": [np.linspace(0.1, 0.9, int(np.prod(shape))).tolist()]}))
    return model, calibration, needles


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_operator_is_named(name: str, tmp_path: Path) -> None:
    model, calibration, needles = _unsupported(tmp_path, name)
    with pytest.raises(ModelError) as caught:
        compile_model(model, calibration, tmp_path / "circuit", search=False)
    message = str(caught.value)
    assert str(model) in message
    for needle in needles:
        assert needle in message, message
    assert not (tmp_path / "circuit" / "manifest.json").exists()


def test_unsupported_operator_is_its_own_error_type(tmp_path: Path) -> None:
    model, calibration, _ = _unsupported(tmp_path, "det")
    with pytest.raises(UnsupportedOperatorError, match="node 'my_det_node' uses Det"):
        compile_model(model, calibration, tmp_path / "circuit", search=False)


def test_cli_names_the_unsupported_node(tmp_path: Path) -> None:
    model, calibration, _ = _unsupported(tmp_path, "det")
    result = zkinfer("compile", model, "--data", calibration, "-o", tmp_path / "circuit", "--no-search", "--no-setup")
    assert result.returncode == 2, (result.stdout, result.stderr)
    text = " ".join(result.stderr.split())
    assert "Traceback" not in text
    assert "my_det_node" in text and "Det" in text and model.name in text


def test_cli_proves_and_verifies_a_two_input_two_output_model(tmp_path: Path) -> None:
    """The command-line path with several inputs (one list each in `input_data`) and outputs."""
    model, calibration, (a, b) = case("two_in_two_out").write(tmp_path)
    compile_model(model, calibration, tmp_path / "circuit", decomposition=DECOMPOSITION)
    (tmp_path / "input.json").write_text(json.dumps({"input_data": [a.ravel().tolist(), b.ravel().tolist()]}))

    proved = zkinfer(
        "prove", tmp_path / "circuit", "--input", tmp_path / "input.json", "-o", tmp_path / "receipt.json", "--cpu"
    )
    assert proved.returncode == 0, proved.stderr
    verified = zkinfer("verify", tmp_path / "receipt.json", "--json")
    assert verified.returncode == 0, verified.stdout
    assert json.loads(verified.stdout)["verified"] is True

    outputs = json.loads((tmp_path / "receipt.json").read_text())["output"]["tensors"]
    assert [t["name"] for t in outputs] == ["y0", "y1"]
    np.testing.assert_allclose(outputs[0]["values"], (a * b).ravel(), atol=1e-2)
    np.testing.assert_allclose(outputs[1]["values"], (a - b).ravel(), atol=1e-2)


def test_index_out_of_range_is_an_input_error(tmp_path: Path) -> None:
    """A value the model cannot take (an index past the end) is the caller's error, named, not a crash."""
    model, calibration, _ = case("gather_index_input").write(tmp_path)
    circuit = compile_model(model, calibration, tmp_path / "circuit", decomposition=DECOMPOSITION)
    (tmp_path / "input.json").write_text(json.dumps({"input_data": [[0.5] * 6, [1, 9]]}))
    result = zkinfer(
        "prove", circuit.path, "--input", tmp_path / "input.json", "-o", tmp_path / "receipt.json", "--cpu"
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    text = " ".join(result.stderr.split())
    assert "Traceback" not in text and "indices" in text and "out of" in text
    assert not (tmp_path / "receipt.json").exists()


def test_hashed_weights_on_a_weightless_model_is_refused_at_compile(tmp_path: Path) -> None:
    """Committing to the weights of a model that has none would fail at every proof: say so up front."""
    model, calibration, _ = case("two_in_two_out").write(tmp_path)
    with pytest.raises(ModelError, match="no weights"):
        compile_model(
            model,
            calibration,
            tmp_path / "circuit",
            decomposition=DECOMPOSITION,
            visibility=Visibility(params="hashed"),
        )
    assert not (tmp_path / "circuit" / "manifest.json").exists()


def test_symbolic_batch_axis_compiles_for_a_larger_batch(tmp_path: Path) -> None:
    """A model whose batch axis is the symbol 'N' proves a batch of 2 when compiled for one."""
    model, calibration, _ = case("symbolic_batch_N").write(tmp_path)
    circuit = compile_model(model, calibration, tmp_path / "circuit", decomposition=DECOMPOSITION, batch_size=2)
    assert [t.shape for t in circuit.manifest.inputs] == [[2, 4]] and [t.shape for t in circuit.manifest.outputs] == [
        [2, 3]
    ]
    batch = [np.random.default_rng(5).uniform(-1, 1, (2, 4)).astype(np.float32)]
    receipt = Prover(circuit, prefer_gpu=False).prove(batch)
    assert verify_receipt(receipt).verified
    want = FastSession(model, prefer_gpu=False).run(batch)[0]
    np.testing.assert_allclose(
        np.asarray(receipt.output.tensors[0].values).reshape(2, 3), want, atol=tolerance(receipt.output.scales[0], want)
    )


def test_onnxruntime_refuses_the_int8_matmul_model(tmp_path: Path) -> None:
    """The corpus case above is one onnxruntime will not load; zkinfer proves it all the same."""
    from tests.corpus import int8_matmul_opset10

    int8_matmul_opset10(tmp_path / "model.onnx")
    with pytest.raises(ModelError, match="INVALID_GRAPH"):
        FastSession(tmp_path / "model.onnx", prefer_gpu=False)


def test_a_scalar_input_is_refused_at_compile_naming_it(tmp_path: Path) -> None:
    """ezkl 23 cannot take a rank-0 input (its calibration fails with "incorrect dtype or shape"):
    compile says which input and what to do instead of passing ezkl's words on."""
    from tests.corpus import scalar_in_scalar_out

    scalar_in_scalar_out(tmp_path / "model.onnx")
    (tmp_path / "calibration.json").write_text(json.dumps({"input_data": [[0.5, -0.25, 0.75]]}))
    with pytest.raises(ModelError, match=r"input 'x' is a scalar \(rank 0\).*shape \[1\]"):
        compile_model(
            tmp_path / "model.onnx", tmp_path / "calibration.json", tmp_path / "circuit", decomposition=DECOMPOSITION
        )
    assert not (tmp_path / "circuit" / "manifest.json").exists()
