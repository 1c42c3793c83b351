"""A local Binance-compatible spot exchange: unmodified ccxt `binance` trades against it on loopback."""
