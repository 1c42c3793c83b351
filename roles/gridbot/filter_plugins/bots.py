"""The bots a host runs, as one plan, and each bot's id (unit-tested on the controller:
tools/tests/test_bots.py).

`gridbot_bots` (group variables) and `gridbot_host_bots` (host variables) name a host's bots, merged by name
(the host's settings over the group's, recursively). Without either, the host runs one bot named `default`:
the single-bot form every inventory before several bots wrote, deployed under the names it always had
(container `gridbot`, project directory `gridbot_dir`, volume `gridbot_data`), so an upgrade adopts the
running bot as it is. Each other bot gets names of its own beside it, so neighbours never share a container,
a store or a secret.

A bot's bot.yml is the role's own keys, then the fleet's `gridbot_config`, the host's `gridbot_host_config`,
the bot's `config`, and one run's `gridbot_config_override`, merged in that order. Its exchange key is its own
(`exchange_api_key` / `exchange_api_secret`, from the vault), the host's for `default`, or another bot's on
the host named by `account_of`: bots sharing an account say so, they never share by omission.

Every problem is returned, each naming its field, for the preflight to refuse before any change.

Each bot's id (the bot's `run.bot_id`, the prefix of its client order ids): two bots on one exchange account
under one id would take each other's orders for their own, and the fleet's example inventory puts one API key
in its group variables, so every bot gets an id of its own, made from its host's inventory name (the name of
the host it replaces, when told `gridbot_restore_from`: a replacement is that bot) and, but for `default`, its
own name. An id set in the inventory (`run.bot_id` in a config layer) wins. The bot takes 1-12 letters and
digits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

MAX_LEN = 12
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def bot_id(name: str) -> str:
    """The host's name as a bot id: its letters and digits, lower case. A longer name keeps its first 4 and
    last 3 (a fleet's names differ most at their ends) around 5 base-36 characters of its digest, so that
    two long names sharing both ends still differ (1 chance in 60 million of a clash, which the preflight
    refuses anyway)."""
    plain = re.sub(r"[^a-z0-9]", "", str(name).lower())
    if not plain:
        raise ValueError(f"host name {name!r} has no letter or digit to make a bot id of: set run.bot_id")
    if len(plain) <= MAX_LEN:
        return plain
    n = int.from_bytes(hashlib.sha256(str(name).encode()).digest()[:8], "big")
    digest = "".join(_BASE36[(n // 36**k) % 36] for k in range(5))
    return plain[:4] + digest + plain[-3:]


DEFAULT = "default"
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$")
SIZE = re.compile(r"^([1-9][0-9]*)([bkmgBKMG])$")
KEYS = ("config", "exchange_api_key", "exchange_api_secret", "account_of", "cpus", "memory",
        "cpus_reservation", "memory_reservation", "metrics_port")  # fmt: skip
LIMITS = ("cpus", "memory", "cpus_reservation", "memory_reservation")
_UNIT = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
# The inventory's config layers, in the order they merge (bot.yml's keys: later wins).
_LAYERS = ("gridbot_config", "gridbot_host_config", "<the bot's config>", "gridbot_config_override")


def merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `over` merged in recursively, as Ansible's combine(recursive=true): mappings merge,
    anything else (lists too) is replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def size_bytes(value: object) -> int | None:
    """A Docker size (384M, 1g, 512k) in bytes; None when it is not one."""
    m = SIZE.match(str(value))
    return None if m is None else int(m[1]) * _UNIT[m[2].lower()]


def bot_entries(fleet: object, host: object, problems: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """gridbot_bots and gridbot_host_bots merged by name; {default: {}} when neither names a bot. What is not
    a bot's name or settings is left out, with its problem."""
    problems = [] if problems is None else problems
    out: dict[str, dict[str, Any]] = {}
    for field, given in (("gridbot_bots", fleet), ("gridbot_host_bots", host)):
        if given in (None, ""):
            continue
        if not isinstance(given, Mapping):
            problems.append(f"{field} must map each bot's name to its settings; got {type(given).__name__}")
            continue
        for name, given_settings in given.items():
            where = f"{field}.{name}"
            if not isinstance(name, str) or not NAME.match(name):
                problems.append(f"{field}: a bot's name must be 1-16 lower-case letters, digits and "
                                f"inner hyphens (its container's name); got {name!r}")  # fmt: skip
                continue
            settings = {} if given_settings is None else given_settings
            if not isinstance(settings, Mapping):
                problems.append(
                    f"{where} must be a mapping of the bot's settings; got {type(settings).__name__}"
                )
                continue
            unknown = sorted(str(k) for k in set(settings) - set(KEYS))
            if unknown:
                problems.append(
                    f"{where}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(KEYS)})"
                )
            if not isinstance(settings.get("config", {}) or {}, Mapping):
                problems.append(f"{where}.config must be a mapping of bot.yml keys")
                settings = {k: v for k, v in settings.items() if k != "config"}
            out[name] = merged(out.get(name, {}), settings)
    return out or {DEFAULT: {}}


def _layers(vars_: Mapping[str, Any], entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = [vars_.get("gridbot_config"), vars_.get("gridbot_host_config"), entry.get("config"),
             vars_.get("gridbot_config_override")]  # fmt: skip
    return [x if isinstance(x, Mapping) else {} for x in found]


def bot_ids(vars_: Mapping[str, Any], host: str) -> dict[str, str]:
    """Each bot of a host (its variables: an inventory's hostvars, or the role's) and the id it runs under."""
    base = vars_.get("gridbot_restore_from") or host
    out = {}
    for name, entry in bot_entries(vars_.get("gridbot_bots"), vars_.get("gridbot_host_bots")).items():
        set_ids = [run.get("bot_id") for layer in _layers(vars_, entry)
                   if isinstance(run := layer.get("run"), Mapping) and run.get("bot_id")]  # fmt: skip
        out[name] = str(set_ids[-1]) if set_ids else bot_id(base if name == DEFAULT else f"{base}-{name}")
    return out


def bot_id_clashes(all_hostvars: Mapping[str, Mapping[str, Any]], hosts: Iterable[str], me: str) -> list[str]:
    """Each bot of `me` whose id another bot of the play (on any host, this one included) runs under:
    "bot eth (id pi5eth): also pi4/default"."""
    everyone = [(h, name, i) for h in hosts for name, i in bot_ids(all_hostvars[h], h).items()]
    out = []
    for name, mine in bot_ids(all_hostvars[me], me).items():
        others = [f"{h}/{n}" for h, n, i in everyone if i == mine and (h, n) != (me, name)]
        if others:
            out.append(f"bot {name} (run.bot_id {mine}): also the id of {', '.join(others)}")
    return out


def _check_limits(where: str, limits: Mapping[str, Any], problems: list[str]) -> None:
    for key in ("memory", "memory_reservation"):
        if size_bytes(limits[key]) is None:
            problems.append(f"{where}.{key} must be a size such as 384M, 128m or 1g; got {limits[key]!r}")
    for key in ("cpus", "cpus_reservation"):
        try:
            ok = float(limits[key]) > 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            problems.append(f"{where}.{key} must be a number of CPUs above 0; got {limits[key]!r}")


def _accounts(bots: list[dict[str, Any]], problems: list[str]) -> None:
    """`account_of` resolved to the named bot's key; one key under two bots only where that is said."""
    by_name = {b["name"]: b for b in bots}
    for b in bots:
        other = b["account_of"]
        if not other:
            continue
        if other not in by_name or other == b["name"]:
            problems.append(f"bot {b['name']}.account_of: {other!r} is not another bot of this host "
                            f"({', '.join(sorted(by_name))})")  # fmt: skip
        elif by_name[other]["account_of"]:
            problems.append(f"bot {b['name']}.account_of: {other!r} shares another bot's account itself: "
                            f"name that account's own bot, {by_name[other]['account_of']!r}")  # fmt: skip
        elif b["api_key"]:
            problems.append(
                f"bot {b['name']}: its own exchange_api_key and account_of {other!r}: one or the other"
            )
        else:
            b["api_key"], b["api_secret"] = by_name[other]["api_key"], by_name[other]["api_secret"]
    owners: dict[str, list[str]] = {}
    for b in bots:
        if b["api_key"] and not b["account_of"]:
            owners.setdefault(b["api_key"], []).append(b["name"])
    for names in owners.values():
        if len(names) > 1:
            problems.append(f"bots {', '.join(names)} have one exchange key: bots sharing an account say so "
                            f"(account_of: {names[0]} on the others)")  # fmt: skip


def _ports(bots: list[dict[str, Any]], problems: list[str]) -> None:
    seen: dict[int, str] = {}
    for b in bots:
        port = b["metrics_port"]
        if port is None and not b["published"]:
            continue
        if port is None:
            problems.append(f"bot {b['name']}.metrics_port: each bot but {DEFAULT} names the host port its "
                            "metrics are published on (1024-65535)")  # fmt: skip
        elif isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
            problems.append(f"bot {b['name']}.metrics_port must be a port from 1024 to 65535; got {port!r}")
        elif port in seen:
            problems.append(
                f"bots {seen[port]} and {b['name']} have one metrics_port, {port}: each needs its own"
            )
        else:
            seen[port] = b["name"]


def places(name: str, dir_: str) -> dict[str, str]:
    """Where a bot lives on its host: its compose project and container, directory, store volume, backup
    unit and backup subdirectory. The bot `default` keeps the single-bot form's names, so that a host's first
    bot is adopted as it runs."""
    single = name == DEFAULT
    project = "gridbot" if single else f"gridbot-{name}"
    return {
        "name": name,
        "project": project,
        "container": project,
        "dir": dir_ if single else f"{dir_}/bots/{name}",
        "volume": f"{project}_data",
        "backup_unit": "gridbot-backup" if single else f"gridbot-backup-{name}",
        "backup_subdir": "" if single else name,
    }


_CONTAINER = re.compile(r"^gridbot(?:-([a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?))?$")


def retired_bots(
    containers: Iterable[str], plan: Iterable[Mapping[str, Any]], dir_: str
) -> list[dict[str, str]]:
    """The bots the host's engine runs (its containers of the role's compose service, by name) that the plan
    no longer has, with their places: the ones to retire."""
    kept = {b["name"] for b in plan}
    out = []
    for container in containers:
        m = _CONTAINER.match(container.strip())
        if m is not None and (m[1] or DEFAULT) not in kept:
            out.append(places(m[1] or DEFAULT, dir_))
    return sorted(out, key=lambda b: b["name"])


def bot_plan(vars_: Mapping[str, Any], host: str) -> dict[str, Any]:
    """{bots: [...], problems: [...]}: each bot of the host with its names on the host, its bot.yml, its key
    and its limits, and the directory the host's bots share (`ip_dir`, when several). `vars_`: the host's
    variables as the role sees them (vars/main.yml passes the role's defaults too, and its own keys: `dir`,
    `state_dir`, `credentials_file`, `ip_quiet_dir`)."""
    problems: list[str] = []
    entries = bot_entries(vars_.get("gridbot_bots"), vars_.get("gridbot_host_bots"), problems)
    ids = bot_ids(vars_, host)
    bots = []
    for name, entry in entries.items():
        single = name == DEFAULT
        key = entry.get("exchange_api_key", vars_.get("gridbot_exchange_api_key") if single else "") or ""
        secret = entry.get(
            "exchange_api_secret", vars_.get("gridbot_exchange_api_secret", "") if single else ""
        )
        if bool(key) != bool(secret):
            problems.append(f"bot {name}: exchange_api_key and exchange_api_secret go together; one is empty")
        limits = {k: entry.get(k, vars_[f"gridbot_{k}"]) for k in LIMITS}
        _check_limits(f"bot {name}", limits, problems)
        bots.append({
            **places(name, vars_["dir"]),
            "bot_id": ids[name],
            "api_key": str(key),
            "api_secret": str(secret or ""),
            "account_of": entry.get("account_of") or "",
            "metrics_port": entry.get("metrics_port", vars_["gridbot_metrics_host_port"] if single else None),
            "published": bool(vars_.get("gridbot_metrics_publish")),
            "entry": entry,
            **limits,
        })  # fmt: skip
    _accounts(bots, problems)
    _ports(bots, problems)
    for b in bots:
        own = {"run": {"state_dir": vars_["state_dir"], "bot_id": b["bot_id"]}}
        if b["api_key"]:
            own["exchange"] = {"credentials_file": vars_["credentials_file"]}
        config: dict[str, Any] = own
        for layer in _layers(vars_, b.pop("entry")):
            config = merged(config, layer)
        if len(bots) > 1:  # their pacing, and the Retry-After one is given, shared: the IP's limits
            config = merged(config, {"exchange": {"bots_per_ip": _behind_ip(config, len(bots)),
                                                  "ip_quiet_dir": vars_["ip_quiet_dir"]}})  # fmt: skip
        b["config"] = config
        b["ip_dir"] = f"{vars_['dir']}/retry-after" if len(bots) > 1 else ""
    _shared_funds(bots)
    return {"bots": bots, "problems": problems}


def _shared_funds(bots: list[dict[str, Any]]) -> None:
    """Each bot on an account another bot of the host shares names the others, what they start with and on
    which market (what their configs say; the bot's defaults otherwise), for its first start's check that
    the account funds them all: the bot knows the balances, the plan not."""
    accounts: dict[str, list[dict[str, Any]]] = {}
    for b in bots:
        accounts.setdefault(b["account_of"] or b["name"], []).append(b)
    for sharing in accounts.values():
        for b in sharing if len(sharing) > 1 else ():
            others = {o["name"]: _start_of(o["config"]) for o in sharing if o is not b}
            b["config"] = merged(b["config"], {"exchange": {"account_shared_with": others}})


def funds_pending(bots: Iterable[Mapping[str, Any]], volumes: Iterable[str]) -> list[str]:
    """The bots whose first start claims funds from an account other bots of the host share: live, keyed,
    naming neighbours (`exchange.account_shared_with`), and no store volume on the host yet (`volumes`: the
    engine's volume names). tasks/funds.yml has the exchange judge their accounts before any bot of the host
    changes; a bot with a store has claimed its share already (the bot judges a first start alone too)."""
    stored = {v.strip() for v in volumes}
    out = []
    for b in bots:
        config = b["config"]
        exchange = config.get("exchange")
        shared = exchange.get("account_shared_with") if isinstance(exchange, Mapping) else None
        if b["api_key"] and config.get("mode") == "live" and shared and b["volume"] not in stored:
            out.append(b["name"])
    return out


def _start_of(config: Mapping[str, Any]) -> dict[str, Any]:
    market = config.get("market")
    said = {"start_quote": config.get("start_quote"),
            "symbol": market.get("symbol") if isinstance(market, Mapping) else None}  # fmt: skip
    return {k: v for k, v in said.items() if v is not None}


def _behind_ip(config: Mapping[str, Any], count: int) -> Any:
    """The bots that share the host's IP, for their pacing of the exchange's per-IP request weight: at least
    the host's own; more when the inventory says so (Pis behind one router). A bad value is left for the
    bot's check-config to name."""
    exchange = config.get("exchange")
    said = exchange.get("bots_per_ip") if isinstance(exchange, Mapping) else None
    if said is None:
        return count
    if isinstance(said, bool) or not isinstance(said, int):
        return said
    return max(said, count)


def budget_problems(bots: list[Mapping[str, Any]], host: str, memory_mb: int, cpus: float,
                    reserve_memory: object, reserve_cpus: float) -> list[str]:  # fmt: skip
    """The bots' memory limits and CPU reservations together within the host's, less the reserve for the OS,
    the engine and (on a monitoring host) its stack."""
    reserve = size_bytes(reserve_memory)
    if reserve is None:
        return [f"gridbot_host_reserve_memory must be a size such as 512M or 1g; got {reserve_memory!r}"]
    out = []
    room = memory_mb * 1024**2 - reserve
    wanted = sum(size_bytes(b["memory"]) or 0 for b in bots)
    if wanted > room:
        each = ", ".join(f"{b['name']} {b['memory']}" for b in bots)
        out.append(f"{host}: the bots' memory limits total {wanted // 1024**2} MiB ({each}), beyond the "
                   f"{max(room, 0) // 1024**2} MiB the host has for them ({memory_mb} MiB less "
                   f"gridbot_host_reserve_memory {reserve_memory})")  # fmt: skip
    cpu_room = float(cpus) - float(reserve_cpus)
    cpu_wanted = sum(float(b["cpus_reservation"]) for b in bots)
    if cpu_wanted > cpu_room + 1e-9:
        each = ", ".join(f"{b['name']} {b['cpus_reservation']}" for b in bots)
        out.append(f"{host}: the bots' CPU reservations total {cpu_wanted:g} ({each}), beyond the "
                   f"{max(cpu_room, 0):g} the host has for them ({float(cpus):g} CPUs less "
                   f"gridbot_host_reserve_cpus {reserve_cpus})")  # fmt: skip
    return out


def _bots(vars_: Mapping[str, Any], host: str) -> list[dict[str, Any]]:
    """The plan's bots, for the tasks (the preflight has refused a plan with problems before they run)."""
    plan = bot_plan(vars_, host)
    if plan["problems"]:
        raise AnsibleFilterError(f"{host}: " + "; ".join(plan["problems"]))
    return plan["bots"]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "gridbot_bot_id": bot_id,
            "gridbot_bot_plan": bot_plan,
            "gridbot_bots": _bots,
            "gridbot_bot_id_clashes": bot_id_clashes,
            "gridbot_budget_problems": budget_problems,
            "gridbot_retired_bots": retired_bots,
            "gridbot_funds_pending": funds_pending,
        }
