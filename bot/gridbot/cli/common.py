"""What every command module shares: how a command fails, where outputs go by default."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

RESULTS = Path("results")  # where a backtest's and a sweep's outputs go by default (git ignores it)
FAILURE = 'A command that fails says why in one line, "gridbot: REASON": exit 1 at run time, 2 on bad input.'


def failed(message: str, code: int) -> int:
    """The command's answer when it fails: its reason on stderr, its exit code."""
    sys.stderr.write(f"gridbot: {message}\n")
    return code


def in_results(args: argparse.Namespace, name: str) -> Path:
    """`name` in --results, by default results/<the config file's name> (`defaults` without -c): two configs'
    runs keep their own outputs, and none lands in the working directory."""
    return (args.results or RESULTS / (args.config.stem if args.config else "defaults")) / name
