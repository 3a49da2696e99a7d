"""A typed client for `contracts/ZkinferStake.sol`: bonds, models, claims, challenges, slashing.

Every call that sends a transaction returns what it did (`Sent`: gas, block, events), and a revert
raises `StakeReverted` naming the contract's custom error and its arguments (e.g.
`ClaimsInWindow(until=1795590000)`), so the CLI says why instead of dumping revert data.

Receipts are hostile: `answer` and `prove_fraud` verify a receipt with zkinfer's own verifier (and
check that it proves the claim's model and input) before spending gas on it; the contract checks
the proof again and is the only judge. The status is read from the contract's storage and events,
never from a local record.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zkinfer.chain import claims as claims_mod
from zkinfer.chain import stake_reverts
from zkinfer.chain.account import Chain, stopped_answering, unreachable
from zkinfer.chain.calldata import proof_args
from zkinfer.chain.claims import Claim, ClaimError, Layout, MerkleTree
from zkinfer.chain.deploy import Sent, code_matches, contract, deploy, send
from zkinfer.chain.registration import Registered
from zkinfer.chain.solidity import Compiled, compile_cached
from zkinfer.chain.stake_types import (
    CLAIM_STATES,
    NAME,
    SOURCE,
    ChallengeInfo,
    ModelNotRegistered,
    NodeInfo,
    Posted,
    StakeParams,
    Status,
)
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.support.errors import ChainError

GAS_MARGIN = 20_000  # added to a quarter more than the estimate (see Stake._send)
DEFAULT_PARAMS = StakeParams()


@functools.cache
def compiled() -> Compiled:
    """The stake contract, compiled with the pinned solc (fixed settings, so byte-comparable), cached
    (`solidity.compile_cached`)."""
    return compile_cached(SOURCE, NAME)


class Stake:
    """One deployed stake contract on one chain, signing with the chain's key."""

    def __init__(self, chain: Chain, address: str, *, check_code: bool = True) -> None:
        self.chain = chain
        if check_code and not code_matches(chain, address, compiled()):
            raise ChainError(
                f"{address}: the code there is not {NAME} as compiled from {SOURCE.name} "
                "(wrong address, chain or version)"
            )
        self.contract = contract(chain, address, compiled())
        self.address = str(self.contract.address)
        self._errors = stake_reverts.error_table(compiled().abi)

    @classmethod
    def deploy(cls, chain: Chain, params: StakeParams = DEFAULT_PARAMS) -> tuple[Stake, Sent]:
        sent = deploy(chain, compiled(), *params.args())
        assert sent.contract_address is not None
        return cls(chain, sent.contract_address, check_code=False), sent

    def as_signer(self, chain: Chain) -> Stake:
        """The same contract, signing with another key (tests and the CLI's --key-file)."""
        other = Stake.__new__(Stake)
        other.chain, other.contract, other.address, other._errors = chain, self.contract, self.address, self._errors
        return other

    # ---- sending ----

    def _send(self, fn: str, *args: Any, value: int = 0) -> Sent:
        """Send `fn(*args)` with a gas limit above the node's estimate: the estimate runs against the
        pending block, and the mined block's timestamp can differ (a later second turns a no-op
        SSTORE of `lastWindowEnd` into a write: an exact estimate then runs out of gas)."""
        call = getattr(self.contract.functions, fn)(*args)
        what = f"{NAME}.{fn}"
        sender = {"from": self.chain.address, "value": value}
        try:
            try:
                estimate = int(call.estimate_gas(sender))
            except Exception as exc:  # web3's ContractCustomError and kin: a revert, decoded below
                if unreachable(exc):
                    raise stopped_answering(self.chain, what, exc) from exc
                raise ChainError(
                    f"{what}: refused on chain {self.chain.chain_id}: {type(exc).__name__}: {str(exc)[:300]}"
                ) from exc
            data = call.build_transaction(
                {**sender, "nonce": 0, "gas": 1, "gasPrice": 0, "chainId": self.chain.chain_id}
            )["data"]
            tx = {"to": self.address, "data": data, "gas": estimate + estimate // 4 + GAS_MARGIN}
            if value:
                tx["value"] = value
            return send(self.chain, tx, what)
        except ChainError as exc:
            raise stake_reverts.decoded(exc, fn, self._errors) from exc

    def params(self) -> StakeParams:
        f = self.contract.functions
        return StakeParams(
            int(f.minBond().call()),
            int(f.challengeBond().call()),
            int(f.challengeWindow().call()),
            int(f.answerPeriod().call()),
            int(f.slashShareBps().call()),
        )

    # ---- nodes ----

    def register_node(self, bond: int) -> Sent:
        return self._send("registerNode", value=bond)

    def add_bond(self, amount: int) -> Sent:
        return self._send("addBond", value=amount)

    def withdraw_bond(self, amount: int) -> Sent:
        return self._send("withdrawBond", amount)

    def withdraw(self) -> Sent:
        return self._send("withdraw")

    def node(self, address: str) -> NodeInfo:
        from web3 import Web3

        checksum = Web3.to_checksum_address(address)
        bond, last, open_, registered, slashed = self.contract.functions.nodes(checksum).call()
        return NodeInfo(
            checksum,
            int(bond),
            int(last),
            int(open_),
            bool(registered),
            bool(slashed),
            int(self.contract.functions.balances(checksum).call()),
        )

    def is_active_node(self, address: str) -> bool:
        """What `isActiveNode` says: registered, not slashed, bonded at least minBond."""
        from web3 import Web3

        return bool(self.contract.functions.isActiveNode(Web3.to_checksum_address(address)).call())

    def grant_slasher(self, account: str) -> Sent:
        """Admin only: let `account` (a contract that checks signed evidence) slash nodes at once (`slashFor`)."""
        from web3 import Web3

        role = bytes(self.contract.functions.SLASHER_ROLE().call())
        return self._send("grantRole", role, Web3.to_checksum_address(account))

    # ---- models ----

    def register_model(self, model_id: bytes, verifier: str, layout: Layout) -> Sent:
        from web3 import Web3

        return self._send(
            "registerModel",
            model_id,
            Web3.to_checksum_address(verifier),
            layout.n_input,
            layout.n_params,
            layout.n_output,
            layout.input_first,
            layout.params_hash,
        )

    def model(self, model_id: bytes) -> Registered:
        """The model's registration: verifier, layout and the verifier's code hash recorded then."""
        verifier, n_in, n_params, n_out, input_first, params_hash, code_hash = self.contract.functions.models(
            model_id
        ).call()
        if int(verifier, 16) == 0:
            raise ModelNotRegistered(
                f"model 0x{model_id.hex()} is not registered on {self.address}: `zkinfer chain register-model` it first"
            )
        return Registered(
            str(verifier),
            Layout(int(n_in), int(n_params), int(n_out), bool(input_first), bytes(params_hash)),
            bytes(code_hash),
        )

    # ---- claims ----

    def _require_registered(self, batch: Sequence[Claim]) -> None:
        """Refuse (before any gas) a claim whose model is not registered: no proof could answer a
        challenge of it, so it would be slashed (the contract cannot see a batch's leaves)."""
        for model_id in dict.fromkeys(c.model_id for c in batch):
            try:
                self.model(model_id)
            except ModelNotRegistered as exc:
                named = next(c.request_id for c in batch if c.model_id == model_id)
                raise ModelNotRegistered(
                    f"the claim of request {named!r}: {exc}; "
                    "no proof could answer a challenge of it, so it is not posted"
                ) from None

    def post_claim(self, claim: Claim) -> Posted:
        self._require_registered([claim])
        sent = self._send("postClaim", *claim.as_tuple())
        event = self._event(sent, "ClaimPosted")
        return Posted(int(event["batchId"]), int(event["windowEnd"]), sent)

    def post_batch(self, batch: Sequence[Claim]) -> Posted:
        tree = MerkleTree([c.leaf() for c in batch])
        self._require_registered(batch)
        sent = self._send("postBatch", tree.root, len(batch))
        event = self._event(sent, "BatchPosted")
        return Posted(int(event["batchId"]), int(event["windowEnd"]), sent, tree)

    # ---- challenges ----

    def challenge(self, batch_id: int, claim: Claim, merkle_proof: Sequence[bytes] = ()) -> tuple[bytes, Sent]:
        bond = int(self.contract.functions.challengeBond().call())
        sent = self._send("challenge", batch_id, claim.as_tuple(), list(merkle_proof), value=bond)
        return bytes(self._event(sent, "Challenged")["claimKey"]), sent

    def answer(self, batch_id: int, claim: Claim, receipt: Receipt, *, verified: bool = False) -> Sent:
        """Answer a challenge with a receipt's proof, after checking it proves exactly `claim`."""
        proof, instances = self._checked_proof(claim, receipt, verified, same_output=True)
        return self._send("answer", batch_id, claim.as_tuple(), proof, instances)

    def prove_fraud(
        self,
        batch_id: int,
        claim: Claim,
        receipt: Receipt,
        merkle_proof: Sequence[bytes] = (),
        *,
        verified: bool = False,
    ) -> Sent:
        """Slash a node whose claim a valid proof of the same model and input contradicts."""
        proof, instances = self._checked_proof(claim, receipt, verified, same_output=False)
        return self._send("proveFraud", batch_id, claim.as_tuple(), list(merkle_proof), proof, instances)

    def slash(self, batch_id: int, claim: Claim) -> Sent:
        return self._send("slash", batch_id, claim.leaf())

    def _checked_proof(
        self, claim: Claim, receipt: Receipt, verified: bool, same_output: bool
    ) -> tuple[bytes, list[int]]:
        """The (proof, instances) to send, refused locally (no gas spent) unless the receipt verifies
        and proves the claim's model and input, with the same output (answer) or another (fraud)."""
        if not verified:
            from zkinfer.verify.policy import Policy
            from zkinfer.verify.verifier import verify_receipt

            verdict = verify_receipt(receipt, Policy(), "receipt")
            if not verdict.verified:
                raise ClaimError(
                    f"the receipt does not verify ({', '.join(verdict.failed())} failed): "
                    "the contract would reject its proof"
                )
        proven = claims_mod.from_verified_receipt(receipt, claim.request_id)
        if proven.model_id != claim.model_id:
            raise ClaimError(
                f"the receipt proves model 0x{proven.model_id.hex()}, the claim is about model 0x{claim.model_id.hex()}"
            )
        if proven.input_hash != claim.input_hash:
            raise ClaimError("the receipt proves another input than the claim's (input hashes differ)")
        if same_output and proven.output_hash != claim.output_hash:
            raise ClaimError(
                "the receipt proves another output than the claim's: "
                "it cannot answer the challenge (the claim is false)"
            )
        if not same_output and proven.output_hash == claim.output_hash:
            raise ClaimError("the receipt proves the claimed output: the claim is true, there is no fraud")
        return proof_args(receipt)

    # ---- reading ----

    def _event(self, sent: Sent, name: str) -> Any:
        events = getattr(self.contract.events, name)().process_receipt(sent.receipt)
        if len(events) != 1:
            raise ChainError(f"transaction {sent.tx_hash}: expected one {name} event, found {len(events)}")
        return events[0]["args"]

    def events(self, name: str, from_block: int = 0, **filters: Any) -> list[Any]:
        return list(
            getattr(self.contract.events, name)().get_logs(from_block=from_block, argument_filters=filters or None)
        )

    def challenge_info(self, key: bytes, batch_id: int) -> ChallengeInfo:
        challenger, deadline, state = self.contract.functions.challenges(key).call()
        node = self.contract.functions.batches(batch_id).call()[0]
        return ChallengeInfo(
            "0x" + key.hex(), batch_id, str(challenger), str(node), int(deadline), CLAIM_STATES[int(state)]
        )

    def status(self, from_block: int = 0, circuits: Sequence[Path] = (), registries: Sequence[Path] = ()) -> Status:
        """What the chain says; each registered model checked against the circuit given for it (verifier
        code and layout), else against a deployments file's record of its verifier."""
        from zkinfer.chain import registration

        expected = {want.model_id: want for want in map(registration.expected, circuits)}
        web3 = self.chain.web3
        now = int(web3.eth.get_block("latest")["timestamp"])
        status = Status(
            self.address,
            self.chain.chain_id,
            now,
            self.params(),
            str(self.contract.functions.owner().call()),
            int(self.contract.functions.burned().call()),
        )
        nodes = sorted({str(e["args"]["node"]) for e in self.events("NodeRegistered", from_block)})
        status.nodes = [self.node(a) for a in nodes]
        for model_id in dict.fromkeys(bytes(e["args"]["modelId"]) for e in self.events("ModelRegistered", from_block)):
            got = self.model(model_id)
            check = registration.status_check(self, model_id, got, expected, list(registries))
            status.models.append(
                {
                    "model_id": "0x" + model_id.hex(),
                    "verifier": got.verifier,
                    "code_hash": "0x" + got.code_hash.hex(),
                    "layout": registration.describe(got.layout),
                    "check": check.to_json(),
                }
            )
        singles, batches = self.events("ClaimPosted", from_block), self.events("BatchPosted", from_block)
        status.claims_posted = len(singles) + sum(int(e["args"]["count"]) for e in batches)
        for e in [*singles, *batches]:
            if int(e["args"]["windowEnd"]) >= now:
                status.batches_in_window.append(
                    {
                        "batch_id": int(e["args"]["batchId"]),
                        "node": str(e["args"]["node"]),
                        "claims": int(e["args"].get("count", 1)),
                        "window_end": int(e["args"]["windowEnd"]),
                    }
                )
        status.batches_in_window.sort(key=lambda b: b["batch_id"])
        status.challenges = [
            self.challenge_info(bytes(e["args"]["claimKey"]), int(e["args"]["batchId"]))
            for e in self.events("Challenged", from_block)
        ]
        status.slashes = [
            {
                "node": str(e["args"]["node"]),
                "claim_key": "0x" + bytes(e["args"]["reason"]).hex(),  # the claim's key, or a slasher's reason
                "beneficiary": str(e["args"]["beneficiary"]),
                "amount_wei": int(e["args"]["amount"]),
                "reward_wei": int(e["args"]["reward"]),
                "burned_wei": int(e["args"]["burnedAmount"]),
                "block": int(e["blockNumber"]),
            }
            for e in self.events("Slashed", from_block)
        ]
        return status
