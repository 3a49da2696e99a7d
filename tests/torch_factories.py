"""Small torch modules for the export tests (imported by `zkinfer export tests.torch_factories:NAME`)."""

from __future__ import annotations

from typing import Any


def tiny_mlp() -> Any:
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
