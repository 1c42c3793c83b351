"""`docker run` flags for the bot as the deploy role runs it: its hardening (vars/main.yml) and limits
(defaults/main.yml) read from the gridbot role, the uid from the container contract, as the role reads them.
Shared by the image tests and the benchmarks that run the image."""

from __future__ import annotations

from pathlib import Path

import yaml

from gridbot import contract

ROLE = Path(__file__).resolve().parents[2] / "roles" / "gridbot"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
HARDENING = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__gridbot_hardening"]
HARDENED = [
    *(["--read-only"] if HARDENING["read_only"] else []),
    *(f"--cap-drop={c}" for c in HARDENING["cap_drop"]),
    *(f"--security-opt={o}" for o in HARDENING["security_opt"]),
    "--tmpfs", f"/tmp:size={DEFAULTS['gridbot_tmpfs_size']},mode=1777",
    "--memory", DEFAULTS["gridbot_memory"], "--cpus", str(DEFAULTS["gridbot_cpus"]),
    "--pids-limit", str(DEFAULTS["gridbot_pids_limit"]), "--user", f"{contract.UID}:{contract.UID}",
]  # fmt: skip
