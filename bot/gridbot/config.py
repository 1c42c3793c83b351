"""Bot configuration: one YAML file validated by pydantic. Every field has a safe default (paper mode)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gridbot.grid import GridError, Market, build_levels, centred_bounds, check_step_covers_fees
from gridbot.health import heartbeat_path

Positive = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, lt=0.1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MarketConfig(_Model):
    symbol: str = Field("BTC/USDT", pattern=r"^[A-Z0-9]+/[A-Z0-9]+$")
    tick_size: Positive = 0.01
    lot_step: Positive = 0.00001
    min_notional: Annotated[float, Field(ge=0)] = 5.0
    maker_fee: Fraction = 0.001

    def market(self) -> Market:
        return Market(self.tick_size, self.lot_step, self.min_notional)


class AtrSpacing(_Model):
    enabled: bool = False
    period: Annotated[int, Field(ge=2, le=500)] = 14
    multiplier: Positive = 1.0


class GridConfig(_Model):
    levels: Annotated[int, Field(ge=2, le=500)] = 20
    spacing: Literal["arithmetic", "geometric"] = "geometric"
    lower: Positive | None = None
    upper: Positive | None = None
    width_pct: Annotated[float, Field(gt=0, le=400)] = 12.0
    budget_quote: Positive = 1000.0
    atr_spacing: AtrSpacing = AtrSpacing()

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if (self.lower is None) != (self.upper is None):
            raise ValueError("grid.lower and grid.upper go together: set both or neither")
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise ValueError(f"grid.lower ({self.lower}) must be below grid.upper ({self.upper})")
        return self


class RegridConfig(_Model):
    enabled: bool = True
    cooldown_candles: Annotated[int, Field(ge=0)] = 288


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


class RunConfig(_Model):
    data: str = "embedded"
    cycle_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0
    state_dir: Path = Path("/data")
    heartbeat_file: Path = Field(default_factory=heartbeat_path)


class ExchangeConfig(_Model):
    # ccxt's exchange id; paper mode only records it, the credentials file is read by live adapters.
    id: str = Field("binance", pattern=r"^[a-z0-9]+$")
    credentials_file: Path | None = None


class BotConfig(_Model):
    mode: Literal["paper"] = "paper"
    exchange: ExchangeConfig = ExchangeConfig()
    start_quote: Positive = 1000.0
    history_cap: Annotated[int, Field(ge=1)] = 1000
    market: MarketConfig = MarketConfig()
    grid: GridConfig = GridConfig()
    regrid: RegridConfig = RegridConfig()
    filters: FilterConfig = FilterConfig()
    run: RunConfig = RunConfig()

    @model_validator(mode="after")
    def _grid_pays_fees(self) -> Self:
        g = self.grid
        lower, upper = (g.lower, g.upper) if g.lower and g.upper else centred_bounds(100.0, g.width_pct)
        try:
            levels = build_levels(lower, upper, g.levels, g.spacing, self.market.market())
            check_step_covers_fees(levels, self.market.maker_fee)
        except GridError as exc:
            raise ValueError(str(exc)) from None
        return self


class ConfigError(ValueError):
    """A config that cannot run; the message names every bad field and its value."""


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "config"
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"{field}: {err['msg']}{shown}")
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


def load_config(path: Path | None) -> BotConfig:
    if path is None:
        return BotConfig()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data, str(path))
