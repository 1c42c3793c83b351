"""ccxt, loaded one exchange at a time, and without cryptography until a key needs it.

`import ccxt` (and even `import ccxt.binance`, which runs the package's `__init__`) loads all ~105 exchanges,
~76 MB RSS against ~42 MB with one: `exchange_class` imports `ccxt.<id>` and nothing else of ccxt's exchanges,
and `ccxt_module` any of ccxt's base modules the same way.

`ccxt.base.exchange` imports cryptography (its Rust extension with a static OpenSSL: ~7 MB RSS) at its top,
for signing with RSA, ECDSA and Ed25519 keys; an HMAC key, Binance's usual kind, never touches it. Here ccxt
gets stand-ins for the names it imports, and cryptography loads at the first signature that needs it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, cast
from urllib.parse import urlsplit

_ID = re.compile(r"[a-z][a-z0-9]*")
_CRYPTOGRAPHY = "cryptography"


def _real(path: str) -> Any:
    """The object at a dotted path inside cryptography: its longest importable module, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(path)


class _Deferred:
    """A name a ccxt module imported from cryptography. While that module is executed, its attributes are
    stand-ins too (ccxt's class body keeps `ec.SECP256K1` and `hashes.SHA256` in tables, to call later);
    after, any use loads cryptography, puts the real objects in place of the stand-ins in the ccxt modules'
    globals and answers with the real one."""

    __slots__ = ("_path",)

    def __init__(self, path: str) -> None:
        self._path = path

    def __getattr__(self, name: str) -> Any:
        if _StandIns.active:
            return _Deferred(f"{self._path}.{name}")
        return getattr(_resolved(self), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _resolved(self)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<{self._path}, loaded at its first use>"


def _resolved(deferred: _Deferred) -> Any:
    for name, module in list(sys.modules.items()):
        if name.startswith("ccxt."):
            for key, value in list(vars(module).items()):
                if isinstance(value, _Deferred):
                    setattr(module, key, _real(value._path))
    return _real(deferred._path)


class _StandInModule(ModuleType):
    def __getattr__(self, name: str) -> _Deferred:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Deferred(f"{self.__name__}.{name}")


class _StandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds cryptography and its submodules as stand-in packages while a ccxt module is imported."""

    active = False

    def find_spec(
        self, fullname: str, _path: Sequence[str] | None, _target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _CRYPTOGRAPHY and not fullname.startswith(_CRYPTOGRAPHY + "."):
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = _StandInModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, _module: ModuleType) -> None:
        return None


def _import(name: str) -> ModuleType:
    """`importlib.import_module(name)` for a ccxt module, with cryptography deferred as above unless it is
    loaded already."""
    if name in sys.modules or _CRYPTOGRAPHY in sys.modules:
        return importlib.import_module(name)
    finder = _StandIns()
    sys.meta_path.insert(0, finder)
    _StandIns.active = True
    try:
        return importlib.import_module(name)
    finally:
        _StandIns.active = False
        sys.meta_path.remove(finder)
        for stale in [n for n, m in sys.modules.items() if isinstance(m, _StandInModule)]:
            del sys.modules[stale]


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
    return _import(name)


def exchange_class(exchange_id: str) -> type:
    """The ccxt class for `exchange_id`, importing `ccxt.<id>` and nothing else of ccxt's exchanges."""
    pkg = _ccxt_package()
    if not _ID.fullmatch(exchange_id or ""):
        raise ValueError(
            f"exchange.id: {exchange_id!r} is not a ccxt exchange id (lower-case letters, digits)"
        )
    try:
        _import("ccxt.base.exchange")
        module = _import(f"ccxt.{exchange_id}")
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
