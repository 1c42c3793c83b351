"""The container contract: where the bot finds its config, credentials and data, where it reports its health,
and the port it serves /metrics, /healthz and /readyz on. Stdlib only (the healthcheck imports it).

One statement of each: the bot's defaults come from here, and the image and the deploy role read the same
values (see the README's "Container contract").
"""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = Path("/etc/gridbot/bot.yml")
CREDENTIALS_FILE = Path("/run/secrets/exchange")  # GRIDBOT_API_KEY=... / GRIDBOT_API_SECRET=... lines
DATA_DIR = Path("/data")
# /tmp is the container's tmpfs (its root filesystem is read-only).
HEARTBEAT_FILE = Path("/tmp/gridbot.heartbeat")
HTTP_PORT = 9108
