"""Faults on demand, per endpoint or global: set at start-up (--fault) or through the admin API.

A rule applies to requests whose path starts with `path` ("" = every API path) and, if given, whose method
is `method`; `count` limits how many requests it hits, `for_s` how long (real seconds) it lasts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

KINDS = ("latency", "hang", "status", "drop", "invisible", "skew", "maintenance")
STATUSES = (418, 429, 500, 502, 503, 504)
CLOCKS = ("wall", "market")


class FaultError(ValueError):
    """A fault rule that cannot be applied; the message names the field."""


@dataclass
class Rule:
    kind: str
    path: str = ""
    method: str = ""
    count: int | None = None
    until: float | None = None
    ms: int = 0  # latency, skew
    seconds: float = 30.0  # hang, invisible
    status: int = 503
    retry_after: int = 1
    clock: str = "wall"  # invisible: `seconds` on the wall clock or on the (stepped) market clock
    id: int = field(default=0)

    def matches(self, method: str, path: str, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        return path.startswith(self.path) and (not self.method or self.method == method)

    def describe(self) -> dict[str, object]:
        out = {k: v for k, v in vars(self).items() if v is not None}
        if self.until is not None:
            out["until"] = round(self.until - time.monotonic(), 3)
        return out


def _num(name: str, value: object, kind: Callable[[Any], float], signed: bool = False) -> float:
    try:
        out = kind(value)
    except (TypeError, ValueError):
        raise FaultError(f"fault field '{name}': not a number: {value!r}") from None
    if out < 0 and not signed:
        raise FaultError(f"fault field '{name}': must be >= 0, got {value!r}")
    return out


def parse_rule(spec: dict[str, object]) -> Rule:
    kind = str(spec.get("kind", ""))
    if kind not in KINDS:
        raise FaultError(f"fault field 'kind': {kind!r} is not one of {', '.join(KINDS)}")
    rule = Rule(kind)
    for name, value in spec.items():
        if name == "kind":
            continue
        if name in ("path", "method"):
            setattr(rule, name, str(value).upper() if name == "method" else str(value))
        elif name in ("count", "ms", "status", "retry_after"):
            setattr(rule, name, int(_num(name, value, int, signed=name == "ms" and kind == "skew")))
        elif name == "seconds":
            rule.seconds = _num(name, value, float)
        elif name == "clock":
            if value not in CLOCKS:
                raise FaultError(f"fault field 'clock': {value!r} is not one of {', '.join(CLOCKS)}")
            rule.clock = str(value)
        elif name == "for_s":
            rule.until = time.monotonic() + _num(name, value, float)
        else:
            known = "kind, path, method, count, for_s, ms, seconds, status, retry_after, clock"
            raise FaultError(f"fault field {name!r} is unknown ({known})")
    if kind == "status" and rule.status not in STATUSES:
        raise FaultError(f"fault field 'status': {rule.status} is not one of {STATUSES}")
    return rule


def parse_flag(text: str) -> Rule:
    """`--fault kind[:name=value,...]`, e.g. `latency:ms=200,path=/api/v3/order`."""
    kind, _, rest = text.partition(":")
    spec: dict[str, object] = {"kind": kind}
    for item in filter(None, rest.split(",")):
        name, eq, value = item.partition("=")
        if not eq:
            raise FaultError(f"--fault {text!r}: {item!r} is not name=value")
        spec[name.strip()] = value.strip()
    return parse_rule(spec)


@dataclass
class Effects:
    latency_s: float = 0.0
    hang_s: float = 0.0
    status: int = 0
    retry_after: int = 0
    maintenance: bool = False
    drop: bool = False


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._next_id = 1

    def add(self, *rules: Rule) -> list[Rule]:
        """Rules that take effect together: no request meets one of them without the others."""
        with self._lock:
            for rule in rules:
                rule.id = self._next_id
                self._next_id += 1
                self._rules.append(rule)
        return list(rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def list(self) -> list[dict[str, object]]:
        with self._lock:
            return [r.describe() for r in self._rules]

    def _active(self, kind: str, method: str, path: str) -> Rule | None:
        now = time.monotonic()
        with self._lock:
            return next((r for r in self._rules if r.kind == kind and r.matches(method, path, now)), None)

    def skew_ms(self) -> int:
        rule = self._active("skew", "", "")
        return rule.ms if rule else 0

    def invisible(self, method: str, path: str) -> tuple[float, str] | None:
        """(seconds, clock) to hide an order created now, using one of the rule's `count`; None if no rule."""
        rule = self._active("invisible", method, path)
        if rule is None:
            return None
        with self._lock:
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0 and rule in self._rules:
                    self._rules.remove(rule)
        return rule.seconds, rule.clock

    def effects(self, method: str, path: str) -> Effects:
        """What the request meets; counted rules are used up here."""
        out = Effects()
        now = time.monotonic()
        with self._lock:
            for r in list(self._rules):
                if r.kind in ("skew", "invisible") or not r.matches(method, path, now):
                    continue
                if r.kind == "latency":
                    out.latency_s += r.ms / 1000
                elif r.kind == "hang":
                    out.hang_s = r.seconds
                elif r.kind == "status":
                    out.status, out.retry_after = r.status, r.retry_after
                elif r.kind == "maintenance":
                    out.maintenance = True
                elif r.kind == "drop":
                    out.drop = True
                if r.count is not None:
                    r.count -= 1
                    if r.count <= 0:
                        self._rules.remove(r)
            self._rules = [r for r in self._rules if r.until is None or now < r.until]
        return out
