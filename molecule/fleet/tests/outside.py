"""The fleet seen from outside: SSH logins tried over each VM's forwarded port, as from the operator's
machine, and every TCP port scanned from two other hosts of the VMs' shared LAN (tools/vm/lan.sh): a laptop
(192.168.77.1) and the monitoring host (192.168.77.2). Nothing here asks the VMs what they think they
allow."""

import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from fleet import CACHE

VM_TOOLS = Path(__file__).resolve().parents[3] / "tools" / "vm"
KEY = CACHE / "ssh" / "id_ed25519"
LAPTOP, MONITOR = "pifleet-lan", "pifleet-monitor"
# A user with the fleet's test key who is not in the inventory's AllowGroups.
OUTSIDER = "outsider"


def lan_address(name):
    mac = (CACHE / "vms" / name / "lan-mac").read_text().strip()
    state = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    lease = [VM_TOOLS / "lan.sh", "lease", mac, state]
    out = subprocess.run(lease, capture_output=True, text=True, check=True)
    address = out.stdout.strip()
    assert address, f"{name} ({mac}) has no lease on the test LAN"
    return address


def ssh_login(name, user, *options):
    """One login attempt over the VM's forwarded SSH port, with the fleet's test key unless options say
    otherwise: (exit code, what the client printed)."""
    port = (CACHE / "vms" / name / "port").read_text().strip()
    command = ["ssh", "-i", str(KEY), "-p", port, "-o", "StrictHostKeyChecking=no", "-o",
               "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30",
               "-o", "IdentitiesOnly=yes", *options, f"{user}@127.0.0.1", "true"]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    return run.returncode, run.stderr


def open_ports(targets, *pace):
    """The TCP ports that answer a SYN, per scanning namespace and address: targets maps each namespace to
    the addresses it scans and the ports (an nmap -p value); the scans run side by side."""
    scans = {}
    for ns, (addresses, ports) in targets.items():
        nmap = ["nmap", "-Pn", "-n", "-sS", f"-p{ports}", *pace, "-oX", "-", *addresses]
        scans[ns] = subprocess.Popen(["ip", "netns", "exec", ns, *nmap], stdout=subprocess.PIPE, text=True)
    seen = {}
    for ns, scan in scans.items():
        out, _ = scan.communicate(timeout=600)
        assert scan.returncode == 0, f"nmap from {ns} failed"
        seen[ns] = {}
        for host in ET.fromstring(out).iter("host"):
            address = host.find("address").get("addr")
            seen[ns][address] = {int(p.get("portid")) for p in host.iter("port")
                                 if p.find("state").get("state") == "open"}  # fmt: skip
    return seen


def make_outsiders(host):
    """root and OUTSIDER hold the test key: were sshd to let root or anyone outside AllowGroups in, they
    would be."""
    script = (f"id {OUTSIDER} >/dev/null 2>&1 || useradd -m -s /bin/bash {OUTSIDER}; "
              f"for home in /root /home/{OUTSIDER}; do install -d -m 0700 $home/.ssh; "
              f"cp /home/pi/.ssh/authorized_keys $home/.ssh/authorized_keys; done; "
              f"chown -R {OUTSIDER}: /home/{OUTSIDER}/.ssh")  # fmt: skip
    assert host.run(f"sudo sh -c '{script}'").rc == 0


def assert_seen_from_outside(fleet):
    """Logins: the admin's key works; a password, root and a key outside AllowGroups are refused, the
    server offering publickey alone. Ports: the laptop reaches SSH only (and a monitoring VM's front door and
    journal receiver), the monitoring host also the bot's metrics and the node exporter (role defaults unless
    the inventory moves them)."""
    wanted = {}
    for name, host in fleet.items():
        make_outsiders(host)
        ok, said = ssh_login(name, "pi")
        assert ok == 0, f"{name}: the admin's key was refused: {said}"
        password = ["-o", "PubkeyAuthentication=no", "-o",
                    "PreferredAuthentications=password,keyboard-interactive"]  # fmt: skip
        for user, options in (("pi", password), ("root", []), (OUTSIDER, [])):
            rc, said = ssh_login(name, user, *options)
            assert rc == 255, f"{name}: {user} {options} logged in"
            assert "Permission denied (publickey)" in said, f"{name}: {user}: {said}"
            assert "Authorized access only" in said, f"{name}: no banner before the login: {said}"
        variables = host.ansible.get_variables()
        ssh_port = variables.get("hardening_ssh_port", 22)
        # The LAN's hosts are on the SSH ranges: a monitoring host's journal receiver answers them too, and
        # its front door where it faces the LAN (its services listen on loopback).
        admin = set()
        if "monitoring" in variables["group_names"]:
            admin = {19532}
            if variables.get("monitoring_frontdoor_exposure", "loopback") == "lan":
                admin.add(variables.get("monitoring_frontdoor_port", 8443))
        scraped = {
            variables.get("gridbot_metrics_host_port", 9108),
            variables.get("pi_host_node_exporter_port", 9100),
        }
        wanted[lan_address(name)] = ({ssh_port} | admin, scraped)
    expected = {
        LAPTOP: {address: ssh for address, (ssh, _) in wanted.items()},
        MONITOR: {address: ssh | scraped for address, (ssh, scraped) in wanted.items()},
    }
    # Every port, fast: a port seen open answered, but one not seen may have lost both its probes to an
    # emulated NIC under load, so the allowed ports the fast scan missed are asked again, slowly.
    seen = open_ports(
        {ns: (list(wanted), "-") for ns in expected}, "--min-rate", "10000", "--max-retries", "1"
    )
    for ns, allowed in expected.items():
        for address, ports in allowed.items():
            missed = ports - seen[ns].get(address, set())
            if missed:
                again = open_ports(
                    {ns: ([address], ",".join(map(str, sorted(missed))))}, "--max-retries", "8"
                )
                seen[ns][address] = seen[ns].get(address, set()) | again[ns].get(address, set())
    # The sets in the message: this helper is no test module, so pytest does not show the comparison itself.
    for ns, said in ((LAPTOP, "seen from the laptop"), (MONITOR, "from the monitor")):
        assert seen[ns] == expected[ns], f"{said}: {seen[ns]}, allowed {expected[ns]}"
