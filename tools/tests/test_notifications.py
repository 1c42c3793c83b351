"""Notifications that survive any label text: Debian's Alertmanager (tools/host/prom-tools.sh), configured
from the role's template, sends to stand-ins for Telegram's Bot API and a Discord webhook that refuse what the
real ones refuse. Telegram's sendMessage in HTML parse mode refuses a text that is not its HTML (a bare `<` or
`&`, an entity cut in two, a tag it does not know) and one longer than 4096 characters once the entities are
parsed; a Discord webhook refuses content over 2000 characters, an embed's title over 256 and its description
over 4096. A refused notification is a page lost. The always-firing Watchdog goes to a dead man's switch's
stand-in alone. The silences playbooks/halt.yml posts hold back its halts, and only those."""

from __future__ import annotations

import html
import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from modules import load_module
from monitoring_services import Service, alertmanager_service, free_port, get, wait_for
from role_templates import ROLE, render

SILENCES = load_module(ROLE / "filter_plugins" / "silences.py", "silences")
CHAT = -1001234567890
TOKEN = "123:abc"
RUNBOOKS = "https://wiki.example.org/pifleet/runbooks.md"
# A halt reason as a bot could write it: markup characters and far more than any message holds.
REASON = ("exchange said <503 & retry-after> 'soon' + \"later\"; gave up after 5 tries >_< | " * 80)[:5000]
SUMMARY = f"gridbot on pi5-a halted trading (halted = 1): {REASON}"
TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler"}
TELEGRAM_TAGS |= {"blockquote"}
TAG = re.compile(r'<(/?)([a-z][a-z-]*)((?:\s+[a-z-]+="[^"<]*")*)\s*>')
ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]+)|#x([0-9a-fA-F]+));")
SAMPLE = re.compile(r"^([a-z_:]+)(?:\{([^}]*)\})? (\S+)$", re.M)
# The dead man's switch's ping URL (healthchecks.io-style): any 2xx is a ping taken.
PING = "/ping/5f2c"


def length(text: str) -> int:
    """Characters as Telegram and Discord count them, the stricter way: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


class RefusedError(ValueError):
    pass


def telegram_html(text: str) -> str:
    """TEXT as Telegram's HTML parse mode reads it: the text the reader sees, or RefusedError."""
    seen: list[str] = []
    open_tags: list[str] = []
    at = 0
    while at < len(text):
        char = text[at]
        if char == "&":
            entity = ENTITY.match(text, at)
            if not entity:
                raise RefusedError(f"Can't find end of the entity starting at offset {at}")
            named, decimal, hexadecimal = entity.groups()
            code = int(decimal) if decimal else int(hexadecimal, 16) if hexadecimal else None
            seen.append(html.unescape(f"&{named};") if named else chr(code or 0))
            at = entity.end()
        elif char == "<":
            tag = TAG.match(text, at)
            if not tag or tag.group(2) not in TELEGRAM_TAGS:
                raise RefusedError(f"Unsupported start tag at offset {at}")
            closing, name, attributes = tag.groups()
            if closing:
                if not open_tags or open_tags.pop() != name:
                    raise RefusedError(f"Unmatched end tag at offset {at}, expected {open_tags[-1:]}")
            else:
                if name == "a" and 'href="' not in attributes:
                    raise RefusedError("a link without href")
                for value in re.findall(r'="([^"]*)"', attributes):
                    telegram_html(value)
                open_tags.append(name)
            at = tag.end()
        elif char == ">":
            raise RefusedError(f"Unexpected > at offset {at}")
        else:
            seen.append(char)
            at += 1
    if open_tags:
        raise RefusedError(f"Can't find end tag corresponding to start tag {open_tags[-1]}")
    return "".join(seen)


@dataclass
class Received:
    """What a stand-in was sent, and whether it took it."""

    path: str
    body: dict[str, Any]
    accepted: bool
    answer: str
    text: str = ""
    at: float = field(default_factory=time.monotonic)


@dataclass
class StandIn:
    url: str
    received: list[Received] = field(default_factory=list)

    def of(self, kind: str) -> list[Received]:
        return [r for r in self.received if r.path.endswith(kind)]


def judge(path: str, body: dict[str, Any]) -> Received:
    if path == PING:
        return Received(path, body, True, "ok")
    if path.endswith("/sendMessage"):
        try:
            if body.get("parse_mode") != "HTML":
                raise RefusedError(f"parse_mode {body.get('parse_mode')!r}")
            text = telegram_html(body["text"])
            if not text.strip():
                raise RefusedError("message text is empty")
            if length(text) > 4096:
                raise RefusedError(f"message is too long: {length(text)}")
        except RefusedError as refused:
            return Received(path, body, False, f"Bad Request: can't parse entities: {refused}")
        return Received(path, body, True, "ok", text)
    too_long = []
    if length(body.get("content") or "") > 2000:
        too_long.append(f"content {length(body['content'])}")
    for embed in body.get("embeds") or []:
        if length(embed.get("title") or "") > 256:
            too_long.append(f"title {length(embed['title'])}")
        if length(embed.get("description") or "") > 4096:
            too_long.append(f"description {length(embed['description'])}")
    return Received(path, body, not too_long, ", ".join(too_long) or "ok", body["embeds"][0]["description"])


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    """One HTTP server on a free port of 127.0.0.1 for all: /bot<token>/sendMessage is Telegram,
    /api/webhooks/... Discord, PING the dead man's switch."""
    got: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received = judge(self.path, body)
            got.append(received)
            if self.path.endswith("/sendMessage"):
                answer: dict[str, Any] = (
                    {"ok": True, "result": {"message_id": len(got), "date": 0, "chat": {"id": CHAT}}}
                    if received.accepted
                    else {"ok": False, "error_code": 400, "description": received.answer}
                )
                self.reply(200 if received.accepted else 400, json.dumps(answer).encode())
            elif received.accepted:
                self.reply(204, b"")
            else:
                self.reply(400, json.dumps({"code": 50035, "message": received.answer}).encode())

        def reply(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: Any) -> None:
            """Quiet: the test reports what matters."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield StandIn(f"http://127.0.0.1:{server.server_address[1]}", got)
    server.shutdown()
    server.server_close()


@dataclass
class Alertmanager:
    url: str
    log: Path

    def post(self, alerts: list[dict[str, Any]]) -> None:
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Alertmanager's API v2: the JSON answer, or None when it has none (a DELETE)."""
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read()
        return json.loads(text) if text else None

    def metric(self, name: str) -> dict[str, float]:
        """NAME's samples on /metrics, by integration."""
        found: dict[str, float] = {}
        for metric, labels, value in SAMPLE.findall(get(f"{self.url}/metrics")):
            if metric == name:
                integration = re.search(r'integration="([^"]*)"', labels or "")
                key = integration.group(1) if integration else ""
                found[key] = found.get(key, 0) + float(value)
        return found


def alertmanager_config(stand_in: StandIn, **overrides: Any) -> str:
    """The role's config: every receiver the stand-in, test-sized waits."""
    return render(
        "alertmanager.yml.j2",
        **{
            "monitoring_alertmanager_telegram_api_url": stand_in.url,
            "monitoring_alertmanager_telegram_bot_token": TOKEN,
            "monitoring_alertmanager_telegram_chat_id": CHAT,
            "monitoring_alertmanager_discord_webhook_url": f"{stand_in.url}/api/webhooks/1/secret",
            "monitoring_alertmanager_watchdog_url": f"{stand_in.url}{PING}",
            "monitoring_alertmanager_group_wait": "100ms",
            "monitoring_alertmanager_group_interval": "1m",
            "monitoring_runbook_url_base": RUNBOOKS,
            **overrides,
        },
    )


@pytest.fixture
def alertmanager(alertmanager_binary: Path, stand_in: StandIn, tmp_path: Path) -> Iterator[Alertmanager]:
    """Debian's Alertmanager on a free port of 127.0.0.1, with the role's config, no cluster (nothing to
    settle), once it is ready."""
    config = tmp_path / "alertmanager.yml"
    config.write_text(alertmanager_config(stand_in))
    port = free_port()
    service = alertmanager_service(alertmanager_binary, config, tmp_path, port)
    service.start()
    try:
        yield Alertmanager(f"http://127.0.0.1:{port}", service.log)
    finally:
        service.stop()


def delivered(alertmanager: Alertmanager, stand_in: StandIn) -> tuple[Received, Received]:
    """The first notification each stand-in received, once Alertmanager has counted every request it sent (so
    that its failure counters are final for them)."""

    def counted() -> bool:
        requests = alertmanager.metric("alertmanager_notification_requests_total")
        return all(
            stand_in.of(kind) and requests.get(integration, 0) >= len(stand_in.of(kind))
            for kind, integration in (("/sendMessage", "telegram"), ("/api/webhooks/1/secret", "discord"))
        )

    wait_for("notification to both Telegram and Discord", counted, alertmanager.log)
    return stand_in.of("/sendMessage")[0], stand_in.of("/secret")[0]


def assert_no_failure(alertmanager: Alertmanager) -> None:
    for name in (
        "alertmanager_notification_requests_failed_total",
        "alertmanager_notifications_failed_total",
    ):
        failed = {k: v for k, v in alertmanager.metric(name).items() if v}
        assert not failed, f"{name}: {failed}\n{alertmanager.log.read_text()[-4000:]}"


def cut_cleanly(text: str, original: str, at_least: int) -> None:
    """TEXT shows ORIGINAL's beginning, at least AT_LEAST characters of it unchanged, then the cut's `…`."""
    start = text.find(original[:60])
    assert start >= 0, f"the beginning of {original[:60]!r} is not in {text[:600]!r}"
    shown = text[start:]
    kept = next(i for i, (a, b) in enumerate(zip(shown, original, strict=False)) if a != b)
    assert kept >= at_least, f"only {kept} characters kept: {shown[: kept + 20]!r}"
    assert shown[kept] == "…", f"cut at {kept} without a mark: {shown[kept - 20 : kept + 20]!r}"


def test_the_watchdog_pings_the_switch_alone(alertmanager: Alertmanager, stand_in: StandIn) -> None:
    """The Watchdog, labelled as its rule labels it, reaches the switch at once (its group_wait 0s, the
    operators' 100 ms here), and neither Telegram nor Discord: a halt posted after it is all they get."""
    rules = yaml.safe_load(render("alerts.yml.j2"))
    watchdog = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "Watchdog")
    alertmanager.post([{"labels": {"alertname": "Watchdog", **watchdog["labels"]}}])
    wait_for("ping of the dead man's switch", lambda: bool(stand_in.of(PING)), alertmanager.log)
    ping = stand_in.of(PING)[0]
    assert ping.body["receiver"] == "watchdog", ping.body
    assert [a["labels"]["alertname"] for a in ping.body["alerts"]] == ["Watchdog"], ping.body
    alertmanager.post(
        [{"labels": {"alertname": "BotHalted", "host": "pi5-a", "severity": "critical", "component": "bot"}}]
    )
    delivered(alertmanager, stand_in)
    told = [*stand_in.of("/sendMessage"), *stand_in.of("/secret")]
    assert [json.dumps(r.body).count("Watchdog") for r in told] == [0, 0], [r.body for r in told]
    assert [json.dumps(r.body).count("BotHalted") > 0 for r in told] == [True, True]
    assert len(stand_in.of(PING)) == 1
    assert_no_failure(alertmanager)


def test_a_long_halt_reason_with_markup_reaches_telegram_and_discord(
    alertmanager: Alertmanager, stand_in: StandIn
) -> None:
    alertmanager.post(
        [
            {
                "labels": {
                    "alertname": "BotHalted",
                    "host": "pi5-a",
                    "severity": "critical",
                    "component": "bot",
                    "reason": REASON,
                },
                "annotations": {
                    "summary": SUMMARY,
                    "description": "Fix the halt's cause, then lift it with `playbooks/resume.yml -l pi5-a`.",
                    "runbook_url": f"{RUNBOOKS}#bothalted",
                },
            }
        ]
    )
    telegram, discord = delivered(alertmanager, stand_in)
    assert telegram.accepted, telegram.answer
    assert telegram.body["chat_id"] == str(CHAT)
    assert discord.accepted, discord.answer
    title = discord.body["embeds"][0]["title"]
    for text in (telegram.text, title):
        assert "BotHalted" in text, text
        assert "pi5-a" in text, text
    assert "critical" in telegram.text, telegram.text
    assert f'<a href="{RUNBOOKS}#bothalted">' in telegram.body["text"], telegram.body["text"]
    assert f"{RUNBOOKS}#bothalted" in discord.text, discord.text
    # What the operator reads: the summary's beginning, the reason's markup as written, cut with a mark.
    cut_cleanly(telegram.text, SUMMARY, 400)
    cut_cleanly(discord.text, SUMMARY, 1500)
    assert_no_failure(alertmanager)


@pytest.mark.parametrize("hosts", [1, 12])
@pytest.mark.parametrize("char", ["&", "🔥", "&+'\"<>🔥"])
def test_any_label_text_still_fits(
    alertmanager: Alertmanager, stand_in: StandIn, char: str, hosts: int
) -> None:
    """The worst text there is: every label and annotation 5,000 characters of what grows most (`&` escaped
    for HTML, 🔥 in UTF-16), the runbook's URL of 🔥 (12 characters in a link); for one host, and for more
    than a message lists (a warning groups every host of an alert)."""
    worst = char * 5000
    alertmanager.post(
        [
            {
                "labels": {"alertname": worst, "host": f"{worst}{host}", "severity": "warning", "x": worst},
                "annotations": {
                    "summary": worst,
                    "description": worst,
                    "runbook_url": "https://" + "🔥" * 5000,
                },
            }
            for host in range(hosts)
        ]
    )
    telegram, discord = delivered(alertmanager, stand_in)
    assert telegram.accepted, telegram.answer
    assert discord.accepted, discord.answer
    if hosts > 1:
        assert f"{hosts} alerts" in telegram.text, "says how many alerts the message does not list"
        assert f"{hosts} alerts" in discord.text
    assert_no_failure(alertmanager)


def test_halt_ymls_silence_holds_back_only_the_bots_it_halted_and_its_expiry_lets_the_next_halt_page(
    alertmanager: Alertmanager, stand_in: StandIn
) -> None:
    """The silences halt.yml posts (roles/monitoring/filter_plugins/silences.py) through Alertmanager itself:
    the BotHalted of the bot it halted is suppressed, silenced by it, and reaches no receiver; the same host's
    other bot and another host's halt still page. The silences resume.yml expires are those, and once they are
    gone the halt pages."""
    halted = [{"host": "pi5-a", "bot": "default"}]
    now = time.strftime(SILENCES.STAMP, time.gmtime())
    for body in SILENCES.halt_silences(
        halted, "a release to roll back", time.strftime(SILENCES.STAMP, time.gmtime()), 24
    ):
        alertmanager.call("POST", "/api/v2/silences", body)
    operators_own = {"matchers": [{"name": "host", "value": "pi5-a", "isRegex": False, "isEqual": True}],
                     "startsAt": now, "endsAt": "2099-01-01T00:00:00Z", "createdBy": "an operator",
                     "comment": "not halt.yml's"}  # fmt: skip
    mine = alertmanager.call("POST", "/api/v2/silences", operators_own)["silenceID"]
    alertmanager.call("DELETE", f"/api/v2/silence/{mine}")  # expired: it holds nothing back below
    labels = {"alertname": "BotHalted", "severity": "critical", "component": "bot"}
    alertmanager.post([
        {"labels": {**labels, "host": h, "bot": b}, "annotations": {"summary": f"gridbot {b} on {h} halted"}}
        for h, b in (("pi5-a", "default"), ("pi5-a", "wide"), ("pi5-b", "default"))
    ])  # fmt: skip
    state = {
        (a["labels"]["host"], a["labels"]["bot"]): a["status"]
        for a in alertmanager.call("GET", "/api/v2/alerts")
    }
    assert state[("pi5-a", "default")]["state"] == "suppressed", state
    assert [state[k]["state"] for k in (("pi5-a", "wide"), ("pi5-b", "default"))] == ["active", "active"], (
        state
    )
    delivered(alertmanager, stand_in)
    told = " ".join(r.text for r in stand_in.of("/sendMessage"))
    assert "gridbot wide on pi5-a halted" in told, told
    assert "gridbot default on pi5-b halted" in told, told
    assert "gridbot default on pi5-a halted" not in told, told
    silences = alertmanager.call("GET", "/api/v2/silences")
    expire = SILENCES.halt_silences_to_expire(silences, halted)
    assert expire == state[("pi5-a", "default")]["silencedBy"], (expire, state)
    assert SILENCES.halt_silences_to_expire(silences, [{"host": "pi5-a", "bot": "wide"}]) == []
    for silence in expire:
        alertmanager.call("DELETE", f"/api/v2/silence/{silence}")
    assert SILENCES.halt_silences_to_expire(alertmanager.call("GET", "/api/v2/silences"), halted) == []
    after = {
        (a["labels"]["host"], a["labels"]["bot"]): a["status"]
        for a in alertmanager.call("GET", "/api/v2/alerts")
    }
    assert after[("pi5-a", "default")]["state"] == "active", after
    assert_no_failure(alertmanager)


def test_a_silence_lasts_the_hours_asked_and_no_silence_is_made_for_no_time() -> None:
    (silence,) = SILENCES.halt_silences([{"host": "h", "bot": "b"}], "r", "2026-11-30T23:00:00Z", "24")
    assert (silence["startsAt"], silence["endsAt"]) == ("2026-11-30T22:59:00Z", "2026-12-01T23:00:00Z")
    with pytest.raises(ValueError, match="gridbot_halt_silence_hours"):
        SILENCES.halt_silences([{"host": "h", "bot": "b"}], "r", "2026-11-30T23:00:00Z", 0)


def test_a_rollouts_silence_holds_back_what_its_hosts_restart_raises_and_only_that(
    alertmanager: Alertmanager, stand_in: StandIn
) -> None:
    """The silence rollout.yml posts for a host while it rolls out, through Alertmanager itself: that host's
    bots' BotDown and BotHalted (every bot of it) are suppressed and reach no receiver; the same host's
    HostHot and BotDrawdown, and another host's BotDown, still page. The silence its end expires is the one
    this run made of that host: not another run's, nor halt.yml's of the same host, nor an operator's."""
    now = time.strftime(SILENCES.STAMP, time.gmtime())
    run, other_run = "20261130T120000.000001", "20261130T115500.000002"
    silence = SILENCES.rollout_silence("pi5-r", now, 30, run)
    mine = alertmanager.call("POST", "/api/v2/silences", silence)["silenceID"]
    # another run's, holding the host's change lock while this one, refused it, ends
    alertmanager.call("POST", "/api/v2/silences", SILENCES.rollout_silence("pi5-r", now, 30, other_run))
    (halts,) = SILENCES.halt_silences([{"host": "pi5-r", "bot": "wide"}], "on purpose", now, 24)
    halt = alertmanager.call("POST", "/api/v2/silences", halts)["silenceID"]
    alertmanager.call("POST", "/api/v2/silences", {**silence, "createdBy": "an operator"})
    sent = [("BotDown", "pi5-r", "default"), ("BotHalted", "pi5-r", "wide"), ("HostHot", "pi5-r", ""),
            ("BotDrawdown", "pi5-r", "default"), ("BotDown", "pi5-s", "default")]  # fmt: skip
    alertmanager.post([
        {"labels": {"alertname": a, "severity": "critical", "host": h, **({"bot": b} if b else {})},
         "annotations": {"summary": f"{a} {h} {b}"}}
        for a, h, b in sent
    ])  # fmt: skip
    state = {
        (a["labels"]["alertname"], a["labels"]["host"], a["labels"].get("bot", "")): a["status"]
        for a in alertmanager.call("GET", "/api/v2/alerts")
    }
    assert mine in state[("BotDown", "pi5-r", "default")]["silencedBy"], state
    assert mine in state[("BotHalted", "pi5-r", "wide")]["silencedBy"], state
    for key in sent[2:]:
        assert state[key]["state"] == "active", (key, state)
    delivered(alertmanager, stand_in)
    told = " ".join(r.text for r in stand_in.of("/sendMessage"))
    silenced = {("BotDown", "pi5-r"), ("BotHalted", "pi5-r")}
    for a, h, b in sent:
        assert (f"{a} {h} {b}" in told) is ((a, h) not in silenced), (a, h, told)
    silences = alertmanager.call("GET", "/api/v2/silences")
    assert SILENCES.rollout_silences_to_expire(silences, "pi5-r", run) == [mine]
    assert SILENCES.rollout_silences_to_expire(silences, "pi5-s", run) == []
    alertmanager.call("DELETE", f"/api/v2/silence/{mine}")
    silences = alertmanager.call("GET", "/api/v2/silences")
    assert SILENCES.rollout_silences_to_expire(silences, "pi5-r", run) == []
    assert len(SILENCES.rollout_silences_to_expire(silences, "pi5-r", other_run)) == 1
    assert SILENCES.halt_silences_to_expire(silences, [{"host": "pi5-r", "bot": "wide"}]) == [halt]
    assert_no_failure(alertmanager)


def test_a_rollout_silence_is_bounded_and_none_is_made_for_no_time() -> None:
    silence = SILENCES.rollout_silence("h", "2026-11-30T23:00:00Z", "30", "t")
    assert (silence["startsAt"], silence["endsAt"]) == ("2026-11-30T22:59:00Z", "2026-11-30T23:30:00Z")
    with pytest.raises(ValueError, match="gridbot_rollout_silence_minutes"):
        SILENCES.rollout_silence("h", "2026-11-30T23:00:00Z", 0, "t")


def test_a_silence_alertmanager_did_not_take_is_said_and_a_skipped_call_is_not() -> None:
    """rollout.yml's silence is a courtesy: the calls Alertmanager refused or never answered (not installed
    yet, on a new fleet's first site.yml) are the warnings it prints, instead of a failed host."""
    refused = {"status": -1, "msg": "Request failed: <urlopen error [Errno 111] Connection refused>"}
    error = {"status": 500, "msg": "Status code was 500"}
    module_died = {"failed": True, "msg": "Module result deserialization failed"}
    taken, skipped = {"status": 200, "json": {"silenceID": "x"}}, {"skipped": True, "changed": False}
    answers = [refused, taken, error, skipped, module_died]
    assert SILENCES.answers_refused(answers) == [refused, error, module_died]


# The dead man's switch as healthchecks.io judges it (test-sized): a ping expected every PERIOD, the check
# late once none came for PERIOD + GRACE. The role's Watchdog is sent every
# monitoring_alertmanager_watchdog_repeat at Alertmanager's group interval; here every 2 s at 1 s, evaluated
# by vmalert every second.
SWITCH_PERIOD, SWITCH_GRACE = 2.0, 2.0
EVALUATION_S = 1.0


def test_the_dead_mans_switch_is_told_whatever_on_the_monitoring_host_dies(
    alertmanager_binary: Path, prom_tools: Path, stand_in: StandIn, tmp_path: Path
) -> None:
    """The Watchdog end to end, as the monitoring host runs it: the role's rule evaluated by vmalert against
    VictoriaMetrics, sent by Alertmanager with the role's routing to the switch's ping URL. Alertmanager
    stopped, then vmalert, then VictoriaMetrics, then all three (the host gone): each time the pings stop,
    so the switch, judging them as healthchecks.io does, is told within its period and grace of the last
    one; the last one comes at most the Watchdog's expiry after the death (vmalert's three evaluation
    intervals, once vmalert can no longer renew it), and the pings come back with the service."""
    rules = yaml.safe_load(render("alerts.yml.j2"))
    watchdog = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "Watchdog")
    rules_file = tmp_path / "watchdog.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "watchdog", "rules": [watchdog]}]}))
    config = yaml.safe_load(alertmanager_config(stand_in, monitoring_alertmanager_watchdog_repeat="2s"))
    route = next(r for r in config["route"]["routes"] if r.get("receiver") == "watchdog")
    route["group_interval"] = "1s"  # the role's 1m, test-sized
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    vm_port, am_port, vmalert_port = free_port(), free_port(), free_port()
    services = {
        "victoria-metrics": Service(
            "victoria-metrics",
            [str(prom_tools / "victoria-metrics"), f"-storageDataPath={tmp_path / 'vm'}",
             f"-httpListenAddr=127.0.0.1:{vm_port}", "-loggerLevel=ERROR"],
            f"http://127.0.0.1:{vm_port}/health", tmp_path / "vm.log",
        ),
        "alertmanager": alertmanager_service(
            alertmanager_binary, tmp_path / "alertmanager.yml", tmp_path, am_port
        ),
        "vmalert": Service(
            "vmalert",
            [str(prom_tools / "vmalert"), f"-rule={rules_file}", f"-datasource.url=http://127.0.0.1:{vm_port}",
             f"-notifier.url=http://127.0.0.1:{am_port}", f"-evaluationInterval={EVALUATION_S:.0f}s",
             f"-httpListenAddr=127.0.0.1:{vmalert_port}", "-loggerLevel=ERROR"],
            f"http://127.0.0.1:{vmalert_port}/health", tmp_path / "vmalert.log",
        ),
    }  # fmt: skip
    log = tmp_path / "alertmanager.log"

    def pings_after(t: float) -> list[float]:
        return [r.at for r in stand_in.of(PING) if r.at > t]

    told: dict[str, float] = {}
    try:
        for service in services.values():
            service.start()
        begun = time.monotonic()
        wait_for("two pings of the Watchdog", lambda: len(pings_after(begun)) >= 2, log, seconds=30)
        for dead in (["alertmanager"], ["vmalert"], ["victoria-metrics"], list(services)):
            now = time.monotonic()
            wait_for("a ping of the Watchdog", lambda now=now: bool(pings_after(now)), log, seconds=30)
            death = time.monotonic()
            for name in dead:
                services[name].stop()
            # healthchecks.io's view: late once no ping came for its period and grace
            while time.monotonic() - max(r.at for r in stand_in.of(PING)) <= SWITCH_PERIOD + SWITCH_GRACE:
                assert time.monotonic() - death < 60, f"the pings went on with {dead} dead"
                time.sleep(0.1)
            last = max(r.at for r in stand_in.of(PING))
            lag = max(0.0, last - death)
            told["+".join(dead)] = round(lag + SWITCH_PERIOD + SWITCH_GRACE, 1)
            expiry = 0.0 if "alertmanager" in dead else 3 * EVALUATION_S
            # the Watchdog's expiry, then a group interval and a ping's way, with a loaded machine's slack
            assert lag <= expiry + 1.0 + 3.0, (dead, lag, told)
            for name in ("victoria-metrics", "alertmanager", "vmalert"):
                if name in dead:
                    services[name].start()
            back = time.monotonic()
            again = f"the pings again after {dead} came back"
            wait_for(again, lambda back=back: bool(pings_after(back)), log, seconds=30)
    finally:
        for service in services.values():
            service.stop()
    assert sorted(told) == sorted(["alertmanager", "vmalert", "victoria-metrics",
                                   "victoria-metrics+alertmanager+vmalert"]), told  # fmt: skip
