"""Usage writes, one module per feature: `ingest` (records, batches) and `pricing` (price
imports, repricing)."""
