"""One exception hierarchy: every message names the file or field at fault and how to fix it.

The CLI maps any `ZkinferError` to exit code 2 (bad usage / unreadable input) and the node maps
it to a 4xx, so a caller never sees a traceback for bad input.
"""

from __future__ import annotations


class ZkinferError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""

    exit_code = 2


class UsageError(ZkinferError):
    """Bad usage or unreadable input (exit 2): a file, option or request the caller must fix."""


class VerificationFailed(ZkinferError):
    """A receipt was read and checked, and failed (exit 1); `verdict` says which checks and why."""

    exit_code = 1

    def __init__(self, message: str, verdict: object = None) -> None:
        super().__init__(message)
        self.verdict = verdict


class InputError(UsageError):
    """An input tensor file or value is unreadable, of the wrong shape, or not finite."""


class ModelError(UsageError):
    """An ONNX model is unreadable, invalid, or uses an operator the circuit compiler lacks.

    `node` names the node at fault when it is known; compile locates it when ezkl did not say.
    """

    def __init__(self, message: str, node: str | None = None) -> None:
        super().__init__(message)
        self.node = node


class UnsupportedOperatorError(ModelError):
    """The model uses an operator ezkl cannot turn into a circuit."""


class CircuitError(UsageError):
    """A circuit directory is missing, incomplete, or does not match its manifest."""


class RebuildError(UsageError):
    """A model does not compile and set up under a receipt's settings, so it is not the receipt's circuit."""


class SrsError(UsageError):
    """A structured reference string file is malformed or of the wrong size."""


class ProvingError(UsageError):
    """Witness generation or proving failed for a reason other than bad input."""


class ReceiptFormatError(UsageError):
    """A receipt file is not valid JSON or does not follow the receipt schema."""


class PolicyError(UsageError):
    """A verification policy file or pin is malformed."""


class ExportError(UsageError):
    """torch → ONNX export failed or its output disagrees with torch."""


class ChainError(UsageError):
    """A chain tool, node, key, contract or deployment record is missing, unreachable or not what it claims."""


class ToolchainMissing(ChainError):
    """solcjs or anvil is not installed where zkinfer looks (the repo's node_modules or $ZKINFER_NODE_MODULES)."""


class ContractTooLarge(ChainError):
    """A compiled contract's runtime code is over EIP-170's 24,576-byte limit: a real network refuses to deploy it."""

class ExecutorError(ProvingError):
    """An executor could not run a proof task: Ray is missing or unreachable, or a key is not where its worker runs."""


class ProverLostError(ExecutorError):
    """The process proving a task died (killed, or crashed) before answering; the task itself may be sound, so it may be retried."""


class ProofMemoryError(ProvingError):
    """A proof needed more memory than the proving memory ceiling (--max-prove-memory) allows."""
