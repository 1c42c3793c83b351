"""The scenarios share molecule/shared/tests (fleet.py), on the import path through pyproject.toml's pytest
`pythonpath`."""

import pytest

# Its assertion helpers report the values they compared, as assertions in the test modules do.
pytest.register_assert_rewrite("fleet")

from fleet import share_ssh_logins  # noqa: E402  (imported once its asserts are set to be rewritten)

share_ssh_logins()
