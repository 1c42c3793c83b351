"""The gridbot preflight's check of the settings argument specs cannot express
(roles/gridbot/filter_plugins/settings_check.py, one assert in tasks/preflight.yml): the role's defaults pass,
each bad value is one problem naming its variable and the value, and every problem of a run comes at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from modules import load_module

ROLE = Path(__file__).resolve().parents[2] / "roles/gridbot"
checks = load_module(ROLE / "filter_plugins/settings_check.py", "settings_check")

NAMES = (
    *checks.SIZES,
    *checks.DURATIONS,
    *checks.RANGES,
    *checks.POSITIVE,
    "gridbot_image_source",
    "gridbot_image_registry_ref",
    "gridbot_rollout_batches",
)
DIGEST = "ghcr.io/me/gridbot@sha256:" + "ab" * 32


def problems(**changed: object) -> list[str]:
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    return checks.gridbot_setting_problems({**{n: defaults[n] for n in NAMES}, **changed})


def test_the_roles_defaults_pass():
    assert problems() == []


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("gridbot_memory", "lots", 'must be a size such as 384M, 128m or 1g; got "lots"'),
        ("gridbot_tmpfs_size", "0m", 'got "0m"'),
        ("gridbot_log_max_size", 5, "got 5"),
        ("gridbot_healthcheck_interval", "10 seconds", 'a duration such as 30s, 1m30s or 500ms; got "10'),
        ("gridbot_healthcheck_timeout", "", 'got ""'),
        ("gridbot_health_soak", -1, "must be 0 or more; got -1"),
        ("gridbot_keep_versions", 0, "must be 1 or more; got 0"),
        ("gridbot_backup_max_mb", "none", 'must be 1 or more; got "none"'),
        ("gridbot_rollout_max_fail_percentage", 101, "must be 0 to 100; got 101"),
        ("gridbot_cpus", 0, "must be above 0; got 0"),
        ("gridbot_health_timeout", "-5", 'must be above 0; got "-5"'),
        ("gridbot_rollout_batches", [0, "100%"], "must be a non-empty list of host counts"),
        ("gridbot_rollout_batches", [1, "150%"], 'got [1, "150%"]'),
        ("gridbot_rollout_batches", [], "got []"),
        ("gridbot_rollout_batches", "1,2", 'got "1,2"'),
    ],
)
def test_a_bad_value_is_one_problem_naming_its_variable_and_value(name, value, says):
    (found,) = problems(**{name: value})
    assert found.startswith(f"{name} must be"), found
    assert says in found, found


def test_bookworms_empty_start_interval_passes_and_only_it_may_be_empty():
    assert problems(gridbot_healthcheck_start_interval="") == []
    assert problems(gridbot_healthcheck_start_period="") != []


@pytest.mark.parametrize("batches", [[1], [1, "25%", "100%"], [2, "50%"], ["1%"], [10, 20]])
def test_counts_and_percentages_up_to_100_are_batches(batches):
    assert problems(gridbot_rollout_batches=batches) == []


def test_a_registry_image_must_be_pinned_by_digest_and_an_artifact_needs_no_ref():
    (found,) = problems(gridbot_image_source="registry", gridbot_image_registry_ref="x/gridbot:1")
    assert found.startswith("gridbot_image_registry_ref must name the image by digest"), found
    assert found.endswith('got "x/gridbot:1"')
    assert problems(gridbot_image_source="registry", gridbot_image_registry_ref=DIGEST) == []
    assert problems(gridbot_image_source="artifact", gridbot_image_registry_ref="x/gridbot:1") == []


def test_every_problem_of_a_run_is_named_at_once():
    found = problems(gridbot_memory="lots", gridbot_cpus=0, gridbot_rollout_batches=[0])
    assert [p.split(" ")[0] for p in found] == ["gridbot_memory", "gridbot_cpus", "gridbot_rollout_batches"]
