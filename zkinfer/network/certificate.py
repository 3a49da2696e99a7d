"""Making quorum certificates: one statement, the nodes that signed it, one aggregate BLS signature.

The format (`Certificate`, `SignedGroup`, `label`) is `zkinfer.core.formats.certificate`'s, re-exported here
for the consensus client; checking a certificate is the auditor's (`zkinfer.verify.certificate_check`).
"""

from __future__ import annotations

from collections.abc import Sequence

from zkinfer.core.crypto import identity
from zkinfer.core.formats.certificate import (
    SCHEMA,
    Certificate,
    CertificateError,
    SignedGroup,
    consistency,
    label,
    nodes_info,
)
from zkinfer.core.formats.statement import SignedStatement, Statement, StatementError

__all__ = ["SCHEMA", "Certificate", "CertificateError", "SignedGroup", "label", "make"]


def make(
    signed: Sequence[SignedStatement], info: dict[str, dict[str, str]] | None = None, *, verified: bool = False
) -> Certificate:
    """The certificate for these signed statements: one group per distinct statement (more than one
    only for a label quorum, all naming the same request, circuit, input and label), signers
    sorted, signatures aggregated. Each signature is verified unless the caller says it was
    (`verified=True`); a node that signed two different statements is refused (equivocation)."""
    if not signed:
        raise CertificateError("nothing to certify: give at least one signed statement")
    by_statement: dict[bytes, dict[bytes, SignedStatement]] = {}
    statements: dict[bytes, Statement] = {}
    owner: dict[bytes, bytes] = {}
    for s in signed:
        if not verified:
            try:
                s.verify()
            except StatementError as exc:
                raise CertificateError(f"cannot certify: {exc}") from exc
        message = s.statement.signing_bytes()
        if owner.setdefault(s.public_key, message) != message:
            raise CertificateError(
                f"key {s.public_key.hex()[:16]}… signed two different statements for request "
                f"{s.statement.request_id!r}: that is equivocation (evidence), not agreement"
            )
        statements[message] = s.statement
        by_statement.setdefault(message, {})[s.public_key] = s
    if len(statements) > 1:
        reasons = consistency(list(statements.values()))
        if reasons:
            raise CertificateError("these statements cannot share a certificate: " + "; ".join(reasons))
    groups = []
    for message, members in by_statement.items():
        keys = sorted(members)
        groups.append(
            SignedGroup(statements[message], tuple(keys), identity.aggregate([members[k].signature for k in keys]))
        )
    groups.sort(key=lambda g: (-len(g.signers), g.statement.digest()))
    return Certificate(groups=tuple(groups), nodes=nodes_info(info or {}, "nodes_info"))
