"""The monitoring host's programs as the tools' tests run them on loopback: Debian's own binaries
(tools/host/prom-tools.sh) started on free ports, waited for until they answer, stopped at the end."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def wait_for(what: str, check: Callable[[], bool], log: Path, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {seconds} s; its log ({log.name}):\n{log.read_text()[-4000:]}")
        time.sleep(0.05)


@dataclass
class Service:
    """One of the monitoring host's programs, which a test starts and may stop and start again."""

    name: str
    argv: list[str]
    # a URL that answers once it serves, or an address that takes connections (a TLS server, which a plain GET
    # cannot read)
    ready: str | tuple[str, int]
    log: Path
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.cwd)

        def answers() -> bool:
            assert self.process is not None
            assert self.process.poll() is None, f"{self.name} exited:\n{self.log.read_text()[-4000:]}"
            try:
                if isinstance(self.ready, tuple):
                    socket.create_connection(self.ready, timeout=1).close()
                    return True
                return bool(get(self.ready))
            except OSError:
                return False

        wait_for(f"{self.name} answering", answers, self.log, seconds=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


def alertmanager_service(binary: Path, config: Path, directory: Path, port: int) -> Service:
    return Service(
        "alertmanager",
        [str(binary), f"--config.file={config}", f"--storage.path={directory / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        f"http://127.0.0.1:{port}/-/ready", directory / "alertmanager.log", cwd=binary.parent,
    )  # fmt: skip


TEMPLATES = b"/usr/share/prometheus/alertmanager"


def patched_alertmanager(prom_tools: Path, directory: Path) -> Path:
    """Debian's Alertmanager, reading its default templates from the cache (tools/host/prom-tools.sh): it
    opens them under /usr/share/prometheus/alertmanager, a path built into it, here made `.usr/share/...` (as
    long), relative to the directory it runs in, where `.usr` is the cache's usr."""
    debian = prom_tools / "prometheus-alertmanager"
    assert debian.is_file(), f"no {debian.name} in {prom_tools}: tools/host/prom-tools.sh provides it"
    code = debian.read_bytes()
    assert TEMPLATES in code, "the binary no longer reads its templates from /usr/share: run it as it is"
    patched = directory / debian.name
    patched.write_bytes(code.replace(TEMPLATES, b"." + TEMPLATES[1:]))
    patched.chmod(0o755)
    (patched.parent / ".usr").symlink_to(prom_tools.parent)
    return patched
