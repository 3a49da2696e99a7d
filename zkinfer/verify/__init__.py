"""The auditor's side: checks, policies, the verdict, the model rebuild, and inspect.

verify_file(path, policy) -> Verdict       # every check by name, what is pinned and what is not
Policy(expect_circuit=..., trusted_srs=[...], expect_signer=...)
"""

from zkinfer.verify.checks import FLOAT_TOLERANCE, expected_instances
from zkinfer.verify.policy import Policy
from zkinfer.verify.verdict import ALWAYS as CHECK_NAMES
from zkinfer.verify.verdict import Check, CheckName, Status, Verdict
from zkinfer.verify.verifier import verify_document, verify_file, verify_receipt

__all__ = [
    "CHECK_NAMES",
    "FLOAT_TOLERANCE",
    "Check",
    "CheckName",
    "Policy",
    "Status",
    "Verdict",
    "expected_instances",
    "verify_document",
    "verify_file",
    "verify_receipt",
]
