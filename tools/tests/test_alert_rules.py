"""The monitoring role's alerting, rendered by Ansible's own templating from the role's defaults and judged by
the tools of Debian's packages (tools/host/prom-tools.sh): promtool checks the rules and runs the unit tests
in tools/tests/alerts/ (every alert fires for one host and stays quiet for another), vmalert (which evaluates
them on the Pis) parses their expressions and templates, amtool checks the Alertmanager config without
receivers and with all of them and routes an alert; the inhibitions, which amtool cannot evaluate, are
evaluated here on the rendered config."""

from __future__ import annotations

import re
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleError
from ansible.parsing import vault
from ansible.parsing.dataloader import DataLoader
from local_victoria import victoria_metrics
from role_templates import MANAGED, render, role_defaults
from vm_replay import FLAGS, replay

from gridbot import contract

PROJECT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).parent / "alerts"
RUNBOOKS = PROJECT / "docs" / "runbooks.md"

# promtool unit tests, one promtool each, side by side: each evaluates every rule at each evaluation_interval
# of its longest test, so the alerts judged over hours have a file of their own, evaluated less often.
CASE_FILES = ("bot.test.yml", "host.test.yml", "hours.test.yml", "monitoring.test.yml")
ALERTS = {
    "bot": {
        "BotDown", "BotUnhealthy", "BotHalted", "BotBreakerOpen", "BotNoCandle", "BotApiErrors",
        "BotKeyRejected", "BotDrawdown", "BotHoldingsDrift", "BotClockSkew", "BotRestarting", "BotOomKilled",
        "BotMarketHalted", "BotOrdersRefused", "BotRateLimited", "BotNoFill", "BotGridOneSided",
        "BotBackupStale", "ExchangeDown",
    },
    "host": {
        "HostDown", "HostExporterDown", "HostHot", "HostThrottled", "HostDiskFilling", "HostDiskReadOnly",
        "HostMemoryLow", "HostOomKill", "HostInodesLow", "HostFilesystemError", "HostClockNotSynced",
        "HostRebootPending", "HostCollectorStale", "HostDiskWillFill", "HostUnderVoltageSinceBoot",
        "HostClockOffset", "HostUnitFailed", "HostJournalUploadStopped", "HostEngineUpdatesPending",
        "HostDiskWorn", "HostDiskFailing",
    },
    "monitoring": {
        "Watchdog", "MonitoringTargetDown", "AlertmanagerNotificationsFailing", "VmalertRuleErrors",
        "VmalertSendErrors",
    },
}  # fmt: skip
# Always firing, for the dead man's switch alone: no host, no for:, no severity a receiver acts on.
WATCHDOG = "Watchdog"
RECEIVERS = {
    "monitoring_alertmanager_discord_webhook_url": "http://127.0.0.1:9/discord",
    "monitoring_alertmanager_telegram_bot_token": "123:abc",
    "monitoring_alertmanager_telegram_chat_id": -1001234567890,
    "monitoring_alertmanager_webhook_urls": ["http://127.0.0.1:9/x", "http://127.0.0.1:9/y"],
}
DURATION = re.compile(r"^(\d+[smhdwy])+$")


def run(tool: Path, *args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool, *args], capture_output=True, text=True, check=False, cwd=cwd, timeout=120)


def runbook_url(name: str, **overrides: Any) -> str:
    """Where alert NAME's runbook_url points: its section of docs/runbooks.md (`## NAME`, GitHub's anchor)."""
    base = overrides.get("monitoring_runbook_url_base")
    if base is None:
        base = role_defaults(DataLoader())["monitoring_runbook_url_base"]
    return f"{base}#{name.lower()}"


def rules_dir(tmp: Path, *cases: str, **overrides: Any) -> Path:
    """TMP with the rendered rules as alerts.yml (the name the promtool test files give) and CASES. The cases
    spell out each expected alert's summary and description; its runbook_url, the same for every alert of a
    name, is added here (promtool compares the whole set of annotations)."""
    (tmp / "alerts.yml").write_text(render("alerts.yml.j2", **overrides))
    for case in cases:
        tests = yaml.safe_load((CASES / case).read_text())
        for group in tests["tests"]:
            for check in group.get("alert_rule_test") or []:
                for alert in check.get("exp_alerts") or []:
                    annotations = alert.setdefault("exp_annotations", {})
                    annotations["runbook_url"] = runbook_url(check["alertname"], **overrides)
        (tmp / case).write_text(yaml.safe_dump(tests, sort_keys=False, allow_unicode=True, width=1000))
    return tmp


def rules_of(directory: Path) -> dict[str, dict[str, Any]]:
    parsed = yaml.safe_load((directory / "alerts.yml").read_text())
    return {rule["alert"]: rule for group in parsed["groups"] for rule in group["rules"]}


@pytest.fixture(scope="module")
def defaults_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rules_dir(tmp_path_factory.mktemp("rules"), *CASE_FILES, "thresholds.test.yml")


def test_rules_are_the_alerts_promtool_accepts(defaults_dir: Path, prom_tools: Path) -> None:
    text = (defaults_dir / "alerts.yml").read_text()
    assert text.splitlines()[:3] == ["#", f"# {MANAGED}", "#"]
    rules = rules_of(defaults_dir)
    assert set(rules) == ALERTS["bot"] | ALERTS["host"] | ALERTS["monitoring"]
    checked = run(prom_tools / "promtool", "check", "rules", defaults_dir / "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules)} rules found" in checked.stdout


def test_vmalert_reads_the_rules(defaults_dir: Path, prom_tools: Path) -> None:
    # Its own parsers: MetricsQL for the expressions, its template functions for the annotations.
    parsed = run(prom_tools / "vmalert", "-dryRun", f"-rule={defaults_dir / 'alerts.yml'}")
    assert parsed.returncode == 0, parsed.stderr[-3000:]


def test_every_rule_says_how_bad_where_and_what_to_do(defaults_dir: Path) -> None:
    for name, rule in rules_of(defaults_dir).items():
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}, name
        if name == WATCHDOG:
            continue
        assert DURATION.match(str(rule.get("for", ""))), f"{name}: for: {rule.get('for')!r}"
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        component = rule["labels"]["component"]
        assert name in ALERTS.get(component, set()), f"{name}: component {component}"
        summary, description = rule["annotations"]["summary"], rule["annotations"]["description"]
        assert "\n" not in summary, f"{name}: one line"
        assert "\n" not in description, f"{name}: one line"
        # a whole exchange's alert names the exchange: it has no host
        where = "$labels.exchange" if name == "ExchangeDown" else "$labels.host"
        assert where in summary, f"{name}: {summary}"
        assert "$value" in summary, f"{name}: {summary}"
        assert len(description) > 40, f"{name}: {description}"
    # The halt-to-notification goal: the bot's short for: (and HostDown's, which must not lag the BotDown it
    # holds back).
    rules = rules_of(defaults_dir)
    assert [rules[n]["for"] for n in ("BotDown", "BotHalted", "HostDown")] == ["1m", "1m", "1m"]
    # The Watchdog fires from the first evaluation, whatever the series, and routes by its name alone.
    watchdog = rules[WATCHDOG]
    assert (watchdog["expr"], watchdog.get("for")) == ("vector(1)", None)
    assert watchdog["labels"] == {"severity": "none", "component": "monitoring"}


def test_every_alert_fires_for_one_host_and_not_another(defaults_dir: Path, prom_tools: Path) -> None:
    # One promtool per file, side by side: each evaluates every rule at each step of its longest test.
    with ThreadPoolExecutor() as pool:
        runs = pool.map(
            lambda case: run(prom_tools / "promtool", "test", "rules", case, cwd=defaults_dir),
            CASE_FILES,
        )
        for tested in runs:
            assert tested.returncode == 0, tested.stdout[-6000:] + tested.stderr[-6000:]
            assert "SUCCESS" in tested.stdout, tested.stdout


def test_vmalert_fires_what_promtool_fires(defaults_dir: Path, prom_tools: Path, tmp_path: Path) -> None:
    """The unit tests again, evaluated as on the monitoring host: by vmalert, in MetricsQL, against a
    VictoriaMetrics holding their series (tools/tests/vm_replay.py). MetricsQL is not PromQL where these rules
    could trip: `a or on (host) b` fills a's filtered points with b's values under a's labels (an alert that
    names the wrong cause), and increase() counts a series' first value from 0 (an alert at a host's first
    scrapes). Every alert at every eval_time is the one promtool expects, labels and all."""
    with victoria_metrics(prom_tools / "victoria-metrics", tmp_path / "vm", *FLAGS) as vm:
        verdicts = replay(prom_tools / "vmalert", vm, defaults_dir / "alerts.yml",
                          [defaults_dir / case for case in CASE_FILES])  # fmt: skip
    assert len(verdicts) == sum(
        len(group["alert_rule_test"])
        for case in CASE_FILES
        for group in yaml.safe_load((CASES / case).read_text())["tests"]
    )
    wrong = [v for v in verdicts if not v.agrees()]
    assert not wrong, "\n".join(
        f"{v.case} {v.test} at {v.eval_time}: {v.alertname} expected {v.expected}, vmalert fired {v.firing}"
        for v in wrong
    )


def label_of(series: str, label: str) -> str | None:
    found = re.search(rf'\b{label}="([^"]+)"', series)
    assert found or label != "host", f"a series without its host: {series}"
    return found.group(1) if found else None


def test_the_unit_tests_cover_every_alert_both_ways(defaults_dir: Path) -> None:
    """Each alert has a test where it fires, and one where a series it reads is asserted quiet (promtool
    compares the whole set of alerts: a host with series of the alert's metrics missing from exp_alerts)."""
    rules = rules_of(defaults_dir)
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in CASE_FILES:
        for group in yaml.safe_load((CASES / case).read_text())["tests"]:
            series = [(s["series"].split("{")[0].strip(), s["series"]) for s in group["input_series"]]
            for check in group["alert_rule_test"]:
                name = check["alertname"]
                assert name in rules, f"{case}: no alert {name}: promtool would pass it silently"
                if name == WATCHDOG:  # reads nothing, never quiet
                    fires |= {name} if check.get("exp_alerts") and not series else set()
                    continue
                # where an alert is: its host, or a whole exchange's (ExchangeDown) that exchange
                where = "exchange" if name == "ExchangeDown" else "host"
                firing = {a["exp_labels"][where] for a in check.get("exp_alerts") or []}
                expr = rules[name]["expr"]
                read = {label_of(s, where) for metric, s in series if re.search(rf"\b{metric}\b", expr)}
                read.discard(None)
                assert read, f"{case} {group['name']}: no series that {name} reads"
                fires |= {name} if firing else set()
                quiet |= {name} if read - firing else set()
    assert set(rules) - fires == set(), "alerts no test sees fire"
    assert set(rules) - {WATCHDOG} - quiet == set(), "alerts no test sees stay quiet"


def test_a_refused_key_is_known_by_the_reason_the_bot_halts_with(defaults_dir: Path) -> None:
    """BotKeyRejected holds while the halt it caused does: it reads the halt's reason as the bot writes it."""
    expr = rules_of(defaults_dir)["BotKeyRejected"]["expr"]
    assert re.fullmatch(r"[\w ]+", contract.KEY_REFUSED_HALT), "a regex would read it as itself"
    assert expr.count(f'{{reason=~"{contract.KEY_REFUSED_HALT}.*"}}') == 2, expr


def runbook_sections() -> list[str]:
    """docs/runbooks.md's second-level headings: one per alert, its name (the intro has none)."""
    return re.findall(r"^## +(.*?)[ \t]*$", RUNBOOKS.read_text(encoding="utf-8"), re.M)


def test_every_alert_points_at_its_runbook(defaults_dir: Path) -> None:
    rules = rules_of(defaults_dir)
    base = role_defaults(DataLoader())["monitoring_runbook_url_base"]
    assert base.endswith("/docs/runbooks.md"), base
    for name, rule in rules.items():
        url = rule["annotations"].get("runbook_url")
        assert url, f"{name}: no runbook_url"
        page, _, fragment = url.partition("#")
        assert page == base, f"{name}: {url}"
        assert fragment == name.lower(), f"{name}: {url}"
    # Each alert has its section, headed with its name (GitHub's anchor: the name in lower case), once; and no
    # section is left for an alert that is gone.
    sections = runbook_sections()
    assert sorted(sections) == sorted(rules), {
        "no section": set(rules) - set(sections),
        "no such alert": set(sections) - set(rules),
        "twice": {s for s in sections if sections.count(s) > 1},
    }


def test_the_runbook_url_comes_from_the_variable(tmp_path: Path) -> None:
    base = "https://wiki.example.org/pifleet/runbooks"
    rules = rules_of(rules_dir(tmp_path, monitoring_runbook_url_base=base))
    assert {rule["annotations"]["runbook_url"] for rule in rules.values()} == {
        f"{base}#{name.lower()}" for name in rules
    }


def test_thresholds_and_for_come_from_the_variables(
    defaults_dir: Path, tmp_path: Path, prom_tools: Path
) -> None:
    changed = {"monitoring_alert_temperature_celsius": 70, "monitoring_alert_bot_for": "3m"}
    changed_dir = rules_dir(tmp_path, "thresholds.test.yml", **changed)
    rules = rules_of(changed_dir)
    assert rules["HostHot"]["expr"] == 'node_thermal_zone_temp{type="cpu-thermal"} > 70'
    assert rules["HostDown"]["for"] == rules["BotHalted"]["for"] == "3m"
    tested = run(prom_tools / "promtool", "test", "rules", "thresholds.test.yml", cwd=changed_dir)
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-2000:]
    # The same expectations against the defaults' rules fail: 75 °C is under 80, HostDown fires at 1m.
    default = run(prom_tools / "promtool", "test", "rules", "thresholds.test.yml", cwd=defaults_dir)
    assert default.returncode != 0
    failures = default.stdout + default.stderr
    assert "alertname: HostHot" in failures, failures
    assert "alertname: HostDown" in failures, failures


def alertmanager(tmp_path: Path, **overrides: Any) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "alertmanager.yml"
    path.write_text(render("alertmanager.yml.j2", **overrides))
    return path, yaml.safe_load(path.read_text())


@pytest.mark.parametrize("receivers", ["none", "all"])
def test_alertmanager_config_routes_every_alert_to_the_operators(
    tmp_path: Path, prom_tools: Path, receivers: str
) -> None:
    path, config = alertmanager(tmp_path, **(RECEIVERS if receivers == "all" else {}))
    assert path.read_text().splitlines()[:3] == ["#", f"# {MANAGED}", "#"]
    checked = run(prom_tools / "amtool", "check-config", path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    route = ("config", "routes", "test", f"--config.file={path}", "host=pi5-a", "alertname=BotHalted")
    routed = run(prom_tools / "amtool", *route)
    assert routed.returncode == 0, routed.stderr
    assert routed.stdout.strip() == "operators"
    assert {k: v for k, v in config["route"].items() if k != "routes"} == {
        "receiver": "operators",
        "group_by": ["alertname", "host"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "1h",
    }
    if receivers == "none":
        # A receiver with no integration: valid, and it sends nothing; the Watchdog's likewise.
        assert config["receivers"] == [{"name": "operators"}, {"name": "watchdog"}]
        return
    # The messages' templates are judged through Alertmanager itself (test_notifications.py).
    for integration in ("discord_configs", "telegram_configs"):
        for template in ("title", "message"):
            config["receivers"][0][integration][0].pop(template, None)
    assert config["receivers"] == [
        {
            "name": "operators",
            "discord_configs": [{"webhook_url": "http://127.0.0.1:9/discord", "send_resolved": True}],
            "telegram_configs": [
                {
                    "api_url": "https://api.telegram.org",
                    "bot_token": "123:abc",
                    "chat_id": -1001234567890,
                    "send_resolved": True,
                    "parse_mode": "HTML",
                }
            ],
            "webhook_configs": [
                {"url": "http://127.0.0.1:9/x", "send_resolved": True},
                {"url": "http://127.0.0.1:9/y", "send_resolved": True},
            ],
        },
        {"name": "watchdog"},
    ]


def route_of(config: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """The settings of the route an alert with LABELS takes (Alertmanager's first matching child, which
    inherits what it does not set), for a tree one level deep as the config's."""
    top = {k: v for k, v in config["route"].items() if k != "routes"}
    for child in config["route"].get("routes", []):
        if matches(child.get("matchers", []), labels):
            return {**top, **{k: v for k, v in child.items() if k != "matchers"}}
    return top


@pytest.mark.parametrize(
    ("severity", "group_by", "group_interval", "repeat_interval"),
    [
        ("critical", ["alertname", "host"], "5m", "1h"),
        ("warning", ["alertname"], "1h", "24h"),
    ],
)
def test_critical_repeats_hourly_warnings_group_across_hosts_at_most_daily(
    tmp_path: Path, prom_tools: Path, defaults_dir: Path,
    severity: str, group_by: list[str], group_interval: str, repeat_interval: str,
) -> None:  # fmt: skip
    path, config = alertmanager(tmp_path, **RECEIVERS)
    names = [n for n, rule in rules_of(defaults_dir).items() if rule["labels"]["severity"] == severity]
    assert names, severity
    for name in names:
        labels = {"alertname": name, "host": "pi5-a", "severity": severity}
        args = [f"{k}={v}" for k, v in labels.items()]
        routed = run(prom_tools / "amtool", "config", "routes", "test", f"--config.file={path}", *args)
        assert routed.returncode == 0, routed.stderr
        assert routed.stdout.strip() == "operators", name
        route = route_of(config, labels)
        assert route["group_by"] == group_by, name
        assert route["group_interval"] == group_interval, name
        assert route["repeat_interval"] == repeat_interval, name
    # amtool's own reading of the tree: a child per severity, under the operators' root.
    shown = run(prom_tools / "amtool", "config", "routes", "show", f"--config.file={path}")
    assert shown.returncode == 0, shown.stderr
    assert f'severity="{severity}"' in shown.stdout, shown.stdout


@pytest.mark.parametrize("url", ["", "https://hc-ping.example/5f2c-ping"])
def test_the_watchdog_reaches_the_dead_mans_switch_alone(
    tmp_path: Path, prom_tools: Path, defaults_dir: Path, url: str
) -> None:
    """The always-firing Watchdog, labelled as its rule labels it, goes to the switch's webhook, at once and
    every few minutes, never resolved (one more ping); without a URL, to a receiver that sends nothing: never
    to the operators' receivers."""
    path, config = alertmanager(
        tmp_path, **RECEIVERS,
        monitoring_alertmanager_watchdog_url=url, monitoring_alertmanager_watchdog_repeat="3m",
    )  # fmt: skip
    checked = run(prom_tools / "amtool", "check-config", path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    labels = {"alertname": WATCHDOG, **rules_of(defaults_dir)[WATCHDOG]["labels"]}
    args = [f"{k}={v}" for k, v in labels.items()]
    routed = run(prom_tools / "amtool", "config", "routes", "test", f"--config.file={path}", *args)
    assert routed.returncode == 0, routed.stderr
    assert routed.stdout.strip() == "watchdog"
    route = route_of(config, labels)
    assert (route["receiver"], route["group_wait"], route["repeat_interval"]) == ("watchdog", "0s", "3m")
    # The repeat is judged at each group_interval: one longer than the repeat would stretch it.
    assert route["group_interval"] == "1m"
    switch = next(r for r in config["receivers"] if r["name"] == "watchdog")
    if url:
        assert switch == {"name": "watchdog", "webhook_configs": [{"url": url, "send_resolved": False}]}
    else:
        assert switch == {"name": "watchdog"}


def vaulted(monkeypatch: pytest.MonkeyPatch, **values: str) -> dict[str, Any]:
    """VALUES as an inventory gives them: `!vault` strings, decrypted when templated."""
    secrets = [("default", vault.VaultSecret(b"pifleet-test"))]
    context = getattr(vault, "VaultSecretsContext", None)
    if context is not None:  # 2.19+: one context per process, which ansible-playbook sets up
        monkeypatch.setattr(context, "_current", context(secrets))
    loader = DataLoader()
    loader.set_vault_secrets(secrets)
    encrypt = vault.VaultLib(secrets).encrypt
    doc = "".join(
        f"{name}: !vault |\n{textwrap.indent(encrypt(value).decode(), '  ')}\n"
        for name, value in values.items()
    )
    loaded = loader.load(doc)
    assert isinstance(loaded, dict)
    return loaded


def test_vaulted_secrets_come_through_whatever_they_hold(
    tmp_path: Path, prom_tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What YAML would misread unquoted: a colon and a space, a comment, quotes, a backslash, braces.
    token = "123:abc\"#\\ 'x: {y}"
    url = "http://127.0.0.1:9/api/webhooks/1/a?b=c&d=e#f"
    secrets = vaulted(
        monkeypatch,
        monitoring_alertmanager_telegram_bot_token=token,
        monitoring_alertmanager_telegram_chat_id="-1001234567890",
        monitoring_alertmanager_discord_webhook_url=url,
    )
    path, config = alertmanager(tmp_path, **secrets)
    checked = run(prom_tools / "amtool", "check-config", path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    receiver = config["receivers"][0]
    assert receiver["telegram_configs"][0]["bot_token"] == token
    assert receiver["telegram_configs"][0]["chat_id"] == -1001234567890
    assert receiver["discord_configs"][0]["webhook_url"] == url


def test_half_a_telegram_setup_is_refused() -> None:
    with pytest.raises(AnsibleError, match="set both or neither"):
        render("alertmanager.yml.j2", monitoring_alertmanager_telegram_bot_token="123:abc")
    with pytest.raises(AnsibleError, match="set both or neither"):
        render("alertmanager.yml.j2", monitoring_alertmanager_telegram_chat_id=42)


MATCHER = re.compile(r'^\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')


def matches(matchers: list[str], labels: dict[str, str]) -> bool:
    """Alertmanager's matchers (label op value), for the plain values the config uses."""
    for text in matchers:
        found = MATCHER.match(text)
        assert found, f"not a matcher: {text!r}"
        name, op, value = found.groups()
        got = labels.get(name, "")
        ok = {
            "=": got == value,
            "!=": got != value,
            "=~": re.fullmatch(value, got) is not None,
            "!~": re.fullmatch(value, got) is None,
        }[op]
        if not ok:
            return False
    return True


def muted(config: dict[str, Any], target: dict[str, str], firing: list[dict[str, str]]) -> bool:
    """Whether Alertmanager holds TARGET back while FIRING fire (an alert never inhibits itself)."""
    return any(
        matches(rule.get("target_matchers", []), target)
        and any(
            source != target
            and matches(rule.get("source_matchers", []), source)
            and all(source.get(label) == target.get(label) for label in rule.get("equal", []))
            for source in firing
        )
        for rule in config.get("inhibit_rules", [])
    )


def test_a_down_host_or_bot_or_a_refused_key_holds_back(tmp_path: Path, defaults_dir: Path) -> None:
    _, config = alertmanager(tmp_path)
    host_down = next(r for r in config["inhibit_rules"] if "alertname = HostDown" in r["source_matchers"])
    assert host_down["equal"] == ["host"]
    # The alerts as the rules label them (alertname, component), on two hosts.
    rules = rules_of(defaults_dir)

    def alert(name: str, host: str) -> dict[str, str]:
        labels = {"alertname": name, "component": rules[name]["labels"]["component"]}
        return labels if name == WATCHDOG else {**labels, "host": host}

    down = alert("HostDown", "pi5-a")
    for name in rules:
        assert muted(config, alert(name, "pi5-a"), [down]) == (name not in ("HostDown", WATCHDOG)), name
        assert not muted(config, alert(name, "pi5-b"), [down]), name
    key = alert("BotKeyRejected", "pi5-a")
    for name in rules:
        assert muted(config, alert(name, "pi5-a"), [key]) == (name == "BotHalted"), name
        assert not muted(config, alert(name, "pi5-b"), [key]), name
    bot_down = alert("BotDown", "pi5-a")
    for name in rules:
        held = name in ALERTS["bot"] and name != "BotDown"
        assert muted(config, alert(name, "pi5-a"), [bot_down]) == held, name
        assert not muted(config, alert(name, "pi5-b"), [bot_down]), name
    # A host's bots each on its own: one bot's BotDown or refused key holds back none of its neighbour's.
    for source, held in (("BotDown", "BotHalted"), ("BotKeyRejected", "BotHalted")):
        wide = {**alert(source, "pi5-a"), "bot": "wide"}
        assert muted(config, {**alert(held, "pi5-a"), "bot": "wide"}, [wide]), source
        assert not muted(config, {**alert(held, "pi5-a"), "bot": "default"}, [wide]), source
    # An exchange down holds back its bots' breaker, error and candle alerts, on every host, and nothing of
    # another exchange's; a bot's alert without the exchange's labels (a bot from before
    # gridbot_exchange_info) is not held back.
    exchange_down = {"alertname": "ExchangeDown", "component": "bot", "exchange": "binance", "api": "default"}
    for name in rules:
        consequence = name in ("BotBreakerOpen", "BotApiErrors", "BotNoCandle")
        for exchange, api, held in (("binance", "default", consequence), ("kraken", "default", False),
                                    ("binance", "127.0.0.1:8900", False)):  # fmt: skip
            target = {**alert(name, "pi5-b"), "exchange": exchange, "api": api}
            assert muted(config, target, [exchange_down]) == held, (name, exchange, api)
    assert not muted(config, alert("BotBreakerOpen", "pi5-b"), [exchange_down])
