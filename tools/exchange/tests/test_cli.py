"""Start-up: bad flags get a message naming the flag and exit 2; SIGTERM stops the server cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest
from gridbot_exchange.testing import exe, start

T0 = 1_735_689_600_000


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--speed", "fast"], "--speed"),
        (["--speed", "-1"], "--speed"),
        (["--port", "70000"], "--port"),
        (["--data", "/nonexistent.csv"], "--data"),
        (["--data", "synthetic:x:3000"], "--data"),
        (["--data", "synthetic:7:0"], "--data"),
        (["--start-candle", "999999999"], "--start-candle"),
        (["--account", "no-secret"], "--account"),
        (["--balance", "USDT=lots"], "--balance"),
        (["--maker-fee", "1.5"], "--maker-fee"),
        (["--symbol", "BTCUSDT"], "--symbol"),
        (["--fault", "meteor"], "--fault"),
        (["--fault", "latency:ms=x"], "--fault"),
        (["--max-orders", "0"], "--max-orders"),
        (["--data", "synthetic:7:3000:2m"], "--data"),
        (
            ["--fee-asset", "BTC", "--fee-asset-price", "600"],
            "--fee-asset-price",
        ),  # the market's own: no price
        (["--fee-asset", "BNB", "--fee-asset-price", "synthetic:11:600:1m"], "--fee-asset-price"),
        (["--fee-asset", "B-NB"], "--fee-asset"),
        (["--fee-asset", "BNB", "--fee-asset-price", "cheap"], "--fee-asset-price"),
        (["--fee-asset", "BNB", "--fee-asset-price", "synthetic:x:600"], "--fee-asset-price"),
        (["--fee-asset-discount", "1.5"], "--fee-asset-discount"),
        (["--rate-limits", "fast"], "--rate-limits"),
        (["--rate-limits", "weight=lots"], "--rate-limits"),
        (["--rate-limits", "orders10s=-1"], "--rate-limits"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(args: list[str], named: str) -> None:
    r = subprocess.run([exe(), "--port", "0", *args], check=False, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert named in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_csv_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "c.csv"
    bad.write_text("1700000000000,1,2,0.5,1,1\n1700000060000,1,2,0.5,x,1\n")
    r = subprocess.run([exe(), "--data", str(bad)], check=False, capture_output=True, text=True, timeout=30)
    assert (r.returncode, "--data" in r.stderr, "c.csv:2" in r.stderr) == (2, True, True)


def test_csv_data_start_faults_and_sigterm(tmp_path: Path) -> None:
    csv = tmp_path / "eth.csv"
    rows = [f"{T0 + i * 60_000},{100 + i},{102 + i},{99 + i},{101 + i},5" for i in range(50)]
    csv.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    proc, url = start("--data", str(csv), "--symbol", "ETH/USDT", "--speed", "0", "--fault", "latency:ms=1")
    try:
        with urllib.request.urlopen(url + "/api/v3/exchangeInfo?symbol=ETHUSDT", timeout=5) as r:
            info = json.loads(r.read())
        assert [(s["symbol"], s["baseAsset"]) for s in info["symbols"]] == [("ETHUSDT", "ETH")]
        with urllib.request.urlopen(
            url + "/api/v3/klines?symbol=ETHUSDT&interval=1m&limit=2", timeout=5
        ) as r:
            assert [k[0] for k in json.loads(r.read())] == [T0]
        with urllib.request.urlopen(url + "/admin/faults", timeout=5) as r:
            assert [(f["kind"], f["ms"]) for f in json.loads(r.read())] == [("latency", 1)]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()


def test_synthetic_data_is_another_market_at_its_own_price() -> None:
    proc, base = start("--speed", "0", "--symbol", "ETH/USDT", "--data", "synthetic:7:3000",
                       "--start-candle", "10")  # fmt: skip
    try:
        klines = f"{base}/api/v3/klines?symbol=ETHUSDT&interval=5m&limit=5"
        with urllib.request.urlopen(klines, timeout=10) as r:
            rows = json.loads(r.read())
        with urllib.request.urlopen(base + "/api/v3/exchangeInfo?symbol=ETHUSDT", timeout=10) as r:
            assert json.loads(r.read())["symbols"][0]["baseAsset"] == "ETH"
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    assert len(rows) == 5
    assert all(2000 < float(row[4]) < 4500 for row in rows), rows
    assert [row[0] for row in rows] == [T0 + 300_000 * i for i in range(6, 11)]  # the forming one last
