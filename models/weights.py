"""Trained weights as a small committed `.npz` beside each model definition.

Why: `build()` must return the *trained* model so `zkinfer export models.digits_mlp:build ...`
reproduces the committed ONNX, yet importing a model must not retrain it (seconds of CPU, and
bit-exact only on the same torch build). So `python -m models.train` trains once and saves the
state dict here; `build()` loads it. A plain `.npz` (no pickle) is safe to load and diffable in size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from zkinfer.core.support.errors import ExportError


def save(module: torch.nn.Module, path: Path) -> None:
    """Write `module`'s state dict as float32 arrays."""
    arrays = {name: tensor.detach().cpu().numpy().astype(np.float32) for name, tensor in module.state_dict().items()}
    with open(path, "wb") as f:  # a file object: np.savez would otherwise append ".npz" to odd names
        np.savez(f, **arrays)


def load_into(module: Any, path: Path) -> Any:
    """Load the weights at `path` into `module` (same architecture) and return it in eval mode."""
    if not path.is_file():
        raise ExportError(f"{path}: no trained weights; train the sample models with `python -m models.train`")
    with np.load(path, allow_pickle=False) as data:
        state = {name: torch.from_numpy(data[name]) for name in data.files}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ExportError(
            f"{path}: weights do not fit the model definition ({exc}); retrain with `python -m models.train`"
        ) from exc
    return module.eval()
