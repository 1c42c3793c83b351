"""A config judged by the exchange's own rules before any order: at `gridbot run`'s start (keyed: the
account's other orders count against the order limit too) and by `gridbot check-config` (keyless, when the
exchange can be reached); and, at a first trading start, the account's funds against what the bots on it
start with (`check_funds`)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from gridbot.config.model import BotConfig, ConfigError, MarketConfig
from gridbot.core.grid import exact
from gridbot.live.client_ids import parse_client_id
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
        if exact(mine) % theirs != 0:
            problems.append(f"market.{name}: {mine:g} is not a multiple of the exchange's {theirs}")
    if exact(m.min_notional) < rules.min_notional:
        problems.append(
            f"market.min_notional: {m.min_notional:g} is below the exchange's {rules.min_notional}"
        )
    if exact(m.maker_fee) < rules.maker_fee:
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
    """A first trading start on an account shared with other bots (`exchange.account_shared_with`): refused,
    naming them, when the account cannot fund them all (`funds_problem`), as the exchange's balances and the
    close of its last candle tell it now."""
    if not cfg.exchange.account_shared_with:
        return
    tf = cfg.run.timeframe
    last = venue.closed_candles(
        tf, None, 1
    )  # the market's time: a replaying exchange's is not the wall clock
    prices: dict[str, Decimal | None] = {rules.base: exact(last[-1].close) if last else None}
    starts, _ = shared_starts(cfg, rules.quote)
    for _, base in starts.values():
        if base not in prices:  # a neighbour's market: its candle closing with ours
            prices[base] = (
                venue.asset_price(base, tf, last[-1].time_ms + cfg.run.timeframe_ms) if last else None
            )
    problem = funds_problem(cfg, venue.balances(), rules, prices)
    if problem is not None:
        raise ConfigError(problem)


def shared_starts(cfg: BotConfig, quote: str) -> tuple[dict[str, tuple[Decimal, str]], list[str]]:
    """({bot: (start_quote, the base it trades)} of this bot and the others on its account quoting `quote`,
    [the others, quoting another currency: not counted])."""
    start, symbol = BotConfig.model_fields["start_quote"].default, MarketConfig.model_fields["symbol"].default
    starts = {"this bot": (exact(cfg.start_quote), cfg.market.symbol.split("/")[0])}
    elsewhere = []
    for name, other in sorted(cfg.exchange.account_shared_with.items()):
        base, theirs = (other.symbol or symbol).split("/")
        if theirs == quote:
            starts[name] = (exact(other.start_quote or start), base)
        else:
            elsewhere.append(name)
    return starts, elsewhere


def funds_problem(
    cfg: BotConfig, balances: dict[str, Balance], rules: MarketRules, prices: Mapping[str, Decimal | None]
) -> str | None:
    """Whether the account holds what the bots on it start with together (`shared_starts`): grids that want
    more than it holds have their orders refused for funds, one bot's or another's. The account is counted
    whole, free and locked (the neighbours' resting orders lock their own share, not more): its quote, and
    each base the bots trade at its price (none known: not counted)."""
    starts, elsewhere = shared_starts(cfg, rules.quote)
    need = sum((q for q, _ in starts.values()), Decimal(0))
    held = {a: balances[a].total if a in balances else Decimal(0) for a in (rules.quote, *prices)}
    worth = {b: held[b] * p for b, p in prices.items() if p is not None}
    if need <= held[rules.quote] + sum(worth.values(), Decimal(0)):
        return None
    each = ", ".join(f"{name} {_show(q)}" for name, (q, _) in starts.items())
    assets = [f"{_show(held[rules.quote])} {rules.quote}"] + [
        f"{_show(held[b])} {b} " + (f"worth {worth[b]:.2f} at {_show(p)}" if p is not None else "(no price)")
        for b, p in sorted(prices.items())
    ]
    others = f"; not counted, quoting other currencies: {', '.join(elsewhere)}" if elsewhere else ""
    return (
        f"exchange.account_shared_with: the bots on this account start with {_show(need)} {rules.quote} "
        f"together ({each}{others}), more than it holds: {', '.join(assets)}. Lower a bot's start_quote, or "
        "fund the account first"
    )


def _show(d: Decimal) -> str:
    return format(d.normalize(), "f")


def funds_unjudged(cfg: BotConfig) -> str | None:
    """Why `check-config --funds` has nothing to judge: no other bot on the account, or a paper bot; None
    when the account's funds are to be judged."""
    if not cfg.exchange.account_shared_with:
        return "funds not judged: no other bot shares this account (exchange.account_shared_with)"
    if cfg.mode != "live":
        return "funds not judged: a paper bot claims nothing of its account"
    return None


def check_on_exchange(cfg: BotConfig, *, funds: bool = False) -> str:
    """check-config's look at the exchange: its market rules (keyless), and with `funds` the first start's
    funds check (`check_funds`, keyed: the account's balances) on the same venue, as the deploy role makes it
    for a new bot on a shared account before any bot of its host changes. Raises ConfigError naming what the
    exchange contradicts (a short account: the bots and the numbers); returns what was judged, or why the
    exchange could not be asked (not an error: check-config also runs where the exchange is out of reach, and
    the bot's own start judges again)."""
    from gridbot.live.ccxt_venue import CcxtVenue  # noqa: PLC0415  loads ccxt
    from gridbot.live.credentials import read_credentials  # noqa: PLC0415
    from gridbot.live.resilience import RetryPolicy  # noqa: PLC0415
    from gridbot.live.venue import VenueError  # noqa: PLC0415

    unjudged = funds_unjudged(cfg) if funds else None
    keyed = funds and unjudged is None
    key = secret = None
    if keyed:
        try:
            key, secret = read_credentials(cfg.credentials_file)
        except ValueError as exc:
            raise ConfigError(f"exchange.credentials_file: {exc}") from None
    x = cfg.exchange
    try:  # a ConfigError (a ValueError) from the venue's settings names them; one from check_funds is ours
        venue = CcxtVenue(x.id, cfg.market.symbol, api_url=x.api_url, sandbox=x.sandbox, api_key=key,
                          secret=secret, timeout_s=min(x.timeout_s, 5.0), throttle=x.throttle,
                          retry=RetryPolicy(max_retries=1, budget_s=5.0))  # fmt: skip
        rules = venue.load_market(cfg.market.symbol)
    except (VenueError, ValueError) as exc:
        said = f"not judged by the exchange, which could not be asked ({exc})"
        if keyed:
            said += f"; funds not judged: the exchange could not be asked ({type(exc).__name__}: {exc})"
        return said + (f"; {unjudged}" if unjudged else "")
    check_rules(cfg, rules)
    limit = (
        "no open-order limit" if rules.max_orders is None else f"{rules.max_orders} open orders per symbol"
    )
    said = (
        f"judged by {x.id}'s rules for {rules.symbol}: tick {rules.tick_size}, lot {rules.lot_step}, {limit}"
    )
    if unjudged:
        return f"{said}; {unjudged}"
    if keyed:
        try:
            check_funds(cfg, venue, rules)
        except VenueError as exc:
            return f"{said}; funds not judged: the exchange could not be asked ({type(exc).__name__}: {exc})"
        others = ", ".join(sorted(cfg.exchange.account_shared_with))
        said += f"; the account funds this bot and {others} together"
    return said
