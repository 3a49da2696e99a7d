"""The bundled language model: small enough to commit, trained reproducibly by models/llm/train.py."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import REPO
from tests.llm_harness import ALT_MODEL_DIR, MODEL_DIR
from zkinfer.llm import modeldir

pytest.importorskip("transformers")
TINY = [
    "--steps",
    "3",
    "--max-files",
    "30",
    "--vocab",
    "400",
    "--embd",
    "32",
    "--layers",
    "1",
    "--heads",
    "2",
    "--positions",
    "64",
    "--block",
    "32",
    "--batch",
    "4",
    "--threads",
    "1",
]


def train(*runs: tuple[Path, tuple[str, ...]]) -> None:
    """Train each (out, extra options) at once, one process each (every run uses one thread)."""
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "models.llm.train", "--out", str(out), *TINY, *extra],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for out, extra in runs
    ]
    for process in started:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output.decode(errors="replace")[-3000:]


def test_training_is_reproducible(tmp_path: Path) -> None:
    """Same corpus, seed and threads: the same tokenizer and weights, byte for byte; another seed: other weights."""
    train((tmp_path / "a", ()), (tmp_path / "b", ()), (tmp_path / "c", ("--seed", "1")))
    assert modeldir.digest(tmp_path / "a") == modeldir.digest(tmp_path / "b")
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "c" / "tokenizer.json").read_bytes()
    assert (tmp_path / "a" / "model.safetensors").read_bytes() != (tmp_path / "c" / "model.safetensors").read_bytes()


@pytest.fixture(scope="module")
def corpus_digest() -> str:
    """The digest of this interpreter's training corpus (parsing the standard library: seconds, so once)."""
    from models.llm import train as script

    return "sha256:" + hashlib.sha256("\x00".join(script.corpus()).encode()).hexdigest()


@pytest.mark.parametrize("directory", [MODEL_DIR, ALT_MODEL_DIR], ids=["tiny-stdlib", "tiny-stdlib-alt"])
def test_bundled_checkpoints_are_small_and_were_trained_on_this_corpus(directory: Path, corpus_digest: str) -> None:
    files = modeldir.covered_files(directory)
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= {f.name for f in files}
    assert (directory / "model.safetensors").stat().st_size <= 10 * 1024 * 1024
    record = json.loads((directory / "training.json").read_text())
    if record["corpus"]["python"] != platform.python_version():
        pytest.skip(
            f"trained on Python {record['corpus']['python']}'s standard library; this is {platform.python_version()}"
        )
    assert corpus_digest == record["corpus"]["digest"]


def test_the_two_checkpoints_differ_in_weights_only() -> None:
    main, alt = modeldir.file_digests(MODEL_DIR), modeldir.file_digests(ALT_MODEL_DIR)
    assert [name for name in main if main[name] != alt.get(name)] == ["model.safetensors"]
