"""What playbooks/site.yml leaves on Pi-like ARM64 VMs: host settings, the engine, the bot."""

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from outside import assert_seen_from_outside

from fleet import (
    CACHE,
    assert_books_match_the_exchange,
    assert_came_through_a_reboot,
    assert_no_order_doubled,
    boots,
    figure,
    host_var,
    hosts,
    one_line_cmdline_txt,
    playbook,
    recorded_fills,
)

VM_TOOLS = Path(__file__).resolve().parents[3] / "tools" / "vm"
GIB = 1024**3


def groups(host):
    return host.ansible.get_variables()["group_names"]


def name(host):
    return host.ansible.get_variables()["inventory_hostname"]


def sudo(host, command):
    return host.run(f"sudo sh -c '{command}'")


def inspect(host, container="gridbot"):
    return json.loads(sudo(host, f"docker inspect {container}").stdout)[0]


def detached(host, command):
    """Start a root command that takes the VM down, from a session that returns before it does."""
    port = (CACHE / "vms" / name(host) / "port").read_text().strip()
    ssh = ["ssh", "-q", "-i", str(CACHE / "ssh" / "id_ed25519"), "-p", port, "-o", "StrictHostKeyChecking=no",
           "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "pi@127.0.0.1"]  # fmt: skip
    remote = f"sudo systemd-run --no-block --collect sh -c '{command}'"
    subprocess.run([*ssh, remote], check=True, timeout=60)


def wait_healthy(host, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = sudo(host, "docker inspect -f {{.State.Health.Status}} gridbot").stdout.strip()
        if out == "healthy":
            return
        # The engine probes once a minute here; each look is a command, sudo and a docker CLI start, seconds
        # of the emulated CPU a booting bot needs.
        time.sleep(15)
    pytest.fail(f"gridbot on {name(host)} not healthy within {timeout} s")


# --- pi_host ---------------------------------------------------------------------------------------------


def test_kernel_command_line_came_through_a_reboot(host):
    running = host.file("/proc/cmdline").content_string.split()
    assert "ipv6.disable=1" in running
    assert "cgroup_enable=memory" in running
    assert "cgroup_memory=1" not in running
    assert_came_through_a_reboot(name(host), "cgroup_enable=memory")


def test_cmdline_txt_is_one_line(host):
    one_line_cmdline_txt(host)


def test_config_txt_block_is_under_all(host):
    lines = host.file("/boot/firmware/config.txt").content_string.splitlines()
    begin = lines.index("# BEGIN pifleet pi_host (ansible managed)")
    end = lines.index("# END pifleet pi_host (ansible managed)")
    block = lines[begin + 1 : end]
    assert block[0] == "[all]"
    assert {"arm_64bit=1", "gpu_mem=16", "dtparam=watchdog=on"} <= set(block)
    assert not [line for line in block[1:] if line.startswith("[")]
    assert ("kernel=kernel8.img" in block) == ("pi5" in groups(host))


def test_memory_cgroup_controller(host):
    assert "memory" in host.file("/sys/fs/cgroup/cgroup.controllers").content_string.split()


def test_swap_on_nvme_or_zram_never_on_the_sd_card(host):
    """fleet-pi5's disk comes with the zram service on it (the provisioned image: a Pi that swapped to zram
    before its NVMe drive came), and its zram swap on at boot: it ends with one swap, on the NVMe drive."""
    shown = sudo(host, "swapon --show=NAME,SIZE --bytes --noheadings --raw").stdout
    swaps = dict(line.split() for line in shown.splitlines())
    if "pi5" in groups(host):
        assert list(swaps) == ["/mnt/nvme/swapfile"]
        assert abs(int(swaps["/mnt/nvme/swapfile"]) - 2 * GIB) <= 65536
        assert host.mount_point("/mnt/nvme").device.startswith("/dev/nvme")
        # nofail: a drive gone at boot leaves the Pi booting without that swap, not in emergency mode
        assert "/mnt/nvme/swapfile none swap sw,nofail" in host.file("/etc/fstab").content_string
    else:
        assert list(swaps) == ["/dev/zram0"]
    assert not host.package("dphys-swapfile").is_installed
    assert not host.file("/var/swap").exists


def test_the_bots_backups_go_to_the_nvme_drive_where_there_is_one(host):
    """The SD card is what dies: the daily backups (gridbot_backup_dir's default) land on the NVMe drive."""
    source = {m["Destination"]: m["Source"] for m in inspect(host)["Mounts"]}["/backups"]
    assert source == ("/mnt/nvme/gridbot-backups" if "pi5" in groups(host) else "/var/backups/gridbot")
    assert sudo(host, f"stat -c %u:%a {source}").stdout.strip() == "10001:700"


def test_the_nvme_drives_wear_reaches_the_node_exporter_and_a_pi_without_one_reports_none(host):
    """The textfile collector asks the NVMe drive (QEMU's NVMe controller here, its SMART health log through
    smartctl, which pi_host installed for it) how worn it is; the Pi without one has no wear series and no
    smartmontools."""
    deadline = time.monotonic() + 120
    while True:  # the collector's timer writes every 30 s
        written = sudo(host, "cat /var/lib/prometheus/node-exporter/pifleet.prom").stdout
        wear = dict(re.findall(r'^(pifleet_disk_\w+\{device="[^"]+",kind="[^"]+"\}) (\S+)$', written, re.M))
        if wear or "pi5" not in groups(host) or time.monotonic() > deadline:
            break
        time.sleep(10)
    if "pi5" in groups(host):
        assert host.package("smartmontools").is_installed
        assert 0 <= float(wear.pop('pifleet_disk_life_used_ratio{device="nvme0",kind="nvme"}')) <= 1, written
        assert wear.pop('pifleet_disk_critical_warning{device="nvme0",kind="nvme"}') == "0", written
        assert wear.pop('pifleet_disk_media_errors{device="nvme0",kind="nvme"}') == "0", written
        assert wear == {}, written
    else:
        assert "pifleet_textfile_timestamp_seconds" in written
        assert wear == {}, written
        assert not host.package("smartmontools").is_installed


def test_sysctl_live(host):
    assert host.sysctl("vm.swappiness") == 10
    assert host.sysctl("fs.file-max") == 65535
    assert host.sysctl("net.ipv4.ip_forward") == 1
    assert host.sysctl("net.ipv4.conf.all.accept_redirects") == 0
    # Debian's arm64 kernel boots with `always`: the role's tmpfiles entry sets it
    assert "[madvise]" in host.file("/sys/kernel/mm/transparent_hugepage/enabled").content_string


def test_watchdog_owned_by_systemd(host):
    timeout = host.ansible.get_variables()["pi_host_watchdog_timeout"]
    shown = host.run("systemctl show -p RuntimeWatchdogUSec --value").stdout.strip()
    assert shown in {f"{timeout}s", f"{timeout // 60}min"}
    assert "/dev/watchdog" in sudo(host, "ls -l /proc/1/fd").stdout
    assert not host.package("watchdog").is_installed


def test_sd_card_care_live(host):
    tmp = host.mount_point("/tmp")
    assert tmp.filesystem == "tmpfs"
    assert {"size=262144k", "noexec", "nosuid", "nodev"} <= set(tmp.options)
    ran = host.run("f=/tmp/pifleet-exec-check; cp /bin/true $f && $f; echo $?; rm -f $f")
    assert ran.stdout.split()[-1] == "126", "a program copied to /tmp must not run from there"
    assert "noatime" in host.mount_point("/").options
    journal = sudo(host, "journalctl -b -u systemd-journald --no-pager").stdout
    assert re.search(r"max 64(\.0)?M", journal)  # systemd 252 prints 64.0M, 257 64M


def test_time_synchronised(host):
    assert host.run("timedatectl show -p NTPSynchronized --value").stdout.strip() == "yes"


def test_hosts_and_dns(host):
    hosts = host.file("/etc/hosts").content_string
    assert "127.0.0.1\tlocalhost" in hosts
    assert host.run("hostname").stdout.strip() == name(host)  # pi_host_hostname: the inventory's name
    assert f"127.0.1.1\t{name(host)}" in hosts
    assert "::1" not in hosts
    if "pi5" in groups(host):
        assert "10.0.2.3" in host.run("resolvectl dns").stdout
    else:
        assert "nameserver 10.0.2.3" in host.file("/etc/resolv.conf").content_string


# --- docker_engine ---------------------------------------------------------------------------------------


def test_daemon_json(host):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon["ipv6"] is False
    assert daemon["ip6tables"] is False
    assert daemon["live-restore"] is True
    assert daemon["log-driver"] == "json-file"
    assert daemon["log-opts"] == {"max-size": "5m", "max-file": "2", "compress": "true"}
    assert (daemon["no-new-privileges"], daemon["icc"], daemon["userland-proxy"]) == (True, False, False)


def test_docker_info_live(host):
    seen = engine_and_bot(host)
    info = seen["info"]
    assert info["Driver"] == "overlay2"
    assert info["LoggingDriver"] == "json-file"
    assert info["CgroupVersion"] == "2"
    assert info["LiveRestoreEnabled"] is True
    assert seen["bridge"]["EnableIPv6"] is False
    assert seen["compose_rc"] == 0
    assert "docker" in seen["pi_groups"]


def test_memory_limit_is_enforced_by_oom_kill(host):
    # One session for the whole test: under TCG each SSH command and sudo costs seconds.
    script = (
        "img=$(docker inspect -f {{.Config.Image}} gridbot); docker rm -f oomtest >/dev/null 2>&1; "
        'docker run --name oomtest --memory 64m --memory-swap 64m --entrypoint python3 "$img" '
        "-c 'b = bytearray(256 * 1024 * 1024)' >/dev/null 2>&1; echo \"rc=$?\"; "
        'echo "id=$(docker inspect -f {{.Id}} oomtest)"; docker rm -f oomtest >/dev/null; dmesg'
    )
    out = host.run("sudo sh -c %s", script).stdout
    assert re.search(r"^rc=137$", out, re.M), out[-2000:]
    container = re.search(r"^id=(\w+)$", out, re.M)
    assert container, out[-2000:]
    # The kernel's own record of the kill, charged to this container's cgroup. Docker 20.10's OOMKilled flag
    # misses kills on cgroup v2 now and then (hashicorp/nomad#13119; seen here on bookworm).
    assert re.search(rf"oom-kill:\S*oom_memcg=[^,]*{container.group(1)}", out)


# --- gridbot ---------------------------------------------------------------------------------------------

# What the tests below read about the engine and the bot, gathered by one Python run as root on the host:
# under TCG each SSH command, sudo and docker CLI start costs seconds, and these tests read it as it stands.
ENGINE_AND_BOT = r"""
import json, os, subprocess
def run(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr
def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as exc:
        return f"unreadable: {exc}"
c = json.loads(run("docker", "inspect", "gridbot")[1])[0]
pid = c["State"]["Pid"]
cgroup = "/sys/fs/cgroup" + read(f"/proc/{pid}/cgroup").strip().split("::", 1)[1]
probe = ("import sys\ntry:\n    open('/etc/x', 'w')\nexcept OSError as e:\n    print(e)\n"
         "else:\n    sys.exit(3)\nopen('/run/secrets/exchange').read()\n")
rc, out, err = run("docker", "exec", "gridbot", "python3", "-c", probe)
secrets = os.stat("/opt/gridbot/secrets")
secret = os.stat("/opt/gridbot/secrets/exchange.env")
dockerd = run("pidof", "dockerd")[1].split()[0]
print(json.dumps({
    "inspect": c,
    "status": read(f"/proc/{pid}/status"),
    "cgroup": {k: read(f"{cgroup}/{k}").strip() for k in ("memory.max", "cpu.max", "pids.max")},
    "apparmor": read("/sys/module/apparmor/parameters/enabled").strip(),
    "attr_current": read(f"/proc/{pid}/attr/current"),
    "dockerd_cmdline": read(f"/proc/{dockerd}/cmdline"),
    "in_bot": {"rc": rc, "out": out, "err": err},
    "secrets_dir": [secrets.st_uid, secrets.st_mode & 0o7777],
    "secret_file": [secret.st_uid, secret.st_mode & 0o7777],
    "secret": read("/opt/gridbot/secrets/exchange.env"),
    "compose": read("/opt/gridbot/compose.yaml"),
    "logs": "".join(run("docker", "logs", "gridbot")[1:]),
    "info": json.loads(run("docker", "info", "--format", "{{json .}}")[1]),
    "bridge": json.loads(run("docker", "network", "inspect", "bridge")[1])[0],
    "compose_rc": run("docker", "compose", "version")[0],
    "pi_groups": run("id", "-Gn", "pi")[1].split(),
}))
"""
_seen = {}


def engine_and_bot(host):
    """The engine and the bot as they stand after converge, read once per host."""
    if name(host) not in _seen:
        run = host.run("sudo python3 -c %s", ENGINE_AND_BOT)
        assert run.rc == 0, run.stderr
        _seen[name(host)] = json.loads(run.stdout)
    return _seen[name(host)]


def test_bot_runs_healthy_with_limits_in_its_cgroup(host):
    wait_healthy(host)
    limits = engine_and_bot(host)["cgroup"]
    assert limits == {"memory.max": "402653184", "cpu.max": "75000 100000", "pids.max": "128"}


def test_bot_is_hardened(host):
    seen = engine_and_bot(host)
    c = seen["inspect"]
    assert c["HostConfig"]["ReadonlyRootfs"] is True
    assert c["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in c["HostConfig"]["SecurityOpt"]
    assert re.search(r"^Uid:\s+10001\s", seen["status"], re.M), seen["status"]
    assert seen["in_bot"]["rc"] == 0, seen["in_bot"]
    assert "Read-only file system" in seen["in_bot"]["out"]
    assert c["HostConfig"]["LogConfig"] == {"Type": "journald", "Config": {"tag": "gridbot"}}
    # Confined by the kernel, seen from the host: seccomp's filter mode on the bot's process, and the engine's
    # AppArmor profile where the kernel has AppArmor (Debian's arm64 kernel does).
    assert re.search(r"^Seccomp:\s+2$", seen["status"], re.M), seen["status"]
    if seen["apparmor"] == "Y":
        assert c["AppArmorProfile"] == "docker-default"
        assert seen["attr_current"].startswith("docker-default")
    # No engine API on the network: nothing tells dockerd to listen on TCP (the LAN scans see every port).
    assert "tcp://" not in seen["dockerd_cmdline"]


def test_secret_is_private_and_out_of_docker_inspect(host):
    seen = engine_and_bot(host)
    assert seen["secrets_dir"] == [0, 0o700]
    assert seen["secret_file"] == [10001, 0o400]
    key = host_var(host, "gridbot_exchange_api_key")
    assert key
    assert key in seen["secret"]
    assert key not in json.dumps(seen["inspect"])
    assert key not in seen["compose"]
    assert seen["logs"].strip()
    assert key not in seen["logs"]
    # The bot reads it (the probe in the container opened it after its write to /etc was refused).
    assert seen["in_bot"]["rc"] == 0, seen["in_bot"]


def test_bot_survives_a_docker_daemon_restart(host):
    before = inspect(host)["State"]
    assert sudo(host, "systemctl restart docker").rc == 0
    after = inspect(host)["State"]
    assert after["Running"]
    assert after["StartedAt"] == before["StartedAt"]
    assert after["Pid"] == before["Pid"]
    wait_healthy(host)


def test_the_engines_restart_left_the_firewall_as_it_was():
    """The engine rewrites its own firewall tables when it restarts (the test above, on every host): the
    host's table is untouched, seen from outside."""
    assert_seen_from_outside(hosts())


def test_a_boot_change_that_does_not_boot_stops_the_play_and_both_hosts_come_back_from_going_down():
    """A command-line token that leaves the kernel without its root file system reaches the fleet: the first
    host reboots into it and does not come back, the play stops there, and the other host is neither edited
    nor rebooted. Then both come back as a Pi with nobody at its keyboard must: the first host's previous boot
    files, kept on its boot partition, are put back from outside (as from another machine with its SD card in
    a reader) and it is powered on; the other's kernel hangs, which only the watchdog that systemd feeds can
    recover from. Both boot with their bots healthy and their firewall and SSH policy in place (loaded at
    boot, before the network and the engine), seen from outside.

    Neither bot is stopped first, and their books after are judged from the exchange. One test, the two
    hosts' boots at once: each boot costs minutes under TCG.
    """
    fleet = hosts()
    cmdline = {n: one_line_cmdline_txt(h) for n, h in fleet.items()}
    booted = {n: len(boots(n)) for n in fleet}
    bad = "root=PARTUUID=0badb007-02"
    extra = {"pi_host_boot_cmdline_extra": [bad], "pi_host_reboot_timeout": 60}
    run = playbook("site.yml", "--tags", "pi_host_boot", "-e", json.dumps(extra))
    assert run.returncode != 0
    failed = re.search(r"(fleet-pi\d) failed after its boot files changed", run.stdout)
    assert failed, run.stdout[-3000:]
    first = failed.group(1)
    (other,) = set(fleet) - {first}
    assert "the hosts after it in the inventory were neither edited nor rebooted" in run.stdout
    assert bad in boots(first)[-1]
    assert len(boots(other)) == booted[other], f"{other} was rebooted"
    assert one_line_cmdline_txt(fleet[other]) == cmdline[other], f"{other}'s cmdline.txt was edited"

    # A kernel panic stops everything, systemd's feeding of the watchdog included; the i6300esb then resets
    # the VM.
    kept = recorded_fills(fleet[other])
    panicked = time.monotonic()
    detached(fleet[other], "sleep 2; echo c > /proc/sysrq-trigger")
    subprocess.run([str(VM_TOOLS / "pi-vm.sh"), "restore-boot", first], check=True, timeout=300)
    deadline = time.monotonic() + 400
    while len(boots(other)) == booted[other]:
        assert time.monotonic() < deadline, f"{other} hung and its watchdog did not reset it"
        time.sleep(3)
    for n in fleet:
        subprocess.run([str(VM_TOOLS / "pi-vm.sh"), "wait", n, "900"], check=True)
    assert bad not in boots(first)[-1]
    assert one_line_cmdline_txt(fleet[first]) == cmdline[first]
    wait_healthy(fleet[other])
    back = time.monotonic() - panicked
    for h in fleet.values():
        wait_healthy(h)
        assert "cgroup_enable=memory" in h.file("/proc/cmdline").content_string
    assert_seen_from_outside(fleet)
    # The second bot lost its host mid-trade as in a power cut (the panic stops everything: no shutdown, no
    # sync), the first went down with its host's reboot: each store opens, each ledger is its account's trades
    # on the exchange, none lost or booked twice.
    for n, h in fleet.items():
        booked = assert_books_match_the_exchange(n, h)
        assert_no_order_doubled(n, h)
        if n == other:
            figure(
                f"power cut: {n} healthy again {back:.0f} s after its kernel panicked (boot under TCG), "
                f"{booked} fills booked, {booked - len(kept)} of them made since the panic's last look"
            )


def test_the_status_rows_show_each_bot_trading_live_and_its_host(tmp_path):
    """The rows a script reads (make status FORMAT=json): each bot as converged, trading live, and its host's
    own figures from a real kernel; the table printed from them is tested on the controller (tools/tests)."""
    fleet = hosts()
    rows_file = tmp_path / "status.json"
    status = playbook("status.yml", "-e", f"status_json={rows_file}")
    assert status.returncode == 0, status.stdout[-3000:]
    listed = json.loads(rows_file.read_text())
    rows = {row["host"]: row for row in listed}
    assert sorted(rows) == sorted(fleet)
    assert len(listed) == len(rows), "one bot a host: one row each"
    for host_name, row in rows.items():
        assert row["bot"] == "default", row
        image = inspect(fleet[host_name])["Image"]
        # the role's tag: version-arch-<ID prefix>
        assert re.fullmatch(rf"gridbot:[\d.]+-arm64-{image[7:19]}", row["image"]), row
        assert row["image_id"] == image[7:19], row
        assert row["health"] == "healthy", row
        assert re.fullmatch(r"\dd\d\dh\d\dm", row["uptime"]), row
        assert re.fullmatch(r"[\d.]+MiB/384MiB", row["memory"]), row
        assert (row["mode"], row["state"]) == ("live", "trading"), row
        assert float(row["equity"]) > 0, row
        assert isinstance(row["open_orders"], int), row
        assert isinstance(row["round_trips"], int), row
        # the VMs have no vcgencmd (not Raspberry Pi OS): n/a, not an error
        assert row["throttled"] == "n/a", row
        used, total = map(int, row["mem"].removesuffix("MiB").split("/"))
        assert 0 < used < total, row
        assert row["swap"].endswith("MiB"), row
        assert isinstance(row["oom_kills"], int), row  # /proc/vmstat's count since boot
        assert re.fullmatch(r"\d+%", row["rootfs"]), row
        assert row["model"] == ("pi5" if "pi5" in host_name else "pi4"), row
        # no monitoring host in this fleet: no alerts column to fill (the scale tier's has one)
        assert row["alerts"] == row["bot_alerts"] == "n/a", row
