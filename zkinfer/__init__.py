"""zkinfer: zero-knowledge verifiable inference. Every answer carries a receipt an auditor can check.

The Python API (what the CLI, the node and the notebooks call):
    compile_model(onnx, calibration, out_dir) -> Circuit
    compile_split(onnx, calibration, out_dir, parts=K) -> SplitCircuit (linked segments)
    ChainProver(circuit_dir).prove(sample) -> Receipt, or a SplitReceipt for a split circuit (SplitProver: the same)
    Prover(circuit_dir).prove(sample) -> Receipt (an unsplit circuit, with the statements a node signs)
    prove_receipt(circuit_dir, input_file) -> prove, check an executor's proofs, stop the workers
    verify_receipt(receipt, policy) -> Verdict
    Consensus(nodeset.load(path)).infer(model, body) -> Outcome (a quorum of untrusted nodes; infer_sync in notebooks)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below, for type checkers; at run time each is imported on first use (PEP 562)
    from zkinfer.core.formats.circuit import Circuit, Visibility
    from zkinfer.core.formats.circuit import load as load_circuit
    from zkinfer.core.formats.receipt import Receipt
    from zkinfer.core.formats.receipt import load as load_receipt
    from zkinfer.core.formats.receipt import save as save_receipt
    from zkinfer.core.support.errors import InfrastructureError, UsageError, VerificationFailed, ZkinferError
    from zkinfer.network.client import Consensus
    from zkinfer.network.outcome import NoQuorum, Outcome
    from zkinfer.prover.compile import compile_model
    from zkinfer.prover.prove import ChainProver, Prover, prove_file, prove_receipt
    from zkinfer.prover.prove import ChainProver as SplitProver
    from zkinfer.prover.split import compile_split
    from zkinfer.verify import Policy, Verdict, verify_file, verify_receipt

# public name -> (module, attribute): `import zkinfer` loads none of them, so verifying loads no prover,
# no onnxruntime and no torch, and importing changes no global state (the CLI and the node configure logging)
_LAZY: dict[str, tuple[str, str]] = {
    "Circuit": ("zkinfer.core.formats.circuit", "Circuit"),
    "Visibility": ("zkinfer.core.formats.circuit", "Visibility"),
    "load_circuit": ("zkinfer.core.formats.circuit", "load"),
    "compile_model": ("zkinfer.prover.compile", "compile_model"),
    "ZkinferError": ("zkinfer.core.support.errors", "ZkinferError"),
    "UsageError": ("zkinfer.core.support.errors", "UsageError"),
    "VerificationFailed": ("zkinfer.core.support.errors", "VerificationFailed"),
    "InfrastructureError": ("zkinfer.core.support.errors", "InfrastructureError"),
    "Prover": ("zkinfer.prover.prove", "Prover"),
    "ChainProver": ("zkinfer.prover.prove", "ChainProver"),
    "prove_file": ("zkinfer.prover.prove", "prove_file"),
    "prove_receipt": ("zkinfer.prover.prove", "prove_receipt"),
    "compile_split": ("zkinfer.prover.split", "compile_split"),
    "SplitProver": ("zkinfer.prover.prove", "ChainProver"),
    "Receipt": ("zkinfer.core.formats.receipt", "Receipt"),
    "load_receipt": ("zkinfer.core.formats.receipt", "load"),
    "save_receipt": ("zkinfer.core.formats.receipt", "save"),
    "Policy": ("zkinfer.verify", "Policy"),
    "Verdict": ("zkinfer.verify", "Verdict"),
    "verify_file": ("zkinfer.verify", "verify_file"),
    "verify_receipt": ("zkinfer.verify", "verify_receipt"),
    "Consensus": ("zkinfer.network.client", "Consensus"),
    "NoQuorum": ("zkinfer.network.outcome", "NoQuorum"),
    "Outcome": ("zkinfer.network.outcome", "Outcome"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'zkinfer' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"

__all__ = [
    "ChainProver",
    "Circuit",
    "Consensus",
    "InfrastructureError",
    "NoQuorum",
    "Outcome",
    "Policy",
    "Prover",
    "Receipt",
    "SplitProver",
    "UsageError",
    "Verdict",
    "VerificationFailed",
    "Visibility",
    "ZkinferError",
    "compile_model",
    "compile_split",
    "load_circuit",
    "load_receipt",
    "prove_file",
    "prove_receipt",
    "save_receipt",
    "verify_file",
    "verify_receipt",
]
