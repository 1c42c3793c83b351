"""The gridbot preflight's check of the settings argument specs cannot express, in Python (unit-tested on the
controller: tools/tests/test_gridbot_preflight.py): sizes, durations, the ranges of counts, positive CPU
limits, a registry image pinned by digest, rollout batches. Every problem at once, each naming its variable
and the value, before any change (one assert in tasks/preflight.yml)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

SIZE = re.compile(r"[1-9][0-9]*[bkmgBKMG]")
DURATION = re.compile(r"([0-9]+(ms|s|m|h))+")
DIGEST = re.compile(r"[^@\s]+@sha256:[0-9a-f]{64}")
BATCH = re.compile(r"[1-9][0-9]*|([1-9][0-9]?|100)%")
SIZES = ("gridbot_memory", "gridbot_memory_reservation", "gridbot_tmpfs_size", "gridbot_log_max_size")
DURATIONS = (
    "gridbot_healthcheck_interval",
    "gridbot_healthcheck_timeout",
    "gridbot_healthcheck_start_period",
    "gridbot_healthcheck_start_interval",
    "gridbot_stop_grace_period",
)
# Empty: the engine has no start_interval (bookworm's), which the role leaves out of the compose file.
MAY_BE_EMPTY = {"gridbot_healthcheck_start_interval"}
# (least, most): the soak, the gate's API errors, the versions and backups kept, a batch's failures, a
# silence.
RANGES: dict[str, tuple[int, int | None]] = {
    "gridbot_health_soak": (0, None),
    "gridbot_keep_versions": (1, None),
    "gridbot_backup_keep_days": (0, None),
    "gridbot_backup_max_mb": (1, None),
    "gridbot_health_max_api_errors": (1, None),
    "gridbot_rollout_silence_minutes": (1, None),
    "gridbot_rollout_max_fail_percentage": (0, 100),
}
POSITIVE = ("gridbot_cpus", "gridbot_cpus_reservation", "gridbot_health_timeout")


def _number(value: object) -> float:
    """A value as a number the way the inventory writes it (3, "3", 0.5); 0 for what is none."""
    try:
        return float(str(value))
    except ValueError:
        return 0.0


def gridbot_setting_problems(settings: Mapping[str, Any]) -> list[str]:
    """What is wrong with the role's settings (by their names in `settings`), one line each; empty when
    nothing is."""
    got = {name: json.dumps(value) for name, value in settings.items()}
    problems = [
        f"{name} must be a size such as 384M, 128m or 1g; got {got[name]}"
        for name in SIZES
        if not SIZE.fullmatch(str(settings[name]))
    ]
    problems += [
        f"{name} must be a duration such as 30s, 1m30s or 500ms; got {got[name]}"
        for name in DURATIONS
        if not DURATION.fullmatch(str(settings[name])) and not (name in MAY_BE_EMPTY and settings[name] == "")
    ]
    for name, (least, most) in RANGES.items():
        value = int(_number(settings[name]))
        if value < least or (most is not None and value > most):
            bounds = f"{least} to {most}" if most is not None else f"{least} or more"
            problems.append(f"{name} must be {bounds}; got {got[name]}")
    problems += [
        f"{name} must be above 0; got {got[name]}" for name in POSITIVE if _number(settings[name]) <= 0
    ]
    ref = settings["gridbot_image_registry_ref"]
    if settings["gridbot_image_source"] == "registry" and not DIGEST.fullmatch(str(ref)):
        problems.append(
            "gridbot_image_registry_ref must name the image by digest (name@sha256:<64 hex>) when "
            f"gridbot_image_source is registry; got {got['gridbot_image_registry_ref']}"
        )
    batches = settings["gridbot_rollout_batches"]
    if (
        not isinstance(batches, list | tuple)
        or not batches
        or any(not BATCH.fullmatch(str(b)) for b in batches)
    ):
        problems.append(
            "gridbot_rollout_batches must be a non-empty list of host counts (1, 2, ...) and percentages "
            f'("1%" to "100%"); got {got["gridbot_rollout_batches"]}'
        )
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"gridbot_setting_problems": gridbot_setting_problems}
