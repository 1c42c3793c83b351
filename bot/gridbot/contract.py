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
# Where the deploy role mounts the directory a host's several bots share (exchange.ip_quiet_dir): a
# Retry-After the exchange gives one of them holds back all, as the exchange bans the IP.
IP_QUIET_DIR = "/ip-quiet"
# /tmp is the container's tmpfs (its root filesystem is read-only).
HEARTBEAT_FILE = "/tmp/gridbot.heartbeat"
HTTP_PORT = 9108
# The bot's non-root user and group: the image runs as it and owns /data (bot/image/build.sh), the deploy role
# runs the container as it and gives it the credentials file.
UID = 10001
# How a halt's reason starts when the exchange refused the key (metric gridbot_halt_reason's `reason` label):
# the monitoring role's BotKeyRejected holds for as long as such a halt does, muting its BotHalted.
KEY_REFUSED_HALT = "exchange refused the credentials"


# The image sets these two to DATA_DIR and HEARTBEAT_FILE (bot/image/build.sh passes them from here). Without
# them, as on a desktop, the bot writes nothing outside the user's data directory.
STATE_DIR_ENV = "GRIDBOT_STATE_DIR"
HEARTBEAT_ENV = "GRIDBOT_HEARTBEAT"


def state_dir() -> str:
    """run.state_dir's default: GRIDBOT_STATE_DIR when set (the image's DATA_DIR), else gridbot's directory in
    the user's data directory ($XDG_DATA_HOME/gridbot, ~/.local/share/gridbot)."""
    if found := os.environ.get(STATE_DIR_ENV):
        return found
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data_home, "gridbot")


def heartbeat_path(state: str | None = None) -> str:
    """GRIDBOT_HEARTBEAT when set (the run loop and the healthcheck share the environment: the image's
    HEARTBEAT_FILE), else a file in the state directory (`state`, or the default one)."""
    return os.environ.get(HEARTBEAT_ENV) or os.path.join(state or state_dir(), "gridbot.heartbeat")
