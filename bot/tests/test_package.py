"""The installed distribution and the package agree on what they are."""

from importlib.metadata import version

import gridbot


def test_package_version_matches_distribution():
    assert gridbot.__version__ == version("pifleet-gridbot")
