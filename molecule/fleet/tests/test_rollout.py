"""Bot updates across the fleet: canary first, health-gated, rolled back if unhealthy, bad config refused."""

import hashlib
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

from fleet import PROJECT, hosts, playbook

ARTIFACTS = PROJECT / ".cache" / "image"
SECRET = "/run/secrets/exchange"  # the container contract's credentials file
DEPLOY_TASK = "TASK [gridbot : Deploy | Bring the compose project up]"


def bot(host):
    out = host.run("sudo docker inspect gridbot")
    assert out.rc == 0, out.stderr
    c = json.loads(out.stdout)[0]
    return {"image": c["Image"], "started": c["State"]["StartedAt"], "health": c["State"]["Health"]["Status"]}


def artifact(tmp_path, version, *dockerfile):
    """A new bot version derived from the built arm64 image, exported the way `make image` exports one."""
    base = (ARTIFACTS / "gridbot-0.1.0-arm64.id").read_text().strip()
    tag = f"gridbot:{version}-arm64"
    recipe = "\n".join([f"FROM {base}", f"LABEL org.opencontainers.image.version={version}", *dockerfile])
    subprocess.run(["docker", "build", "-q", "-t", tag, "-"], input=recipe, text=True, check=True,
                   capture_output=True, env=dict(os.environ, DOCKER_BUILDKIT="0"))  # fmt: skip
    inspect = ["docker", "image", "inspect", "-f", "{{.Id}}", tag]
    image_id = subprocess.run(inspect, capture_output=True, text=True, check=True).stdout.strip()
    out = tmp_path / f"gridbot-{version}-arm64"
    subprocess.run(f"docker save {tag} | zstd -q -T0 -3 -o {out}.tar.zst", shell=True, check=True)
    Path(f"{out}.id").write_text(image_id + "\n")
    return image_id


def deploy_batches(stdout):
    """The hosts each run of the compose-up task touched, in order: one entry per serial batch."""
    chunks = stdout.split(DEPLOY_TASK)[1:]
    return [sorted(set(re.findall(r"^(?:ok|changed|fatal): \[([\w-]+)\]", c.split("TASK [")[0], re.M)))
            for c in chunks]  # fmt: skip


def test_a_config_change_and_a_key_rotation_reach_every_running_bot():
    """bot.yml and the credentials are bind-mounted files replaced by rename: without the config digest label
    the play said `changed`, the gate passed on the old container, and the bots kept the old values. First in
    this module: the fleet still runs the converged image, so only the config and the key change here."""
    fleet = hosts()
    before = {name: bot(h) for name, h in fleet.items()}
    rotated = "fleet-rotated-secret-5551234"
    run = playbook(
        "rollout.yml",
        "-v",
        "-e",
        '{"gridbot_config_override": {"grid": {"levels": 26}}}',
        "-e",
        f"gridbot_exchange_api_secret={rotated}",
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert [len(b) for b in deploy_batches(run.stdout)] == [1, 1], "one host at a time"
    assert rotated not in run.stdout + run.stderr, "the secret in Ansible's -v output"
    key = next(iter(fleet.values())).ansible.get_variables()["gridbot_exchange_api_key"]
    for name, h in fleet.items():
        now = bot(h)
        assert now["started"] != before[name]["started"], f"{name}: the bot was not recreated"
        assert (now["image"], now["health"]) == (before[name]["image"], "healthy")
        on_disk = h.run("sudo sha256sum /opt/gridbot/bot.yml").stdout.split()[0]
        assert "levels: 26\n" in h.run("sudo cat /opt/gridbot/bot.yml").stdout
        status = h.run("sudo docker exec gridbot gridbot status -c /etc/gridbot/bot.yml")
        assert status.rc == 0, status.stderr
        assert json.loads(status.stdout)["config_sha256"] == on_disk, f"{name}: the bot runs another bot.yml"
        code = f"import hashlib; print(hashlib.sha256(open({SECRET!r}, 'rb').read()).hexdigest())"
        seen = h.run("sudo docker exec gridbot python3 -c " + shlex.quote(code))
        want = hashlib.sha256(f"GRIDBOT_API_KEY={key}\nGRIDBOT_API_SECRET={rotated}\n".encode()).hexdigest()
        assert seen.stdout.strip() == want, f"{name}: the bot reads the old key"
        pid = h.run("sudo docker inspect -f '{{.State.Pid}}' gridbot").stdout.strip()
        for where in ("docker inspect gridbot", f"cat /proc/{pid}/environ", "docker logs gridbot 2>&1"):
            assert rotated not in h.run(f"sudo sh -c '{where}'").stdout, f"{name}: the secret in {where}"


def test_new_version_rolls_out_one_batch_at_a_time(tmp_path):
    new = artifact(tmp_path, "0.1.1")
    run = playbook(
        "rollout.yml", "-e", "gridbot_version=0.1.1", "-e", f"gridbot_image_artifact_dir={tmp_path}"
    )
    assert run.returncode == 0, run.stdout[-3000:]
    fleet = hosts()
    batches = deploy_batches(run.stdout)
    assert len(batches) == 2, batches
    assert [len(b) for b in batches] == [1, 1]
    assert sorted(batches[0] + batches[1]) == sorted(fleet)
    for h in fleet.values():
        state = bot(h)
        assert state["image"] == new
        assert state["health"] == "healthy"

    # The rows a script reads (make status FORMAT=json); the table printed from them is tested on the
    # controller (tools/tests).
    rows_file = tmp_path / "status.json"
    status = playbook("status.yml", "-e", f"status_json={rows_file}")
    assert status.returncode == 0, status.stdout[-3000:]
    rows = {row["host"]: row for row in json.loads(rows_file.read_text())}
    assert sorted(rows) == sorted(fleet)
    for name, row in rows.items():
        # the role's tag: version-arch-<ID prefix>
        assert row["image"] == f"gridbot:0.1.1-arm64-{new[7:19]}", row
        assert row["image_id"] == new[7:19], row
        assert row["health"] == "healthy", row
        assert re.fullmatch(r"0d00h[0-5]\dm", row["uptime"]), row  # started by this rollout, minutes ago
        assert re.fullmatch(r"[\d.]+MiB/384MiB", row["memory"]), row
        assert (row["mode"], row["state"]) == ("paper", "trading"), row
        assert float(row["equity"]) > 0, row
        assert isinstance(row["round_trips"], int), row
        # the VMs have no vcgencmd (not Raspberry Pi OS): n/a, not an error
        assert row["throttled"] == "n/a", row
        used, total = map(int, row["mem"].removesuffix("MiB").split("/"))
        assert 0 < used < total, row
        assert row["swap"].endswith("MiB"), row
        assert isinstance(row["oom_kills"], int), row  # /proc/vmstat's count since boot
        assert re.fullmatch(r"\d+%", row["rootfs"]), row
        assert row["model"] == ("pi5" if "pi5" in name else "pi4"), row


def test_unhealthy_version_is_rolled_back_on_the_canary_only(tmp_path):
    fleet = hosts()
    before = {name: bot(h) for name, h in fleet.items()}
    artifact(tmp_path, "0.1.2", 'ENTRYPOINT ["python3", "-c", "import time; time.sleep(10**9)"]')
    run = playbook(
        "rollout.yml", "-e", "gridbot_version=0.1.2", "-e", f"gridbot_image_artifact_dir={tmp_path}",
        "-e", "gridbot_health_timeout=150",
    )  # fmt: skip
    assert run.returncode != 0
    assert "Rolled back to" in run.stdout
    batches = deploy_batches(run.stdout)
    canary = batches[0][0]
    assert batches[1:] == [[canary]] or len(batches) == 1, batches
    after = {name: bot(h) for name, h in fleet.items()}
    assert after[canary]["image"] == before[canary]["image"]
    assert after[canary]["health"] == "healthy"
    for name in fleet:
        if name != canary:
            assert after[name] == before[name], f"{name} was touched"


def test_bad_config_fails_the_host_and_leaves_its_bot_running():
    fleet = hosts()
    name = sorted(fleet)[0]
    before = bot(fleet[name])
    config = fleet[name].run("sudo sha256sum /opt/gridbot/bot.yml").stdout
    bad = '{"gridbot_config_override": {"grid": {"levels": 1}}}'
    run = playbook("rollout.yml", "--limit", name, "-e", bad)
    assert run.returncode != 0
    assert "grid.levels" in run.stdout
    assert bot(fleet[name]) == before
    assert fleet[name].run("sudo sha256sum /opt/gridbot/bot.yml").stdout == config
