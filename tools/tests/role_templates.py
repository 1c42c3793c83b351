"""The monitoring role's templates rendered by Ansible's own templating from the role's defaults, as the
template module renders them on the monitoring host: what the alerting tests judge."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any

from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core before 2.19: every string is a template

    def trust_as_template(value: str) -> str:  # type: ignore[misc]
        return value


ROLE = Path(__file__).resolve().parents[2] / "roles" / "monitoring"
MANAGED = "Ansible managed: pifleet monitoring (test)"
# Role defaults are trusted templates, as when Ansible loads a role (2.19+ asks; before, all strings were).
TRUSTED = (
    {"trusted_as_template": True}
    if "trusted_as_template" in inspect.signature(DataLoader.load_from_file).parameters
    else {}
)


@functools.cache
def plugins() -> None:
    """Ansible's plugins (the comment and to_json filters, undef()), loaded once per process."""
    init_plugin_loader()


def role_defaults(loader: DataLoader) -> dict[str, Any]:
    """The role's defaults: every file under defaults/main/, as Ansible loads them."""
    variables: dict[str, Any] = {}
    for path in sorted((ROLE / "defaults" / "main").glob("*.yml")):
        variables.update(loader.load_from_file(str(path), **TRUSTED) or {})
    return variables


def render(template: str, **overrides: Any) -> str:
    """templates/TEMPLATE as the template module renders it: the role's defaults, then `overrides` (the
    inventory's say)."""
    plugins()
    loader = DataLoader()
    variables = role_defaults(loader)
    variables.update(ansible_managed=MANAGED, **overrides)
    source = trust_as_template((ROLE / "templates" / template).read_text())
    text = Templar(loader=loader, variables=variables).template(source, escape_backslashes=False)
    assert isinstance(text, str)
    return text
