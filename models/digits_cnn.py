"""Sample model 2: a small CNN on the 8x8 digits, input shape [1, 1, 8, 8] (pixels in [0, 1]).

Two unpadded 3x3 convolutions and one linear layer, no pooling: MaxPool costs many lookup rows in
ezkl and the 8x8 input needs no downsampling, so the circuit stays small.
`zkinfer export models.digits_cnn:build --example-input models/digits_cnn_input.json -o OUT.onnx`
exports the trained model (weights from the committed `digits_cnn.npz`, see `models/weights.py`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from models import weights

WEIGHTS = Path(__file__).with_name("digits_cnn.npz")
INPUT_SHAPE = (1, 1, 8, 8)


def architecture() -> torch.nn.Module:
    """The untrained network (seeded, so training starts from the same weights every time)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3),  # 8x8 -> 4x6x6
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, 8, 3),  # -> 8x4x4
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 10),
    )


def build() -> torch.nn.Module:
    """The trained CNN, ready to export."""
    return weights.load_into(architecture(), WEIGHTS)
