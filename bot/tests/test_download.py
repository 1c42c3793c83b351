"""`gridbot download` against the local exchange (stepped clock): its klines paging, a fault mid-download,
resumes; judged by the exchange's own klines, fetched here without the bot."""

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from gridbot_exchange.testing import Admin, running

from gridbot.live import download as dl
from gridbot.live.ccxt_venue import CcxtVenue
from gridbot.live.resilience import Backoff, RetryPolicy
from gridbot.live.venue import UnavailableError
from gridbot.ops.candle_files import iter_csv

HISTORY = 2_500  # closed 5m candles before the forming one at start: three pages of 999


@pytest.fixture
def exchange():
    with running("--speed", "0", "--start-candle", str(HISTORY)) as url:
        yield url


def venue(url, retries=4):
    fast = RetryPolicy(max_retries=retries, budget_s=10, backoff=Backoff(base_s=0.01, cap_s=0.05))
    return CcxtVenue("binance", "BTC/USDT", api_url=url, throttle=False, retry=fast)


def klines(url):
    """Every kline the exchange shows now, forming one included (it is last), as floats."""
    rows, start = [], 0
    while True:
        q = f"symbol=BTCUSDT&interval=5m&startTime={start}&limit=1000"
        with urllib.request.urlopen(f"{url}/api/v3/klines?{q}", timeout=10) as r:
            page = json.loads(r.read())
        rows += [[int(k[0]), *(float(x) for x in k[1:6])] for k in page]
        if len(page) < 1000:
            return rows
        start = page[-1][0] + 1


def file_rows(path):
    return [[int(r[0]), *r[1:]] for chunk in iter_csv(path) for r in _rows(chunk)]


def _rows(c):
    return zip(c.time_ms.tolist(), *(a.tolist() for a in c.prices()), strict=True)


def test_pages_a_fault_and_a_resume_give_the_exchanges_closed_candles_once(exchange, tmp_path):
    out = tmp_path / "btc.csv"
    admin = Admin(exchange)
    pages = []

    def after_page(report, _step_ms):
        pages.append(report.written)
        if len(pages) == 1:  # mid-download: the next two klines requests fail with 503 (retried)
            admin.fault(kind="status", status=503, path="/api/v3/klines", count=2)

    report = dl.download(venue(exchange), "5m", out, 0, after_page)
    assert pages == [999, 1998, 2500]
    assert admin.call("GET", "faults") == []  # both faulted requests happened
    shown = klines(exchange)
    assert file_rows(out) == shown[:-1]  # everything but the forming candle
    assert len(shown) == HISTORY + 1
    assert report.written == HISTORY
    assert report.gaps == []

    admin.step(candles=1_200)
    again = dl.download(venue(exchange), "5m", out)
    assert again.written == 1_200
    shown = klines(exchange)
    assert file_rows(out) == shown[:-1]
    assert out.read_text().count("timestamp") == 1  # one header


def test_a_download_stopped_by_the_exchange_leaves_a_valid_file_and_resumes(exchange, tmp_path):
    out = tmp_path / "btc.csv"
    admin = Admin(exchange)

    def fail_next(_report, _step_ms):
        admin.fault(kind="status", status=503, path="/api/v3/klines", count=10)

    with pytest.raises(UnavailableError):
        dl.download(venue(exchange, retries=1), "5m", out, 0, fail_next)
    assert len(file_rows(out)) == 999  # the first page, whole
    admin.call("DELETE", "faults")
    dl.download(venue(exchange), "5m", out)
    assert file_rows(out) == klines(exchange)[:-1]


def test_resume_drops_a_row_cut_short_and_reports_gaps(exchange, tmp_path):
    out = tmp_path / "btc.csv"
    shown = klines(exchange)[:-1]
    head = "timestamp,open,high,low,close,volume\n" + "".join(
        ",".join(map(str, r)) + "\n" for r in shown[:100]
    )
    out.write_text(head + ",".join(map(str, shown[100]))[:20])  # a crash in the middle of a row
    report = dl.download(venue(exchange), "5m", out)
    assert report.dropped_partial
    assert file_rows(out) == shown
    # Asked to start later than the file ends: the hole is reported, not filled with invented candles.
    admin = Admin(exchange)
    admin.step(candles=50)
    later = klines(exchange)[HISTORY + 20][0]
    report = dl.download(venue(exchange), "5m", out, later)
    assert [g.missing for g in report.gaps] == [20]
    assert report.written == 30


# `gridbot download` of the local exchange's 5m candles, with the config `on_the_exchange` writes
DOWNLOAD = ["download", "-c", "bot.yml", "--symbol", "BTC/USDT", "--timeframe", "5m"]


def on_the_exchange(tmp_path, exchange):
    """bot.yml in tmp_path pointing at the local exchange."""
    (tmp_path / "bot.yml").write_text(f"exchange:\n  api_url: {exchange}\n  throttle: false\n")


def gridbot(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "gridbot.cli", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (
            ["--symbol", "DOGE/USDT", "--timeframe", "5m"],
            "--symbol DOGE/USDT: exchange.symbol: 'DOGE/USDT' is not",
        ),
        (["--symbol", "btc-usdt", "--timeframe", "5m"], "--symbol btc-usdt: want BASE/QUOTE"),
        (["--symbol", "BTC/USDT", "--timeframe", "1m"], "--timeframe 1m: binance refused it"),
        (["--symbol", "BTC/USDT", "--timeframe", "7m"], "--timeframe 7m: binance has 1s, 1m"),
        (
            ["--symbol", "BTC/USDT", "--timeframe", "5m", "--since", "2024-02-30"],
            "--since 2024-02-30: not a date",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_flag(exchange, tmp_path, flags, named):
    on_the_exchange(tmp_path, exchange)
    out = gridbot("download", "-c", "bot.yml", *flags, "--out", "x.csv", cwd=tmp_path)
    assert out.returncode == 2
    assert named in out.stderr
    assert not (tmp_path / "x.csv").exists()


def test_the_command_writes_what_backtest_reads(exchange, tmp_path):
    on_the_exchange(tmp_path, exchange)
    args = [*DOWNLOAD, "--out", "d.csv"]
    out = gridbot(*args, "--since", "2025-01-02", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""  # not a terminal: no progress bar
    assert "d.csv: 2212 5m candles of BTC/USDT written (2025-01-02 00:00 to 2025-01-09 16:15)" in out.stdout
    again = gridbot(*args, cwd=tmp_path)
    assert "d.csv: 0 5m candles" in again.stdout
    bt = gridbot("backtest", "--data", "d.csv", "--json", "--trades", "/dev/null", cwd=tmp_path)
    assert json.loads(bt.stdout)["candles"] == 2212


def test_the_adapters_requests_are_logged_when_its_logger_alone_is_turned_up(exchange, tmp_path):
    on_the_exchange(tmp_path, exchange)
    args = [*DOWNLOAD, "--out", "d.csv"]
    turned_up = ["--log-level", "gridbot.live.ccxt_calls=debug"]
    out = gridbot(*turned_up, *args, "--since", "2025-01-09", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    others = [x for x in lines if not (x.startswith("DEBUG ") and " gridbot.live.ccxt_calls: " in x)]
    assert others == [], "the adapter's debug lines, nothing else"
    assert any(": candles: ok in " in x for x in lines), lines


def test_the_adapter_leaves_out_requests_charset_guessing_and_still_reads_the_exchange(exchange):
    """A live bot's memory: no charset_normalizer/chardet (~3.5 MB), no warning about it, and the
    exchange's JSON read as before."""
    code = (
        "import sys\n"
        "from gridbot.live.ccxt_venue import CcxtVenue\n"
        f"v = CcxtVenue('binance', 'BTC/USDT', api_url={exchange!r}, throttle=False)\n"
        "print(v.load_market('BTC/USDT').tick_size, len(v.closed_candles('5m', 0, 10)))\n"
        "print(sorted(m for m in ('chardet', 'charset_normalizer') if sys.modules.get(m)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["0.01 10", "[]"]
    assert out.stderr == ""


@pytest.mark.usefixtures("ctrl_c_reaches_commands")
def test_ctrl_c_on_a_terminal_leaves_a_valid_file_that_resumes(exchange, tmp_path):
    """The progress bar on a terminal; Ctrl-C mid-download (pages slowed by a latency fault): exit 130, the
    rows written are whole, and the next run completes them."""
    on_the_exchange(tmp_path, exchange)
    Admin(exchange).fault(kind="latency", ms=400, path="/api/v3/klines")
    primary, secondary = pty.openpty()
    args = [*DOWNLOAD, "--out", "d.csv"]
    proc = subprocess.Popen([sys.executable, "-m", "gridbot.cli", *args], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=secondary, text=True)  # fmt: skip
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 30
    while b"999 candles" not in seen and time.monotonic() < deadline:
        if select.select([primary], [], [], 1)[0]:
            seen += os.read(primary, 4096)
    assert b"] 2025-01-04 11:10  999 candles" in seen  # the bar: where the download is, how many so far
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    os.close(primary)
    assert proc.returncode == 130
    rows = file_rows(tmp_path / "d.csv")
    assert len(rows) in (999, 1998)
    Admin(exchange).call("DELETE", "faults")
    again = gridbot(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert file_rows(tmp_path / "d.csv") == klines(exchange)[:-1]


def test_since_after_the_newest_candle_is_refused_naming_it(exchange, tmp_path):
    on_the_exchange(tmp_path, exchange)
    newest = dl.iso(klines(exchange)[-2][0])  # the last closed candle (the forming one is last)
    args = [*DOWNLOAD, "--out", "d.csv"]
    for flag, value in (("--since", "2030-01-01"), ("--timerange", "20300101-")):
        out = gridbot(*args, flag, value, cwd=tmp_path)
        assert (out.returncode, out.stdout) == (2, "")
        assert out.stderr == (f"gridbot: {flag} {value}: 2030-01-01 00:00 is after binance's newest closed "
                              f"5m candle ({newest}): nothing to download\n")  # fmt: skip
        assert not (tmp_path / "d.csv").exists()


def test_a_timerange_downloads_its_days_only(exchange, tmp_path):
    on_the_exchange(tmp_path, exchange)
    args = [*DOWNLOAD, "--out", "d.csv"]
    out = gridbot(*args, "--timerange", "20250102-20250105", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "d.csv: 864 5m candles of BTC/USDT written (2025-01-02 00:00 to 2025-01-04 23:55)" in out.stdout
    day = 86_400_000
    start = [k[0] for k in klines(exchange)].index(1735776000000)  # 2025-01-02 00:00 UTC
    assert file_rows(tmp_path / "d.csv") == klines(exchange)[start : start + 3 * day // 300_000]
    both = gridbot(*args, "--since", "2025-01-02", "--timerange", "20250102-", cwd=tmp_path)
    assert both.returncode == 2
    assert "--timerange: not allowed with argument --since" in both.stderr


def test_a_file_of_another_timeframe_is_not_appended_to(exchange, tmp_path):
    """Resuming a 1h file as 5m (or the reverse) would mix the two, and a backtest could not tell."""
    on_the_exchange(tmp_path, exchange)
    hourly = tmp_path / "h.csv"
    hourly.write_text("timestamp,open,high,low,close,volume\n"
                      "1735776000000,1,1,1,1,1\n1735779600000,1,1,1,1,1\n")  # fmt: skip
    args = [*DOWNLOAD, "--out"]
    out = gridbot(*args, "h.csv", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr == ("gridbot: --out h.csv: holds rows 3600 s apart, not 5m candles: appending would "
                          "mix two timeframes; give another --out\n")  # fmt: skip
    assert gridbot(*args, "d.csv", "--since", "2025-01-09T12:05", cwd=tmp_path).returncode == 0
    before = (tmp_path / "d.csv").read_text()
    as_hourly = gridbot(*args[:-2], "1h", "--out", "d.csv", cwd=tmp_path)
    assert as_hourly.returncode == 2
    assert "gridbot: --out d.csv: holds rows 300 s apart, not 1h candles" in as_hourly.stderr
    assert (tmp_path / "d.csv").read_text() == before


def test_the_progress_bar_runs_on_the_exchanges_clock(exchange, tmp_path):
    """The local exchange's market is at its replayed 2025 candles: the bar ends full, not at the share of
    the time up to this machine's clock those candles are."""
    on_the_exchange(tmp_path, exchange)
    primary, secondary = pty.openpty()
    args = [*DOWNLOAD, "--out", "d.csv"]
    proc = subprocess.Popen([sys.executable, "-m", "gridbot.cli", *args], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=secondary, text=True)  # fmt: skip
    os.close(secondary)
    seen = b""
    while select.select([primary], [], [], 30)[0]:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the other end closed: the command has ended
            break
        if not chunk:
            break
        seen += chunk
    proc.communicate(timeout=30)
    os.close(primary)
    assert proc.returncode == 0
    bars = [part for part in seen.decode().split("\r") if part.startswith("[")]
    assert bars[-1].startswith("[" + "#" * 40 + "] ")
    assert bars[0].startswith("[" + "#" * 15 + ".")  # 999 of 2500 candles: 40 %
