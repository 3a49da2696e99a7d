"""`python -m zkinfer.llm serve DIR` and `python -m zkinfer.llm verify RECEIPT [--model DIR]`: the LLM
node and its verifier until `zkinfer serve --llm DIR` and `zkinfer verify` take them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zkinfer.core.errors import ZkinferError


def _serve(args: argparse.Namespace) -> int:
    from zkinfer.llm import server
    from zkinfer.llm.config import LlmConfig

    config = LlmConfig(
        model_dir=args.model_dir, state_dir=args.state_dir, host=args.host, port=args.port, key_file=args.key, api_keys_file=args.api_keys,
        threads=args.threads, max_tokens_cap=args.max_tokens, max_prompt_tokens=args.max_prompt_tokens, max_queue=args.max_queue, metrics=args.metrics,
    )
    server.run(config)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from zkinfer.llm.verify import verify_file

    if args.model is not None:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # the verdict is the output
    verdict = verify_file(args.receipt, model_dir=args.model, expect_signer=args.expect_signer, expect_model=args.expect_model)
    if args.json:
        print(verdict.model_dump_json(indent=2))
    else:
        for check in verdict.checks:
            print(f"{check.status.value:<9} {check.name.value:<12} {check.detail}")
        print(verdict.summary)
    return 0 if verdict.verified else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zkinfer.llm", description="Serve a language model with the OpenAI API (every answer signed), or verify an answer's receipt.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve a Hugging Face causal-LM directory")
    serve.add_argument("model_dir", type=Path, help="a Hugging Face causal-LM directory, e.g. models/llm/tiny-stdlib")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--state-dir", type=Path, default=Path(".zkinfer-llm"), help="node key, API keys and receipts (default ./.zkinfer-llm)")
    serve.add_argument("--key", type=Path, default=None, help="the node's BLS key file (default STATE_DIR/node.key, made on first start)")
    serve.add_argument("--api-keys", type=Path, default=None, help="API keys, one a line, # lines are comments (default STATE_DIR/api-keys, made with one key)")
    serve.add_argument("--threads", type=int, default=1, help="torch threads for generation")
    serve.add_argument("--max-tokens", type=int, default=256, help="the most tokens one request may ask for")
    serve.add_argument("--max-prompt-tokens", type=int, default=None, help="the longest prompt (default: the model's context less one)")
    serve.add_argument("--max-queue", type=int, default=32, help="requests waiting beyond the one generating; more get 429")
    serve.add_argument("--metrics", choices=("off", "key", "public"), default="key")
    serve.set_defaults(run=_serve)
    verify = commands.add_parser("verify", help="check an LLM receipt; with --model DIR, by re-executing the answer")
    verify.add_argument("receipt", type=Path)
    verify.add_argument("--model", type=Path, default=None, help="your copy of the model directory (without it: form and signature only)")
    verify.add_argument("--expect-signer", default=None, help="the node public key that must have signed")
    verify.add_argument("--expect-model", default=None, help="the model digest the receipt must state (sha256:...)")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(run=_verify)
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except ZkinferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return code


if __name__ == "__main__":
    sys.exit(main())
