"""The monitoring host on ARM64: fleet-pi5 (the group `monitoring`) scrapes both VMs over their LAN, and
its VictoriaMetrics, asked over SSH, lists every bot and node exporter up with samples; the other VM's
journal, its bot's output included, reaches fleet-pi5's receiver within seconds; the fleet-wide halt
(playbooks/halt.yml) reaches a webhook receiver on the controller as BotHalted with the host and the reason,
and resume.yml resolves it. The rules, the configuration's rendering and the halt playbook's logic are proven
in the container tier and unit tests: here what needs the Pi's architecture and kernel."""

import json
import re
import time

import pytest

from fleet import (
    bot_halted,
    figure,
    hosts,
    monitor,
    play_order,
    playbook,
    received,
    stack_rss_kib,
    wait_for_every_target_up,
    webhook_receiver,
)
from gridbot.contract import CONFIG_FILE

RECEIVER_PORT = 9196  # group_vars/monitoring.yml: 10.0.2.2 from a VM is this machine's loopback


def others():
    return [n for n in play_order() if n != monitor()]


def api(path):
    """VictoriaMetrics' API as the monitoring host itself sees it (the VMs' ports are not on this machine)."""
    out = hosts()[monitor()].run(f"curl -sf 'http://127.0.0.1:8428{path}'")
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)["data"]


@pytest.fixture(scope="module")
def receiver():
    with webhook_receiver("127.0.0.1", RECEIVER_PORT) as got:
        yield got


def collectors():
    """What each host's textfile collector last did and wrote: for a failure's message."""
    said = {}
    for name, host in hosts().items():
        out = host.run("systemctl status --no-pager -n 5 pifleet-textfile.service; "
                       "head -c 600 /var/lib/prometheus/node-exporter/pifleet.prom")  # fmt: skip
        said[name] = out.stdout[-1500:]
    return said


def test_every_bot_and_node_exporter_is_scraped_over_the_lan_and_has_samples():
    """Right after converge (this module runs before the tests that reboot the VMs)."""
    names = play_order()
    wait_for_every_target_up(api, names, 180)
    # the textfile collector writes every 2 minutes here (group_vars/pifleet.yml): its series may lag the rest
    deadline = time.monotonic() + 180
    for query in ("gridbot_equity_quote", "node_memory_MemAvailable_bytes", "pifleet_bot_container_healthy"):
        while {s["metric"]["host"] for s in api(f"/api/v1/query?query={query}")["result"]} != set(names):
            assert time.monotonic() < deadline, (query, api(f"/api/v1/query?query={query}"), collectors())
            time.sleep(5)
    rss = stack_rss_kib() / 1024
    figure(f"monitoring stack RSS on {monitor()} (arm64 VM, {len(names)} hosts): {rss:.1f} MiB")


def test_the_other_pis_journal_and_its_bots_output_reach_the_monitoring_host():
    (name,) = others()
    hostname = hosts()[name].run("hostname").stdout.strip()
    deadline = time.monotonic() + 120  # the uploader may still be sending its backlog, or waiting to retry
    while not received(f"_HOSTNAME={hostname} CONTAINER_NAME=gridbot -n 1"):
        assert time.monotonic() < deadline, f"no line of {name}'s bot at the receiver"
        time.sleep(3)
    marker = f"pifleet-log-test-{time.time_ns()}"
    t0 = time.monotonic()
    assert hosts()[name].run(f"logger -t pifleet-log-test {marker}").rc == 0
    query = f"_HOSTNAME={hostname} SYSLOG_IDENTIFIER=pifleet-log-test"
    while not [e for e in received(query) if e["MESSAGE"] == marker]:
        assert time.monotonic() - t0 < 120, f"{marker} logged on {name} never reached {monitor()}"
        time.sleep(1)
    lag = time.monotonic() - t0
    figure(f"journal upload lag on the VMs, a line logged on {name} to seen on {monitor()}: {lag:.1f} s")


def test_the_fleet_halt_is_told_to_the_webhook_and_resume_resolves_it(receiver):
    (name,) = others()
    reason = "e2e: fleet halt on the VMs"

    def alerts(status):
        return bot_halted(receiver, name, status)

    run = playbook("halt.yml", "--limit", name, "-e", json.dumps({"gridbot_halt_reason": reason}))
    assert run.returncode == 0, run.stdout[-3000:]
    try:
        said = hosts()[name].run(f"sudo docker exec gridbot gridbot status -c {CONFIG_FILE}")
        since = json.loads(said.stdout)["halted_since"]
        deadline = time.monotonic() + 300
        while not alerts("firing"):
            assert time.monotonic() < deadline, f"no BotHalted for {name} at the webhook: {receiver}"
            time.sleep(1)
        at, alert = alerts("firing")[0]
        assert at > since, "told of a halt before it was taken"
        assert alert["labels"]["reason"] == reason
        assert reason in alert["annotations"]["summary"]
        told = at - since
        figure(f"halt to notification on the VMs ({name}; 10 s intervals, for 30 s): {told:.0f} s")
    finally:
        t1 = time.time()
        resumed = playbook("resume.yml", "--limit", name)
        assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert re.search(rf"^{re.escape(name)}\s*:.*?changed=[1-9]", resumed.stdout, re.MULTILINE), (
        resumed.stdout[-2000:]
    )
    deadline = time.monotonic() + 300
    while not alerts("resolved"):
        assert time.monotonic() < deadline, f"the resume never resolved BotHalted for {name}"
        time.sleep(1)
    figure(f"resume to resolved notification on the VMs ({name}): {alerts('resolved')[0][0] - t1:.0f} s")
