"""`gridbot-exchange`: start the local exchange. Bad flags get a message naming the flag and exit 2."""

from __future__ import annotations

import argparse
import signal
import sys
from decimal import Decimal, InvalidOperation
from types import FrameType

from gridbot.core.candles import CandleError
from gridbot_exchange.data import Market, load_series
from gridbot_exchange.faults import FaultError, Rule, parse_flag
from gridbot_exchange.ratelimits import Config, ConfigError
from gridbot_exchange.ratelimits import parse_flag as parse_rate_limits
from gridbot_exchange.server import ExchangeServer
from gridbot_exchange.venue import FeeAssetSpec, Limits, Venue

FEE_ASSET_PRICE = "synthetic:11:600"  # a third fee asset's path when --fee-asset-price is not given


def _positive_decimal(text: str) -> Decimal:
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not d.is_finite() or d <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return d


def _fee(text: str) -> Decimal:
    d = _positive_decimal(text) if text not in ("0", "0.0") else Decimal(0)
    if d >= 1:
        raise argparse.ArgumentTypeError(f"a fee rate is a fraction below 1, got {text!r}")
    return d


def _non_negative_float(text: str) -> float:
    try:
        f = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not f >= 0 or f == float("inf"):
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return f


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535, got {text!r}")
    return int(text)


def _account(text: str) -> tuple[str, str]:
    key, sep, secret = text.partition(":")
    if not sep or not key or not secret:
        raise argparse.ArgumentTypeError(f"want KEY:SECRET, got {text!r}")
    return key, secret


def _balance(text: str) -> tuple[str, Decimal]:
    asset, sep, amount = text.partition("=")
    if not sep or not asset.isalnum():
        raise argparse.ArgumentTypeError(f"want ASSET=AMOUNT, got {text!r}")
    try:
        d = Decimal(amount)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{asset}: not a number: {amount!r}") from None
    if not d.is_finite() or d < 0:
        raise argparse.ArgumentTypeError(f"{asset}: must be >= 0, got {amount!r}")
    return asset.upper(), d


def _asset(text: str) -> str:
    if not text.isalnum():
        raise argparse.ArgumentTypeError(f"want an asset name like BNB, got {text!r}")
    return text.upper()


def _rate_limits(text: str) -> Config:
    try:
        return parse_rate_limits(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _symbol(text: str) -> tuple[str, str]:
    base, sep, quote = text.upper().partition("/")
    if not sep or not base.isalnum() or not quote.isalnum():
        raise argparse.ArgumentTypeError(f"want BASE/QUOTE, e.g. BTC/USDT, got {text!r}")
    return base, quote


def _fault(text: str) -> Rule:
    try:
        return parse_flag(text)
    except FaultError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gridbot-exchange", description=__doc__)
    a = p.add_argument
    a("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    a("--port", type=_port, default=8900, help="0 picks a free port; the bound URL is printed on stdout")
    a(
        "--data",
        default="embedded",
        help="'embedded' (gridbot's 5m BTC/USDT candles), 'synthetic:SEED:PRICE[:TF]' (that kind of path "
        "for another market, on TF candles: 1m 3m 5m 15m 30m 1h, default 5m) or a ccxt OHLCV CSV; klines are "
        "served at every Binance interval from the data's own up",
    )
    a("--symbol", type=_symbol, default=("BTC", "USDT"), help="BASE/QUOTE (default BTC/USDT)")
    a(
        "--speed",
        type=_non_negative_float,
        default=60.0,
        help="simulated seconds per real second; 0: admin steps only",
    )
    a("--start-candle", type=int, default=0, help="index of the candle forming at start (history before it)")
    a("--tick", type=_positive_decimal, default=Decimal("0.01"))
    a("--step", type=_positive_decimal, default=Decimal("0.00001"))
    a("--min-notional", type=_positive_decimal, default=Decimal(5))
    a("--account", type=_account, action="append", default=[], help="KEY:SECRET (repeat for a fleet)")
    a("--balance", type=_balance, action="append", default=[], help="ASSET=AMOUNT, every account's start")
    a("--maker-fee", type=_fee, default=Decimal("0.001"))
    a("--taker-fee", type=_fee, default=Decimal("0.001"))
    a(
        "--fee-asset",
        type=_asset,
        default=None,
        help="pay commissions in this asset (BNB: a third asset, or the market's base or quote) at a "
        "discount while an account holds enough of it",
    )
    a(
        "--fee-asset-price",
        default=None,
        help=f"a third fee asset's price in quote: PRICE or synthetic:SEED:PRICE (default {FEE_ASSET_PRICE})",
    )
    a(
        "--fee-asset-discount",
        type=_fee,
        default=Decimal("0.25"),
        help="off a commission paid in the fee asset (Binance's BNB: 0.25)",
    )
    a(
        "--rate-limits",
        type=_rate_limits,
        default=Config(),
        help="Binance's limits, on by default: on, off (count only) or weight=6000,orders10s=100,"
        "orders1d=200000,raw5m=300000,ban=120,window=60 (any of them; 0 turns one off; window: the "
        "request-weight window in seconds)",
    )
    a("--fill-cap", type=_positive_decimal, default=None, help="max base quantity one order fills per candle")
    a("--max-orders", type=_count, default=100_000, help="orders kept (oldest closed ones dropped first)")
    a("--max-trades", type=_count, default=100_000, help="trades kept (oldest dropped first)")
    a("--fault", type=_fault, action="append", default=[], help="KIND[:name=value,...], see README")
    a("--verbose", action="store_true", help="log every request on stderr")
    return p


def build(args: argparse.Namespace, p: argparse.ArgumentParser) -> Venue:
    try:
        series = load_series(args.data)
    except CandleError as e:
        p.error(f"--data: {e}")
    if not 0 <= args.start_candle < len(series):
        p.error(f"--start-candle: must be within 0..{len(series) - 1}, got {args.start_candle}")
    base, quote = args.symbol
    market = Market(base, quote, args.tick, args.step, args.step, args.min_notional)
    fee_asset = None
    if args.fee_asset in (base, quote):
        if args.fee_asset_price is not None:
            p.error(f"--fee-asset-price: {args.fee_asset} is {base}/{quote}'s own: a fill's price values it")
        fee_asset = FeeAssetSpec(args.fee_asset, None, args.fee_asset_discount)
    elif args.fee_asset is not None:
        try:
            fee_asset = FeeAssetSpec.load(
                args.fee_asset, args.fee_asset_price or FEE_ASSET_PRICE, series, args.fee_asset_discount
            )
        except CandleError as e:
            p.error(f"--fee-asset-price: {e}")
    balances = dict(args.balance) or None
    limits = Limits(args.max_orders, args.max_trades)
    fees = (args.maker_fee, args.taker_fee)
    venue = Venue(
        market, series, args.speed, args.start_candle, limits, args.fill_cap, balances, fees, fee_asset,
        args.rate_limits,
    )  # fmt: skip
    for key, secret in args.account:
        venue.add_account(key, secret)
    for rule in args.fault:
        venue.faults.add(rule)
    return venue


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    venue = build(args, p)
    try:
        server = ExchangeServer((args.host, args.port), venue, args.verbose)
    except OSError as e:
        p.error(f"--host/--port: cannot listen on {args.host}:{args.port}: {e.strerror}")

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    host, port = str(server.server_address[0]), server.server_address[1]
    print(f"gridbot-exchange listening on http://{host}:{port} ({market_line(venue)})", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def market_line(v: Venue) -> str:
    return f"{v.market.symbol}, {len(v.series)} {v.series.interval} candles, speed {v.clock.speed:g}"


if __name__ == "__main__":
    sys.exit(main())
