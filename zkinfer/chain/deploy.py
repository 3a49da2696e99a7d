"""Deploy compiled contracts and send transactions with a local key; check code at an address.

A recorded address is hostile until checked: `code_matches` compares the code the node returns
(`eth_getCode`) with the runtime code a fresh, deterministic compile gives, byte for byte. (That
holds for contracts without `immutable` variables, whose runtime code is patched at deployment.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zkinfer.chain.account import Chain, stopped_answering, unreachable
from zkinfer.chain.solidity import Compiled
from zkinfer.core.support.errors import ChainError

RECEIPT_TIMEOUT_S = 300


@dataclass(frozen=True)
class Sent:
    """A mined transaction: its hash, block, gas used, and the created contract's address if any."""

    tx_hash: str
    block: int
    gas_used: int
    contract_address: str | None
    receipt: Any  # web3's TxReceipt (logs, for events)


GAS_MARGIN, GAS_MARGIN_FIXED = 1.2, 10_000  # the gas limit sent: estimate × GAS_MARGIN + GAS_MARGIN_FIXED


def with_margin(estimate: int) -> int:
    """The gas limit for an estimate. An estimate is exact for the block it ran on, and the next block
    can cost more: a claim stores `block.timestamp + window`, and storing a value equal to the one
    there (two claims in one second) is cheaper than changing it (seen here: postBatch estimated at
    81,517 gas in one second, out of gas in the next). The unused gas is not paid."""
    return int(estimate * GAS_MARGIN) + GAS_MARGIN_FIXED


def send(chain: Chain, tx: dict[str, Any], what: str) -> Sent:
    """Fill, sign with the chain's key, send and wait for `tx`; a revert raises ChainError naming `what`."""
    web3 = chain.web3
    filled = {"chainId": chain.chain_id, "from": chain.address, **tx}
    try:
        filled.setdefault("nonce", web3.eth.get_transaction_count(chain.address, "pending"))
        if "gas" not in filled:
            filled["gas"] = with_margin(web3.eth.estimate_gas(filled))
        if "maxFeePerGas" not in filled and "gasPrice" not in filled:
            filled["gasPrice"] = web3.eth.gas_price
        signed = chain.signer.sign_transaction(filled)
        tx_hash = web3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = web3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
    except ChainError:
        raise
    except Exception as exc:  # web3 raises many types (ContractLogicError, ValueError, timeouts)
        if unreachable(exc):  # the node stopped answering mid-command: an operator or a retry fixes it
            raise stopped_answering(chain, what, exc) from exc
        raise ChainError(
            f"{what}: the transaction failed on chain {chain.chain_id} ({chain.rpc_url}): "
            f"{type(exc).__name__}: {str(exc)[:300]}"
        ) from exc
    if receipt["status"] != 1:
        used = int(receipt["gasUsed"])
        why = f" (out of gas: it used all {used:,} of its limit)" if used >= int(filled["gas"]) else ""
        raise ChainError(f"{what}: the transaction {tx_hash.hex()} reverted on chain {chain.chain_id}{why}")
    address = receipt.get("contractAddress")
    return Sent(
        tx_hash="0x" + bytes(tx_hash).hex().removeprefix("0x"),
        block=int(receipt["blockNumber"]),
        gas_used=int(receipt["gasUsed"]),
        contract_address=str(address) if address else None,
        receipt=receipt,
    )


def deploy(chain: Chain, compiled: Compiled, *args: Any) -> Sent:
    """Deploy `compiled` with constructor `args`; the result's contract_address is where it lives."""
    factory = chain.web3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
    sent = send(chain, {"data": _data(chain, factory.constructor(*args))}, f"deploying {compiled.name}")
    if sent.contract_address is None:
        raise ChainError(f"deploying {compiled.name}: the transaction {sent.tx_hash} created no contract")
    if not code_matches(chain, sent.contract_address, compiled):
        raise ChainError(
            f"deploying {compiled.name}: the code at {sent.contract_address} is not the compiled runtime code"
        )
    return sent


def code_at(chain: Chain, address: str) -> bytes:
    from web3 import Web3

    if not Web3.is_address(address):
        raise ChainError(f"{address[:60]!r} is not an Ethereum address (0x + 40 hex digits)")
    return bytes(chain.web3.eth.get_code(Web3.to_checksum_address(address)))


def code_matches(chain: Chain, address: str, compiled: Compiled) -> bool:
    """True only if the code at `address` is exactly `compiled`'s runtime code."""
    return code_at(chain, address) == compiled.runtime


def contract(chain: Chain, address: str, compiled: Compiled) -> Any:
    """A web3 contract object for calls and transactions (check the code first: `code_matches`)."""
    from web3 import Web3

    return chain.web3.eth.contract(address=Web3.to_checksum_address(address), abi=compiled.abi)


def _data(chain: Chain, call: Any) -> str:
    """The ABI-encoded data of a constructor or function call (web3's public way: a transaction
    built with every field given, so nothing is asked of the node)."""
    return str(
        call.build_transaction({"from": chain.address, "nonce": 0, "gas": 1, "gasPrice": 0, "chainId": chain.chain_id})[
            "data"
        ]
    )


def transact(chain: Chain, call: Any, what: str, value: int = 0) -> Sent:
    """Send a contract function call (`contract.functions.f(args)`) as a signed transaction."""
    tx: dict[str, Any] = {"to": call.address, "data": _data(chain, call)}
    if value:
        tx["value"] = value
    return send(chain, tx, what)
