"""ccxt, loaded one exchange at a time.

`import ccxt` (and even `import ccxt.binance`, which runs the package's `__init__`) loads all ~105 exchanges,
~76 MB RSS against ~42 MB with one: `exchange_class` imports `ccxt.<id>` and nothing else of ccxt's exchanges,
and `ccxt_module` any of ccxt's base modules the same way.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import cast
from urllib.parse import urlsplit

_ID = re.compile(r"[a-z][a-z0-9]*")


def _without_charset_guessing() -> None:
    """requests guesses the charset of a body that names none with charset_normalizer (or chardet): ~3.5 MB
    of codecs in a long-running bot that reads JSON, which requests decodes as UTF-8 without a guess (and
    without a guesser, it takes UTF-8 for the rest). Left out when requests is not loaded yet, and requests'
    warning about the missing guesser silenced."""
    if "requests" in sys.modules:
        return
    modules = cast(dict[str, ModuleType | None], sys.modules)
    for name in ("chardet", "charset_normalizer"):
        modules.setdefault(name, None)  # None in sys.modules: `import name` raises ImportError
    warnings.filterwarnings("ignore", message="Unable to find acceptable character detection dependency")


def _ccxt_package() -> ModuleType:
    """The `ccxt` package without running its `__init__` (which imports every exchange). Submodules import as
    usual; the first attribute the bare package lacks (`ccxt.kraken`, `ccxt.exchanges`) runs the real
    `__init__` into it, so other code that does `import ccxt` in this process still sees the whole library."""
    loaded = sys.modules.get("ccxt")
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec("ccxt")
    if spec is None or spec.loader is None:
        raise ImportError("ccxt is not installed")
    pkg = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def whole_library(name: str) -> object:
        if pkg.__dict__.get("_gridbot_whole"):
            raise AttributeError(f"module 'ccxt' has no attribute {name!r}")
        pkg.__dict__["_gridbot_whole"] = True
        loader.exec_module(pkg)
        return getattr(pkg, name)

    pkg.__dict__["__getattr__"] = whole_library
    _without_charset_guessing()
    sys.modules["ccxt"] = pkg
    return pkg


def ccxt_module(name: str) -> ModuleType:
    _ccxt_package()
    return importlib.import_module(name)


def exchange_class(exchange_id: str) -> type:
    """The ccxt class for `exchange_id`, importing `ccxt.<id>` and nothing else of ccxt's exchanges."""
    pkg = _ccxt_package()
    if not _ID.fullmatch(exchange_id or ""):
        raise ValueError(
            f"exchange.id: {exchange_id!r} is not a ccxt exchange id (lower-case letters, digits)"
        )
    try:
        module = importlib.import_module(f"ccxt.{exchange_id}")
    except ModuleNotFoundError as e:
        if e.name != f"ccxt.{exchange_id}":
            raise
        have = sorted(p.stem for p in Path(pkg.__path__[0]).glob("*.py") if p.stem != "__init__")
        listed = ", ".join(have) if len(have) <= 10 else f"{len(have)} exchanges"
        raise ValueError(
            f"exchange.id: unknown exchange {exchange_id!r} (this installation's ccxt has {listed})"
        ) from None
    exchange = importlib.import_module("ccxt.base.exchange").Exchange
    cls = getattr(module, exchange_id, None)
    if not (isinstance(cls, type) and issubclass(cls, exchange)):
        raise ValueError(f"exchange.id: unknown exchange {exchange_id!r} (not in ccxt)")
    setattr(pkg, exchange_id, cls)  # as the real package has it: ccxt.binance is the class
    return cls


def rebase_urls(api: object, base: str) -> object:
    """ccxt's `urls['api']` with every URL's scheme and host replaced by `base` (which may carry a path
    prefix), keeping each URL's own path: Binance's `https://api.binance.com/api/v3` becomes `<base>/api/v3`,
    its sapi `<base>/sapi/v1`. Nested dicts are rebased throughout."""
    if isinstance(api, dict):
        return {k: rebase_urls(v, base) for k, v in api.items()}
    if isinstance(api, str):
        return base.rstrip("/") + urlsplit(api).path
    return api
