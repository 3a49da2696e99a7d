"""The documents and their readers: receipts (any number of segments), statements, inputs, compiled circuits, strict
JSON."""
