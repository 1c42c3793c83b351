"""The pure core: indicators, grid, filters, the engine, its state, accounting, the paper matcher, candles.

Numbers in, decisions out: no I/O, no config file (the engine reads `core.settings` protocols).
"""
