"""Each host's bot id (roles/gridbot/filter_plugins/bot_ids.py): made from the inventory name within what the
bot takes, the inventory's own winning, and clashes between hosts found through Ansible's real hostvars."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from stock_ansible import stock_playbook

from gridbot.config.model import parse_config

PROJECT = Path(__file__).resolve().parents[2]
PLUGINS = PROJECT / "roles" / "gridbot" / "filter_plugins"
spec = importlib.util.spec_from_file_location("bot_ids", PLUGINS / "bot_ids.py")
assert spec is not None
assert spec.loader is not None
bot_ids = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bot_ids)

# Inventory names as Ansible takes them: letters, digits, dots, dashes, underscores.
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,40}", fullmatch=True)


@given(names)
def test_an_id_is_one_the_bot_takes_and_always_the_same(name: str) -> None:
    made = bot_ids.bot_id(name)
    assert re.fullmatch(r"[a-z0-9]{1,12}", made)
    assert parse_config({"run": {"bot_id": made}}).run.bot_id == made
    assert bot_ids.bot_id(name) == made


@pytest.mark.parametrize(
    ("name", "made"),
    [("scale-03", "scale03"), ("demo-pi4", "demopi4"), ("Pi5.lan", "pi5lan"), ("fleet_pi5", "fleetpi5")],
)
def test_a_short_name_is_read_as_it_is(name: str, made: str) -> None:
    assert bot_ids.bot_id(name) == made


def test_long_names_sharing_a_beginning_stay_apart() -> None:
    fleet = [f"raspberrypi-kitchen-{n:02d}" for n in range(100)]
    made = [bot_ids.bot_id(n) for n in fleet]
    assert len(set(made)) == len(made)
    assert all(m.startswith("rasp") and len(m) == 12 for m in made)
    assert made[7].endswith("n07")


def test_a_name_without_a_letter_or_digit_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"host name '---' has no letter or digit .*set run.bot_id"):
        bot_ids.bot_id("---")


def test_the_inventory_wins_then_the_replaced_host() -> None:
    assert bot_ids.effective_bot_id({}, "pi-new") == "pinew"
    assert bot_ids.effective_bot_id({"gridbot_restore_from": "pi-old"}, "pi-new") == "piold"
    config = {"gridbot_config": {"run": {"bot_id": "fleet"}}}
    assert bot_ids.effective_bot_id(config, "pi-new") == "fleet"
    config["gridbot_host_config"] = {"run": {"bot_id": "mine"}}
    assert bot_ids.effective_bot_id(config, "pi-new") == "mine"
    config["gridbot_config_override"] = {"run": {"bot_id": "once"}}
    assert bot_ids.effective_bot_id(config, "pi-new") == "once"


CLASHES = "{{ hostvars | gridbot_bot_id_clashes(ansible_play_hosts_all, inventory_hostname) }}"


def test_clashes_through_ansibles_hostvars(tmp_path: Path) -> None:
    """An inventory where pi-b sets the id pi-a's name makes, and pi-c keeps its own: a real play with
    the role's filter on Ansible's hostvars names pi-a and pi-b as each other's clash, pi-c as none."""
    inventory = {
        "all": {
            "vars": {"ansible_connection": "local"},
            "hosts": {
                "pi-a": {},
                "pi-b": {"gridbot_host_config": {"run": {"bot_id": "pia"}}},
                "pi-c": {"gridbot_config": {"grid": {"levels": 10}}},
            },
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "all",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "ansible.builtin.set_fact": {
                                "clash": CLASHES,
                            }
                        }
                    ],
                }
            ]
        )
    )
    done = stock_playbook(
        tmp_path, "-i", "hosts.yml", "play.yml",
        ANSIBLE_FILTER_PLUGINS=str(PLUGINS), ANSIBLE_STDOUT_CALLBACK="json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"]
    assert {h: r["ansible_facts"]["clash"] for h, r in results.items()} == {
        "pi-a": ["pi-b"], "pi-b": ["pi-a"], "pi-c": [],
    }  # fmt: skip
