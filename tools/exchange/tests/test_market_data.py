"""Public market data through unmodified ccxt (fetch_ticker, fetch_order_book, fetch_trades, fetch_ohlcv at
Binance's intervals and paging), judged against candles aggregated here, independently of the server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import ccxt
import pytest
from conftest import START_CANDLE, make_client
from gridbot_exchange.data import load_series
from gridbot_exchange.testing import Admin, running

from gridbot.core.candles import Candles

CANDLES = load_series("embedded").candles  # what the server trades on
SYMBOL = "BTC/USDT"
TF = 300_000
HOUR = 3_600_000
MINUTE_DATA = "synthetic:3:60000:1m"
MINUTE_FORMING = 40 * 1440 + 7  # 40 days of 1m candles before it: past a month's end, weeks, 3-day buckets
INTERVALS = ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"]


def cents(x: float) -> float:
    return float(Decimal(str(x)).quantize(Decimal("0.01")))


def bucket(t: int, interval: str) -> int:
    """Binance's bucket open time: weeks and months by the calendar (not the server's arithmetic), the others
    on multiples of their length since the epoch."""
    d = dt.datetime.fromtimestamp(t / 1000, dt.UTC)
    if interval == "1M":
        start = d.replace(day=1, hour=0, minute=0, second=0)
    elif interval == "1w":
        start = (d - dt.timedelta(days=d.weekday())).replace(hour=0, minute=0, second=0)
    else:
        size = ccxt.binance.parse_timeframe(interval) * 1000
        return t // size * size
    return int(start.timestamp() * 1000)


def expected(interval: str, forming: int, candles: Candles = CANDLES) -> list[list[float]]:
    """OHLCV rows of every bucket up to the forming candle, which counts at its open with no volume."""
    rows: dict[int, list[float]] = {}
    columns = (candles.time_ms, candles.open, candles.high, candles.low, candles.close, candles.volume)
    ts, opens, highs, lows, closes, vols = (a[: forming + 1].tolist() for a in columns)
    highs[forming] = lows[forming] = closes[forming] = opens[forming]
    vols[forming] = 0.0
    size = ccxt.binance.parse_timeframe(interval) * 1000
    for t, o, h, lo, c, v in zip(ts, opens, highs, lows, closes, vols, strict=True):
        k = bucket(t, interval) if interval in ("1w", "1M") else t // size * size
        if k not in rows:
            rows[k] = [k, o, h, lo, c, v]
        else:
            r = rows[k]
            r[2], r[3], r[4], r[5] = max(r[2], h), min(r[3], lo), c, r[5] + v
    return list(rows.values())


def test_fetch_ticker_is_the_last_24h_at_the_market_clock(client: ccxt.binance, admin: Admin) -> None:
    admin.step(candles=400)  # past a day of history
    f = START_CANDLE + 400
    now = int(CANDLES.time_ms[f])
    t = client.fetch_ticker(SYMBOL)
    i0 = f - 288  # the candles that opened within the last 24 h
    last = cents(CANDLES.close[f - 1])
    assert (t["last"], t["close"], t["timestamp"]) == (last, last, now)
    assert t["open"] == cents(CANDLES.open[i0])
    assert t["previousClose"] == cents(CANDLES.close[i0 - 1])
    assert t["high"] == cents(max(*CANDLES.high[i0:f], CANDLES.open[f]))
    assert t["low"] == cents(min(*CANDLES.low[i0:f], CANDLES.open[f]))
    assert t["baseVolume"] == pytest.approx(sum(CANDLES.volume[i0:f]))
    assert (t["bid"], t["ask"]) == (pytest.approx(last - 0.01), pytest.approx(last + 0.01))
    assert t["info"]["count"] == 4 * 288  # four prints per closed candle, no fills yet
    assert client.fetch_ticker(SYMBOL)["info"]["lastQty"] == t["info"]["lastQty"]  # nothing moved


def test_order_book_is_tick_aligned_around_the_last_close_at_binance_limits(client: ccxt.binance) -> None:
    last = Decimal(str(CANDLES.close[START_CANDLE - 1])).quantize(Decimal("0.01"))
    for limit, levels in ((5, 5), (None, 100), (5000, 5000)):
        book = client.fetch_order_book(SYMBOL, limit)
        asks, bids = book["asks"], book["bids"]
        assert (len(asks), len(bids)) == (levels, levels)
        assert [Decimal(str(p)) for p, _ in asks] == [last + Decimal("0.01") * (k + 1) for k in range(levels)]
        assert [Decimal(str(p)) for p, _ in bids] == [last - Decimal("0.01") * (k + 1) for k in range(levels)]
        assert all(q > 0 for _, q in asks + bids)
    ticker = client.public_get_ticker_bookticker({"symbol": "BTCUSDT"})
    tick = Decimal("0.01")
    assert (ticker["bidPrice"], ticker["askPrice"]) == (f"{last - tick:.8f}", f"{last + tick:.8f}")


def test_a_maker_at_the_best_bid_rests_and_a_buy_at_the_best_ask_crosses(client: ccxt.binance) -> None:
    book = client.fetch_order_book(SYMBOL, 5)
    rest = client.create_order(SYMBOL, "limit", "buy", 0.001, book["bids"][0][0], {"postOnly": True})
    assert rest["status"] == "open"
    take = client.create_order(SYMBOL, "limit", "buy", 0.001, book["asks"][0][0])
    assert take["status"] == "closed"


def test_public_trades_are_the_candle_prints_and_the_exchanges_fills(client: ccxt.binance) -> None:
    i = START_CANDLE - 1
    prints = client.fetch_trades(SYMBOL)  # aggTrades, ccxt's default
    assert len(prints) == 4 * START_CANDLE
    o, h, lo, c = (cents(a[i]) for a in (CANDLES.open, CANDLES.high, CANDLES.low, CANDLES.close))
    assert [p["price"] for p in prints[-4:]] == ([o, lo, h, c] if c >= o else [o, h, lo, c])
    assert {p["timestamp"] for p in prints[-4:]} == {int(CANDLES.time_ms[i]) + TF - 1}
    client.create_order(SYMBOL, "market", "buy", 0.01)
    mine = client.fetch_trades(SYMBOL, limit=1)[0]
    assert (mine["price"], mine["amount"], mine["side"]) == (c, 0.01, "buy")  # the taker bought
    same = client.fetch_trades(SYMBOL, limit=2, params={"fetchTradesMethod": "publicGetTrades"})
    assert [x["id"] for x in same] == [prints[-1]["id"], mine["id"]]


def test_trade_ids_grow_with_time_and_paging_by_from_id_sees_each_once(
    client: ccxt.binance, admin: Admin
) -> None:
    seen = client.fetch_trades(SYMBOL, limit=20)
    dip = cents(CANDLES.low[START_CANDLE]) + 0.01
    client.create_order(SYMBOL, "limit", "buy", 0.01, dip)  # fills at candle START_CANDLE's close
    client.create_order(SYMBOL, "market", "sell", 0.01)  # a fill while candle START_CANDLE forms
    admin.step(candles=2)
    client.create_order(SYMBOL, "market", "buy", 0.02)
    cursor = int(seen[-1]["id"]) + 1
    while True:
        page = client.fetch_trades(SYMBOL, limit=3, params={"fromId": cursor})
        if not page:
            break
        seen += page
        cursor = int(page[-1]["id"]) + 1
    ids = [int(x["id"]) for x in seen]
    assert ids == sorted(set(ids))
    assert [x["timestamp"] for x in seen] == sorted(x["timestamp"] for x in seen)
    # since: a sell fill, then candle 101 closes (the maker buy's fill, 4 prints), candle 102's prints, a buy
    assert seen[-11:] == client.fetch_trades(SYMBOL, limit=11)
    assert [x["amount"] for x in seen[-11:] if x["info"]["a"] % 1_000_000 < 999_996] == [0.01, 0.01, 0.02]
    assert client.fetch_trades(SYMBOL, since=int(CANDLES.time_ms[START_CANDLE])) == seen[-11:]


@pytest.mark.parametrize(
    ("interval", "page_size", "candles"),
    [("5m", 1000, 3000), ("15m", 300, 6000), ("1h", 100, 10_000), ("4h", 100, 40_000), ("1d", 30, 40_000),
     ("3d", 7, 40_000), ("1w", 3, 40_000), ("1M", 2, 40_000)],  # 40 000 candles: about five months
)  # fmt: skip
def test_klines_aggregate_as_binance_and_paging_by_since_sees_every_closed_bucket_once(
    client: ccxt.binance, admin: Admin, interval: str, page_size: int, candles: int
) -> None:
    admin.step(candles=candles)
    forming = START_CANDLE + candles
    want = expected(interval, forming)
    newest = client.fetch_ohlcv(SYMBOL, interval, limit=3)
    assert newest == [pytest.approx(r) for r in want[-3:]]  # the last one forming, no lookahead
    step = client.parse_timeframe(interval) * 1000
    got, since = [], int(want[0][0])  # 3d, 1w and 1M buckets open before the data's first candle
    while True:
        page = client.fetch_ohlcv(SYMBOL, interval, since, page_size)
        if not page:
            break
        got += page
        since = page[-1][0] + (step if interval != "1M" else 28 * 86_400_000)
    assert [r[0] for r in got] == [r[0] for r in want]
    assert got == [pytest.approx(r) for r in want]


def test_klines_by_end_time_and_refused_intervals(client: ccxt.binance, admin: Admin) -> None:
    admin.step(candles=100)
    until = int(CANDLES.time_ms[30]) + 1  # inside the 15m bucket that opens at candle 30
    rows = client.fetch_ohlcv(SYMBOL, "15m", None, 4, {"until": until})
    assert [r[0] for r in rows] == [int(CANDLES.time_ms[k]) for k in (21, 24, 27, 30)]
    with pytest.raises(ccxt.BadRequest, match="Invalid interval"):
        client.fetch_ohlcv(SYMBOL, "1m")
    with pytest.raises(ccxt.BadRequest, match="Invalid interval"):
        client.fetch_ohlcv(SYMBOL, "1s")
    hourly = client.fetch_ohlcv(SYMBOL, "1h", since=int(CANDLES.time_ms[0]) + 1, limit=2)
    assert [r[0] for r in hourly] == [int(CANDLES.time_ms[0]) + HOUR, int(CANDLES.time_ms[0]) + 2 * HOUR]


def test_response_shapes_are_binances(client: ccxt.binance) -> None:
    """Field names as ccxt's recorded Binance answers (ts/src/test/static/response/binance.json: fetchTicker,
    fetchTrades, fetchOrderBook, fetchOHLCV) and rest-api.md (trades, bookTicker) have them."""
    ticker = client.public_get_ticker_24hr({"symbol": "BTCUSDT"})
    assert list(ticker) == [
        "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice", "lastPrice",
        "lastQty", "bidPrice", "bidQty", "askPrice", "askQty", "openPrice", "highPrice", "lowPrice", "volume",
        "quoteVolume", "openTime", "closeTime", "firstId", "lastId", "count",
    ]  # fmt: skip
    [agg] = client.public_get_aggtrades({"symbol": "BTCUSDT", "limit": 1})
    assert list(agg) == ["a", "p", "q", "f", "l", "T", "m", "M"]
    [trade] = client.public_get_trades({"symbol": "BTCUSDT", "limit": 1})
    assert list(trade) == ["id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"]
    assert list(client.public_get_depth({"symbol": "BTCUSDT", "limit": 5})) == [
        "lastUpdateId",
        "bids",
        "asks",
    ]
    book = client.public_get_ticker_bookticker({"symbol": "BTCUSDT"})
    assert list(book) == ["symbol", "bidPrice", "bidQty", "askPrice", "askQty"]
    [kline] = client.public_get_klines({"symbol": "BTCUSDT", "interval": "1h", "limit": 1})
    assert [type(x) for x in kline] == [int, *[str] * 5, int, str, int, str, str, str]


@pytest.fixture(scope="module")
def minute() -> Iterator[tuple[ccxt.binance, Candles]]:
    """A server on 1-minute candles (public data only) and those candles, read here independently (while
    the server builds its own: a few seconds each)."""
    with ThreadPoolExecutor(1) as pool:
        candles = pool.submit(load_series, MINUTE_DATA)
        with running("--speed", "0", "--data", MINUTE_DATA, "--start-candle", str(MINUTE_FORMING)) as url:
            ex = make_client(url)
            ex.load_markets()
            yield ex, candles.result().candles


@pytest.mark.parametrize("interval", INTERVALS)
def test_every_binance_interval_from_1m_data_aggregates_the_same_candles(
    minute: tuple[ccxt.binance, Candles], interval: str
) -> None:
    ex, candles = minute
    want = expected(interval, MINUTE_FORMING, candles)
    assert ex.fetch_ohlcv(SYMBOL, interval, limit=1000) == [pytest.approx(r) for r in want[-1000:]]
    oldest = ex.fetch_ohlcv(SYMBOL, interval, since=int(want[0][0]), limit=5)
    assert oldest == [pytest.approx(r) for r in want[:5]]


def test_a_limit_past_binances_maximum_is_served_as_the_maximum(minute: tuple[ccxt.binance, Candles]) -> None:
    ex, _ = minute
    klines = {"symbol": "BTCUSDT", "interval": "1m"}
    assert len(ex.public_get_klines(klines)) == 500  # the default
    used = int(ex.last_response_headers["X-MBX-USED-WEIGHT-1M"])
    assert len(ex.public_get_klines({**klines, "limit": 5000})) == 1000
    # spot klines weigh 2 whatever the limit (rest-api.md; the futures' klines weigh by limit)
    assert int(ex.last_response_headers["X-MBX-USED-WEIGHT-1M"]) - used == 2
    assert len(ex.public_get_trades({"symbol": "BTCUSDT", "limit": 1001})) == 1000
    assert len(ex.fetch_trades(SYMBOL, limit=12000)) == 1000  # aggTrades
    with pytest.raises(ccxt.BadRequest, match="Invalid interval"):
        ex.fetch_ohlcv(SYMBOL, "1s")  # finer than the data: not invented
