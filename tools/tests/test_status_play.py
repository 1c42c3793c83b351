"""playbooks/status.yml run whole by stock ansible-playbook on the controller: a local host whose engine is a
stand-in `docker` (the CLI's answers for two bots, as status.yml asks them) and a host that does not answer.
What is judged is the rows the play writes (`-e status_json`), the make status FORMAT=json form."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from stock_ansible import BIN, LOCAL_HOST, stock_playbook

PROJECT = Path(__file__).resolve().parents[2]
STARTED = "2026-11-22T06:52:30.123456789Z"
FIGURES = {
    "gridbot": {"mode": "live", "end_equity": 1012.345, "realized_pnl": 3.5, "round_trips": 7,
                "open_orders": 11, "last_fill_age_s": 60.0, "api_errors": 0, "breaker": "closed",
                "halted": ""},
    "gridbot-wide": {"mode": "paper", "end_equity": 500.0, "realized_pnl": -1.25, "round_trips": 2,
                     "open_orders": 4, "last_fill_age_s": None, "api_errors": 1, "breaker": "closed",
                     "halted": "manual"},
}  # fmt: skip

# The engine's CLI as status.yml uses it: ps (the role's containers, and one that is not a bot), inspect,
# stats, and `exec <container> gridbot status -c <file>`; anything else fails, as a wrong call should.
DOCKER = f'''#!{sys.executable}
import json, sys
figures = json.loads({json.dumps(json.dumps(FIGURES))})
args = sys.argv[1:]
if args[:2] == ["ps", "--all"]:
    print("gridbot\\ngridbot-wide\\nnode-exporter")
elif args[0] == "inspect":
    print(json.dumps([{{"Name": "/" + c, "Image": "sha256:" + "ab" * 32,
                        "Config": {{"Image": "gridbot:0.1.1-arm64-0123456789ab"}},
                        "State": {{"Running": True, "Status": "running", "StartedAt": "{STARTED}",
                                   "Health": {{"Status": "healthy"}}}}}} for c in args[1:]]))
elif args[0] == "stats":
    print("".join(c + "\\t52.3MiB / 384MiB\\n" for c in args[4:]), end="")
elif args[0] == "exec" and args[2:4] == ["gridbot", "status"] and args[4] == "-c":
    print(json.dumps(figures[args[1]]))
else:
    sys.exit("docker stand-in: unexpected " + " ".join(args))
'''


def status_rows(tmp_path: Path, *extra: str) -> tuple[list[dict[str, object]], str]:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "docker").write_text(DOCKER)
    (fake / "docker").chmod(0o755)
    inventory = {
        "pifleet": {
            "hosts": {
                "pi-a": LOCAL_HOST,
                # Nothing listens on the discard port of loopback: the host does not answer.
                "pi-b": {"ansible_host": "127.0.0.1", "ansible_port": 9, "ansible_user": "nobody"},
            },
            "children": {"pi5": {"hosts": {"pi-a": {}}}},
        }
    }  # fmt: skip
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    rows = tmp_path / "rows.json"
    run = stock_playbook(
        tmp_path, "-i", "hosts.yml", PROJECT / "playbooks" / "status.yml", "-e", f"status_json={rows}",
        *extra,
        PATH=f"{fake}:{BIN}:/usr/bin:/bin", ANSIBLE_HOST_KEY_CHECKING="False",
    )  # fmt: skip
    assert rows.exists(), run.stdout[-3000:] + run.stderr[-2000:]
    return json.loads(rows.read_text()), run.stdout


def test_each_bot_has_its_row_with_its_own_figures_and_a_host_that_does_not_answer_has_one_saying_so(
    tmp_path: Path,
) -> None:
    rows, _ = status_rows(tmp_path)
    by = {(r["host"], r["bot"]): r for r in rows}
    assert list(by) == [("pi-a", "default"), ("pi-a", "wide"), ("pi-b", "-")]
    default, wide, gone = by.values()
    assert (default["model"], default["mode"], default["equity"], default["state"], default["memory"]) == (
        "pi5", "live", "1012.35", "trading", "52.3MiB/384MiB")  # fmt: skip
    assert (wide["mode"], wide["realized_pnl"], wide["open_orders"], wide["state"]) == (
        "paper", "-1.25", 4, "halted: manual")  # fmt: skip
    assert (gone["model"], gone["image"], gone["mem"]) == ("-", "no gridbot container", "n/a")


def test_gridbot_only_aims_the_table_at_one_bot_of_each_host(tmp_path: Path) -> None:
    rows, _ = status_rows(tmp_path, "-e", "gridbot_only=wide")
    assert [(r["host"], r["bot"]) for r in rows if r["host"] == "pi-a"] == [("pi-a", "wide")]
