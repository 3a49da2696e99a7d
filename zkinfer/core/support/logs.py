"""Keep ezkl's console noise (tract analyser, calibration tables, halo2 progress) out of sight.

ezkl logs through Python's `logging` (pyo3-log): its records go to loggers named after the Rust
crates. We raise those loggers' levels unless the user asked for `--verbose`.

Importing zkinfer configures nothing: the CLI (its callback), the node's worker processes, and any
program that wants ezkl quiet call `configure()` once, before ezkl's first log record (pyo3-log
caches each logger's level when it first logs).
"""

from __future__ import annotations

import logging

NOISY_LOGGERS = ("ezkl", "tract_onnx", "tract_hir", "tract_core", "tract_linalg", "halo2_proofs", "halo2_gadgets")


def configure(verbose: bool = False) -> None:
    """Silence ezkl and its crates (default) or let everything through at DEBUG (`verbose`)."""
    level = logging.DEBUG if verbose else logging.CRITICAL + 1
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    if verbose and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def serve_to_stderr(log: logging.Logger) -> None:
    """A server's own log (node, gateway, LLM node) on stderr at INFO, timestamped; once per logger."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
