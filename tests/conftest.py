"""Shared fixtures: an in-process Jira Service Management sandbox on loopback.

    def test_something(sandbox):                    # demo seed, Cloud, frozen clock
        r = sandbox.session().get(sandbox.url + "/rest/api/3/myself")
        assert sandbox.store.issue("SUP-1").values["summary"]
        assert sandbox.requests.count(kind="write") == 0

    def test_other(sandbox_factory):
        sb = sandbox_factory(seed="empty", flavour="datacenter", cases=500, faults="503:0.1")

Every sandbox listens on 127.0.0.1 on a free port and is stopped after the test.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
import requests

from bridge.sandbox import seed as seeds
from bridge.sandbox.server import RequestLog, SandboxServer
from bridge.sandbox.store import Store, parse_duration

if TYPE_CHECKING:
    from e2e_helpers import BridgeFactory

#: The tests' fixed "now": Tuesday 24 Nov 2026, 10:00 in Brisbane (the site's zone).
SANDBOX_NOW = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Australia/Brisbane"))


@dataclass
class Sandbox:
    """A running sandbox plus conveniences for tests."""

    server: SandboxServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def store(self) -> Store:
        return self.server.store

    @property
    def admin(self) -> Store:
        """Direct access to the site's state (alias of ``store``)."""
        return self.server.store

    @property
    def requests(self) -> RequestLog:
        return self.server.requests

    @property
    def flavour(self) -> str:
        return self.server.flavour

    @property
    def now(self) -> datetime:
        return self.store.now()

    @property
    def email(self) -> str:
        return seeds.BRIDGE_EMAIL

    @property
    def token(self) -> str:
        return seeds.BRIDGE_TOKEN

    def session(
        self, email: str = seeds.BRIDGE_EMAIL, token: str | None = None
    ) -> requests.Session:
        """An authenticated ``requests`` session as ``email`` (the bridge by default).

        Cloud: basic auth with the user's API token; Data Center: the user's bearer token.
        """
        s = requests.Session()
        user = self.store.user_by_email(email)
        if user is None:
            raise KeyError(f"no sandbox user {email}")
        if self.flavour == "cloud":
            s.auth = (email, token or user.token or "")
        else:
            s.headers["Authorization"] = f"Bearer {token or user.pat}"
        s.headers["Accept"] = "application/json"
        return s

    def set_faults(self, spec: str | None) -> None:
        self.server.faults.set(spec)

    def advance(self, delta: str | timedelta) -> datetime:
        self.store.clock.advance(parse_duration(delta) if isinstance(delta, str) else delta)
        return self.now

    def set_now(self, when: datetime) -> None:
        self.store.clock.set(when)

    def reset_requests(self) -> None:
        self.server.requests.clear()

    def issue(self, key: str) -> Any:
        return self.store.issue(key)


SandboxFactory = Callable[..., Sandbox]


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator[SandboxFactory]:
    """``sandbox_factory(seed="demo"|"empty"|FILE, flavour="cloud"|"datacenter", now=...,
    faults=None, cases=0, frozen=True, state=None, site_tz=None)`` → a started :class:`Sandbox`."""
    started: list[SandboxServer] = []

    def make(
        seed: str = "demo",
        flavour: str = "cloud",
        now: datetime = SANDBOX_NOW,
        faults: str | None = None,
        cases: int = 0,
        frozen: bool = True,
        state: str | Path | None = None,
        site_tz: str | None = None,
    ) -> Sandbox:
        store = seeds.build(seed, now=now, frozen=frozen, cases=cases, site_tz=site_tz)
        server = SandboxServer(
            store, "127.0.0.1", 0, flavour=flavour, faults=faults, state_path=state
        )
        server.start()
        started.append(server)
        return Sandbox(server)

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    """A fresh Cloud sandbox with the demo seed and a frozen clock at :data:`SANDBOX_NOW`."""
    return sandbox_factory()


@pytest.fixture
def bridges(tmp_path: Path) -> Iterator[BridgeFactory]:
    """``bridges(sb, flavour=None, page_size=None, jql=None, state=None, **settings)`` → the
    real bridge against ``sb`` (:class:`e2e_helpers.BridgeFactory`), closed after the test."""
    # imported here: e2e_helpers imports this module (for Sandbox)
    from e2e_helpers import BridgeFactory

    with BridgeFactory(tmp_path) as factory:
        yield factory


@pytest.fixture(autouse=True)
def _no_real_waiting(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The clients the commands build (`JiraClient.from_settings`) retry, pace their
    requests and poll a bulk task as in production, and the site lock waits its settle
    period, each wait on a stepped clock instead of the real one
    (`e2e_helpers.without_waiting`): a sandbox on loopback publishes no rate limits and
    no second instance races this one.  A test that needs the real waits is marked
    ``real_waits``; the pacer, retry and lock tests build their own with fake clocks."""
    if request.node.get_closest_marker("real_waits") is None:
        from e2e_helpers import without_waiting

        without_waiting(monkeypatch)


@pytest.fixture(autouse=True)
def _fresh_secret_registry() -> Iterator[None]:
    """Each test starts with no registered secrets: a tiny token registered by one test
    (e.g. ``"t"``) would otherwise mask every ``t`` in another test's log lines."""
    from bridge import logs

    logs._forget_secrets_for_tests()
    yield
    logs._forget_secrets_for_tests()


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once per test run: the xdist workers share it (the first
    to ask builds it under a lock; the others wait for it).  Built in this venv, which
    holds the build backend `[build-system]` names (the dev extras), with no isolated
    build environment to fetch from the index each time."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    wheels = shared / "wheel"
    with (shared / "wheel.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        found = sorted(wheels.glob("jsm_bridge-*.whl"))
        if not found:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
            built = subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "-q", "-w", str(wheels), str(Path(__file__).resolve().parents[1])],
                cwd=shared, env=env, capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
            assert built.returncode == 0, built.stdout + built.stderr
            found = sorted(wheels.glob("jsm_bridge-*.whl"))
    [wheel] = found
    return wheel
