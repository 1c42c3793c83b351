"""The hardening role's lock-out guard on a host Ansible reaches over SSH: a Pi as flashed (Debian's own
sshd_config, passwords allowed) that Ansible logs in to with a password, as a user with no key who is not one
of the inventory's admins. Hardening it would end that user's only way in: the run must stop before any
change, saying why. Also with ansible_become set, as inventory/group_vars/pifleet sets it: that variable
outranks a task's `become: false`, and the guard must still judge the user who logged in, not root."""

import json
import shlex
import subprocess
import time

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


def new_login(host):
    """A login of its own from the controller, as a next run makes one (no shared SSH master)."""
    seen = host.ansible.get_variables()
    command = ["ssh", "-o", "ControlPath=none", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-i", seen["ansible_private_key_file"], "-p", str(seen.get("ansible_port", 22)),
               f"{seen['ansible_user']}@{seen['ansible_host']}", "true"]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_an_sshd_change_that_shuts_the_controller_out_is_undone_by_the_host_and_stops_the_run_there():
    """MaxSessions 0 (read as "no limit", it allows no session at all) passes sshd -t and every check the
    guard can make, and the run's own connection, opened before the reload, keeps working. Only a new login
    finds the host shut. The first host puts its previous sshd_config back by itself (its timer, not the run,
    as with the controller gone), the run fails naming it, the next host is never changed, and both take new
    logins after."""
    first, second = play_order()[-2:]
    fleet = hosts()
    before = {name: state(fleet[name]) for name in (first, second)}
    settings = {"hardening_ssh_max_sessions": 0, "hardening_commit_confirm_seconds": 20}
    started = time.monotonic()
    limit = f"{first},{second}"
    run = playbook("site.yml", "--limit", limit, "--tags", "hardening_ssh", "-e", json.dumps(settings))
    took = time.monotonic() - started
    assert run.returncode != 0
    said = " ".join(run.stdout.split())
    assert f"{first}: the change to /etc/ssh/sshd_config was undone" in said, said[-3000:]
    assert '"Commit | Log in anew from the controller, to confirm it" failed' in said
    assert "The host put its previous /etc/ssh/sshd_config back" in said
    assert f"[{second}]" not in said.split("one host at a time")[-1], "the play went on to the next host"
    for name in (first, second):
        assert state(fleet[name]) == before[name], name
        assert new_login(fleet[name]).returncode == 0, name
    undo = fleet[first].run("sudo journalctl -q -o cat -u pifleet-undo-sshd.service").stdout
    assert "no new login confirmed the change to /etc/ssh/sshd_config" in undo
    left = fleet[first].run("sudo sh -c 'ls /etc/ssh/sshd_config.*~ /run/pifleet-undo-* 2>/dev/null'").stdout
    assert left == "", "the previous file and the undo's marker are gone"
    print(f"\nshut-out run undone and stopped in {took:.0f} s (window 20 s)")


def test_a_host_reached_by_its_local_name_stops_the_run_unless_mdns_is_let_in():
    """A Pi reached as <name>.local answers the controller's mDNS queries, which the input chain drops: the
    run would succeed and the next one would not find the host. Here the name reaches the host as such a run
    does (ssh's Hostname option stands in for the resolver), and the guard stops the run before any change."""
    name = play_order()[-1]
    host = hosts()[name]
    address = host.ansible.get_variables()["ansible_host"]
    before = state(host)
    reach = ["-e", f"ansible_host={name}.local", "-e", f"ansible_ssh_extra_args='-o Hostname={address}'"]
    run = playbook("site.yml", "--limit", name, "--tags", "hardening", *reach)
    assert run.returncode != 0
    said = " ".join(run.stdout.split())
    assert f"{name}: refusing to harden SSH and sudo, as Ansible would lock itself out" in said, said[-3000:]
    assert f"Ansible reaches the host as {name}.local, a name the Pi answers by mDNS" in said
    assert "set hardening_firewall_mdns: true" in said
    recap = [line for line in run.stdout.splitlines() if line.startswith(name) and "changed=" in line]
    assert recap, run.stdout[-2000:]
    assert "changed=0" in recap[0]
    assert state(host) == before


def test_an_undo_a_killed_run_left_armed_runs_before_the_next_run_changes_anything():
    """The state a run killed between loading a change and its confirming login leaves: the new file loaded,
    the previous one kept beside it, the host's undo armed (made here as commit.yml arms it, with a long
    window). The next run undoes it first, so its own template sees the real state, and it leaves no timer
    that would undo its work after it ended green."""
    name = play_order()[-1]
    host = hosts()[name]
    before = state(host)
    undo = "mv -f /etc/ssh/sshd_config.killed~ /etc/ssh/sshd_config && systemctl reload-or-restart ssh"
    then = f'rm /run/pifleet-undo-sshd.pending || exit 0; echo "undoing it"; {undo}'
    killed = ("cp -p /etc/ssh/sshd_config /etc/ssh/sshd_config.killed~ && "
              "sed -i 's/^MaxSessions .*/MaxSessions 3/' /etc/ssh/sshd_config && systemctl reload ssh && "
              "touch /run/pifleet-undo-sshd.pending && "
              "systemd-run --quiet --collect --unit=pifleet-undo-sshd --on-active=600 "
              "--timer-property=RemainAfterElapse=no --property=Type=oneshot /bin/sh -c "
              + shlex.quote(then))  # fmt: skip
    assert host.run("sudo sh -c " + shlex.quote(killed)).rc == 0
    run = playbook("site.yml", "--limit", name, "--tags", "hardening_ssh")
    assert run.returncode == 0, run.stdout[-3000:]
    said = " ".join(run.stdout.split()).split("one host at a time")[-1]  # the play that changes SSH
    assert "TASK [hardening : Commit | Undo a change a killed run left unconfirmed] *" in said, said[-3000:]
    assert f"changed: [{name}]" in said.split("left unconfirmed]")[1].split("TASK [")[0]
    assert state(host) == before
    pending = host.run("sudo sh -c 'systemctl list-timers --all --no-legend; ls /run/pifleet-undo-*'").stdout
    assert "pifleet-undo" not in pending
    assert "maxsessions 4" in host.run("sudo sshd -T").stdout
