"""A rollout's verdict on a bot (re)started at `since`: does it trade? Pure: the store's saved status and halt
in, a verdict out (`gridbot gate` reads them; the gridbot role's soak asks it after the container's own
healthcheck, which a bot that halted itself still passes: its loop beats on, idle).

A release, a config or a key that makes the bot halt itself at start (the exchange refusing the key, a grid
the exchange refuses, a kill switch) is caught here, before the rollout reaches the next batch. A halt from
before this start (an operator's, an exit's) is not the release's doing: the gate does not judge it, but a
key the exchange refused since the start still fails (the halt before it keeps its own reason, and a rollout
must not record a refused key as one that passed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gridbot.contract import KEY_REFUSED_HALT

TRADING, NOT_TRADING, STARTING = 0, 1, 3  # `gridbot gate`'s exit codes


@dataclass(frozen=True)
class Verdict:
    code: int
    why: str
    # The halt this start made, with the reason the exchange's refusal of the key gives: the deployment's
    # credentials alone caused it, so a rollback to the credentials that passed may lift it.
    key_refused: bool = False

    def as_json(self) -> dict[str, Any]:
        state = {TRADING: "trading", NOT_TRADING: "not trading", STARTING: "starting"}[self.code]
        return {"state": state, "why": self.why, "key_refused": self.key_refused}


def judge(
    status: dict[str, Any] | None,
    halt: tuple[str, float] | None,
    since: float,
    max_api_errors: int,
    key_refused_at: float | None = None,
) -> Verdict:
    """`status`: the last saved status (None: none saved yet); `halt`: the store's halt (reason, since epoch);
    `since`: the bot's start (epoch); `max_api_errors`: the errors since the start it is allowed to have
    reached (fewer pass); `key_refused_at`: when the exchange last refused the credentials (epoch)."""
    if halt is not None and halt[1] >= since:
        key = halt[0].startswith(KEY_REFUSED_HALT)
        return Verdict(NOT_TRADING, f"halted since its start: {halt[0]}", key)
    if key_refused_at is not None and key_refused_at >= since:
        # not this halt's cause (it came before): a rollback puts the key that passed back, the halt stays
        before = f" (halted before it: {halt[0]})" if halt is not None else ""
        return Verdict(NOT_TRADING, f"{KEY_REFUSED_HALT} since its start{before}")
    saved = status.get("saved") if status else None
    if status is None or not isinstance(saved, int | float) or saved < since:
        return Verdict(STARTING, "no cycle saved since its start: markets or the first reconcile pending")
    if halt is not None:
        return Verdict(TRADING, f"halted before this start ({halt[0]}): a halt the gate does not judge")
    errors = int(status.get("api_errors") or 0)
    if errors >= max_api_errors:
        allowed = max_api_errors - 1
        return Verdict(NOT_TRADING, f"{errors} API errors within the hour (the gate allows {allowed})")
    orders = int(status.get("open_orders") or 0)
    if status.get("halted"):  # an exit of the engine's (take profit, stop loss): the market's doing
        exit_ = status["halted"]
        return Verdict(TRADING, f"stopped by its own exit ({exit_}): a halt the gate does not judge")
    if status.get("grid") is None:  # its first candles not taken yet (a grid is planned from them)
        return Verdict(STARTING, "no grid yet: its first candles pending")
    if orders == 0:
        return Verdict(NOT_TRADING, "no resting order: its grid placed none on the exchange")
    return Verdict(TRADING, f"trading: {orders} orders resting, {errors} API errors within the hour")


_ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def parse_since(text: str) -> float:
    """An epoch, or an ISO 8601 time as the engine reports a container's start (`State.StartedAt`, in
    nanoseconds, which `datetime` does not take: cut to microseconds)."""
    try:
        return float(text)
    except ValueError:
        pass
    m = _ISO.match(text.strip())
    if m is None:
        raise ValueError(f"--since {text!r}: an epoch or an ISO 8601 time such as 2026-11-29T04:50:01.5Z")
    frac = (m[2] or "0")[:6].ljust(6, "0")
    zone = "+00:00" if m[3] == "Z" else m[3]
    return datetime.fromisoformat(f"{m[1]}.{frac}{zone}").timestamp()
