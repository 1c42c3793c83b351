"""Commissions in BNB (Binance's "use BNB to pay for fees"): while an account that pays in BNB holds
enough, its commission's value, 25 % off, is charged in BNB: at the BNB price at fill time for a third asset,
at the fill's own price when BNB is the market's base or quote; otherwise in the asset it receives. Judged
from the admin API's ledger and its BNB price, against unmodified ccxt."""

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


def own_fee(qty: str) -> Decimal:
    """A commission in the asset being traded: its value at the fill's own price is qty x rate, 25 % off."""
    return (Decimal(qty) * RATE * PAID).quantize(Q8, rounding=ROUND_DOWN)


def account(admin: Admin, key: str) -> dict[str, Decimal]:
    rows = admin.call("GET", "balances")["accounts"][key]  # type: ignore[index]
    return {asset: Decimal(x["free"]) + Decimal(x["locked"]) for asset, x in rows.items()}


@pytest.fixture(scope="module")
def own_url() -> Iterator[str]:
    """BNB/USDT with commissions in BNB: the fee asset is the market's own base."""
    with running(
        "--speed", "0", "--symbol", "BNB/USDT", "--data", "synthetic:11:600", "--start-candle", "50",
        "--fee-asset", "BNB", "--account", "own-a:s-a", "--balance", "USDT=10000", "--balance", "BNB=10",
    ) as base:  # fmt: skip
        admin = Admin(base)
        admin.call("POST", "accounts", {"key": "own-plain", "secret": "s-p", "fee_asset": None})
        admin.call("POST", "accounts", {"key": "own-poor", "secret": "s-x", "balances": {"USDT": 10000}})
        yield base


def test_with_bnb_as_the_base_a_buy_pays_the_discounted_fee_from_the_bnb_it_receives_and_a_sell_from_its_bnb(
    own_url: str,
) -> None:
    admin = Admin(own_url)
    admin.call("POST", "reset")
    before = totals(admin)
    ex = client(own_url, "own-a", "s-a")
    buy, sell = (
        ex.create_order("BNB/USDT", "market", "buy", 1),
        ex.create_order("BNB/USDT", "market", "sell", 0.5),
    )
    fills = [o["info"]["fills"][0] for o in (buy, sell)]
    assert [(f["commissionAsset"], Decimal(f["commission"])) for f in fills] == [
        ("BNB", own_fee("1")),
        ("BNB", own_fee("0.5")),
    ]
    mine = ex.fetch_my_trades("BNB/USDT")
    assert [(t["info"]["commissionAsset"], t["info"]["commission"]) for t in mine] == [
        (f["commissionAsset"], f["commission"]) for f in fills
    ]
    paid = own_fee("1") + own_fee("0.5")
    quote = Decimal(buy["info"]["cummulativeQuoteQty"]) - Decimal(sell["info"]["cummulativeQuoteQty"])
    assert account(admin, "own-a") == {"BNB": 10 + Decimal("0.5") - paid, "USDT": 10000 - quote}
    assert Decimal(admin.call("GET", "balances")["fees"]["BNB"]) == paid  # type: ignore[index]
    assert totals(admin) == before


def test_with_bnb_as_the_base_the_fee_is_full_when_switched_off_or_when_the_free_bnb_falls_short(
    own_url: str,
) -> None:
    admin = Admin(own_url)
    admin.call("POST", "reset")
    plain = client(own_url, "own-plain", "s-p")
    buy, sell = (
        plain.create_order("BNB/USDT", "market", "buy", 1),
        plain.create_order("BNB/USDT", "market", "sell", 1),
    )
    assert [(f["commissionAsset"], f["commission"]) for o in (buy, sell) for f in o["info"]["fills"]] == [
        ("BNB", "0.00100000"),
        ("USDT", f"{Decimal(sell['info']['cummulativeQuoteQty']) * RATE:.8f}"),
    ]
    poor = client(own_url, "own-poor", "s-x")  # no BNB: the buy's discounted fee comes out of what it buys
    [got] = poor.create_order("BNB/USDT", "market", "buy", 1)["info"]["fills"]
    assert (got["commissionAsset"], Decimal(got["commission"])) == ("BNB", own_fee("1"))
    # selling 0.999 of its 0.99925 BNB leaves 0.00025 free, short of the 0.00074925 BNB fee: full, in USDT
    [sold] = poor.create_order("BNB/USDT", "market", "sell", 0.999)["info"]["fills"]
    assert (sold["commissionAsset"], Decimal(sold["commission"])) == (
        "USDT",
        (Decimal(sold["price"]) * Decimal("0.999") * RATE).quantize(Q8, rounding=ROUND_DOWN),
    )
    assert account(admin, "own-poor")["BNB"] == Decimal("0.00025")


def test_the_base_as_fee_asset_is_the_market_itself_not_another_listing(own_url: str) -> None:
    ex = client(own_url, "own-a", "s-a")
    assert [(s["symbol"], s["status"]) for s in ex.public_get_exchangeinfo()["symbols"]] == [
        ("BNBUSDT", "TRADING")
    ]
    with pytest.raises(urllib.error.HTTPError) as e:
        Admin(own_url).call("GET", "fee_asset_price")
    assert "BNBUSDT's own asset" in json.loads(e.value.read())["msg"]


def test_with_bnb_as_the_quote_both_sides_pay_the_discounted_fee_in_bnb() -> None:
    with running(
        "--speed", "0", "--symbol", "ETH/BNB", "--data", "synthetic:7:5", "--start-candle", "50",
        "--fee-asset", "BNB", "--account", "q-a:s-a", "--balance", "BNB=100", "--balance", "ETH=10",
        "--min-notional", "1",
    ) as url:  # fmt: skip
        admin = Admin(url)
        before = totals(admin)
        ex = client(url, "q-a", "s-a")
        orders = (
            ex.create_order("ETH/BNB", "market", "buy", 2),
            ex.create_order("ETH/BNB", "market", "sell", 1),
        )
        spent = [Decimal(o["info"]["cummulativeQuoteQty"]) for o in orders]
        fees = [(quote * RATE * PAID).quantize(Q8, rounding=ROUND_DOWN) for quote in spent]
        assert [
            (f["commissionAsset"], Decimal(f["commission"])) for o in orders for f in o["info"]["fills"]
        ] == [("BNB", fee) for fee in fees]
        assert account(admin, "q-a") == {"BNB": 100 - spent[0] + spent[1] - sum(fees), "ETH": Decimal(11)}
        assert totals(admin) == before
