"""Container tier: what playbooks/site.yml leaves on a Debian host, and what bad inventory never reaches."""

import json

import pytest

from fleet import playbook


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
    watchdog = host.file("/etc/systemd/system.conf.d/90-pifleet-watchdog.conf").content_string
    assert "RuntimeWatchdogSec=15s" in watchdog
    assert "SystemMaxUse=64M" in host.file("/etc/systemd/journald.conf.d/90-pifleet.conf").content_string
    assert "tmpfs /tmp tmpfs size=256M" in host.file("/etc/fstab").content_string
    assert not host.package("dphys-swapfile").is_installed


def test_engine_runs_in_the_container(host):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon["live-restore"] is True
    assert daemon["ip6tables"] is False
    assert host.run("docker compose version").rc == 0
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["LiveRestoreEnabled"] is True
    assert "docker" in host.user("pi").groups


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"pi_host_swap_size": "-2G"}, "pi_host_swap_size"),
        ({"pi_host_governor": "turbo"}, "pi_host_governor"),
        ({"pi_host_boot_cmdline_extra": ["quiet splash"]}, "pi_host_boot_cmdline_extra"),
        ({"docker_engine_source": "snap"}, "docker_engine_source"),
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
    ],
)
def test_bad_inventory_fails_before_any_change(extra, named):
    """Run site.yml with one bad value (and rollout.yml, for the bot's): each must fail naming the variable,
    and change nothing anywhere."""
    for book in ("site.yml", "rollout.yml") if named.startswith("gridbot") else ("site.yml",):
        run = playbook(book, "-e", json.dumps(extra))
        assert run.returncode != 0, book
        assert named in run.stdout + run.stderr, book
        recap = [line for line in run.stdout.splitlines() if "changed=" in line]
        assert recap, book
        assert all("changed=0" in line for line in recap), (book, recap)


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
