"""zkinfer: zero-knowledge verifiable inference. Every answer carries a receipt an auditor can check.

The Python API (what the CLI, the node and the notebooks call):
    compile_model(onnx, calibration, out_dir) -> Circuit
    Prover(circuit_dir).prove(sample) -> Receipt
    verify_receipt(receipt, policy) -> Verdict
"""

from zkinfer import logs as _logs  # noqa: F401  (silence ezkl before anything imports it)
from zkinfer.circuit import Circuit, Visibility
from zkinfer.circuit import load as load_circuit
from zkinfer.compile import compile_model
from zkinfer.errors import ZkinferError
from zkinfer.prove import Prover, prove_file
from zkinfer.receipt import Receipt
from zkinfer.receipt import load as load_receipt
from zkinfer.receipt import save as save_receipt
from zkinfer.verify import Policy, Verdict, verify_file, verify_receipt

__version__ = "0.1.0"

__all__ = [
    "Circuit",
    "Policy",
    "Prover",
    "Receipt",
    "Verdict",
    "Visibility",
    "ZkinferError",
    "compile_model",
    "load_circuit",
    "load_receipt",
    "prove_file",
    "save_receipt",
    "verify_file",
    "verify_receipt",
]
