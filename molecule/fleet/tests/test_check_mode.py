"""`site.yml --check` right after converge: nothing to change, nothing claimed. The fleet has no idempotence
step (Molecule's runs in the container tier): this is what says a second run would change nothing on an ARM64
Pi, as far as check mode can (a command task does not run in it; the state its `when` reads does), for the
concerns whose state a container cannot have: the host (boot files, swap, sysctls, watchdog, time) and the
kernel's side of the hardening (modules, sysctls, the nftables ruleset). The accounts, sshd, patching, the
engine and the bot's deployment run the same tasks on a container, where Molecule's idempotence proves them;
under TCG their check mode costs minutes.

Molecule's own `check` step only runs the playbook; this asserts what it reports. The file sorts before the
rollout tests, which leave the fleet on versions the inventory does not name.
"""

import re

from fleet import playbook


def test_site_in_check_mode_reports_no_change():
    run = playbook("site.yml", "--check", "--tags", "pi_host,hardening_kernel,hardening_firewall")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    recap = dict(re.findall(r"^([\w-]+)\s+: ok=\d+\s+changed=(\d+)", run.stdout, re.M))
    assert set(recap) == {"fleet-pi4", "fleet-pi5"}
    assert recap == {"fleet-pi4": "0", "fleet-pi5": "0"}, changed_tasks(run.stdout)


def changed_tasks(stdout):
    task, found = None, []
    for line in stdout.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.split("[", 1)[1].rsplit("]", 1)[0]
        elif line.startswith("changed: ["):
            found.append((task, line.split("[", 1)[1].split("]", 1)[0]))
    return found
