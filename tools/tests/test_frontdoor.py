"""The monitoring host's front door, judged from outside it as a browser or a script meets it: Debian's nginx
(tools/host/prom-tools.sh) runs the role's rendered config in front of Debian's VictoriaMetrics and
Alertmanager on loopback, with the certificate the role's own tasks made (stock ansible-playbook on this
machine, a CA in a scratch directory) and the logins they hashed. Without the right login nothing answers;
with it only the services' reads do, and the services' state shows that no write got through."""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
import warnings
from base64 import b64encode
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from local_victoria import victoria_metrics
from modules import load_module
from monitoring_services import Service, alertmanager_service, free_port
from role_templates import ROLE, render
from stock_ansible import LOCAL_HOST, stock_playbook

DOOR = load_module(ROLE / "filter_plugins" / "frontdoor.py", "frontdoor")
HOST = "door-1"
NAMES = ["door.example.test", "192.0.2.7"]
LOGIN, PASSWORD = "ops", "correct horse battery staple"
METRIC = "door_test_metric"
MAX_SERIES = 50  # the inventory's monitoring_victoriametrics_query_max_series here: a test-sized fleet


def role_tasks(inventory_dir: Path, *tasks: str, check: bool = False, **given: Any) -> str:
    """The role's task files TASKS run by stock ansible-playbook on this machine as the host HOST (the door's
    files under `inventory_dir` instead of /etc, the controller's PKI in `inventory_dir`/pki by the role's
    default); `given` beats the role's variables as the inventory's would. The play's recap."""
    door = inventory_dir / "door"
    door.mkdir(exist_ok=True)
    variables = {
        "__monitoring_frontdoor_present": False,  # no systemd here: the handlers are the host's business
        "__monitoring_frontdoor_os_user": "root",
        "__monitoring_frontdoor_users_file": str(door / "users"),
        "__monitoring_frontdoor_cert_file": str(door / "certificate.pem"),
        "__monitoring_frontdoor_key_file": str(door / "key.pem"),
        "monitoring_frontdoor_exposure": "lan",
        "monitoring_frontdoor_logins": {LOGIN: PASSWORD},
        "monitoring_frontdoor_names": NAMES,
        **given,
    }
    (inventory_dir / "extra.json").write_text(json.dumps(variables))
    (inventory_dir / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {HOST: LOCAL_HOST}}}))
    play = [
        {
            "hosts": HOST,
            "gather_facts": False,
            "tasks": [
                {"name": task, "ansible.builtin.import_role": {"name": "monitoring", "tasks_from": task}}
                for task in tasks
            ],
        }
    ]
    (inventory_dir / "play.yml").write_text(yaml.safe_dump(play))
    run = stock_playbook(
        inventory_dir, "-i", inventory_dir / "hosts.yml", "-e", "@extra.json",
        *(["--check"] if check else []), "play.yml", ANSIBLE_ROLES_PATH=str(ROLE.parent),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    recap = re.search(rf"^{HOST}\s+:.*$", run.stdout, re.M)
    assert recap, run.stdout[-2000:]
    return recap.group(0)


def changed(recap: str) -> int:
    found = re.search(r"changed=(\d+)", recap)
    assert found, recap
    return int(found.group(1))


@dataclass
class Door:
    url: str
    root: Path
    vm: Any
    alertmanager: str
    stand_in: list[dict[str, str]]  # what reached the vmalert stand-in: path and headers
    log: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.root / "pki" / "ca.crt")

    def knock(
        self,
        method: str,
        path: str,
        login: tuple[str, str] | None = (LOGIN, PASSWORD),
        body: bytes | None = None,
    ) -> tuple[int, bytes, http.client.HTTPMessage]:
        parsed = urllib.parse.urlsplit(self.url)
        connection = http.client.HTTPSConnection(
            parsed.hostname or "", parsed.port, context=self.context(), timeout=30
        )
        headers = {"Authorization": "Basic " + b64encode(":".join(login).encode()).decode()} if login else {}
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            return answer.status, answer.read(), answer.headers
        finally:
            connection.close()


def direct(url: str, method: str = "GET", body: bytes | None = None) -> Any:
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def vmalert_stand_in(seen: list[dict[str, str]]) -> ThreadingHTTPServer:
    """Answers vmalert's two reads as vmalert does (JSON, status success) and keeps what reached it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            body = json.dumps({"status": "success", "data": {"groups": [], "alerts": []}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def nginx(stack: ExitStack, binary: Path, config: Path, port: int, log: Path) -> None:
    """nginx on the rendered config until the stack closes, once its port takes connections."""
    service = Service("nginx", [str(binary), "-e", "stderr", "-c", str(config)], ("127.0.0.1", port), log)
    service.start()
    stack.callback(service.stop)


def query_limits(**inventory: Any) -> list[str]:
    """The -search.* flags VictoriaMetrics gets from the role's template, with the inventory's say."""
    rendered = render(
        "victoria-metrics.default.j2", __monitoring_data_dir="/x", __monitoring_scrape_file="/y", **inventory
    )
    (args,) = re.findall(r'^ARGS="(.*)"$', rendered, re.M)
    flags = [flag for flag in args.split() if flag.startswith("-search.")]
    assert len(flags) == 4, flags
    return flags


def door_config(root: Path, exposure: str, port: int, **ports: int) -> Path:
    door = root / "door"
    run = root / f"run-{exposure}"
    run.mkdir()
    config = root / f"nginx-{exposure}.conf"
    config.write_text(
        render(
            "frontdoor.nginx.conf.j2",
            monitoring_frontdoor_exposure=exposure,
            monitoring_frontdoor_port=port,
            __monitoring_frontdoor_tls=exposure == "lan",
            __monitoring_frontdoor_os_user="root",
            __monitoring_frontdoor_run_dir=str(run),
            __monitoring_frontdoor_users_file=str(door / "users"),
            __monitoring_frontdoor_cert_file=str(door / "certificate.pem"),
            __monitoring_frontdoor_key_file=str(door / "key.pem"),
            __monitoring_frontdoor_access_log=str(root / f"access-{exposure}.log"),
            **ports,
        )
    )
    return config


@pytest.fixture(scope="module")
def door(
    prom_tools: Path, alertmanager_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Door]:
    root = tmp_path_factory.mktemp("door")
    first = role_tasks(root, "frontdoor-certificate.yml", "frontdoor-logins.yml")
    assert changed(first) > 0, first
    again = role_tasks(root, "frontdoor-certificate.yml", "frontdoor-logins.yml")
    assert changed(again) == 0, f"the second run changed something: {again}"
    seen: list[dict[str, str]] = []
    with ExitStack() as stack:
        limits = query_limits(monitoring_victoriametrics_query_max_series=MAX_SERIES)
        vm = stack.enter_context(victoria_metrics(prom_tools / "victoria-metrics", root / "vm", *limits))
        # a minute old: an instant query leaves out the newest 30 s (VictoriaMetrics' -search.latencyOffset)
        at = int((time.time() - 60) * 1000)
        many = "".join(f'door_many{{n="{n}"}} 1 {at}\n' for n in range(MAX_SERIES + 1))
        vm.call("/api/v1/import/prometheus", data=f'{METRIC}{{host="pi5-a"}} 42 {at}\n{many}'.encode())
        vm.flush()
        am_port = free_port()
        (root / "alertmanager.yml").write_text(
            yaml.safe_dump({"route": {"receiver": "none"}, "receivers": [{"name": "none"}]})
        )
        alertmanager = alertmanager_service(alertmanager_binary, root / "alertmanager.yml", root, am_port)
        alertmanager.start()
        stack.callback(alertmanager.stop)
        stand_in = vmalert_stand_in(seen)
        stack.callback(stand_in.shutdown)
        port = free_port()
        ports = {
            "monitoring_victoriametrics_port": int(urllib.parse.urlsplit(vm.url).port or 0),
            "monitoring_alertmanager_port": am_port,
            "monitoring_vmalert_port": stand_in.server_address[1],
        }
        config = door_config(root, "lan", port, **ports)
        nginx(stack, prom_tools / "nginx", config, port, root / "nginx.log")
        yield Door(
            f"https://localhost:{port}",
            root,
            vm,
            f"http://127.0.0.1:{am_port}",
            seen,
            root / "access-lan.log",
        )


def test_nothing_answers_without_the_right_login(door: Door) -> None:
    path = f"/api/v1/query?query={METRIC}"
    for login in (None, (LOGIN, "correct horse battery stapl"), ("root", PASSWORD), (LOGIN, "")):
        status, body, headers = door.knock("GET", path, login=login)
        assert status == 401, (login, status, body[:200])
        assert headers["WWW-Authenticate"] == 'Basic realm="pifleet"'
        assert b"42" not in body
    status, body, _ = door.knock("GET", path)
    assert status == 200, body[:300]
    assert json.loads(body) == json.loads(door.vm.call("/api/v1/query", query=METRIC))
    # who knocked, and how it went, is in the journal's line; a password never is
    logged = door.log.read_text()
    assert re.search(rf'{LOGIN} "GET /api/v1/query" 200', logged), logged[-2000:]
    assert re.search(r'"GET /api/v1/query" 401', logged), logged[-2000:]
    assert PASSWORD not in logged
    assert b64encode(PASSWORD.encode()).decode() not in logged


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/query?query={METRIC}",
        f"/api/v1/query_range?query={METRIC}&start=-1h&step=60s",
        f"/api/v1/series?match[]={METRIC}",
        "/api/v1/labels",
        "/api/v1/label/host/values",
        "/api/v1/targets",
        "/alertmanager/api/v2/alerts",
        "/alertmanager/api/v2/alerts/groups",
        "/alertmanager/api/v2/silences",
        "/alertmanager/api/v2/status",
        "/vmalert/api/v1/rules",
        "/vmalert/api/v1/alerts",
    ],
)
def test_each_read_passes(door: Door, path: str) -> None:
    status, body, headers = door.knock("GET", path)
    assert status == 200, body[:300]
    assert headers["Content-Type"].startswith("application/json"), headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in headers  # it would bind the host's other ports to HTTPS
    assert headers["Server"] == "nginx"  # no version to look up
    status, body, _ = door.knock("HEAD", path)
    assert (status, body) == (200, b"")


def test_a_read_with_a_body_is_answered_at_once(door: Door) -> None:
    """The body goes nowhere, and neither does its length: a service waiting for a body it never gets would
    hold one of its two query slots until the door's timeout."""
    started = time.monotonic()
    status, body, _ = door.knock("GET", f"/api/v1/query?query={METRIC}", body=b"x" * 200)
    assert status == 200, body[:300]
    assert time.monotonic() - started < 5


def test_no_write_gets_through_and_the_services_show_it(door: Door) -> None:
    silence = json.dumps(
        {"matchers": [{"name": "host", "value": "pi5-a", "isRegex": False}],
         "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2036-01-01T00:00:00Z", "createdBy": "intruder",
         "comment": "quiet"}
    ).encode()  # fmt: skip
    forged = b'door_forged_metric{host="pi5-a"} 1\n'
    refused = [
        ("POST", f"/api/v1/query?query={METRIC}", None, 403),
        ("POST", "/alertmanager/api/v2/silences", silence, 403),
        ("PUT", "/alertmanager/api/v2/silences", silence, 403),
        ("DELETE", "/alertmanager/api/v2/silences", None, 403),
        ("POST", "/alertmanager/api/v2/alerts", b"[]", 403),
        ("POST", "/api/v1/import/prometheus", forged, 404),
        ("GET", f"/api/v1/admin/tsdb/delete_series?match[]={METRIC}", None, 404),
        ("POST", f"/api/v1/admin/tsdb/delete_series?match[]={METRIC}", None, 404),
        # the path as nginx normalises it is what is routed: no way round the list
        ("GET", f"/api/v1/query/../admin/tsdb/delete_series?match[]={METRIC}", None, 404),
        ("GET", f"/api/v1/%61dmin/tsdb/delete_series?match[]={METRIC}", None, 404),
        ("GET", f"/api/v1/label/..%2F..%2Fadmin%2Ftsdb%2Fdelete_series/values?match[]={METRIC}", None, 404),
        ("GET", "/alertmanager/api/v2/../../-/reload", None, 404),
        ("GET", "/vmalert/-/reload", None, 404),
        ("GET", "/api/v1/export?match[]={__name__!=''}", None, 404),
        ("GET", "/internal/force_flush", None, 404),
        ("GET", "/metrics", None, 404),
        ("GET", "/", None, 404),
        ("OPTIONS", f"/api/v1/query?query={METRIC}", None, 403),
        ("TRACE", "/api/v1/labels", None, 405),
    ]
    for method, path, body, status in refused:
        got, said, _ = door.knock(method, path, body=body)
        assert got == status, (method, path, got, said[:200])
    door.vm.flush()
    kept = json.loads(door.vm.call("/api/v1/query", query=METRIC))["data"]["result"]
    assert [s["value"][1] for s in kept] == ["42"], kept
    assert json.loads(door.vm.call("/api/v1/query", query="door_forged_metric"))["data"]["result"] == []
    assert direct(f"{door.alertmanager}/api/v2/silences") == []
    assert all(seen["path"] in ("/api/v1/rules", "/api/v1/alerts") for seen in door.stand_in), door.stand_in


def test_a_query_past_the_roles_limits_is_refused_naming_the_limit_and_victoriametrics_stays_up(
    door: Door,
) -> None:
    now = int(time.time())
    ten_years = {"start": str(now - 3650 * 86400), "end": str(now)}
    # 20,000 points: past the role's limit, within VictoriaMetrics' own (30,000)
    points = {"start": str(now - 20_000 * 60), "end": str(now), "step": "60s"}
    limit = "-search.maxPointsPerTimeseries"
    asked = [
        ("/api/v1/query_range", {"query": METRIC, **points}, limit),
        ("/api/v1/query_range", {"query": METRIC, "step": "1s", **ten_years}, limit),
        ("/api/v1/query", {"query": 'count({__name__="door_many"})'}, f"exceeds {MAX_SERIES}"),
        ("/api/v1/query_range", {"query": METRIC, "step": "0s", **ten_years}, "step"),
        ("/api/v1/query", {"query": "sum(("}, "unexpected token"),
    ]
    for path, query, named in asked:
        status, body, headers = door.knock("GET", f"{path}?{urllib.parse.urlencode(query)}")
        assert status in (400, 422, 503), (path, query, status, body[:300])
        assert named in body.decode(), (path, query, body[:500])
        assert headers["Content-Type"].startswith("application/json"), headers
    assert door.vm.call("/health").strip() == b"OK"
    day = urllib.parse.urlencode({"query": METRIC, "start": now - 86400, "end": now, "step": "60s"})
    status, body, _ = door.knock("GET", f"/api/v1/query_range?{day}")
    assert status == 200, body[:300]


def test_the_login_stays_at_the_door(door: Door) -> None:
    status, _, _ = door.knock("GET", "/vmalert/api/v1/rules?type=alert")
    assert status == 200
    reached = door.stand_in[-1]
    assert reached["path"] == "/api/v1/rules?type=alert", reached
    assert "authorization" not in reached, reached


def test_the_certificate_is_the_fleet_cas_and_names_the_host(door: Door) -> None:
    port = int(urllib.parse.urlsplit(door.url).port or 0)
    for name in ("localhost", "127.0.0.1", "door.example.test", HOST):
        context = door.context()
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3"), tls.version()
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
    ):
        ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")  # the system's CAs: no
    # a client that speaks TLS 1.1 only (OpenSSL's security level 0 lets it): the door refuses it
    old = ssl.create_default_context(cafile=door.root / "pki" / "ca.crt")
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with (
        pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION"),
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
    ):
        old.wrap_socket(raw, server_hostname="localhost")
    pki = door.root / "pki"
    cert = x509.load_pem_x509_certificate((pki / HOST / "certificate.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(map(str, names.get_values_for_type(x509.DNSName))) == {HOST, "door.example.test", "localhost"}
    assert set(map(str, names.get_values_for_type(x509.IPAddress))) == {"192.0.2.7", "127.0.0.1"}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    assert cert.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # the keys are the controller's and the host's alone
    for key in (pki / "ca.key", pki / HOST / "key.pem", door.root / "door" / "key.pem"):
        assert key.stat().st_mode & 0o777 == 0o600, key
    assert (door.root / "door" / "users").stat().st_mode & 0o777 == 0o640


def test_a_client_that_hammers_is_slowed(door: Door) -> None:
    """Guesses as fast as one kept-alive connection sends them (a few ms each, far above 20 a second): past
    the burst, the door answers 429 before it looks at the login."""
    parsed = urllib.parse.urlsplit(door.url)
    guess = {"Authorization": "Basic " + b64encode(f"{LOGIN}:a guess at it!".encode()).decode()}
    statuses = []
    connection = http.client.HTTPSConnection(
        parsed.hostname or "", parsed.port, context=door.context(), timeout=30
    )
    try:
        for _ in range(200):
            connection.request("GET", "/api/v1/labels", headers=guess)
            answer = connection.getresponse()
            answer.read()
            statuses.append(answer.status)
    finally:
        connection.close()
    assert statuses.count(429) > 0, statuses
    assert set(statuses) <= {401, 429}, statuses
    time.sleep(3)  # the bucket drains at 20 a second
    assert door.knock("GET", "/api/v1/labels")[0] == 200


def test_on_loopback_the_door_is_plain_http_without_a_login_of_its_own(door: Door, prom_tools: Path) -> None:
    port = free_port()
    ports = {
        "monitoring_victoriametrics_port": int(urllib.parse.urlsplit(door.vm.url).port or 0),
        "monitoring_alertmanager_port": int(urllib.parse.urlsplit(door.alertmanager).port or 0),
        "monitoring_vmalert_port": free_port(),
    }
    config = door_config(door.root, "loopback", port, **ports)
    text = config.read_text()
    assert re.findall(r"^\s*listen .*$", text, re.M) == [f"        listen 127.0.0.1:{port};"], text
    assert "auth_basic" not in text
    assert "ssl_certificate" not in text
    with ExitStack() as stack:
        nginx(stack, prom_tools / "nginx", config, port, door.root / "nginx-loopback.log")
        answer = direct(f"http://127.0.0.1:{port}/api/v1/query?query={METRIC}")
        assert answer["data"]["result"][0]["value"][1] == "42"
        with pytest.raises(urllib.error.HTTPError) as refused:
            direct(f"http://127.0.0.1:{port}/alertmanager/api/v2/silences", "POST", b"{}")
        assert refused.value.code == 403


def test_a_check_on_a_new_controller_makes_nothing_and_fails_nothing(tmp_path: Path) -> None:
    recap = role_tasks(tmp_path, "frontdoor-certificate.yml", "frontdoor-logins.yml", check=True)
    assert changed(recap) > 0, recap
    assert not (tmp_path / "pki").exists()
    assert not (tmp_path / "door" / "users").exists()


def test_a_certificate_near_its_end_or_with_new_names_is_made_anew_by_the_same_ca(tmp_path: Path) -> None:
    role_tasks(tmp_path, "frontdoor-certificate.yml")
    pki = tmp_path / "pki"
    ca, first = (pki / "ca.crt").read_bytes(), (pki / HOST / "certificate.pem").read_bytes()
    assert changed(role_tasks(tmp_path, "frontdoor-certificate.yml")) == 0
    renamed = role_tasks(tmp_path, "frontdoor-certificate.yml", monitoring_frontdoor_names=["monitor.lan"])
    assert changed(renamed) > 0, renamed
    second = (pki / HOST / "certificate.pem").read_bytes()
    cert = x509.load_pem_x509_certificate(second)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "monitor.lan" in names.get_values_for_type(x509.DNSName)
    assert second != first
    assert (pki / "ca.crt").read_bytes() == ca, (
        "the CA was made anew: every browser would have to trust it again"
    )
    # issued for less than the renewal margin: the next run finds it due
    (pki / HOST / "certificate.pem").unlink()
    role_tasks(tmp_path, "frontdoor-certificate.yml", __monitoring_frontdoor_cert_days=20)
    due = (pki / HOST / "certificate.pem").read_bytes()
    assert changed(role_tasks(tmp_path, "frontdoor-certificate.yml")) > 0
    renewed = x509.load_pem_x509_certificate((pki / HOST / "certificate.pem").read_bytes())
    assert renewed.not_valid_after_utc > x509.load_pem_x509_certificate(due).not_valid_after_utc
    assert (pki / "ca.crt").read_bytes() == ca


def test_a_changed_password_is_hashed_anew_and_only_it_opens_the_door(door: Door) -> None:
    users = door.root / "door" / "users"
    before = users.read_text()
    lines = [line for line in before.splitlines() if not line.startswith("#")]
    assert [line.split(":", 1)[0] for line in lines] == [LOGIN]
    assert lines[0].split(":", 1)[1].startswith("$6$")
    new, path = "another long one!", "/api/v1/labels"
    try:
        assert (
            changed(role_tasks(door.root, "frontdoor-logins.yml", monitoring_frontdoor_logins={LOGIN: new}))
            > 0
        )
        assert PASSWORD not in users.read_text()
        assert new not in users.read_text()
        # nginx reads the file at each request: no reload between
        assert door.knock("GET", path, login=(LOGIN, PASSWORD))[0] == 401
        assert door.knock("GET", path, login=(LOGIN, new))[0] == 200
    finally:
        role_tasks(door.root, "frontdoor-logins.yml")
    assert users.read_text() == before  # the same salt for the same host and name: the same line again


def test_a_door_moved_to_loopback_keeps_no_login_nor_key(tmp_path: Path) -> None:
    role_tasks(tmp_path, "frontdoor-certificate.yml", "frontdoor-logins.yml")
    door = tmp_path / "door"
    assert {p.name for p in door.iterdir()} == {"users", "key.pem", "certificate.pem"}
    gone = role_tasks(
        tmp_path,
        "frontdoor-certificate.yml",
        "frontdoor-logins.yml",
        monitoring_frontdoor_exposure="loopback",
    )
    assert changed(gone) == 2, gone  # the key and certificate, the logins
    assert list(door.iterdir()) == []


@pytest.mark.parametrize(
    ("logins", "named"),
    [
        ({}, "is empty"),
        ([["ops", PASSWORD]], "must map"),
        ({"ops": "short"}, "monitoring_frontdoor_logins.ops: the password must be"),
        ({"ops": 123456789012345}, "monitoring_frontdoor_logins.ops: the password must be"),
        ({"a:b": PASSWORD}, "'a:b' is no login name"),
        ({"-x": PASSWORD}, "'-x' is no login name"),
        ({"ops": PASSWORD + "\nroot:$6$x"}, "line break"),
    ],
)
def test_a_login_nginx_could_not_hold_is_named(logins: Any, named: str) -> None:
    problems = DOOR.login_problems(logins)
    assert any(named in p for p in problems), problems


SETTINGS = {
    "monitoring_frontdoor_exposure": "lan",
    "monitoring_frontdoor_logins": {LOGIN: PASSWORD},
    "monitoring_frontdoor_certificate": "",
    "monitoring_frontdoor_private_key": "",
    "monitoring_frontdoor_port": 8443,
    "monitoring_frontdoor_rate": 20,
}
SERVICE_PORTS = [8428, 8880, 9093]


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ({"monitoring_frontdoor_logins": {}}, "monitoring_frontdoor_logins is empty"),
        ({"monitoring_frontdoor_certificate": "PEM"}, "go together: set both or neither"),
        ({"monitoring_frontdoor_private_key": "PEM"}, "go together: set both or neither"),
        ({"monitoring_frontdoor_port": 0}, "monitoring_frontdoor_port must be a port"),
        ({"monitoring_frontdoor_port": 65536}, "monitoring_frontdoor_port must be a port"),
        ({"monitoring_frontdoor_port": 8880}, "monitoring_frontdoor_port must be a port"),
        ({"monitoring_frontdoor_port": 19532}, "monitoring_frontdoor_port must be a port"),
        ({"monitoring_frontdoor_rate": 0}, "monitoring_frontdoor_rate must be 1 or more"),
    ],
)
def test_a_setting_the_door_could_not_serve_with_is_named(changed: dict[str, Any], named: str) -> None:
    problems = DOOR.frontdoor_problems({**SETTINGS, **changed}, SERVICE_PORTS)
    assert len(problems) == 1, problems
    assert named in problems[0]


def test_a_door_that_can_serve_passes_and_on_loopback_needs_no_login() -> None:
    assert DOOR.frontdoor_problems(SETTINGS, SERVICE_PORTS) == []
    loopback = {**SETTINGS, "monitoring_frontdoor_exposure": "loopback", "monitoring_frontdoor_logins": {}}
    assert DOOR.frontdoor_problems(loopback, SERVICE_PORTS) == []
    both = {**SETTINGS, "monitoring_frontdoor_certificate": "PEM", "monitoring_frontdoor_private_key": "PEM"}
    assert DOOR.frontdoor_problems(both, SERVICE_PORTS) == []


def test_good_logins_pass_and_names_become_the_certificates_entries() -> None:
    assert DOOR.login_problems({"ops": PASSWORD, "ann.b-2": "x" * 12}) == []
    assert DOOR.subject_alt_names(["pi5-a", "Monitor.LAN.", "10.0.0.5", "::1", "pi5-a"]) == [
        "DNS:pi5-a", "DNS:monitor.lan", "IP:10.0.0.5", "IP:::1", "DNS:localhost", "IP:127.0.0.1",
    ]  # fmt: skip
    for bad in ("", "*.lan", "has space", "-lead.lan", "a" * 64 + ".lan", "under_score.lan"):
        with pytest.raises(AnsibleFilterError, match="monitoring_frontdoor_names"):
            DOOR.subject_alt_names([bad])
