"""Claim files, and gateway evidence turned into an on-chain challenge or fraud proof.

A claim file (`zkinfer.chain-claim/1`) is what a node hands out for each claim it posted: the
contract and chain, the batch id, the claim and its Merkle proof. It is hostile: the contract
checks the Merkle proof against the batch root it holds, and `load_claim_file` only checks shapes.

Evidence from the gateway (`zkinfer.verify.evidence_check`) is checked offline first (it must hold),
then matched to the on-chain claim of the same model, request and output:
- a *contradiction* carries the accused's own valid receipt proving another output for the same
  input: that receipt is a fraud proof, which slashes at once (no bond, no waiting);
- an *unproven* promise or an *equivocation* proves no output, so it becomes a bonded challenge
  the node must answer with a proof.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from zkinfer.chain import claims
from zkinfer.chain.claims import Claim, ClaimError
from zkinfer.core.crypto.digest import canonical_json
from zkinfer.core.formats import strict_json
from zkinfer.core.formats.statement import Statement, StatementError, proven_instances
from zkinfer.core.support.cache import write_atomically
from zkinfer.core.support.errors import VerificationFailed

SCHEMA: Final = "zkinfer.chain-claim/1"
MAX_BYTES: Final = 1 << 20
FIELDS: Final = {"schema", "chain_id", "contract", "node", "batch_id", "claim", "merkle_proof"}


class EvidenceDoesNotHold(VerificationFailed):
    """Evidence was read and checked, and it does not hold (exit 1): no ground to challenge; `verdict` says why."""


@dataclass(frozen=True)
class ClaimFile:
    chain_id: int
    contract: str
    node: str
    batch_id: int
    claim: Claim
    merkle_proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "chain_id": self.chain_id,
            "contract": self.contract,
            "node": self.node,
            "batch_id": self.batch_id,
            "claim": self.claim.to_json(),
            "merkle_proof": ["0x" + p.hex() for p in self.merkle_proof],
        }

    def save(self, path: Path) -> None:
        write_atomically(path, canonical_json(self.to_json()) + b"\n")


def parse_claim_file(document: Any, where: str) -> ClaimFile:
    if not isinstance(document, dict) or set(document) != FIELDS:
        found = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise ClaimError(
            f"{where}: expected a {SCHEMA} object with exactly {', '.join(sorted(FIELDS))} (found {found})"
        )
    if document["schema"] != SCHEMA:
        raise ClaimError(f"{where}.schema: {str(document['schema'])[:40]!r} is not {SCHEMA!r}")
    for name in ("chain_id", "batch_id"):
        if type(document[name]) is not int or document[name] < 0:
            raise ClaimError(f"{where}.{name}: expected a non-negative integer")
    for name in ("contract", "node"):
        value = document[name]
        if not (
            isinstance(value, str)
            and len(value) == 42
            and value.startswith("0x")
            and all(c in "0123456789abcdefABCDEF" for c in value[2:])
        ):
            raise ClaimError(f"{where}.{name}: expected an address (0x + 40 hex digits)")
    proof = document["merkle_proof"]
    if not isinstance(proof, list) or len(proof) > claims.MAX_DEPTH:
        raise ClaimError(f"{where}.merkle_proof: expected a list of at most {claims.MAX_DEPTH} hashes")
    return ClaimFile(
        document["chain_id"],
        document["contract"],
        document["node"],
        document["batch_id"],
        Claim.from_json(document["claim"], f"{where}.claim"),
        tuple(claims.parse_bytes32(p, f"{where}.merkle_proof[{i}]") for i, p in enumerate(proof)),
    )


def load_claim_file(path: Path) -> ClaimFile:
    return parse_claim_file(strict_json.load_file(path, MAX_BYTES, ClaimError, "claim file"), str(path))


@dataclass(frozen=True)
class EvidenceAction:
    """What evidence becomes on chain: a fraud proof (with the receipt) or a bonded challenge."""

    kind: Literal["fraud", "challenge"]
    claim: Claim
    receipt: Any | None  # zkinfer Receipt for a fraud proof
    reasons: list[str]


def evidence_action(document: Any, claim_file: ClaimFile | None) -> EvidenceAction:
    """Check `document` (gateway evidence) offline and say what to submit for it. A contradiction
    needs no claim file when the claim was posted alone (its fields are then in the event); the
    others need one, whose claim must be the evidence's statement (model, request and output)."""
    from zkinfer.core.formats.receipt import parse
    from zkinfer.core.formats.statement import SignedStatement
    from zkinfer.verify import evidence_check

    verdict = evidence_check.check(document)
    if not verdict.verified:
        raise EvidenceDoesNotHold(
            "the evidence does not hold, so it is no ground to challenge: " + "; ".join(verdict.reasons()), verdict
        )
    if document["kind"] == "contradiction":
        if document["rows"] != 1:
            raise ClaimError(
                f"the contradicting receipt proves {document['rows']} requests at once: the chain takes circuits of "
                f"batch size 1"
            )
        signed = SignedStatement.from_json(document["statement"], "evidence.statement")
        receipt = parse(document["receipt"], "evidence.receipt")
        try:
            layout, proven = proven_instances(receipt)
        except StatementError as exc:
            raise ClaimError(f"evidence.receipt: no statement can be read from it ({exc})") from exc
        claim = claims.from_statement(signed.statement, layout.input_visibility, proven.input_felts())
        _same(claim_file, claim, signed.statement, check_input=True)
        return EvidenceAction("fraud", claim, receipt, verdict.reasons())
    if claim_file is None:
        raise ClaimError(
            f"{document['kind']} evidence proves no output, so it becomes a challenge of a posted claim: give the "
            f"node's claim file (--claim)"
        )
    statements = [document["statement"]] if document["kind"] == "unproven" else document["statements"]
    for i, s in enumerate(statements):
        signed = SignedStatement.from_json(s, f"evidence.statements[{i}]")
        if _matches(claim_file.claim, signed.statement):
            return EvidenceAction("challenge", claim_file.claim, None, verdict.reasons())
    raise ClaimError(
        "the claim file's claim is not the evidence's statement (model, request id and output must all match)"
    )


def _matches(claim: Claim, statement: Statement) -> bool:
    outputs = claims.hash_words([claims.signed_word(v) for values in statement.output for v in values])
    return (
        claim.model_id == claims.model_id(statement.circuit)
        and claim.request_id == statement.request_id
        and claim.output_hash == outputs
    )


def _same(claim_file: ClaimFile | None, claim: Claim, statement: Statement, check_input: bool) -> None:
    if claim_file is None:
        return
    if not _matches(claim_file.claim, statement) or (check_input and claim_file.claim.input_hash != claim.input_hash):
        raise ClaimError(
            "the claim file's claim is not the evidence's statement (model, request id, input and output must all "
            "match)"
        )


def find_single_claim(stake: Any, claim: Claim) -> int:
    """The batch id of `claim` posted alone (its fields are in the ClaimPosted event); a claim inside
    a batch is found only through the node's claim file."""
    for event in stake.events("ClaimPosted", modelId=claim.model_id):
        args = event["args"]
        if (bytes(args["requestId"]), bytes(args["inputHash"]), bytes(args["outputHash"])) == claim.as_tuple()[1:]:
            return int(args["batchId"])
    raise ClaimError(
        f"no claim for request {claim.request_id!r} with this model, input and output was posted alone on "
        f"{stake.address}; give the node's claim file (--claim)"
    )


def post_receipts(
    stake: Any, receipts: list[tuple[str, Any]], out_dir: Path, *, verified: bool = False
) -> tuple[Any, list[ClaimFile]]:
    """Post the claims of (request id, receipt) pairs, one alone or the rest as a Merkle batch, and
    write a claim file per claim in `out_dir` (what the node hands to whoever may challenge). Each
    receipt is verified first: a node that posts what its proof does not attest loses its bond."""
    from zkinfer.verify.policy import Policy
    from zkinfer.verify.verifier import verify_receipt

    if not receipts:
        raise ClaimError("no receipts to post")
    made = []
    for request_id, receipt in receipts:
        if not verified and not verify_receipt(receipt, Policy(), "receipt").verified:
            raise ClaimError(
                f"the receipt for request {request_id!r} does not verify: posting its claim would stake the bond on "
                f"a proof the contract rejects"
            )
        made.append(claims.from_verified_receipt(receipt, request_id))
    posted = stake.post_claim(made[0]) if len(made) == 1 else stake.post_batch(made)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for i, claim in enumerate(made):
        proof = () if posted.tree is None else tuple(posted.tree.proof(i))
        document = ClaimFile(stake.chain.chain_id, stake.address, stake.chain.address, posted.batch_id, claim, proof)
        document.save(out_dir / f"{claim.request_id}.claim.json")
        files.append(document)
    return posted, files
