"""What the fleet's test modules share: the Molecule inventory's hosts and a playbook runner on it."""

import os
import subprocess
import sys
from pathlib import Path

import testinfra

PROJECT = Path(__file__).resolve().parents[3]


def inventory():
    return os.environ["MOLECULE_INVENTORY_FILE"]


def hosts():
    found = testinfra.get_hosts(["ansible://pifleet"], ansible_inventory=inventory())
    return {h.ansible.get_variables()["inventory_hostname"]: h for h in found}


def playbook(name, *args, **env):
    # Molecule forces colour (escape codes around the recap's host names) and sends failures to stderr; here
    # the play's whole story is wanted, plain and in order.
    plain = {"ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DISPLAY_FAILED_STDERR": "0"}
    env = {**os.environ, **plain, **env}
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    command = [ansible_playbook, "-i", inventory(), PROJECT / "playbooks" / name]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, check=False)
