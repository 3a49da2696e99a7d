"""Language models, where proofs do not reach: serve with the OpenAI API, commit, and re-check.

Each answer carries a signed LLM receipt (`receipt`, `zkinfer.llm-receipt/1`): the model digest,
the prompt's token ids, the sampling parameters and seed, the generated token ids, and TOPLOC
commitments of the last hidden states per 32 tokens. Sampling draws come from (seed, request id,
position), so anyone with the model redoes the answer in one prefill pass (`verify`).

Modules, each one job: `sampling` (the seeded sampler and its margin rule), `commitments`
(TOPLOC's encoding), `modeldir` (a model directory's digest), `receipt` (the schema, signing),
`engine` (torch/transformers: generate, recompute), `text` (stop strings, streaming text),
`protocol` (OpenAI's wire format), `service` (requests → signed answers), `store` (receipts on
disk), `metrics`, `config`, `app` (routes), `server` (`run(config)`), `verify`.
torch and transformers load only with `engine` (the `llm` extra); verifying without the model needs neither.
"""

from pathlib import Path

SCHEMA_MARK = b'"zkinfer.llm-receipt/1"'


def is_llm_receipt(path: Path) -> bool:
    """Whether a JSON file states the LLM receipt's schema (what `zkinfer verify` dispatches on);
    here, with no import, so verifying a proof receipt loads nothing of the LLM side."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 12)
    except OSError:
        return False
    return SCHEMA_MARK in head


__all__ = ["is_llm_receipt"]
