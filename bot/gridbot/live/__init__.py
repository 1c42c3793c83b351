"""The live shell: the venue protocol, the ccxt adapter, the live book, the trader and its resilience."""
