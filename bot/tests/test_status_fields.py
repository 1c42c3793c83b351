"""`gridbot status` says whether a bot runs (its heartbeat is fresh) and when it saved, as ISO time beside the
epoch `saved` that playbooks/halt.yml compares."""

import json
import subprocess
import sys
from datetime import datetime


def test_status_of_a_stopped_bot_says_stopped_and_its_saved_time(tmp_path):
    cfg = tmp_path / "bot.yml"
    cfg.write_text(
        f"run: {{state_dir: {tmp_path / 'state'}, heartbeat_file: {tmp_path / 'beat'}, cycle_seconds: 0.01,"
        " http_port: null}\n"
    )
    cli = [sys.executable, "-m", "gridbot.cli"]
    ran = subprocess.run([*cli, "run", "-c", str(cfg), "--max-cycles", "3"], capture_output=True, text=True,
                         check=False, cwd=tmp_path, timeout=120)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    (tmp_path / "beat").unlink(missing_ok=True)  # a stopped bot's heartbeat is gone or stale
    out = subprocess.run([*cli, "status", "-c", str(cfg)], capture_output=True, text=True, check=False,
                         cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["running"] is False
    assert datetime.fromisoformat(status["saved_at"]).timestamp() == int(status["saved"])
