"""Freed heap memory handed back to the kernel."""

from __future__ import annotations

import ctypes


def trim_heap() -> None:
    """glibc's malloc keeps the pages of freed blocks for reuse: a bot's start (imports, the config's
    validators, the exchange's market tables parsed) leaves ~1.5 MB of them that its cycles never reuse, and
    each reconciliation's order lists more. `malloc_trim` gives them back (a C library without it, such as
    musl, keeps them)."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)
