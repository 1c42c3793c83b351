"""The monitoring host (scale-01, the group `monitoring`), judged from outside: VictoriaMetrics' own API, read
through the front door (TLS with the role's CA, a login), lists every bot and node exporter of the fleet as up
and holds their series; the firewall lets the monitoring host's scrapes in and nobody else's, and of the
monitoring host's own services only the front door (a halt's way to a webhook: test_halt). Each host's
journal, the bot's output included, arrives in the monitoring host's receiver within seconds, which keeps
within its ceiling under a flood; what the host alerts read of failed units and of the upload arrives. The
role changes nothing on a second run, nor in check mode."""

import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest
import yaml

from fleet import (
    PROJECT,
    REMOTE,
    figure,
    hosts,
    inventory,
    monitor,
    play_order,
    playbook,
    recap_changed,
    received,
    stack_rss_kib,
    wait_for_every_target_up,
)

NODE_PORT, BOT_PORT, DOOR_PORT = 9100, 9108, 8443
SERVICE_PORTS = {"VictoriaMetrics": 8428, "vmalert": 8880, "Alertmanager": 9093}


def address(name):
    return hosts()[name].ansible.get_variables()["ansible_host"]


def door(path, login=True, method="GET", **query):
    """The front door's answer to PATH, as a browser on the LAN gets it: trusting the fleet's CA, which the
    role keeps in the inventory's directory, with the inventory's login (or none)."""
    url = f"https://{address(monitor())}:{DOOR_PORT}{path}?{urllib.parse.urlencode(query)}"
    headers = {}
    if login:
        logins = hosts()[monitor()].ansible.get_variables()["monitoring_frontdoor_logins"]
        ((name, password),) = logins.items()
        headers["Authorization"] = "Basic " + b64encode(f"{name}:{password}".encode()).decode()
    context = ssl.create_default_context(cafile=Path(inventory()).parent / "pki" / "ca.crt")
    body = b"{}" if method != "GET" else None
    request = urllib.request.Request(url, headers=headers, method=method, data=body)
    return urllib.request.urlopen(request, timeout=10, context=context)


def api(path, **query):
    with door(path, **query) as r:
        return json.load(r)["data"]


def reachable(host, port):
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError:
        return False
    return True


def test_every_bot_and_node_exporter_is_scraped_and_has_samples():
    names = play_order()
    wait_for_every_target_up(api, names, 120)
    for query in ("gridbot_equity_quote", "node_memory_MemAvailable_bytes", "pifleet_bot_container_healthy"):
        series = api("/api/v1/query", query=query)["result"]
        assert {s["metric"]["host"] for s in series} == set(names), (query, series)
    healthy = api("/api/v1/query", query="pifleet_bot_container_healthy == 1")["result"]
    assert len(healthy) == len(names), healthy
    fills = api("/api/v1/query", query="sum(gridbot_fills_total)")["result"]
    assert float(fills[0]["value"][1]) > 0, "the bots' fills reach the store"
    # each exporter runs the collectors pi_host names and no other (Debian's default set has systemd's)
    defaults = yaml.safe_load((PROJECT / "roles" / "pi_host" / "defaults" / "main.yml").read_text())
    want = set(defaults["pi_host_node_exporter_collectors"])
    ran = {}
    for s in api("/api/v1/query", query="node_scrape_collector_success")["result"]:
        ran.setdefault(s["metric"]["host"], set()).add(s["metric"]["collector"])
    assert ran == dict.fromkeys(names, want), ran
    rss = stack_rss_kib() * 1024 / 1e6
    figure(f"monitoring stack RSS on {monitor()} (amd64 container, {len(names)} hosts): {rss:.1f} MB")


def test_only_the_monitoring_host_reaches_the_scraped_ports_and_the_admins_reach_its_front_door():
    other = play_order()[1]
    # the controller is on the SSH ranges, not a monitoring host
    assert not reachable(address(other), NODE_PORT), "node exporter open to a host that does not monitor"
    assert not reachable(address(other), BOT_PORT), "bot metrics open to a host that does not monitor"
    for service, port in SERVICE_PORTS.items():
        assert not reachable(address(monitor()), port), f"{service} reachable past the front door"
        bound = hosts()[monitor()].run(f"ss -Hltn 'sport = :{port}'")
        assert bound.stdout.split()[3:4] == [f"127.0.0.1:{port}"], f"{service}: {bound.stdout}"
    for login, method, refused in ((False, "GET", 401), (True, "POST", 403)):
        with pytest.raises(urllib.error.HTTPError) as said:
            door("/alertmanager/api/v2/silences", login=login, method=method).close()
        assert said.value.code == refused, (login, method, said.value)
    with door("/alertmanager/api/v2/status") as r:
        assert "versionInfo" in json.load(r)
    # What the door adds: its processes' proportional share (the libraries it maps are shared with the host's
    # other programs, which RSS would count again) and its unit's memory as the kernel charges it.
    on = hosts()[monitor()]
    rss = sum(map(int, on.run("ps -o rss= -C nginx").stdout.split()))
    pss = on.run("sudo sh -c 'for p in $(pgrep -x nginx); do grep ^Pss: /proc/$p/smaps_rollup; done'")
    charged = on.run("systemctl show pifleet-frontdoor -p MemoryCurrent --value")
    kib = sum(int(line.split()[1]) for line in pss.stdout.splitlines())
    figure(
        f"front door (nginx, master and worker) on {monitor()}: PSS {kib / 1e3:.1f} MB, "
        f"RSS {rss / 1e3:.1f} MB, its unit's memory {int(charged.stdout) / 1e6:.1f} MB"
    )
    fetch = f"import urllib.request; print(urllib.request.urlopen('http://{address(other)}:{NODE_PORT}/metrics').status)"
    probe = hosts()[monitor()].run(f'python3 -c "{fetch}"')
    assert probe.stdout.strip() == "200", probe


def test_each_hosts_journal_and_its_bots_output_reach_the_monitoring_host_within_seconds():
    names = [n for n in play_order() if n != monitor()]
    deadline = time.monotonic() + 60  # an uploader may still be sending its backlog, or waiting to retry
    for name in names:
        while not received(f"_HOSTNAME={name} CONTAINER_NAME=gridbot -n 1"):
            assert time.monotonic() < deadline, f"no line of {name}'s bot at the receiver"
            time.sleep(2)
    lags = []
    for name in names[:3]:
        marker = f"pifleet-log-test-{time.time_ns()}"
        t0 = time.monotonic()
        assert hosts()[name].run(f"logger -t pifleet-log-test {marker}").rc == 0
        while not [
            e
            for e in received(f"_HOSTNAME={name} SYSLOG_IDENTIFIER=pifleet-log-test")
            if e["MESSAGE"] == marker
        ]:
            assert time.monotonic() - t0 < 60, f"{marker} logged on {name} never reached {monitor()}"
            time.sleep(0.5)
        lags.append(time.monotonic() - t0)
    figure(f"journal upload lag, a line logged to seen at the receiver (3 hosts): max {max(lags):.1f} s")
    assert max(lags) <= 15


def newest_backup(host):
    """The time of the newest backup file (to the second, as the collector writes it) in the host directory
    the engine mounts at the bot's /backups; 0 when it holds none."""
    mounts = '{{range .Mounts}}{{if eq .Destination "/backups"}}{{.Source}}{{end}}{{end}}'
    where = host.run(f"sudo docker inspect -f '{mounts}' gridbot")
    assert where.rc == 0, where.stderr
    found = host.run(f"sudo find {where.stdout.strip()} -maxdepth 1 -type f -name '*.db' -printf '%T@\\n'")
    assert found.rc == 0, found.stderr
    return float(round(max((float(t) for t in found.stdout.split()), default=0.0)))


def test_a_failed_backup_unit_and_each_uploaders_last_batch_reach_the_monitoring_host():
    """What HostUnitFailed, HostJournalUploadStopped and BotBackupStale read, as VictoriaMetrics holds it: a
    unit the watched patterns match that fails (a transient gridbot-backup-probe.service running /bin/false)
    reads 1 on its host and 0 elsewhere; each uploader's last saved batch is a minute old at most, as its
    textfile collector writes it every 30 s; the monitoring host, which uploads nothing, has none; each bot's
    newest backup is dated as the host's files say (0: none)."""
    name = play_order()[2]
    probe = "gridbot-backup-probe"
    hosts()[name].run(f"sudo systemd-run --unit={probe} --service-type=oneshot /bin/false")  # fails, as meant
    try:
        query = f'pifleet_unit_failed{{unit="{probe}.service"}}'
        deadline = time.monotonic() + 120
        while not (failed := api("/api/v1/query", query=f"{query} == 1")["result"]):
            assert time.monotonic() < deadline, f"{probe}'s failure on {name} never reached VictoriaMetrics"
            time.sleep(5)
        assert [s["metric"]["host"] for s in failed] == [name], failed
        backups = api("/api/v1/query", query='pifleet_unit_failed{unit="gridbot-backup.service"}')["result"]
        assert {s["metric"]["host"]: s["value"][1] for s in backups} == dict.fromkeys(play_order(), "0")
    finally:
        hosts()[name].run(f"sudo systemctl reset-failed {probe}.service")
    # What BotBackupStale reads: each bot's newest backup as the host's files date it (the backups tests
    # before this one backed up the first three hosts; the others have none yet, and read 0).
    dated = api("/api/v1/query", query='pifleet_bot_backup_newest_seconds{bot="default"}')["result"]
    newest = {s["metric"]["host"]: float(s["value"][1]) for s in dated}
    assert newest == {n: newest_backup(hosts()[n]) for n in play_order()}, dated
    assert all(newest[n] > time.time() - 3600 for n in play_order()[:2]), newest
    ages = api("/api/v1/query", query="time() - pifleet_journal_upload_saved_seconds")["result"]
    age = {s["metric"]["host"]: float(s["value"][1]) for s in ages}
    assert set(age) == set(play_order()) - {monitor()}, age
    assert max(age.values()) < 120, age  # written every 30 s, scraped every 10 s, read 30 s behind
    figure(f"journal upload's last batch as VictoriaMetrics sees it: at most {max(age.values()):.0f} s old")


def test_the_receiver_keeps_within_its_ceiling_under_a_flood():
    """~18 MB of incompressible lines from one host (group_vars/monitoring.yml: a 16M ceiling, 1M files) reach
    the receiver whole, and its oldest files are gone to make room."""
    name = play_order()[3]
    flood = (
        "import base64, os, syslog\n"
        "syslog.openlog('pifleet-flood')\n"
        "for i in range(6000):\n"
        "    syslog.syslog('flood %05d ' % i + base64.b64encode(os.urandom(3000)).decode())\n"
    )
    assert hosts()[name].run(f'python3 -c "{flood}"').rc == 0
    query = f"_HOSTNAME={name} SYSLOG_IDENTIFIER=pifleet-flood"
    deadline = time.monotonic() + 240
    while not [e for e in received(f"{query} -n 1") if e["MESSAGE"].startswith("flood 05999 ")]:
        assert time.monotonic() < deadline, f"the flood from {name} never reached {monitor()} whole"
        time.sleep(2)
    used = int(hosts()[monitor()].run(f"sudo du -sb {REMOTE}").stdout.split()[0])
    # the ceiling, and one active file per sender that the ceiling does not count
    assert used <= (16 + len(play_order())) * 2**20, f"{REMOTE} holds {used} bytes"
    oldest = hosts()[monitor()].run(f"sudo journalctl -D {REMOTE} -o cat --no-pager {query} | head -n 1")
    assert oldest.stdout.startswith("flood "), oldest.stdout[:40]
    assert not oldest.stdout.startswith("flood 00000 "), "the oldest lines are still there"
    # the receiver made the room: the sender still holds its first line
    sent = hosts()[name].run("sudo journalctl -t pifleet-flood -o cat --no-pager | head -n 1")
    assert sent.stdout.startswith("flood 00000 "), sent.stdout[:40]
    figure(f"journal receiver under an 18 MB flood: {used / 2**20:.1f} MiB held (ceiling 16M, 1M files)")


@pytest.mark.parametrize("check", [[], ["--check"]], ids=["again", "check"])
def test_the_monitoring_host_and_an_uploader_change_nothing_on_a_second_run(check):
    uploader = play_order()[1]  # a host that sends its journal, beside the one that receives them
    run = playbook(
        "site.yml",
        "--limit",
        f"{monitor()},{uploader}",
        "--tags",
        "monitoring,pi_host_node_exporter,pi_host_journal_upload,hardening_firewall",
        *check,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    for name in (monitor(), uploader):
        assert recap_changed(run.stdout, name) == 0, run.stdout[-3000:]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"monitoring_victoriametrics_heap_limit": "56MB"}, "monitoring_victoriametrics_heap_limit"),
        ({"monitoring_scrape_interval": "30 seconds"}, "monitoring_scrape_interval"),
    ],
)
def test_a_bad_monitoring_value_fails_naming_it_before_any_change(extra, named):
    """What argument specs cannot express (sizes as Go reads them, durations), the role's preflight refuses on
    the monitoring host before it changes anything there."""
    run = playbook("site.yml", "--limit", monitor(), "--tags", "monitoring", "-e", json.dumps(extra))
    assert run.returncode != 0, run.stdout[-2000:]
    assert named in run.stdout + run.stderr
    assert recap_changed(run.stdout, monitor()) == 0, run.stdout[-2000:]
