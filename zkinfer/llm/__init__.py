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
