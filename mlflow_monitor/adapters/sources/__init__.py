"""Where window and reference rows come from: ``files`` (local CSV and parquet) today."""
