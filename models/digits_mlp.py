"""Sample model 1: a 64-32-10 MLP on the 8x8 digits, input shape [1, 64] (pixels in [0, 1]).

`zkinfer export models.digits_mlp:build --example-input models/digits_mlp_input.json -o OUT.onnx`
exports the trained model (weights from the committed `digits_mlp.npz`, see `models/weights.py`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from models import weights

WEIGHTS = Path(__file__).with_name("digits_mlp.npz")
INPUT_SHAPE = (1, 64)


def architecture() -> torch.nn.Module:
    """The untrained network (seeded, so training starts from the same weights every time)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))


def build() -> torch.nn.Module:
    """The trained MLP, ready to export."""
    return weights.load_into(architecture(), WEIGHTS)
