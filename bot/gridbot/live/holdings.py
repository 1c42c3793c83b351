"""The bot's holdings against the exchange's balances (`risk.holdings_drift`).

What the engine holds (base and quote, after every booked fill) plus the trades fed in and not yet booked
(their candle has not been processed) is what the account should hold for this bot. The difference, valued
in quote at the last price, as a share of the bot's equity, is the drift: a metric and a status field at
every check, a halt when it stays past `halt_pct` for `grace_s` (a fill between the trades read and the
balances read, or an order the exchange still hides, is gone by then).

An account the bot shares (other bots, the owner's own coins, `shared: true`) may hold more than the bot's
books: only a shortfall counts there. A bot alone on its account counts every difference either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from gridbot.live.venue import Balance, MarketRules, Side, Trade


@dataclass(frozen=True, slots=True)
class Drift:
    """One comparison: per asset (bot, exchange); the quote value of what is off and its share of equity."""

    bot: dict[str, Decimal]
    exchange: dict[str, Decimal]
    off_quote: Decimal
    pct: float

    def status(self) -> dict[str, object]:
        return {
            **{a: {"bot": _show(self.bot[a]), "exchange": _show(self.exchange[a])} for a in self.bot},
            "drift_quote": float(round(self.off_quote, 2)),
            "drift_pct": round(self.pct, 4),
        }

    def reason(self) -> str:
        held = ", ".join(
            f"{a} {_show(self.bot[a])} booked, {_show(self.exchange[a])} on the exchange" for a in self.bot
        )
        return f"{held}: {self.off_quote:.2f} in quote off, {self.pct:.2f}% of equity"


def _show(d: Decimal) -> str:
    """8 decimals at most (the engine's float sums carry noise below them), no exponent."""
    return format(d.quantize(Decimal("1e-8")).normalize(), "f")


def native(side: Side, rules: MarketRules) -> str:
    """The asset a fill's fee is taken from when not paid in a third one: what the order receives."""
    return rules.base if side == "buy" else rules.quote


def fee_asset(t: Trade, rules: MarketRules) -> str | None:
    """Which of the market's assets a trade's fee is taken from (None: a third asset, BNB on BTC/USDT):
    by the asset the exchange names, whatever the side (BNB fees on BNB/USDT come out of the base, a sell's
    too); a fee without an asset is the exchange's default, what the order received. The one classification
    of the books (`book.fees_of`) and of this holdings check."""
    if t.fee_currency in (rules.base, rules.quote):
        return t.fee_currency
    return native(t.side, rules) if not t.fee_currency else None


def unbooked(trades: Iterable[Trade], rules: MarketRules) -> tuple[Decimal, Decimal]:
    """(base, quote) that trades fed in and not yet booked move: the account already shows them."""
    base = quote = Decimal(0)
    for t in trades:
        sign = 1 if t.side == "buy" else -1
        base += sign * t.qty
        quote -= sign * t.qty * t.price
        asset = fee_asset(t, rules)
        if asset == rules.base:
            base -= t.fee
        elif asset == rules.quote:
            quote -= t.fee
    return base, quote


def measure(
    bot: dict[str, Decimal],
    balances: dict[str, Balance],
    price: Decimal,
    rules: MarketRules,
    equity: Decimal,
    shared: bool,
) -> Drift:
    """The drift of the bot's (base, quote) against the account's totals (free + locked)."""
    exchange = {a: (balances[a].total if a in balances else Decimal(0)) for a in bot}
    off = Decimal(0)
    for asset, mine in bot.items():
        diff = exchange[asset] - mine
        counted = max(-diff, Decimal(0)) if shared else abs(diff)
        off += counted * (price if asset == rules.base else 1)
    pct = float(off / equity * 100) if equity > 0 else 0.0
    return Drift(bot, exchange, off, pct)
