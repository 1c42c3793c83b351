"""Results shaped as the gridbot role's deployment registers them (docker_container_info, slurp, a skipped
task), for the tests of its decisions (test_deploy_states.py) and of their wiring (test_deploy_wiring.py)."""

from __future__ import annotations

import base64
from typing import Any

STARTED = "2026-12-01T03:00:00.123456789Z"
SKIPPED = {"skipped": True, "changed": False}
MISSING = {"failed": True, "msg": "file not found"}  # slurp of a missing record, failed_when: false


def slurped(text: str) -> dict[str, Any]:
    """slurp's result for a file holding `text`."""
    return {"content": base64.b64encode(text.encode()).decode()}


def container_info(
    image: str, *, digest: str | None = None, health: str = "healthy", status: str = "running",
    exit_code: int = 0, restarts: int = 0, started: str = STARTED, cid: str = "c1",
    image_id: str = "sha256:old",
) -> dict[str, Any]:  # fmt: skip
    """docker_container_info's result for one container of `image` (its tag), its config digest label
    `digest` (None: no label)."""
    labels = {} if digest is None else {"org.pifleet.config-digest": digest}
    return {"exists": True, "container": {
        "Id": cid, "Image": image_id, "RestartCount": restarts, "Config": {"Image": image, "Labels": labels},
        "State": {"Running": status == "running", "Status": status, "StartedAt": started,
                  "ExitCode": exit_code, "Health": {"Status": health}},
    }}  # fmt: skip
