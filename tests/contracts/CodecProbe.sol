// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {StatementCodec} from "./StatementCodec.sol"; // compiled with contracts/StatementCodec.sol beside it

/// StatementCodec's functions as external calls, for the tests to compare with zkinfer's Python statement.
contract CodecProbe {
    function parse(bytes calldata m) external pure returns (StatementCodec.Statement memory) {
        return StatementCodec.parse(m);
    }

    function read(bytes calldata m)
        external
        pure
        returns (
            bytes memory requestId,
            bytes32 claim,
            bytes32 answer,
            int256[] memory values,
            uint256[] memory lengths,
            int256[] memory scales,
            uint256[] memory weights
        )
    {
        StatementCodec.Statement memory s = StatementCodec.parse(m);
        requestId = StatementCodec.requestId(m, s);
        claim = StatementCodec.claimHash(m, s);
        answer = StatementCodec.answerHash(m, s);
        (values, lengths) = StatementCodec.outputValues(m, s);
        scales = StatementCodec.outputScales(m, s);
        weights = StatementCodec.weightsFelts(m, s);
    }

    function toFelt(int256 value) external pure returns (uint256) {
        return StatementCodec.toFelt(value);
    }
}
