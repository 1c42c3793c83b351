"""What the scenarios' test modules share (on sys.path through pyproject.toml's pytest `pythonpath`): the
Molecule inventory's hosts, a playbook runner on it, the VM launcher's boot history, each bot's books judged
against its account on the local exchange, and the monitoring host seen from outside (its targets, its journal
receiver, a webhook receiver for its alerts)."""

import contextlib
import functools
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import testinfra
from gridbot_exchange.testing import Admin

from gridbot.contract import CONFIG_FILE
from gridbot.live.client_ids import client_id_parts

PROJECT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("bots", PROJECT / "roles/gridbot/filter_plugins/bots.py")
assert _spec is not None
assert _spec.loader is not None
BOTS = importlib.util.module_from_spec(_spec)  # the role's own plan of each host's bots and their ids
_spec.loader.exec_module(BOTS)
CACHE = Path(os.environ.get("PIFLEET_CACHE", Path.home() / ".cache" / "pifleet"))


def share_ssh_logins():
    """testinfra sends each host's commands through one SSH login (ControlMaster) only when Ansible's
    control_path_dir exists, and Mitogen never makes it. Measured on a TCG VM: a login of its own costs the
    guest 2.8 s of CPU, a command through the shared one 0.6 s."""
    where = os.environ.get("ANSIBLE_PERSISTENT_CONTROL_PATH_DIR", "~/.ansible/cp")
    Path(where).expanduser().mkdir(mode=0o700, parents=True, exist_ok=True)


def inventory():
    return os.environ["MOLECULE_INVENTORY_FILE"]


def hosts():
    found = testinfra.get_hosts(["ansible://pifleet"], ansible_inventory=inventory())
    return {h.ansible.get_variables()["inventory_hostname"]: h for h in found}


def host_var(host, name):
    """A host's variable as its plays see it: vault-encrypted ones opened (ansible-inventory, testinfra's
    source, leaves them encrypted) with the scenario's vault password file, templated ones rendered."""
    value = host.ansible.get_variables()[name]
    if isinstance(value, str) and "{{" in value:
        return _rendered(host.ansible.get_variables()["inventory_hostname"], name)
    if isinstance(value, dict) and "__ansible_vault" in value:
        from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: PLC0415  (only where a vault is used)

        secret = VaultSecret(Path(os.environ["ANSIBLE_VAULT_PASSWORD_FILE"]).read_bytes().strip())
        return VaultLib([("default", secret)]).decrypt(value["__ansible_vault"]).decode()
    return value


@functools.cache
def _rendered(host_name, name):
    """Ansible's own rendering of a templated variable (the debug action runs on the controller)."""
    return hosts()[host_name].ansible("ansible.builtin.debug", f"var={name}", check=False)[name]


def playbook(name, *args, **env):
    # Molecule forces colour (escape codes around the recap's host names) and sends failures to stderr; here
    # the play's whole story is wanted, plain and in order.
    plain = {"ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DISPLAY_FAILED_STDERR": "0"}
    env = {**os.environ, **plain, **env}
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    command = [ansible_playbook, "-i", inventory(), PROJECT / "playbooks" / name]
    # No terminal, as under CI, whoever runs the tests: a playbook that asks (resume.yml lifting several
    # halts) is asked nothing, never left waiting on a keyboard.
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, check=False,
                          stdin=subprocess.DEVNULL)  # fmt: skip


def recap_changed(stdout, name):
    """How many changes the play's recap counts for host NAME."""
    found = re.search(rf"^{re.escape(name)}\s*:.*?changed=(\d+)", stdout, re.MULTILINE)
    assert found, stdout[-2000:]
    return int(found.group(1))


def figure(line):
    """A figure a test measured on its way (not a target it asserts): appended to .cache/figures.log, where
    docs/benchmarks.md's rows for the test tiers come from."""
    (PROJECT / ".cache").mkdir(exist_ok=True)
    with (PROJECT / ".cache" / "figures.log").open("a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")


def recorded_fills(host):
    """The trade ids the host's running bot has recorded (its store, read-only)."""
    code = ("import json, sqlite3; c = sqlite3.connect('file:/data/gridbot.db?mode=ro', uri=True); "
            "print(json.dumps([r[0] for r in c.execute('SELECT trade_id FROM fills')]))")  # fmt: skip
    out = host.run("sudo docker exec gridbot python3 -c " + shlex.quote(code))
    assert out.rc == 0, out.stderr
    return set(json.loads(out.stdout))


def play_order():
    """The hosts in the order a play on pifleet takes them, as batches cut them (the first is the canary): the
    inventory's order, which ansible-inventory keeps and --list-hosts does not."""
    command = [Path(sys.executable).parent / "ansible-inventory", "-i", inventory(), "--list"]
    groups = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)

    def members(group):
        found = list(groups.get(group, {}).get("hosts", []))
        for child in groups.get(group, {}).get("children", []):
            found += [h for h in members(child) if h not in found]
        return found

    return members("pifleet")


def boots(name):
    """The kernel command line of every boot tools/vm/pi-vm.sh made for this VM, oldest first."""
    lines = (CACHE / "vms" / name / "boots.log").read_text().splitlines()
    return [line for line in lines if line.startswith("boot ")]


def assert_came_through_a_reboot(name, token):
    """The VM's first boot ran without the kernel command-line token and its latest boot with it."""
    history = boots(name)
    assert len(history) >= 2
    assert token not in history[0]
    assert token in history[-1]


def one_line_cmdline_txt(host):
    """cmdline.txt, checked to be the one line the firmware reads."""
    content = host.file("/boot/firmware/cmdline.txt").content_string
    assert content.count("\n") == 1
    assert content.endswith("\n")
    return content


def account(host):
    """The host's account on the exchange it trades on, and that exchange's admin API."""
    variables = host.ansible.get_variables()
    # the scale hosts' exchange is on their network's gateway, the VMs' on the controller's loopback
    address = variables.get("fleet_exchange_address", "127.0.0.1")
    url = f"http://{address}:{variables['fleet_exchange_port']}"
    return host_var(host, "gridbot_exchange_api_key"), Admin(url)


def exchange_view(host):
    """What the exchange holds for this host's account: its orders by client id, its trade ids."""
    key, admin = account(host)
    orders = {o["clientOrderId"]: o for o in admin.call("GET", f"orders?key={key}")}
    trades = {str(t["id"]) for t in admin.call("GET", f"trades?key={key}")}
    return orders, trades


def assert_books_match_the_exchange(name, host, timeout=120):
    """Every fill the exchange made for the account is recorded by the bot, once (the fills table is keyed by
    the exchange's trade id), and the bot records none the exchange did not make. A fill may land between
    two reads: the bot gets a few cycles to book it."""
    deadline = time.monotonic() + timeout
    while True:
        _, trades = exchange_view(host)
        mine = recorded_fills(host)
        if mine == trades or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert trades <= mine, f"{name}: exchange fills the bot did not book: {sorted(trades - mine)}"
    assert mine <= trades, f"{name}: fills the exchange did not make: {sorted(mine - trades)}"
    return len(trades)


def bot_status(host):
    """The bot's own saved status (`gridbot status` in its container): its cycle, grid, halt and counts."""
    out = host.run(f"sudo docker exec gridbot gridbot status -c {CONFIG_FILE}")
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


def resting_orders(host):
    """The orders of this host's account that rest on the exchange now (open, or partly filled)."""
    key, admin = account(host)
    return [o for o in admin.call("GET", f"orders?key={key}") if o["status"] in ("NEW", "PARTIALLY_FILLED")]


def assert_no_order_doubled(name, host):
    key, admin = account(host)
    dups = admin.call("GET", "duplicates")
    assert not [c for c in dups["duplicate_client_ids"] if c.startswith(key + "/")], (name, dups)
    # A level is the one the bot's client id names, not a price: after a regrid, the inventory's sells on the
    # levels below its floor (average cost + a step) all rest at the floor. Each bot runs under the id the
    # role made from its host's name.
    orders = resting_orders(host)
    bot_id = BOTS.bot_ids(host.ansible.get_variables(), name)["default"]
    parts = [client_id_parts(bot_id, o["clientOrderId"]) for o in orders]
    assert None not in parts, f"{name}: a resting order its bot ({bot_id}) did not send: {orders}"
    levels = [(p.level, p.side) for p in parts if p is not None]
    by_level = sorted(zip(levels, (o["price"] for o in orders), strict=True))
    assert len(levels) == len(set(levels)), f"{name}: two open orders at one level: {by_level}"


# --- the monitoring host (the inventory group `monitoring`) -----------------------------------------------

REMOTE = "/var/log/journal/remote"  # systemd-journal-remote's output on the monitoring host


def monitor():
    """The one monitoring host of the scenario."""
    (name,) = [n for n in play_order() if "monitoring" in hosts()[n].ansible.get_variables()["group_names"]]
    return name


def alertmanager_silences():
    """Every silence the monitoring host's Alertmanager holds, expired ones too (GET /api/v2/silences)."""
    fetch = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9093/api/v2/silences').read().decode())"
    said = hosts()[monitor()].run(f'python3 -c "{fetch}"')
    assert said.rc == 0, said.stderr
    return json.loads(said.stdout)


def wait_for_every_target_up(api: Callable[[str], dict], names: list[str], timeout: float) -> None:
    """Until VictoriaMetrics (its API read through `api`) has every bot and node exporter of `names` up, and
    the monitoring host's own services (scraped over loopback, labelled with its name)."""
    want = {(job, n) for job in ("gridbot", "node") for n in names}
    want |= {(job, monitor()) for job in ("victoria-metrics", "vmalert", "alertmanager")}
    deadline = time.monotonic() + timeout
    while True:
        targets = api("/api/v1/targets")["activeTargets"]
        up = {(t["labels"]["job"], t["labels"]["host"]) for t in targets if t["health"] == "up"}
        if up == want or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert up == want, targets


def stack_rss_kib():
    """The monitoring stack's resident memory on the monitoring host (KiB)."""
    out = hosts()[monitor()].run("ps -o rss= -C victoria-metrics,vmalert,prometheus-alertmanager")
    assert out.rc == 0, out.stderr
    return sum(int(kb) for kb in out.stdout.split())


def received(query):
    """The entries of the monitoring host's journal receiver matching journalctl's QUERY, as JSON objects."""
    out = hosts()[monitor()].run(f"sudo journalctl -D {REMOTE} -o json --no-pager {query}")
    assert out.rc in (0, 1), out.stderr  # 1: no entry yet
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


class _Receiver(BaseHTTPRequestHandler):
    got: ClassVar[list] = []  # (arrival time, Alertmanager's webhook payload)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.got.append((time.time(), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_):
        pass


@contextlib.contextmanager
def webhook_receiver(address: str, port: int) -> Iterator[list]:
    """An HTTP server on the controller taking Alertmanager's webhook posts: the list of (arrival time,
    payload) they fill."""
    server = ThreadingHTTPServer((address, port), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield _Receiver.got
    finally:
        server.shutdown()
        server.server_close()


def bot_halted(got: list, name: str, status: str) -> list:
    """The BotHalted alerts for host `name` in a webhook receiver's posts, `firing` or `resolved`, with the
    time each arrived."""
    return [(at, a) for at, p in got for a in p["alerts"]
            if a["labels"].get("alertname") == "BotHalted" and a["labels"].get("host") == name
            and a["status"] == status]  # fmt: skip
