"""The exchange's open-order limit (Binance's MAX_NUM_ORDERS, 200 per symbol, the account's other orders
included): a grid that cannot fit is refused by check-config and by `gridbot run` before any order."""

import json
import subprocess
import sys
from decimal import Decimal

import pytest
from live_harness import KEY, SECRET, Bot

from gridbot.cli import main
from gridbot.live.ccxt_venue import CcxtVenue
from gridbot.live.guards import order_cap

WIDE = {"width_pct": 100}  # steps that pay the fee with up to ~340 levels


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in-process (its imports paid once): exit code, stdout, stderr."""
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _levels(bot: Bot, levels: int) -> None:
    cfg = json.loads(bot.cfg.read_text())
    cfg["grid"] = {**cfg["grid"], **WIDE, "levels": levels}
    bot.cfg.write_text(json.dumps(cfg))


def test_a_grid_past_the_exchanges_order_limit_is_refused_before_any_order(tmp_path, exchange, bots, capsys):
    ex = exchange()
    bot = bots(tmp_path, ex.base)
    _levels(bot, 250)
    code, _, err = _cli(capsys, "check-config", str(bot.cfg))
    assert code == 2, err
    assert ("grid.levels: 250 levels rest up to 249 open orders; the exchange allows 200 per symbol "
            "(MAX_NUM_ORDERS): use at most 201 levels") in err  # fmt: skip
    code, _, err = _cli(capsys, "run", "-c", str(bot.cfg), "--max-cycles", "3")
    assert code == 2, err
    assert "249 open orders; the exchange allows 200" in err
    assert ex.orders() == [], "refused before any order"
    _levels(bot, 201)
    code, out, err = _cli(capsys, "check-config", str(bot.cfg))
    assert code == 0, err
    assert "judged by binance's rules for BTC/USDT" in out
    assert "200 open orders per symbol" in out


def test_the_accounts_other_orders_take_their_share_of_the_limit(tmp_path, exchange, bots, capsys):
    """60 orders of another client on the account: 150 levels (149 orders) no longer fit the 140 left."""
    ex = exchange("--balance", "USDT=2000")
    other = CcxtVenue("binance", "BTC/USDT", api_url=ex.base, api_key=KEY, secret=SECRET, throttle=False)
    other.load_market("BTC/USDT")
    for n in range(60):
        other.create_limit("buy", Decimal("1000"), Decimal("0.005"), f"other-{n}")
    bot = bots(tmp_path, ex.base)
    _levels(bot, 150)
    assert _cli(capsys, "check-config", str(bot.cfg))[0] == 0, "keyless, check-config sees no account"
    code, _, err = _cli(capsys, "run", "-c", str(bot.cfg), "--max-cycles", "3")
    assert code == 2, err
    assert ("150 levels rest up to 149 open orders; the exchange allows 200 per symbol (MAX_NUM_ORDERS), 60 "
            "of them taken by the account's other orders: use at most 141 levels") in err  # fmt: skip
    assert [o for o in ex.orders() if not o["clientOrderId"].startswith("other-")] == []


def test_check_config_without_the_exchange_says_it_was_not_asked(tmp_path, capsys):
    cfg = tmp_path / "bot.yml"
    cfg.write_text(json.dumps({"run": {"data": "exchange"}, "exchange": {"api_url": "http://127.0.0.1:9"}}))
    code, out, err = _cli(capsys, "check-config", str(cfg))
    assert code == 0, err
    assert "not judged by the exchange, which could not be asked" in out


def test_check_config_offline_never_asks_the_exchange_nor_loads_ccxt(tmp_path, exchange, bots):
    """`--offline`, as the deploy role's validation runs it (no network there): a grid the exchange would
    refuse passes on the file alone, the output says the exchange was not asked, ccxt is never imported (its
    import costs seconds on a Pi) and the exchange sees no request."""
    ex = exchange()
    bot = bots(tmp_path, ex.base)
    _levels(bot, 250)
    before = ex.admin.call("GET", "rate_limits")["ips"]
    code = (
        "import sys; from gridbot.cli import main; rc = main(['check-config', '--offline', sys.argv[1]]); "
        "print('ccxt loaded' if 'ccxt' in sys.modules else 'ccxt not loaded'); sys.exit(rc)"
    )
    argv = [sys.executable, "-c", code, str(bot.cfg)]
    run = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "not judged by the exchange (--offline)" in run.stdout
    assert "ccxt not loaded" in run.stdout
    assert ex.admin.call("GET", "rate_limits")["ips"] == before


@pytest.mark.parametrize(
    ("levels", "cap", "others", "fits"),
    [(2, 1, 0, True), (201, 200, 0, True), (202, 200, 0, False), (141, 200, 60, True), (142, 200, 60, False),
     (500, None, 0, True), (2, 0, 0, False)],
)  # fmt: skip
def test_the_order_cap_counts_one_order_per_gap(levels, cap, others, fits):
    assert (order_cap(levels, cap, others) is None) == fits
