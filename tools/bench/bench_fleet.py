"""What each extra Pi costs the controller: an idempotent `site.yml` and a no-change `rollout.yml` timed on
1, 4, 8 and 16 hosts (systemd containers reached over SSH, molecule/bench), with the project's ansible.cfg
(Mitogen, pipelining, ControlPersist, smart gathering with a fact cache, 20 forks) and with Ansible's stock
settings, side by side; then several bots on one host (#63): a rollout of a change every bot takes and
idempotent runs, with one bot and with eight, and the seven added and retired. Prints wall time, the
controller's peak RSS (Ansible and every process it started, summed), the CPU time the controller spent
(Ansible and the processes it waited for: forks, SSH clients, Mitogen's brokers; not the SSH masters
ControlPersist detaches) against the CPU time the hosts' containers spent meanwhile (less what they use idle:
their engines, their bots), and the marginal cost of a host. The hosts share the controller's cores here:
their work is in the wall time, as it would not be on a fleet of Pis, each with its own CPU.

    python tools/bench/bench_fleet.py [--sizes 1,4,8,16] [--bots 1,8] [--keep]

The containers are made and converged once (minutes); --keep leaves them for another run (molecule destroy -s
bench removes them).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SCENARIO = PROJECT / "molecule" / "bench"
KEY = Path(os.environ.get("PIFLEET_CACHE", Path.home() / ".cache" / "pifleet")) / "ssh" / "id_ed25519"
PAGE = os.sysconf("SC_PAGE_SIZE")
CGROUPS = (Path("/sys/fs/cgroup/cpuacct/docker"), Path("/sys/fs/cgroup/docker"))  # v1, v2 (cgroupfs driver)


def molecule(*steps: str) -> None:
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "MOLECULE_GLOB": "molecule/*/molecule.yml",
    }
    for step in steps:
        run = subprocess.run([VENV_BIN / "molecule", step, "-s", "bench"], cwd=PROJECT, env=env, check=False,
                             capture_output=True, text=True)  # fmt: skip
        if run.returncode != 0:
            sys.exit(
                f"bench_fleet: molecule {step} -s bench failed:\n{run.stdout[-3000:]}{run.stderr[-2000:]}"
            )


def inventory(directory: Path) -> tuple[Path, list[str]]:
    """The bench containers as a fleet inventory (their addresses from the engine), beside the scenario's
    group_vars; hosts in name order, which is the order --limit takes them in."""
    names = sorted(subprocess.run(["docker", "ps", "--filter", "name=^bench-", "--format", "{{.Names}}"],
                                  capture_output=True, text=True, check=True).stdout.split())  # fmt: skip
    hosts = {}
    for name in names:
        inspect = ["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", name]
        networks = json.loads(subprocess.run(inspect, capture_output=True, text=True, check=True).stdout)
        hosts[name] = {"ansible_host": networks["pifleet-bench"]["IPAddress"]}
    codename = ["sh", "-c", ". /etc/os-release; echo $VERSION_CODENAME"]
    release = {}
    for name in names:
        exec_in = ["docker", "exec", name, *codename]
        found = subprocess.run(exec_in, capture_output=True, text=True, check=True)
        release[name] = found.stdout.strip()
    groups = {
        "pifleet": {
            "vars": {"ansible_user": "pi", "ansible_become": True, "ansible_ssh_private_key_file": str(KEY)},
            "children": {
                "pi5": {"hosts": {n: hosts[n] for n in names if release[n] == "trixie"}},
                "pi4": {"hosts": {n: hosts[n] for n in names if release[n] == "bookworm"}},
            },
        }
    }
    (directory / "hosts.yml").write_text(json.dumps(groups))
    (directory / "group_vars").symlink_to(SCENARIO / "inventory" / "group_vars")
    return directory / "hosts.yml", names


class PeakRss(threading.Thread):
    """The highest total RSS of a process and all its descendants, sampled every 50 ms from /proc."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            parents, rss = {}, {}
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    statm = Path(f"/proc/{entry}/statm").read_text().split()
                except OSError:
                    continue
                fields = stat.rsplit(")", 1)[1].split()
                parents[int(entry)], rss[int(entry)] = int(fields[1]), int(statm[1]) * PAGE
            tree, grew = {self.pid}, True
            while grew:
                more = {p for p, parent in parents.items() if parent in tree} - tree
                tree, grew = tree | more, bool(more)
            self.peak = max(self.peak, sum(rss.get(p, 0) for p in tree))


def container_cpu(names: list[str]) -> float:
    """CPU seconds the named containers have used (their cgroups, read on the controller)."""
    ids = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", *names], capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    total = 0.0
    for cid in ids:
        v1, v2 = CGROUPS[0] / cid / "cpuacct.usage", CGROUPS[1] / cid / "cpu.stat"
        if v1.exists():
            total += int(v1.read_text()) / 1e9
        elif v2.exists():
            usage = dict(line.split() for line in v2.read_text().splitlines())
            total += int(usage["usage_usec"]) / 1e6
        else:
            sys.exit(f"bench_fleet: no CPU accounting found for container {cid[:12]} under {CGROUPS}")
    return total


def idle_cpu_rate(names: list[str], seconds: float = 20.0) -> float:
    """CPU seconds per second one host uses with no playbook running (its engine, its bot trading paper,
    systemd): taken off each run's hosts' figure, which would otherwise grow with the run's wall time."""
    before = container_cpu(names)
    time.sleep(seconds)
    return (container_cpu(names) - before) / seconds / len(names)


def controller_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


@dataclass(frozen=True)
class Run:
    """One timed playbook run: wall seconds, the controller's peak RSS (bytes) and CPU seconds, the hosts'."""

    wall: float
    peak: int
    cpu: float
    hosts_cpu: float


def timed(
    playbook: str,
    hosts_file: Path,
    limit: list[str],
    env: dict[str, str],
    idle: float = 0.0,
    extra: Path | None = None,
) -> tuple[Run, str]:
    command = [VENV_BIN / "ansible-playbook", "-i", hosts_file, PROJECT / "playbooks" / playbook,
               "--limit", ",".join(limit), *(["-e", f"@{extra}"] if extra else [])]  # fmt: skip
    cpu, hosts_cpu = controller_cpu(), container_cpu(limit)
    start = time.monotonic()
    proc = subprocess.Popen(command, env=env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip
    sampler = PeakRss(proc.pid)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.monotonic() - start
    cpu, hosts_cpu = controller_cpu() - cpu, container_cpu(limit) - hosts_cpu - idle * len(limit) * wall
    sampler.done.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"bench_fleet: {playbook} on {len(limit)} hosts failed:\n{out[-3000:]}")
    changed = [line for line in out.splitlines() if " changed=" in line and " changed=0 " not in line]
    return Run(wall, sampler.peak, cpu, hosts_cpu), "; ".join(changed)


def configs(work: Path) -> dict[str, dict[str, str]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    # New host keys on every bench: not a speed setting, the same for both.
    common = {**base, "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1"}
    stock = work / "stock.cfg"
    # Ansible's defaults: linear strategy, 5 forks, no pipelining, facts gathered by every play, no cache;
    # only where the roles are is given (the project's ansible.cfg has roles_path = roles, relative to it).
    stock.write_text(f"[defaults]\nroles_path = {PROJECT / 'roles'}\n")
    return {
        "project": {**common, "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg")},
        "stock": {**common, "ANSIBLE_CONFIG": str(stock)},
    }


def slope(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares fit of wall = fixed + per_host * hosts."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    per_host = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    return mean_y - per_host * mean_x, per_host


def shape(points: list[tuple[int, float]]) -> str:
    """Flat when the largest fleet costs under 1.5 times the smallest; else linear when every step's cost per
    added host is within a factor of two of the fit's, else the steps' own figures."""
    if points[-1][1] < 1.5 * points[0][1]:
        return "flat"
    _, per_host = slope(points)
    steps = [(y2 - y1) / (x2 - x1) for (x1, y1), (x2, y2) in itertools.pairwise(points)]
    if all(per_host / 2 <= s <= per_host * 2 for s in steps):
        return "linear"
    return "per added host: " + ", ".join(f"{s:.2f} s" for s in steps)


def bots_vars(count: int, errors_per_hour: int) -> dict[str, object]:
    """One host's bots as an operator writes them: the single bot (default) and count - 1 more, each with
    its own metrics port and a CPU reservation that lets eight fit in a 2-core host's budget (a Pi 5 has 4),
    and a setting every bot takes (a changed one restarts each; the grid stays as it is)."""
    bots: dict[str, dict[str, object]] = {"default": {}}
    bots.update({f"grid{i}": {"metrics_port": 9200 + i} for i in range(2, count + 1)})
    for bot in bots.values():
        bot["cpus_reservation"] = 0.15
    return {"gridbot_host_bots": bots,
            "gridbot_config_override": {"risk": {"max_errors_per_hour": errors_per_hour}}}  # fmt: skip


def bots_on_one_host(
    hosts_file: Path, host: str, env: dict[str, str], counts: list[int], work: Path
) -> list[tuple[str, Run]]:
    """On one converged host, for each count of bots: rollout.yml with a setting every bot takes (each bot
    restarted, gated and soaked), then idempotent rollout.yml and site.yml; between counts, the bots added
    (or, at the end, retired: halted, cancelled, backed up, removed). The host ends with its one bot."""
    rows: list[tuple[str, Run]] = []
    errors_per_hour = 60

    def run(label: str, playbook: str, count: int, change: bool, idle: float) -> None:
        nonlocal errors_per_hour
        errors_per_hour += change
        extra = work / f"bots-{count}-{errors_per_hour}.json"
        extra.write_text(json.dumps(bots_vars(count, errors_per_hour)))
        result, changed = timed(playbook, hosts_file, [host], env, idle, extra)
        if not change and changed:
            sys.exit(f"bench_fleet: {playbook} with {count} bots changed something: {changed}")
        rows.append((label, result))
        print(f"  {label:44} {result.wall:6.1f} s, peak RSS {result.peak / 2**20:5.0f} MiB, CPU: controller "
              f"{result.cpu:5.1f} s, host {result.hosts_cpu:5.1f} s", flush=True)  # fmt: skip

    previous = 1
    for count in counts:
        if count != previous:
            run(f"rollout.yml: {count - previous} bots added", "rollout.yml", count, True, 0.0)
            previous = count
        idle = idle_cpu_rate([host])
        print(f"  {count} bots: the host's CPU with no playbook running: {idle * 1000:.0f} ms/s", flush=True)
        run(f"rollout.yml: a change all {count} take", "rollout.yml", count, True, idle)
        run(f"rollout.yml: no change, {count} bots", "rollout.yml", count, False, idle)
        run(f"site.yml: no change, {count} bots", "site.yml", count, False, idle)
    if previous != 1:
        run(f"rollout.yml: {previous - 1} bots retired", "rollout.yml", 1, True, 0.0)
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,4,8,16", help="fleet sizes, at most 16 (default 1,4,8,16)")
    parser.add_argument("--bots", default="1,8", help="bots on one host, compared (default 1,8)")
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if not sizes or sizes[0] < 1 or sizes[-1] > 16 or len(sizes) < 2:
        parser.error("--sizes: at least two fleet sizes from 1 to 16")
    counts = sorted({int(s) for s in args.bots.split(",")})
    if not counts or counts[0] < 1 or counts[-1] > 8:
        parser.error("--bots: counts of bots on one host from 1 to 8")

    print("bench_fleet: 16 container hosts converged with site.yml (minutes; molecule/bench)", flush=True)
    molecule("create", "prepare", "converge")
    results: dict[tuple[str, str], list[tuple[int, Run]]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            hosts_file, names = inventory(work)
            envs = configs(work)
            # One untimed run first: an operator's re-run finds the controller as its last run left it (fact
            # cache, SSH masters), on every host of the fleet. Stock Ansible keeps nothing between runs but
            # its SSH masters for 60 s, which the timed runs, back to back, keep anyway.
            timed("site.yml", hosts_file, names, envs["project"])
            idle = idle_cpu_rate(names)
            print(f"  a host's CPU with no playbook running: {idle * 1000:.0f} ms/s", flush=True)
            # Each size with both configurations in turn: side by side, under the same conditions.
            for playbook in ("site.yml", "rollout.yml"):
                for size in sizes:
                    for name, env in envs.items():
                        run, changed = timed(playbook, hosts_file, names[:size], env, idle)
                        if changed:
                            sys.exit(
                                f"bench_fleet: {playbook} changed something on a converged fleet: {changed}"
                            )
                        results.setdefault((playbook, name), []).append((size, run))
                        print(f"  {playbook:11} {name:7} {size:2} hosts: {run.wall:6.1f} s, peak RSS "
                              f"{run.peak / 2**20:6.0f} MiB, CPU: controller {run.cpu:6.1f} s, "
                              f"hosts {run.hosts_cpu:6.1f} s", flush=True)  # fmt: skip
            print(f"bench_fleet: bots on one host ({names[0]}), the project's settings", flush=True)
            bots = bots_on_one_host(hosts_file, names[0], envs["project"], counts, work)
    finally:
        if not args.keep:
            molecule("destroy")
    report(results, sizes)
    report_bots(bots)
    return 0


def report(results: dict[tuple[str, str], list[tuple[int, Run]]], sizes: list[int]) -> None:
    print(
        "\nIdempotent runs on a converged fleet (wall s / controller peak RSS MiB / CPU s: controller, hosts)"
    )
    print(f"{'playbook':12}{'config':9}" + "".join(f"{f'{n} hosts':>30}" for n in sizes)
          + f"{'fixed':>9}{'per host':>10}{'ctl CPU/host':>14}  shape")  # fmt: skip
    for (playbook, config), rows in results.items():
        cells = "".join(
            f"{f'{r.wall:.1f} / {r.peak / 2**20:.0f} / {r.cpu:.1f} / {r.hosts_cpu:.1f}':>30}" for _, r in rows
        )
        fixed, per_host = slope([(n, r.wall) for n, r in rows])
        _, cpu_per_host = slope([(n, r.cpu) for n, r in rows])
        print(f"{playbook:12}{config:9}{cells}{fixed:8.1f}s{per_host:9.2f}s{cpu_per_host:13.2f}s  "
              f"{shape([(n, r.wall) for n, r in rows])}")  # fmt: skip
    for playbook in ("site.yml", "rollout.yml"):
        project, stock = dict(results[(playbook, "project")]), dict(results[(playbook, "stock")])
        speedups = ", ".join(f"{stock[n].wall / project[n].wall:.1f}x at {n}" for n in sizes)
        cpu = ", ".join(f"{stock[n].cpu / project[n].cpu:.1f}x at {n}" for n in sizes)
        hosts = ", ".join(f"{stock[n].hosts_cpu / project[n].hosts_cpu:.1f}x at {n}" for n in sizes)
        print(
            f"{playbook}: the project's settings against stock: wall {speedups}; "
            f"the controller's CPU {cpu}; the hosts' CPU {hosts}"
        )


def report_bots(rows: list[tuple[str, Run]]) -> None:
    print("\nBots on one host (wall s / controller peak RSS MiB / CPU s: controller, host)")
    for label, r in rows:
        print(f"  {label:44}{r.wall:8.1f}{r.peak / 2**20:8.0f}{r.cpu:8.1f}{r.hosts_cpu:8.1f}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
