// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ZkinferStake} from "../../../contracts/ZkinferStake.sol";

/// The forge cheatcodes these tests use (forge-std is not on the npm registry in an official build, so the few
/// cheatcodes are declared here; forge answers them at this fixed address).
interface Vm {
    function prank(address sender) external;
    function deal(address account, uint256 amount) external;
    function warp(uint256 timestamp) external;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert(bytes4 revertData) external;
    function expectRevert() external;
    function assume(bool condition) external;
    function assertEq(uint256 a, uint256 b, string calldata err) external pure;
    function assertEq(bytes32 a, bytes32 b, string calldata err) external pure;
    function assertTrue(bool condition, string calldata err) external pure;
    function assertFalse(bool condition, string calldata err) external pure;
}

/// Solidity tests ONLY: a sound stand-in for an ezkl verifier of the model y = x + 1 (one input felt, one output
/// felt). A "proof" is the byte 0x01; it verifies exactly when the output is the model's, so no proof exists
/// for a false claim and one does for every true claim. (The Python e2e tests keep the real ezkl verifiers.)
contract PlusOneVerifier {
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external pure returns (bool) {
        return proof.length == 1 && proof[0] == 0x01 && instances.length == 2 && instances[1] == instances[0] + 1;
    }
}

/// What the stake tests share: the cheatcodes, the model, claims of it and their hashes.
abstract contract StakeBase {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    bytes32 internal constant MODEL = keccak256("plus-one");
    uint128 internal constant MIN_BOND = 1 ether;
    uint128 internal constant CHALLENGE_BOND = 0.1 ether;
    uint64 internal constant WINDOW = 600;
    uint64 internal constant ANSWER_PERIOD = 300;
    uint16 internal constant SHARE_BPS = 5000;
    bytes internal constant VALID = hex"01";

    function deployStake(uint16 shareBps) internal returns (ZkinferStake stake) {
        stake = new ZkinferStake(MIN_BOND, CHALLENGE_BOND, WINDOW, ANSWER_PERIOD, shareBps);
        stake.registerModel(MODEL, address(new PlusOneVerifier()), 1, 0, 1, false, bytes32(0));
    }

    function word(uint256 x) internal pure returns (bytes32) {
        return keccak256(abi.encode(x));
    }

    /// The claim that model(x) = y for request `request`.
    function claimOf(uint256 request, uint256 x, uint256 y) internal pure returns (ZkinferStake.Claim memory) {
        return ZkinferStake.Claim(MODEL, bytes32(request), word(x), word(y));
    }

    function instancesOf(uint256 x, uint256 y) internal pure returns (uint256[] memory instances) {
        instances = new uint256[](2);
        instances[0] = x;
        instances[1] = y;
    }

    function noProof() internal pure returns (bytes32[] memory) {
        return new bytes32[](0);
    }

    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + (x % (hi - lo + 1));
    }
}
