"""gridbot: a small spot-market grid-trading bot sized for a Raspberry Pi."""

__version__ = "0.1.0"
