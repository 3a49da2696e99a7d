// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {ZkinferStake} from "../../../contracts/ZkinferStake.sol";
import {ReentrantNode, IZkinferStake} from "../ReentrantNode.sol";
import {StakeBase} from "./Base.sol";

/// Unit and fuzz tests of the stake contract against a sound mock verifier (Base.sol).
contract ZkinferStakeTest is StakeBase {
    ZkinferStake internal stake;
    address internal constant NODE = address(0xA11CE);
    address internal constant CHALLENGER = address(0xB0B);
    address internal constant SLASHER = address(0x51A5);
    address internal constant STRANGER = address(0x5757);

    function setUp() public {
        stake = deployStake(SHARE_BPS);
        vm.deal(NODE, 100 ether);
        vm.deal(CHALLENGER, 100 ether);
        vm.prank(NODE);
        stake.registerNode{value: MIN_BOND}();
    }

    function post(uint256 request, uint256 x, uint256 y) internal returns (uint256 batchId, ZkinferStake.Claim memory c) {
        c = claimOf(request, x, y);
        vm.prank(NODE);
        batchId = stake.postClaim(c.modelId, c.requestId, c.inputHash, c.outputHash);
    }

    function challenged(uint256 request, uint256 x, uint256 y) internal returns (uint256 batchId, ZkinferStake.Claim memory c) {
        (batchId, c) = post(request, x, y);
        vm.prank(CHALLENGER);
        stake.challenge{value: CHALLENGE_BOND}(batchId, c, noProof());
    }

    function test_an_honest_answer_wins_the_challengers_bond_and_keeps_the_bond() public {
        (uint256 batchId, ZkinferStake.Claim memory c) = challenged(1, 41, 42);
        vm.prank(NODE);
        stake.answer(batchId, c, VALID, instancesOf(41, 42));
        (uint128 bond,, uint32 open,, bool slashed) = stake.nodes(NODE);
        vm.assertEq(bond, MIN_BOND, "bond kept");
        vm.assertEq(open, 0, "no open challenge");
        vm.assertFalse(slashed, "not slashed");
        vm.assertEq(stake.balances(NODE), CHALLENGE_BOND, "the challenger's bond goes to the node");
        vm.warp(block.timestamp + ANSWER_PERIOD + 1);
        bytes32 leaf = stake.leafOf(c);
        vm.expectRevert(abi.encodeWithSelector(ZkinferStake.NoOpenChallenge.selector, stake.claimKey(batchId, leaf)));
        stake.slash(batchId, leaf); // answered: never slashed
    }

    function test_a_lie_cannot_be_answered_and_is_slashed_after_the_deadline() public {
        (uint256 batchId, ZkinferStake.Claim memory c) = challenged(1, 41, 43);
        vm.prank(NODE);
        vm.expectRevert(ZkinferStake.InvalidProof.selector);
        stake.answer(batchId, c, VALID, instancesOf(41, 43));
        bytes32 leaf = stake.leafOf(c);
        vm.expectRevert(abi.encodeWithSelector(ZkinferStake.DeadlineNotPassed.selector, uint64(block.timestamp + ANSWER_PERIOD)));
        stake.slash(batchId, leaf);
        vm.warp(block.timestamp + ANSWER_PERIOD + 1);
        stake.slash(batchId, leaf);
        uint256 reward = (uint256(MIN_BOND) * SHARE_BPS) / 10_000;
        vm.assertEq(stake.balances(CHALLENGER), CHALLENGE_BOND + reward, "challenger: own bond back plus the share");
        vm.assertEq(stake.burned(), MIN_BOND - reward, "the rest burned");
        vm.assertFalse(stake.isActiveNode(NODE), "slashed");
    }

    function test_a_fraud_proof_slashes_at_once_and_refunds_the_open_challenge() public {
        (uint256 batchId, ZkinferStake.Claim memory c) = challenged(1, 7, 9);
        vm.prank(STRANGER);
        stake.proveFraud(batchId, c, noProof(), VALID, instancesOf(7, 8));
        uint256 reward = (uint256(MIN_BOND) * SHARE_BPS) / 10_000;
        vm.assertEq(stake.balances(STRANGER), reward, "the prover takes the share");
        vm.assertEq(stake.balances(CHALLENGER), CHALLENGE_BOND, "the challenger's bond is refunded");
        vm.assertEq(address(stake).balance, reward + CHALLENGE_BOND + stake.burned(), "all ETH accounted");
    }

    function test_a_true_claim_has_no_fraud_proof() public {
        (uint256 batchId, ZkinferStake.Claim memory c) = post(1, 7, 8);
        vm.prank(STRANGER);
        vm.expectRevert(ZkinferStake.NotFraud.selector);
        stake.proveFraud(batchId, c, noProof(), VALID, instancesOf(7, 8));
    }

    function test_no_bond_leaves_during_the_window_or_an_open_challenge() public {
        (uint256 batchId, ZkinferStake.Claim memory c) = post(1, 1, 2);
        uint64 windowEnd = uint64(block.timestamp) + WINDOW;
        vm.prank(NODE);
        vm.expectRevert(abi.encodeWithSelector(ZkinferStake.ClaimsInWindow.selector, windowEnd));
        stake.withdrawBond(1);
        vm.warp(windowEnd); // the last second of the window: still refused, and a challenge is still possible
        vm.prank(CHALLENGER);
        stake.challenge{value: CHALLENGE_BOND}(batchId, c, noProof());
        vm.warp(windowEnd + 1);
        vm.prank(NODE);
        vm.expectRevert(abi.encodeWithSelector(ZkinferStake.ChallengesOpen.selector, uint32(1)));
        stake.withdrawBond(1);
        vm.prank(NODE);
        stake.answer(batchId, c, VALID, instancesOf(1, 2));
        vm.prank(NODE);
        stake.withdrawBond(MIN_BOND);
        vm.prank(NODE);
        stake.withdraw();
        vm.assertEq(NODE.balance, 100 ether + CHALLENGE_BOND, "bond and the won challenge bond paid out");
    }

    function test_slashFor_only_by_the_slasher_role_once_per_reason() public {
        bytes32 reason = keccak256("equivocation #1");
        bytes32 role = stake.SLASHER_ROLE();
        vm.assertEq(role, keccak256("SLASHER_ROLE"), "role id");
        vm.prank(SLASHER);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, SLASHER, role));
        stake.slashFor(NODE, SLASHER, reason);
        vm.prank(STRANGER); // only the admin grants it
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, STRANGER, bytes32(0)));
        stake.grantRole(role, STRANGER);
        stake.grantRole(role, SLASHER);
        vm.assertTrue(stake.isActiveNode(NODE), "active before");
        vm.prank(SLASHER);
        stake.slashFor(NODE, CHALLENGER, reason);
        vm.assertFalse(stake.isActiveNode(NODE), "inactive after");
        vm.assertEq(stake.balances(CHALLENGER), MIN_BOND / 2, "half to the beneficiary");
        vm.assertEq(stake.burned(), MIN_BOND / 2, "half burned");
        vm.prank(SLASHER);
        vm.expectRevert(abi.encodeWithSelector(ZkinferStake.AlreadySlashedFor.selector, reason));
        stake.slashFor(NODE, CHALLENGER, reason);
        vm.prank(SLASHER);
        vm.expectRevert(abi.encodeWithSelector(ZkinferStake.NothingAtStake.selector, NODE));
        stake.slashFor(NODE, CHALLENGER, keccak256("another"));
    }

    function test_lockBond_only_by_the_slasher_role_only_extends_and_holds_the_bond() public {
        bytes32 role = stake.SLASHER_ROLE();
        uint64 until = uint64(block.timestamp) + 100;
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, STRANGER, role));
        stake.lockBond(NODE, until);
        stake.grantRole(role, SLASHER);
        vm.prank(SLASHER);
        stake.lockBond(NODE, until);
        vm.prank(SLASHER);
        stake.lockBond(NODE, until - 50); // an earlier end never shortens the hold
        vm.prank(NODE);
        vm.expectRevert(abi.encodeWithSelector(ZkinferStake.ClaimsInWindow.selector, until));
        stake.withdrawBond(1);
        vm.warp(until + 1);
        vm.prank(NODE);
        stake.withdrawBond(MIN_BOND);
        vm.prank(SLASHER);
        vm.expectRevert(abi.encodeWithSelector(ZkinferStake.NotRegistered.selector, STRANGER));
        stake.lockBond(STRANGER, until + 100);
    }

    function test_only_the_admin_registers_models_and_a_model_never_changes() public {
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, STRANGER, bytes32(0)));
        stake.registerModel(keccak256("m"), address(this), 1, 0, 1, false, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(ZkinferStake.ModelExists.selector, MODEL));
        stake.registerModel(MODEL, address(this), 1, 0, 1, false, bytes32(0));
        (, uint16 nInput, uint16 nParams, uint16 nOutput, bool inputFirst,,) = stake.models(MODEL);
        vm.assertEq(nInput + nParams * 10 + nOutput * 100, 101, "layout readable");
        vm.assertFalse(inputFirst, "inputFirst readable");
        vm.assertEq(uint256(uint160(stake.owner())), uint256(uint160(address(this))), "the deployer is the admin");
    }

    function test_verifyModelProof_returns_the_hashes_of_a_valid_proof_only() public {
        (bytes32 input, bytes32 output) = stake.verifyModelProof(MODEL, VALID, instancesOf(5, 6));
        vm.assertEq(input, word(5), "input hash");
        vm.assertEq(output, word(6), "output hash");
        vm.expectRevert(ZkinferStake.InvalidProof.selector);
        stake.verifyModelProof(MODEL, VALID, instancesOf(5, 7));
        vm.expectRevert(abi.encodeWithSelector(ZkinferStake.UnknownModel.selector, bytes32(0)));
        stake.verifyModelProof(bytes32(0), VALID, instancesOf(5, 6));
    }

    function test_a_payout_that_reenters_is_paid_once() public {
        ReentrantNode evil = new ReentrantNode(IZkinferStake(address(stake)));
        evil.register{value: MIN_BOND}();
        evil.cashOut(MIN_BOND);
        vm.assertEq(evil.payments(), 1, "paid once");
        vm.assertFalse(evil.reentered(), "the re-entry failed");
        vm.assertEq(bytes32(evil.reentryError()), bytes32(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector), "OZ's guard");
    }

    /// A batch of 3 (the odd leaf carried up), every leaf challengeable with its siblings, matching the
    /// Python tree builder (zkinfer.chain.claims.MerkleTree: inner node = OZ's commutative keccak).
    function test_batch_leaves_are_proven_with_oz_merkle_proofs() public {
        bytes32[3] memory leaves;
        ZkinferStake.Claim[3] memory batch;
        for (uint256 i = 0; i < 3; ++i) {
            batch[i] = claimOf(i, i, i + 1);
            leaves[i] = stake.leafOf(batch[i]);
        }
        bytes32 inner = Hashes.commutativeKeccak256(leaves[0], leaves[1]);
        bytes32 root = Hashes.commutativeKeccak256(inner, leaves[2]);
        vm.prank(NODE);
        uint256 batchId = stake.postBatch(root, 3);
        bytes32[][3] memory proofs;
        proofs[0] = new bytes32[](2);
        (proofs[0][0], proofs[0][1]) = (leaves[1], leaves[2]);
        proofs[1] = new bytes32[](2);
        (proofs[1][0], proofs[1][1]) = (leaves[0], leaves[2]);
        proofs[2] = new bytes32[](1);
        proofs[2][0] = inner;
        for (uint256 i = 0; i < 3; ++i) {
            vm.assertEq(stake.merkleRoot(leaves[i], proofs[i]), root, "root");
            vm.prank(CHALLENGER);
            stake.challenge{value: CHALLENGE_BOND}(batchId, batch[i], proofs[i]);
        }
        ZkinferStake.Claim memory outside = claimOf(9, 9, 10);
        vm.prank(CHALLENGER); // a claim outside the batch has no path to its root
        vm.expectRevert(abi.encodeWithSelector(ZkinferStake.NotInBatch.selector, batchId, stake.leafOf(outside)));
        stake.challenge{value: CHALLENGE_BOND}(batchId, outside, proofs[2]);
    }

    /// Fuzz: a slash splits exactly as configured, whatever the bond and the share.
    function testFuzz_slashed_amounts_split_exactly(uint128 extra, uint16 shareBps) public {
        shareBps = uint16(bound(shareBps, 0, 10_000));
        extra = uint128(bound(extra, 0, 1_000_000 ether));
        ZkinferStake s = deployStake(shareBps);
        s.grantRole(s.SLASHER_ROLE(), SLASHER);
        vm.deal(NODE, uint256(MIN_BOND) + extra);
        vm.prank(NODE);
        s.registerNode{value: uint256(MIN_BOND) + extra}();
        vm.prank(SLASHER);
        s.slashFor(NODE, CHALLENGER, bytes32(uint256(1)));
        uint256 amount = uint256(MIN_BOND) + extra;
        uint256 reward = (amount * shareBps) / 10_000;
        vm.assertEq(s.balances(CHALLENGER), reward, "beneficiary gets shareBps of the bond");
        vm.assertEq(s.burned(), amount - reward, "the rest is burned");
        vm.assertEq(address(s).balance, amount, "nothing left the contract");
    }

    /// Fuzz: the node cannot withdraw at any moment of a claim's window.
    function testFuzz_no_withdrawal_inside_the_window(uint64 after_, uint128 amount) public {
        post(1, 1, 2);
        uint256 windowEnd = block.timestamp + WINDOW;
        vm.warp(bound(after_, block.timestamp, windowEnd));
        amount = uint128(bound(amount, 1, MIN_BOND));
        vm.prank(NODE);
        vm.expectRevert(abi.encodeWithSelector(ZkinferStake.ClaimsInWindow.selector, uint64(windowEnd)));
        stake.withdrawBond(amount);
    }

    /// Fuzz: a claim about any other output than the model's can never be answered.
    function testFuzz_a_false_claim_is_never_answered(uint64 x, uint64 y) public {
        vm.assume(uint256(y) != uint256(x) + 1);
        (uint256 batchId, ZkinferStake.Claim memory c) = challenged(1, x, y);
        vm.prank(NODE);
        vm.expectRevert(ZkinferStake.InvalidProof.selector);
        stake.answer(batchId, c, VALID, instancesOf(x, y));
    }
}
