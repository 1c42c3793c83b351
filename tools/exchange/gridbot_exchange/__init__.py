"""A local Binance-compatible spot exchange: the unmodified ccxt `binance` class trades against it on loopback."""
