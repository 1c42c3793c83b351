"""rollout.yml's batches, cut in Python (unit-tested on the controller: tools/tests/test_rollout_batches.py).

A play's `serial` is worked out before any host's variables are read, so it cannot come from the inventory:
the check play cuts the batches from gridbot_rollout_batches as `serial` would (`serial_batches`), puts each
host in a group per batch (`rollout_batch_group`), and the rollout play's serial and its end-of-batch checks
read those groups back in order (`rollout_batches`). The groups' name is defined here only. The check play
also refuses batches the hosts disagree on (`rollout_batches_disagreement`) and shows them (`batches_shown`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

GROUP_PREFIX = "__gridbot_rollout_batch_"


def batch_size(entry: int | str, hosts: int) -> int:
    """One `serial` entry as a host count: N, or "N%" of the play's hosts rounded down and at least 1.

    The same float arithmetic as Ansible's own (ansible.utils.helpers.pct_to_int), so that a percentage cuts
    exactly the batch serial would (29% of 100 hosts is 28 there, not 29).
    """
    text = str(entry)
    if not text.endswith("%"):
        count = int(text)
        if count < 1:
            raise ValueError(f"a rollout batch must be 1 host or more; got {entry!r}")
        return count
    percent = int(text[:-1])
    if not 1 <= percent <= 100:
        raise ValueError(f"a rollout batch must be 1% to 100% of the hosts; got {entry!r}")
    return int((percent / 100.0) * hosts) or 1


def serial_batches(hosts: Sequence[str], serial: Sequence[int | str]) -> list[list[str]]:
    """The hosts cut into batches as a play's `serial: <list>` would: in order, each entry sizing one batch
    (the last one repeating until every host is in a batch); every host in exactly one batch."""
    if isinstance(serial, str) or not serial:
        raise ValueError(f"the rollout batches must be a non-empty list; got {serial!r}")
    batches: list[list[str]] = []
    start = 0
    while start < len(hosts):
        size = batch_size(serial[min(len(batches), len(serial) - 1)], len(hosts))
        batches.append(list(hosts[start : start + size]))
        start += size
    return batches


def rollout_batch_group(batches: Sequence[Sequence[str]], host: str) -> str:
    """The group of the batch `host` is in (numbered from 1, zero-padded so the names sort in order)."""
    for number, batch in enumerate(batches, start=1):
        if host in batch:
            return f"{GROUP_PREFIX}{number:03d}"
    raise ValueError(f"{host} is in no rollout batch")


def rollout_batches(groups: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """The batches the check play made, in order, from the inventory's groups (`groups`); [] if it did not
    run. Within a batch, hosts are in the order they joined its group (group_by runs them in parallel)."""
    return [list(groups[name]) for name in sorted(groups) if name.startswith(GROUP_PREFIX)]


def rollout_batches_disagreement(hosts: Sequence[str], hostvars: Mapping[str, Mapping[str, Any]]) -> str:
    """'' when every host of the rollout has one gridbot_rollout_batches (a host that sets none has the role's
    default); else what each host has, for the refusal: batches are the whole rollout's, not a host's."""
    values = {host: hostvars[host].get("gridbot_rollout_batches") for host in hosts}
    if len({json.dumps(v) for v in values.values()}) <= 1:
        return ""
    shown = ", ".join(
        f"{host}: {'the role default' if value is None else json.dumps(value)}"
        for host, value in values.items()
    )
    return (
        "gridbot_rollout_batches must be one value for the whole rollout (group_vars or -e, not host_vars); "
        f"got {shown}"
    )


def batches_shown(batches: Sequence[Sequence[str]]) -> str:
    """The batches as the check play shows them: `batch 1: a; batch 2: b, c`."""
    return "; ".join(f"batch {number}: {', '.join(hosts)}" for number, hosts in enumerate(batches, start=1))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "serial_batches": serial_batches,
            "rollout_batch_group": rollout_batch_group,
            "rollout_batches": rollout_batches,
            "rollout_batches_disagreement": rollout_batches_disagreement,
            "batches_shown": batches_shown,
        }
