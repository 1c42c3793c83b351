"""The container contract: where the bot finds its config, credentials and data, where it reports its health,
and the port it serves /metrics, /healthz and /readyz on. Plain strings, no imports: the healthcheck imports
this module on every probe (pathlib alone doubled a probe's CPU); `os` is loaded by the interpreter anyway.

One statement of each: the bot's defaults come from here, and the image and the deploy role read the same
values (docs/architecture.md, "Container contract").
"""

import os

CONFIG_FILE = "/etc/gridbot/bot.yml"
CREDENTIALS_FILE = "/run/secrets/exchange"  # GRIDBOT_API_KEY=... / GRIDBOT_API_SECRET=... lines
DATA_DIR = "/data"
# Where the deploy role mounts the host's backup directory (gridbot backup --dest): off the data volume, so a
# backup outlives it.
BACKUP_DIR = "/backups"
# /tmp is the container's tmpfs (its root filesystem is read-only).
HEARTBEAT_FILE = "/tmp/gridbot.heartbeat"
HTTP_PORT = 9108
# The bot's non-root user and group: the image runs as it and owns /data (bot/image/build.sh), the deploy role
# runs the container as it and gives it the credentials file.
UID = 10001


def heartbeat_path() -> str:
    """GRIDBOT_HEARTBEAT when set (the run loop and the healthcheck share the environment), else default."""
    return os.environ.get("GRIDBOT_HEARTBEAT", HEARTBEAT_FILE)
