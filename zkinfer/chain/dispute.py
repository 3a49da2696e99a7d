"""A typed client for the dispute game (`contracts/ZkinferDisputeSteps.sol` over `ZkinferDispute.sol`): open a
dispute over an LLM answer, bisect, settle an `attend`, `pre` or `post` leaf with a referee proof.

Each call is one transaction whose `Sent.gas_used` the benchmark and the tests read. The node's
moves (`post_root`, `reveal`, `settle`) take its trace (`zkinfer.llm.trace`); the challenger's
`pick` takes the children the node revealed (from the node's `Revealed` event, or the node's trace
handed over off chain: the same bytes, checked against the current hash by the contract).
`open` takes a receipt the node signed (its trace claim, `dispute_binding`); `settle_embed`,
`settle_token` and the final-state demand are the steps the contract settles without a circuit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zkinfer.chain import deploy, dispute_binding, solidity
from zkinfer.chain.account import Chain
from zkinfer.chain.deploy import Sent
from zkinfer.core.support.errors import ChainError
from zkinfer.llm import referee, trace, trace_tree, weights_tree
from zkinfer.llm.receipt import LlmReceipt
from zkinfer.llm.substeps import Weights

SOURCE = Path(__file__).resolve().parents[2] / "contracts" / "ZkinferDisputeSteps.sol"
KIND_CODES: dict[trace.Kind, int] = {"pre": 1, "post": 2}  # the contract's PRE and POST (attend has its own)
PHASES = (
    "None",
    "AwaitRoot",
    "AwaitReveal",
    "AwaitPick",
    "AwaitLeaf",
    "AwaitHead",
    "AwaitProof",
    "NodeWon",
    "ChallengerWon",
)


@functools.cache
def compiled() -> solidity.Compiled:
    return solidity.compile_file(SOURCE, "ZkinferDisputeSteps")


@dataclass(frozen=True)
class Params:
    """The game's settings; the model's shape defaults to the bundled model's (`for_model` reads a model's)."""

    bond: int = 10**16  # wei the challenger posts
    turn: int = 3600  # seconds each party has for its move
    layers: int = 4
    heads: int = 4
    head_width: int = 32
    tolerance: int = referee.TOLERANCE_STEPS  # attend's (pre and post: per verifier, at registration)

    @classmethod
    def for_model(cls, weights: Weights, **settings: int) -> Params:
        return cls(layers=len(weights.layers), heads=weights.heads, head_width=weights.head_width, **settings)


def deploy_dispute(
    chain: Chain, stake: str, attend_verifier: str, binding: dispute_binding.Binding, params: Params = Params()
) -> Sent:
    """Deploy the game for `binding`'s model and key registry; `stake` is the stake contract it slashes through
    (it needs SLASHER_ROLE there: `slashFor`, and `lockBond` at each open), or the zero address to play for
    bonds only. The pre and post verifiers are registered after (`Dispute.register_verifier`, by this
    account, before the first dispute)."""
    p = params
    args = (p.bond, p.turn, p.layers, p.heads, p.head_width, p.tolerance, binding.as_tuple())
    return deploy.deploy(chain, compiled(), stake, attend_verifier, *args)


class Dispute:
    """One deployed game contract, driven by one account (make one per party)."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain, self.address = chain, address
        self.contract: Any = deploy.contract(chain, address, compiled())

    def _send(self, call: Any, what: str, value: int = 0) -> Sent:
        return deploy.transact(self.chain, call, what, value)

    def state(self, dispute_id: int) -> dict[str, Any]:
        names = (
            "node",
            "deadline",
            "phase",
            "level",
            "head",
            "index",
            "challenger",
            "positions",
            "answer",
            "root",
            "current",
        )
        values = self.contract.functions.disputes(dispute_id).call()
        result = dict(zip(names, values, strict=True))
        result["phase"] = PHASES[result["phase"]]
        return result

    def open(self, node: str, receipt: LlmReceipt) -> tuple[int, Sent]:
        """Dispute the answer of `receipt`, which `node` signed (its trace signature, by its registered key)."""
        return self.open_claim(node, *dispute_binding.open_args(receipt))

    def open_claim(
        self, node: str, claim: bytes, public_key: bytes, key_point: bytes, signature_point: bytes
    ) -> tuple[int, Sent]:
        """`open` with the claim and points as given (the contract checks them)."""
        from web3 import Web3

        bond = int(self.contract.functions.bond().call())
        call = self.contract.functions.open(
            Web3.to_checksum_address(node), claim, public_key, key_point, signature_point
        )
        sent = self._send(call, "open a dispute", bond)
        return int(self.contract.functions.disputeCount().call()), sent

    def settle_embed(
        self,
        dispute_id: int,
        computed: trace.Trace,
        answer: dispute_binding.Answer,
        rows: weights_tree.WeightsTree,
    ) -> Sent:
        """Settle the `embed` leaf bisection reached, from `computed` (the node's trace) and the disputed
        answer (`dispute_binding.answer_of`): anyone may send it."""
        args = dispute_binding.embed_args(self.state(dispute_id)["index"], computed, answer, rows)
        return self._send(self.contract.functions.settleEmbed(dispute_id, *args), "settle the embed step")

    def settle_token(
        self,
        dispute_id: int,
        hidden: dispute_binding.Opening,
        answer: dispute_binding.Answer,
        rows: weights_tree.WeightsTree,
        t: int,
        rival: int,
    ) -> Sent:
        """The challenger's move: the node's h_L[t] (`hidden`) prefers `rival` to the token it signed (greedy)."""
        args = dispute_binding.token_args(hidden, answer, rows, t, rival)
        return self._send(self.contract.functions.settleToken(dispute_id, *args), "settle a greedy token")

    def demand_final_state(self, dispute_id: int, t: int, answer: dispute_binding.Answer) -> Sent:
        """The challenger demands the node open h_L[t] within one turn (once per dispute)."""
        call = self.contract.functions.demandFinalState(dispute_id, t, answer[0])
        return self._send(call, "demand a final state")

    def open_final_state(self, dispute_id: int, computed: trace.Trace) -> Sent:
        """The node's answer to the demand, from its trace."""
        t = int(self.contract.functions.demands(dispute_id).call()[1])
        hidden = dispute_binding.final_state(computed, t)
        return self._send(self.contract.functions.openFinalState(dispute_id, hidden), "open the final state")

    def opened_final_state(self, dispute_id: int) -> dispute_binding.Opening:
        """What the node opened on demand (its FinalStateOpened event), for `settle_token`."""
        logs = self.contract.events.FinalStateOpened().get_logs(from_block=0, argument_filters={"id": dispute_id})
        if len(logs) != 1:
            raise ChainError(f"dispute {dispute_id}: the node has not opened a final state")
        return bytes(logs[0]["args"]["values"]), [bytes(h) for h in logs[0]["args"]["path"]]

    def final_state_timeout(self, dispute_id: int) -> Sent:
        return self._send(self.contract.functions.finalStateTimeout(dispute_id), "claim an unanswered demand")

    def post_root(self, dispute_id: int, computed: trace.Trace) -> Sent:
        return self._send(self.contract.functions.postRoot(dispute_id, computed.root), "post the trace root")

    def reveal(self, dispute_id: int, computed: trace.Trace) -> Sent:
        state = self.state(dispute_id)
        children = list(computed.tree.children(state["level"], state["index"]))
        return self._send(self.contract.functions.reveal(dispute_id, children), "reveal the children")

    def pick(self, dispute_id: int, children: tuple[bytes, ...], child: int) -> Sent:
        """Pick `child` of the revealed `children`: the contract takes its hash and its siblings in the node."""
        siblings = trace_tree.siblings(children, child)
        call = self.contract.functions.pick(dispute_id, child, children[child], siblings)
        return self._send(call, "pick a child")

    def reveal_leaf(self, dispute_id: int, computed: trace.Trace) -> Sent:
        step = computed.shape.step_at(self.state(dispute_id)["index"])
        values = trace_tree.packed(computed.values(step))
        return self._send(self.contract.functions.revealLeaf(dispute_id, values), "reveal the leaf")

    def pick_head(self, dispute_id: int, head: int) -> Sent:
        return self._send(self.contract.functions.pickHead(dispute_id, head), "name the head")

    def register_verifier(
        self, kind: trace.Kind, layer: int, part: int, verifier: str, tolerance: int | None = None
    ) -> Sent:
        """The deployer's one-time registration of the verifier of one (kind, layer, part) referee circuit and its
        tolerance (by default the measured one: `referee.tolerance`)."""
        from web3 import Web3

        steps = referee.tolerance(kind, layer) if tolerance is None else tolerance
        address = Web3.to_checksum_address(verifier)
        call = self.contract.functions.registerVerifier(KIND_CODES[kind], layer, part, address, steps)
        return self._send(call, f"register the {kind} verifier of layer {layer}, part {part}")

    def settle(self, dispute_id: int, computed: trace.Trace, proof: bytes, outputs: list[int]) -> Sent:
        """The node's defence of the disputed leaf, whatever its kind, with a referee proof of the part the
        challenger named; `outputs` are the proof's public outputs (field elements). The contract lays out
        the inputs from the openings of the step's input leaves (`trace.Shape.inputs`) and takes the outputs
        as int16 deltas from the claimed part's values (one beyond int16 is sent clamped: outside tolerance)."""
        state = self.state(dispute_id)
        step = computed.shape.step_at(state["index"])
        values = computed.values(step)
        heads, width = int(self.contract.functions.heads().call()), int(self.contract.functions.headWidth().call())
        claimed_part = values[referee.part_columns(step.kind, heads, width, state["head"])]
        proven = np.array([trace_tree.signed(felt) for felt in outputs], dtype=object)
        deltas = np.clip(proven - claimed_part.astype(object), -(1 << 15), (1 << 15) - 1).astype(">i2").tobytes()
        claimed = trace_tree.packed(values)
        openings = [self._opening(computed, s) for s in computed.shape.inputs(step)]
        functions = self.contract.functions
        if step.kind == "attend":
            if not step.key:  # the initial state is a constant: the slot is not read
                openings.insert(0, openings[0])
            call = functions.settleAttend(dispute_id, step.position, openings, claimed, proof, deltas)
        elif step.kind == "pre":
            call = functions.settlePre(dispute_id, step.position, openings[0], claimed, proof, deltas)
        elif step.kind == "post":
            call = functions.settlePost(dispute_id, step.position, openings, claimed, proof, deltas)
        else:
            raise ValueError(f"no referee settles {step} steps")
        return self._send(call, f"settle the {step.kind} step")

    @staticmethod
    def _opening(computed: trace.Trace, step: trace.Step) -> tuple[bytes, list[bytes]]:
        index = computed.shape.index(step)
        return trace_tree.packed(computed.values(step)), computed.tree.proof(index)

    def timeout(self, dispute_id: int) -> Sent:
        return self._send(self.contract.functions.timeout(dispute_id), "claim a missed turn")

    def credit(self, account: str) -> int:
        from web3 import Web3

        return int(self.contract.functions.credit(Web3.to_checksum_address(account)).call())


def bisect(
    node: Dispute, challenger: Dispute, dispute_id: int, theirs: trace.Trace, mine: trace.Trace, weights: Weights
) -> list[Sent]:
    """The rounds down to one leaf and head: the node reveals, the challenger picks the first child that
    differs from its own trace (`referee.descend`); the node shows the leaf, the challenger names the
    part (`referee.differing_part`) farthest from its own. Every transaction, in order (reveal, pick, …,
    revealLeaf, pickHead)."""
    sent = []
    for child in referee.descend(theirs.tree, mine.tree):
        sent.append(node.reveal(dispute_id, theirs))
        state = challenger.state(dispute_id)
        sent.append(challenger.pick(dispute_id, theirs.tree.children(state["level"], state["index"]), child))
    sent.append(node.reveal_leaf(dispute_id, theirs))
    step = theirs.shape.step_at(challenger.state(dispute_id)["index"])
    sent.append(
        challenger.pick_head(
            dispute_id, referee.differing_part(weights, step.kind, theirs.values(step), mine.values(step))
        )
    )
    return sent


def error_selector(signature: str) -> str:
    """The hex a revert with this custom error carries (e.g. "OutsideTolerance(uint256,int256,int256)")."""
    from eth_hash.auto import keccak

    return keccak(signature.encode())[:4].hex()


def instances_of(inputs: np.ndarray, outputs: np.ndarray) -> list[int]:
    """Signed integers → the field elements a verifier takes, inputs then outputs."""
    return [int(v) % trace_tree.FIELD_MODULUS for v in np.concatenate([inputs, outputs]).tolist()]
