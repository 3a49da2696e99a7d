"""A tiny GPT-2 with random weights (d 16, 2 heads, 2 layers, vocab 64), written in the layout `substeps.load`
reads, for the dispute game where a real referee proof must take seconds: its attend circuit (head width 8)
compiles at k ≤ 15. Used by `tests/e2e/test_llm_dispute_tiny.py`, `notebooks/06_disputes.ipynb` and
`benchmarks/bench_dispute_random.py`; the same seed gives the same weights and calibration, so they share one
cached attend circuit (its cache key holds the calibration: two models never share a circuit).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WIDTH, HEADS, LAYERS, VOCAB, POSITIONS = 16, 2, 2, 64, 32
MAX_LOGROWS = 15  # k 14 needs 6 columns for the exp table: its verifier passes the 24 KiB code limit


def write_tiny_gpt2(folder: Path, seed: int = 3) -> Path:
    """config.json + model.safetensors in the layout `substeps.load` reads (GPT-2's tensor names)."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    d = WIDTH

    def normal(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    tensors = {"transformer.wte.weight": normal(VOCAB, d), "transformer.wpe.weight": normal(POSITIONS, d)}
    tensors["transformer.ln_f.weight"] = 1 + normal(d, scale=0.1)
    tensors["transformer.ln_f.bias"] = normal(d, scale=0.1)
    for i in range(LAYERS):
        shapes = {
            "ln_1.weight": (d,),
            "ln_1.bias": (d,),
            "attn.c_attn.weight": (d, 3 * d),
            "attn.c_attn.bias": (3 * d,),
            "attn.c_proj.weight": (d, d),
            "attn.c_proj.bias": (d,),
            "ln_2.weight": (d,),
            "ln_2.bias": (d,),
            "mlp.c_fc.weight": (d, 4 * d),
            "mlp.c_fc.bias": (4 * d,),
            "mlp.c_proj.weight": (4 * d, d),
            "mlp.c_proj.bias": (d,),
        }
        for name, shape in shapes.items():
            value = (
                1 + normal(*shape, scale=0.1)
                if name.endswith("ln_1.weight") or name.endswith("ln_2.weight")
                else normal(*shape)
            )
            tensors[f"transformer.h.{i}.{name}"] = value
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "model.safetensors"))
    config = {"model_type": "gpt2", "n_layer": LAYERS, "n_head": HEADS, "n_embd": d, "vocab_size": VOCAB}
    (folder / "config.json").write_text(json.dumps({**config, "n_positions": POSITIONS}))
    return folder
