"""The sub-steps as torch modules, for export to ONNX and compilation into referee circuits.

Each module computes exactly what `substeps` computes for one sub-step (the same clamp of exp's
argument, the same state layout), from one input vector — the step's agreed inputs laid end to end —
to the step's output vector, so a proof's public instances are [inputs ‖ output] in trace order:

- `Attend`: state (m ‖ d ‖ n) ‖ q ‖ k ‖ v → state' (no weights: one circuit serves every layer);
- `Post(layer)`: state ‖ h_{ℓ-1}[t] → h_ℓ[t] (the layer's weights are fixed in the circuit);
- `Pre(layer)`: h_{ℓ-1}[t] → q ‖ k ‖ v.

torch is imported here only (the torch extra).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from zkinfer.llm import substeps


def _tensor(array: Any) -> torch.Tensor:
    return torch.tensor(array, dtype=torch.float32)


class Attend(nn.Module):
    def __init__(self, heads: int, width: int) -> None:
        super().__init__()
        self.heads, self.width = heads, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.heads, self.width
        m, d = x[:, :h], x[:, h : 2 * h]
        n = x[:, 2 * h : 2 * h + w].reshape(-1, h, w // h)
        q, k, v = (x[:, 2 * h + w * i : 2 * h + w * (i + 1)].reshape(-1, h, w // h) for i in (1, 2, 3))
        score = (q * k).sum(dim=-1) * (1.0 / math.sqrt(w // h))
        top = torch.maximum(m, score)
        old = torch.exp(torch.clamp(m - top, min=substeps.EXP_FLOOR))
        new = torch.exp(torch.clamp(score - top, min=substeps.EXP_FLOOR))
        numerator = n * old.unsqueeze(-1) + new.unsqueeze(-1) * v
        return torch.cat([top, d * old + new, numerator.reshape(-1, w)], dim=-1)


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    centred = x - mean
    variance = (centred * centred).mean(dim=-1, keepdim=True)
    return centred / torch.sqrt(variance + substeps.LN_EPSILON) * weight + bias


class Pre(nn.Module):
    def __init__(self, layer: substeps.Layer) -> None:
        super().__init__()
        self.ln_weight, self.ln_bias = _tensor(layer.ln1_weight), _tensor(layer.ln1_bias)
        self.weight, self.bias = _tensor(layer.qkv_weight), _tensor(layer.qkv_bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return _layer_norm(hidden, self.ln_weight, self.ln_bias) @ self.weight + self.bias


class Post(nn.Module):
    def __init__(self, layer: substeps.Layer, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.proj_weight, self.proj_bias = _tensor(layer.proj_weight), _tensor(layer.proj_bias)
        self.ln_weight, self.ln_bias = _tensor(layer.ln2_weight), _tensor(layer.ln2_bias)
        self.fc_weight, self.fc_bias = _tensor(layer.fc_weight), _tensor(layer.fc_bias)
        self.out_weight, self.out_bias = _tensor(layer.out_weight), _tensor(layer.out_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.heads
        width = self.proj_weight.shape[0]
        d = x[:, h : 2 * h]
        n = x[:, 2 * h : 2 * h + width].reshape(-1, h, width // h)
        hidden = x[:, 2 * h + width :]
        attention = (n / d.unsqueeze(-1)).reshape(-1, width)
        y = hidden + attention @ self.proj_weight + self.proj_bias
        inner = _layer_norm(y, self.ln_weight, self.ln_bias) @ self.fc_weight + self.fc_bias
        gelu = 0.5 * inner * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (inner + 0.044715 * inner * inner * inner)))
        return y + gelu @ self.out_weight + self.out_bias
