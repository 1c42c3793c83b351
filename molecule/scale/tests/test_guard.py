"""The hardening role's lock-out guard on a host Ansible reaches over SSH: a Pi as flashed (Debian's own
sshd_config, passwords allowed) that Ansible logs in to with a password, as a user with no key who is not one
of the inventory's admins. Hardening it would end that user's only way in: the run must stop before any
change, saying why. Also with ansible_become set, as inventory/group_vars/pifleet sets it: that variable
outranks a task's `become: false`, and the guard must still judge the user who logged in, not root."""

import json
import shlex

import pytest

from fleet import hosts, play_order, playbook

FRESH = "/usr/share/openssh/sshd_config"  # the file openssh-server installs as /etc/ssh/sshd_config


def state(host):
    return host.run(
        "sudo sha256sum /etc/ssh/sshd_config /etc/sudoers.d/* /etc/shadow /etc/pifleet/firewall.nft"
    ).stdout


@pytest.mark.parametrize("become", [[], ["-e", "ansible_become=true"]], ids=["keyword", "inventory-become"])
def test_a_login_user_without_a_key_stops_the_run_before_any_change(become):
    name = play_order()[-1]
    host = hosts()[name]
    setup = ("cp -p /etc/ssh/sshd_config /root/sshd_config.hardened && "
             f"cp {FRESH} /etc/ssh/sshd_config && systemctl reload ssh && "
             "useradd -m -s /bin/bash deploy && echo deploy:deploy-password | chpasswd && "
             "echo 'deploy ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/50-deploy")  # fmt: skip
    assert host.run("sudo sh -c " + shlex.quote(setup)).rc == 0
    try:
        before = state(host)
        run = playbook(
            "site.yml", "--limit", name, "--tags", "hardening",
            "-e", "ansible_user=deploy", "-e", "ansible_password=deploy-password",
            "-e", "ansible_private_key_file=/dev/null", *become,
        )  # fmt: skip
        assert run.returncode != 0
        refused = f"{name}: refusing to harden SSH and sudo, as Ansible would lock itself out"
        assert refused in run.stdout, run.stdout[-3000:]
        assert "deploy has no authorized key (/home/deploy/.ssh/authorized_keys" in run.stdout
        assert "deploy is not in hardening_admin_users (pi)" in run.stdout
        assert "Nothing was changed" in run.stdout
        recap = [line for line in run.stdout.splitlines() if line.startswith(name) and "changed=" in line]
        assert recap, run.stdout[-2000:]
        assert "changed=0" in recap[0]
        assert state(host) == before
    finally:
        restore = ("cp -p /root/sshd_config.hardened /etc/ssh/sshd_config && systemctl reload ssh; "
                   "rm -f /etc/sudoers.d/50-deploy /root/sshd_config.hardened; "
                   "userdel -r deploy")  # fmt: skip
        host.run("sudo sh -c " + shlex.quote(restore))


@pytest.mark.parametrize("become", [[], ["-e", "ansible_become=true"]], ids=["keyword", "inventory-become"])
def test_a_controller_the_new_firewall_or_sshd_port_would_shut_out_stops_the_run_before_any_change(become):
    """SSH ranges that leave out the address Ansible comes from, and an SSH port other than the one it came in
    on: either would load on the host and refuse the next run (the run's own connection surviving). The
    guard reads both from the login's SSH_CONNECTION, under sudo too, and stops before any change."""
    name = play_order()[-1]
    host = hosts()[name]
    client = host.run("echo $SSH_CONNECTION").stdout.split()[0]
    before = state(host)
    shut_out = {"hardening_firewall_ssh_cidrs": ["192.0.2.0/24"], "hardening_ssh_port": 2222}
    run = playbook("site.yml", "--limit", name, "--tags", "hardening", "-e", json.dumps(shut_out), *become)
    assert run.returncode != 0
    said = " ".join(run.stdout.split())  # the message as the YAML callback wraps it, unwrapped
    assert f"{name}: refusing to harden SSH and sudo, as Ansible would lock itself out" in said, said[-3000:]
    assert f"Ansible comes from {client}, outside hardening_firewall_ssh_cidrs (192.0.2.0/24)" in said
    assert "Ansible came in on port 22, and sshd would move to hardening_ssh_port 2222" in said
    assert "Give pi its public key" not in said, "the login user is fine: no advice about it"
    recap = [line for line in run.stdout.splitlines() if line.startswith(name) and "changed=" in line]
    assert recap, run.stdout[-2000:]
    assert "changed=0" in recap[0]
    assert state(host) == before
