"""Writing a build: the example schema, per-score staging, Parquet shards, the dataset card."""
