// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// A minimal stand-in for ZkinferStake's slasher interface (bonds, isActiveNode, slashFor by SLASHER_ROLE,
/// granted as OpenZeppelin's AccessControl grants it), for testing ZkinferSignatures on its own.
contract StandInStake {
    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    address public owner = msg.sender;
    uint16 public slashShareBps = 5000;
    mapping(bytes32 => mapping(address => bool)) public hasRole;
    mapping(address => uint256) public bonds;
    mapping(address => bool) public isSlashed;
    mapping(address => uint256) public balances;

    function grantRole(bytes32 role, address account) external {
        require(msg.sender == owner, "not the admin");
        hasRole[role][account] = true;
    }

    function registerNode() external payable {
        bonds[msg.sender] += msg.value;
    }

    function isActiveNode(address node) external view returns (bool) {
        return bonds[node] > 0 && !isSlashed[node];
    }

    function slashFor(address node, address beneficiary, bytes32) external {
        require(hasRole[SLASHER_ROLE][msg.sender], "not a slasher");
        require(!isSlashed[node], "already slashed");
        uint256 amount = bonds[node];
        bonds[node] = 0;
        isSlashed[node] = true;
        balances[beneficiary] += (amount * slashShareBps) / 10_000;
    }
}
