"""Train both sample models and write every artifact under `models/` (run: `python -m models.train`).

Seeded, CPU only, one thread, full-batch Adam: a few seconds per model and the same weights on
every run with the same torch build. Writes, per model NAME (digits_mlp, digits_cnn):
  NAME.npz               trained weights, loaded by NAME.build()
  NAME.onnx              the trained model exported with zkinfer.prover.export (parity-checked)
  NAME_calibration.json  CALIBRATION_SAMPLES training samples laid end to end (ezkl style)
  NAME_input.json        one test-split sample (EXAMPLE_INDEX), shaped like the model's input
Then compile the circuits with `zkinfer compile` (see models/README.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models import digits, digits_cnn, digits_mlp, weights
from zkinfer.prover.export import export

HERE = Path(__file__).parent
STEPS = 400
LEARNING_RATE = 0.01
CALIBRATION_SAMPLES = 32
EXAMPLE_INDEX = 0  # the example input is X_test[EXAMPLE_INDEX]; its label is in models/README.md
MIN_MLP_ACCURACY = 0.9


@dataclass(frozen=True)
class Spec:
    name: str
    architecture: Callable[[], torch.nn.Module]
    build: Callable[[], torch.nn.Module]
    weights: Path
    input_shape: tuple[int, ...]


SPECS = (
    Spec("digits_mlp", digits_mlp.architecture, digits_mlp.build, digits_mlp.WEIGHTS, digits_mlp.INPUT_SHAPE),
    Spec("digits_cnn", digits_cnn.architecture, digits_cnn.build, digits_cnn.WEIGHTS, digits_cnn.INPUT_SHAPE),
)


def batch(x: np.ndarray, input_shape: tuple[int, ...]) -> torch.Tensor:
    """Rows of 64 pixels as a batch in the model's input layout."""
    return torch.from_numpy(x).reshape(len(x), *input_shape[1:])


def fit(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.nn.Module:
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(module.parameters(), lr=LEARNING_RATE)
    module.train()
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(module(x), y)
        loss.backward()
        optimizer.step()
    return module.eval()


def accuracy(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((module(x).argmax(dim=1) == y).float().mean())


def write_json(path: Path, document: object) -> None:
    path.write_text(json.dumps(document) + "\n")


def train_one(spec: Spec, split: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> float:
    """Train, save weights, export the trained `build()`, write calibration and example input."""
    x_train, x_test, y_train, y_test = split
    module = fit(spec.architecture(), batch(x_train, spec.input_shape), torch.from_numpy(y_train))
    weights.save(module, spec.weights)
    trained = spec.build()  # export what users get from build(), so the .npz round trip is covered
    test_accuracy = accuracy(trained, batch(x_test, spec.input_shape), torch.from_numpy(y_test))
    example = x_test[EXAMPLE_INDEX].reshape(spec.input_shape)
    report = export(trained, [example], HERE / f"{spec.name}.onnx")
    write_json(HERE / f"{spec.name}_calibration.json", {"input_data": [x_train[:CALIBRATION_SAMPLES].ravel().tolist()]})
    write_json(HERE / f"{spec.name}_input.json", {"input_data": [example.tolist()]})
    with torch.no_grad():
        predicted = int(trained(torch.from_numpy(example)).argmax())
    print(
        f"{spec.name}: test accuracy {test_accuracy:.4f}; exported {report.path.name} (parity "
        f"{report.max_abs_difference:.1e}); "
        f"example input X_test[{EXAMPLE_INDEX}] label {int(y_test[EXAMPLE_INDEX])}, predicted {predicted}"
    )
    return test_accuracy


def main() -> None:
    torch.set_num_threads(1)  # deterministic reductions, and polite on shared machines
    split = digits.load_split()
    accuracies = {spec.name: train_one(spec, split) for spec in SPECS}
    if accuracies["digits_mlp"] < MIN_MLP_ACCURACY:
        raise SystemExit(
            f"digits_mlp test accuracy {accuracies['digits_mlp']:.3f} is below {MIN_MLP_ACCURACY}: training regressed"
        )


if __name__ == "__main__":
    main()
