"""zkinfer on an EVM chain: the pinned tool chain (solcjs, anvil), the embedded dev chain, each
circuit's Halo2 verifier deployed as a contract, and receipts turned into its calldata.

The chain checks what a proof attests (proof + public instances), never a node's word: what a
contract accepts is bound by the proof or by a pin recorded at deployment. Every module here is
imported on demand (web3 is the `chain` extra: an auditor's core install has none), and importing
any of them changes no global state.

- `toolchain`: where solcjs and anvil are (the repo's node_modules, or $ZKINFER_NODE_MODULES).
- `solidity`: standard-JSON compiles with fixed settings, EIP-170 size check.
- `devchain`: start/stop a local anvil with persisted state (`zkinfer chain up/down`).
- `account`: RPC URL + signing key → a `Chain` connection (chain id read from the node).
- `deploy`: deploy a compiled contract, check the code at a recorded address.
- `registry`: `deployments.json`, every deployment with what it is bound to.
- `verifier`: a circuit's verifier: generate (ezkl), compile (cached), deploy or reuse.
- `calldata`: a receipt → the verifier's calldata; instances split into input / weights / output.
- `signatures`: BLS keys registered with proofs of possession, equivocation slashed on signatures
  (contracts/ZkinferSignatures.sol on contracts/BLS.sol); `bls_points`: points in the EIP-2537 encoding.
"""
