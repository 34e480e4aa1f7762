"""Stop, reload and sleep: real signals to this process; the rules watcher with a fake loader."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.logs import configure_logging
from bridge.sync.signals import RulesWatcher, Shutdown, StopFlag, install_handlers

# --------------------------------------------------------------------------- signals


@pytest.fixture
def shutdown() -> Iterator[Shutdown]:
    reloads: list[int] = []
    handlers = install_handlers(on_reload=lambda: reloads.append(1))
    handlers.reload_calls = reloads  # type: ignore[attr-defined]
    try:
        yield handlers
    finally:
        handlers.restore()


def test_sigterm_sets_the_stop_flag_and_wakes_every_wait(shutdown: Shutdown) -> None:
    assert not shutdown.stopping
    os.kill(os.getpid(), signal.SIGTERM)
    assert shutdown.stopping
    assert shutdown.stop.reason == "SIGTERM"
    assert shutdown.wait(3600) is True
    assert shutdown.wait(3600) is True  # a stop stays a stop


def test_the_cycle_finishes_the_issue_in_hand_then_stops(shutdown: Shutdown) -> None:
    done: list[str] = []
    for key in ["SUP-1", "SUP-2", "SUP-3", "SUP-4"]:
        if shutdown.stop.is_set():
            break
        if key == "SUP-2":
            os.kill(os.getpid(), signal.SIGTERM)  # arrives in the middle of SUP-2
        done.append(key)  # ...which is still completed and recorded
    assert done == ["SUP-1", "SUP-2"]


def test_sigint_stops_and_a_second_sigint_interrupts(shutdown: Shutdown) -> None:
    os.kill(os.getpid(), signal.SIGINT)
    assert shutdown.stop.reason == "SIGINT"
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)


def test_sighup_calls_on_reload_and_wakes_one_wait(shutdown: Shutdown) -> None:
    os.kill(os.getpid(), signal.SIGHUP)
    assert shutdown.reload_calls == [1]  # type: ignore[attr-defined]
    assert shutdown.reloads_requested == 1
    assert not shutdown.stopping
    assert shutdown.wait(3600) is True
    assert shutdown.wait(0) is False  # consumed: the next sleep is a normal one
    os.kill(os.getpid(), signal.SIGHUP)
    assert shutdown.reload_calls == [1, 1]  # type: ignore[attr-defined]


class RecordingEvent(threading.Event):
    """An Event that remembers whether each wait ended by being set (True) or by timeout."""

    def __init__(self) -> None:
        super().__init__()
        self.results: list[bool] = []

    def wait(self, timeout: float | None = None) -> bool:
        result = super().wait(timeout)
        self.results.append(result)
        return result


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_a_signal_arriving_during_the_sleep_ends_it(shutdown: Shutdown, signum: int) -> None:
    bell = RecordingEvent()
    shutdown._doorbell = bell
    waiters = bell._cond._waiters  # type: ignore[attr-defined]

    def send_once_main_is_asleep() -> None:
        # This thread must not take the signal itself: the main thread has to see it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signum})
        gate = threading.Event()
        while not waiters:
            gate.wait(0.005)  # polling for a condition, not timing anything
        os.kill(os.getpid(), signum)

    sender = threading.Thread(target=send_once_main_is_asleep, daemon=True)
    sender.start()
    assert shutdown.wait(60) is True
    sender.join()
    # The sleep was ended by the bell, not by running out its 60 s.
    assert bell.results == [True]


def test_restore_puts_the_previous_handlers_back() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    with install_handlers() as shutdown:
        assert signal.getsignal(signal.SIGTERM) != before[signal.SIGTERM]
        assert signal.getsignal(signal.SIGHUP) != before[signal.SIGHUP]
    assert {s: signal.getsignal(s) for s in before} == before
    shutdown.restore()  # idempotent


def test_shutdown_without_handlers_can_be_driven_from_another_thread() -> None:
    shutdown = Shutdown()
    assert shutdown.wait(0) is False
    threading.Thread(target=shutdown.request_stop, args=("deploy",)).start()
    assert shutdown.wait(60) is True
    assert shutdown.stop.reason == "deploy"


def test_wait_runs_out_on_its_own_clock() -> None:
    ticks = iter([0.0, 2.0])  # the deadline (1.0) has passed by the first check
    assert Shutdown().wait(1.0, clock=lambda: next(ticks)) is False


def test_stop_flag_keeps_its_first_reason() -> None:
    flag = StopFlag()
    assert not flag and flag.reason is None
    flag.set("SIGTERM")
    flag.set("SIGINT")
    assert flag and flag.reason == "SIGTERM"


# --------------------------------------------------------------------------- rules watcher


class RulesError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


class FakeLoader:
    """Reads every *.yaml in a directory; a line starting with BAD is a problem."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.calls = 0

    def __call__(self) -> dict[str, str]:
        self.calls += 1
        rules: dict[str, str] = {}
        problems: list[str] = []
        for path in sorted(self.directory.glob("*.yaml")):
            text = path.read_text()
            for number, line in enumerate(text.splitlines(), 1):
                if line.startswith("BAD"):
                    problems.append(f"{path.name}:{number}: {line[3:].strip()}")
            rules[path.name] = text
        if problems:
            raise RulesError(problems)
        return rules


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(stream=stream, json=True)
    yield stream
    configure_logging(stream=io.StringIO())


def events(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "tiers.yaml").write_text("tiers: v1\n")
    (d / "sla.yaml").write_text("sla: v1\n")
    return d


def set_mtime(path: Path, seconds: float) -> None:
    os.utime(path, ns=(int(seconds * 1e9), int(seconds * 1e9)))


def test_good_then_bad_then_good(rules_dir: Path, log_stream: io.StringIO) -> None:
    loader = FakeLoader(rules_dir)
    watcher = RulesWatcher([rules_dir], loader)
    first = watcher.load()
    assert first == {"sla.yaml": "sla: v1\n", "tiers.yaml": "tiers: v1\n"}
    assert watcher.generation == 1

    # Unchanged: no reload, no read by the loader.
    assert watcher.poll() is False
    assert loader.calls == 1

    # Bad edit: every problem logged, the last good rules stay.
    (rules_dir / "tiers.yaml").write_text("tiers: v2\nBAD unknown key 'teirs'\n")
    (rules_dir / "sla.yaml").write_text("BAD calendar 'au' not defined\nsla: v2\n")
    assert watcher.poll() is False
    assert watcher.current is first
    assert watcher.generation == 1
    assert watcher.last_problems == (
        "sla.yaml:1: calendar 'au' not defined",
        "tiers.yaml:2: unknown key 'teirs'",
    )
    logged = events(log_stream)
    problems = [e["problem"] for e in logged if e["event"] == "rules problem"]
    assert problems == list(watcher.last_problems)
    assert any(e["event"].startswith("new rules rejected") for e in logged)  # type: ignore[attr-defined]
    assert all(e["level"] == "error" for e in logged)

    # The same bad files are not re-read and re-reported on every cycle.
    lines_before = len(logged)
    assert watcher.poll() is False
    assert loader.calls == 2
    assert len(events(log_stream)) == lines_before

    # Fixed: the new rules take over.
    (rules_dir / "tiers.yaml").write_text("tiers: v3\n")
    (rules_dir / "sla.yaml").write_text("sla: v3\n")
    assert watcher.poll() is True
    assert watcher.current == {"sla.yaml": "sla: v3\n", "tiers.yaml": "tiers: v3\n"}
    assert watcher.generation == 2
    assert watcher.last_problems == ()
    assert events(log_stream)[-1]["event"] == "rules reloaded"


def test_touch_without_a_content_change_does_not_reload(rules_dir: Path) -> None:
    loader = FakeLoader(rules_dir)
    watcher = RulesWatcher([rules_dir], loader)
    watcher.load()
    set_mtime(rules_dir / "tiers.yaml", 1_000_000)
    assert watcher.poll() is False
    assert loader.calls == 1


def test_same_size_edit_within_one_timestamp_tick_is_still_seen(rules_dir: Path) -> None:
    tiers = rules_dir / "tiers.yaml"
    set_mtime(tiers, 5_000.0)
    set_mtime(rules_dir / "sla.yaml", 5_000.0)
    now = [5_000.5]  # the files were written half a second ago: racy
    watcher = RulesWatcher([rules_dir], FakeLoader(rules_dir), wall_clock=lambda: now[0])
    watcher.load()
    tiers.write_text("tiers: v9\n")  # same size...
    set_mtime(tiers, 5_000.0)  # ...and the same mtime: stat cannot tell
    assert watcher.poll() is True
    assert watcher.current["tiers.yaml"] == "tiers: v9\n"


def test_stat_unchanged_and_old_files_are_not_hashed(rules_dir: Path) -> None:
    for f in rules_dir.iterdir():
        set_mtime(f, 5_000.0)
    watcher = RulesWatcher([rules_dir], FakeLoader(rules_dir), wall_clock=lambda: 9_000.0)
    watcher.load()
    (rules_dir / "tiers.yaml").write_text("tiers: v9\n")
    set_mtime(rules_dir / "tiers.yaml", 5_000.0)
    # Cheap path: same stat, files long settled -> not even read.  A real edit moves mtime.
    assert watcher.poll() is False


def test_a_new_file_in_the_directory_is_noticed(rules_dir: Path) -> None:
    watcher = RulesWatcher([rules_dir], FakeLoader(rules_dir))
    watcher.load()
    (rules_dir / "customers.yaml").write_text("customers: {}\n")
    (rules_dir / "notes.txt").write_text("not a rule file\n")
    assert watcher.poll() is True
    assert "customers.yaml" in watcher.current


def test_sighup_style_request_reloads_even_when_nothing_changed(rules_dir: Path) -> None:
    loader = FakeLoader(rules_dir)
    watcher = RulesWatcher([rules_dir / "tiers.yaml", rules_dir / "sla.yaml"], loader)
    watcher.load()
    watcher.request_reload()
    assert watcher.poll() is True
    assert loader.calls == 2
    assert watcher.poll() is False  # one request, one reload


def test_sighup_reaches_the_watcher_through_install_handlers(rules_dir: Path) -> None:
    loader = FakeLoader(rules_dir)
    watcher = RulesWatcher([rules_dir], loader)
    watcher.load()
    with install_handlers(on_reload=watcher.request_reload) as shutdown:
        os.kill(os.getpid(), signal.SIGHUP)
        assert shutdown.wait(3600) is True
        assert watcher.poll() is True
    assert loader.calls == 2


def test_a_deleted_file_keeps_the_old_rules_until_it_is_back(
    rules_dir: Path, log_stream: io.StringIO
) -> None:
    files = [rules_dir / "tiers.yaml", rules_dir / "sla.yaml"]

    def strict_loader() -> dict[str, str]:
        return {f.name: f.read_text() for f in files}  # FileNotFoundError when one is gone

    watcher = RulesWatcher(files, strict_loader)
    first = watcher.load()
    files[1].unlink()
    assert watcher.poll() is False
    assert watcher.current is first
    assert "FileNotFoundError" in watcher.last_problems[0]
    assert any(e["event"] == "rules problem" for e in events(log_stream))
    files[1].write_text("sla: v2\n")
    assert watcher.poll() is True
    assert watcher.current["sla.yaml"] == "sla: v2\n"


def test_bad_rules_at_start_up_raise(rules_dir: Path) -> None:
    (rules_dir / "sla.yaml").write_text("BAD nope\n")
    watcher = RulesWatcher([rules_dir], FakeLoader(rules_dir))
    with pytest.raises(RulesError) as caught:
        watcher.load()
    assert caught.value.problems == ["sla.yaml:1: nope"]
    with pytest.raises(RuntimeError, match="load"):
        _ = watcher.current
    with pytest.raises(RuntimeError, match="load"):
        watcher.poll()
