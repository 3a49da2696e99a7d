"""The serving layer the proving node, the gateway and the LLM node stand on.

Shared HTTP pieces, written once: typed Open Inference Protocol v2 models for server and client
(`oip`), body reading (`body`), the error → status table (`statuses`), connection and header limits
(`connections`), API keys and tenancy (`auth`, `tenancy`), the state directory (`state`), and the
app's lifespan, request counting and uvicorn start (`app`). It imports nothing of node/, network/
or llm/, which all import it.
"""
