"""Container tier: what playbooks/site.yml leaves on a Debian host, and what bad inventory never reaches."""

import itertools
import json
import re
import shlex
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from fleet import hosts, play_order, playbook


def test_hosts_run_a_supported_release(host):
    assert host.system_info.distribution == "debian"
    assert host.system_info.codename in {"bookworm", "trixie"}


def test_systemd_is_pid1_and_booted(host):
    assert host.process.get(pid=1).comm == "systemd"
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in {"running", "degraded"}


def test_boot_files_edited_in_place(host):
    cmdline = host.file("/boot/firmware/cmdline.txt").content_string
    assert cmdline.count("\n") == 1
    assert cmdline.split()[-2:] == ["ipv6.disable=1", "cgroup_enable=memory"]
    config = host.file("/boot/firmware/config.txt").content_string.splitlines()
    begin = config.index("# BEGIN pifleet pi_host (ansible managed)")
    assert config[begin + 1] == "[all]"
    assert "[pi5]" in config[:begin]


def test_drop_ins_written(host):
    assert "vm.swappiness = 10" in host.file("/etc/sysctl.d/90-pifleet.conf").content_string
    thp = host.file("/etc/tmpfiles.d/pifleet-transparent-hugepages.conf").content_string
    assert "w /sys/kernel/mm/transparent_hugepage/enabled - - - - madvise" in thp
    watchdog = host.file("/etc/systemd/system.conf.d/90-pifleet-watchdog.conf").content_string
    assert "RuntimeWatchdogSec=15s" in watchdog
    assert "SystemMaxUse=64M" in host.file("/etc/systemd/journald.conf.d/90-pifleet.conf").content_string
    fstab = host.file("/etc/fstab").content_string
    assert "tmpfs /tmp tmpfs size=256M,mode=1777,nosuid,nodev,noexec" in fstab
    assert host.run("apt-config shell D APT::ExtractTemplates::TempDir").stdout.strip() == "D='/var/tmp'"
    assert not host.package("dphys-swapfile").is_installed


def test_a_swap_drive_gone_leaves_no_swap_file_on_the_sd_card_and_zram_in_its_place():
    """A Pi whose NVMe drive is gone: pi_host_swap_nvme_mount names a directory on the SD card now, where
    fstab still lists the swap file (and where an earlier run put one while the drive was missing). No swap
    file is made there, the old one and its fstab line are retired, zram stays, and the run says why."""
    name = play_order()[0]
    host = hosts()[name]
    zram = {"bookworm": "zram-tools", "trixie": "systemd-zram-generator"}[host.system_info.codename]
    assert host.package(zram).is_installed
    old = "/mnt/nvme/swapfile"
    host.run(
        f"mkdir -p /mnt/nvme && truncate -s 1M {old} && echo '{old} none swap sw,nofail 0 0' >> /etc/fstab"
    )
    try:
        swap = ["--tags", "pi_host_swap", "-e", "pi_host_swap_nvme_mount=/mnt/nvme/"]
        run = playbook("site.yml", "--limit", name, *swap)
        assert run.returncode == 0, run.stdout[-3000:]
        said = "where no ext4/xfs filesystem from an NVMe drive is mounted now"
        assert said in run.stdout, run.stdout[-3000:]
        assert not host.file(old).exists
        assert old not in host.file("/etc/fstab").content_string
        assert host.package(zram).is_installed
    finally:
        host.run(f"rm -rf /mnt/nvme; sed -i '\\|^{old} |d' /etc/fstab")


def test_engine_runs_in_the_container(host):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon["live-restore"] is True
    assert daemon["ip6tables"] is False
    assert host.run("docker compose version").rc == 0
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["LiveRestoreEnabled"] is True
    assert "docker" in host.user("pi").groups


def test_apt_reports_the_engines_waiting_upgrades_for_the_node_exporter(host):
    """apt runs the report after each refresh of its lists; the converge ran it once, on this release's real
    apt: what it would upgrade of the held engine, and when it looked (HostEngineUpdatesPending reads it)."""
    hook = host.file("/etc/apt/apt.conf.d/54pifleet-engine-updates").content_string
    assert "APT::Update::Post-Invoke-Success" in hook
    assert "/usr/local/lib/pifleet/pifleet-engine-updates.py /var/lib/prometheus/node-exporter " in hook
    report = host.file("/var/lib/prometheus/node-exporter/pifleet-engine-updates.prom").content_string
    checked = re.search(r"^pifleet_engine_updates_checked_seconds (\d+)$", report, re.MULTILINE)
    assert checked, report
    assert time.time() - 86_400 < int(checked[1]) <= time.time() + 60
    for line in report.splitlines():
        if line.startswith("pifleet_engine_update_pending{"):
            assert re.fullmatch(r'pifleet_engine_update_pending\{package="[^"]+",candidate="[^"]+",'
                                r'security="(true|false)"\} 1', line), line  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"pi_host_swap_size": "-2G"}, "pi_host_swap_size"),
        ({"pi_host_governor": "turbo"}, "pi_host_governor"),
        ({"pi_host_boot_cmdline_extra": ["quiet splash"]}, "pi_host_boot_cmdline_extra"),
        ({"docker_engine_source": "snap"}, "docker_engine_source"),
        ({"change_lock_enabled": "sometimes"}, "change_lock_enabled"),
        ({"gridbot_config": "many"}, "gridbot_config"),
        ({"gridbot_memory": "lots"}, "gridbot_memory"),
        ({"gridbot_healthcheck_interval": "10 seconds"}, "gridbot_healthcheck_interval"),
        ({"gridbot_cpus": 0}, "gridbot_cpus"),
        (
            {"gridbot_image_source": "registry", "gridbot_image_registry_ref": "x/gridbot:1"},
            "gridbot_image_registry_ref",
        ),
        ({"gridbot_rollout_batches": [0, "100%"]}, "gridbot_rollout_batches"),
        ({"gridbot_rollout_batches": [1, "150%"]}, "gridbot_rollout_batches"),
        ({"hardening_ssh_allow_groups": []}, "hardening_ssh_allow_groups"),
        ({"hardening_firewall_ssh_cidrs": ["192.168.1.5/24"]}, "hardening_firewall_ssh_cidrs"),
        ({"hardening_firewall_monitoring_cidrs": ["10.0.0.0/33"]}, "hardening_firewall_monitoring_cidrs"),
        ({"hardening_ssh_port": 70000}, "hardening_ssh_port"),
        ({"hardening_firewall_admin_ports": [8428, 70000]}, "hardening_firewall_admin_ports"),
        ({"monitoring_victoriametrics_port": "lots"}, "monitoring_victoriametrics_port"),
        ({"pi_host_sysctl_transparent_hugepages": "sometimes"}, "pi_host_sysctl_transparent_hugepages"),
        ({"hardening_firewall_ssh_rate_limit": "lots"}, "hardening_firewall_ssh_rate_limit"),
        (
            {
                "pi_host_node_exporter_enabled": True,
                "pi_host_node_exporter_collectors": ["meminfo", "systemd_units"],
            },
            "pi_host_node_exporter_collectors",
        ),
    ],
)
def test_bad_inventory_fails_before_any_change(extra, named):
    """Run site.yml with one bad value (and rollout.yml, for an argument spec's, a preflight check's and the
    batches' of the bot, through the role's checks site.yml runs too): each must fail naming the variable,
    and change nothing anywhere."""
    rollout_too = named in ("gridbot_config", "gridbot_memory", "gridbot_rollout_batches")
    for book in ("site.yml", "rollout.yml") if rollout_too else ("site.yml",):
        run = playbook(book, "-e", json.dumps(extra))
        assert run.returncode != 0, book
        assert named in run.stdout + run.stderr, book
        recap = _recap(run)
        assert recap, book
        assert all("changed=0" in line for line in recap), (book, recap)


def _recap(run):
    """The play recap's line of each host (its ok=, changed=, failed= counts)."""
    return [line for line in run.stdout.splitlines() if "changed=" in line]


def test_a_host_too_small_for_its_bots_is_refused_by_its_own_memory_and_cpus(host):
    """The preflight weighs the bots against the host's memory and CPUs as its kernel counts them (MemTotal in
    MiB, nproc): with the reserve for the OS above both, the run fails naming the host's own figures and
    changes nothing."""
    if host.system_info.codename != "trixie":
        pytest.skip("one host shows it")
    memory_mb = int(host.file("/proc/meminfo").content_string.split("MemTotal:")[1].split()[0]) // 1024
    cpus = int(host.check_output("nproc"))
    reserve = {"gridbot_host_reserve_memory": "64g", "gridbot_host_reserve_cpus": 64}
    run = playbook("site.yml", "--limit", _name(host), "-e", json.dumps(reserve))
    assert run.returncode != 0
    assert f"({memory_mb} MiB less gridbot_host_reserve_memory 64g)" in run.stdout, run.stdout[-3000:]
    assert f"({cpus} CPUs less gridbot_host_reserve_cpus 64)" in run.stdout, run.stdout[-3000:]
    recap = _recap(run)
    assert recap
    assert all("changed=0" in line for line in recap), recap


def test_docker_repository_path_renders_in_check_mode():
    """Docker's repository is unreachable here: its deb822 source and pins are checked as check-mode diffs."""
    run = playbook(
        "site.yml", "--check", "--diff", "--limit", "pifleet-bookworm",
        "--tags", "docker_engine_repository", "-e", "docker_engine_source=docker",
        "-e", "docker_engine_version=5:27.5.1-1~debian.12~bookworm",
        # The key's URL is unreachable too; a local file stands in for it.
        "-e", "docker_engine_docker_repo_key_url=file:///etc/os-release",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:]
    for line in (
        "+URIs: https://download.docker.com/linux/debian",
        "+Suites: bookworm",
        "+Components: stable",
        "+Architectures: amd64",
        "+Signed-By: /etc/apt/keyrings/docker.asc",
        "+Pin: version 5:27.5.1-1~debian.12~bookworm",
        "+Package: docker.io docker-compose",
    ):
        assert line in run.stdout


def test_a_compose_package_that_differs_from_its_pinned_sha256_is_refused(host):
    """bookworm on Debian's packages takes Compose v2 from a .deb fetched over plain HTTP: a download whose
    sha256 is not the pinned one is refused, and nothing is installed."""
    if host.system_info.codename != "bookworm":
        pytest.skip("the .deb path is bookworm's")
    plugin = "/usr/libexec/docker/cli-plugins/docker-compose"
    assert host.run(f"mv {plugin} /root/docker-compose.kept").rc == 0
    try:
        bad = {"docker_engine_compose_deb_sha256": {"amd64": "0" * 64, "arm64": "0" * 64}}
        name = host.ansible.get_variables()["inventory_hostname"]
        run = playbook("site.yml", "--limit", name, "--tags", "docker_engine_install",
                       "-e", json.dumps(bad))  # fmt: skip
        assert run.returncode != 0
        assert "checksum" in run.stdout.lower(), run.stdout[-2000:]
        assert not host.file(plugin).exists
    finally:
        host.run(f"mv /root/docker-compose.kept {plugin}")


def _name(host):
    return host.ansible.get_variables()["inventory_hostname"]


def _applied_to(stdout, task):
    """The hosts a one-host-at-a-time task ran on, in order: "changed: [first -> target]", or "[first]" on the
    host the run_once loop runs from."""
    ran = re.compile(r"^(?:ok|changed|failed|fatal): \[([\w-]+)(?: -> ([\w-]+))?\]", re.M)
    chunks = [c for c in stdout.split("TASK [") if c.startswith(task)]
    return list(dict.fromkeys(m.group(2) or m.group(1) for c in chunks for m in ran.finditer(c)))


def test_a_second_line_in_cmdline_txt_is_refused_not_merged(host):
    path = "/boot/firmware/cmdline.txt"
    before = host.file(path).content_string
    host.run(f"printf 'quiet\\n' >> {path}")
    try:
        run = playbook("site.yml", "--limit", _name(host), "--tags", "pi_host_boot")
        assert run.returncode != 0
        assert "cmdline.txt has 2 lines" in run.stdout, run.stdout[-2000:]
        assert "'quiet' is not in effect" in run.stdout
        assert host.file(path).content_string == before + "quiet\n"
    finally:
        host.run(f"printf '%s' {shlex.quote(before)} > {path}")


def test_boot_files_are_backed_up_on_the_boot_partition_one_host_at_a_time():
    """Each edit keeps the previous files beside them (and the stock ones once), where another machine can put
    them back; each host is edited by a task of its own, in turn (the reboot between is the VMs' to test)."""
    fleet = hosts()
    boot = "/boot/firmware"
    before = {name: h.file(f"{boot}/cmdline.txt").content_string for name, h in fleet.items()}
    for h in fleet.values():
        assert "cgroup_enable=memory" not in h.file(f"{boot}/cmdline.txt.pifleet-orig").content_string
    run = playbook("site.yml", "--tags", "pi_host_boot", "-e", '{"pi_host_boot_cmdline_extra": ["nosplash"]}')
    assert run.returncode == 0, run.stdout[-2000:]
    try:
        edited = _applied_to(run.stdout, "pi_host : Boot | Write cmdline.txt")
        assert sorted(edited) == sorted(fleet), edited
        for name in edited:
            assert f"TASK [pi_host : Boot | Write cmdline.txt on {name}]" in run.stdout
        for name, h in fleet.items():
            assert h.file(f"{boot}/cmdline.txt").content_string == before[name].rstrip("\n") + " nosplash\n"
            assert h.file(f"{boot}/cmdline.txt.pifleet-prev").content_string == before[name]
    finally:
        back = playbook(
            "site.yml", "--tags", "pi_host_boot", "-e", '{"pi_host_boot_cmdline_absent": ["nosplash"]}'
        )
        assert back.returncode == 0, back.stdout[-2000:]
    for name, h in fleet.items():
        assert h.file(f"{boot}/cmdline.txt").content_string == before[name]


def _engine(host):
    started = host.check_output("systemctl show docker --property ExecMainStartTimestampMonotonic")
    return host.file("/etc/docker/daemon.json").content_string, started


BOGUS = '{"docker_engine_daemon_extra": {"pifleet-bogus": 1}}'


def test_a_daemon_value_the_engine_fails_on_stops_the_play_at_the_first_host():
    """The first host in the inventory takes the value, its engine fails to start on it, gets its previous
    daemon.json back and answers again; the play ends there, the other host neither written nor restarted."""
    fleet = hosts()
    before = {name: _engine(h) for name, h in fleet.items()}
    run = playbook("site.yml", "--tags", "docker_engine_daemon", "-e", BOGUS)
    assert run.returncode != 0
    failed = re.search(r"([\w-]+): the engine's new configuration failed", run.stdout)
    assert failed, run.stdout[-3000:]
    first = failed.group(1)
    assert _applied_to(run.stdout, "docker_engine : Daemon | Write the new configuration") == [first]
    assert "pifleet-bogus" in run.stdout  # dockerd's own words
    assert "The play stops here" in run.stdout
    for name, h in fleet.items():
        daemon, started = _engine(h)
        assert daemon == before[name][0], f"{name}: daemon.json left changed"
        if name != first:
            assert started == before[name][1], f"{name}: its engine was restarted"
        assert h.run("docker version --format '{{.Server.Version}}'").rc == 0, f"{name}: no engine"
        assert not h.run("ls /etc/docker/daemon.json.*~").stdout


def test_trixie_refuses_a_daemon_value_before_writing_it(host):
    """trixie's dockerd judges daemon.json before it is written (--validate): nothing is written, nothing
    restarted."""
    if host.system_info.codename != "trixie":
        pytest.skip("bookworm's dockerd 20.10 has no --validate (the test above)")
    before = _engine(host)
    run = playbook("site.yml", "--limit", _name(host), "--tags", "docker_engine_daemon", "-e", BOGUS)
    assert run.returncode != 0
    assert "the engine's new configuration failed: dockerd --validate refused it" in run.stdout, run.stdout[
        -3000:
    ]
    assert "pifleet-bogus" in run.stdout
    assert "Nothing was written: its engine runs as before" in run.stdout
    assert _engine(host) == before


def _primary_keys(host, path):
    """The fingerprints of the primary keys in an OpenPGP file, as gpg reads it on the host."""
    gpg = f"gpg --batch --no-options --no-autostart --homedir $h --show-keys --with-colons {path}"
    shown = host.check_output(f'h=$(mktemp -d) && {gpg}; rc=$?; rm -rf "$h"; exit $rc')
    lines = shown.splitlines()
    return [b.split(":")[9] for a, b in itertools.pairwise(lines) if a.startswith("pub:")]


def test_docker_repository_keys_other_than_the_pinned_one_never_reach_apt(host):
    """The key URL is only where the key comes from: a file without the pinned key never reaches apt, and
    from a file with it and others, apt gets the pinned key alone. Debian's archive keyring (several keys)
    stands in for a tampered download."""
    if host.system_info.codename != "bookworm":
        pytest.skip("Docker's repository is the bookworm default")
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    url = f"docker_engine_docker_repo_key_url=file://{keyring}"
    source = ["--limit", _name(host), "--tags", "docker_engine_repository",
              "-e", "docker_engine_source=docker", "-e", url]  # fmt: skip
    try:
        run = playbook("site.yml", *source)
        assert run.returncode != 0
        docker_key = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
        assert f"not docker_engine_docker_repo_key_fingerprint {docker_key}" in run.stdout
        assert not host.file("/etc/apt/keyrings/docker.asc").exists
        assert not host.file("/etc/apt/sources.list.d/docker.sources").exists

        others = _primary_keys(host, keyring)  # gpg: the run above installed it
        assert len(others) > 1, others
        pinned = others[-1]
        run = playbook("site.yml", *source, "-e", f"docker_engine_docker_repo_key_fingerprint={pinned}")
        assert run.returncode == 0, run.stdout[-3000:]
        assert _primary_keys(host, "/etc/apt/keyrings/docker.asc") == [pinned]
    finally:
        host.run("rm -f /var/cache/apt/docker-repo-key.asc /etc/apt/keyrings/docker.asc "
                 "/etc/apt/sources.list.d/docker.sources /etc/apt/preferences.d/docker")  # fmt: skip


CANARY = Path(__file__).with_name("engine-canary.sh")


def test_an_engine_upgrade_goes_to_one_host_at_a_time_under_its_lock():
    """An upgrade of the engine's packages (here a canary package standing in for them, held as they are, its
    newer version in a local repository) goes to one host at a time, in play order, each under its change
    lock: dpkg's run on the second host starts after the first's has ended, seen in each host's own log."""
    fleet = hosts()
    order = play_order()
    for h in fleet.values():
        made = h.run("sh -c %s", CANARY.read_text())
        assert made.rc == 0, made.stdout + made.stderr
    held = json.dumps({"__docker_engine_held": {"debian": ["pifleet-canary"]}})
    try:
        run = playbook("site.yml", "--tags", "docker_engine_install", "-e", held)
        assert run.returncode == 0, run.stdout[-3000:]
        said = [run.stdout.index(f"TASK [docker_engine : Install | Upgrade the engine's packages on {n}]")
                for n in order]  # fmt: skip
        assert said == sorted(said), said
        locked = "TASK [change_lock : Lock | Take this host's change lock for the engine's upgrade]"
        assert run.stdout.count(locked) == len(order), run.stdout[-3000:]
        windows = {}
        for n, h in fleet.items():
            assert h.package("pifleet-canary").version == "2", n
            log = h.file("/var/log/pifleet-canary.log").content_string
            log = dict(line.split() for line in log.splitlines())
            windows[n] = (float(log["start"]), float(log["end"]))
        assert sorted(windows, key=lambda n: windows[n][0]) == order
        assert windows[order[1]][0] >= windows[order[0]][1], windows
    finally:
        for h in fleet.values():
            h.run("dpkg --purge pifleet-canary; rm -rf /srv/canary /var/log/pifleet-canary.log "
                  "/etc/apt/sources.list.d/pifleet-canary.list")  # fmt: skip
        back = playbook("site.yml", "--tags", "docker_engine_install")
        assert back.returncode == 0, back.stdout[-3000:]


LOCK = "/run/pifleet/change.lock"


@contextmanager
def _held_by(host, holder):
    """The host's change lock as another run's (another operator mid-rollout), removed afterwards."""
    host.run(f"mkdir -p /run/pifleet && echo {shlex.quote(holder)} > {LOCK}")
    try:
        yield
    finally:
        host.run(f"rm -f {LOCK}")


def test_a_held_change_lock_stops_the_rollout_naming_its_holder():
    """Another run's lock on the second batch's host: the canary goes through and releases its own lock, the
    rollout stops at the held host, naming the holder, and leaves that lock in place."""
    fleet = hosts()
    holder = "alice@laptop (Roll gridbot out, canary first, since 2026-11-23T08:00:00Z)"
    canary, *_, last = play_order()
    held = fleet[last]
    with _held_by(held, holder):
        run = playbook("rollout.yml")
        assert run.returncode != 0
        said = f"another run holds this host's change lock ({LOCK}): {holder}. The bot's change was not done"
        assert said in run.stdout, run.stdout[-3000:]
        released = rf"TASK \[change_lock : Lock \| Release this host's change lock\][^\[]*\nok: \[{canary}\]"
        assert re.search(released, run.stdout), run.stdout[-3000:]
        assert held.file(LOCK).content_string == holder + "\n"
        assert not fleet[canary].file(LOCK).exists
    again = playbook("rollout.yml")
    assert again.returncode == 0, again.stdout[-3000:]
    assert not any(h.file(LOCK).exists for h in fleet.values())


def test_a_held_change_lock_keeps_site_yml_from_rebooting_a_host_or_restarting_its_engine():
    """Another operator's rollout holds the first host's change lock (its soak under way): site.yml with new
    boot files, then with a new engine setting, neither edits that host's boot files (the reboot's first step)
    nor restarts its engine. Each play stops there, naming the holder and what was not done, the host after it
    untouched too, and the lock stays the holder's."""
    fleet = hosts()
    first, *_ = play_order()
    holder = "bob@desk (Roll gridbot out, canary first, since 2026-11-26T08:00:00Z)"
    cmdline = "/boot/firmware/cmdline.txt"
    before = {name: (h.file(cmdline).content_string, _engine(h)) for name, h in fleet.items()}
    with _held_by(fleet[first], holder):
        boot = playbook("site.yml", "--tags", "pi_host_boot",
                        "-e", '{"pi_host_boot_cmdline_extra": ["nosplash"]}')  # fmt: skip
        engine = playbook("site.yml", "--tags", "docker_engine_daemon",
                          "-e", '{"docker_engine_daemon_extra": {"debug": false}}')  # fmt: skip
        for run, what in ((boot, "The reboot into new boot files"), (engine, "The engine's restart")):
            assert run.returncode != 0
            said = f"{first}: another run holds this host's change lock ({LOCK}): {holder}. {what} was not"
            assert said in run.stdout, run.stdout[-3000:]
        for name, h in fleet.items():
            assert (h.file(cmdline).content_string, _engine(h)) == before[name], f"{name} was changed"
        assert fleet[first].file(LOCK).content_string == holder + "\n"


# --- hardening --------------------------------------------------------------------------------------------


def test_sshd_takes_keys_from_the_allowed_groups_only(host):
    shown = host.check_output("sshd -T -C user=pi,host=x,addr=10.1.2.3")
    effective = dict(line.split(" ", 1) for line in shown.splitlines())
    assert (effective["authenticationmethods"], effective["passwordauthentication"]) == ("publickey", "no")
    assert (effective["permitrootlogin"], effective["allowgroups"]) == ("no", "sshusers")
    assert "sshusers" in host.user("pi").groups
    keys = [v for line in shown.splitlines() if line.startswith("hostkey ") for v in line.split()[1:]]
    assert keys == ["/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ecdsa_key"], keys
    assert not host.file("/etc/ssh/ssh_host_rsa_key").exists


def test_unattended_upgrades_takes_security_updates_on_apts_daily_timers_but_never_the_engine(host):
    """Debian's security suite and Raspberry Pi's archive (its kernel and firmware have no security suite), as
    unattended-upgrades' own dry run reads its policy; the engine and what it runs on never (site.yml upgrades
    them, one host at a time), whatever else it takes."""
    dry = host.run("unattended-upgrade --dry-run --debug 2>&1")
    assert dry.rc == 0, dry.stdout[-2000:]
    release = host.system_info.codename
    origins = re.search(r"Allowed origins are: (.*)", dry.stdout).group(1)
    assert origins.split(", ") == [
        f"origin=Debian,codename={release}-security,label=Debian-Security",
        f"origin=Raspberry Pi Foundation,codename={release},label=Raspberry Pi Foundation",
    ]
    blacklist = [re.compile(p) for p in re.search(r"Initial blacklist: (.*)", dry.stdout).group(1).split()]
    for package in ("docker.io", "docker-cli", "docker-compose", "containerd", "runc"):
        assert any(p.match(package) for p in blacklist), (package, blacklist)
    for package in ("openssh-server", "libc6", "linux-image-arm64", "docker", "runc-helper"):
        assert not any(p.match(package) for p in blacklist), (package, blacklist)
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        assert host.service(timer).is_enabled, timer


def _listening(host):
    """The TCP ports sshd and the others listen on, from the kernel's own table (no ss in a minimal image)."""
    rows = host.file("/proc/net/tcp").content_string.splitlines()[1:]
    return {int(r.split()[1].rsplit(":", 1)[1], 16) for r in rows if r.split()[3] == "0A"}


def test_a_run_that_fails_after_sshd_config_changed_has_reloaded_sshd(host):
    """sshd's new settings are in effect even when a later task of the run fails: here the firewall's ruleset,
    which nft refuses (a stub in its place). The next run would find sshd's file already written and notify
    nothing, so a reload left to the play's end would never happen."""
    if host.system_info.codename != "trixie":
        pytest.skip("one host shows it")
    assert 22 in _listening(host)
    host.run("mv /usr/sbin/nft /usr/sbin/nft.real && printf '#!/bin/sh\\nexit 1\\n' > /usr/sbin/nft")
    host.run("chmod 0755 /usr/sbin/nft")
    try:
        run = playbook("site.yml", "--limit", _name(host), "--tags", "hardening_ssh,hardening_firewall",
                       "-e", "hardening_ssh_port=2222")  # fmt: skip
        assert run.returncode != 0
        assert "failed to validate" in run.stdout, run.stdout[-3000:]
        assert _listening(host) & {22, 2222} == {2222}
    finally:
        host.run("mv /usr/sbin/nft.real /usr/sbin/nft")
        back = playbook("site.yml", "--limit", _name(host), "--tags", "hardening_ssh,hardening_firewall")
        assert back.returncode == 0, back.stdout[-3000:]
    assert _listening(host) & {22, 2222} == {22}


def _address(host):
    return subprocess.run(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", _name(host)],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip


def _connects(address, port=22):
    try:
        with socket.create_connection((address, port), timeout=3):
            return True
    except OSError:
        return False


def test_an_ssh_rate_limit_drops_the_connections_beyond_it(host):
    """Optional, off by default: with 3/minute (burst 5), a source opening connections fast gets its first
    ones and then no answer; seen from this machine, over the container's network."""
    address = _address(host)
    assert all(_connects(address) for _ in range(8)), "SSH must answer freely without the limit"
    limited = '{"hardening_firewall_ssh_rate_limit": "3/minute"}'
    run = playbook("site.yml", "--limit", _name(host), "--tags", "hardening_firewall", "-e", limited)
    assert run.returncode == 0, run.stdout[-2000:]
    try:
        answered = [_connects(address) for _ in range(12)]
        assert all(answered[:5]), answered
        assert not all(answered[5:]), answered
    finally:
        back = playbook("site.yml", "--limit", _name(host), "--tags", "hardening_firewall")
        assert back.returncode == 0, back.stdout[-2000:]


def _sudo_rules(host, user):
    """What `sudo -l` grants the user ("" for nothing), as root asks sudo itself."""
    listed = host.run(f"sudo -l -U {user}")
    if "not allowed to run sudo" in listed.stdout:
        return ""
    return listed.stdout.split("may run the following", 1)[-1]


def test_only_the_admins_keep_sudo_and_the_default_user_is_locked_unless_it_is_one(host):
    """Another account in the sudo group with a password (Debian's `%sudo ALL=(ALL:ALL) ALL` gave it full
    sudo), and the inventory naming an admin other than the imager's default user (pi, uid 1000): both lose
    every sudo rule and the sudo group, pi's account is locked and expired; an admin again, pi is usable."""
    if host.system_info.codename != "bookworm":
        pytest.skip("one host shows it")
    name = _name(host)
    try:
        assert host.run("useradd -m -G sudo olduser && echo olduser:Secret-123 | chpasswd").rc == 0
        # Debian's own rule for the group, as a fresh image has it (the converge removed it)
        assert host.run("printf '%%sudo\tALL=(ALL:ALL) ALL\n' >> /etc/sudoers && visudo -c").rc == 0
        assert "(ALL : ALL) ALL" in _sudo_rules(host, "olduser"), "the group's rule applies before"
        run = playbook("site.yml", "--limit", name, "--tags", "hardening_accounts",
                       "-e", '{"hardening_admin_users": ["ops"]}')  # fmt: skip
        assert run.returncode == 0, run.stdout[-3000:]
        for user in ("olduser", "pi"):
            assert _sudo_rules(host, user) == "", user
            assert "sudo" not in host.user(user).groups, user
        assert "NOPASSWD: ALL" in _sudo_rules(host, "ops")
        assert host.run("passwd -S pi").stdout.split()[1] == "L"
        assert host.user("pi").expiration_date is not None
        assert host.run("su -s /bin/sh -c true pi").rc != 0, "an expired account: not even root's su gets in"
        assert host.run("passwd -S olduser").stdout.split()[1] == "P", "another account keeps its password"
    finally:
        back = playbook("site.yml", "--limit", name, "--tags", "hardening_accounts")
        host.run("userdel -r olduser; userdel -r ops")
    assert back.returncode == 0, back.stdout[-3000:]
    assert "NOPASSWD: ALL" in _sudo_rules(host, "pi")
    assert host.user("pi").expiration_date is None
    assert host.run("su -s /bin/sh -c true pi").rc == 0


def test_crons_files_are_roots_alone(host):
    """dev-sec's os_hardening mode for cron's schedules (no cron in the container: other packages' files)."""
    found = host.run("stat -c '%n %a %U' /etc/crontab /etc/cron.d /etc/cron.hourly /etc/cron.daily "
                     "/etc/cron.weekly /etc/cron.monthly 2>/dev/null").stdout.split("\n")  # fmt: skip
    modes = dict(line.split(" ", 1) for line in found if line)
    assert "/etc/cron.daily" in modes, found
    assert set(modes.values()) == {"700 root"}, modes
