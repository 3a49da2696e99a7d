"""The fast path's execution provider: CUDA when onnxruntime offers it, else the CPU, and the
receipt states the provider onnxruntime really bound (not the one that was asked for).

This machine has no GPU, so the CUDA branch is exercised through `choose_providers`' explicit
list and by offering CUDA to a CPU-only onnxruntime build (which must fall back, and say so).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from zkinfer.core.formats.receipt import load
from zkinfer.prover import runtime
from zkinfer.prover.prove import Prover
from zkinfer.prover.runtime import FastSession, choose_providers

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
HAS_CUDA = CUDA in ort.get_available_providers()


def test_without_cuda_the_cpu_is_chosen() -> None:
    assert choose_providers([CPU]) == [CPU]
    assert choose_providers(["AzureExecutionProvider", CPU]) == [CPU]  # providers we do not use are not requested


def test_with_cuda_offered_cuda_comes_first_then_the_cpu_fallback() -> None:
    assert choose_providers([CPU, CUDA]) == [CUDA, CPU]
    assert choose_providers(["TensorrtExecutionProvider", CUDA, CPU]) == [CUDA, CPU]


def test_prefer_gpu_false_never_requests_cuda() -> None:
    assert choose_providers([CUDA, CPU], prefer_gpu=False) == [CPU]


def test_an_empty_offer_still_gives_the_cpu() -> None:
    assert choose_providers([]) == [CPU]


def test_default_uses_what_this_onnxruntime_build_offers() -> None:
    assert choose_providers() == choose_providers(ort.get_available_providers())


def test_fast_session_reports_the_provider_onnxruntime_bound(tiny_dir: Path) -> None:
    session = FastSession(tiny_dir / "model.onnx")
    assert session.provider in (
        {CUDA, CPU} if HAS_CUDA else {CPU}
    )  # a CUDA build on a host without a device binds the CPU
    out = session.run([np.full((1, 8), 0.5, dtype=np.float32)])
    assert out[0].shape == (1, 3) and np.all(np.isfinite(out[0]))


class _RequestSpy:
    """A real onnxruntime InferenceSession factory that remembers which providers were requested."""

    def __init__(self) -> None:
        self.requested: list[list[str]] = []
        self._real = ort.InferenceSession

    def __call__(self, *args: Any, providers: list[str], **kwargs: Any) -> Any:
        self.requested.append(list(providers))
        return self._real(*args, providers=providers, **kwargs)


def test_cuda_offered_but_not_usable_falls_back_to_cpu_and_says_so(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnxruntime claims CUDA (as a GPU build on a GPU-less host can): the session still runs, on the CPU, and reports
    CPU."""
    if HAS_CUDA:
        pytest.skip("this onnxruntime build really has CUDA; the fallback is only observable on a CPU-only build")
    spy = _RequestSpy()
    monkeypatch.setattr(runtime.ort, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(runtime.ort, "InferenceSession", spy)
    with pytest.warns(UserWarning, match="CUDAExecutionProvider"):  # onnxruntime's own word that it has no CUDA
        session = FastSession(tiny_dir / "model.onnx", prefer_gpu=True)
    assert spy.requested == [[CUDA, CPU]]
    assert session.provider == CPU


def test_prefer_gpu_false_session_asks_only_for_the_cpu(tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _RequestSpy()
    monkeypatch.setattr(runtime.ort, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(runtime.ort, "InferenceSession", spy)
    session = FastSession(tiny_dir / "model.onnx", prefer_gpu=False)
    assert spy.requested == [[CPU]]
    assert session.provider == CPU


def test_receipt_records_the_fast_path_provider(receipt_file: Path) -> None:
    receipt = load(receipt_file)
    assert receipt.fast.provider in ort.get_available_providers()
    if not HAS_CUDA:
        assert receipt.fast.provider == CPU
    assert json.loads(receipt_file.read_text())["fast"]["provider"] == receipt.fast.provider


def test_cpu_only_prover_proves_and_records_cpu(tiny_circuit: Path, tiny_dir: Path) -> None:
    prover = Prover(tiny_circuit, prefer_gpu=False)
    receipt = prover.prove(prover.load_input(tiny_dir / "input.json"))
    assert receipt.fast.provider == CPU
    assert receipt.fast.max_abs_deviation < 0.05  # the float answer and the proven one describe the same inference
