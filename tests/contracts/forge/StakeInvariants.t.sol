// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ZkinferStake} from "../../../contracts/ZkinferStake.sol";
import {StakeBase} from "./Base.sol";

/// The actors forge's invariant fuzzer drives: an honest node that answers every challenge with a valid proof
/// before its deadline, two lying nodes, two challengers, a SLASHER_ROLE holder that slashes only liars, and a
/// stranger who keeps trying what only the slasher may do. Each action is a real call as that actor; what must
/// never happen is recorded (`violations`) and the invariants read it with the contract's own state.
contract StakeHandler is StakeBase {
    struct Rec {
        uint256 batchId;
        address node;
        ZkinferStake.Claim claim;
        bytes32[] proof;
        uint256 x; // the request's input: the model says x + 1
        uint256 y; // the claimed output
        bool challenged;
        bool answered;
        bool slashed; // by `slash` or a fraud proof
    }

    ZkinferStake public immutable stake;
    address public constant HONEST = address(0x1000);
    address[2] public liars = [address(0x2000), address(0x2001)];
    address[2] public challengers = [address(0x3000), address(0x3001)];
    address public constant SLASHER = address(0x4000);
    address public constant STRANGER = address(0x5000);
    Rec[] internal recs;
    uint256 public honestBond; // what the honest node put in minus what it moved out of its bond
    uint256 public nextRequest;
    string public violation; // empty while nothing forbidden happened

    constructor(ZkinferStake stake_) {
        stake = stake_;
        vm.deal(HONEST, 1_000 ether);
        vm.prank(HONEST);
        stake.registerNode{value: MIN_BOND}();
        honestBond = MIN_BOND;
        for (uint256 i = 0; i < 2; ++i) {
            vm.deal(liars[i], 1_000 ether);
            vm.prank(liars[i]);
            stake.registerNode{value: MIN_BOND}();
            vm.deal(challengers[i], 1_000 ether);
        }
    }

    function actors() external view returns (address[] memory all) {
        all = new address[](7);
        (all[0], all[1], all[2], all[3], all[4], all[5], all[6]) =
            (HONEST, liars[0], liars[1], challengers[0], challengers[1], SLASHER, STRANGER);
    }

    function recCount() external view returns (uint256) {
        return recs.length;
    }

    function rec(uint256 i) external view returns (uint256 batchId, bytes32 leaf, bool answered, bool slashed) {
        Rec storage r = recs[i];
        return (r.batchId, stake.leafOf(r.claim), r.answered, r.slashed);
    }

    function _flag(string memory what) internal {
        if (bytes(violation).length == 0) violation = what;
    }

    // ---- the nodes ----

    /// The honest node posts a single claim of the model's output, or a batch of three.
    function postHonest(uint64 x, bool asBatch) external {
        if (!stake.isActiveNode(HONEST)) return;
        if (!asBatch) {
            _postSingle(HONEST, x, uint256(x) + 1);
            return;
        }
        ZkinferStake.Claim[3] memory batch;
        bytes32[3] memory leaves;
        for (uint256 i = 0; i < 3; ++i) {
            batch[i] = claimOf(nextRequest++, uint256(x) + i, uint256(x) + i + 1);
            leaves[i] = stake.leafOf(batch[i]);
        }
        bytes32 inner = _pair(leaves[0], leaves[1]);
        vm.prank(HONEST);
        uint256 batchId = stake.postBatch(_pair(inner, leaves[2]), 3);
        bytes32[] memory p0 = new bytes32[](2);
        (p0[0], p0[1]) = (leaves[1], leaves[2]);
        bytes32[] memory p1 = new bytes32[](2);
        (p1[0], p1[1]) = (leaves[0], leaves[2]);
        bytes32[] memory p2 = new bytes32[](1);
        p2[0] = inner;
        _record(batchId, HONEST, batch[0], p0, uint256(x), uint256(x) + 1);
        _record(batchId, HONEST, batch[1], p1, uint256(x) + 1, uint256(x) + 2);
        _record(batchId, HONEST, batch[2], p2, uint256(x) + 2, uint256(x) + 3);
    }

    /// A liar posts a claim of another output than the model's.
    function postLie(uint8 who, uint64 x, uint64 y) external {
        address liar = liars[who % 2];
        if (!stake.isActiveNode(liar) || uint256(y) == uint256(x) + 1) return;
        _postSingle(liar, x, y);
    }

    function addBond(uint8 who, uint96 amount) external {
        address node = who % 3 == 0 ? HONEST : liars[who % 2];
        amount = uint96(bound(amount, 1, 10 ether));
        vm.prank(node);
        try stake.addBond{value: amount}() {
            if (node == HONEST) honestBond += amount;
        } catch {}
    }

    /// Any node tries to move bond out; it must fail while a claim is in its window or a challenge is open.
    function withdrawBond(uint8 who, uint128 amount) external {
        address node = who % 3 == 0 ? HONEST : liars[who % 2];
        (uint128 bond, uint64 lastWindowEnd, uint32 open,,) = stake.nodes(node);
        amount = uint128(bound(amount, 1, uint256(bond) + 1));
        vm.prank(node);
        try stake.withdrawBond(amount) {
            if (block.timestamp <= lastWindowEnd) _flag("bond withdrawn during an open challenge window");
            if (open != 0) _flag("bond withdrawn during an open challenge");
            if (node == HONEST) honestBond -= amount;
        } catch {}
    }

    /// Anyone pulls their balance.
    function withdraw(uint8 who) external {
        address a = this.actors()[who % 7];
        vm.prank(a);
        try stake.withdraw() {} catch {}
    }

    // ---- challenges and slashing ----

    function challenge(uint256 index, uint8 who) external {
        if (recs.length == 0) return;
        Rec storage r = recs[index % recs.length];
        vm.prank(challengers[who % 2]);
        try stake.challenge{value: CHALLENGE_BOND}(r.batchId, r.claim, r.proof) {
            r.challenged = true;
        } catch {}
    }

    /// A liar tries to answer with a valid proof of the true output (another output than its claim) and with
    /// its claimed output (no valid proof exists for it); neither may answer.
    function liarAnswers(uint256 index, bool trueProof) external {
        if (recs.length == 0) return;
        Rec storage r = _challengedFrom(index);
        if (r.node == HONEST) return;
        uint256[] memory instances = instancesOf(r.x, trueProof ? r.x + 1 : r.y);
        vm.prank(r.node);
        try stake.answer(r.batchId, r.claim, VALID, instances) {
            _flag("a false claim was answered");
        } catch {}
    }

    /// Past a deadline, anyone slashes an unanswered challenge; the split is checked to the wei.
    function slash(uint256 index, uint8 who) external {
        if (recs.length == 0) return;
        Rec storage r = _challengedFrom(index);
        address by = this.actors()[who % 7];
        bytes32 key = stake.claimKey(r.batchId, stake.leafOf(r.claim));
        (address challenger,,) = stake.challenges(key);
        (uint128 bond,,,,) = stake.nodes(r.node);
        uint256 before = stake.balances(challenger);
        uint256 burnedBefore = stake.burned();
        vm.prank(by);
        try stake.slash(r.batchId, stake.leafOf(r.claim)) {
            if (r.answered) _flag("an answered claim was slashed");
            r.slashed = true;
            _checkSplit(bond, stake.balances(challenger) - before - CHALLENGE_BOND, burnedBefore);
        } catch {}
    }

    /// A challenger proves a lie with the model's true output.
    function proveFraud(uint256 index, uint8 who) external {
        if (recs.length == 0) return;
        Rec storage r = recs[index % recs.length];
        address prover = challengers[who % 2];
        (uint256 bond, uint256 base, uint256 burnedBefore) = _beforeFraud(r, prover);
        vm.prank(prover);
        try stake.proveFraud(r.batchId, r.claim, r.proof, VALID, instancesOf(r.x, r.x + 1)) {
            if (r.answered) _flag("an answered claim was proven a fraud");
            r.slashed = true;
            _checkSplit(bond, stake.balances(prover) - base, burnedBefore);
        } catch {}
    }

    /// The node's bond, the prover's balance plus the challenge bond refunded to it (if it is the challenger),
    /// and `burned`, before a fraud proof.
    function _beforeFraud(Rec storage r, address prover) internal view returns (uint256, uint256, uint256) {
        (uint128 bond,,,,) = stake.nodes(r.node);
        (address challenger,, ZkinferStake.ClaimState state) =
            stake.challenges(stake.claimKey(r.batchId, stake.leafOf(r.claim)));
        uint256 refund = state == ZkinferStake.ClaimState.Challenged && challenger == prover ? CHALLENGE_BOND : 0;
        return (bond, stake.balances(prover) + refund, stake.burned());
    }

    /// The slasher slashes a liar at once (what the signature-evidence contracts do).
    function slashFor(uint8 who, bytes32 reason, uint8 beneficiary) external {
        address liar = liars[who % 2];
        address to = this.actors()[beneficiary % 7];
        (uint128 bond,,,,) = stake.nodes(liar);
        uint256 before = stake.balances(to);
        uint256 burnedBefore = stake.burned();
        vm.prank(SLASHER);
        try stake.slashFor(liar, to, reason) {
            _checkSplit(bond, stake.balances(to) - before, burnedBefore);
        } catch {}
    }

    /// Anyone without SLASHER_ROLE tries slashFor on anyone, the honest node included.
    function strangerSlashFor(uint8 who, uint8 node, bytes32 reason) external {
        address by = this.actors()[who % 7];
        if (by == SLASHER) by = STRANGER;
        address target = node % 3 == 0 ? HONEST : liars[node % 2];
        vm.prank(by);
        try stake.slashFor(target, by, reason) {
            _flag("slashFor succeeded without SLASHER_ROLE");
        } catch {}
    }

    /// Time passes; the honest node answers every open challenge of its claims first, with a valid proof.
    function warp(uint32 seconds_) external {
        for (uint256 i = 0; i < recs.length; ++i) {
            Rec storage r = recs[i];
            if (r.node != HONEST || !r.challenged || r.answered) continue;
            vm.prank(HONEST);
            try stake.answer(r.batchId, r.claim, VALID, instancesOf(r.x, r.x + 1)) {
                r.answered = true;
            } catch {
                _flag("the honest node could not answer a challenge");
            }
        }
        vm.warp(block.timestamp + bound(seconds_, 1, 2 * (uint256(WINDOW) + ANSWER_PERIOD)));
    }

    // ---- helpers ----

    function _postSingle(address node, uint256 x, uint256 y) internal {
        ZkinferStake.Claim memory c = claimOf(nextRequest++, x, y);
        vm.prank(node);
        uint256 batchId = stake.postClaim(c.modelId, c.requestId, c.inputHash, c.outputHash);
        _record(batchId, node, c, new bytes32[](0), x, y);
    }

    function _record(
        uint256 batchId,
        address node,
        ZkinferStake.Claim memory c,
        bytes32[] memory proof,
        uint256 x,
        uint256 y
    ) internal {
        Rec storage r = recs.push();
        (r.batchId, r.node, r.claim, r.x, r.y) = (batchId, node, c, x, y);
        for (uint256 i = 0; i < proof.length; ++i) r.proof.push(proof[i]);
    }

    /// The first challenged claim from `index` on (wrapping), else the one at `index`: slashing and answering
    /// only do something on challenged claims, so the fuzzer's calls land there.
    function _challengedFrom(uint256 index) internal view returns (Rec storage) {
        uint256 n = recs.length;
        for (uint256 k = 0; k < n; ++k) {
            if (recs[(index + k) % n].challenged) return recs[(index + k) % n];
        }
        return recs[index % n];
    }

    function _checkSplit(uint256 amount, uint256 reward, uint256 burnedBefore) internal {
        if (reward != (amount * SHARE_BPS) / 10_000) _flag("the beneficiary's share is not slashShareBps of the bond");
        if (stake.burned() - burnedBefore != amount - reward) _flag("the burned amount is not the rest of the bond");
    }

    function _pair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }
}

/// The invariants, checked by forge after every action of every run.
contract StakeInvariants is StakeBase {
    ZkinferStake internal stake;
    StakeHandler internal handler;

    function setUp() public {
        stake = deployStake(SHARE_BPS);
        handler = new StakeHandler(stake);
        stake.grantRole(stake.SLASHER_ROLE(), handler.SLASHER());
    }

    /// forge's invariant fuzzer calls only the handler's actions.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// The ETH the contract holds is exactly every bond + every withdrawable balance + every open challenge's
    /// bond + what was burned (burned ETH stays locked in the contract).
    function invariant_eth_held_equals_bonds_balances_open_challenges_and_burned() public view {
        address[] memory all = handler.actors();
        uint256 owed = stake.burned();
        for (uint256 i = 0; i < all.length; ++i) {
            (uint128 bond,, uint32 open,,) = stake.nodes(all[i]);
            owed += uint256(bond) + stake.balances(all[i]) + uint256(open) * CHALLENGE_BOND;
        }
        owed += stake.balances(address(handler));
        vm.assertEq(address(stake).balance, owed, "ETH held != bonds + balances + open challenge bonds + burned");
    }

    /// The honest node, which answers every challenge with a valid proof, never loses bond.
    function invariant_an_honest_node_never_loses_bond() public view {
        (uint128 bond,,,, bool slashed) = stake.nodes(handler.HONEST());
        vm.assertFalse(slashed, "the honest node was slashed");
        vm.assertEq(bond, handler.honestBond(), "the honest node's bond is not what it put in minus what it took out");
    }

    /// No claim is both answered and slashed (the handler's record and the contract's state agree).
    function invariant_no_claim_is_both_answered_and_slashed() public view {
        uint256 n = handler.recCount();
        for (uint256 i = 0; i < n; ++i) {
            (uint256 batchId, bytes32 leaf, bool answered, bool slashed) = handler.rec(i);
            vm.assertFalse(answered && slashed, "a claim both answered and slashed");
            (,, ZkinferStake.ClaimState state) = stake.challenges(stake.claimKey(batchId, leaf));
            if (answered) vm.assertTrue(state == ZkinferStake.ClaimState.Answered, "an answered claim changed state");
            if (slashed) {
                vm.assertTrue(
                    state == ZkinferStake.ClaimState.Slashed || state == ZkinferStake.ClaimState.Fraud,
                    "a slashed claim changed state"
                );
            }
        }
    }

    /// Nobody withdrew during a window or a challenge, slashes split exactly, and only SLASHER_ROLE slashed at once.
    function invariant_nothing_forbidden_happened() public view {
        vm.assertEq(keccak256(bytes(handler.violation())), keccak256(""), handler.violation());
    }
}
