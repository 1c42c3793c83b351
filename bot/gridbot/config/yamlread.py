"""The YAML reader bot configs go through: YAML 1.2 plain scalars, duplicate keys refused, errors as
file:line:column. Apart from the schema (config.py): it is about reading text, not about fields."""

from __future__ import annotations

import re

import yaml


class ConfigError(ValueError):
    """A config that cannot run; the message names every bad field and its value."""


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
    yaml_implicit_resolvers = {  # noqa: RUF012  (PyYAML's own attribute, copied per class by add_implicit_resolver)
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
    except RecursionError:  # the composer recurses per nesting level; a config is a few levels deep
        raise ConfigError(f"{source}: nested too deeply to be a bot config") from None
    finally:
        loader.dispose()
