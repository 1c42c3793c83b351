"""promtool's rule unit tests replayed through vmalert, the evaluator the monitoring host runs: each test's
input series imported into a VictoriaMetrics of Debian's package on loopback, the rules evaluated over them by
`vmalert -replay` (MetricsQL, as on the Pis), and the alerts it wrote (its ALERTS series) read back at each
eval_time the test names. What promtool's PromQL fires and what MetricsQL fires can then be compared.

Each test gets a window of its own, 30 days after the last (longer than any range a rule reads), so that no
rule sees another test's series. promtool's clock starts at 0; the series a rule compares with time() hold
such times, so they are moved with their window."""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from local_victoria import VictoriaMetrics
from prometheus_client.parser import text_string_to_metric_families

# A retention of a century: the tests' windows start in 1970, as promtool's clock does. No cache: each test's
# window is read once.
FLAGS = ("-retentionPeriod=100y", "-search.disableCache")

WINDOW_S = 30 * 86_400
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400, "y": 365 * 86_400}
# Labels vmalert adds to ALERTS that promtool's exp_labels do not name.
VMALERT_LABELS = {"__name__", "alertname", "alertstate", "alertgroup"}


def seconds(duration: str) -> int:
    parts = re.findall(r"(\d+)([smhdwy])", duration)
    assert "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    assert parts, f"not a duration: {duration!r}"
    return sum(int(n) * UNITS[u] for n, u in parts)


def expand(values: str) -> list[float | None]:
    """promtool's expanding notation: `a+bxn` and `a-bxn` (n+1 values), `axn`, `_` and `_xn` (no sample),
    `stale` (none either: the series ends there, as a missing sample lets it)."""
    out: list[float | None] = []
    for token in values.split():
        if gap := re.fullmatch(r"(?:_|stale)(?:x(\d+))?", token):
            out += [None] * (int(gap.group(1) or 0) + 1)
        elif run := re.fullmatch(r"([-+]?[\d.eE+]+?)(?:([-+])([\d.eE]+))?x(\d+)", token):
            first, step = float(run.group(1)), float(run.group(3) or 0) * (-1 if run.group(2) == "-" else 1)
            out += [first + step * i for i in range(int(run.group(4)) + 1)]
        else:
            out.append(float(token))
    return out


def series_labels(series: str) -> dict[str, str]:
    """`name{a="b"}` as labels, by the exposition format's own parser."""
    (family,) = text_string_to_metric_families(series.strip() + " 0\n")
    (sample,) = family.samples
    return {"__name__": sample.name, **sample.labels}


@dataclass(frozen=True)
class Verdict:
    case: str
    test: str
    eval_time: str
    alertname: str
    expected: list[dict[str, str]]
    firing: list[dict[str, str]]

    def agrees(self) -> bool:
        return sorted(map(_key, self.expected)) == sorted(map(_key, self.firing))


def _key(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True)


def _stamp(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def replay(vmalert: Path, vm: VictoriaMetrics, rules: Path, cases: list[Path]) -> list[Verdict]:
    """Every test of every case file, each in its window: what vmalert fired at each of its eval_times."""
    timed = set(re.findall(r"time\(\) - ([a-zA-Z_:][a-zA-Z0-9_:]*)", rules.read_text()))
    verdicts = []
    window = 0
    for case in cases:
        doc = yaml.safe_load(case.read_text())
        every = seconds(doc.get("evaluation_interval", "1m"))
        for test in doc["tests"]:
            window += 1
            t0 = window * WINDOW_S
            step = seconds(test.get("interval", "1m"))
            lines = []
            for s in test["input_series"]:
                labels = series_labels(s["series"])
                shift = t0 if labels["__name__"] in timed else 0
                points = [
                    (t0 + i * step, v + shift)
                    for i, v in enumerate(expand(str(s["values"])))
                    if v is not None
                ]
                if points:
                    lines.append(json.dumps({"metric": labels, "values": [v for _, v in points],
                                             "timestamps": [t * 1000 for t, _ in points]}))  # fmt: skip
            vm.call("/api/v1/import", "\n".join(lines).encode())
            vm.flush()
            checks = test["alert_rule_test"]
            end = t0 + max(seconds(c["eval_time"]) for c in checks)
            done = subprocess.run(
                [vmalert, f"-rule={rules}", f"-datasource.url={vm.url}", f"-remoteWrite.url={vm.url}",
                 f"-replay.timeFrom={_stamp(t0)}", f"-replay.timeTo={_stamp(end)}", "-replay.rulesDelay=0",
                 "-replay.disableProgressBar", f"-evaluationInterval={every}s",
                 # each evaluation's step: otherwise a range query's 5m default, one evaluation in 20
                 f"-datasource.queryStep={every}s", "-loggerLevel=ERROR"],
                capture_output=True, text=True, check=False, timeout=300,
            )  # fmt: skip
            assert done.returncode == 0, f"{case.name} {test['name']}: vmalert -replay: {done.stderr[-3000:]}"
            vm.flush()
            fired = firing_by_time(vm, t0, end)
            for check in checks:
                # promtool judges the last evaluation at or before eval_time
                at = t0 + seconds(check["eval_time"]) // every * every
                firing = [a for a in fired.get(at, []) if a["alertname"] == check["alertname"]]
                expected = [
                    {k: str(v) for k, v in a["exp_labels"].items()} for a in check.get("exp_alerts") or []
                ]
                got = [{k: v for k, v in a.items() if k not in VMALERT_LABELS} for a in firing]
                verdicts.append(
                    Verdict(case.name, test["name"], check["eval_time"], check["alertname"], expected, got)
                )
    return verdicts


def firing_by_time(vm: VictoriaMetrics, start: int, end: int) -> dict[int, list[dict[str, str]]]:
    """The firing alerts vmalert wrote between start and end, by the evaluation's time (seconds)."""
    out: dict[int, list[dict[str, str]]] = {}
    body = vm.call("/api/v1/export", **{"match[]": 'ALERTS{alertstate="firing"}', "start": start, "end": end})
    for line in body.decode().splitlines():
        row = json.loads(line)
        for ts in row["timestamps"]:
            out.setdefault(ts // 1000, []).append(row["metric"])
    return out
