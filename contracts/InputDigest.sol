// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title InputDigest: a statement's `input_digest` rebuilt on chain from a proof's input instances.
/// @notice A statement (zkinfer/core/formats/statement.py) names its input by
///   sha256({"domain":"zkinfer.input/1","felts":[["<64 hex>",...],...],"visibility":"public"|"hashed"})
/// over canonical JSON: one list per input tensor, each felt as ezkl writes it (64 lowercase hex digits of its
/// little-endian bytes); "hashed" when the proof carries the input's Poseidon commitments (one per tensor) instead
/// of its values. Rebuilding it from the instances a verifier accepted ties a signed statement to a proof without
/// trusting anyone's decoding: only the tensor split is the caller's, and a split other than the one the signer
/// used gives another digest (a sha256 preimage), so it can only make a comparison fail, never pass.
library InputDigest {
    error InputSplit(uint256 felts, uint256 covered);

    bytes private constant HEAD = '{"domain":"zkinfer.input/1","felts":[';
    bytes private constant TAIL_PUBLIC = '],"visibility":"public"}';
    bytes private constant TAIL_HASHED = '],"visibility":"hashed"}';

    /// The digest over `count` instances from `start`, split into tensors of `sizes` (which must cover them).
    function compute(uint256[] calldata instances, uint256 start, uint256 count, uint256[] calldata sizes, bool hashed)
        internal
        pure
        returns (bytes32)
    {
        uint256 covered;
        for (uint256 t = 0; t < sizes.length; ++t) covered += sizes[t];
        if (covered != count || sizes.length == 0 || start + count > instances.length) revert InputSplit(count, covered);
        return sha256(_document(instances[start:start + count], sizes, hashed));
    }

    function _document(uint256[] calldata felts, uint256[] calldata sizes, bool hashed)
        private
        pure
        returns (bytes memory doc)
    {
        bytes memory tail = hashed ? TAIL_HASHED : TAIL_PUBLIC;
        // each felt is '"' + 64 digits + '"' and a separator; each tensor '[' + ']' and a separator
        doc = new bytes(HEAD.length + tail.length + 67 * felts.length + 3 * sizes.length);
        uint256 at = _put(doc, 0, HEAD);
        uint256 from;
        for (uint256 t = 0; t < sizes.length; ++t) {
            if (t != 0) at = _putByte(doc, at, ",");
            at = _tensor(doc, at, felts[from:from + sizes[t]]);
            from += sizes[t];
        }
        at = _put(doc, at, tail);
        assembly ("memory-safe") {
            mstore(doc, at) // the exact length written (the allocation's upper bound was a separator more per item)
        }
    }

    /// `["<felt>",...]` at `at`; returns the offset after it.
    function _tensor(bytes memory doc, uint256 at, uint256[] calldata felts) private pure returns (uint256) {
        at = _putByte(doc, at, "[");
        for (uint256 k = 0; k < felts.length; ++k) {
            if (k != 0) at = _putByte(doc, at, ",");
            at = _putByte(doc, at, '"');
            at = _putFelt(doc, at, felts[k]);
            at = _putByte(doc, at, '"');
        }
        return _putByte(doc, at, "]");
    }

    function _put(bytes memory doc, uint256 at, bytes memory part) private pure returns (uint256) {
        for (uint256 k = 0; k < part.length; ++k) doc[at + k] = part[k];
        return at + part.length;
    }

    function _putByte(bytes memory doc, uint256 at, bytes1 c) private pure returns (uint256) {
        doc[at] = c;
        return at + 1;
    }

    /// 64 lowercase hex digits of `v`'s little-endian bytes (ezkl's felt encoding).
    function _putFelt(bytes memory doc, uint256 at, uint256 v) private pure returns (uint256) {
        bytes16 digits = "0123456789abcdef";
        assembly ("memory-safe") {
            let p := add(add(doc, 0x20), at)
            for { let k := 0 } lt(k, 32) { k := add(k, 1) } {
                let b := and(shr(mul(8, k), v), 0xff)
                mstore8(add(p, mul(2, k)), byte(shr(4, b), digits))
                mstore8(add(add(p, mul(2, k)), 1), byte(and(b, 0xf), digits))
            }
        }
        return at + 64;
    }
}
