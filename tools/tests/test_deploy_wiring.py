"""The gridbot role's deployment (tasks/deploy.yml) and rollback (tasks/rollback.yml) as their tasks wire the
decisions: each task's own templates, rendered by stock Ansible with the role's filter plugins from results
shaped as the deployment registers them: the store copy before a new container, the soak, the images that
passed, and the three ways a deployment fails (a canary's key refused, a first deployment that crashes, a host
without a record whose release migrated the store). The decisions themselves: test_deploy_states.py; the
rollbacks on real hosts: molecule/scale/tests/test_rollout.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from registered import MISSING, SKIPPED, container_info, slurped
from stock_ansible import rendered_vars

ROLE = Path(__file__).resolve().parents[2] / "roles" / "gridbot"
TASKS = yaml.safe_load((ROLE / "tasks" / "rollback.yml").read_text())


def deploy_task(name: str, tasks: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """deploy.yml's task of that name, in its blocks too."""
    for t in yaml.safe_load((ROLE / "tasks" / "deploy.yml").read_text()) if tasks is None else tasks:
        if t["name"] == f"Deploy | {name}":
            return t
        if (inner := deploy_task(name, t.get("block", []))) is not None:
            return inner
    return None


# The role's own definitions of what the templates read of its vars/main.yml (the rest of it: the image, the
# plan, lookups of files the controller holds, is the deployment's, not the rollback's).
ROLE_VARS = {
    name: value
    for name, value in yaml.safe_load((ROLE / "vars" / "main.yml").read_text()).items()
    if name in {"__gridbot_gate_said", "__gridbot_known_good", "__gridbot_bot_dir", "__gridbot_bot"}
}


def task(name: str) -> dict[str, Any]:
    (found,) = [t for t in TASKS if t["name"] == f"Rollback | {name}"]
    return found


def expression(template: str) -> str:
    """A task's "{{ ... }}" as the bare expression."""
    text = template.strip()
    assert text.startswith("{{"), text
    assert text.endswith("}}"), text
    return text[2:-2]


NOTE = task("Note why the new bot failed")["ansible.builtin.set_fact"]
STORE = task("Put the store back as it was before the rollout")
WANTED = {
    "failure": "__gridbot_failure",
    "rollback_to": "__gridbot_rollback_to",
    "key_halt": "__gridbot_key_halt | bool",
    "files": expression(task("Put the known-good compose file and config back")["loop"]),
    "copy": "__copy",
    "restore": STORE["when"],
    "report": expression(task("Report the rollback")["ansible.builtin.fail"]["msg"]),
}
KNOWN_GOOD_IMAGE = "gridbot:0.1.4-amd64-0123456789ab"


def container(**over: Any) -> dict[str, Any]:
    """A container of the known-good image."""
    return container_info(KNOWN_GOOD_IMAGE, **over)


def rendered(tmp_path: Path, **registered: Any) -> dict[str, Any]:
    given = {
        "__gridbot_image": "gridbot:0.1.5-amd64-fedcba987654",
        # The plan's one bot (vars/main.yml names its directory from it).
        "__gridbot_plan": {"bots": [{"name": "default", "dir": "/opt/gridbot", "container": "gridbot"}]},
        "__gridbot_bot_name": "default",
        "__gridbot_container": "gridbot",
        **ROLE_VARS,
        "gridbot_health_timeout": 120,
        "gridbot_health_soak": 60,
        "__gridbot_soak": SKIPPED,
        "__gridbot_gate": SKIPPED,
        "__gridbot_store_copies": SKIPPED,
        "__gridbot_store_schema": SKIPPED,
        "__gridbot_store_restored": SKIPPED,
        "__gridbot_key_halt_lifted": SKIPPED,
        "ansible_failed_result": {"msg": "Task failed"},
        **NOTE,
        **STORE["vars"],
        **registered,
    }
    return rendered_vars(
        tmp_path,
        [],
        given,
        WANTED,
        ANSIBLE_FILTER_PLUGINS=str(ROLE / "filter_plugins"),
    )


def test_a_canary_whose_key_was_refused_goes_back_to_the_known_good_key_and_its_halt_is_lifted(
    tmp_path: Path,
) -> None:
    refused = {"state": "not trading", "why": "halted since its start: exchange refused the credentials",
               "key_refused": True}  # fmt: skip
    got = rendered(
        tmp_path,
        __gridbot_known_good_stat={"stat": {"exists": True}},
        __gridbot_before=container(),
        __gridbot_soak=container(),
        __gridbot_health=container(),
        __gridbot_gate={"rc": 1, "stdout": json.dumps(refused), "stderr": ""},
        __gridbot_key_halt_lifted={"changed": True, "rc": 0},
    )
    assert got["failure"] == (
        "health: healthy, state: running (exit code 0, restarts 0); "
        "not trading: halted since its start: exchange refused the credentials"
    )
    assert (got["rollback_to"], got["key_halt"], got["copy"], got["restore"]) == (
        "known-good",
        True,
        {},
        False,
    )
    assert [f["src"] for f in got["files"]] == [
        "/opt/gridbot/known-good/compose.yaml",
        "/opt/gridbot/known-good/bot.yml",
    ]
    assert got["report"].startswith(
        "localhost: gridbot gridbot:0.1.5-amd64-fedcba987654 did not pass its gate"
    )
    assert (
        f"Rolled back to the last known-good deployment ({KNOWN_GOOD_IMAGE}), healthy again" in got["report"]
    )
    assert "the halt the refused key made lifted. The rollout stops here" in got["report"]


def test_a_first_deployment_that_crashes_has_nothing_to_go_back_to(tmp_path: Path) -> None:
    got = rendered(
        tmp_path,
        __gridbot_known_good_stat={"stat": {"exists": False}},
        __gridbot_before={"exists": False, "container": None},
        __gridbot_health=container(health="unhealthy", status="exited", exit_code=1),
        ansible_failed_result={"msg": "Task failed: Conditional result (True) was derived from ..."},
    )
    assert got["failure"] == (
        "health: unhealthy, state: exited (exit code 1, restarts 0); "
        "Task failed: Conditional result (True) was derived from ..."
    )
    assert (got["rollback_to"], got["files"], got["key_halt"]) == ("none", [], False)
    assert "No deployment has passed its gate here" in got["report"]
    assert "the bot is stopped (docker logs gridbot says why). The rollout stops here" in got["report"]


def test_a_host_without_a_record_goes_back_to_the_files_it_replaced_and_its_store_to_the_copy(
    tmp_path: Path,
) -> None:
    copies = [f"/var/lib/docker/volumes/v/_data/before-rollout/gridbot-pia-BTCUSDT-v{n}-2026120{n}T000000Z.db"
              for n in (2, 3)]  # fmt: skip
    got = rendered(
        tmp_path,
        __gridbot_known_good_stat={"stat": {"exists": False}},
        __gridbot_before=container(),
        __gridbot_health=container(health="unhealthy"),
        __gridbot_compose_file={"changed": False},
        __gridbot_bot_yml={"changed": True, "backup_file": "/opt/gridbot/bot.yml.1.2026~"},
        __gridbot_store_copies={"files": [{"path": p} for p in copies]},
        __gridbot_store_schema={"rc": 0, "stdout": "4"},
        __gridbot_store_restored={"changed": True},
    )
    assert got["rollback_to"] == "backups"
    assert got["files"] == [{"name": "bot.yml", "src": "/opt/gridbot/bot.yml.1.2026~"}]
    assert (got["copy"], got["restore"]) == ({"name": copies[1].rsplit("/", 1)[1], "schema": 3}, True)
    report = got["report"]
    assert (
        f"Rolled back to the previous files ({KNOWN_GOOD_IMAGE}), its store as it was before the rollout"
        in report
    )


COPY = deploy_task("Back up the known-good bot's store before it is replaced")
SOAK = deploy_task("Soak, the bot staying healthy for gridbot_health_soak seconds")
PASSED = deploy_task("Work out the images that passed here, this one last")


def deployed(tmp_path: Path, **registered: Any) -> dict[str, Any]:
    assert COPY is not None
    assert SOAK is not None
    assert PASSED is not None
    given = {
        "ansible_check_mode": False,
        "__gridbot_image": "gridbot:0.1.5-amd64-fedcba987654",
        "__gridbot_config_digest": "d1",
        "gridbot_keep_versions": 2,
        "__gridbot_bad": SOAK["vars"]["__bad"],
        **registered,
    }
    wanted = {
        "copy": " and ".join(f"({c})" for c in COPY["when"]),
        "soak_bad": "__gridbot_bad",
        "passed": expression(PASSED["ansible.builtin.set_fact"]["__gridbot_passed_images"]),
    }
    return rendered_vars(tmp_path, [], given, wanted, ANSIBLE_FILTER_PLUGINS=str(ROLE / "filter_plugins"))


def test_a_new_image_copies_the_known_good_store_soaks_the_new_bot_and_records_its_image(
    tmp_path: Path,
) -> None:
    new = container(image_id="sha256:new")
    got = deployed(
        tmp_path,
        __gridbot_before=container(),
        __gridbot_passed_container=slurped("c1\n"),
        __gridbot_compose_file={"changed": False},
        __gridbot_health=new,
        __gridbot_soak=new,
        __gridbot_passed=slurped("sha256:old\nsha256:older\n"),
    )
    assert got == {"copy": True, "soak_bad": False, "passed": ["sha256:older", "sha256:new"]}


def test_nothing_replaced_copies_nothing_and_a_restarted_bot_fails_its_soak(tmp_path: Path) -> None:
    restarted = container(restarts=1)
    got = deployed(
        tmp_path,
        __gridbot_before=container(),
        __gridbot_passed_container=MISSING,
        __gridbot_image=KNOWN_GOOD_IMAGE,
        __gridbot_config_digest="",
        __gridbot_health=container(),
        __gridbot_soak=restarted,
        __gridbot_passed=MISSING,
    )
    assert (got["copy"], got["soak_bad"]) == (False, True)


def test_a_compose_up_that_fails_before_any_health_check_still_rolls_back(tmp_path: Path) -> None:
    """The first bot's compose up failed (an image, a mount, a port): health.yml never ran, nothing registered
    __gridbot_health, and the rescue still says why and goes back."""
    got = rendered(
        tmp_path,
        __gridbot_known_good_stat={"stat": {"exists": True}},
        __gridbot_before=container(),
        ansible_failed_result={"msg": "Error starting project: port is already allocated"},
    )
    assert got["failure"] == (
        "health: unknown, state: unknown (exit code none, restarts 0); "
        "Error starting project: port is already allocated"
    )
    assert got["rollback_to"] == "known-good"
    assert "Rolled back to the last known-good deployment" in got["report"]
