"""The hardening role's work on booted ARM64 kernels: judged from outside first (logins over the forwarded
SSH port, every TCP port scanned from two other hosts of the VMs' shared LAN), then what each host runs
(sshd -T, the nft ruleset beside the engine's, unattended-upgrades' dry run, locked passwords, live sysctls).
The outside view is taken again after the engine restarts and after a reboot (test_hosts.py)."""

import json
import re
import shlex
import subprocess
import time

from gridbot_exchange.testing import Admin
from outside import LAPTOP, assert_seen_from_outside, lan_address, open_ports

from fleet import host_var, hosts


def name(host):
    return host.ansible.get_variables()["inventory_hostname"]


def test_only_keys_of_the_allowed_groups_log_in_and_only_the_allowed_ports_answer():
    assert_seen_from_outside(hosts())


def test_sshd_runs_the_inventorys_policy(host):
    release = host.system_info.codename
    shown = host.run("sudo sshd -T -C user=pi,host=laptop,addr=192.168.77.1")
    assert shown.rc == 0, shown.stderr
    effective = dict(line.split(" ", 1) for line in shown.stdout.splitlines())
    for key, value in {
        "permitrootlogin": "no", "passwordauthentication": "no", "kbdinteractiveauthentication": "no",
        "authenticationmethods": "publickey", "pubkeyauthentication": "yes", "permitemptypasswords": "no",
        "allowgroups": "sshusers", "maxauthtries": "3", "logingracetime": "30", "x11forwarding": "no",
        "allowagentforwarding": "no", "allowtcpforwarding": "no", "permittunnel": "no",
        "addressfamily": "inet",
    }.items():  # fmt: skip
        assert effective[key] == value, (key, effective[key])
    kex = effective["kexalgorithms"].split(",")
    assert ("mlkem768x25519-sha256" in kex) == (release == "trixie"), kex
    assert not [k for k in kex if re.search(r"sha1|ecdh-sha2|group14", k)], kex
    assert not [c for c in effective["ciphers"].split(",") if "cbc" in c or "3des" in c]
    assert not [m for m in effective["macs"].split(",") if "sha1" in m or "md5" in m or "umac-64" in m]
    assert host.file("/etc/ssh/sshd_config").mode == 0o600


def test_the_firewall_is_a_table_of_its_own_beside_the_engines(host):
    ruleset = json.loads(host.run("sudo nft -j list ruleset").stdout)["nftables"]
    tables = {(t["table"]["family"], t["table"]["name"]) for t in ruleset if "table" in t}
    assert ("inet", "pifleet") in tables
    assert {("ip", "filter"), ("ip", "nat")} <= tables, tables  # the engine's, through iptables-nft
    chains = {c["chain"]["name"]: c["chain"] for c in ruleset
              if "chain" in c and c["chain"]["table"] == "pifleet"}  # fmt: skip
    assert (chains["input"]["hook"], chains["input"]["policy"]) == ("input", "drop")
    assert (chains["forward"]["hook"], chains["forward"]["policy"]) == ("forward", "drop")
    assert host.service("pifleet-firewall").is_enabled


def test_security_updates_come_from_debians_security_suite_and_never_reboot(host):
    """apt knows the release's security suite (added when the image lacked it), and unattended-upgrades'
    policy names it and Raspberry Pi's archive alone, without reboots (its dry run, which downloads what it
    would install, runs on the container tier)."""
    release = host.system_info.codename
    policy = host.run("apt-cache policy").stdout
    assert f"n={release}-security,l=Debian-Security" in policy
    config = host.run("apt-config dump Unattended-Upgrade APT::Periodic").stdout
    origins = re.findall(r'^Unattended-Upgrade::Origins-Pattern:: "(.*)";$', config, re.M)
    assert origins == [
        "origin=Debian,codename=${distro_codename}-security,label=Debian-Security",
        "origin=Raspberry Pi Foundation,codename=${distro_codename},label=Raspberry Pi Foundation",
    ], origins
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in config
    assert 'APT::Periodic::Unattended-Upgrade "1";' in config


def test_passwords_are_locked_and_only_the_admins_sudo_without_one(host):
    for user in ("pi", "root"):
        assert host.run(f"sudo passwd -S {user}").stdout.split()[1] == "L", user
    assert host.run("sudo -n true").rc == 0  # pi, over the test's own key-only login
    rules = host.run("sudo grep -rhE '^[^#]*NOPASSWD' /etc/sudoers /etc/sudoers.d").stdout.splitlines()
    assert rules, "the admins' own rule is missing"
    assert {rule.split()[0] for rule in rules} == {"pi"}, rules
    # any rule at all, with a password or without (Debian's %sudo one included): the admins' and root's alone
    listed = host.run("sudo grep -rhE '^[^#@[:space:]]' /etc/sudoers /etc/sudoers.d").stdout.splitlines()
    anyone = {line.split()[0] for line in listed if not re.match(r"(Defaults|[A-Z][a-z]+_Alias)\b", line)}
    assert anyone == {"pi", "root"}, listed


KERNEL = {"kernel.yama.ptrace_scope": "2", "fs.suid_dumpable": "0", "kernel.kexec_load_disabled": "1",
          "kernel.unprivileged_bpf_disabled": "1", "net.ipv4.tcp_rfc1337": "1",
          "net.core.bpf_jit_harden": "2", "fs.protected_regular": "2",
          "kernel.sysrq": "0", "dev.tty.ldisc_autoload": "0", "kernel.core_uses_pid": "1",
          "net.ipv4.tcp_timestamps": "0", "net.ipv4.conf.all.arp_ignore": "1",
          "net.ipv4.conf.all.arp_announce": "2", "net.ipv4.icmp_ratelimit": "100",
          "net.ipv4.icmp_ratemask": "88089", "net.ipv4.ip_forward": "1"}  # fmt: skip


def test_kernel_hardening_is_live(host):
    """The running kernel's values (some readable by root only), ip_forward still on for the engine."""
    shown = host.run("sudo sysctl " + " ".join(KERNEL))
    assert shown.rc == 0, shown.stderr
    assert dict(line.split(" = ", 1) for line in shown.stdout.splitlines()) == KERNEL


def test_unused_kernel_modules_cannot_load_and_nothing_dumps_core(host):
    modules = ("dccp", "sctp", "firewire-core", "cramfs")
    # One command for all four: under TCG each SSH command and sudo costs seconds.
    script = "; ".join(f"modprobe {m} 2>/dev/null; echo {m} $? $(test -e /sys/module/{m.replace('-', '_')}; "
                       "echo $?)" for m in modules)  # fmt: skip
    shown = host.run("sudo sh -c %s", script).stdout.split()
    # each: the module, modprobe's exit code, and `test -e` of its /sys/module entry (1: not there)
    results = {m: (rc, absent) for m, rc, absent in zip(shown[::3], shown[1::3], shown[2::3], strict=True)}
    assert sorted(results) == sorted(modules), shown
    for module, (rc, absent) in results.items():
        assert rc != "0", f"{module} loaded"
        assert absent == "1", f"{module} is in /sys/module"
    assert host.run("bash -lc 'ulimit -Hc'").stdout.strip() == "0"  # a login shell, as an operator's


def test_the_bots_trade_through_the_firewall():
    """Each bot's own key keeps signing requests on its exchange (outbound and its replies are not the
    firewall's to stop)."""
    fleet = hosts()

    def requests():
        seen = {}
        for host_name, h in fleet.items():
            port = h.ansible.get_variables()["fleet_exchange_port"]
            key = host_var(h, "gridbot_exchange_api_key")
            seen[host_name] = Admin(f"http://127.0.0.1:{port}").call("GET", "keys")[key]["requests"]
        return seen

    before = requests()
    time.sleep(30)  # three of the bots' 10 s cycles
    after = requests()
    for host_name in fleet:
        assert after[host_name] > before[host_name], f"{host_name}: no request reached the exchange"


# Run in the bot's image: for each address and port given, "open", "refused" or "silent" (no answer in 5 s).
REACH = """
import socket, sys
for address, port in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        socket.create_connection((address, int(port)), timeout=5).close()
        print("open")
    except ConnectionRefusedError:
        print("refused")
    except OSError:
        print("silent")
"""


def test_the_bots_container_reaches_its_exchange_and_nothing_of_its_host(host):
    """From a container on the bot's own network, in its image: the host's sshd answers neither at the
    network's gateway nor at the host's LAN address (the default SSH ranges hold 172.16.0.0/12, the engine's
    networks), while the exchange does."""
    port = host.ansible.get_variables()["fleet_exchange_port"]
    # One session: under TCG each SSH command and sudo costs seconds.
    script = (
        "img=$(docker inspect -f {{.Config.Image}} gridbot); "
        "gw=$(docker network inspect -f '{{(index .IPAM.Config 0).Gateway}}' gridbot_default); "
        f"printf %s {shlex.quote(REACH)} | docker run -i --rm --network gridbot_default --entrypoint python3 "
        f'"$img" - "$gw" 22 {lan_address(name(host))} 22 10.0.2.2 {port}'
    )
    probe = host.run("sudo sh -c %s", script)
    assert probe.rc == 0, probe.stderr
    assert probe.stdout.split() == ["silent", "silent", "open"], probe.stdout


def test_a_lan_host_with_a_route_to_the_bots_network_via_the_pi_reaches_no_container_port(host):
    """The laptop on the test LAN routes the bot container's address via the Pi: the container's HTTP port
    (published to the monitoring host through the Pi's own address) answers nothing routed to it, seen by nmap
    from the laptop."""
    script = ("docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' gridbot; "
              "docker port gridbot")  # fmt: skip
    address, published = host.check_output("sudo sh -c %s", script).split("\n", 1)
    inside = published.split("/", 1)[0]
    route = ["ip", "netns", "exec", LAPTOP, "ip", "route"]
    subprocess.run([*route, "replace", f"{address}/32", "via", lan_address(name(host))], check=True)
    try:
        seen = open_ports({LAPTOP: ([address], inside)}, "--max-retries", "3")
    finally:
        subprocess.run([*route, "del", f"{address}/32"], check=False)
    assert seen[LAPTOP].get(address, set()) == set(), seen
