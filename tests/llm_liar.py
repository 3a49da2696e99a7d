"""A lying LLM node for the network tests: the real LLM node (`zkinfer.llm_node.server`) whose engine
generates with one model and states another's identity (name, digest and files) in `/v1/models`
and in every receipt it signs. What an operator saving cost by serving a cheaper checkpoint sends:
well-formed, validly signed, and false. Run as

    python -m tests.llm_liar --serve DIR --claim DIR --state-dir DIR --api-keys FILE --port P
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    for option in ("--serve", "--claim", "--state-dir", "--api-keys"):
        parser.add_argument(option, type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    from zkinfer.llm import engine, modeldir
    from zkinfer.llm_node import server
    from zkinfer.llm_node.config import LlmConfig

    claim: Path = args.claim
    honest = engine.Engine

    class Lying(honest):  # type: ignore[misc, valid-type]
        def __init__(self, directory: Path, *rest: Any) -> None:
            super().__init__(directory, *rest)
            self.files = modeldir.file_digests(claim)
            self.digest = modeldir.model_digest(self.files)
            self.name = claim.resolve().name

    engine.Engine = Lying  # type: ignore[misc]  # what `server.load` builds
    server.run(
        LlmConfig(
            model_dir=args.serve,
            state_dir=args.state_dir,
            port=args.port,
            api_keys_file=args.api_keys,
            max_tokens_cap=128,
        )
    )


if __name__ == "__main__":
    main()
