// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// What a consumer needs of the oracle (contracts/ZkinferOracle.sol): its answer and how to read it.
interface IZkinferOracle {
    struct Answer {
        bytes32 statementDigest;
        bytes32 inputDigest;
        bytes32 outputHash;
        bytes32 weightsHash;
        bool hasWeights;
        bool contradicted;
        uint64 postedAt;
        int256[] output;
        uint256[] tensorSizes;
        int256[] outputScales;
        address[] signers;
    }

    function certified(bytes32 circuit, string calldata requestId) external view returns (Answer memory);
    function answerKey(bytes32 circuit, string memory requestId) external pure returns (bytes32);
}

/// A sample consumer: settles a bet on a classifier's answer by reading the oracle's certified output.
/// It trusts the certificate (a quorum of bonded nodes signed it), refuses one a proof has contradicted, and checks
/// the answer is about the input the bet named: anyone may have honest nodes sign another input under the same
/// request id and post that certificate first, so the request id alone does not say which input was answered.
contract OracleConsumer {
    IZkinferOracle public oracle;
    mapping(bytes32 => uint256) public settledLabel; // the oracle's answerKey(circuit, request id) -> class + 1 (0: none)

    event Settled(bytes32 indexed circuit, string requestId, uint256 label, uint256 signers);

    error Contradicted();
    error OtherInput(bytes32 certified, bytes32 expected);

    constructor(IZkinferOracle oracle_) {
        oracle = oracle_;
    }

    /// The certified answer's class: the index of the first tensor's largest value.
    function settle(bytes32 circuit, string calldata requestId, bytes32 inputDigest) external returns (uint256 label) {
        IZkinferOracle.Answer memory answer = oracle.certified(circuit, requestId);
        if (answer.contradicted) revert Contradicted();
        if (answer.inputDigest != inputDigest) revert OtherInput(answer.inputDigest, inputDigest);
        for (uint256 i = 1; i < answer.tensorSizes[0]; ++i) {
            if (answer.output[i] > answer.output[label]) label = i;
        }
        settledLabel[oracle.answerKey(circuit, requestId)] = label + 1;
        emit Settled(circuit, requestId, label, answer.signers.length);
    }
}
