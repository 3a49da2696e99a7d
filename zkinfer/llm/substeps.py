"""A GPT-2 block cut into sub-steps small enough for a referee circuit, in numpy, re-anchored in fixed point.

A dispute over an answer bisects to one sub-step and a circuit recomputes only that one, so each sub-step
must read few values and write few values. Per layer ℓ and position t the trace holds:

- `embed` (t, once, before layer 0): the token's embedding plus the position's, each rounded to the grid
  first, → h₋₁[t] (128 values): round(wte[token]·2^12) + round(wpe[t]·2^12), an integer sum the dispute
  contract checks exactly against the weights' Merkle root (`weights_tree`), no circuit;
- `pre` (ℓ, t): LN1 and the QKV projection of h_{ℓ-1}[t] → q_t, k_t, v_t (3 × 128 values);
- `attend` (ℓ, t, j) for j = 0 … t: one online-softmax update with (q_t, k_j, v_j) of the state
  (running max m, denominator d per head, unnormalized numerator n per head: 4 + 4 + 128 values),
  starting from `initial_state` (m = M0, d = 0, n = 0); exp's argument is clamped at EXP_FLOOR, which
  bounds the referee circuit's lookup table and changes a weight by less than exp(-10);
- `post` (ℓ, t): n / d, the output projection, the residual, LN2, the MLP, the residual → h_ℓ[t] (128 values);
  GELU's tanh argument is clamped at ±TANH_BOUND, which bounds that circuit's lookup table (and changes
  nothing a grid step can show).

Every sub-step's output is rounded to the fixed-point grid 2^-SCALE_BITS and the *rounded* values are what
later sub-steps read (re-anchoring): two honest parties compute each sub-step from the same integers, so
they agree on the next integers unless a value falls within float64 noise (~1e-16 relative) of a rounding
boundary. The arithmetic is float64 on the model's float32 weights: float32's own rounding (~6e-8 relative,
and summation order differs between thread counts) would put values near a grid boundary far more often
than float64's (not measured here; 1 and 2 threads give the same root in the tests).

numpy only (the weights through safetensors): the auditor re-executes without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCALE_BITS = 12  # the fixed-point grid of every committed value: integer = round(value · 2^SCALE_BITS)
M0 = -1024.0  # the running max before any key: below every score, so the first key's weight is exp(0) = 1
EXP_FLOOR = -10.0  # exp's argument is clamped here (exp(-10) < half a grid step): the circuit's lookup range
# GELU's tanh argument is clamped to ±TANH_BOUND (GELU moves < 1/50 of a grid step for |x| ≤ 30): without it
# the argument (a cube) spans [-36, 7] on real steps and the post circuit's tanh table alone needs k 18
TANH_BOUND = 8.0
LN_EPSILON = 1e-5


@dataclass(frozen=True)
class Layer:
    """One transformer block's weights (float64 copies of the float32 tensors)."""

    ln1_weight: np.ndarray
    ln1_bias: np.ndarray
    qkv_weight: np.ndarray  # [d, 3d] (GPT-2's Conv1D: x @ W)
    qkv_bias: np.ndarray
    proj_weight: np.ndarray  # [d, d]
    proj_bias: np.ndarray
    ln2_weight: np.ndarray
    ln2_bias: np.ndarray
    fc_weight: np.ndarray  # [d, 4d]
    fc_bias: np.ndarray
    out_weight: np.ndarray  # [4d, d]
    out_bias: np.ndarray


@dataclass(frozen=True)
class Weights:
    heads: int
    token_embedding: np.ndarray  # [vocab, d]
    position_embedding: np.ndarray  # [positions, d]
    layers: tuple[Layer, ...]
    final_norm_weight: np.ndarray  # ln_f: the last hidden state's norm before the (tied) LM head
    final_norm_bias: np.ndarray

    @property
    def width(self) -> int:
        return int(self.token_embedding.shape[1])

    @property
    def head_width(self) -> int:
        return self.width // self.heads

    @property
    def state_width(self) -> int:
        return 2 * self.heads + self.width


def load(directory: Path) -> Weights:
    """The GPT-2 weights of a model directory (config.json + model.safetensors)."""
    import json

    from safetensors.numpy import load_file

    config = json.loads((directory / "config.json").read_text())
    if config.get("model_type") != "gpt2":
        raise ValueError(f"{directory}: sub-step traces cover GPT-2 models, not {config.get('model_type')!r}")
    tensors = load_file(str(directory / "model.safetensors"))

    def get(name: str) -> np.ndarray:
        return tensors[f"transformer.{name}"].astype(np.float64)

    layers = tuple(Layer(*(get(f"h.{i}.{name}") for name in _LAYER_TENSORS)) for i in range(int(config["n_layer"])))
    return Weights(
        int(config["n_head"]), get("wte.weight"), get("wpe.weight"), layers, get("ln_f.weight"), get("ln_f.bias")
    )


_LAYER_TENSORS = (
    "ln_1.weight",
    "ln_1.bias",
    "attn.c_attn.weight",
    "attn.c_attn.bias",
    "attn.c_proj.weight",
    "attn.c_proj.bias",
    "ln_2.weight",
    "ln_2.bias",
    "mlp.c_fc.weight",
    "mlp.c_fc.bias",
    "mlp.c_proj.weight",
    "mlp.c_proj.bias",
)


def quantize(values: np.ndarray) -> np.ndarray:
    """float → the committed integers (round half to even, as numpy's rint)."""
    return np.rint(np.asarray(values, dtype=np.float64) * (1 << SCALE_BITS)).astype(np.int64)


def dequantize(integers: np.ndarray) -> np.ndarray:
    return np.asarray(integers, dtype=np.float64) / (1 << SCALE_BITS)


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    result: np.ndarray = (x - mean) / np.sqrt(variance + LN_EPSILON) * weight + bias
    return result


def gelu_new(x: np.ndarray) -> np.ndarray:
    """GPT-2's tanh approximation of GELU (tanh's argument clamped to ±TANH_BOUND)."""
    argument = np.clip(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3), -TANH_BOUND, TANH_BOUND)
    result: np.ndarray = 0.5 * x * (1.0 + np.tanh(argument))
    return result


# The sub-steps: integers in, floats out (the caller quantizes). Each works on any leading batch shape.


def embed(weights: Weights, tokens: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The two embedding rows each rounded to the grid, then added: on the grid already (quantize is exact)."""
    integers = quantize(weights.token_embedding[tokens]) + quantize(weights.position_embedding[positions])
    return dequantize(integers)


def pre(layer: Layer, hidden: np.ndarray) -> np.ndarray:
    """h_{ℓ-1}[t] → q ‖ k ‖ v."""
    result: np.ndarray = (
        layer_norm(dequantize(hidden), layer.ln1_weight, layer.ln1_bias) @ layer.qkv_weight + layer.qkv_bias
    )
    return result


def initial_state(weights: Weights, batch: tuple[int, ...] = ()) -> np.ndarray:
    state = np.zeros((*batch, weights.state_width), dtype=np.int64)
    state[..., : weights.heads] = quantize(np.array(M0))
    return state


def attend(heads: int, state: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """One online-softmax update: state (m ‖ d ‖ n) with the score q·k/√width and value v of one key."""
    m, d, n = (dequantize(part) for part in split_state(heads, state))
    qh, kh, vh = (dequantize(x).reshape(*x.shape[:-1], heads, -1) for x in (q, k, v))
    score = (qh * kh).sum(axis=-1) / np.sqrt(qh.shape[-1])
    top = np.maximum(m, score)
    old, new = np.exp(np.maximum(m - top, EXP_FLOOR)), np.exp(np.maximum(score - top, EXP_FLOOR))
    numerator = n.reshape(*n.shape[:-1], heads, -1) * old[..., None] + new[..., None] * vh
    return np.concatenate([top, d * old + new, numerator.reshape(*numerator.shape[:-2], -1)], axis=-1)


def split_state(heads: int, state: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return state[..., :heads], state[..., heads : 2 * heads], state[..., 2 * heads :]


def post(layer: Layer, heads: int, state: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """The attention output n / d → projection, residual, LN2, MLP, residual → h_ℓ[t]."""
    x = attention_residual(layer, heads, state, hidden)
    inner = gelu_new(layer_norm(x, layer.ln2_weight, layer.ln2_bias) @ layer.fc_weight + layer.fc_bias)
    result: np.ndarray = x + inner @ layer.out_weight + layer.out_bias
    return result


def attention_residual(layer: Layer, heads: int, state: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """`post`'s first half: h_{ℓ-1}[t] + the projected attention output n / d (LN2's input)."""
    _, d, n = (dequantize(part) for part in split_state(heads, state))
    attention = (n.reshape(*n.shape[:-1], heads, -1) / d[..., None]).reshape(n.shape)
    result: np.ndarray = dequantize(hidden) + attention @ layer.proj_weight + layer.proj_bias
    return result
