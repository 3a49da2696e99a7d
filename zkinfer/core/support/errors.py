"""One exception hierarchy: every message names the file or field at fault and how to fix it.

Errors are grouped by who must act, and the exit code comes from the branch alone (only the three
roots set one; the CLI exits with `exc.exit_code`, the node and the gateway pick a status by type):

- `UsageError` (exit 2, HTTP 4xx): the caller fixes a file, option or request.
- `VerificationFailed` (exit 1): something was read and checked, and it does not hold.
- `InfrastructureError` (exit 3, HTTP 503 with Retry-After): a retry or an operator fixes it (a
  prover lost, an executor or chain endpoint that does not answer, a proof over the memory
  ceiling, no quorum). It is not a `UsageError`: the HTTP layers map that one to 422.

A caller never sees a traceback for any of them.
"""

from __future__ import annotations


class ZkinferError(Exception):
    """Base class: a problem with a message that says how to fix it (bad usage, exit 2, unless its branch says
    otherwise)."""

    exit_code = 2


class UsageError(ZkinferError):
    """Bad usage or unreadable input (exit 2): a file, option or request the caller must fix."""


class VerificationFailed(ZkinferError):
    """A receipt was read and checked, and failed (exit 1); `verdict` says which checks and why."""

    exit_code = 1

    def __init__(self, message: str, verdict: object = None) -> None:
        super().__init__(message)
        self.verdict = verdict


class InfrastructureError(ZkinferError):
    """A failure a retry or an operator fixes, not the caller's input (exit 3, HTTP 503): `retry_after_s`
    is how long a client should wait before trying again (the Retry-After an HTTP layer sends)."""

    exit_code = 3
    DEFAULT_RETRY_AFTER_S = 5

    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = self.DEFAULT_RETRY_AFTER_S if retry_after_s is None else max(1, retry_after_s)


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
    """A chain tool, key, option, contract or deployment record is missing or not what it claims (the caller fixes
    it)."""


class ChainUnreachable(InfrastructureError):
    """The chain's RPC endpoint does not answer (connection refused, a timeout, a 5xx): start it, or retry."""


class ToolchainMissing(ChainError):
    """solcjs or anvil is not installed where zkinfer looks (the repo's node_modules or $ZKINFER_NODE_MODULES)."""


class ContractTooLarge(ChainError):
    """A compiled contract's runtime code is over EIP-170's 24,576-byte limit: a real network refuses to deploy it."""


class ExecutorError(InfrastructureError):
    """An executor could not run a proof task: its cluster does not answer, its actor failed, or a key is not where its
    worker runs."""


class ProverLostError(ExecutorError):
    """The process proving a task died (killed, or crashed) before answering; the task itself may be sound, so it may be
    retried."""


class ProofMemoryError(InfrastructureError):
    """A proof needed more memory than the proving memory ceiling (--max-prove-memory) allows: the operator raises it
    (or splits the model)."""
