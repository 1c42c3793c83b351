"""The deployment's decisions (roles/gridbot/filter_plugins/deploy_states.py), from results shaped as the
tasks register them: which store is copied, when a soak fails, which images count as passed, what a failed bot
goes back to, when its store is restored, and what the report says. The rollbacks themselves run on the
container tier (molecule/scale/tests/test_rollout.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modules import load_module
from registered import MISSING, SKIPPED, STARTED, container_info, slurped

PROJECT = Path(__file__).resolve().parents[2]
states = load_module(PROJECT / "roles/gridbot/filter_plugins/deploy_states.py", "deploy_states")

IMAGE, OLD = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def info(**over: Any) -> dict[str, Any]:
    """A container of the image before the deployment, its config digest d1."""
    return container_info(**{"image": OLD, "digest": "d1"} | over)


@pytest.mark.parametrize(
    ("before", "passed", "image", "digest", "compose", "due"),
    [
        (info(), slurped("c1\n"), IMAGE, "d1", False, True),  # the known-good bot, a new image
        (info(), slurped("c1\n"), OLD, "d2", False, True),  # a new config
        (info(), slurped("c1\n"), OLD, "d1", True, True),  # a new compose file
        (info(), slurped("c1\n"), OLD, "d1", False, False),  # nothing replaced: no copy
        (info(cid="c2"), slurped("c1\n"), IMAGE, "d1", False, False),  # not the container that passed
        (info(), MISSING, IMAGE, "d1", False, True),  # no record: a healthy bot is the known-good one
        (info(health="unhealthy"), MISSING, IMAGE, "d1", False, False),
        (info(status="exited"), slurped("c1\n"), IMAGE, "d1", False, False),
        ({"exists": False, "container": None}, MISSING, IMAGE, "d1", False, False),  # a first deployment
    ],
)
def test_the_store_is_copied_only_from_the_known_good_bot_a_deployment_replaces(
    before: dict[str, Any], passed: dict[str, Any], image: str, digest: str, compose: bool, due: bool
) -> None:
    assert states.gridbot_store_copy_due(before, passed, image, digest, compose) is due


@pytest.mark.parametrize(
    ("soak", "bad"),
    [
        (info(), False),
        (info(health="unhealthy"), True),
        (info(status="exited", exit_code=1), True),
        (info(restarts=1), True),
        (info(started="2026-12-01T03:00:09Z"), True),  # another container than the one the gate saw start
        ({"exists": False, "container": None}, True),  # gone
    ],
)
def test_a_soak_fails_on_any_sign_the_bot_is_not_the_one_that_started_healthy(
    soak: dict[str, Any], bad: bool
) -> None:
    assert states.gridbot_soak_bad(soak, STARTED) is bad


images = st.sampled_from([f"sha256:{c * 64}" for c in "0123456789"])


@given(st.lists(images, unique=True, max_size=6), images, st.integers(1, 5))
def test_the_images_that_passed_end_with_this_one_and_keep_at_most_keep(
    record: list[str], image: str, keep: int
) -> None:
    passed = states.gridbot_passed_images(slurped("\n".join(record) + "\n"), image, keep)
    assert passed[-1] == image
    assert len(passed) == len(set(passed)) <= keep
    older = [i for i in record if i != image]
    assert passed[:-1] == older[len(older) - (len(passed) - 1) :]  # the newest of the others, in order


def test_without_a_record_only_this_image_passed() -> None:
    assert states.gridbot_passed_images(MISSING, IMAGE, 3) == [IMAGE]


def test_the_failure_names_the_engines_view_and_the_gates_reason() -> None:
    soak = info(health="unhealthy", restarts=2, exit_code=1, status="restarting")
    said = {"why": "halted since its start: exchange refused the credentials", "key_refused": True}
    assert states.gridbot_failure(soak, info(), said, "ignored") == (
        "health: unhealthy, state: restarting (exit code 1, restarts 2); "
        "not trading: halted since its start: exchange refused the credentials"
    )


def test_a_message_is_cut_as_jinja_cuts_it() -> None:
    """Whole up to 305 characters (truncate's leeway), past that cut at a word, '...' at its end."""
    kept = "x" * 303
    assert states.gridbot_failure({}, {}, {}, kept).endswith("; " + kept)
    cut = states.gridbot_failure({}, {}, {}, "word " * 61 + "end")
    assert cut.endswith("word...")


def test_without_a_soak_the_health_check_is_the_view_and_a_long_message_is_cut_at_a_word() -> None:
    health = {"exists": True, "container": {"State": {"Status": "exited"}}}
    message = "word " * 100
    failure = states.gridbot_failure(SKIPPED, health, {}, message)
    assert failure.startswith("health: unknown, state: exited (exit code none, restarts 0); word word")
    assert failure.endswith("word...")
    assert len(failure) < len("health: unknown, state: exited (exit code none, restarts 0); ") + 300


@pytest.mark.parametrize(
    ("record", "before", "to"),
    [
        (True, {"exists": False, "container": None}, "known-good"),
        (False, info(), "backups"),  # a host deployed before pifleet kept a record
        (False, info(health="unhealthy"), "none"),
        (False, info(status="exited"), "none"),
        (False, {"exists": False, "container": None}, "none"),  # a first deployment
    ],
)
def test_what_a_failed_bot_goes_back_to(record: bool, before: dict[str, Any], to: str) -> None:
    assert states.gridbot_rollback_to({"stat": {"exists": record}}, before) == to


def test_the_files_put_back_are_the_records_or_only_those_this_run_replaced() -> None:
    kept = states.gridbot_rollback_files("known-good", "/opt/gridbot/known-good", {}, {})
    assert kept == [
        {"name": "compose.yaml", "src": "/opt/gridbot/known-good/compose.yaml"},
        {"name": "bot.yml", "src": "/opt/gridbot/known-good/bot.yml"},
    ]
    replaced = states.gridbot_rollback_files(
        "backups", "/x", {"changed": False}, {"changed": True, "backup_file": "/opt/gridbot/bot.yml.1.~"}
    )
    assert replaced == [{"name": "bot.yml", "src": "/opt/gridbot/bot.yml.1.~"}]
    assert states.gridbot_rollback_files("none", "/x", {"backup_file": "/a"}, {}) == []


def test_the_newest_store_copy_and_its_schema_are_read_from_its_name() -> None:
    paths = [
        "/v/before-rollout/gridbot-scale08-BTCUSDT-v3-20261201T023931Z.db",
        "/v/before-rollout/gridbot-scale08-BTCUSDT-v2-20261130T010000Z.db",
        "/v/before-rollout/gridbot-notes.db",  # not the bot's name for a copy
    ]
    copy = states.gridbot_store_copy(paths)
    assert copy == {"name": "gridbot-scale08-BTCUSDT-v3-20261201T023931Z.db", "schema": 3}
    assert states.gridbot_store_copy([]) == {}
    assert states.gridbot_store_copy(paths[2:]) == {}


@pytest.mark.parametrize(
    ("read", "due"), [("4\n", True), ("3", False), ("2", False), ("", False), ("oops", False)]
)
def test_the_store_goes_back_only_from_a_schema_newer_than_the_copys(read: str, due: bool) -> None:
    assert states.gridbot_store_restore_due({"name": "c.db", "schema": 3}, read) is due
    assert states.gridbot_store_restore_due({}, read) is False


def report(**over: Any) -> str:
    given = {"host": "pi-a", "image": "gridbot:0.1.5", "timeout": 120, "soak": 60,
             "rollback_to": "known-good", "container": "gridbot", "running_image": "gridbot:0.1.4",
             "store_restored": False, "key_halt_lifted": False}  # fmt: skip
    failure = over.pop("failure", "health: unhealthy, state: running (exit code 0, restarts 0); timed out")
    return states.gridbot_rollback_report(failure, **(given | over))


def test_the_report_says_what_it_went_back_to_and_that_the_rollout_stops() -> None:
    assert report() == (
        "pi-a: gridbot gridbot:0.1.5 did not pass its gate (healthy within 120 s, then for 60 s; health: "
        "unhealthy, state: running (exit code 0, restarts 0); timed out). Rolled back to the last known-good "
        "deployment (gridbot:0.1.4), healthy again. The rollout stops here; hosts not yet reached keep their "
        "version."
    )
    assert "Rolled back to the previous files (gridbot:0.1.4)" in report(rollback_to="backups")
    assert "its store as it was before the rollout, healthy again." in report(store_restored=True)
    nothing = report(rollback_to="none")
    assert "No deployment has passed its gate here" in nothing
    assert "(docker logs gridbot says why). The rollout stops here" in nothing


def test_the_report_says_whether_the_halt_was_lifted_or_is_a_persons_to_judge() -> None:
    halted = (
        "health: healthy, state: running (exit code 0, restarts 0); not trading: halted since its start: x"
    )
    lifted = report(failure=halted, key_halt_lifted=True)
    assert "the halt the refused key made lifted. The rollout stops here" in lifted
    assert "(it halted itself: resume.yml lifts the halt once a person judged it)." in report(failure=halted)
