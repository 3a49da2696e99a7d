// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

interface IZkinferStake {
    function registerNode() external payable;
    function withdrawBond(uint256 amount) external;
    function withdraw() external;
}

/// Test only: a node whose payout re-enters the stake contract's `withdraw` to be paid twice.
/// It records what the re-entry got instead of reverting, so a test sees the guard's error.
contract ReentrantNode {
    IZkinferStake public stake; // storage, not immutable: the deployed code equals the compiled code
    uint256 public received;
    uint256 public payments;
    bool public reentered;
    bytes public reentryError;

    constructor(IZkinferStake stake_) {
        stake = stake_;
    }

    function register() external payable {
        stake.registerNode{value: msg.value}();
    }

    function cashOut(uint256 amount) external {
        stake.withdrawBond(amount);
        stake.withdraw();
    }

    receive() external payable {
        received += msg.value;
        payments += 1;
        if (payments == 1) {
            try stake.withdraw() {
                reentered = true;
            } catch (bytes memory err) {
                reentryError = err;
            }
        }
    }
}
