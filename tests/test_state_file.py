"""The state file as an operator meets it: pointed at another Jira site.  It is refused
with one line that names the file and the config actually given and says what to do,
with the exit status the README gives; and what it says to do works (the bridge
rebuilds from Jira without repeating a write)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import SandboxFactory
from test_run_command import NOW, write_config

from bridge.cli import main
from bridge.sandbox import seed as seeds
from bridge.sync.state import State


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)


def run_once(config: Path, *extra: str) -> int:
    return main(["run", "--once", "--config", str(config), "--now", NOW, *extra])


def point_at(config: Path, url: str, flavour: str) -> None:
    """Edit the config's `jira.url` and `jira.flavour`, as an operator would."""
    text = config.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  url: .*$", f"  url: {url}", text)
    text = re.sub(r"(?m)^  flavour: .*$", f"  flavour: {flavour}", text)
    config.write_text(text, encoding="utf-8")


def move_aside(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.rename(part.with_name(part.name + ".old"))


# ------------------------------------------------------------------------- another site


def test_a_state_file_of_another_site_is_refused_before_jira_is_asked_then_rebuilt(
    sandbox_factory: SandboxFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Data Center staging -> Cloud production with the same project key and names."""
    staging = sandbox_factory(flavour="datacenter")
    production = sandbox_factory(flavour="cloud")
    config = write_config(tmp_path, staging.url)
    point_at(config, staging.url, "datacenter")
    assert run_once(config) == 0
    # another form of the same URL is the same site: its state goes on incrementally
    point_at(config, staging.url.replace("http://", "HTTP://") + "/", "datacenter")
    assert run_once(config) == 0
    assert "cycle incremental:" in capsys.readouterr().out
    state_file = tmp_path / "state.sqlite"
    with State.open(state_file) as state:
        watermark = state.get_watermark()
        runs = len(state.last_runs())

    point_at(config, production.url, "cloud")
    for extra in ((), ("--dry-run",)):
        assert run_once(config, *extra) == 1  # as any other configuration error
        err = capsys.readouterr().err
        assert f"{staging.url} (Data Center)" in err and f"{production.url} (Cloud)" in err
        assert f"state.path in {config}" in err, err
        assert "new state.path" in err and "move the old file aside" in err, err
        assert "internal error" not in err and "Traceback" not in err
    assert len(production.requests.reads) == 0  # refused offline: site B never asked
    assert production.requests.count(kind="write") == 0
    with State.open(state_file) as state:  # staging's state is left as it was
        assert state.site() == (staging.url, "datacenter")
        assert state.get_watermark() == watermark and len(state.last_runs()) == runs

    # what the message says to do works: production's cases are all read and evaluated
    move_aside(state_file)
    assert run_once(config) == 0
    out = capsys.readouterr().out
    assert f"cycle full: {len(production.store.issues)} read" in out, out
    assert production.requests.count(kind="write") > 0
