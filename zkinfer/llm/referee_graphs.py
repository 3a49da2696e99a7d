"""The sub-steps as torch modules, for export to ONNX and compilation into referee circuits.

Each module computes exactly what `substeps` computes for one sub-step (the same clamp of exp's
argument, the same state layout), from one input vector — the step's agreed inputs laid end to end —
to the step's output vector, so a proof's public instances are [inputs ‖ output] in trace order:

- `Attend`: state (m ‖ d ‖ n) ‖ q ‖ k ‖ v → state' (no weights: one circuit serves every layer);
- `Pre(layer, head)`: h_{ℓ-1}[t] → q ‖ k ‖ v of one head (the layer's weights are fixed in the circuit, so
  one circuit per layer and head);
- `Post(layer, heads, part)`: d ‖ n ‖ h_{ℓ-1}[t] → one quarter (`part` of `heads`) of h_ℓ[t]: every
  value of the step's output needs all of the MLP's hidden values, so the cut is only in the output
  projection (a smaller circuit, k 17 instead of 18, and fewer public instances).

The challenger names the part (`referee.part_columns`), as it names the head of an attend step.

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


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, gain: float) -> torch.Tensor:
    """LayerNorm of gain · (x − mean) (the same, with epsilon times gain²): ezkl holds the variance and 1/σ at
    the input's scale 2^-12, so a layer whose inputs vary little (the embeddings: σ ~ 0.1) loses its
    variance to rounding unless the circuit scales them up (`dispute_referee` picks the gain)."""
    mean = x.mean(dim=-1, keepdim=True)
    centred = (x - mean) * gain
    variance = (centred * centred).mean(dim=-1, keepdim=True)
    return centred / torch.sqrt(variance + substeps.LN_EPSILON * gain * gain) * weight + bias


class Pre(nn.Module):
    def __init__(self, layer: substeps.Layer, columns: list[int], ln_gain: float = 1.0) -> None:
        super().__init__()
        self.ln_gain = ln_gain
        self.ln_weight, self.ln_bias = _tensor(layer.ln1_weight), _tensor(layer.ln1_bias)
        self.weight, self.bias = _tensor(layer.qkv_weight[:, columns]), _tensor(layer.qkv_bias[columns])

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return _layer_norm(hidden, self.ln_weight, self.ln_bias, self.ln_gain) @ self.weight + self.bias


class Post(nn.Module):
    def __init__(self, layer: substeps.Layer, heads: int, columns: slice, ln_gain: float = 1.0) -> None:
        super().__init__()
        self.heads, self.start, self.stop, self.ln_gain = heads, int(columns.start), int(columns.stop), ln_gain
        self.proj_weight, self.proj_bias = _tensor(layer.proj_weight), _tensor(layer.proj_bias)
        self.ln_weight, self.ln_bias = _tensor(layer.ln2_weight), _tensor(layer.ln2_bias)
        self.fc_weight, self.fc_bias = _tensor(layer.fc_weight), _tensor(layer.fc_bias)
        self.out_weight, self.out_bias = _tensor(layer.out_weight[:, columns]), _tensor(layer.out_bias[columns])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.heads
        width = self.proj_weight.shape[0]
        d = x[:, :h]
        n = x[:, h : h + width].reshape(-1, h, width // h)
        hidden = x[:, h + width :]
        attention = (n / d.unsqueeze(-1)).reshape(-1, width)
        y = hidden + attention @ self.proj_weight + self.proj_bias
        inner = _layer_norm(y, self.ln_weight, self.ln_bias, self.ln_gain) @ self.fc_weight + self.fc_bias
        argument = math.sqrt(2.0 / math.pi) * (inner + 0.044715 * inner * inner * inner)
        gelu = 0.5 * inner * (1.0 + torch.tanh(torch.clamp(argument, -substeps.TANH_BOUND, substeps.TANH_BOUND)))
        return y[:, self.start : self.stop] + gelu @ self.out_weight + self.out_bias
