"""The shared floor every layer stands on, in four rooms that say which is which:

- `formats/` — the documents and their readers: receipts (any number of segments), statements,
  certificates, evidence, inputs, compiled circuits, strict JSON;
- `crypto/` — digests, BLS node identity, SRS files and fingerprints, polynomial-commitment links;
- `zkp/` — the one place that talks to ezkl and ONNX: the adapter, its typed settings view, the
  instance layout, the memory-limited verify and prove workers;
- `support/` — what knows nothing of proofs: errors by who must act, the cache, logging, SQLite
  transactions, text.
"""
