"""The front door's inputs, checked and shaped before any change (tools/tests/test_frontdoor.py): its settings
(the logins the inventory gives, each a name nginx's user file can hold and a password worth the TLS around
it; a certificate with its key; a port of its own; a rate) and the names its certificate carries (each a DNS
name or an IP address, as X.509 tells them apart)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

# A user file line is `name:hash`: no colon, no space, nothing a shell or a log would mangle.
LOGIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
MIN_PASSWORD = 12
# The journal receiver's port (its package's socket), beside the services' own.
JOURNAL_PORT = 19532
# RFC 1123 labels, at least one; no wildcard: the certificate names this host, not a domain.
DNS_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
# An SSH tunnel's end: the certificate holds for it too.
TUNNEL_NAMES = ("localhost", "127.0.0.1")


def login_problems(logins: Any) -> list[str]:
    """What is wrong with monitoring_frontdoor_logins, each naming the login; [] when it can serve."""
    if not isinstance(logins, Mapping):
        kind = type(logins).__name__
        return [f"monitoring_frontdoor_logins must map each login's name to its password; got {kind}"]
    if not logins:
        return [
            "monitoring_frontdoor_logins is empty: a lan front door needs at least one login (name: password)"
        ]
    problems = []
    for name, password in logins.items():
        if not isinstance(name, str) or not LOGIN_NAME.match(name):
            problems.append(
                f"monitoring_frontdoor_logins: {str(name)!r} is no login name (letters, digits, '.', '_', "
                "'-', up to 32, starting with a letter or digit)"
            )
        elif not isinstance(password, str) or len(password) < MIN_PASSWORD:
            problems.append(
                f"monitoring_frontdoor_logins.{name}: the password must be a string of {MIN_PASSWORD} "
                "characters or more"
            )
        elif any(c in password for c in "\n\r\0"):
            problems.append(f"monitoring_frontdoor_logins.{name}: the password holds a line break or NUL")
    return problems


def frontdoor_problems(settings: Mapping[str, Any], service_ports: Sequence[Any]) -> list[str]:
    """What is wrong with the front door's settings (by their names in `settings`), one line each naming the
    variable; [] when it can serve. `service_ports`: the monitoring services' ports, which the door's must not
    take."""
    lan = settings["monitoring_frontdoor_exposure"] == "lan"  # logins are asked for on the LAN only
    problems = login_problems(settings["monitoring_frontdoor_logins"]) if lan else []
    certificate = settings["monitoring_frontdoor_certificate"]
    if bool(certificate) != bool(settings["monitoring_frontdoor_private_key"]):
        problems.append(
            "monitoring_frontdoor_certificate and monitoring_frontdoor_private_key go together: set both or "
            "neither"
        )
    port = int(settings["monitoring_frontdoor_port"])
    if not 1 <= port <= 65535 or port in {*map(int, service_ports), JOURNAL_PORT}:
        problems.append(
            "monitoring_frontdoor_port must be a port (1-65535) no monitoring service uses"
            f" (VictoriaMetrics, vmalert, Alertmanager, the journal receiver's {JOURNAL_PORT})"
        )
    if int(settings["monitoring_frontdoor_rate"]) < 1:
        problems.append("monitoring_frontdoor_rate must be 1 or more requests a second")
    return problems


def subject_alt_names(names: Iterable[Any]) -> list[str]:
    """Each name as the certificate's subjectAltName entry (`IP:...` or `DNS:...`), the tunnel's names after
    them, in order, once each. A name that is neither an address nor a DNS name stops the play, named."""
    entries: list[str] = []
    for name in [*names, *TUNNEL_NAMES]:
        text = str(name).strip().rstrip(".")
        try:
            entry = f"IP:{ipaddress.ip_address(text)}"
        except ValueError:
            labels = text.split(".")
            if not text or len(text) > 253 or not all(DNS_LABEL.match(label) for label in labels):
                raise AnsibleFilterError(
                    f"monitoring_frontdoor_names: {str(name)!r} is neither an IP address nor a DNS name"
                ) from None
            entry = f"DNS:{text.lower()}"
        if entry not in entries:
            entries.append(entry)
    return entries


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "monitoring_frontdoor_problems": frontdoor_problems,
            "monitoring_frontdoor_sans": subject_alt_names,
        }
