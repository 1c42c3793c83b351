"""make test's phase times (tools/host/test-times.py): the parts found in real Molecule and pytest output, the
wrapper passing its command's output, exit status and signals on unchanged, the guard's verdicts and the
medians, and the committed medians file true to where its figures come from."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from modules import load_module

TOP = Path(__file__).resolve().parents[2]
SCRIPT = TOP / "tools" / "host" / "test-times.py"
tt = load_module(SCRIPT, "pifleet_test_times")


class Clock:
    """What the splitter samples at a part's start and end: set by the log's @SECONDS marks."""

    def __init__(self) -> None:
        self.t = 0.0

    def sample(self) -> Any:
        # CPU a tenth of the time, the machine's twice it: each part's figures tell where they came from.
        return tt.Sample(self.t, self.t / 10, self.t * 2)


def replay(run: str, log: str) -> list[tuple[str, str | None, float, float, float, str]]:
    """The parts of a log whose lines may start with @SECONDS (the time they arrive), as (name, parent,
    start, wall, cpu, result); the command ends at the last mark."""
    clock = Clock()
    splitter = tt.Splitter(run, clock.sample)
    for line in log.splitlines():
        mark = re.match(r"@([\d.]+) ?", line)
        if mark:
            clock.t = float(mark[1])
        splitter.feed(line[mark.end() :] if mark else line)
    return [
        (p.name, p.parent, p.start, round(p.wall, 6), round(p.cpu, 6), p.result)
        for p in splitter.close(clock.sample())
    ]


# make molecule SCENARIOS="default scale" as make test runs it: Molecule 26.10's lines on stderr (without
# colours: NO_COLOR or no terminal; scale's with them, FORCE_COLOR), Ansible's and testinfra's on stdout.
E = "\x1b"
FOREGROUND_MOLECULE = f"""\
for s in default scale; do .venv/bin/molecule test -s "$s" || exit 1; done
@0 INFO     [default > destroy] Executing
PLAY [Destroy] *****************************************************************
PLAY RECAP *********************************************************************
@4 INFO     [default > destroy] Executed: Successful
@5 INFO     [default > syntax] Executing
playbook: /work/main/molecule/default/converge.yml
@9 INFO     [default > syntax] Executed: Successful
INFO     [default > create] Executing
@100 INFO     [default > create] Executed: Successful
INFO     [default > prepare] Executing
@130 INFO     [default > prepare] Executed: Successful
INFO     [default > check] Executing
@220 INFO     [default > check] Executed: Successful
INFO     [default > converge] Executing
TASK [pi_host : Read the installed packages] ***********************************
ok: [pifleet-a]
@380 INFO     [default > converge] Executed: Successful
INFO     [default > idempotence] Executing
@430 INFO     [default > idempotence] Executed: Successful
INFO     [default > verify] Executing
INFO     [default > verify] Executing Testinfra tests found in /work/main/molecule/default/tests/...
============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0
rootdir: /work/main
collected 58 items

molecule/default/tests/test_default.py ......................sssss...... [100%]

================= 53 passed, 5 skipped in 630.02s (0:10:30) ==================
@1066 INFO     [default > verify] Executed: Successful
INFO     [default > destroy] Executing
@1090 INFO     [default > destroy] Executed: Successful
INFO     Molecule executed 1 scenario (1 successful)
@1100 {E}[36mINFO    {E}[0m {E}[32mscale{E}[0m ➜ {E}[33mdestroy{E}[0m: {E}[36mExecuting{E}[0m
@1103 {E}[36mINFO    {E}[0m {E}[32mscale{E}[0m ➜ {E}[33mdestroy{E}[0m: {E}[32mExecuted: Successful{E}[0m
{E}[36mINFO    {E}[0m {E}[32mscale{E}[0m ➜ {E}[33mconverge{E}[0m: {E}[36mExecuting{E}[0m
@1520 {E}[36mINFO    {E}[0m {E}[32mscale{E}[0m ➜ {E}[33mconverge{E}[0m: {E}[32mExecuted: Successful{E}[0m
{E}[36mINFO    {E}[0m {E}[32mscale{E}[0m ➜ {E}[33mverify{E}[0m: {E}[36mExecuting{E}[0m
@2672 {E}[31mERROR   {E}[0m {E}[32mscale{E}[0m ➜ {E}[33mverify{E}[0m: {E}[31mExecuted: Failed{E}[0m
@2673 {E}[31mERROR   {E}[0m Molecule executed 1 scenario (1 failed)
"""


def test_molecules_scenarios_and_steps_are_found_in_either_form_of_its_lines() -> None:
    assert replay("molecule", FOREGROUND_MOLECULE) == [
        ("default destroy", "default", 0, 4, 0.4, "Successful"),
        ("default syntax", "default", 5, 4, 0.4, "Successful"),
        ("default create", "default", 9, 91, 9.1, "Successful"),
        ("default prepare", "default", 100, 30, 3.0, "Successful"),
        ("default check", "default", 130, 90, 9.0, "Successful"),
        ("default converge", "default", 220, 160, 16.0, "Successful"),
        ("default idempotence", "default", 380, 50, 5.0, "Successful"),
        # testinfra's pytest run is the step's, not a part of its own
        ("default verify", "default", 430, 636, 63.6, "Successful"),
        ("default destroy #2", "default", 1066, 24, 2.4, "Successful"),
        ("default", "molecule", 0, 1090, 109.0, "Successful"),
        ("scale destroy", "scale", 1100, 3, 0.3, "Successful"),
        ("scale converge", "scale", 1103, 417, 41.7, "Successful"),
        ("scale verify", "scale", 1520, 1152, 115.2, "Failed"),
        ("scale", "molecule", 1100, 1572, 157.2, "Failed: verify"),
    ]


def test_a_step_its_command_never_ended_ends_with_the_command() -> None:
    log = """\
@10 INFO     [fleet > converge] Executing
@70 INFO     [fleet > converge] Executed: Successful
INFO     [fleet > verify] Executing
@900 INFO     [fleet > verify] Executing Testinfra tests found in /work/main/molecule/fleet/tests/...
"""
    # The command is the fleet scenario (make test's `run fleet`): its steps are the command's own parts.
    assert replay("fleet", log) == [
        ("fleet converge", "fleet", 10, 60, 6.0, "Successful"),
        ("fleet verify", "fleet", 70, 830, 83.0, "no end line"),
    ]


def test_the_installed_molecule_prints_the_lines_the_splitter_reads() -> None:
    """Molecule's own logger and completion messages, with and without colours: an upgrade that changes them
    fails here, not silently in make test's table."""
    code = """
from molecule import logger
from molecule.ansi_output import AnsiOutput
from molecule.reporting.definitions import CompletionState
logger.configure()
for action, state in (("create", CompletionState.successful), ("converge", CompletionState.failed)):
    log = logger.get_scenario_logger("molecule.logger", "default", action)
    log.info("[exec_executing]Executing[/]")
    getattr(log, state.log_level)(AnsiOutput().format_completion_message(state.message, state.color))
"""
    for colours in ({"NO_COLOR": "1"}, {"FORCE_COLOR": "1"}):
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")} | colours
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120
        ).stderr
        assert ("\x1b[" in out) == ("FORCE_COLOR" in colours), out
        parts = replay("molecule", out)
        assert [(n, parent, r) for n, parent, _, _, _, r in parts] == [
            ("default create", "default", "Successful"),
            ("default converge", "default", "Failed"),
            ("default", "molecule", "Failed: converge"),
        ], out


# make unit: make's echo of the loop, then one pytest run per directory (real pytest 9 output: progress,
# --durations, a failure with its traceback and captured output, the short summary).
UNIT = """\
for t in bot/tests tools/exchange/tests tools/tests; do \\
  rc=0; .venv/bin/pytest "$t" --ignore=bot/tests/image --durations=12 || rc=$?; \\
@0 ============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0
rootdir: /work/main
configfile: pyproject.toml
plugins: platformdirs-4.14.8, testinfra-10.2.2, hypothesis-6.170.17
collected 389 items

bot/tests/test_accounting.py ..........                                  [  2%]
bot/tests/test_trader.py ...........                                     [100%]

============================= slowest 12 durations =============================
41.20s call     bot/tests/test_books.py::test_chaos_session
@384 ================= 386 passed, 3 skipped in 382.51s (0:06:22) ==================
@385 ============================= test session starts ==============================
rootdir: /work/main
collected 2 items

tools/exchange/tests/test_s.py .F                                        [100%]

=================================== FAILURES ===================================
___________________________________ test_bad ___________________________________

    def test_bad():
>       assert 1 == 2
E       assert 1 == 2

tools/exchange/tests/test_s.py:6: AssertionError
----------------------------- Captured stdout call -----------------------------
tools/exchange/gridbot_exchange/server.py started on 127.0.0.1:8900
=========================== short test summary info ============================
FAILED tools/exchange/tests/test_s.py::test_bad - assert 1 == 2
@427 ========================= 1 failed, 1 passed in 0.94s ==========================
@428 ============================= test session starts ==============================
collected 18 items

tools/tests/test_rollout_batches.py ..................                   [100%]
@446 ============================== 18 passed in 8.87s ==============================
"""


def test_each_pytest_run_is_a_part_named_for_its_directory() -> None:
    assert replay("unit", UNIT) == [
        ("unit bot/tests", "unit", 0, 384, 38.4, "386 passed, 3 skipped"),
        # the captured output's path, after the progress lines, is not a test file of the run
        ("unit tools/exchange/tests", "unit", 385, 42, 4.2, "1 failed, 1 passed"),
        ("unit tools/tests", "unit", 428, 18, 1.8, "18 passed"),
    ]


def test_a_pytest_run_cut_short_is_named_by_what_it_listed() -> None:
    log = """\
@1 ============================= test session starts ==============================
collected 7 items

bot/tests/image/test_image.py ...
@130 make[1]: *** [Makefile:63: image-test] Terminated
"""
    assert replay("image-test", log) == [
        ("image-test bot/tests/image", "image-test", 1, 129, 12.9, "no end line")
    ]


# --- the guard ---------------------------------------------------------------------------------------------

MEDIANS: dict[str, Any] = {
    "factor": 2.0,
    "min_excess_s": 120,
    "exclude": {"setup": "cache", "vm-image *": "cache", "* create": "cache", "unit tools/tests": "download"},
    "phases": {
        "lint": {"median_s": 120, "source": "a"},
        "unit tools/exchange/tests": {"median_s": 42, "source": "b"},
        "scale verify": {"median_s": 1152, "source": "c"},
        "setup": {"median_s": 10, "source": "d"},
        "fleet verify": {"median_s": 1098, "source": "e"},
    },
}


def verdicts(walls: dict[str, float]) -> tuple[dict[str, str], list[str]]:
    run = {"phases": [{"name": n, "wall_s": w} for n, w in walls.items()]}
    slow = tt.judge(run, MEDIANS)
    return {p["name"]: p["verdict"] for p in run["phases"]}, slow


def test_a_phase_over_twice_its_median_and_the_floor_is_slow() -> None:
    assert verdicts({"scale verify": 2304.1, "lint": 240.1}) == (
        {"scale verify": "slow", "lint": "slow"},
        ["scale verify", "lint"],
    )
    # twice the median exactly is not more than twice
    assert verdicts({"scale verify": 2304, "lint": 240}) == ({"scale verify": "ok", "lint": "ok"}, [])


def test_a_short_phase_over_twice_its_median_but_within_the_floor_is_not() -> None:
    # 42 s: 3.8x is 118 s more, within the 120 s a loaded 2-core host puts on a short phase
    assert verdicts({"unit tools/exchange/tests": 160}) == ({"unit tools/exchange/tests": "ok"}, [])
    assert verdicts({"unit tools/exchange/tests": 163}) == (
        {"unit tools/exchange/tests": "slow"},
        ["unit tools/exchange/tests"],
    )


def test_a_cache_phase_is_never_judged_even_with_a_median() -> None:
    walls = {"setup": 600, "vm-image trixie": 900, "default create": 400, "fleet create": 900}
    walls["unit tools/tests"] = 300
    assert verdicts(walls) == (dict.fromkeys(walls, "excluded"), [])


def test_a_phase_whose_median_is_0_s_is_slow_past_the_floor() -> None:
    row = {"name": "scale syntax", "parent": None, "start_s": 0, "wall_s": 121, "cpu_s": 0, "host_cpu_s": 0}
    run = {"phases": [{**row, "result": "Successful"}]}
    medians = {**MEDIANS, "phases": {"scale syntax": {"median_s": 0.0, "source": "f"}}}
    assert tt.judge(run, medians) == ["scale syntax"]
    assert "==   scale syntax: 2.0 min against a median of 0.0 min (-; the median: f)" in tt.render(
        run, medians
    )


def test_a_phase_with_no_median_is_reported_not_failed() -> None:
    assert verdicts({"default converge": 9999, "fleet verify": 1000}) == (
        {"default converge": "no median", "fleet verify": "ok"},
        [],
    )


# --- report and median, as make test runs them -------------------------------------------------------------


def write_records(records: Path, walls: dict[str, float]) -> None:
    """begin.json and the records of a passed run: lint and molecule in the foreground, the fleet beside."""
    records.mkdir()
    t0 = 1000.0
    (records / "begin.json").write_text(
        json.dumps(
            {
                "started": "2026-11-29T10:00:00+0000",
                "t": t0,
                "host_cpu": 50.0,
                "commit": "abc1234",
                "host": "ci",
                "cpus": 2,
            }
        )
    )

    def phase(name: str, parent: str | None, start: float, result: str = "exit 0") -> dict[str, Any]:
        figures = {"start_s": t0 + start, "wall_s": walls[name], "cpu_s": 1.0, "host_cpu_s": 2.0}
        return {"name": name, "parent": parent, **figures, "result": result}

    (records / "lint.phase.json").write_text(
        json.dumps({"group": "foreground", "phases": [phase("lint", None, 60)]})
    )
    (records / "molecule.phase.json").write_text(
        json.dumps(
            {
                "group": "foreground",
                "phases": [
                    phase("molecule", None, 200),
                    phase("scale", "molecule", 210, "Successful"),
                    phase("scale verify", "scale", 220, "Successful"),
                ],
            }
        )
    )
    (records / "fleet.phase.json").write_text(
        json.dumps({"group": None, "phases": [phase("fleet", None, 50), phase("fleet verify", "fleet", 900)]})
    )


def test_the_report_tables_the_run_and_fails_on_a_slow_phase(tmp_path: Path) -> None:
    medians = tmp_path / "medians.json"
    medians.write_text(json.dumps(MEDIANS))
    walls = {
        "lint": 100,
        "molecule": 1500,
        "scale": 1400,
        "scale verify": 1200,
        "fleet": 2000,
        "fleet verify": 900,
    }
    write_records(tmp_path / "records", walls)
    out = tmp_path / "test-times.json"
    argv = [sys.executable, "-S", SCRIPT, "--records", tmp_path / "records", "--medians", medians, "report"]
    done = subprocess.run([*argv, "--out", out], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    run = json.loads(out.read_text())
    rows = {p["name"]: p for p in run["phases"]}
    assert [p["name"] for p in run["phases"]] == [
        "fleet", "fleet verify", "foreground", "lint", "molecule", "scale", "scale verify", "total"
    ]  # fmt: skip
    # the foreground: lint's start to molecule's end
    assert (rows["foreground"]["start_s"], rows["foreground"]["wall_s"]) == (60, 1640)
    assert rows["fleet verify"]["start_s"] == 900
    assert (rows["total"]["result"], rows["total"]["cpu_s"], run["passed"]) == ("passed", 3.0, True)
    assert run["slow"] == []
    table = done.stdout.splitlines()
    assert json.loads(table[0].removeprefix(tt.JSON_LINE)) == run
    assert re.search(
        r"^ {6}scale verify +3\.7 +20\.0 +19\.2  ok 1\.0x +0\.0 +0\.0  Successful$", done.stdout, re.M
    )
    assert table[-1] == "== test-times: no phase took more than 2x its median (3 judged)"
    assert "in the medians, not in this run: setup, unit tools/exchange/tests" in done.stdout

    walls["fleet verify"] = 2400
    write_records(tmp_path / "slow", walls)
    argv[4] = tmp_path / "slow"
    done = subprocess.run([*argv, "--out", out], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[-3:-1] == [
        f"== test-times: FAILED: 1 phase(s) took more than 2x their median and 120 s more ({medians}):",
        "==   fleet verify: 40.0 min against a median of 18.3 min (2.2x; the median: e)",
    ]


def test_medians_come_from_passed_runs_in_their_json_or_their_log(tmp_path: Path) -> None:
    def run(started: str, passed: bool, walls: dict[str, float]) -> dict[str, Any]:
        phases = [{"name": n, "wall_s": w} for n, w in walls.items()]
        return {"started": started, "commit": "c0ffee1", "passed": passed, "phases": phases}

    runs = [
        run(
            "2026-11-29T10:00:00+0000",
            True,
            {"lint": 100, "scale verify": 1000, "setup": 5, "default create": 9},
        ),
        run("2026-11-30T10:00:00+0000", True, {"lint": 130, "scale verify": 1300, "default verify": 600}),
        run("2026-12-01T10:00:00+0000", True, {"lint": 110, "scale verify": 1200, "scale syntax": 0.0}),
        run("2026-12-02T10:00:00+0000", False, {"lint": 1, "scale verify": 1}),
    ]
    paths = []
    for i, r in enumerate(runs):
        path = tmp_path / f"run{i}"
        # a run's .cache/test-times.json, or a CI log holding the line make test printed
        text = json.dumps(r) if i % 2 else f"lots of output\n{tt.JSON_LINE}{json.dumps(r)}\n== where ...\n"
        path.write_text(text)
        paths.append(path)
    medians = tmp_path / "medians.json"
    medians.write_text(json.dumps(MEDIANS))
    assert tt.main(["--medians", str(medians), "median", *map(str, paths)]) == 0
    written = json.loads(medians.read_text())
    assert {k: written[k] for k in ("factor", "min_excess_s", "exclude")} == {
        k: MEDIANS[k] for k in ("factor", "min_excess_s", "exclude")
    }
    named = "median of {} recorded run(s) of make test: " + ", ".join(
        f"2026-{day} c0ffee1" for day in ("11-29", "11-30", "12-01")
    )
    assert written["phases"] == {
        "lint": {"median_s": 110, "runs": 3, "source": named.format(3)},
        "scale verify": {"median_s": 1200, "runs": 3, "source": named.format(3)},
        "default verify": {"median_s": 600, "runs": 1, "source": named.format(1)},
        "scale syntax": {"median_s": 0.0, "runs": 1, "source": named.format(1)},
        # kept as they were: not in these runs (fleet verify), or a cache's (setup)
        "unit tools/exchange/tests": MEDIANS["phases"]["unit tools/exchange/tests"],
        "setup": MEDIANS["phases"]["setup"],
        "fleet verify": MEDIANS["phases"]["fleet verify"],
    }
    tt.load_medians(
        medians
    )  # a median of 0 s included: a step that did nothing must not start taking minutes
    assert tt.main(["--medians", str(medians), "median", str(paths[3])]) == 1  # no passed run
    assert tt.medians_of(runs[:2], MEDIANS)["phases"]["lint"]["median_s"] == 115  # an even count's middle


# --- run: the wrapper ----------------------------------------------------------------------------------


def wrapped(records: Path, *command: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-S", str(SCRIPT), "--records", str(records), "run", "x", "--", *command]
    return subprocess.run(argv, text=True, check=False, timeout=60, **kw)


def recorded(records: Path) -> list[dict[str, Any]]:
    phases: list[dict[str, Any]] = json.loads((records / "x.phase.json").read_text())["phases"]
    return phases


def test_run_passes_output_and_exit_status_on(tmp_path: Path) -> None:
    done = wrapped(
        tmp_path, "sh", "-c", "echo out; echo err >&2; printf 'no newline'; exit 3", capture_output=True
    )
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\nno newline", "err\n")
    assert recorded(tmp_path)[0]["result"] == "exit 3"
    # stdout and stderr one file, as make test's fleet log and CI's log are: the lines keep their order
    spray = "import os\nfor i in range(3000): os.write(1, b'o%d\\n' % i); os.write(2, b'e%d\\n' % i)"
    with (tmp_path / "log").open("w") as log:
        done = wrapped(tmp_path, sys.executable, "-S", "-c", spray, stdout=log, stderr=log)
    assert done.returncode == 0
    assert (tmp_path / "log").read_text() == "".join(f"o{i}\ne{i}\n" for i in range(3000))


def test_run_appends_its_commands_lines_to_the_log_it_is_given(tmp_path: Path) -> None:
    """make test's summary reads the foreground's failures from this log: both streams, appended."""
    log = tmp_path / "fg.log"
    log.write_text("lint's lines\n")
    script = "echo 'FAILED t.py::a'; echo 'E   assert 1 == 2' >&2; printf last; exit 1"
    argv = [sys.executable, "-S", str(SCRIPT), "--records", str(tmp_path), "run", "--log", str(log), "x",
            "--", "sh", "-c", script]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (1, "FAILED t.py::a\nlast", "E   assert 1 == 2\n")
    assert sorted(log.read_text().splitlines()) == sorted(
        ["lint's lines", "FAILED t.py::a", "E   assert 1 == 2", "last"]
    )


def test_run_ends_by_the_signal_its_command_ended_by(tmp_path: Path) -> None:
    done = wrapped(tmp_path, "sh", "-c", "kill -TERM $$")
    assert done.returncode == -signal.SIGTERM
    assert recorded(tmp_path)[0]["result"] == "signal 15 (Terminated)"


def test_a_signal_to_the_process_group_is_the_commands_to_answer(tmp_path: Path) -> None:
    """make test stops the fleet with kill -- -PGID: the command decides, the wrapper waits and follows it."""
    script = "trap 'echo stopping; exit 7' TERM; echo ready; while :; do sleep 0.1; done"
    argv = [
        sys.executable,
        "-S",
        str(SCRIPT),
        "--records",
        str(tmp_path),
        "run",
        "x",
        "--",
        "sh",
        "-c",
        script,
    ]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    os.killpg(child.pid, signal.SIGTERM)
    assert (child.wait(timeout=30), child.stdout.read()) == (7, "stopping\n")
    assert recorded(tmp_path)[0]["result"] == "exit 7"


def test_a_command_that_cannot_run_is_the_shells_127_or_126(tmp_path: Path) -> None:
    assert wrapped(tmp_path, str(tmp_path / "missing"), capture_output=True).returncode == 127
    (tmp_path / "plain").write_text("echo not executable\n")
    assert wrapped(tmp_path, str(tmp_path / "plain"), capture_output=True).returncode == 126


def test_run_does_not_wait_for_a_process_its_command_left_holding_the_output(tmp_path: Path) -> None:
    began = time.monotonic()
    done = wrapped(tmp_path, "sh", "-c", "sleep 20 & echo $!", capture_output=True)
    took = time.monotonic() - began
    os.kill(int(done.stdout), signal.SIGTERM)
    assert done.returncode == 0
    assert took < 15, done.stderr
    assert "holds its output open" in done.stderr


def test_run_counts_the_cpu_of_its_command_and_of_each_part(tmp_path: Path) -> None:
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass"
    burn = f"{sys.executable} -S -c '{spin}'"
    # The split samples the CPU as it reads each line: the burn waits a second after its start line, so that
    # a reader slowed by a loaded runner has sampled before the burn began (once late: 0.2 of 0.6 counted).
    script = f"""
echo 'INFO     [default > converge] Executing' >&2
sleep 1
{burn}
echo 'INFO     [default > converge] Executed: Successful' >&2
echo 'INFO     [default > verify] Executing' >&2
sleep 0.5
echo 'INFO     [default > verify] Executed: Successful' >&2
"""
    assert wrapped(tmp_path, "sh", "-c", script).returncode == 0
    rows = {p["name"]: p for p in recorded(tmp_path)}
    assert list(rows) == ["x", "default converge", "default verify", "default"]
    assert rows["x"]["cpu_s"] >= 0.6
    assert rows["default converge"]["cpu_s"] >= 0.5
    assert rows["default verify"]["cpu_s"] < 0.3
    assert rows["default verify"]["wall_s"] >= 0.5
    assert rows["default converge"]["host_cpu_s"] >= 0.5  # the machine's, this burn included


# --- the committed medians ---------------------------------------------------------------------------------


def test_the_committed_medians_are_sound_and_each_says_where_it_came_from() -> None:
    medians = tt.load_medians(tt.MEDIANS)
    assert medians["factor"] >= 2
    benchmarks = " ".join((TOP / "docs" / "benchmarks.md").read_text().split())
    for name, known in medians["phases"].items():
        assert not any(fnmatchcase(name, pattern) for pattern in medians["exclude"]), name
        source = known["source"]
        if source.startswith("docs/benchmarks.md"):
            # the figure quoted is in the page, so that the source stays checkable
            quoted = re.findall(r'"([^"]+)"', source)
            assert quoted, (name, source)
            assert all(q in benchmarks for q in quoted), (name, source)


def test_the_medians_name_phases_make_test_has() -> None:
    """A renamed scenario, step or test directory would leave its median unused (reported, never failing)."""
    makefile = (TOP / "Makefile").read_text()
    test_recipe = makefile[makefile.index("\ntest:") :]
    unit_dirs = re.search(r"^unit:.*\n\tfor t in ([^;]+);", makefile, re.M)
    assert unit_dirs is not None
    commands = re.search(r"for t in ([^;]+); do \\\n\t  \$\(TIMES\) run --group foreground", test_recipe)
    assert commands is not None
    scenarios = re.search(r"^TEST_SCENARIOS \?= (.+)$", makefile, re.M)
    beside = re.search(r"^BESIDE_SCENARIOS \?= (.+)$", makefile, re.M)
    assert scenarios is not None
    assert beside is not None
    for name in tt.load_medians(tt.MEDIANS)["phases"]:
        first, _, rest = name.partition(" ")
        scenario = TOP / "molecule" / first / "molecule.yml"
        if first == "unit" and rest:
            assert rest in unit_dirs[1].split(), name
        elif scenario.exists():
            assert (
                first in scenarios[1].split()
                or first in beside[1].split()
                or f"run {first} -- $(BIN)/molecule test -s {first}" in test_recipe
            )
            sequence = yaml.safe_load(scenario.read_text())["scenario"]["test_sequence"]
            # A step's second run in the sequence is recorded as "destroy #2".
            step, _, nth = rest.partition(" #")
            assert not step or sequence.count(step) >= int(nth or 1), name
        else:
            # The whole run, the foreground's group (the commands' regex names it), its commands and the
            # pytest runs recorded within them.
            assert name in ("total", "foreground") or first in commands[1].split(), name
            assert not rest or (TOP / rest).is_dir(), name
