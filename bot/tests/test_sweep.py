"""`gridbot sweep` as a user runs it (real processes, a real terminal for the progress bar and Ctrl-C),
judged against single `gridbot backtest` runs of the same configs."""

import csv
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridbot.ops import sweep as sw
from gridbot.ops.candle_files import load_embedded

SETS = ["--set", "grid.levels=8,16", "--set", "grid.width_pct=10,20"]


def gridbot(*args, cwd, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "gridbot.cli", *args], cwd=cwd, capture_output=True, text=True, check=False,
        **kwargs,
    )  # fmt: skip


@pytest.fixture(scope="module")
def candles_csv(tmp_path_factory):
    """Three weeks of the embedded 5-minute candles: every combination trades."""
    c = load_embedded().slice(0, 6_000)
    path = tmp_path_factory.mktemp("data") / "candles.csv"
    rows = np.column_stack([c.time_ms, *c.prices()])
    np.savetxt(path, rows, fmt=["%d", "%.2f", "%.2f", "%.2f", "%.2f", "%.6f"], delimiter=",")
    return path


def read_table(path):
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_every_combination_ranked_as_its_own_backtest_reports_it(tmp_path, candles_csv):
    (tmp_path / "bot.yml").write_text("start_quote: 2000\nfilters:\n  trend:\n    mode: adx\n")
    out = gridbot("sweep", "-c", "bot.yml", "--data", str(candles_csv), *SETS, "--jobs", "2",
                  "--out", "s.csv", "--best-config", "best.yml", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""  # not a terminal: no progress bar
    rows = read_table(tmp_path / "s.csv")
    assert sorted((r["grid.levels"], r["grid.width_pct"]) for r in rows) == [
        ("16", "10"), ("16", "20"), ("8", "10"), ("8", "20"),
    ]  # fmt: skip
    returns = [float(r["return_pct"]) for r in rows]
    assert returns == sorted(returns, reverse=True)
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4"]
    assert "grid.levels  grid.width_pct  return_pct" in out.stdout
    for r in rows:  # each row is what `gridbot backtest` says of the same config, one --set away
        cfg = tmp_path / f"c{r['rank']}.yml"
        cfg.write_text(
            "start_quote: 2000\nfilters:\n  trend:\n    mode: adx\n"
            f"grid:\n  levels: {r['grid.levels']}\n  width_pct: {r['grid.width_pct']}\n"
        )
        single = gridbot("backtest", "-c", cfg.name, "--data", str(candles_csv), "--json", "--trades",
                         "/dev/null", cwd=tmp_path)  # fmt: skip
        summary = json.loads(single.stdout)
        assert summary["round_trips"] > 0
        for metric in sw.METRICS:
            assert float(r[metric]) == summary[metric], metric
    # The winner as a bot.yml: the user's settings and the winning values; check-config accepts it.
    check = gridbot("check-config", "best.yml", "--data", str(candles_csv), cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    best = gridbot(
        "backtest",
        "-c",
        "best.yml",
        "--data",
        str(candles_csv),
        "--json",
        "--trades",
        "/dev/null",
        cwd=tmp_path,
    )
    assert json.loads(best.stdout)["return_pct"] == returns[0]
    assert json.loads(best.stdout)["start_equity"] == 2000


def test_same_table_whatever_the_workers(tmp_path, candles_csv):
    for jobs in ("1", "2"):
        rsi = ["--set", "filters.rsi.enabled=false,true"]
        out = gridbot("sweep", "--data", str(candles_csv), *SETS, *rsi, "--by", "max_drawdown_pct",
                      "--jobs", jobs, "--out", f"s{jobs}.csv", cwd=tmp_path)  # fmt: skip
        assert out.returncode == 0, out.stderr
    assert (tmp_path / "s1.csv").read_bytes() == (tmp_path / "s2.csv").read_bytes()
    drawdowns = [float(r["max_drawdown_pct"]) for r in read_table(tmp_path / "s1.csv")]
    assert drawdowns == sorted(drawdowns)  # lower is better for a drawdown
    assert len(drawdowns) == 8


def test_ties_keep_the_order_the_combinations_were_given():
    axes = [sw.Axis("grid.levels", (10, 20, 30))]
    combos = sw.combinations(None, axes)
    results = [sw.Result(combos[i], dict.fromkeys(sw.METRICS, 1.0)) for i in (2, 0, 1)]
    results[0].summary["return_pct"] = 2.0
    assert [r.combo.values for r in sw.ranked(results, "return_pct")] == [(30,), (10,), (20,)]


@pytest.mark.parametrize(
    ("sets", "named"),
    [
        (
            ["--set", "grid.levls=10,20"],
            "--set grid.levls: no such config key; did you mean grid.levels? "
            "(grid has levels, spacing, range, lower, upper, width_pct, budget_quote)\n",
        ),
        (["--set", "gird.levels=10"], "--set gird.levels: no such config key; did you mean grid.levels?\n"),
        (
            ["--set", "grid.atr_spacing.enable=true"],
            "no such config key; did you mean "
            "grid.atr_spacing.enabled? (grid.atr_spacing has enabled, period, multiplier)\n",
        ),
        (["--set", "grid.levels=20", "--set", "grid.levels=30"], "--set grid.levels: given twice"),
        (["--set", "grid.levels=10,1"], "grid.levels=1: invalid configuration\ngrid.levels: Input should be"),
        (["--set", "filters.trend.mode=ema,sideways"], "filters.trend.mode: Input should be 'off'"),
        (["--set", "grid.levels"], "--set 'grid.levels': want KEY=VALUE"),
        (["--set", "grid.levels=10,,20"], "--set grid.levels: '' is not a value"),
        (["--set", "grid.levels=!!binary AAAA"], "--set grid.levels: '!!binary AAAA' is not a value"),
        (["--set", "grid.levels=[10]"], "--set grid.levels: '[10]' is not a value"),
    ],
)
def test_bad_keys_and_values_refused_before_any_work(tmp_path, candles_csv, sets, named):
    out = gridbot("sweep", "--data", str(candles_csv), *sets, "--out", "s.csv", cwd=tmp_path)
    assert out.returncode == 2
    assert named in out.stderr
    assert not (tmp_path / "s.csv").exists()


def test_heatmap_of_two_keys(tmp_path, candles_csv):
    pytest.importorskip("matplotlib")
    out = gridbot(
        "sweep", "--data", str(candles_csv), *SETS, "--out", "s.csv", "--plot", "h.png", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "h.png").read_bytes().startswith(b"\x89PNG")


def test_one_swept_key_is_plotted_as_a_line_with_the_best_marked(tmp_path, candles_csv, monkeypatch):
    pytest.importorskip("matplotlib")
    from gridbot.ops import sweep_plot  # noqa: PLC0415

    out = gridbot("sweep", "--data", str(candles_csv), "--set", "grid.levels=8,16,24", "--plot", "l.png",
                  "--out", "s.csv", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "l.png").read_bytes().startswith(b"\x89PNG")
    rows = read_table(tmp_path / "s.csv")
    drawn = []
    monkeypatch.setattr(sweep_plot.plt, "close", drawn.append)  # the figure, kept to read
    axis = sw.Axis("grid.levels", (8, 16, 24))
    combos = {c.values[0]: c for c in sw.combinations(None, [axis])}
    results = [sw.Result(combos[int(r["grid.levels"])], {"return_pct": float(r["return_pct"])}) for r in rows]
    sweep_plot.plot_sweep([axis], results, "return_pct", tmp_path / "again.png")
    ax = drawn[0].axes[0]
    line = ax.get_lines()[0]
    by_levels = {int(r["grid.levels"]): float(r["return_pct"]) for r in rows}
    assert list(line.get_ydata()) == [by_levels[n] for n in (8, 16, 24)]  # in the order given, not ranked
    assert ax.get_legend().get_texts()[0].get_text() == f"best: grid.levels={rows[0]['grid.levels']}"


def test_a_holdout_judges_every_row_on_the_later_data_it_was_not_chosen_on(tmp_path, candles_csv):
    """`--holdout 30%`: ranked on the first 70 % of the candles, each row's return and drawdown on the last
    30 % beside it; both figures are what a plain backtest of the winner gives on each part."""
    out = gridbot("sweep", "--data", str(candles_csv), *SETS, "--holdout", "30%", "--out", "s.csv",
                  "--best-config", "best.yml", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = read_table(tmp_path / "s.csv")
    assert list(rows[0])[-2:] == ["holdout_return_pct", "holdout_max_drawdown_pct"]
    assert len(rows) == 4
    lines = candles_csv.read_text().splitlines()
    (tmp_path / "head.csv").write_text("\n".join(lines[:4200]) + "\n")  # 6000 candles, the last 1800 held
    (tmp_path / "tail.csv").write_text("\n".join(lines[4200:]) + "\n")
    for part, columns in (("head", ("return_pct", "max_drawdown_pct")),
                          ("tail", ("holdout_return_pct", "holdout_max_drawdown_pct"))):  # fmt: skip
        alone = gridbot("backtest", "-c", "best.yml", "--data", f"{part}.csv", "--json", cwd=tmp_path)
        summary = json.loads(alone.stdout)
        assert [float(rows[0][c]) for c in columns] == [summary["return_pct"], summary["max_drawdown_pct"]]
    assert out.stdout.splitlines()[-1].startswith("holdout 2025-01-15..2025-01-21 (1800 candles): the winner "
                                                  f"returned {rows[0]['holdout_return_pct']}%")  # fmt: skip
    for bad in ("0", "95%", "thirty"):
        refused = gridbot("sweep", "--data", str(candles_csv), *SETS, "--holdout", bad, cwd=tmp_path)
        assert refused.returncode == 2
        assert refused.stderr.startswith(f"gridbot: --holdout {bad}: want a share of the data above 0")


@pytest.mark.usefixtures("ctrl_c_reaches_commands")
def test_ctrl_c_on_a_terminal_keeps_the_rows_finished(tmp_path):
    """The progress bar on a terminal; Ctrl-C after the first backtest: the workers stop, the finished rows
    are written, ranked, and the command exits 130. 400 backtests of six months (13 s unloaded): a test
    process that a loaded machine holds back for seconds after the first still interrupts the sweep."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridbot.cli", "sweep", "--data", "embedded", "--jobs", "1", "--out", "s.csv",
         "--set", "grid.levels=8..27:1", "--set", "grid.width_pct=12..107:5"],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=secondary, text=True,
    )  # fmt: skip
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 60
    while b"] 1/400 backtests" not in seen and time.monotonic() < deadline:
        if select.select([primary], [], [], 1)[0]:
            seen += os.read(primary, 4096)
    assert b"] 1/400 backtests" in seen
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=30)
    os.close(primary)
    assert proc.returncode == 130
    rows = read_table(tmp_path / "s.csv")
    assert 1 <= len(rows) < 400
    returns = [float(r["return_pct"]) for r in rows]
    assert returns == sorted(returns, reverse=True)
    assert stdout.count("\n") == len(rows) + 1  # the table of what was finished


def test_interrupt_while_collecting_keeps_what_finished(candles_csv):
    """In-process: a KeyboardInterrupt raised while results arrive stops the pool and keeps them."""
    candles = sw.load_candles(str(candles_csv))
    combos = sw.combinations(None, [sw.Axis("grid.levels", tuple(range(8, 20)))])

    def stop_after_two(done, total):
        assert total == 12
        if done == 2:
            raise KeyboardInterrupt

    outcome = sw.run_sweep(combos, candles.slice(0, 2000), 2, stop_after_two)
    assert outcome.interrupted
    assert len(outcome.results) == 2


def test_the_drawdown_halt_tells_sweep_rows_apart_and_names_the_day(candles_csv):
    """`--set risk.max_drawdown_pct=...` changes the rows (it was ignored): the row whose limit the data
    reaches halts where a single backtest of that config halts, and says so; the other trades to the end."""
    from gridbot.config.model import BotConfig  # noqa: PLC0415
    from gridbot.core.engine import GridEngine  # noqa: PLC0415

    base = BotConfig.model_validate({"grid": {"levels": 16, "width_pct": 10}})
    candles = sw.load_candles(str(candles_csv))
    alone = GridEngine(base)
    alone.run_chunk(candles)
    worst = alone.summary()["max_drawdown_pct"]
    assert worst > 1
    axes = [sw.parse_axis(f"risk.max_drawdown_pct={worst / 2:.4f},{worst + 1:.4f}")]
    outcome = sw.run_sweep(sw.combinations(base, axes), candles, 1, None)
    header, rows = sw.table_rows(axes, outcome.results)
    tight, loose = (dict(zip(header, row, strict=True)) for row in rows)
    assert tight != loose
    one = GridEngine(outcome.results[0].combo.config)
    one.run_chunk(candles)
    assert tight["halted"] == f"drawdown {str(one.summary()['halted_at'])[:10]}"
    assert float(tight["max_drawdown_pct"]) >= worst / 2
    assert loose["halted"] == "-"
    assert float(loose["max_drawdown_pct"]) == worst


@settings(max_examples=50, deadline=None)
@given(first=st.integers(-50, 50), span=st.integers(0, 200), step=st.integers(1, 40))
def test_a_range_is_every_step_from_its_first_value_to_its_last(first, span, step):
    last = first + span
    assert sw.parse_axis(f"grid.levels={first}..{last}:{step}").values == tuple(range(first, last + 1, step))
    tenths = sw.parse_axis(f"grid.width_pct={first / 10}..{last / 10}:{step / 10}").values
    assert tenths == tuple(k / 10 for k in range(first, last + 1, step))  # counted in decimals, no drift


def test_invalid_combinations_are_skipped_and_counted_and_top_prints_the_best(tmp_path, candles_csv):
    """`grid.levels=40` with `grid.width_pct=6` cannot pay its fees: that one combination is skipped and
    counted, the others run; `--top 1` prints the winner alone, the CSV keeps every row."""
    sets = ["--set", "grid.levels=10..40:30", "--set", "grid.width_pct=6,24"]
    out = gridbot("sweep", "--data", str(candles_csv), *sets, "--top", "1", "--out", "s.csv", "--jobs", "1",
                  cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (
        "1 of 4 combinations skipped as invalid, the first: sweep combination grid.levels=40 grid.width_pct=6"
        in (out.stderr)
    )
    table = read_table(tmp_path / "s.csv")
    assert sorted((r["grid.levels"], r["grid.width_pct"]) for r in table) == [
        ("10", "24"),
        ("10", "6"),
        ("40", "24"),
    ]
    printed = out.stdout.strip().splitlines()
    assert len(printed) == 2
    assert printed[1].split()[:3] == ["1", table[0]["grid.levels"], table[0]["grid.width_pct"]]
    sets = ["--set", "grid.levels=40", "--set", "grid.width_pct=6"]
    none = gridbot("sweep", "--data", str(candles_csv), *sets, "--out", "n.csv", cwd=tmp_path)
    assert none.returncode == 2
    assert "grid step" in none.stderr
