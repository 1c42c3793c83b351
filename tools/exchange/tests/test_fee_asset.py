"""Commissions in a third asset (Binance's BNB rule): while an account that pays in BNB holds enough, its
commission's value, 25 % off, is charged in BNB at the BNB price at fill time; otherwise in the asset it
receives. Judged from the admin API's ledger and its BNB price, against unmodified ccxt."""

from __future__ import annotations

import json
import math
import urllib.error
from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal

import ccxt
import pytest
from conftest import START_CANDLE, make_client
from gridbot_exchange.data import load_series
from gridbot_exchange.testing import Admin, running

CANDLES = load_series("embedded").candles  # what the server trades on
SYMBOL, FEE_SYMBOL = "BTC/USDT", "BNB/USDT"
RATE, PAID = Decimal("0.001"), Decimal("0.75")  # 0.1 % commission; 25 % off in BNB
Q8 = Decimal("1e-8")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running(
        "--speed", "0", "--start-candle", str(START_CANDLE), "--fee-asset", "BNB",
        "--fee-asset-price", "synthetic:11:600", "--account", "bnb-a:s-a",
        "--balance", "USDT=10000", "--balance", "BTC=1", "--balance", "BNB=1",
    ) as base:  # fmt: skip
        admin = Admin(base)
        admin.call("POST", "accounts", {"key": "plain", "secret": "s-p", "fee_asset": None})
        admin.call("POST", "accounts", {"key": "poor", "secret": "s-x",
                                        "balances": {"USDT": 10000, "BTC": 1, "BNB": "0.00001"}})  # fmt: skip
        yield base


@pytest.fixture
def admin(url: str) -> Admin:
    a = Admin(url)
    a.call("POST", "reset")
    return a


def client(url: str, key: str = "bnb-a", secret: str = "s-a") -> ccxt.binance:
    ex = make_client(url, key, secret)
    ex.load_markets()
    return ex


def totals(admin: Admin) -> dict[str, Decimal]:
    """Every asset over accounts (free + locked), house and fees: constant through any trading."""
    b = admin.call("GET", "balances")
    out: dict[str, Decimal] = {}
    for acct in b["accounts"].values():  # type: ignore[index]
        for asset, x in acct.items():
            out[asset] = out.get(asset, Decimal(0)) + Decimal(x["free"]) + Decimal(x["locked"])
    for book in ("house", "fees"):
        for asset, x in b[book].items():  # type: ignore[index]
            out[asset] = out.get(asset, Decimal(0)) + Decimal(x)
    return {k: v for k, v in out.items() if v}


def bnb_fee(price: str, qty: str, bnb_price: Decimal) -> Decimal:
    return (Decimal(price) * Decimal(qty) * RATE * PAID / bnb_price).quantize(Q8, rounding=ROUND_DOWN)


def test_taker_fills_pay_in_bnb_at_the_ticker_price_and_every_asset_is_conserved(
    url: str, admin: Admin
) -> None:
    ex = client(url)
    before = totals(admin)
    bnb_price = Decimal(ex.fetch_ticker(FEE_SYMBOL)["info"]["lastPrice"])
    buy = ex.create_order(SYMBOL, "market", "buy", 0.01)
    sell = ex.create_order(SYMBOL, "market", "sell", 0.005)
    fees = []
    for o in (buy, sell):
        [fill] = o["info"]["fills"]
        priced = admin.call("GET", f"fee_asset_price?time={o['timestamp']}")
        assert Decimal(priced["price"]) == bnb_price  # type: ignore[index]
        want = bnb_fee(fill["price"], fill["qty"], bnb_price)
        assert (fill["commissionAsset"], Decimal(fill["commission"])) == ("BNB", want)
        fees.append(want)
    trades = ex.fetch_my_trades(SYMBOL)
    assert [(t["fee"]["currency"], Decimal(t["info"]["commission"])) for t in trades] == [
        ("BNB", f) for f in fees
    ]
    b = admin.call("GET", "balances")["accounts"]["bnb-a"]  # type: ignore[index]
    assert Decimal(b["BNB"]["free"]) == 1 - sum(fees)
    assert Decimal(b["BTC"]["free"]) == Decimal("1.005")  # received in full
    quote = Decimal(buy["info"]["cummulativeQuoteQty"]) - Decimal(sell["info"]["cummulativeQuoteQty"])
    assert Decimal(b["USDT"]["free"]) == 10000 - quote
    assert Decimal(admin.call("GET", "balances")["fees"]["BNB"]) == sum(fees)  # type: ignore[index]
    assert totals(admin) == before


def test_a_maker_fill_is_valued_at_the_bnb_price_the_ticker_showed_while_its_candle_formed(
    url: str, admin: Admin
) -> None:
    ex = client(url)
    price = math.ceil(CANDLES.low[START_CANDLE] * 100) / 100
    o = ex.create_order(SYMBOL, "limit", "buy", 0.01, price)
    shown = Decimal(ex.fetch_ticker(FEE_SYMBOL)["info"]["lastPrice"])
    admin.step(candles=1)
    [t] = ex.fetch_my_trades(SYMBOL)
    assert (t["order"], t["takerOrMaker"], t["fee"]["currency"]) == (o["id"], "maker", "BNB")
    assert Decimal(t["info"]["commission"]) == bnb_fee(t["info"]["price"], t["info"]["qty"], shown)
    priced = admin.call("GET", f"fee_asset_price?time={t['timestamp']}")
    assert Decimal(priced["price"]) == shown  # type: ignore[index]
    assert ex.fetch_ticker(FEE_SYMBOL)["last"] != float(shown)  # the BNB path moved on since


def test_without_enough_bnb_or_with_bnb_switched_off_the_fee_is_in_the_asset_received(
    url: str, admin: Admin
) -> None:
    before = totals(admin)
    for key, secret in (("poor", "s-x"), ("plain", "s-p")):
        ex = client(url, key, secret)
        buy = ex.create_order(SYMBOL, "market", "buy", 0.01)
        sell = ex.create_order(SYMBOL, "market", "sell", 0.01)
        assert [f["commissionAsset"] for o in (buy, sell) for f in o["info"]["fills"]] == ["BTC", "USDT"]
        assert buy["info"]["fills"][0]["commission"] == "0.00001000"
    balances = admin.call("GET", "balances")["accounts"]  # type: ignore[index]
    assert balances["poor"]["BNB"]["free"] == "0.00001000"
    assert balances["plain"]["BNB"]["free"] == "1.00000000"  # holds BNB, but does not pay in it
    assert totals(admin) == before


def test_the_fee_asset_is_listed_for_its_ticker_but_not_tradable(url: str, admin: Admin) -> None:  # noqa: ARG001
    ex = client(url)
    m = ex.market(FEE_SYMBOL)
    assert (m["id"], m["active"]) == ("BNBUSDT", False)
    row = ex.public_get_ticker_price({"symbol": "BNBUSDT"})
    assert Decimal(row["price"]) == Decimal(ex.fetch_ticker(FEE_SYMBOL)["info"]["lastPrice"])
    with pytest.raises(ccxt.ExchangeError, match="Market is closed"):
        ex.create_order(FEE_SYMBOL, "market", "buy", 1)
    with pytest.raises(urllib.error.HTTPError) as e:
        Admin(url).call("POST", "accounts", {"key": "k-eth", "secret": "s", "fee_asset": "ETH"})
    assert "'fee_asset'" in json.loads(e.value.read())["msg"]


def test_no_fee_asset_price_without_a_fee_asset(base_url: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as e:
        Admin(base_url).call("GET", "fee_asset_price")
    assert "--fee-asset" in json.loads(e.value.read())["msg"]
