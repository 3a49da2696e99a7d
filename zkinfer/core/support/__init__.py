"""What every layer leans on and that knows nothing of proofs: errors by who acts, the cache, logging, SQLite
transactions, text."""
