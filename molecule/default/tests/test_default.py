"""Container tier: what playbooks/site.yml leaves on a Debian host."""


def test_hosts_run_a_supported_release(host):
    assert host.system_info.distribution == "debian"
    assert host.system_info.codename in {"bookworm", "trixie"}


def test_systemd_is_pid1_and_booted(host):
    assert host.process.get(pid=1).comm == "systemd"
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in {"running", "degraded"}
