#!/usr/bin/env python3
"""Where make test's minutes go, and a guard against their drift (docs/testing.md, "Where the minutes go").

    test-times.py begin                      a new record (.cache/test-times/), at make test's start
    test-times.py run [--group G] [--log FILE] NAME -- COMMAND...
                                             COMMAND as phase NAME: its output and exit status passed through
                                             (and its lines appended to FILE, for make test's summary)
    test-times.py report                     .cache/test-times.json, the table, the guard (exit 1: slow)
    test-times.py median RUN...              .ci/test-times-median.json from recorded runs (JSON or logs)

`run` times its command (wall, and the user+sys CPU of the processes it waited for) and the parts its output
shows as the lines arrive: each Molecule scenario and step ("INFO     [default > converge] Executing" ...
"Executed: Successful", or with colours "default ➜ converge:"), and each pytest run outside a step (make
unit's test directories). The guard fails a phase that took more than `factor` times its median and
`min_excess_s` more, except the phases `exclude` names (their time is a cache's: warm or not).
Standard library only: make test's first phases run before the venv exists.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("test-times")

PROJECT = Path(__file__).resolve().parents[2]
RECORDS = PROJECT / ".cache" / "test-times"
OUT = PROJECT / ".cache" / "test-times.json"
MEDIANS = PROJECT / ".ci" / "test-times-median.json"
# The whole record on one line of make test's output: CI keeps the log, not .cache.
JSON_LINE = "== test-times.json: "
CLK_TCK = os.sysconf("SC_CLK_TCK")
# After its command ends, how long `run` waits for the rest of the output: a process the command left behind
# (a daemon) may hold the pipe open for ever.
DRAIN_IDLE_S = 0.5
DRAIN_MAX_S = 10.0

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STEP = re.compile(
    r"^(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+"
    r"(?:\[(?P<s1>[^\]\s]+) > (?P<a1>[\w-]+)\]|(?P<s2>\S+) ➜ (?P<a2>[\w-]+):) "
    r"(?:Executing|Executed: (?P<result>.+))$"
)
OK_STEP = ("Successful", "Skipped", "Missing", "Disabled")
PYTEST_START = re.compile(r"^=+ test session starts =+$")
PYTEST_END = re.compile(r"^=+ (?P<result>.+?) in [\d.]+s(?: \([\d:.]+\))? =+$")
# A progress line: the file, then its tests' marks (or with -v, ::test RESULT).
PYTEST_FILE = re.compile(r"^(?P<path>[\w.-]+(?:/[\w.-]+)+\.py)(?:\s|::|$)")


@dataclass(frozen=True)
class Sample:
    t: float  # time.monotonic(): one clock for every process on the machine
    cpu: float  # user+sys seconds of the command and its descendants so far
    host_cpu: float  # the machine's busy CPU seconds so far


@dataclass
class Phase:
    name: str
    parent: str | None
    start: float  # time.monotonic() in a command's record; seconds since make test began in the report
    wall: float
    cpu: float
    host_cpu: float
    result: str

    @classmethod
    def between(cls, name: str, parent: str | None, a: Sample, b: Sample, result: str) -> Phase:
        # A process that leaves the tree (a daemon) takes its CPU with it: a part's CPU is never below 0.
        return cls(name, parent, a.t, b.t - a.t, max(0.0, b.cpu - a.cpu), b.host_cpu - a.host_cpu, result)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "parent": self.parent,
            "start_s": round(self.start, 1),
            "wall_s": round(self.wall, 1),
            "cpu_s": round(self.cpu, 1),
            "host_cpu_s": round(self.host_cpu, 1),
            "result": self.result,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Phase:
        figures = (d["start_s"], d["wall_s"], d["cpu_s"], d["host_cpu_s"])
        return cls(d["name"], d["parent"], *figures, d["result"])


def host_cpu() -> float:
    with open("/proc/stat", encoding="ascii") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def tree_cpu(root: int) -> float:
    """User+sys seconds of root and its living descendants, each with the children it has waited for."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{entry.path}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:  # gone since the listing
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # the name in parentheses may hold anything
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        ticks[pid] = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total / CLK_TCK


@dataclass
class _Step:
    name: str
    parent: str
    start: Sample
    key: tuple[str, str]


@dataclass
class _Session:
    start: Sample
    where: str = ""  # the directory all its files are in: the one pytest was given
    listing: bool = True  # in its progress lines (before its first ==== section)


@dataclass
class _Scenario:
    name: str
    row: str | None  # None: the command is the scenario (make test's fleet), its row the command's
    start: Sample
    end: Sample
    trouble: str = ""


class Splitter:
    """The parts of a command's run, found in its output as the lines arrive: Molecule's scenarios and their
    steps, and each pytest run outside a step (testinfra's runs are the verify step's)."""

    def __init__(self, run: str, sample: Callable[[], Sample]) -> None:
        self.run = run
        self.sample = sample
        self.phases: list[Phase] = []
        self._seen: dict[str, int] = {}
        self._step: _Step | None = None
        self._scenario: _Scenario | None = None
        self._session: _Session | None = None

    def feed(self, raw: str) -> None:
        line = ANSI.sub("", raw).rstrip("\r\n")
        step = STEP.match(line)
        if step:
            scenario, action = step["s1"] or step["s2"], step["a1"] or step["a2"]
            if step["result"] is None:
                self._begin_step(scenario, action, self.sample())
            elif self._step is not None and self._step.key == (scenario, action):
                self._end_step(self.sample(), step["result"])
        elif self._step is None:
            self._pytest(line)

    def close(self, end: Sample) -> list[Phase]:
        """The parts, the open ones ended at end (the command's own end)."""
        self._end_step(end, "no end line")
        self._end_scenario()
        self._end_session(end, "no end line")
        return self.phases

    def _unique(self, name: str) -> str:
        # Molecule's test sequence destroys twice (before and after): the second is "default destroy #2".
        n = self._seen[name] = self._seen.get(name, 0) + 1
        return name if n == 1 else f"{name} #{n}"

    def _begin_step(self, scenario: str, action: str, now: Sample) -> None:
        self._end_step(now, "no end line")
        self._end_session(now, "no end line")
        if self._scenario is None or self._scenario.name != scenario:
            self._end_scenario()
            row = None if scenario == self.run else self._unique(scenario)
            self._scenario = _Scenario(scenario, row, now, now)
        parent = self._scenario.row or self.run
        self._step = _Step(self._unique(f"{scenario} {action}"), parent, now, (scenario, action))

    def _end_step(self, now: Sample, result: str) -> None:
        if self._step is None or self._scenario is None:
            return
        self.phases.append(Phase.between(self._step.name, self._step.parent, self._step.start, now, result))
        self._scenario.end = now
        if result not in OK_STEP and not self._scenario.trouble:
            self._scenario.trouble = f"{result}: {self._step.key[1]}"
        self._step = None

    def _end_scenario(self) -> None:
        s, self._scenario = self._scenario, None
        if s is not None and s.row is not None:
            self.phases.append(Phase.between(s.row, self.run, s.start, s.end, s.trouble or "Successful"))

    def _pytest(self, line: str) -> None:
        if PYTEST_START.match(line):
            now = self.sample()
            self._end_session(now, "no end line")
            self._session = _Session(now)
            return
        s = self._session
        if s is None:
            return
        end = PYTEST_END.match(line)
        if end:
            self._end_session(self.sample(), end["result"])
        elif line.startswith("="):
            s.listing = False
        elif s.listing and (progress := PYTEST_FILE.match(line)):
            where = os.path.dirname(progress["path"])
            s.where = os.path.commonpath([s.where, where]) if s.where else where

    def _end_session(self, now: Sample, result: str) -> None:
        s, self._session = self._session, None
        if s is not None:
            name = self._unique(f"{self.run} {s.where or 'pytest'}")
            self.phases.append(Phase.between(name, self.run, s.start, now, result))


# --- run: a command as a phase -------------------------------------------------------------------------


def _note_signal(signum: int, _frame: object) -> None:
    log.debug("signal %d: waiting for the command, which got it too", signum)


def _forward(fd: int, data: bytes) -> bool:
    """Write data to fd whole; False when fd is gone (a closed pipe, a hung-up terminal)."""
    while data:
        try:
            data = data[os.write(fd, data) :]
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            return False
    return True


def _same_file(a: int, b: int) -> bool:
    try:
        sa, sb = os.fstat(a), os.fstat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


class _Pump:
    """A command's output passed on to this process's stdout and stderr as it comes, its lines to feed."""

    def __init__(self, streams: dict[int, tuple[IO[bytes], int]], feed: Callable[[bytes], None]) -> None:
        self.streams = streams  # the read end's descriptor: the pipe, the descriptor it goes to
        self.feed = feed
        self.pending = dict.fromkeys(streams, b"")
        self.selector = selectors.DefaultSelector()
        for fd in streams:
            self.selector.register(fd, selectors.EVENT_READ)

    def pump(self, timeout: float) -> bool:
        """Pass on what arrives within timeout; False when nothing did."""
        events = self.selector.select(timeout)
        for key, _ in events:
            fd = int(key.fd)
            data = os.read(fd, 65536)
            if data and _forward(self.streams[fd][1], data):
                *lines, self.pending[fd] = (self.pending[fd] + data).split(b"\n")
                for line in lines:
                    self.feed(line)
            else:  # its end, or its reader gone: the command meets the closed pipe as it would have
                self._close(fd)
        return bool(events)

    def close(self) -> None:
        for rest in self.pending.values():
            if rest:
                self.feed(rest)
        for fd in list(self.streams):
            self._close(fd)

    def _close(self, fd: int) -> None:
        self.selector.unregister(fd)
        self.streams.pop(fd)[0].close()


def _guarded(splitter: Splitter, name: str, copy: IO[bytes] | None) -> Callable[[bytes], None]:
    parsing = True

    def feed(line: bytes) -> None:
        nonlocal parsing
        if copy:
            copy.write(line + b"\n")
        if parsing:
            try:
                splitter.feed(line.decode("utf-8", "replace"))
            except Exception:  # the parts are a report: never a reason to disturb the command
                log.exception("%s: no parts recorded past this line: %r", name, line[:200])
                parsing = False

    return feed


def _ended(usage: resource.struct_rusage) -> Sample:
    return Sample(time.monotonic(), usage.ru_utime + usage.ru_stime, host_cpu())


def _wait(name: str, child: subprocess.Popen[bytes], pump: _Pump) -> tuple[int, Sample]:
    """The command's wait status and end, its output passed on meanwhile."""
    while pump.streams:
        pump.pump(1.0)
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            end = _ended(usage)
            while pump.streams and pump.pump(DRAIN_IDLE_S) and time.monotonic() - end.t < DRAIN_MAX_S:
                pass
            if pump.streams:
                log.warning(
                    "%s ended; a process it left behind holds its output open: not waiting for it", name
                )
            return status, end
    _, status, usage = os.wait4(child.pid, 0)
    return status, _ended(usage)


def run(
    name: str, group: str | None, command: Sequence[str], records: Path, log_to: Path | None = None
) -> int:
    """Run command as it would run without this wrapper (same stdin, environment, descriptors, signals),
    its output passed on as it comes (and appended to log_to); record the phase; return what its exit status
    says to return."""
    # The shell or terminal signals the whole process group: the command gets it too and ends as it chooses,
    # and this process waits to record that. Signals arriving ignored stay ignored for the command too.
    for each in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        if signal.getsignal(each) is not signal.SIG_IGN:
            signal.signal(each, _note_signal)
    start = Sample(time.monotonic(), 0.0, host_cpu())
    # One pipe when stdout and stderr are one file (a log, a terminal): the lines keep their order.
    stderr = subprocess.STDOUT if _same_file(1, 2) else subprocess.PIPE
    try:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, close_fds=False)
    except OSError as e:
        log.error("%s: %s", command[0], e.strerror)
        return 127 if isinstance(e, FileNotFoundError) else 126
    splitter = Splitter(name, lambda: Sample(time.monotonic(), tree_cpu(child.pid), host_cpu()))
    pipes = [(child.stdout, 1), (child.stderr, 2)]
    with contextlib.ExitStack() as stack:
        copy = stack.enter_context(log_to.open("ab", buffering=0)) if log_to else None
        streams = {pipe.fileno(): (pipe, to) for pipe, to in pipes if pipe}
        pump = _Pump(streams, _guarded(splitter, name, copy))
        status, end = _wait(name, child, pump)
        pump.close()
    child.returncode = code = os.waitstatus_to_exitcode(status)
    result = f"signal {-code} ({signal.strsignal(-code)})" if code < 0 else f"exit {code}"
    phases = [Phase.between(name, None, start, end, result), *splitter.close(end)]
    try:
        records.mkdir(parents=True, exist_ok=True)
        path = records / (re.sub(r"[^\w.-]+", "-", name) + ".phase.json")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"group": group, "phases": [p.to_json() for p in phases]}) + "\n")
        tmp.replace(path)
    except OSError as e:
        log.warning("%s: its times not recorded: %s", name, e)
    if code < 0:
        # Ended by a signal, as the command was: whoever waits for this process sees what it would have seen.
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


def begin(records: Path) -> None:
    records.mkdir(parents=True, exist_ok=True)
    for old in records.glob("*.json"):
        old.unlink()
    try:
        commit = subprocess.run(
            ["git", "-C", str(PROJECT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = ""
    begun = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "t": time.monotonic(),
        "host_cpu": host_cpu(),
        "commit": commit,
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
    }
    (records / "begin.json").write_text(json.dumps(begun) + "\n")


# --- report: the run's record, its table, the guard ----------------------------------------------------


def assemble(begun: dict[str, Any], records: Iterable[dict[str, Any]], now: Sample) -> dict[str, Any]:
    """The run's record: every command's phases and parts since make test began, a row for each group (the
    foreground's commands, one after another) and the total."""
    t0 = begun["t"]
    phases: list[Phase] = []
    commands: list[Phase] = []
    groups: dict[str, list[Phase]] = {}
    for record in records:
        found = [Phase.from_json(p) for p in record["phases"]]
        for p in found:
            p.start -= t0
        commands.append(found[0])
        if record["group"]:
            found[0].parent = record["group"]
            groups.setdefault(record["group"], []).append(found[0])
        phases += found
    for group, members in groups.items():
        first = min(p.start for p in members)
        last = max(p.start + p.wall for p in members)
        bad = [f"{p.name} {p.result}" for p in members if p.result != "exit 0"]
        phases.append(
            Phase(
                group,
                None,
                first,
                last - first,
                sum(p.cpu for p in members),
                sum(p.host_cpu for p in members),
                ", ".join(bad) or "exit 0",
            )
        )
    passed = all(p.result == "exit 0" for p in commands)
    total = Phase(
        "total",
        None,
        0.0,
        now.t - t0,
        sum(p.cpu for p in commands),
        now.host_cpu - begun["host_cpu"],
        "passed" if passed else "failed",
    )
    return {
        **{k: begun[k] for k in ("started", "commit", "host", "cpus")},
        "passed": passed,
        "phases": [p.to_json() for p in _table_order(phases)] + [total.to_json()],
    }


def _table_order(phases: list[Phase]) -> list[Phase]:
    """Parents before their parts, each level by start."""
    names = {p.name for p in phases}
    kids: dict[str | None, list[Phase]] = {}
    for p in phases:
        kids.setdefault(p.parent if p.parent in names else None, []).append(p)
    ordered: list[Phase] = []

    def walk(parent: str | None) -> None:
        for p in sorted(kids.get(parent, []), key=lambda p: p.start):
            ordered.append(p)
            walk(p.name)

    walk(None)
    return ordered


def judge(run: dict[str, Any], medians: dict[str, Any], path: Path = MEDIANS) -> list[str]:
    """Each phase's verdict and median into run; the names of the phases too slow."""
    factor, floor = float(medians["factor"]), float(medians["min_excess_s"])
    slow = []
    for p in run["phases"]:
        known = medians["phases"].get(p["name"])
        p["median_s"] = known["median_s"] if known else None
        if any(fnmatchcase(p["name"], pattern) for pattern in medians["exclude"]):
            p["verdict"] = "excluded"
        elif known is None:
            p["verdict"] = "no median"
        elif p["wall_s"] > factor * known["median_s"] and p["wall_s"] - known["median_s"] > floor:
            p["verdict"] = "slow"
            slow.append(p["name"])
        else:
            p["verdict"] = "ok"
    shown = path.relative_to(PROJECT) if path.is_relative_to(PROJECT) else path
    run["guard"] = {"medians": str(shown), "factor": factor, "min_excess_s": floor}
    run["slow"] = slow
    return slow


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}"


def _ratio(p: dict[str, Any]) -> str:
    return f"{p['wall_s'] / p['median_s']:.1f}x" if p["median_s"] else "-"


def render(run: dict[str, Any], medians: dict[str, Any]) -> str:
    """The table of the run's phases, and the guard's verdict under it."""
    depth: dict[str, int] = {}
    rows = [("phase", "start", "wall", "median", "guard", "cpu", "host cpu", "result")]
    for p in run["phases"]:
        depth[p["name"]] = depth.get(p["parent"], -1) + 1 if p["parent"] else 0
        guard = p["verdict"]
        if guard in ("ok", "slow"):
            guard = f"{'SLOW' if guard == 'slow' else 'ok'} {_ratio(p)}"
        rows.append(
            (
                "  " * depth[p["name"]] + p["name"],
                _minutes(p["start_s"]),
                _minutes(p["wall_s"]),
                _minutes(p["median_s"]),
                guard,
                _minutes(p["cpu_s"]),
                _minutes(p["host_cpu_s"]),
                p["result"],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "== where make test's minutes went (minutes; cpu: user+sys of the phase's own processes, host cpu: "
        f"the whole machine's while it ran; {OUT.relative_to(PROJECT)})",
    ]
    for r in rows:
        # The name, the guard's verdict and the result read from the left, the figures from the right.
        cells = [
            c.ljust(w) if i in (0, 4) else c.rjust(w)
            for i, (c, w) in enumerate(zip(r[:-1], widths, strict=True))
        ]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    guarded = [p for p in run["phases"] if p["verdict"] in ("ok", "slow")]
    unknown = [p for p in run["phases"] if p["verdict"] == "no median"]
    missing = sorted(set(medians["phases"]) - {p["name"] for p in run["phases"]})
    factor, floor = run["guard"]["factor"], run["guard"]["min_excess_s"]
    if unknown:
        lines.append(f"== test-times: {len(unknown)} phase(s) with no median yet: reported, not judged")
    if missing:
        lines.append(f"== test-times: in the medians, not in this run: {', '.join(missing)}")
    if not run["slow"]:
        lines.append(f"== test-times: no phase took more than {factor:g}x its median ({len(guarded)} judged)")
        return "\n".join(lines)
    lines.append(
        f"== test-times: FAILED: {len(run['slow'])} phase(s) took more than {factor:g}x their median and "
        f"{floor:g} s more ({run['guard']['medians']}):"
    )
    for p in run["phases"]:
        if p["verdict"] == "slow":
            lines.append(
                f"==   {p['name']}: {_minutes(p['wall_s'])} min against a median of "
                f"{_minutes(p['median_s'])} min ({_ratio(p)}; the median: "
                f"{medians['phases'][p['name']].get('source', '')})"
            )
    lines.append(
        "== Find what made it slower (its part of the log above); if its new time is right, record the "
        "medians of warm runs: tools/host/test-times.py median RUN.json... (docs/testing.md)"
    )
    return "\n".join(lines)


def load_medians(path: Path) -> dict[str, Any]:
    medians: dict[str, Any] = json.loads(path.read_text())
    for key in ("factor", "min_excess_s", "exclude", "phases"):
        if key not in medians:
            raise ValueError(f"{path}: no {key!r}")
    for name, known in medians["phases"].items():
        if not isinstance(known.get("median_s"), (int, float)) or known["median_s"] < 0:
            raise ValueError(f"{path}: {name}: no median_s of 0 s or more")
    return medians


def report(records: Path, medians_path: Path, out: Path) -> int:
    try:
        begun = json.loads((records / "begin.json").read_text())
    except (OSError, ValueError) as e:
        log.error("no record of make test's start (%s begin): %s", Path(sys.argv[0]).name, e)
        return 1
    found = []
    for path in sorted(records.glob("*.phase.json")):
        try:
            found.append(json.loads(path.read_text()))
        except ValueError as e:
            log.warning("%s: not read: %s", path, e)
    run = assemble(begun, found, Sample(time.monotonic(), 0.0, host_cpu()))
    try:
        medians = load_medians(medians_path)
    except (OSError, ValueError) as e:
        log.error("the guard cannot judge this run: %s", e)
        medians = {"factor": 2.0, "min_excess_s": 0.0, "exclude": [], "phases": {}}
        broken = True
    else:
        broken = False
    slow = judge(run, medians, medians_path.resolve())
    out.write_text(json.dumps(run, indent=1) + "\n")
    print(JSON_LINE + json.dumps(run, separators=(",", ":")))
    print(render(run, medians), flush=True)
    return 1 if slow or broken else 0


# --- median: the guard's medians from recorded runs ----------------------------------------------------


def read_run(path: Path) -> dict[str, Any]:
    """A run's record: make test's .cache/test-times.json, or a saved make test output (a CI log)."""
    text = path.read_text(errors="replace")
    if text.lstrip().startswith("{"):
        run: dict[str, Any] = json.loads(text)
        return run
    for line in reversed(ANSI.sub("", text).splitlines()):
        if line.startswith(JSON_LINE):
            logged: dict[str, Any] = json.loads(line[len(JSON_LINE) :])
            return logged
    raise ValueError(f"{path}: neither a test-times.json nor a log with a {JSON_LINE.strip()!r} line")


def medians_of(runs: Sequence[dict[str, Any]], old: dict[str, Any]) -> dict[str, Any]:
    """old with each phase the runs recorded given the median of their wall times; excluded phases left out,
    phases the runs lack kept as they were."""
    walls: dict[str, list[float]] = {}
    for run in runs:
        for p in run["phases"]:
            if not any(fnmatchcase(p["name"], pattern) for pattern in old["exclude"]):
                walls.setdefault(p["name"], []).append(p["wall_s"])
    named = ", ".join(f"{r['started'][:10]} {r['commit']}".strip() for r in runs)
    phases = dict(old["phases"])
    for name, seen in walls.items():
        phases[name] = {
            "median_s": round(statistics.median(seen), 1),
            "runs": len(seen),
            "source": f"median of {len(seen)} recorded run(s) of make test: {named}",
        }
    return {**old, "phases": phases}


def median(paths: Sequence[Path], medians_path: Path) -> int:
    runs = []
    for path in paths:
        try:
            run = read_run(path)
        except (OSError, ValueError) as e:
            log.error("%s", e)
            return 1
        if run["passed"]:
            runs.append(run)
        else:
            log.warning("%s: a failed run (its phases cut short): left out", path)
    if not runs:
        log.error("no passed run among %s", ", ".join(map(str, paths)))
        return 1
    medians_path.write_text(json.dumps(medians_of(runs, load_medians(medians_path)), indent=2) + "\n")
    print(f"{medians_path}: medians of {len(runs)} run(s)")
    return 0


def main(argv: Sequence[str]) -> int:
    logging.basicConfig(format="test-times: %(message)s", level=logging.INFO)
    argv = list(argv)
    command: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=Path, default=RECORDS, help="the commands' records (%(default)s)")
    parser.add_argument("--medians", type=Path, default=MEDIANS, help="the guard's medians (%(default)s)")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("begin")
    one = sub.add_parser("run", usage="%(prog)s [--group G] [--log FILE] NAME -- COMMAND...")
    one.add_argument("--group", help="a row spanning its commands (make test's foreground)")
    one.add_argument("--log", type=Path, help="a file its output's lines are appended to, as they come")
    one.add_argument("name")
    sub.add_parser("report").add_argument("--out", type=Path, default=OUT)
    sub.add_parser("median").add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.action == "run":
        if not command:
            parser.error("run: no command after --")
        return run(args.name, args.group, command, args.records, args.log)
    if args.action == "begin":
        begin(args.records)
        return 0
    if args.action == "report":
        return report(args.records, args.medians, args.out)
    return median(args.runs, args.medians)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
