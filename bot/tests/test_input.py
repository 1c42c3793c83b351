"""Bad input a user will feed the bot: each is exit 2 with the file and line (or field) named, never a
traceback, and nothing of a previous run's output lost."""

import gzip
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from gridbot.cli import main

T0 = 1_700_000_000_000


def _rows(n: int) -> list[str]:
    # A price that steps every 1000 candles: few fills, so the engine stays fast on long files.
    prices = [100 + i // 1000 % 3 for i in range(n)]
    return [f"{T0 + i * 60_000},{p},{p + 1},{p - 1},{p},1" for i, p in enumerate(prices)]


def _text(rows: list[str]) -> bytes:
    return ("\n".join(rows) + "\n").encode()


def _with(n: int, at: int, row: str) -> bytes:
    rows = _rows(n)
    rows[at] = row
    return _text(rows)


def _zipped(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def _backtest(tmp_path, *args: str) -> int:
    return main(["backtest", "--json", "--trades", str(tmp_path / "trades.csv"), *args])


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.csv", b"", "empty.csv: no candles"),
        ("header.csv", b"timestamp,open,high,low,close,volume\n", "header.csv: no candles"),
        (
            "seconds.csv",
            b"1700000000,100,101,99,100,1\n",
            "seconds.csv:1: timestamp 1700000000 looks like seconds",
        ),
        (
            "micro.csv",
            b"1700000000000000,100,101,99,100,1\n",
            "micro.csv:1: timestamp 1700000000000000 is beyond",
        ),
        (
            "latin1.csv",
            _text(_rows(40)) + "# café\n".encode("latin-1"),
            "latin1.csv:41: not UTF-8 text (byte 0xe9",
        ),
        ("binary.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary.csv:1: not UTF-8 text (byte 0x89"),
        ("nul.csv", b"1700000000000,1,1,1,1,1\n17\x0000,1,1,1,1,1\n", "nul.csv:2: timestamp is not a number"),
        (
            "quote.csv",
            b'1700000000000,"1,1,1,1,1\n' + b"9" * 2000 + b"\n" * 200,
            "quote.csv:1: a quoted field runs to line 201: an unclosed quote",
        ),
        ("long.csv", _text(_rows(5)) + b"9" * 5000, "long.csv:6: a line of more than 4096 bytes"),
        # Past the 8192-row parse chunk: the line is the file's, not the index within a chunk.
        (
            "late.csv",
            _with(9000, 8500, f"{T0 + 8500 * 60_000},100,99,101,100,1"),
            "late.csv:8501: candle is not OHLC",
        ),
        ("late_text.csv", _with(9000, 8700, "1,2,x,4,5,6"), "late_text.csv:8701: high is not a number: 'x'"),
        # Cast to int64 first, 1e19 wrapped around to a negative number "in seconds".
        ("huge.csv", b"1e19,100,101,99,100,1\n", "huge.csv:1: timestamp 1e19 is beyond the year 5000"),
        ("neg.csv", b"-5,100,101,99,100,1\n", "neg.csv:1: timestamp -5 is before 1973 as milliseconds"),
        (
            "frac.csv",
            b"1700000000000.7,100,101,99,100,1\n",
            "frac.csv:1: timestamp 1700000000000.7 is not a whole number of milliseconds",
        ),
        # A line of dates is data, not a header skipped in silence.
        (
            "iso.csv",
            b"2024-01-01T00:00:00Z,100,101,99,100,1\n",
            "iso.csv:1: timestamp is not a number: '2024-01-01T00:00:00Z'; ccxt OHLCV rows start with "
            "milliseconds since 1970, not dates",
        ),
        (
            "semi.csv",
            b"timestamp;open;high;low;close;volume\n1700000000000;100;101;99;100;1\n",
            "semi.csv:2: want 6 columns [timestamp, open, high, low, close, volume], got 1 columns: "
            "['1700000000000;100;101;99;100;1']; columns are separated by commas, this line uses ';'",
        ),
        (
            "utf16.csv",
            "1700000000000,100,101,99,100,1\n".encode("utf-16"),
            "utf16.csv:1: UTF-16 text (a spreadsheet's 'Unicode text' export); save it as CSV in UTF-8",
        ),
        (
            "negvol.csv",
            _with(10, 5, f"{T0 + 5 * 60_000},100,101,99,100,-3"),
            "negvol.csv:6: negative volume -3.0",
        ),
        ("dup.csv", _with(10, 5, f"{T0 + 4 * 60_000},100,101,99,100,1"), "dup.csv:6: duplicate timestamp"),
        ("back.csv", _with(10, 5, f"{T0},100,101,99,100,1"), "back.csv:6: timestamp goes back in time"),
        (
            "nan.csv",
            _with(10, 3, f"{T0 + 3 * 60_000},100,nan,99,100,1"),
            "nan.csv:4: high is not a finite number",
        ),
        (
            "inf.csv",
            _with(10, 3, f"{T0 + 3 * 60_000},100,101,99,100,inf"),
            "inf.csv:4: volume is not a finite",
        ),
        ("cols5.csv", _with(10, 2, f"{T0 + 2 * 60_000},100,101,99,100"), "cols5.csv:3: want 6 columns"),
        ("cols7.csv", _with(10, 2, f"{T0 + 2 * 60_000},100,101,99,100,1,"), "cols7.csv:3: want 6 columns"),
        ("zero.csv", _with(10, 2, f"{T0 + 2 * 60_000},0,0,0,0,1"), "zero.csv:3: candle is not OHLC"),
        ("cut.csv.gz", gzip.compress(_text(_rows(3000)))[:3000], "cut.csv.gz: cannot read the gzip file"),
        ("dir.csv", None, "dir.csv: is a directory, want a CSV file"),
        (
            "two.zip",
            _zipped({"a.csv": b"", "b.csv": b""}),
            "two.zip: a zip archive of 2 files ['a.csv', 'b.csv'], want exactly one CSV in it",
        ),
        ("cut.zip", _zipped({"a.csv": _text(_rows(300))})[:500], "cut.zip: cannot read the zip archive"),
        (
            "bad.zip",
            _zipped({"a.csv": _text(_rows(300)), "b/": b""}).replace(b"1700000", b"1700x00", 1),
            "bad.zip:1: timestamp is not a number",
        ),
    ],
)
def test_a_bad_candle_file_is_exit_2_naming_file_and_line(tmp_path, capsys, name, content, expected):
    path = tmp_path / name
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    assert _backtest(tmp_path, "--data", str(path)) == 2
    err = capsys.readouterr().err
    assert f"gridbot: {tmp_path}/{expected}" in err


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("plain.csv", _text(_rows(300))),
        ("bom.csv", "\ufeff".encode() + _text(["timestamp,open,high,low,close,volume", *_rows(300)])),
        ("packed.csv.gz", gzip.compress(_text(["# ccxt fetch_ohlcv", *_rows(300)]))),
        ("packed_no_suffix.csv", gzip.compress(_text(_rows(300)))),
        ("archive.zip", _zipped({"BTCUSDT-1m.csv": _text(_rows(300))})),
    ],
)
def test_gzip_bom_header_and_comments_read_the_same_candles(tmp_path, capsys, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert _backtest(tmp_path, "--data", str(path)) == 0
    assert '"candles": 300' in capsys.readouterr().out


def test_a_real_process_reports_a_late_bad_row_without_a_traceback(tmp_path):
    path = tmp_path / "late.csv.gz"
    path.write_bytes(gzip.compress(_with(20_000, 19_000, f"{T0 + 19_000 * 60_000},100,101,99,100,-1")))
    out = subprocess.run(
        [sys.executable, "-m", "gridbot.cli", "backtest", "--data", str(path)],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr == f"gridbot: {path}:19001: negative volume -1.0\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b"grid:\n  levels: 10\n  spacing: geometric\n  levels: 12\n",
            "bot.yml:4: duplicate key grid.levels (first on line 2)",
        ),
        (b"run: {data: a.csv}\nrun: {data: b.csv}\n", "bot.yml:2: duplicate key run (first on line 1)"),
        (b"grid:\n  levels: 10\n# caf\xe9\n", "bot.yml:3: not UTF-8 text (byte 0xe9)"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "bot.yml: a binary file, not a YAML config"),
        (b"grid: [1,\n", "bot.yml:2:1: not valid YAML"),
        (b"grid: {levels: 10}\n---\ngrid: {levels: 12}\n", "bot.yml:2:1: not valid YAML: expected a single"),
        (
            b"filters:\n  trend:\n    mode: false\n",
            "filters.trend.mode: Input should be 'off', 'ema', 'adx' or 'both'",
        ),
        (b"- grid\n", "bot.yml: top level must be a mapping, got list"),
        (b"# " + b"x" * (1 << 20), "bot.yml: more than 1024 kB, not a bot config"),
        # YAML 1.1 read 1:30 as 90 (base 60); the bot's YAML 1.2 reads text, which is no number of seconds.
        (
            b"run: {cycle_seconds: 1:30}\n",
            "run.cycle_seconds: Input should be a valid number, unable to parse",
        ),
        # YAML's infinities are floats that pass every "> 0" check.
        (b"grid: {budget_quote: .inf}\n", "grid.budget_quote: Input should be a finite number (got inf)"),
        (b"start_quote: 1e999\n", "start_quote: Input should be a finite number (got inf)"),
        (b"[" * 1000 + b"]" * 1000, "bot.yml: nested too deeply to be a bot config"),
        # Aliases nest a small file into 10**9 items: the message shows a bounded part of it.
        (
            b"a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
            + b"".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n".encode() for i in range(1, 9)),
            "a8: Extra inputs are not permitted (got [[[...], [...], [...], [...], ...], ",
        ),
    ],
)
def test_a_bad_config_file_is_exit_2_naming_line_or_field(tmp_path, capsys, content, expected):
    path = tmp_path / "bot.yml"
    path.write_bytes(content)
    assert main(["check-config", str(path)]) == 2
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "mode", "rsi"),
    [
        # YAML 1.1 reads an unquoted off/no/on/yes as a boolean: the bot reads them as the text they are.
        (b"filters:\n  trend:\n    mode: off\n", "off", False),
        (b"filters:\n  trend: {mode: 'off'}\n  rsi: {enabled: on}\n", "off", True),
        (b"\xef\xbb\xbffilters:\n  trend: {mode: adx}\n  rsi: {enabled: yes}\n", "adx", True),
        (b"filters:\n  rsi: {enabled: true}\n  trend: {mode: both}\n", "both", True),
        (b"base: &b {mode: 'off'}\nfilters:\n  trend:\n    <<: *b\n    mode: ema\n", None, False),
    ],
)
def test_yaml_11_booleans_and_a_bom_read_as_meant(tmp_path, content, mode, rsi):
    from gridbot.config.model import ConfigError, load_config  # noqa: PLC0415

    path = tmp_path / "bot.yml"
    path.write_bytes(content)
    if mode is None:  # a merge key may be overridden, that is no duplicate; the unknown top key is refused
        with pytest.raises(ConfigError, match="base: Extra inputs are not permitted"):
            load_config(path)
        return
    cfg = load_config(path)
    assert cfg.filters.trend.mode == mode
    assert cfg.filters.rsi.enabled is rsi


def _outputs(tmp_path) -> dict[str, bytes]:
    """Every file the backtest leaves in its output directory (temp files included, so leftovers show)."""
    return {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}


def test_a_failing_backtest_leaves_the_previous_outputs_as_they_were(tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_bytes(_text(_rows(3000)))
    trades, plot = tmp_path / "out" / "trades.csv", tmp_path / "out" / "equity.png"
    assert main(["backtest", "--data", str(good), "--trades", str(trades), "--plot", str(plot)]) == 0
    before = _outputs(tmp_path)
    assert set(before) == {"trades.csv", "trades-roundtrips.csv", "equity.png"}
    assert before["trades.csv"].count(b"\n") > 1, "the run must trade for this test to mean something"
    assert before["equity.png"].startswith(b"\x89PNG")

    # Fails in its second chunk, after the first one's trades were written (to a temp file).
    late = tmp_path / "late.csv"
    late.write_bytes(_with(9000, 8999, f"{T0 + 8999 * 60_000},100,101,99,100,-1"))
    capsys.readouterr()
    assert main(["backtest", "--data", str(late), "--trades", str(trades), "--plot", str(plot)]) == 2
    assert "late.csv:9000: negative volume" in capsys.readouterr().err
    assert _outputs(tmp_path) == before

    assert main(["backtest", "--data", str(late.with_name("nothing.csv")), "--trades", str(trades)]) == 2
    assert _outputs(tmp_path) == before

    good.write_bytes(_text(_rows(800)))
    assert main(["backtest", "--data", str(good), "--trades", str(trades)]) == 0
    after = _outputs(tmp_path)
    assert set(after) == set(before)
    assert after["trades.csv"] != before["trades.csv"]
    assert after["equity.png"] == before["equity.png"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--trades", "{file}/t.csv"], "--trades {file}/t.csv: cannot write in {file}: not a directory"),
        (
            ["--trades", "{file}/sub/t.csv"],
            "--trades {file}/sub/t.csv: cannot write in {file}/sub: Not a directory",
        ),
        (["--trades", "{tmp}"], "--trades {tmp}: is a directory, want a file name"),
        (["--plot", "{file}/p.png"], "--plot {file}/p.png: cannot write in {file}: not a directory"),
        (
            ["--plot", "{tmp}/p.txt"],
            "--plot {tmp}/p.txt: matplotlib cannot write '.txt' images; name it .png, or ",
        ),
    ],
)
def test_an_unwritable_output_is_refused_before_any_work(tmp_path, capsys, args, expected):
    file = tmp_path / "file"
    file.write_text("a file where a directory should be")
    # The data is bad too: an output error means it was refused before the data was read.
    (tmp_path / "empty.csv").write_bytes(b"")
    fill = {"file": str(file), "tmp": str(tmp_path)}
    argv = ["backtest", "--data", str(tmp_path / "empty.csv"), *(a.format(**fill) for a in args)]
    if "--trades" not in args:
        argv += ["--trades", str(tmp_path / "t.csv")]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(f"gridbot: {expected.format(**fill)}")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--trades", "candles.csv"], "--trades candles.csv: is also the candle data"),
        (["--trades", "sub/../candles.csv"], "--trades sub/../candles.csv: is also the candle data"),
        (
            ["--trades", "candles"],
            "--trades' round trips {tmp}/candles-roundtrips.csv: is also the candle data",
        ),
        (["--trades", "t.csv", "--plot", "bot.yml"], "--plot bot.yml: is also the config"),
        (["--trades", "t.csv", "--plot", "t.csv"], "--plot t.csv: is also --trades t.csv"),
        (["--trades", "link.csv"], "--trades link.csv: is also the candle data"),
    ],
)
def test_an_output_that_is_an_input_is_refused_before_any_work(tmp_path, capsys, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    data, cfg = tmp_path / "candles-roundtrips.csv", tmp_path / "bot.yml"
    data.write_bytes(_text(_rows(50)))
    (tmp_path / "candles.csv").symlink_to(data.name)
    (tmp_path / "link.csv").symlink_to("candles.csv")
    cfg.write_text("grid: {levels: 10}\n")
    before = sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir() if p.is_file())
    assert main(["backtest", "-c", "bot.yml", "--data", "candles.csv", *args]) == 2
    assert (
        capsys.readouterr().err
        == f"gridbot: {expected.format(tmp=tmp_path.resolve())}; the run would overwrite it\n"
    )
    assert sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir() if p.is_file()) == before


def test_a_symlinked_trades_file_is_written_through_its_link(tmp_path):
    data = tmp_path / "candles.csv"
    data.write_bytes(_text(_rows(50)))
    (tmp_path / "runs").mkdir()
    link = tmp_path / "trades.csv"
    link.symlink_to(tmp_path / "runs" / "trades.csv")
    assert main(["backtest", "--data", str(data), "--trades", str(link)]) == 0
    assert link.is_symlink()
    assert (tmp_path / "runs" / "trades.csv").read_text().startswith("date,side,amount")
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["trades-roundtrips.csv", "trades.csv"]


def test_trades_to_a_pipe_are_written_in_place_and_a_plot_to_one_refused(tmp_path, capsys):
    """Like --trades /dev/null, without risking the real one: staged and renamed, the device (here a FIFO)
    was replaced by a regular file."""
    data, fifo = tmp_path / "candles.csv", tmp_path / "fifo"
    data.write_bytes(_text(_rows(300)))
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert main(["backtest", "--json", "--data", str(data), "--trades", str(fifo)]) == 0
    reader.join(timeout=10)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert received[0].startswith(b"date,side,amount,price")
    assert received[0].count(b",buy,") > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["candles.csv", "fifo"]
    capsys.readouterr()
    assert (
        main(["backtest", "--data", str(data), "--trades", str(tmp_path / "t.csv"), "--plot", str(fifo)]) == 2
    )
    assert (
        capsys.readouterr().err
        == f"gridbot: --plot {fifo}: not a regular file; to draw no plot, leave --plot out\n"
    )


def test_run_refuses_candle_data_it_would_append_its_trades_to(tmp_path, capsys):
    data = tmp_path / "gridbot.db"
    data.write_bytes(_text(_rows(50)))
    cfg = tmp_path / "bot.yml"
    cfg.write_text(f"run:\n  state_dir: {tmp_path}\n  data: {data}\n")
    assert main(["run", "-c", str(cfg), "--max-cycles", "1"]) == 2
    assert capsys.readouterr().err == (
        f"gridbot: run.state_dir's gridbot.db {data}: is also the candle data; the run would overwrite it\n"
    )
    assert data.read_bytes() == _text(_rows(50))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bot.yml", "gridbot.db"]


@pytest.mark.parametrize(
    ("state_dir", "expected"),
    [
        ("file/state", "run.state_dir: cannot write in {tmp}/file/state: Not a directory"),
        ("dir", "run.state_dir {tmp}/dir: gridbot.db is a directory"),
    ],
)
def test_an_unwritable_state_dir_is_refused_before_any_work(tmp_path, capsys, state_dir, expected):
    (tmp_path / "file").write_text("")
    (tmp_path / "dir" / "gridbot.db").mkdir(parents=True)
    cfg = tmp_path / "bot.yml"
    cfg.write_text(f"run:\n  state_dir: {tmp_path / state_dir}\n  data: {tmp_path / 'missing.csv'}\n")
    assert main(["run", "-c", str(cfg), "--max-cycles", "1"]) == 2
    assert capsys.readouterr().err == f"gridbot: {cfg}: {expected.format(tmp=tmp_path)}\n"


def _gridbot(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gridbot.cli", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def saved_state() -> bytes:
    """A state.json as gridbot wrote it before the store (a snapshot after two candles): still migrated."""
    from gridbot.config.model import BotConfig  # noqa: PLC0415
    from gridbot.core.engine import GridEngine  # noqa: PLC0415
    from gridbot.ops.candle_files import load_embedded  # noqa: PLC0415

    engine = GridEngine(BotConfig())
    engine.run_chunk(load_embedded().slice(0, 2))
    state = {"version": 1, "symbol": "BTC/USDT", "cycle": 2, "engine": engine.snapshot()}
    return json.dumps(state).encode()


def _replace(old: bytes, new: bytes):
    return lambda saved: saved.replace(old, new, 1)


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        pytest.param(lambda _: b"", "state file is empty", id="empty"),
        pytest.param(lambda saved: saved[: len(saved) // 2], "state file is truncated or not JSON", id="cut"),
        pytest.param(lambda _: b"SQLite format 3\x00\x10\x00", "state file is truncated", id="binary"),
        pytest.param(lambda _: b'{"name": "other"}', "not a gridbot state file", id="foreign"),
        pytest.param(lambda _: b"[1, 2, 3]", "not a gridbot state file", id="list"),
        pytest.param(
            _replace(b'"version": 1', b'"version": 2'),
            "state version 2, this gridbot reads version 1",
            id="v2",
        ),
        pytest.param(
            _replace(b'"engine": {', b'"engine": {"x": {}}, "z": {'), "state file does not fit", id="engine"
        ),
        pytest.param(lambda _: b"[" * 100_000, "state file is truncated or not JSON", id="deep"),
        pytest.param(_replace(b'"version": 1', b'"version": true'), "state version True", id="v-true"),
        pytest.param(
            _replace(b'"symbol": "BTC/USDT"', b'"symbol": "ETH/USDT"'),
            "state of a 'ETH/USDT' bot, the config trades 'BTC/USDT'",
            id="other-symbol",
        ),
    ],
)
def test_a_bad_state_file_is_exit_1_and_left_untouched(tmp_path, capsys, saved_state, corrupt, expected):
    state = tmp_path / "state" / "state.json"
    state.parent.mkdir()
    state.write_bytes(corrupt(saved_state))
    before = state.read_bytes()
    cfg = tmp_path / "bot.yml"
    cfg.write_text(
        f"run:\n  state_dir: {state.parent}\n  heartbeat_file: {tmp_path / 'beat'}\n  http_port: null\n"
    )
    assert main(["run", "-c", str(cfg), "--max-cycles", "1"]) == 1
    assert capsys.readouterr().err.startswith(f"gridbot: {state}: {expected}")
    assert state.read_bytes() == before
    assert sorted(p.name for p in state.parent.iterdir()) == ["state.json"]


def test_a_state_from_before_the_symbol_was_recorded_is_continued(tmp_path, capsys, saved_state):
    state = tmp_path / "state.json"
    state.write_bytes(saved_state.replace(b'"symbol": "BTC/USDT", ', b""))
    cfg = tmp_path / "bot.yml"
    cfg.write_text(
        f"run:\n  state_dir: {tmp_path}\n  heartbeat_file: {tmp_path / 'beat'}\n  http_port: null\n"
    )
    assert main(["run", "-c", str(cfg), "--max-cycles", "1"]) == 0
    err = capsys.readouterr().err
    assert f"{state} migrated into {tmp_path / 'gridbot.db'}" in err
    assert "from cycle 2" in err
    assert not state.exists()
    assert (tmp_path / "state.json.migrated").exists()
    assert main(["run", "-c", str(cfg), "--max-cycles", "1"]) == 0
    assert "from cycle 3" in capsys.readouterr().err


def test_a_real_process_refuses_an_unknown_state_version_without_a_traceback(tmp_path, saved_state):
    state = tmp_path / "state.json"
    state.write_bytes(saved_state.replace(b'"version": 1', b'"version": 7'))
    cfg = tmp_path / "bot.yml"
    cfg.write_text(
        f"run:\n  state_dir: {tmp_path}\n  heartbeat_file: {tmp_path / 'beat'}\n  http_port: null\n"
    )
    out = _gridbot("run", "-c", str(cfg), "--max-cycles", "1", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.startswith(f"gridbot: {state}: state version 7, this gridbot reads version 1")
    assert "Traceback" not in out.stderr
    assert state.read_bytes() == saved_state.replace(b'"version": 1', b'"version": 7')


def test_yaml_11_octal_and_dates_read_as_written(tmp_path):
    from gridbot.config.model import load_config  # noqa: PLC0415

    path = tmp_path / "bot.yml"
    path.write_text(
        "grid: {levels: 010}\nhistory_cap: 1_000\nrun: {data: 2024-01-01.csv, state_dir: 2024-01-01}\n"
        "regrid: {cooldown: 0}\n"  # a number to YAML, a duration to the bot
    )
    cfg = load_config(path)
    assert (cfg.grid.levels, cfg.history_cap, cfg.run.state_dir) == (10, 1000, Path("2024-01-01"))
    assert (cfg.regrid.cooldown, cfg.regrid.cooldown_ms) == ("0", 0)


def test_ctrl_c_in_a_backtest_is_exit_130_and_keeps_the_previous_outputs(tmp_path, capsys, monkeypatch):
    import gridbot.ops.backtest  # noqa: PLC0415

    good = tmp_path / "good.csv"
    good.write_bytes(_text(_rows(3000)))
    trades = tmp_path / "out" / "trades.csv"
    assert main(["backtest", "--data", str(good), "--trades", str(trades)]) == 0
    before = _outputs(tmp_path)
    real = gridbot.ops.backtest.iter_candles

    def interrupted(data):
        yield next(real(data))
        raise KeyboardInterrupt

    monkeypatch.setattr(gridbot.ops.backtest, "iter_candles", interrupted)
    capsys.readouterr()
    assert main(["backtest", "--data", str(good), "--trades", str(trades)]) == 130
    assert "gridbot: interrupted (a backtest leaves its previous outputs" in capsys.readouterr().err
    assert _outputs(tmp_path) == before


def _without_root_powers() -> list[str]:
    """A command prefix under which a mode-000 directory is locked: none for a user, root dropping its
    capability to ignore file modes."""
    if os.geteuid() != 0:
        return []
    caps = "-dac_override,-dac_read_search"
    prefix = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", "--"]
    if shutil.which("setpriv") is None or subprocess.run([*prefix, "true"], check=False).returncode:
        pytest.skip(
            "root that cannot drop its capabilities (no setpriv, no CAP_SETPCAP) cannot be locked out"
        )
    return prefix


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["backtest", "--trades", "{locked}/t.csv"],
            "--trades {locked}/t.csv: cannot write it: Permission denied",
        ),
        (["backtest", "--data", "{locked}/c.csv"], "{locked}/c.csv: cannot read: Permission denied"),
        (
            ["run", "-c", "{tmp}/bot.yml"],
            "{tmp}/bot.yml: run.state_dir: cannot write in {locked}/st: Permission denied",
        ),
    ],
)
def test_a_locked_directory_is_named_in_a_real_process(tmp_path, args, expected):
    """pathlib raises, rather than answering no, for a path in a directory that may not be searched."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    (tmp_path / "bot.yml").write_text(f"run:\n  state_dir: {locked / 'st'}\n")
    fill = {"tmp": tmp_path, "locked": locked}
    cmd = [*_without_root_powers(), sys.executable, "-m", "gridbot.cli", *(a.format(**fill) for a in args)]
    try:
        out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
    finally:
        locked.chmod(0o700)
    assert (out.returncode, out.stderr) == (2, f"gridbot: {expected.format(**fill)}\n")


def test_a_reader_that_goes_away_is_a_quiet_exit(tmp_path):
    """`gridbot backtest --trades /dev/stdout | head -1`: exit 141 like a shell tool, nothing on stderr."""
    data = tmp_path / "candles.csv"
    data.write_bytes(
        _text(_rows(3000))
    )  # 160 kB of trades: more than a pipe holds, still writing at the close
    cmd = [sys.executable, "-m", "gridbot.cli", "backtest", "--data", str(data), "--trades", "/dev/stdout"]
    with subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout.readline() == b"date,side,amount,price,fee,fee_currency,realized_pnl\r\n"
        proc.stdout.close()
        assert proc.wait(timeout=60) == 141
        assert proc.stderr.read() == b""


def test_check_config_in_a_real_process_refuses_a_duplicate_key_without_a_traceback(tmp_path):
    cfg = tmp_path / "bot.yml"
    cfg.write_text("filters:\n  trend: {mode: off}\n  trend: {mode: ema}\n")
    out = _gridbot("check-config", str(cfg), cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr == (
        f"gridbot: {cfg}:3: duplicate key filters.trend (first on line 2): "
        "YAML would silently keep only the last one; remove one of them\n"
    )


def test_run_refuses_a_single_candle_it_cannot_replay(tmp_path, capsys):
    data = tmp_path / "one.csv"
    data.write_bytes(_text(_rows(1)))
    cfg = tmp_path / "bot.yml"
    cfg.write_text(f"run:\n  state_dir: {tmp_path / 'state'}\n  data: {data}\n  http_port: null\n")
    assert main(["run", "-c", str(cfg), "--max-cycles", "1"]) == 2
    assert (
        capsys.readouterr().err
        == f"gridbot: {data}: the run replays candles in a loop and needs at least 2, got 1\n"
    )
