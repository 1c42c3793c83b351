"""The deployment's decisions, made in Python (unit-tested on the controller:
tools/tests/test_deploy_states.py).

A deployment (tasks/deploy.yml) moves a bot through states: the bot that runs before it (known-good or not,
its store copied or not), the new bot under its gate (healthy, soaked, trading), recorded as known-good when
it passed, and when it failed, rolled back (tasks/rollback.yml) to what passed here last, to the files this
run replaced, or to nothing (stopped). The tasks read the engine and the host; each choice between those
states is one function here, from what the tasks registered, so that it can be tested without a host.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Any

KNOWN_GOOD = "known-good"
BACKUPS = "backups"
NONE = "none"
CONFIG_DIGEST_LABEL = "org.pifleet.config-digest"
# The store copy the bot's own backup names: gridbot-<bot id>-<BASEQUOTE>-v<schema>-<UTC time>.db
_COPY = re.compile(r"-v(?P<schema>[0-9]+)-[0-9]{8}T[0-9]{6}Z\.db$")
_FAILED_MESSAGE = 300  # characters of a failed task's message kept in the report


def _container(info: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """docker_container_info's container ({} when there is none, or the task did not run)."""
    return (info or {}).get("container") or {}


def _slurped(result: Mapping[str, Any] | None) -> str:
    """A slurp result's text ('' when the file was missing: the tasks do not fail on that)."""
    content = (result or {}).get("content")
    # as Ansible's b64decode: bytes a card spoiled stay bytes, not an exception
    return base64.b64decode(content).decode(errors="surrogateescape") if content else ""


def _healthy(c: Mapping[str, Any]) -> bool:
    return ((c.get("State") or {}).get("Health") or {}).get("Status") == "healthy"


def gridbot_store_copy_due(
    before: Mapping[str, Any] | None,
    passed_container: Mapping[str, Any] | None,
    image: str,
    config_digest: str,
    compose_changed: bool,
) -> bool:
    """Whether the store of the bot running before the deployment is copied before a new container replaces
    it: it runs, it is the known-good one (the container that passed here; a host without that record: a
    healthy one), and this deployment replaces it (another image, another config, another compose file)."""
    c = _container(before)
    passed = _slurped(passed_container).strip()
    known_good = c.get("Id", "") == passed if passed else _healthy(c)
    config = c.get("Config") or {}
    replaced = (
        config.get("Image", "") != image
        or (config.get("Labels") or {}).get(CONFIG_DIGEST_LABEL, "") != config_digest
        or bool(compose_changed)
    )
    return bool((c.get("State") or {}).get("Running")) and known_good and replaced


def gridbot_soak_bad(soak: Mapping[str, Any] | None, started_at: str) -> bool:
    """Whether the bot under its soak has failed it: not running, not healthy, restarted by the engine, or
    not the container the gate saw start (`started_at`)."""
    c = _container(soak)
    state = c.get("State") or {}
    return (
        state.get("Status") != "running"
        or (state.get("Health") or {}).get("Status") != "healthy"
        or int(c.get("RestartCount") or 0) > 0
        or state.get("StartedAt", "") != started_at
    )


def gridbot_passed_images(record: Mapping[str, Any] | None, image: str, keep: int) -> list[str]:
    """The images that passed their gate here (the record's, oldest first) with `image` last, at most
    `keep`: what prune.yml keeps. An image that failed here is never in it."""
    if int(keep) < 1:
        raise ValueError(f"gridbot_keep_versions must be 1 or more; got {keep!r}")
    now = [i for i in _slurped(record).split() if i != image] + [image]
    return now[-int(keep) :]


def _truncated(text: str, length: int, leeway: int = 5) -> str:
    """Jinja's truncate as Ansible's templates have it: whole words, '...' at the end, a text at most `leeway`
    characters past `length` kept whole."""
    if len(text) <= length + leeway:
        return text
    return text[: length - 3].rsplit(" ", 1)[0] + "..."


def gridbot_failure(
    soak: Mapping[str, Any] | None,
    health: Mapping[str, Any] | None,
    gate_said: Mapping[str, Any],
    failed_message: str,
) -> str:
    """Why the new bot failed, as the report says it: the engine's view of it (the soak's, else the health
    check's) and the trading gate's reason, else the failed task's message."""
    c = _container(soak) or _container(health)
    state = c.get("State") or {}
    exit_code = state.get("ExitCode")
    why = (
        f"not trading: {gate_said['why']}"
        if "why" in gate_said
        else _truncated(failed_message, _FAILED_MESSAGE)
    )
    health = (state.get("Health") or {}).get("Status", "unknown")
    exited = "none" if exit_code is None else exit_code
    return (
        f"health: {health}, state: {state.get('Status', 'unknown')} "
        f"(exit code {exited}, restarts {c.get('RestartCount') or 0}); {why}"
    )


def gridbot_rollback_to(known_good_stat: Mapping[str, Any], before: Mapping[str, Any] | None) -> str:
    """What a failed bot goes back to: the last deployment that passed its gate here; without that record,
    the files this run replaced, only when the bot they ran was running and healthy before it (a host deployed
    before pifleet kept a record); else nothing (a first deployment that failed, or one after it): stopped."""
    if (known_good_stat.get("stat") or {}).get("exists"):
        return KNOWN_GOOD
    c = _container(before)
    if (before or {}).get("exists") and (c.get("State") or {}).get("Running") and _healthy(c):
        return BACKUPS
    return NONE


def gridbot_rollback_files(
    rollback_to: str, known_good_dir: str, compose_file: Mapping[str, Any], bot_yml: Mapping[str, Any]
) -> list[dict[str, str]]:
    """The compose file and config put back ({name, src}): the known-good record's, or the backups the
    template tasks made of what this run replaced (`compose_file`, `bot_yml`: their results); a file this run
    did not replace stays."""
    if rollback_to == KNOWN_GOOD:
        return [{"name": name, "src": f"{known_good_dir}/{name}"} for name in ("compose.yaml", "bot.yml")]
    if rollback_to != BACKUPS:
        return []
    replaced = {"compose.yaml": compose_file, "bot.yml": bot_yml}
    return [
        {"name": name, "src": str(result.get("backup_file"))}
        for name, result in replaced.items()
        if result.get("backup_file")
    ]


def gridbot_store_copy(paths: Sequence[str]) -> dict[str, Any]:
    """The newest store copy taken before the rollout ({name, schema}; {} when there is none): the one the
    store goes back to when the failed release migrated the store past its schema. A file not named as the
    bot names its copies is no copy (the directory is the bot's to write)."""
    copies = {name: m for name in (p.rsplit("/", 1)[-1] for p in paths) if (m := _COPY.search(name))}
    if not copies:
        return {}
    name = max(copies)
    return {"name": name, "schema": int(copies[name]["schema"])}


def gridbot_store_restore_due(copy: Mapping[str, Any], schema_read: str) -> bool:
    """Whether the store goes back to `copy`: the failed release left it in a schema newer than the copy's
    (which the bot before it refuses); a store in the copy's schema stays, the failed release's fills in
    it."""
    read = schema_read.strip()
    return bool(copy) and read.isdigit() and int(read) > int(copy["schema"])


def gridbot_rollback_report(
    failure: str,
    *,
    host: str,
    image: str,
    timeout: int,
    soak: int,
    rollback_to: str,
    container: str,
    running_image: str,
    store_restored: bool,
    key_halt_lifted: bool,
) -> str:
    """The message the failed host stops the rollout with."""
    said = (
        f"{host}: gridbot {image} did not pass its gate (healthy within {timeout} s, then for {soak} s; "
        f"{failure})."
    )
    if rollback_to == NONE:
        done = (
            "No deployment has passed its gate here (this was the first, or came after one that failed), so "
            f"there is nothing to roll back to: the bot is stopped (docker logs {container} says why)."
        )
    else:
        to = "the last known-good deployment" if rollback_to == KNOWN_GOOD else "the previous files"
        store = ", its store as it was before the rollout" if store_restored else ""
        if key_halt_lifted:
            halt = ", the halt the refused key made lifted"
        elif "not trading: halted since its start" in failure:
            halt = " (it halted itself: resume.yml lifts the halt once a person judged it)"
        else:
            halt = ""
        done = f"Rolled back to {to} ({running_image}){store}, healthy again{halt}."
    return f"{said} {done} The rollout stops here; hosts not yet reached keep their version."


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "gridbot_store_copy_due": gridbot_store_copy_due,
            "gridbot_soak_bad": gridbot_soak_bad,
            "gridbot_passed_images": gridbot_passed_images,
            "gridbot_failure": gridbot_failure,
            "gridbot_rollback_to": gridbot_rollback_to,
            "gridbot_rollback_files": gridbot_rollback_files,
            "gridbot_store_copy": gridbot_store_copy,
            "gridbot_store_restore_due": gridbot_store_restore_due,
            "gridbot_rollback_report": gridbot_rollback_report,
        }
