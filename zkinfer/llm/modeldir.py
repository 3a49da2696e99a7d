"""A Hugging Face model directory's identity: which files make the model, and one digest over them.

The digest covers every file that changes what the model computes or how text becomes token ids:
the config, the weights (safetensors), the generation config and the tokenizer's files. Notes such
as a README or training.json are not covered, so documenting a model does not change its digest.
No torch here: an auditor computes the digest to pin a model without loading it.
"""

from __future__ import annotations

from pathlib import Path

from zkinfer.core.crypto.digest import digest_file, digest_json
from zkinfer.core.support.errors import UsageError

DOMAIN = "zkinfer.llm-model/1"
# The files a causal-LM directory may hold that bear on its answers (whichever are present).
COVERED = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "added_tokens.json",
)


class ModelDirError(UsageError):
    """A model directory is missing, or lacks a config or safetensors weights."""


def covered_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ModelDirError(
            f"{directory}: no such model directory; give a Hugging Face causal-LM directory (config.json, "
            "*.safetensors, tokenizer files)"
        )
    weights = sorted(directory.glob("*.safetensors"))
    if not (directory / "config.json").is_file() or not weights:
        raise ModelDirError(
            f"{directory}: not a model directory with config.json and safetensors weights (e.g. models/llm/tiny-stdlib)"
        )
    return sorted([directory / name for name in COVERED if (directory / name).is_file()] + weights)


def file_digests(directory: Path) -> dict[str, str]:
    return {path.name: digest_file(path) for path in covered_files(directory)}


def model_digest(files: dict[str, str]) -> str:
    """The model's pin: the canonical JSON of its covered files' names and digests."""
    return digest_json({"domain": DOMAIN, "files": files})


def digest(directory: Path) -> str:
    return model_digest(file_digests(directory))
