"""The embedded dev chain: a local anvil (a real Ethereum node) with prefunded accounts and state
kept in a directory, for development and tests. Anything else is `--rpc-url` to a real network.

`start` writes `devchain.json` in the state dir (pid, RPC URL, chain id) so `zkinfer chain down`
and other commands find it; anvil loads `state.json` there at start and dumps it on a clean stop
(SIGTERM) and every `STATE_INTERVAL_S` meanwhile, so contracts deployed survive a restart.

Hardfork: anvil's default (newer than the `cancun` that contracts are compiled for, see `solidity`);
the ezkl verifier needs only the bn254 precompiles (ecAdd, ecMul, ecPairing, modexp), which every
hardfork since Byzantium has.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zkinfer.chain import toolchain
from zkinfer.core.support.cache import write_atomically
from zkinfer.core.support.errors import ChainError

DEFAULT_STATE_DIR = Path(".zkinfer-chain")
DEFAULT_PORT = 8545
CHAIN_ID = 31337  # anvil's default: wallets and tools know it as a local chain
ACCOUNTS = 10
BALANCE_ETH = 10_000
STATE_INTERVAL_S = 10
INFO_FILE = "devchain.json"
STATE_FILE = "state.json"
LOG_FILE = "anvil.log"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
# anvil's default mnemonic ("test test ... junk"): its accounts are public knowledge, which is why
# zkinfer uses them only on the embedded dev chain, never on a network given by --rpc-url.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)


@dataclass(frozen=True)
class DevChain:
    """A running dev chain, as recorded in its state dir."""

    pid: int
    rpc_url: str
    port: int
    chain_id: int
    state_dir: str
    keys: tuple[str, ...] = field(
        default=DEV_KEYS, repr=False
    )  # the prefunded accounts' private keys (public knowledge)

    @property
    def default_key(self) -> str:
        """The first prefunded account: the default signer on this chain only."""
        return self.keys[0]


def rpc(url: str, method: str, params: list[Any] | None = None, timeout: float = 5.0) -> Any:
    """One JSON-RPC call with the standard library (no web3 needed to ask a node its chain id)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # a dev chain is local: never via a proxy
    with opener.open(request, timeout=timeout) as response:
        answer = json.loads(response.read())
    if "error" in answer:
        raise ChainError(f"{url}: {method} failed: {answer['error']}")
    return answer.get("result")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    """True if `pid` runs and is an anvil (a stale pid file may name a reused pid: never signal that)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the pid file
    return b"anvil" in cmdline.split(b"\0", 1)[0]


def running(state_dir: Path) -> DevChain | None:
    """The dev chain recorded in `state_dir`, if its process still runs."""
    info = state_dir / INFO_FILE
    try:
        data = json.loads(info.read_text())
        chain = DevChain(
            pid=int(data["pid"]),
            rpc_url=str(data["rpc_url"]),
            port=int(data["port"]),
            chain_id=int(data["chain_id"]),
            state_dir=str(data["state_dir"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return chain if _alive(chain.pid) else None


def start(
    state_dir: Path = DEFAULT_STATE_DIR,
    port: int | None = None,
    *,
    code_size_limit: int | None = None,
    detach: bool = True,
) -> DevChain:
    """Start anvil on 127.0.0.1 (a free port when `port` is None) and wait until it answers.
    Detached (`zkinfer chain up`), it outlives this process; otherwise (tests, notebooks) it is
    stopped when this process dies, even by SIGKILL, so no anvil is left behind (Linux).
    Refuses when a dev chain already runs from `state_dir`."""
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    already = running(state_dir)
    if already is not None:
        raise ChainError(
            f"{state_dir}: a dev chain already runs from it (pid {already.pid}, {already.rpc_url}); "
            f"stop it with `zkinfer chain down --state-dir {state_dir}`"
        )
    attempts = 1 if port is not None else 3  # a free port may be taken before anvil binds it
    for attempt in range(attempts):
        chosen = port if port is not None else free_port()
        try:
            return _start(state_dir, chosen, code_size_limit, detach)
        except ChainError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(
            1, signal.SIGTERM
        )  # PR_SET_PDEATHSIG: SIGTERM (state dumped) when the parent dies


def _start(state_dir: Path, port: int, code_size_limit: int | None, detach: bool) -> DevChain:
    command = [
        str(toolchain.anvil()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chain-id",
        str(CHAIN_ID),
        "--accounts",
        str(ACCOUNTS),
        "--balance",
        str(BALANCE_ETH),
        "--mnemonic",
        DEV_MNEMONIC,
        "--state",
        str(state_dir / STATE_FILE),
        "--state-interval",
        str(STATE_INTERVAL_S),
    ]
    if code_size_limit is not None:
        command += ["--code-size-limit", str(code_size_limit)]
    with open(state_dir / LOG_FILE, "ab") as log:
        bound = None if detach or not sys.platform.startswith("linux") else _die_with_parent
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=state_dir,
            preexec_fn=bound,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise ChainError(
                f"anvil exited with code {process.returncode} at start (port {port} taken?); see {state_dir / LOG_FILE}"
            )
        try:
            chain_id = int(rpc(url, "eth_chainId", timeout=1.0), 16)
            break
        except (OSError, urllib.error.URLError, ValueError, ChainError):
            if time.monotonic() > deadline:
                _terminate(process.pid)
                raise ChainError(
                    f"anvil did not answer on {url} within {START_TIMEOUT_S:.0f} s; see {state_dir / LOG_FILE}"
                ) from None
            time.sleep(0.05)
    chain = DevChain(pid=process.pid, rpc_url=url, port=port, chain_id=chain_id, state_dir=str(state_dir))
    record = {k: v for k, v in asdict(chain).items() if k != "keys"}
    write_atomically(state_dir / INFO_FILE, (json.dumps(record, indent=2) + "\n").encode())
    return chain


def _terminate(pid: int) -> None:
    """SIGTERM (anvil dumps its state and exits), SIGKILL if it has not after STOP_TIMEOUT_S."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)  # our own child: reap it
            if done:
                return
        if not _alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def stop(state_dir: Path = DEFAULT_STATE_DIR) -> DevChain | None:
    """Stop the dev chain recorded in `state_dir` (its state is dumped to state.json first);
    returns what was stopped, or None when none ran. The pid file is removed either way."""
    state_dir = state_dir.resolve()
    chain = running(state_dir)
    if chain is not None:
        _terminate(chain.pid)
    (state_dir / INFO_FILE).unlink(missing_ok=True)
    return chain


@contextlib.contextmanager
def dev_chain(state_dir: Path, port: int | None = None, *, code_size_limit: int | None = None) -> Iterator[DevChain]:
    """A dev chain for the duration of a `with` block, stopped even when the block fails (and, on
    Linux, when this process is killed before it can stop it)."""
    chain = start(state_dir, port, code_size_limit=code_size_limit, detach=False)
    try:
        yield chain
    finally:
        stop(state_dir)
