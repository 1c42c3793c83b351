"""Bot configuration: one YAML file validated by pydantic. Every field has a safe default (paper mode).

One module (~430 lines): the models read top to bottom as the file's sections do (market, grid, regrid,
exits, filters, run, exchange, risk), with the checks across sections on `BotConfig` at the end."""

from __future__ import annotations

import hashlib
import re
import reprlib
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from gridbot import contract

# ConfigError is re-exported: the one error a bad bot.yml raises, whichever step refused it.
from gridbot.config.yamlread import ConfigError as ConfigError  # noqa: PLC0414
from gridbot.config.yamlread import parse_yaml
from gridbot.contract import CREDENTIALS_FILE, HTTP_PORT
from gridbot.core.grid import (
    GridError,
    Market,
    centred_bounds,
    check_step_covers_fees,
    place_levels,
)
from gridbot.core.grid_plan import check_grid

Positive = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, lt=0.1)]


class _Model(BaseModel):
    # YAML gives `.inf` and `1e999` as floats (a budget of infinity passed) and `cooldown: 0` as a number (a
    # valid duration was refused as "not a string"): refuse the first, read the second as the text it is.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, coerce_numbers_to_str=True)


class MarketConfig(_Model):
    symbol: str = Field("BTC/USDT", pattern=r"^[A-Z0-9]+/[A-Z0-9]+$")
    tick_size: Positive = 0.01
    lot_step: Positive = 0.00001
    min_notional: Annotated[float, Field(ge=0)] = 5.0
    maker_fee: Fraction = 0.001
    taker_fee: Fraction = 0.001  # paid by the exits' market sells

    def market(self) -> Market:
        return Market(self.tick_size, self.lot_step, self.min_notional)


class AtrSpacing(_Model):
    enabled: bool = False
    period: Annotated[int, Field(ge=2, le=500)] = 14
    multiplier: Positive = 1.0


class GridConfig(_Model):
    levels: Annotated[int, Field(ge=2, le=500)] = 20
    spacing: Literal["arithmetic", "geometric"] = "geometric"
    # fixed: the grid stays on grid.lower..upper whatever the price does (Binance's fixed-range grid);
    # follow: a grid the price leaves is re-centred on it after regrid.cooldown. Default: fixed when the
    # bounds are given, else follow.
    range: Literal["follow", "fixed"] = "follow"
    lower: Positive | None = None
    upper: Positive | None = None
    width_pct: Annotated[float, Field(gt=0, le=400)] = 12.0
    budget_quote: Positive = 1000.0
    atr_spacing: AtrSpacing = AtrSpacing()

    @model_validator(mode="before")
    @classmethod
    def _default_range(cls, data: object) -> object:
        if (
            isinstance(data, dict)
            and "range" not in data
            and None not in (data.get("lower"), data.get("upper"))
        ):
            return {**data, "range": "fixed"}
        return data

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if (self.lower is None) != (self.upper is None):
            raise ValueError("grid.lower and grid.upper go together: set both or neither")
        if self.range == "fixed" and self.lower is None:
            raise ValueError("grid.range fixed keeps the grid between grid.lower and grid.upper: set both")
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise ValueError(f"grid.lower ({self.lower}) must be below grid.upper ({self.upper})")
        return self


DURATION_UNITS = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def duration_seconds(text: str) -> int:
    """'30m', '4h', '1d', '2w' (or '0') as seconds."""
    match = re.fullmatch(r"(\d+)([mhdw])?", text.strip())
    if match is None or (match[2] is None and match[1] != "0"):
        raise ValueError(
            f"a duration is a whole number and a unit (m, h, d or w), like 30m or 1d; got {text!r}"
        )
    return int(match[1]) * DURATION_UNITS.get(match[2] or "m", 0)


class RegridConfig(_Model):
    enabled: bool = True
    # A duration, not a candle count: the same config means the same wait on 5-minute and monthly data.
    cooldown: str = "1d"

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: object) -> object:
        if isinstance(data, dict) and "cooldown_candles" in data:
            raise ValueError("cooldown_candles is now cooldown, a duration such as 30m, 4h, 1d or 2w")
        return data

    @field_validator("cooldown")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration_seconds(value)
        return value

    @property
    def cooldown_ms(self) -> int:
        return duration_seconds(self.cooldown) * 1000


class ExitConfig(_Model):
    """Prices (quote) at which the bot leaves or enters the market; each is optional."""

    stop_loss: Positive | None = None  # low reaches it: cancel every order, sell all held, halt
    take_profit: Positive | None = None  # high reaches it: the same, in profit
    trigger_price: Positive | None = None  # no grid until a candle trades through this price
    trailing_up: bool = (
        False  # a close above the grid moves it up at once (no cooldown, even with regrid off)
    )

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.stop_loss is not None and self.take_profit is not None and self.stop_loss >= self.take_profit:
            raise ValueError(
                f"exits.stop_loss ({self.stop_loss}) must be below exits.take_profit ({self.take_profit})"
            )
        return self


class TrendFilter(_Model):
    mode: Literal["off", "ema", "adx", "both"] = "ema"
    ema_period: Annotated[int, Field(ge=2, le=1000)] = 100
    slope_candles: Annotated[int, Field(ge=1, le=1000)] = 12
    max_down_slope_pct: Annotated[float, Field(ge=0)] = 0.5
    adx_period: Annotated[int, Field(ge=2, le=500)] = 14
    adx_threshold: Annotated[float, Field(gt=0, lt=100)] = 25.0


class RsiFilter(_Model):
    enabled: bool = False
    period: Annotated[int, Field(ge=2, le=500)] = 14
    buy_max: Annotated[float, Field(gt=0, le=100)] = 70.0


class FilterConfig(_Model):
    trend: TrendFilter = TrendFilter()
    rsi: RsiFilter = RsiFilter()


EXCHANGE = "exchange"  # run.data: closed candles from the exchange's public API


class RunConfig(_Model):
    data: str = "embedded"  # embedded | a candle CSV | exchange
    timeframe: str = Field("5m", pattern=r"^[1-9][0-9]*[mhdw]$")  # candles of run.data: exchange
    cycle_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0
    # Defaults (gridbot.contract): the container's /data and /tmp/gridbot.heartbeat, elsewhere the user's data
    # directory with the heartbeat in the state directory.
    state_dir: Path = Field(default_factory=lambda: Path(contract.state_dir()))
    heartbeat_file: Path = Field(default_factory=lambda: Path(contract.heartbeat_path()))
    http_port: Annotated[int, Field(ge=0, le=65535)] | None = HTTP_PORT  # /metrics, /healthz; null: off
    # Prefix of every client order id this bot sends: its own orders are adopted by it after a restart,
    # anyone else's are left alone. Bots sharing an account need different ones.
    bot_id: str = Field("gridbot", pattern=r"^[A-Za-z0-9]{1,12}$")
    # How long an order whose create got no answer is looked up by its client id before it is taken as
    # never placed: longer than the exchange's visibility lag (Binance: up to a minute).
    unknown_order_deadline_s: Annotated[float, Field(gt=0, le=3600)] = 90.0
    reconcile_every: Annotated[int, Field(ge=1)] = 60  # cycles between full recoveries (and at every start)
    # The market's rules read again this often, and this often while the exchange has the market halted
    # (live/market_watch.py): how soon trading resumes by itself once it opens.
    rules_every_s: Annotated[float, Field(gt=0, le=86_400)] = 3600.0
    halted_market_every_s: Annotated[float, Field(gt=0, le=3600)] = 30.0

    @model_validator(mode="before")
    @classmethod
    def _heartbeat_beside_the_state(cls, data: object) -> object:
        """A given state_dir without a heartbeat_file: the heartbeat goes with it (or where GRIDBOT_HEARTBEAT
        says), so that two bots' state directories are two heartbeats."""
        if isinstance(data, dict) and data.get("heartbeat_file") is None and data.get("state_dir"):
            return {**data, "heartbeat_file": contract.heartbeat_path(str(data["state_dir"]))}
        return data

    @field_validator("state_dir", "heartbeat_file")
    @classmethod
    def _home(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def timeframe_ms(self) -> int:
        return duration_seconds(self.timeframe) * 1000

    @property
    def heartbeat_max_age(self) -> float:
        """Seconds the healthcheck allows between beats: three missed cycles, and room for a slow start."""
        return 3 * self.cycle_seconds + 10


class SharedBot(_Model):
    """Another bot on this bot's exchange account: what it starts with, on which market (null: the defaults,
    BotConfig.start_quote's and MarketConfig.symbol's)."""

    start_quote: Positive | None = None
    symbol: str | None = Field(None, pattern=r"^[A-Z0-9]+/[A-Z0-9]+$")


class ExchangeConfig(_Model):
    id: str = Field("binance", pattern=r"^[a-z0-9]+$")  # ccxt's exchange id
    api_url: str | None = Field(None, pattern=r"^https?://")  # any base URL: a local exchange, a testnet
    sandbox: bool = False  # ccxt's sandbox mode (a real testnet)
    # GRIDBOT_API_KEY=... / GRIDBOT_API_SECRET=... lines; live mode reads it (default: the container's)
    credentials_file: Path | None = None
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    # ccxt's client-side request spacing by endpoint weight (Binance myTrades: 200 ms); off only against an
    # exchange that has no request weights (the local test exchange)
    throttle: bool = True
    # Request weight (live/weights.py): the exchange's limit per IP and minute (Binance spot: 6000; null:
    # none), the share of it all bots behind this IP may use together, and how many bots share the IP (the
    # fleet's setting: a home router's Pis). Each bot paces its calls to limit * share / bots a minute; off
    # with `throttle: false`.
    weight_limit_1m: Annotated[int, Field(ge=1)] | None = 6000
    weight_share_pct: Annotated[float, Field(gt=0, le=100)] = 50.0
    bots_per_ip: Annotated[int, Field(ge=1, le=1000)] = 1
    # A directory the bots behind this IP share (the gridbot role mounts one per host with several bots): a
    # 429's Retry-After one of them is given is written there and holds back every one's calls until it ends
    ip_quiet_dir: Path | None = None
    # how long the circuit breaker holds calls back after the exchange failed (or a 429's Retry-After, if
    # longer): an outage is waited out this way, it never halts trading
    breaker_cooldown_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    retry_budget_s: Annotated[float, Field(gt=0, le=300)] = (
        20.0  # a read's retries (backoff) at most this long
    )
    # The other bots trading on this account, by name: a bot's first trading start refuses when the account
    # cannot fund them all (live/preflight.check_funds). The gridbot role writes it for the bots of a host
    # that share an account (account_of).
    account_shared_with: dict[Annotated[str, Field(min_length=1, max_length=63)], SharedBot] = {}

    @field_validator("credentials_file", "ip_quiet_dir")
    @classmethod
    def _home(cls, value: Path | None) -> Path | None:
        return value and value.expanduser()

    @property
    def weight_budget_1m(self) -> tuple[float, float] | None:
        """(this bot's weight a minute, the IP's share a minute), or None: no pacing."""
        if not self.throttle or self.weight_limit_1m is None:
            return None
        share = self.weight_limit_1m * self.weight_share_pct / 100
        return share / self.bots_per_ip, share

    @model_validator(mode="after")
    def _one_endpoint(self) -> Self:
        if self.api_url is not None and self.sandbox:
            raise ValueError("exchange.api_url and exchange.sandbox exclude each other: give one")
        return self


class HoldingsDriftConfig(_Model):
    """The bot's holdings against the exchange's balances, at every reconcile (live/holdings.py)."""

    tolerance_pct: Annotated[float, Field(ge=0, le=100)] = 0.5  # of equity: within it, rounding and dust
    halt_pct: Annotated[float, Field(gt=0, le=100)] | None = 5.0  # past it for `grace`: halt; null: never
    grace_s: Annotated[float, Field(ge=0, le=86_400)] = 120.0  # a fill in flight, an order the exchange lags
    # An account usually holds more than one bot's books (its budget, the owner's coins): only a shortfall,
    # the books claiming what the account lacks, counts (false: the bot owns its account, every difference).
    shared: bool = True


class RiskConfig(_Model):
    """Kill switches of the trading loop: each halts trading (no new orders) until `gridbot resume`."""

    max_drawdown_pct: Annotated[float, Field(gt=0, le=100)] | None = 25.0  # equity below start by this
    max_errors_per_hour: Annotated[int, Field(ge=1)] | None = 60  # exchange errors in the last hour
    max_price_age: str = "30m"  # no new orders on a price older than this (a stalled feed)
    cancel_on_halt: bool = False  # a kill switch also cancels the resting orders
    holdings_drift: HoldingsDriftConfig = HoldingsDriftConfig()

    @field_validator("max_price_age")
    @classmethod
    def _duration(cls, value: str) -> str:
        if duration_seconds(value) <= 0:
            raise ValueError("risk.max_price_age must be a positive duration, like 30m")
        return value


class BotConfig(_Model):
    mode: Literal["paper", "live"] = "paper"
    exchange: ExchangeConfig = ExchangeConfig()
    risk: RiskConfig = RiskConfig()
    start_quote: Positive = 1000.0
    history_cap: Annotated[int, Field(ge=1)] = 1000
    market: MarketConfig = MarketConfig()
    grid: GridConfig = GridConfig()
    regrid: RegridConfig = RegridConfig()
    exits: ExitConfig = ExitConfig()
    filters: FilterConfig = FilterConfig()
    run: RunConfig = Field(default_factory=RunConfig)  # its default directories: the environment at load time
    _source_sha256: str | None = PrivateAttr(None)

    @property
    def source_sha256(self) -> str | None:
        """sha256 of the file this config was read from: a running bot's status shows which file it runs."""
        return self._source_sha256

    @model_validator(mode="after")
    def _live_needs(self) -> Self:
        if self.mode == "live" and self.run.data != EXCHANGE:
            raise ValueError(
                f"run.data: mode live trades on the exchange's own candles, set run.data: exchange "
                f"(got {self.run.data!r})"
            )
        return self

    @property
    def credentials_file(self) -> Path:
        return self.exchange.credentials_file or Path(CREDENTIALS_FILE)

    @model_validator(mode="after")
    def _grid_pays_fees(self) -> Self:
        """What can be judged without a price: fixed bounds fully, a centred grid's step against the fee.

        Whether a centred grid's levels survive the tick depends on the price: `grid_problems_at` judges
        that against a price range (check-config uses the data's).
        """
        g, x = self.grid, self.exits
        try:
            if g.lower is not None and g.upper is not None:
                check_grid(self, g.lower, g.upper)
            else:
                check_step_covers_fees(place_levels(*centred_bounds(1.0, g.width_pct), g.levels, g.spacing),
                                       self.market.maker_fee)  # fmt: skip
        except GridError as exc:
            raise ValueError(str(exc)) from None
        if g.range == "fixed" and x.trailing_up:
            raise ValueError(
                "exits.trailing_up moves the grid up, grid.range fixed never moves it: choose one"
            )
        if g.lower is not None and x.stop_loss is not None and x.stop_loss >= g.lower:
            raise ValueError(f"exits.stop_loss ({x.stop_loss}) must be below grid.lower ({g.lower})")
        if g.upper is not None and x.take_profit is not None and x.take_profit <= g.upper:
            raise ValueError(f"exits.take_profit ({x.take_profit}) must be above grid.upper ({g.upper})")
        return self


_SHORT = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxstring, _SHORT.maxother = 2, 4, 200, 200


# What a pattern-checked field wants, in words: pydantic's message shows the regex.
PATTERN_WORDS = {
    "market.symbol": "a market is BASE/QUOTE in capitals, like BTC/USDT",
    "run.bot_id": "1 to 12 letters or digits",
    "run.timeframe": "a whole number and a unit (m, h, d or w), like 5m or 1h",
    "exchange.id": "ccxt's exchange id: lower-case letters and digits, like binance",
    "exchange.api_url": "a URL starting with http:// or https://",
}


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        value = err.get("input")
        if err["type"] == "value_error":  # our own validators' words, most naming their fields
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(msg if f"{field}." in msg or not field else f"{field}: {msg}")
            continue
        msg = PATTERN_WORDS.get(field, err["msg"]) if err["type"] == "string_pattern_mismatch" else err["msg"]
        # Bounded: a value built from YAML aliases can be exponentially large.
        shown = "" if isinstance(value, dict) else f" (got {_SHORT.repr(value)})"
        lines.append(f"{field or 'config'}: {msg}{shown}")
    return "\n".join(lines)


def parse_config(data: object, source: str = "config") -> BotConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping, got {type(data).__name__}")
    try:
        return BotConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid configuration\n{_describe(exc)}") from None


MAX_CONFIG_BYTES = 1 << 20


def load_config(path: Path | None) -> BotConfig:
    if path is None:
        return BotConfig()
    try:
        with path.open("rb") as fh:  # bounded: `-c /dev/zero` or a disk image given by mistake
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: more than {MAX_CONFIG_BYTES // 1024} kB, not a bot config")
    if b"\0" in raw:
        raise ConfigError(f"{path}: a binary file, not a YAML config")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte {raw[exc.start]:#04x}); save the file as UTF-8"
        ) from None
    cfg = parse_config(parse_yaml(text, str(path)), str(path))
    cfg._source_sha256 = hashlib.sha256(raw).hexdigest()
    return cfg
