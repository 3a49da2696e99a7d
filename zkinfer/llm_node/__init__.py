"""The LLM node: `zkinfer serve --llm DIR` — OpenAI-compatible completions and chat over HTTP, a signed
LLM receipt with every answer, re-execution of another node's answer on request (attestations).

It stands on the serving layer (auth, tenancy, bodies, statuses, the OpenAI request models in
`zkinfer.serving.openai`) and on `zkinfer.llm`, which owns the model, the sampler, the activation
commitments and the receipt documents an auditor checks without this package."""
