"""Request weight (`live.weights`): a bot that waits as its meter says never spends more than its budget in
any minute, and every bot holds back once the IP's reported use passes the share, until the minute turns.
Then a real bot against the local exchange, its weights on: what it spends in its first minute stays within
its share, by its own count and by the exchange's."""

import json
import re
import subprocess
import sys
import time
import urllib.request

from endpoints import free_port
from gridbot_exchange.testing import start
from hypothesis import given
from hypothesis import strategies as st

from gridbot.config.model import parse_config
from gridbot.live.weights import WEIGHTS, WINDOW_S, WeightMeter, weight_of

methods = st.sampled_from(sorted(WEIGHTS))


@given(st.lists(st.tuples(methods, st.floats(0, 3)), min_size=1, max_size=300), st.integers(25, 400))
def test_a_bot_that_waits_as_told_never_spends_past_its_budget_in_any_minute(calls, budget):
    meter = WeightMeter(budget_1m=budget, ip_cap_1m=None)
    now = 1000.0
    sent: list[tuple[float, int]] = []
    for method, gap in calls:
        now += gap
        while (wait := meter.hold(method, now)) > 0:
            now += wait
        meter.spent(method, now)
        sent.append((now, weight_of(method)))
        in_window = sum(w for t, w in sent if t + WINDOW_S > now)
        assert in_window <= budget, (in_window, budget)
        assert meter.used(now) == in_window


def test_the_ips_share_holds_every_bot_back_until_the_minute_turns():
    meter = WeightMeter(budget_1m=None, ip_cap_1m=3000)
    minute = 60 * 1_000_000
    meter.reported(2999, minute + 10)
    assert meter.hold("candles", minute + 10) == 0
    meter.reported(3000, minute + 10)
    assert meter.hold("candles", minute + 58) == 2  # the rest of the minute
    assert meter.hold("candles", minute + 60) == 0  # a new minute: the figure was last minute's


def test_the_budget_is_the_share_of_the_limit_split_between_the_bots_behind_the_ip():
    x = parse_config({"exchange": {"weight_share_pct": 40, "bots_per_ip": 5}}).exchange
    assert x.weight_budget_1m == (480.0, 2400.0)
    assert parse_config({"exchange": {"throttle": False}}).exchange.weight_budget_1m is None
    assert parse_config({"exchange": {"weight_limit_1m": None}}).exchange.weight_budget_1m is None


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(m) for m in re.findall(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M))


def test_a_fast_bot_keeps_to_its_share_as_the_exchange_counts_it(tmp_path):
    """A bot polling every 20 ms against the local exchange with Binance's weights on, its share 2 % of a
    6,000 limit split between 2 bots (60 a minute): after 20 s it has spent no more than its budget allows
    (the start's loading included), and the exchange, counting every request's weight, saw the same."""
    proc, base = start("--speed", "60", "--account", "k:s", "--balance", "USDT=1000")
    port = free_port()
    try:
        (tmp_path / "cred").write_text("GRIDBOT_API_KEY=k\nGRIDBOT_API_SECRET=s\n")
        cfg = {
            "mode": "live",
            "exchange": {"api_url": base, "credentials_file": str(tmp_path / "cred"), "weight_share_pct": 2,
                         "bots_per_ip": 2},
            "run": {"data": "exchange", "cycle_seconds": 0.02, "state_dir": str(tmp_path / "data"),
                    "heartbeat_file": str(tmp_path / "hb"), "http_port": port},
            "grid": {"width_pct": 2, "levels": 6},
            "filters": {"trend": {"mode": "off"}},
        }  # fmt: skip
        (tmp_path / "bot.yml").write_text(json.dumps(cfg))
        log = (tmp_path / "bot.log").open("w")
        bot = subprocess.Popen([sys.executable, "-m", "gridbot.cli", "run", "-c", str(tmp_path / "bot.yml")],
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if metric(port, "gridbot_request_weight_total") > 0:
                        break
                except OSError:
                    pass
                assert bot.poll() is None, (tmp_path / "bot.log").read_text()
                assert time.monotonic() < deadline, "the bot never served its metrics"
                time.sleep(0.2)
            started = time.monotonic()
            time.sleep(20)
            spent = metric(port, "gridbot_request_weight_total")
            ip = metric(port, "gridbot_ip_request_weight_1m")
            elapsed = time.monotonic() - started
        finally:
            bot.terminate()
            bot.wait(timeout=30)
        assert elapsed < 60, "the test looks at the bot's first minute"
        assert 40 <= spent <= 60, spent  # its start's calls alone weigh 40 (exchangeInfo, account)
        assert 0 < ip <= 60, "the exchange's own count of the IP's minute"
    finally:
        proc.kill()
        proc.communicate(timeout=10)
