"""The bots a host runs (roles/gridbot/filter_plugins/bots.py): each bot's id, made from the inventory name
within what the bot takes, the inventory's own winning, clashes between hosts' bots found through Ansible's
real hostvars; the plan of a host's bots from the inventory (names, merges, keys, ports, limits) and every
problem in it named by its field; the host's budget."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from modules import load_module
from stock_ansible import stock_playbook

from gridbot.config.model import parse_config

PROJECT = Path(__file__).resolve().parents[2]
PLUGINS = PROJECT / "roles" / "gridbot" / "filter_plugins"
bots = load_module(PLUGINS / "bots.py", "bots")

# Inventory names as Ansible takes them: letters, digits, dots, dashes, underscores.
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,40}", fullmatch=True)


@given(names)
def test_an_id_is_one_the_bot_takes_and_always_the_same(name: str) -> None:
    made = bots.bot_id(name)
    assert re.fullmatch(r"[a-z0-9]{1,12}", made)
    assert parse_config({"run": {"bot_id": made}}).run.bot_id == made
    assert bots.bot_id(name) == made


@pytest.mark.parametrize(
    ("name", "made"),
    [("scale-03", "scale03"), ("demo-pi4", "demopi4"), ("Pi5.lan", "pi5lan"), ("fleet_pi5", "fleetpi5")],
)
def test_a_short_name_is_read_as_it_is(name: str, made: str) -> None:
    assert bots.bot_id(name) == made


def test_long_names_sharing_a_beginning_stay_apart() -> None:
    fleet = [f"raspberrypi-kitchen-{n:02d}" for n in range(100)]
    made = [bots.bot_id(n) for n in fleet]
    assert len(set(made)) == len(made)
    assert all(m.startswith("rasp") and len(m) == 12 for m in made)
    assert made[7].endswith("n07")


def test_a_name_without_a_letter_or_digit_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"host name '---' has no letter or digit .*set run.bot_id"):
        bots.bot_id("---")


def test_the_inventory_wins_then_the_replaced_host() -> None:
    assert bots.bot_ids({}, "pi-new") == {"default": "pinew"}
    assert bots.bot_ids({"gridbot_restore_from": "pi-old"}, "pi-new") == {"default": "piold"}
    config = {"gridbot_config": {"run": {"bot_id": "fleet"}}}
    assert bots.bot_ids(config, "pi-new") == {"default": "fleet"}
    config["gridbot_host_config"] = {"run": {"bot_id": "mine"}}
    assert bots.bot_ids(config, "pi-new") == {"default": "mine"}
    config["gridbot_config_override"] = {"run": {"bot_id": "once"}}
    assert bots.bot_ids(config, "pi-new") == {"default": "once"}


def test_a_named_bots_id_is_its_hosts_and_its_name_or_its_own() -> None:
    named = {"gridbot_host_bots": {"eth": {}, "btc-wide": {"config": {"run": {"bot_id": "wide"}}}}}
    assert bots.bot_ids(named, "pi5-attic") == {"eth": "pi5atticeth", "btc-wide": "wide"}
    assert bots.bot_ids({**named, "gridbot_restore_from": "pi5"}, "pi5-new")["eth"] == "pi5eth"


CLASHES = "{{ hostvars | gridbot_bot_id_clashes(ansible_play_hosts_all, inventory_hostname) }}"


def test_clashes_through_ansibles_hostvars(tmp_path: Path) -> None:
    """An inventory where pi-b sets the id pi-a's name makes, and pi-c's second bot the id of its first: a
    real play with the role's filter on Ansible's hostvars names each bot's clash, on any host."""
    inventory = {
        "all": {
            "vars": {"ansible_connection": "local"},
            "hosts": {
                "pi-a": {},
                "pi-b": {"gridbot_host_config": {"run": {"bot_id": "pia"}}},
                "pi-c": {
                    "gridbot_config": {"grid": {"levels": 10}},
                    "gridbot_host_bots": {"default": {}, "x": {"config": {"run": {"bot_id": "pic"}}}},
                },
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
        "pi-a": ["bot default (run.bot_id pia): also the id of pi-b/default"],
        "pi-b": ["bot default (run.bot_id pia): also the id of pi-a/default"],
        "pi-c": ["bot default (run.bot_id pic): also the id of pi-c/x",
                 "bot x (run.bot_id pic): also the id of pi-c/default"],
    }  # fmt: skip


# The role's defaults as vars/main.yml passes them with the host's variables, and its own keys.
ROLE = {
    "gridbot_cpus": 0.75, "gridbot_memory": "384M", "gridbot_cpus_reservation": 0.25,
    "gridbot_memory_reservation": "128M", "gridbot_metrics_host_port": 9108, "gridbot_metrics_publish": True,
    "gridbot_exchange_api_key": "", "gridbot_exchange_api_secret": "",
    "dir": "/opt/gridbot", "state_dir": "/var/lib/gridbot", "credentials_file": "/run/secrets/exchange",
    "ip_quiet_dir": "/ip-quiet",
}  # fmt: skip


def plan(**inventory: object) -> dict:
    return bots.bot_plan({**ROLE, **inventory}, "pi5")


def test_the_single_bot_form_is_the_bot_default_under_the_names_it_always_had() -> None:
    eth = {"market": {"symbol": "ETH/USDT"}}
    made = plan(gridbot_config={"grid": {"levels": 8}}, gridbot_host_config=eth,
                gridbot_exchange_api_key="k", gridbot_exchange_api_secret="s")  # fmt: skip
    assert made["problems"] == []
    (bot,) = made["bots"]
    assert {k: bot[k] for k in ("name", "project", "container", "dir", "volume", "backup_unit")} == {
        "name": "default", "project": "gridbot", "container": "gridbot", "dir": "/opt/gridbot",
        "volume": "gridbot_data", "backup_unit": "gridbot-backup",
    }  # fmt: skip
    assert (bot["api_key"], bot["api_secret"], bot["metrics_port"], bot["memory"]) == ("k", "s", 9108, "384M")
    assert bot["config"] == {
        "run": {"state_dir": "/var/lib/gridbot", "bot_id": "pi5"},
        "exchange": {"credentials_file": "/run/secrets/exchange"},
        "grid": {"levels": 8},
        "market": {"symbol": "ETH/USDT"},
    }


def test_bots_merge_by_name_the_hosts_over_the_groups_and_the_run_override_over_all() -> None:
    made = plan(
        gridbot_config={"grid": {"levels": 8, "width_pct": 10}},
        gridbot_bots={"eth": {"config": {"market": {"symbol": "ETH/USDT"}, "grid": {"levels": 12}},
                              "memory": "256M", "metrics_port": 9110}},
        gridbot_host_bots={"eth": {"cpus": 0.5, "config": {"grid": {"width_pct": 6}}},
                           "btc": {"metrics_port": 9111}},
        gridbot_config_override={"grid": {"levels": 20}},
    )  # fmt: skip
    assert made["problems"] == []
    eth, btc = made["bots"]
    assert (eth["name"], eth["container"], eth["dir"], eth["volume"]) == (
        "eth", "gridbot-eth", "/opt/gridbot/bots/eth", "gridbot-eth_data")  # fmt: skip
    assert (eth["memory"], eth["cpus"], btc["memory"], btc["cpus"]) == ("256M", 0.5, "384M", 0.75)
    assert eth["config"]["grid"] == {"levels": 20, "width_pct": 6}
    assert eth["config"]["market"] == {"symbol": "ETH/USDT"}
    assert btc["config"]["grid"] == {"levels": 20, "width_pct": 10}
    assert (eth["config"]["run"]["bot_id"], btc["config"]["run"]["bot_id"]) == ("pi5eth", "pi5btc")
    assert "credentials_file" not in btc["config"]["exchange"], "no key, no credentials file"


def test_two_bots_share_an_account_only_when_one_says_so() -> None:
    keyed = {"exchange_api_key": "k1", "exchange_api_secret": "s1", "metrics_port": 9110}
    made = plan(gridbot_host_bots={"a": keyed, "b": {"account_of": "a", "metrics_port": 9111}})
    assert made["problems"] == []
    assert [(b["api_key"], b["api_secret"]) for b in made["bots"]] == [("k1", "s1"), ("k1", "s1")]
    assert made["bots"][1]["config"]["exchange"] == {
        "credentials_file": "/run/secrets/exchange",
        "bots_per_ip": 2,
        "ip_quiet_dir": "/ip-quiet",
        "account_shared_with": {"a": {}},
    }
    silent = plan(gridbot_host_bots={"a": keyed, "b": {**keyed, "metrics_port": 9111}})
    assert silent["problems"] == [
        "bots a, b have one exchange key: bots sharing an account say so (account_of: a on the others)"
    ]


@pytest.mark.parametrize(
    ("inventory", "problem"),
    [
        ({"gridbot_host_bots": {"eth/usdt": {}}}, "gridbot_host_bots: a bot's name must be 1-16 lower-case"),
        ({"gridbot_bots": {"Eth": {}}}, "got 'Eth'"),
        ({"gridbot_bots": {"a-very-long-bot-name": {}}}, "got 'a-very-long-bot-name'"),
        ({"gridbot_bots": ["eth"]}, "gridbot_bots must map each bot's name to its settings; got list"),
        ({"gridbot_bots": {"eth": {"memroy": "1G", "metrics_port": 9110}}}, "gridbot_bots.eth: unknown"),
        ({"gridbot_bots": {"eth": {"memory": "lots", "metrics_port": 9110}}},
         "bot eth.memory must be a size such as 384M"),
        ({"gridbot_bots": {"eth": {"cpus": 0, "metrics_port": 9110}}}, "bot eth.cpus must be a number of"),
        ({"gridbot_bots": {"eth": {}}}, "bot eth.metrics_port: each bot but default names the host port"),
        ({"gridbot_bots": {"eth": {"metrics_port": 80}}}, "bot eth.metrics_port must be a port from 1024"),
        ({"gridbot_bots": {"default": {}, "eth": {"metrics_port": 9108}}},
         "bots default and eth have one metrics_port, 9108"),
        ({"gridbot_bots": {"eth": {"metrics_port": 9110, "account_of": "btc"}}},
         "bot eth.account_of: 'btc' is not another bot of this host (eth)"),
        ({"gridbot_bots": {"eth": {"metrics_port": 9110, "exchange_api_key": "k"}}},
         "bot eth: exchange_api_key and exchange_api_secret go together"),
        ({"gridbot_bots": {"a": {"metrics_port": 9110, "exchange_api_key": "k", "exchange_api_secret": "s"},
                           "b": {"metrics_port": 9111, "account_of": "a"},
                           "c": {"metrics_port": 9112, "account_of": "b"}}},
         "bot c.account_of: 'b' shares another bot's account itself: name that account's own bot, 'a'"),
    ],
)  # fmt: skip
def test_bad_bots_are_refused_naming_the_field(inventory: dict, problem: str) -> None:
    problems = plan(**inventory)["problems"]
    assert any(problem in p for p in problems), problems


def test_an_unpublished_bot_needs_no_port() -> None:
    assert plan(gridbot_metrics_publish=False, gridbot_bots={"eth": {}})["problems"] == []


def test_the_host_budget_names_the_bots_and_the_numbers() -> None:
    two = {"a": {"metrics_port": 9110, "memory": "1g"},
           "b": {"metrics_port": 9111, "memory": "768M", "cpus_reservation": 1.5}}  # fmt: skip
    made = plan(gridbot_bots=two)["bots"]
    assert bots.budget_problems(made, "pi4", 2048, 4, "256M", 0.5) == []
    assert bots.budget_problems(made, "pi4", 1906, 2, "256M", 0.5) == [
        "pi4: the bots' memory limits total 1792 MiB (a 1g, b 768M), beyond the 1650 MiB the host has for "
        "them (1906 MiB less gridbot_host_reserve_memory 256M)",
        "pi4: the bots' CPU reservations total 1.75 (a 0.25, b 1.5), beyond the 1.5 the host has for them "
        "(2 CPUs less gridbot_host_reserve_cpus 0.5)",
    ]
    assert bots.budget_problems(made, "pi4", 2048, 4, "plenty", 0.5) == [
        "gridbot_host_reserve_memory must be a size such as 512M or 1g; got 'plenty'"
    ]


@given(st.dictionaries(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?", fullmatch=True),
                       st.integers(1024, 65535), min_size=1, max_size=8))  # fmt: skip
def test_every_bot_of_a_host_has_names_and_an_id_of_its_own(ports: dict[str, int]) -> None:
    made = plan(gridbot_metrics_publish=False, gridbot_bots={n: {} for n in ports})
    assert made["problems"] == []
    for key in ("container", "dir", "volume", "backup_unit", "bot_id"):
        values = [b[key] if key != "bot_id" else b["config"]["run"]["bot_id"] for b in made["bots"]]
        assert len(set(values)) == len(values), (key, values)


def test_the_bots_a_host_runs_that_the_plan_dropped_are_retired_with_their_places() -> None:
    made = plan(gridbot_metrics_publish=False, gridbot_bots={"wide": {}})
    engine = [
        "gridbot",
        "gridbot-wide",
        "gridbot-narrow",
        "gridbot-narrow-x",
        "other",
        "gridbot-UPPER",
        "gridbot-",
    ]
    retired = bots.retired_bots(engine, made["bots"], "/opt/gridbot")
    assert [b["name"] for b in retired] == ["default", "narrow", "narrow-x"]
    default, narrow, _ = retired
    # the places the plan gave them when they ran: where their container, units and store are
    assert default == {k: v for k, v in plan()["bots"][0].items() if k in default}
    wide_once = plan(gridbot_metrics_publish=False, gridbot_bots={"narrow": {}})["bots"][0]
    assert narrow == {k: v for k, v in wide_once.items() if k in narrow}
    assert bots.retired_bots(["gridbot-wide"], made["bots"], "/opt/gridbot") == []


@given(
    st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?", fullmatch=True), max_size=6, unique=True),
    st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?", fullmatch=True), max_size=6, unique=True),
)
def test_a_bot_of_the_plan_is_never_retired(kept: list[str], running: list[str]) -> None:  # fmt: skip
    made = plan(gridbot_metrics_publish=False, gridbot_bots={n: {} for n in kept}) if kept else plan()
    containers = [bots.places(n, "/opt/gridbot")["container"] for n in running]
    retired = {b["name"] for b in bots.retired_bots(containers, made["bots"], "/opt/gridbot")}
    assert retired == set(running) - {b["name"] for b in made["bots"]}


def test_bots_on_one_host_pace_their_calls_as_bots_behind_one_ip_and_share_its_retry_after() -> None:
    (alone,) = plan()["bots"]
    assert "exchange" not in alone["config"], "a lone bot's config as it always was"
    assert alone["ip_dir"] == ""
    three = plan(gridbot_metrics_publish=False, gridbot_bots={"default": {}, "a": {}, "b": {}})["bots"]
    assert [b["config"]["exchange"]["bots_per_ip"] for b in three] == [3, 3, 3]
    assert {(b["ip_dir"], b["config"]["exchange"]["ip_quiet_dir"]) for b in three} == {
        ("/opt/gridbot/retry-after", "/ip-quiet")}  # fmt: skip
    # Pis behind one router: the inventory's count wins where it is the larger; never fewer than the host's.
    routed = plan(gridbot_metrics_publish=False, gridbot_bots={"default": {}, "a": {"config": {"exchange": {
        "bots_per_ip": 2}}}}, gridbot_config={"exchange": {"bots_per_ip": 6}})["bots"]  # fmt: skip
    assert [b["config"]["exchange"]["bots_per_ip"] for b in routed] == [6, 2]
    two = plan(gridbot_metrics_publish=False, gridbot_bots={"default": {}, "a": {}},
               gridbot_config={"exchange": {"bots_per_ip": 1}})["bots"]  # fmt: skip
    assert [b["config"]["exchange"]["bots_per_ip"] for b in two] == [2, 2]


def test_bots_on_one_account_name_each_other_and_their_start_for_the_first_starts_funds_check() -> None:
    keyed = {"exchange_api_key": "k1", "exchange_api_secret": "s1"}
    eth = {"market": {"symbol": "ETH/USDT"}}
    made = plan(gridbot_metrics_publish=False, gridbot_config={"start_quote": 900}, gridbot_bots={
        "a": {**keyed, "config": {"start_quote": 300}}, "b": {"account_of": "a", "config": eth},
        "c": {"account_of": "a"}, "d": {"exchange_api_key": "k2", "exchange_api_secret": "s2"}})  # fmt: skip
    assert made["problems"] == []
    shared = {b["name"]: b["config"]["exchange"].get("account_shared_with") for b in made["bots"]}
    a, b, c = {"start_quote": 300}, {"start_quote": 900, "symbol": "ETH/USDT"}, {"start_quote": 900}
    assert shared == {"a": {"b": b, "c": c}, "b": {"a": a, "c": c}, "c": {"a": a, "b": b}, "d": None}
    for b in made["bots"]:
        parse_config(b["config"])  # what the plan writes, the bot takes


def test_a_new_live_bot_on_a_shared_account_has_its_funds_judged_before_any_change() -> None:
    """Only a bot whose first start claims a share of an account others use: live, keyed, with neighbours on
    it, and no store yet. A paper bot, a bot on an account of its own and a bot that trades already (its store
    volume on the host) are left alone."""
    keyed = {"exchange_api_key": "k1", "exchange_api_secret": "s1"}
    live = {"gridbot_config": {"mode": "live"}, "gridbot_metrics_publish": False}
    made = plan(**live, gridbot_bots={"a": keyed, "b": {"account_of": "a"}, "c": {"exchange_api_key": "k2",
                "exchange_api_secret": "s2"}, "d": {}})  # fmt: skip
    assert made["problems"] == []
    assert bots.funds_pending(made["bots"], []) == ["a", "b"]
    assert bots.funds_pending(made["bots"], ["gridbot-a_data\n", "other_data"]) == ["b"]
    assert bots.funds_pending(made["bots"], ["gridbot-a_data", "gridbot-b_data"]) == []
    paper = plan(gridbot_metrics_publish=False, gridbot_bots={"a": keyed, "b": {"account_of": "a"}})
    assert bots.funds_pending(paper["bots"], []) == []
