"""The hardening role's lock-out guard on a host Ansible reaches over SSH: a Pi as flashed (Debian's own
sshd_config, passwords allowed) that Ansible logs in to with a password, as a user with no key who is not one
of the inventory's admins. Hardening it would end that user's only way in: the run must stop before any
change, saying why. Also with ansible_become set, as inventory/group_vars/pifleet sets it: that variable
outranks a task's `become: false`, and the guard must still judge the user who logged in, not root."""

import shlex

import pytest

from fleet import hosts, play_order, playbook

FRESH = "/usr/share/openssh/sshd_config"  # the file openssh-server installs as /etc/ssh/sshd_config


def state(host):
    return host.run("sudo sha256sum /etc/ssh/sshd_config /etc/sudoers.d/* /etc/shadow").stdout


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
