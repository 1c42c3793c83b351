"""Bot configuration: one YAML file validated by pydantic. Every field has a safe default (paper mode)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Self

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


_MERGE = "tag:yaml.org,2002:merge"
# YAML 1.2's core schema for plain scalars. YAML 1.1 (PyYAML's default) also reads on/off/yes/no/y/n as
# booleans (`mode: off` became False and failed the enum), 010 as octal 8, 1:30 as 90 (base 60) and
# 2024-01-01 as a date. Here those stay text and reach pydantic, whose bool, int and float fields still
# parse them: `enabled: off` is False, `mode: off` is "off", `levels: 010` is 10, `cycle_seconds: 1:30`
# is refused as not a number, with nothing to quote.
_CORE = {
    "bool": (r"true|True|TRUE|false|False|FALSE", "tTfF"),
    "int": (r"[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+", "-+0123456789"),
    "float": (
        r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        "-+.0123456789",
    ),
}


class _Loader(yaml.SafeLoader):
    yaml_implicit_resolvers: ClassVar = {
        first: [
            (tag, regex) for tag, regex in resolvers if tag.rsplit(":", 1)[1] not in {*_CORE, "timestamp"}
        ]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


for _name, (_pattern, _first) in _CORE.items():
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_name}", re.compile(f"^(?:{_pattern})$"), list(_first))


def _refuse_duplicate_keys(
    node: yaml.Node | None, source: str, where: str = "", seen: set[int] | None = None
) -> None:
    """YAML lets the last of two equal keys win without a word: a config saying a thing twice is refused."""
    seen = set() if seen is None else seen
    if node is None or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            field = f"{where}.{name}" if where else str(name)
            if name is not None and key.tag != _MERGE:
                line = key.start_mark.line + 1
                if (key.tag, name) in first:
                    raise ConfigError(
                        f"{source}:{line}: duplicate key {field} (first on line {first[key.tag, name]}): "
                        "YAML would silently keep only the last one; remove one of them"
                    )
                first[key.tag, name] = line
            _refuse_duplicate_keys(value, source, field if key.tag != _MERGE else where, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(item, source, where, seen)


def parse_yaml(text: str, source: str = "config") -> object:
    """The YAML document in `text` as Python data, with duplicate keys refused and YAML 1.2's booleans."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        _refuse_duplicate_keys(node, source)
        return None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        what = "; ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ConfigError(f"{where}: not valid YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def load_config(path: Path | None) -> BotConfig:
    if path is None:
        return BotConfig()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if b"\0" in raw:
        raise ConfigError(f"{path}: a binary file, not a YAML config")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte {raw[exc.start]:#04x}); save the file as UTF-8"
        ) from None
    return parse_config(parse_yaml(text, str(path)), str(path))
