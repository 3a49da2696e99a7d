"""Checking a proof that an executor's process returned before it is trusted.

With `--executor ray` (or a memory-capped prove process) the proof is made by another process,
possibly on another machine: a broken or compromised worker, or another ezkl version, could return
a proof that does not verify, or a valid proof of another input. Before the node stores a receipt or
`zkinfer prove` writes one, it runs the checks an auditor runs (proof and binding; ~10-30 ms per
proof), so nothing that would fail `zkinfer verify` goes out under the signer's name.
"""

from __future__ import annotations

import json

from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.formats.split_receipt import SplitReceipt
from zkinfer.core.support.errors import ProverLostError
from zkinfer.verify.policy import Policy
from zkinfer.verify.verifier import verify_document


def check_executor_receipt(receipt: Receipt | SplitReceipt, model: str, executor: str) -> None:
    """Raise ProverLostError (a retryable failure: the job is re-queued, the command fails) unless
    the receipt built on the executor's proof verifies and attests its own input and output."""
    verdict = verify_document(json.loads(receipt.model_dump_json()), Policy(), check_signature=False)
    if not verdict.verified:
        failed = "; ".join(f"{c.name}: {c.detail}" for c in verdict.checks if c.name in verdict.failed())
        raise ProverLostError(
            f"{model}: the proof from the {executor} executor does not verify for this input ({failed}); not used"
        )
