"""The proving node (`zkinfer serve`): KServe v2 HTTP front, SQLite job store, proving worker processes.

Layers, each importing only the ones below it:
- HTTP: `app` (routes), `protocol` (OIP v2 JSON / Triton binary bodies ⇄ typed tensors), `statuses`
  (every error type and job state → its HTTP status, in one place);
- service: `service.Node` (model name + typed tensors + options + caller → typed results or typed errors);
- below it: `models` (circuits and their fast path), `statements` (the signed statement and promise each
  answer carries), `store` (SQLite jobs), `workers` (proving processes),
  `jobs`, `auth`, `metrics`, `config`;
- start-up: `server.load(config) -> Node` (lock, keys, circuits, store, requeue; `state` holds the state
  directory's parts), then `server.run(node)`.
"""
