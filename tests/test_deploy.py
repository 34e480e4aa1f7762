"""The shipped service files: they start the real console script with valid arguments.

The unit files are parsed with a small systemd-style reader (repeated keys and
empty values matter there, so plain configparser will not do), their command
lines are parsed with the bridge's own argument parser, and -- where the binary
exists -- ``systemd-analyze verify`` checks them the way systemd will.
"""

from __future__ import annotations

import re
import shlex
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from bridge.cli import build_parser
from bridge.sync.lock import EX_TEMPFAIL

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "deploy" / "systemd"
DAEMON = SYSTEMD / "jsm-bridge.service"
ONCE = SYSTEMD / "jsm-bridge-once.service"
TIMER = SYSTEMD / "jsm-bridge-once.timer"
CRON = ROOT / "deploy" / "cron" / "jsm-bridge"
CONFIG = "/etc/jsm-bridge/bridge.yaml"

Unit = dict[str, dict[str, list[str]]]


def parse_unit(path: Path) -> Unit:
    """Sections -> key -> every value given (in order), as systemd reads unit files."""
    sections: Unit = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}:{number}: key outside a section"
        assert "=" in line, f"{path.name}:{number}: not key=value: {line!r}"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: Unit, section: str, key: str) -> str:
    values = unit[section].get(key)
    assert values, f"[{section}] {key}= is missing"
    assert len(values) == 1, f"[{section}] {key}= is given {len(values)} times"
    return values[0]


def console_script() -> str:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["jsm-bridge"] == "bridge.cli:main"
    return "jsm-bridge"


def parse_command(command: str) -> tuple[str, list[str]]:
    argv = shlex.split(command)
    return argv[0], argv[1:]


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("path", [DAEMON, ONCE, TIMER, CRON], ids=lambda p: p.name)
def test_every_file_opens_with_a_comment_header(path: Path) -> None:
    head = path.read_text().splitlines()[:3]
    assert head and all(line.startswith("#") for line in head), f"{path}: no comment header"


def test_daemon_runs_the_console_script_in_loop_mode() -> None:
    unit = parse_unit(DAEMON)
    binary, args = parse_command(one(unit, "Service", "ExecStart"))
    assert binary.startswith("/"), "systemd wants an absolute path"
    assert Path(binary).name == console_script()
    parsed = build_parser().parse_args(args)
    assert parsed.command == "run"
    assert parsed.once is False
    assert parsed.dry_run is False
    assert parsed.config == CONFIG


def test_daemon_tells_systemd_it_is_alive_and_the_watchdog_outlasts_three_intervals() -> None:
    service = parse_unit(DAEMON)["Service"]
    assert service["Type"] == ["notify"]  # READY=1 after the first successful cycle
    assert service["NotifyAccess"] == ["main"]
    watchdog = service["WatchdogSec"][0]
    assert watchdog.endswith("min") and int(watchdog[:-3]) >= 3 * 5  # polling.interval 5m


def test_daemon_lifecycle_matches_the_bridge_signals() -> None:
    service = parse_unit(DAEMON)["Service"]
    assert service["Restart"] == ["on-failure"]
    assert service["RestartSec"]
    # a Jira outage (exit 3) is restarted until it ends: no start limit stops it for good;
    # a wrong config or token (exit 1) is never restarted
    assert one(parse_unit(DAEMON), "Unit", "StartLimitIntervalSec") == "0"
    assert service["RestartPreventExitStatus"] == ["1"]
    assert service["KillSignal"] == ["SIGTERM"]  # finish the current issue, exit 0
    assert service["TimeoutStopSec"]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]  # SIGHUP reloads the rules
    assert parse_unit(DAEMON)["Install"]["WantedBy"] == ["multi-user.target"]


HARDENING = {
    "DynamicUser": "yes",
    "StateDirectory": "jsm-bridge",
    "ConfigurationDirectory": "jsm-bridge",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",  # empty: no capabilities at all
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "LoadCredential": "jira-token:/etc/jsm-bridge/jira-token",
}


@pytest.mark.parametrize("path", [DAEMON, ONCE], ids=lambda p: p.name)
def test_services_are_hardened_and_get_the_token_as_a_credential(path: Path) -> None:
    service = parse_unit(path)["Service"]
    for key, expected in HARDENING.items():
        assert service.get(key) == [expected], f"{path.name}: {key}= should be {expected!r}"
    assert "@system-service" in service["SystemCallFilter"]
    text = path.read_text()
    # The token itself never sits in a unit (it would show in `systemctl show`).
    assert "Environment=JIRA_API_TOKEN" not in text
    assert "token_file: /run/credentials/" in text or "%d" in text


def test_both_services_share_the_same_sandbox() -> None:
    """The once-service must not drift from the daemon's hardening."""
    skip = {"ExecStart", "ExecReload", "Type", "Restart", "RestartSec", "KillMode"}
    skip |= {"RestartPreventExitStatus"}
    skip |= {"SuccessExitStatus", "TimeoutStartSec", "NotifyAccess", "WatchdogSec"}
    skip |= {"ReadWritePaths"}  # the textfile's directory: only `run --once` writes one
    daemon = {k: v for k, v in parse_unit(DAEMON)["Service"].items() if k not in skip}
    once = {k: v for k, v in parse_unit(ONCE)["Service"].items() if k not in skip}
    assert daemon == once


def documented_textfiles() -> set[Path]:
    """Every ``metrics.textfile`` the README, the example config and the alert rules give."""
    texts = [
        (ROOT / "README.md").read_text(),
        (ROOT / "config" / "bridge.example.yaml").read_text(),
        (ROOT / "deploy" / "prometheus" / "jsm-bridge-alerts.yml").read_text(),
    ]
    found = {Path(m) for t in texts for m in re.findall(r"textfile: (/[^\s}`]+\.prom)", t)}
    assert found, "no textfile path documented"
    return found


def test_once_service_may_write_the_documented_metrics_textfile() -> None:
    """ProtectSystem=strict makes the system read-only: the textfile's directory must be
    listed in ReadWritePaths= or every write fails (and monitoring goes stale).  The
    daemon writes no textfile and gets no such hole."""
    service = parse_unit(ONCE)["Service"]
    assert one(parse_unit(ONCE), "Service", "ProtectSystem") == "strict"
    writable = {
        Path(p.removeprefix("-")) for v in service.get("ReadWritePaths", []) for p in v.split()
    }
    for textfile in documented_textfiles():
        assert textfile.parent in writable, f"{textfile.parent} is read-only to {ONCE.name}"
    assert "ReadWritePaths" not in parse_unit(DAEMON)["Service"]


def test_once_service_runs_one_cycle_and_treats_a_busy_lock_as_success() -> None:
    unit = parse_unit(ONCE)
    assert one(unit, "Service", "Type") == "oneshot"
    binary, args = parse_command(one(unit, "Service", "ExecStart"))
    assert binary == parse_command(one(parse_unit(DAEMON), "Service", "ExecStart"))[0]
    parsed = build_parser().parse_args(args)
    assert parsed.command == "run" and parsed.once is True and parsed.config == CONFIG
    assert str(EX_TEMPFAIL) in one(unit, "Service", "SuccessExitStatus").split()
    assert "Install" not in unit  # started by the timer, never enabled on its own


def test_timer_starts_the_once_service_every_five_minutes() -> None:
    unit = parse_unit(TIMER)
    target = one(unit, "Timer", "Unit")
    assert target == ONCE.name
    assert (SYSTEMD / target).is_file()
    assert one(unit, "Timer", "OnCalendar") == "*:0/5"
    assert one(unit, "Timer", "Persistent") == "true"
    assert one(unit, "Install", "WantedBy") == "timers.target"


def cron_job() -> tuple[str, str]:
    jobs = [
        line
        for line in CRON.read_text().splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(jobs) == 1, jobs
    fields = jobs[0].split(None, 6)
    assert fields[:5] == ["*/5", "*", "*", "*", "*"]
    return fields[5], fields[6]


def test_cron_line_runs_one_cycle_as_its_own_user_into_syslog() -> None:
    user, command = cron_job()
    assert user == "jsm-bridge"
    assert "flock" not in command  # the bridge locks itself
    run, _, sink = command.partition("|")
    argv = shlex.split(run)[1:]  # after the opening brace
    binary, args = argv[0], [a for a in argv[1:] if not re.match(r"^\d?>&", a)]
    assert Path(binary).name == console_script()
    parsed = build_parser().parse_args(args)
    assert parsed.command == "run" and parsed.once is True and parsed.config == CONFIG
    assert parsed.quiet is True  # nothing printed on success: no mail every 5 minutes
    logger = shlex.split(sink.split(";")[0])
    assert Path(logger[0]).name == "logger" and "-t" in logger and "--prio-prefix" in logger
    assert logger[logger.index("-t") + 1] == "jsm-bridge"
    assert "JSM_BRIDGE_LOG_PRIORITY_PREFIX=1" in CRON.read_text().splitlines()


def test_cron_line_sends_the_logs_to_logger_and_only_stdout_to_cron_mail(tmp_path: Path) -> None:
    """Run the job's shell line for real, with stand-ins for the bridge and logger."""
    _, command = cron_job()
    bridge = tmp_path / "jsm-bridge"
    bridge.write_text(
        '#!/bin/sh\necho \'<3>{"event": "cycle stopped"}\' >&2\n'
        "echo 'jsm-bridge run --once failed with exit status 3'\nexit 3\n"
    )
    logger = tmp_path / "logger"
    logger.write_text(f"#!/bin/sh\ncat > {tmp_path / 'syslog'}\n")
    for f in (bridge, logger):
        f.chmod(0o755)
    line = command.replace("/opt/jsm-bridge/bin/jsm-bridge", str(bridge)).replace(
        "/usr/bin/logger", str(logger)
    )
    result = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, timeout=30)
    assert result.stdout == "jsm-bridge run --once failed with exit status 3\n"  # mailed
    assert result.stderr == ""
    assert (tmp_path / "syslog").read_text() == '<3>{"event": "cycle stopped"}\n'


# --------------------------------------------------------------------------- systemd itself


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here; the parsed checks above still ran")
    # verify insists that ExecStart exists and is executable: stand in for the install.
    fake = tmp_path / "bin" / "jsm-bridge"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    names = [DAEMON.name, ONCE.name, TIMER.name]
    for name in names:
        text = (SYSTEMD / name).read_text().replace("/opt/jsm-bridge/bin/jsm-bridge", str(fake))
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / n) for n in names)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # verify reports unknown keys and bad values as warnings with exit status 0:
    # any line about our files is a failure.
    ours = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if any(name in line for name in names)
    ]
    assert result.returncode == 0, result.stderr
    assert ours == []


def test_the_readme_runs_the_bridge_under_sudo_by_its_installed_path() -> None:
    """sudo finds commands in its own `secure_path`, which does not hold the venv's bin:
    `sudo jsm-bridge ...` answers "command not found"."""
    installed = parse_command(one(parse_unit(DAEMON), "Service", "ExecStart"))[0]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [shlex.split(c) for c in re.findall(r"`(sudo [^`]+)`", readme)]
    assert len(commands) >= 3, commands
    for words in commands:
        program = next(w for w in words[1:] if "=" not in w)  # after sudo's VAR=value
        assert program == installed, " ".join(words)
        parsed = build_parser().parse_args(words[words.index(program) + 1 :])
        assert parsed.config == CONFIG, " ".join(words)
