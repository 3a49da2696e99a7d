// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// A "verifier" that accepts every proof: what a careless or hostile model registration may point at.
/// Registered for a real circuit's model id, it lets anyone "prove fraud" with made-up outputs.
contract AcceptAnyProof {
    function verifyProof(bytes calldata, uint256[] calldata) external pure returns (bool) {
        return true;
    }
}
