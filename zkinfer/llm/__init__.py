"""Language models, where proofs do not reach: serve with the OpenAI API, commit, and re-check.

Each answer carries a signed LLM receipt (`receipt`, `zkinfer.llm-receipt/1`): the model digest,
the prompt's token ids, the sampling parameters and seed, the generated token ids, and TOPLOC
commitments of the last hidden states per 32 tokens. Sampling draws come from (seed, request id,
position), so anyone with the model redoes the answer in one prefill pass (`verify`).

Modules, each one job: `sampling` (the seeded sampler and its margin rule), `commitments`
(TOPLOC's encoding), `modeldir` (a model directory's digest), `receipt` (the schema, signing),
`attestation` (another node's signed re-check), `engine` (torch/transformers: generate, recompute),
`text` (stop strings, streaming text), `verify` (re-execution: the named checks).
This package sits beside prover/ and verify/: it serves nobody. The node that serves it over HTTP is
`zkinfer.llm_node`; the OpenAI wire format both the node and the gateway speak is `zkinfer.serving.openai`.
torch and transformers load only with `engine` (the `llm` extra); verifying without the model needs neither.
"""
