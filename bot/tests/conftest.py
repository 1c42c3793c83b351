import os
import signal

import pytest
from hypothesis import settings
from live_harness import Bot, Exchange

# No per-example deadline: on a loaded 2-core runner a slow example is load, not a bug (make bench times).
# CI runs are reproducible; local runs explore new examples each time.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", parent=settings.get_profile("dev"), derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def _users_data_dir(tmp_path_factory, monkeypatch):
    """A config without run.state_dir keeps its store in the user's data directory: a test's is its own, never
    this machine's home (and the bots it starts inherit it)."""
    for name in ("GRIDBOT_STATE_DIR", "GRIDBOT_HEARTBEAT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data-home")))


@pytest.fixture
def ctrl_c_reaches_commands():
    """The commands a test starts take SIGINT as a terminal's Ctrl-C reaches them: at its default, as an
    interactive shell starts them. A test run started in the background by a non-interactive shell (`make
    test &`, nohup) has SIGINT ignored, which its children would inherit and keep (Python installs its
    KeyboardInterrupt only over a default), so the Ctrl-C a test sends would be lost."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


# The live harness's fixtures (live_harness.py's Exchange and Bot), for every module that trades against the
# local exchange: each made process is killed at the end of its test.
@pytest.fixture
def exchange():
    made: list[Exchange] = []

    def make(*args: str) -> Exchange:
        made.append(Exchange(*args))
        return made[-1]

    yield make
    for ex in made:
        ex.close()


@pytest.fixture
def bots():
    made: list[Bot] = []

    def make(*args, **kwargs) -> Bot:
        made.append(Bot(*args, **kwargs))
        return made[-1]

    yield make
    for b in made:
        if b.proc is not None and b.proc.poll() is None:
            b.kill()
