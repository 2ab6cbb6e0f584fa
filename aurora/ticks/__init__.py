"""Tick data I/O: Arrow schemas, the Parquet store, Binance converters and the synthetic market."""
