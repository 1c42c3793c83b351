"""The scenarios share molecule/shared/tests (fleet.py): put it on the import path of this tests directory."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared" / "tests"))
# Its assertion helpers report the values they compared, as assertions in the test modules do.
pytest.register_assert_rewrite("fleet")
