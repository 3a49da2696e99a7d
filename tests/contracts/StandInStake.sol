// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// A minimal stand-in for ZkinferStake's slasher interface (bonds, isActiveNode, slashFor by one slasher),
/// for testing ZkinferSignatures until the stake contract has SLASHER_ROLE.
contract StandInStake {
    address public owner = msg.sender;
    address public slasher;
    uint16 public slashShareBps = 5000;
    mapping(address => uint256) public bonds;
    mapping(address => bool) public isSlashed;
    mapping(address => uint256) public balances;

    function setSlasher(address slasher_) external {
        require(msg.sender == owner && slasher == address(0), "slasher set");
        slasher = slasher_;
    }

    function registerNode() external payable {
        bonds[msg.sender] += msg.value;
    }

    function isActiveNode(address node) external view returns (bool) {
        return bonds[node] > 0 && !isSlashed[node];
    }

    function slashFor(address node, address beneficiary, bytes32) external {
        require(msg.sender == slasher, "not the slasher");
        require(!isSlashed[node], "already slashed");
        uint256 amount = bonds[node];
        bonds[node] = 0;
        isSlashed[node] = true;
        balances[beneficiary] += (amount * slashShareBps) / 10_000;
    }
}
