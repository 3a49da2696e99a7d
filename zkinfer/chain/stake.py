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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zkinfer.chain import claims as claims_mod
from zkinfer.chain.account import Chain
from zkinfer.chain.calldata import proof_args
from zkinfer.chain.claims import Claim, ClaimError, Layout, MerkleTree
from zkinfer.chain.deploy import Sent, code_matches, contract, deploy, send
from zkinfer.chain.registration import Registered
from zkinfer.chain.solidity import Compiled, compile_file
from zkinfer.core.errors import ChainError
from zkinfer.core.receipt import Receipt
from zkinfer.core.statement import proven_instances

SOURCE = Path(__file__).resolve().parents[2] / "contracts" / "ZkinferStake.sol"
NAME = "ZkinferStake"
CLAIM_STATES = ("none", "challenged", "answered", "slashed", "fraud")
GAS_MARGIN = 20_000  # added to a quarter more than the estimate (see Stake._send)


class ModelNotRegistered(ClaimError):
    """A model id the stake contract has no registration for: no proof can answer a claim of it."""


class StakeReverted(ChainError):
    """The stake contract refused a transaction; `error` is its custom error's name."""

    def __init__(self, message: str, error: str, args: dict[str, Any]) -> None:
        super().__init__(message)
        self.error = error
        self.args_ = args


@dataclass(frozen=True)
class StakeParams:
    """The contract's constructor arguments (fixed for its lifetime)."""

    min_bond: int = 10**18  # wei
    challenge_bond: int = 10**17  # wei
    challenge_window_s: int = 3600
    answer_period_s: int = 3600
    slash_share_bps: int = 5000  # half of a slashed bond to whoever proved the lie; the rest is burned

    def args(self) -> tuple[int, int, int, int, int]:
        return (self.min_bond, self.challenge_bond, self.challenge_window_s, self.answer_period_s, self.slash_share_bps)


@functools.cache
def compiled() -> Compiled:
    """The stake contract, compiled with the pinned solc (fixed settings, so byte-comparable), cached
    under $ZKINFER_HOME/contracts by the source's and the compiler settings' digests (solcjs takes
    seconds: every chain command checks the code at the contract's address against it)."""
    import json

    from zkinfer.chain.solidity import settings_digest
    from zkinfer.core import cache
    from zkinfer.core.digest import digest_bytes, digest_json

    try:
        source = SOURCE.read_bytes()
    except OSError as exc:
        raise ChainError(
            f"{SOURCE}: cannot read the stake contract's source ({exc.strerror or exc}); "
            "zkinfer's chain commands run from a checkout"
        ) from exc
    artifact = (
        cache.cache_dir(
            "contracts", cache.key_part(digest_json({"source": digest_bytes(source), "compiler": settings_digest()}))
        )
        / f"{NAME}.json"
    )
    if artifact.is_file():
        return Compiled.from_json(json.loads(artifact.read_text()))
    made = compile_file(SOURCE, NAME)
    cache.write_atomically(artifact, json.dumps(made.to_json()).encode())
    return made


@dataclass(frozen=True)
class Posted:
    """A posted claim or batch: its id, the tree (for batches) and the transaction."""

    batch_id: int
    window_end: int
    sent: Sent
    tree: MerkleTree | None = None


@dataclass(frozen=True)
class NodeInfo:
    address: str
    bond: int
    last_window_end: int
    open_challenges: int
    registered: bool
    slashed: bool
    balance: int  # withdrawable (pull payments)


@dataclass(frozen=True)
class ChallengeInfo:
    key: str
    batch_id: int
    challenger: str
    node: str
    deadline: int
    state: str


@dataclass
class Status:
    """What the chain says: parameters, every node, open claims (in their window), challenges, slashes."""

    address: str
    chain_id: int
    now: int
    params: StakeParams
    owner: str
    burned: int
    nodes: list[NodeInfo] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    claims_posted: int = 0
    batches_in_window: list[dict[str, Any]] = field(default_factory=list)
    challenges: list[ChallengeInfo] = field(default_factory=list)
    slashes: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "contract": self.address,
            "chain_id": self.chain_id,
            "now": self.now,
            "owner": self.owner,
            "burned_wei": self.burned,
            "params": asdict(self.params),
            "nodes": [asdict(n) for n in self.nodes],
            "models": self.models,
            "claims_posted": self.claims_posted,
            "batches_in_window": self.batches_in_window,
            "challenges": [asdict(c) for c in self.challenges],
            "slashes": self.slashes,
        }


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
        self._errors = _error_table(compiled().abi)

    @classmethod
    def deploy(cls, chain: Chain, params: StakeParams = StakeParams()) -> tuple[Stake, Sent]:
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
            raise self._decoded(exc, fn) from exc

    def _decoded(self, exc: ChainError, fn: str) -> ChainError:
        data = _revert_data(exc.__cause__)
        if data is None or data[:4] not in self._errors:
            return exc
        name, types, names = self._errors[data[:4]]
        from eth_abi.abi import decode

        values = decode(types, data[4:])
        args = {n: _plain(v) for n, v in zip(names, values, strict=True)}
        shown = ", ".join(f"{k}={v}" for k, v in args.items())
        return StakeReverted(f"{NAME}.{fn} reverted: {name}({shown}){_HINTS.get(name, '')}", name, args)

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
                "claim_key": "0x" + bytes(e["args"]["claimKey"]).hex(),
                "beneficiary": str(e["args"]["beneficiary"]),
                "amount_wei": int(e["args"]["amount"]),
                "reward_wei": int(e["args"]["reward"]),
                "burned_wei": int(e["args"]["burnedAmount"]),
                "block": int(e["blockNumber"]),
            }
            for e in self.events("Slashed", from_block)
        ]
        return status


_HINTS = {
    "ClaimsInWindow": ": a claim of this node can still be challenged until then; withdraw after it",
    "ChallengesOpen": ": answer (or lose) the open challenges first",
    "NotOwner": ": only the deployer registers models",
    "NotRegistered": ": register the node first (`zkinfer chain register-node`)",
    "BondTooLow": ": bond at least the contract's minBond",
    "ChallengeWindowClosed": ": the claim can no longer be challenged",
    "DeadlineNotPassed": ": the node may still answer; slash after the deadline",
    "AnswerTooLate": ": the deadline passed; the node can now be slashed",
    "NotInBatch": ": the claim or its Merkle proof is not the batch's",
    "InvalidProof": ": the model's verifier rejected the proof",
    "SelfChallenge": ": a node may neither challenge nor prove fraud on its own claims",
    "UnknownModel": ": the model is not registered, so no proof can answer a claim of it",
    "VerifierCodeChanged": (
        ": the model's verifier no longer holds the code it was registered with, so it judges nothing"
    ),
}


def _error_table(abi: list[dict[str, Any]]) -> dict[bytes, tuple[str, list[str], list[str]]]:
    from eth_hash.auto import keccak

    table = {}
    for item in abi:
        if item.get("type") == "error":
            types = [i["type"] for i in item["inputs"]]
            table[keccak(f"{item['name']}({','.join(types)})".encode())[:4]] = (
                item["name"],
                types,
                [i["name"] for i in item["inputs"]],
            )
    return table


def _revert_data(exc: BaseException | None) -> bytes | None:
    """The raw revert data web3 attached to a contract error, if any."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    return None


def _plain(value: Any) -> Any:
    return "0x" + value.hex() if isinstance(value, bytes) else value


# ---- what the CLI does, as functions (the CLI only parses and renders) ----

ROLE = "stake"


def deploy_and_record(chain: Chain, params: StakeParams, registry_file: Path) -> tuple[Stake, Sent]:
    """Deploy a stake contract and record it in `registry_file` (role "stake")."""
    from zkinfer.chain import registry, solidity

    deployed, sent = Stake.deploy(chain, params)
    entry = registry.Deployment(
        contract=ROLE,
        name=NAME,
        chain_id=chain.chain_id,
        address=deployed.address,
        runtime_digest=compiled().runtime_digest,
        compiler=solidity.settings_digest(),
        tx_hash=sent.tx_hash,
        block=sent.block,
        gas_used=sent.gas_used,
        deployed_at=registry.now(),
        deployer=chain.address,
    )
    registry.record(registry_file, entry)
    return deployed, sent


def open_stake(chain: Chain, address: str | None, registry_file: Path) -> Stake:
    """The stake contract at `address`, else the latest one `registry_file` records on this chain;
    either way only once the code there is exactly ZkinferStake."""
    from zkinfer.chain import registry

    if address is None:
        found = registry.find(registry.load(registry_file), ROLE, chain.chain_id)
        if found is None:
            raise ChainError(
                f"{registry_file}: no stake contract recorded on chain {chain.chain_id}; "
                "give --stake ADDRESS or deploy one with `zkinfer chain deploy-stake`"
            )
        address = found.address
    return Stake(chain, address)


def register_circuit(
    stake: Stake,
    circuit_dir: Path,
    verifier_address: str | None,
    verifier_registry: Path | None,
    params_receipt: Receipt | None = None,
) -> tuple[bytes, str, Layout, Sent]:
    """Register a compiled circuit as a model: its circuit digest → its verifier (the address given or
    recorded by `chain deploy-verifier`, checked to hold exactly this circuit's verifier) and layout.
    Hashed weights take their commitment from a receipt of the circuit (`params_receipt`)."""
    from zkinfer.chain import registry, verifier

    artifact = verifier.for_circuit(circuit_dir)
    if verifier_address is None:
        path = verifier.registry_path(circuit_dir, verifier_registry)
        found = registry.find(
            registry.load(path),
            verifier.ROLE,
            stake.chain.chain_id,
            vk_digest=artifact.vk_digest,
            settings_digest=artifact.settings_digest,
        )
        if found is None:
            raise ChainError(
                f"{path}: no verifier for {circuit_dir} recorded on chain {stake.chain.chain_id}; "
                f"run `zkinfer chain deploy-verifier {circuit_dir}` first, or give --verifier"
            )
        verifier_address = found.address
    verifier.check_verifier_code(stake.chain, verifier_address, artifact)
    commitment = None
    if params_receipt is not None:
        from zkinfer.verify.policy import Policy
        from zkinfer.verify.verifier import verify_receipt

        if claims_mod.receipt_model_id(params_receipt) != claims_mod.model_id(artifact.circuit_digest):
            raise ClaimError(
                f"the --receipt is for another circuit than {circuit_dir}: "
                "its weights commitment cannot be pinned for it"
            )
        # a wrong pin would make every honest proof fail (ParamsMismatch) and every claim slashable:
        # only a proven commitment is pinned
        verdict = verify_receipt(params_receipt, Policy(expect_circuit=artifact.circuit_digest), "--receipt")
        if not verdict.verified:
            raise ClaimError(
                f"the --receipt does not verify ({', '.join(verdict.failed())} failed): "
                "its weights commitment is not proven, so it is not pinned"
            )
        commitment = (
            list(proven_instances(params_receipt)[1].weights_commitment or []) or None
        )  # what its proof attests
    from zkinfer.core.circuit import load

    layout = Layout.of_settings(load(circuit_dir).settings, commitment, f"{circuit_dir}/settings.json")
    model = claims_mod.model_id(artifact.circuit_digest)
    return model, verifier_address, layout, stake.register_model(model, verifier_address, layout)
