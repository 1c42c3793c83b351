"""Mitogen's linear strategy, found by name from this directory.

Under TCG emulation every Ansible task pays for a Python start-up in the VM; Mitogen keeps one interpreter
per host and halves a converge. The VM scenarios point ANSIBLE_STRATEGY_PLUGINS here, so the path does not
depend on where the venv's site-packages live.
"""

from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule

__all__ = ["StrategyModule"]
