"""A config judged by the exchange's own rules before any order: at `gridbot run`'s start (keyed: the
account's other orders count against the order limit too) and by `gridbot check-config` (keyless, when the
exchange can be reached)."""

from __future__ import annotations

import time
from decimal import Decimal

from gridbot.config.model import BotConfig, ConfigError
from gridbot.live.book import parse_client_id
from gridbot.live.guards import order_cap
from gridbot.live.ownership import Ownership
from gridbot.live.venue import Balance, MarketRules, OrderState, Venue


def check_rules(
    cfg: BotConfig,
    rules: MarketRules,
    open_orders: list[OrderState] | None = None,
    owner: Ownership | None = None,
) -> None:
    """The config's market values judged by the exchange's own: a grid on another tick or a fee below the
    exchange's would be decided on numbers the exchange does not trade by, and a grid with more levels than
    the exchange lets rest would have its orders past the limit refused (`open_orders`: the symbol's open
    orders, when known; anyone else's take their share of the limit). With `owner` (a live start), orders
    under our id that this state directory did not place refuse the start: another bot on this account runs
    under our `run.bot_id`, and trading beside it would take its orders for ours (`ownership`)."""
    m = cfg.market
    problems = []
    for name, mine, theirs in (
        ("tick_size", m.tick_size, rules.tick_size),
        ("lot_step", m.lot_step, rules.lot_step),
    ):
        if Decimal(f"{mine:.15g}") % theirs != 0:
            problems.append(f"market.{name}: {mine:g} is not a multiple of the exchange's {theirs}")
    if Decimal(f"{m.min_notional:.15g}") < rules.min_notional:
        problems.append(
            f"market.min_notional: {m.min_notional:g} is below the exchange's {rules.min_notional}"
        )
    if Decimal(f"{m.maker_fee:.15g}") < rules.maker_fee:
        problems.append(f"market.maker_fee: {m.maker_fee:g} is below the exchange's {rules.maker_fee}")
    cids = [o.client_id for o in open_orders or []]
    if owner is not None:
        clash = owner.namesakes(cids)
        if clash:
            shown = ", ".join(clash[:5]) + (f" and {len(clash) - 5} more" if len(clash) > 5 else "")
            problems.append(
                f"run.bot_id: {len(clash)} open order(s) under this bot's id were not placed from this state "
                f"directory ({shown}): another bot on this account uses run.bot_id {cfg.run.bot_id!r}. Give "
                "each bot its own run.bot_id (the gridbot role derives one from the host's name), or cancel "
                "those orders if no bot owns them"
            )
    ours = owner.ours if owner is not None else lambda cid: parse_client_id(cfg.run.bot_id, cid) is not None
    others = sum(1 for cid in cids if not ours(cid))
    cap = order_cap(cfg.grid.levels, rules.max_orders, others)
    if cap is not None:
        problems.append(cap)
    if problems:
        raise ConfigError(f"{rules.symbol} on the exchange: " + "; ".join(problems))


def check_funds(cfg: BotConfig, venue: Venue, rules: MarketRules) -> None:
    """A first start on an account shared with other bots (`exchange.account_shared_with`): refused, naming
    them, when the account cannot fund them all (`funds_problem`), as the exchange's balances and its last
    price tell it now."""
    if not cfg.exchange.account_shared_with:
        return
    now_ms = int(time.time() * 1000 + venue.clock_skew_ms())
    price = venue.asset_price(rules.base, cfg.run.timeframe, now_ms)
    problem = funds_problem(cfg, venue.balances(), rules, price)
    if problem is not None:
        raise ConfigError(problem)


def funds_problem(
    cfg: BotConfig, balances: dict[str, Balance], rules: MarketRules, price: Decimal | None
) -> str | None:
    """Whether the account holds what the bots on it start with together (this one's start_quote and the
    others' in `exchange.account_shared_with`): grids that want more than it holds have their orders refused
    for funds, one bot's or another's. The account is counted whole, free and locked (the neighbours'
    resting orders lock their own share, not more), its base at `price` (unknown: not counted)."""
    default = BotConfig.model_fields["start_quote"].default
    starts = {f"this bot ({cfg.run.bot_id})": cfg.start_quote}
    starts |= {
        name: default if q is None else q for name, q in sorted(cfg.exchange.account_shared_with.items())
    }
    need = sum((Decimal(f"{q:.15g}") for q in starts.values()), Decimal(0))
    held = {a: balances[a].total if a in balances else Decimal(0) for a in (rules.quote, rules.base)}
    worth = held[rules.base] * price if price is not None else Decimal(0)
    if need <= held[rules.quote] + worth:
        return None
    each = ", ".join(f"{name} {q:g}" for name, q in starts.items())
    base = f"{held[rules.base].normalize():f} {rules.base}"
    base += (
        f" (worth {worth:.2f} at {price.normalize():f})" if price is not None else " (no price to value it)"
    )
    return (
        f"exchange.account_shared_with: the bots on this account start with {need.normalize():f} "
        f"{rules.quote} together ({each}), more than it holds: {held[rules.quote].normalize():f} "
        f"{rules.quote} and {base}. Lower a bot's start_quote, or fund the account first"
    )


def check_on_exchange(cfg: BotConfig) -> str:
    """check-config's look at the exchange (keyless: its market rules, not the account): raises ConfigError
    naming what the exchange contradicts; returns what was judged, or why the exchange could not be asked
    (not an error: check-config also runs where the exchange is out of reach)."""
    from gridbot.live.ccxt_venue import CcxtVenue  # noqa: PLC0415  loads ccxt
    from gridbot.live.resilience import RetryPolicy  # noqa: PLC0415
    from gridbot.live.venue import VenueError  # noqa: PLC0415

    x = cfg.exchange
    try:
        venue = CcxtVenue(x.id, cfg.market.symbol, api_url=x.api_url, sandbox=x.sandbox,
                          timeout_s=min(x.timeout_s, 5.0), throttle=x.throttle,
                          retry=RetryPolicy(max_retries=1, budget_s=5.0))  # fmt: skip
        rules = venue.load_market(cfg.market.symbol)
    except (VenueError, ValueError) as exc:
        return f"not judged by the exchange, which could not be asked ({exc})"
    check_rules(cfg, rules)
    limit = (
        "no open-order limit" if rules.max_orders is None else f"{rules.max_orders} open orders per symbol"
    )
    return (
        f"judged by {x.id}'s rules for {rules.symbol}: tick {rules.tick_size}, lot {rules.lot_step}, {limit}"
    )
