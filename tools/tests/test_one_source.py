"""One definition each: the container contract's values (bot/gridbot/contract.py) as Ansible renders them in
the gridbot role and status.yml, the uid the image build reads, and the firewall's metrics port as site.yml
renders it from the bot's published port. Fails when a copy drifts, or when a literal copy appears."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from stock_ansible import stock_playbook

from gridbot import contract

PROJECT = Path(__file__).resolve().parents[2]

# Ansible's own loader, inventory and variable precedence over the real playbooks: what a run would template.
RENDER = textwrap.dedent(
    """
    import json, sys
    from ansible import context
    from ansible.inventory.manager import InventoryManager
    from ansible.module_utils.common.collections import ImmutableDict
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook import Playbook
    from ansible.plugins.loader import init_plugin_loader
    from ansible.template import Templar, trust_as_template
    from ansible.vars.manager import VariableManager

    init_plugin_loader()
    context.CLIARGS = ImmutableDict({})
    project, inventory = sys.argv[1:]
    loader = DataLoader()
    hosts = InventoryManager(loader=loader, sources=[inventory])
    variables = VariableManager(loader=loader, inventory=hosts)

    def render(play, host, expression, task=None):
        found = variables.get_vars(play=play, host=hosts.get_host(host), task=task)
        return Templar(loader=loader, variables=found).template(trust_as_template(expression))

    def play(name):
        path = f"{project}/playbooks/{name}"
        return Playbook.load(path, variable_manager=variables, loader=loader).get_plays()[0]

    site, status = play("site.yml"), play("status.yml")
    # A task of the gridbot role (its preflight, imported by site.yml): the role's vars in their own context.
    task = next(t for b in site.pre_tasks for t in b.block if t._role and t._role.get_name() == "gridbot")
    loader.set_basedir(project + "/playbooks")  # playbook_dir, as ansible-playbook sets it
    role = "{{ [__gridbot_uid, __gridbot_config_file, __gridbot_http_port] }}"
    # The preflight's expression, over the plan it makes a fact of just before (plan-bots.yml).
    PORTS = "{{ __gridbot_plan_of_inventory.bots | map(attribute='metrics_port') | select | list }}"
    print(json.dumps({
        "firewall": {h: render(site, h, "{{ [hardening_firewall_metrics_ports, gridbot_metrics_host_port] }}")
                     for h in ("published", "default")},
        # The ports the role's preflight notes for site.yml's firewall: each bot's.
        "ports": render(site, "two", PORTS, task),
        "role": render(site, "default", role, task),
        "status": render(status, "default", "{{ __status_config_file }}"),
    }))
    """
)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("one_source")
    bots = {"default": {}, "eth": {"metrics_port": 9110}}
    two = {"gridbot_metrics_publish": True, "gridbot_host_bots": bots}
    hosts = {"published": {"gridbot_metrics_host_port": 9200}, "default": {}, "two": two}
    inventory = {"pifleet": {"hosts": hosts}}
    (tmp / "hosts.yml").write_text(json.dumps(inventory))
    run = subprocess.run(
        [sys.executable, "-c", RENDER, str(PROJECT), str(tmp / "hosts.yml")],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp,
        # Stock Ansible, away from the project's ansible.cfg (as molecule runs the playbooks).
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp),
             "ANSIBLE_ROLES_PATH": str(PROJECT / "roles")},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    result: dict[str, Any] = json.loads(run.stdout.splitlines()[-1])
    return result


def test_the_role_and_status_render_the_contract(rendered: dict[str, Any]) -> None:
    assert rendered["role"] == [contract.UID, contract.CONFIG_FILE, contract.HTTP_PORT]
    assert rendered["status"] == contract.CONFIG_FILE


def test_the_firewall_opens_the_port_the_bot_is_published_on(rendered: dict[str, Any]) -> None:
    assert rendered["firewall"]["published"] == [[9200], 9200]
    ports, published = rendered["firewall"]["default"]
    assert ports == [published]
    assert rendered["ports"] == [9108, 9110]
    # The hardening role run on its own (without site.yml) opens the bot's default port too.
    hardening = yaml.safe_load((PROJECT / "roles/hardening/defaults/main.yml").read_text())
    assert hardening["hardening_firewall_metrics_ports"] == [published]


def test_the_image_build_reads_the_uid_from_the_contract() -> None:
    (line,) = [s for s in (PROJECT / "bot/image/build.sh").read_text().splitlines() if s.startswith("uid=")]
    run = subprocess.run(
        ["bash", "-c", f"{line}; echo $uid"],
        env={"py": sys.executable, "PATH": "/usr/bin:/bin"},
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.strip() == str(contract.UID)


def test_the_uid_is_no_setting() -> None:
    role = PROJECT / "roles/gridbot"
    assert "gridbot_uid" not in yaml.safe_load((role / "defaults/main.yml").read_text())
    specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())
    assert "gridbot_uid" not in specs["argument_specs"]["main"]["options"]


# Places that may state a contract value literally, each checked against the contract elsewhere.
CHECKED_COPIES = {
    # compose.yaml.j2's bind mount and command, __gridbot_credentials: bot/tests/test_contract.py.
    ("roles/gridbot/templates/compose.yaml.j2", contract.CONFIG_FILE),
    ("roles/gridbot/vars/main.yml", contract.CREDENTIALS_FILE),
}
CODE = ("*.yml", "*.yaml", "*.j2", "*.py", "*.sh", "*.cfg", "*.nft")


def test_no_other_copy_of_a_contract_value() -> None:
    values = [str(contract.UID), contract.CONFIG_FILE, contract.CREDENTIALS_FILE, contract.HEARTBEAT_FILE,
              contract.IP_QUIET_DIR]  # fmt: skip
    copies = []
    for top in ("roles", "playbooks", "inventory", "bot/image", "tools"):
        for pattern in CODE:
            for path in (PROJECT / top).rglob(pattern):
                rel = str(path.relative_to(PROJECT))
                if rel.startswith(("tools/tests/", "tools/exchange/")):
                    continue
                text = path.read_text(errors="replace")
                copies += [
                    (rel, value)
                    for value in values
                    if re.search(rf"(?<![\w/.]){re.escape(value)}(?![\w.])", text)
                    and (rel, value) not in CHECKED_COPIES
                ]
    assert copies == []


def site_checks(tmp_path: Path, host_vars: dict[str, Any]) -> tuple[int, str, dict[str, set[str]]]:
    """site.yml's checks (its `always` tasks, --check) on localhost with these host_vars: the exit code, the
    output's words, and the results (ok, failed, fatal, ...) of each task by name."""
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, **host_vars}
    (tmp_path / "hosts.yml").write_text(json.dumps({"pifleet": {"hosts": {"localhost": host}}}))
    site = PROJECT / "playbooks/site.yml"
    roles = str(PROJECT / "roles")
    run = stock_playbook(
        tmp_path, "-i", "hosts.yml", "--check", "--tags", "always", site, ANSIBLE_ROLES_PATH=roles
    )
    results = {
        section.split("]", 1)[0]: set(re.findall(r"^(\w+): \[localhost\]", section, re.MULTILINE))
        for section in run.stdout.split("\nTASK [")[1:]
    }
    return run.returncode, " ".join(run.stdout.split()), results


UID_CHECK = "gridbot : Preflight | Refuse a uid the image does not run as"
PORT_CHECK = "Check the firewall's metrics port is left to the bot's"
SETTINGS_CHECK = "hardening : Preflight | Check the settings argument specs cannot"


@pytest.mark.parametrize(
    ("setting", "check", "refusal"),
    [
        ({"gridbot_uid": 1000}, UID_CHECK, "gridbot_uid is no longer a setting: the bot runs as the uid its"),
        ({"hardening_firewall_metrics_ports": [9300]}, PORT_CHECK, "hardening_firewall_metrics_ports follow"),
    ],
)
def test_an_inventory_that_sets_what_is_no_setting_is_refused(
    tmp_path: Path, setting: dict[str, int], check: str, refusal: str
) -> None:
    """site.yml's checks stop the run before any change, naming the variable: ignored, it would mislead."""
    code, said, results = site_checks(tmp_path, setting)
    assert code == 2
    assert results[check] == {"fatal"}, said[-3000:]
    assert refusal in said
    assert "changed=0" in said


def test_an_inventory_without_them_passes_those_checks_and_the_networks_are_checked(tmp_path: Path) -> None:
    """Both checks pass an inventory that does not set the variables (their messages are rendered even then),
    and the hardening preflight's network filter runs in the role: a network with host bits stops the run."""
    code, said, results = site_checks(tmp_path, {"hardening_firewall_monitoring_cidrs": ["192.168.1.5/24"]})
    assert (results[PORT_CHECK], results[UID_CHECK]) == ({"ok"}, {"ok"}), said[-3000:]
    assert code == 2
    assert results[SETTINGS_CHECK] == {"fatal"}, said[-3000:]
    assert 'hardening_firewall_monitoring_cidrs: "192.168.1.5/24" is not an IPv4 network in CIDR form' in said
    assert "hardening_firewall_ssh_cidrs:" not in said  # the SSH networks passed
