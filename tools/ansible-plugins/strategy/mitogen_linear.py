"""Mitogen's linear strategy, found by name from this directory.

Under TCG emulation every Ansible task pays for a Python start-up in the VM; Mitogen keeps one interpreter
per host and halves a converge. The VM scenarios point ANSIBLE_STRATEGY_PLUGINS here, so the path does not
depend on where the venv's site-packages live.

One change to Mitogen: the installed collections are listed once per run, in the controller's process,
instead of once per task in each forked worker. Mitogen lists them whenever a task runs a collection's
module (community.docker, ansible.posix...) and keeps the answer in a cache the worker's exit throws away;
the `ansible` package installs 93 collections, and that listing was 11 % of a rollout's controller CPU
(py-spy, 8 hosts; docs/benchmarks.md).
"""

import functools

import ansible_mitogen.planner
from ansible.collections.list import list_collection_dirs
from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule as _MitogenLinear

__all__ = ["StrategyModule"]


@functools.cache
def _collection_dirs():
    return frozenset(path.decode("utf-8") for path in list_collection_dirs())


def _load_collections(invocation):
    """Mitogen's own (planner._load_collections): the collections' paths for the worker's module import."""
    invocation._extra_sys_paths.update(_collection_dirs())


ansible_mitogen.planner._load_collections = _load_collections


class StrategyModule(_MitogenLinear):
    def run(self, iterator, play_context, *args, **kwargs):
        _collection_dirs()  # listed here, so that every worker forked from this process inherits the answer
        return super().run(iterator, play_context, *args, **kwargs)
