"""The container image and the compose try-out, checked statically (no Docker engine here).

The Dockerfile's final stage must run as a non-root user with the state on a volume and
start the console script with arguments the bridge's own parser accepts; the compose
file must run both services read-only, give the daemon a config that loads, whose
state and rules are where the volumes are, and reach the sandbox on loopback.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import yaml

from bridge.cli import build_parser
from bridge.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "deploy" / "docker"


def final_stage() -> list[tuple[str, str]]:
    """(instruction, argument) of the Dockerfile's last stage, continuation lines joined."""
    lines: list[str] = []
    pending = ""
    for raw in (DOCKER / "Dockerfile").read_text().splitlines():
        if raw.lstrip().startswith("#"):
            continue
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if line:
            lines.append(line)
    stages = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    assert len(stages) == 2, "a build stage and a slim final stage"
    out = []
    for line in lines[stages[-1] :]:
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def exec_form(text: str) -> list[str]:
    value = json.loads(text)
    assert isinstance(value, list), f"use the exec form: {text}"
    return [str(v) for v in value]


def test_the_image_runs_the_daemon_as_a_non_root_user_with_state_on_a_volume() -> None:
    stage = final_stage()
    users = [arg for word, arg in stage if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert [arg for word, arg in stage if word == "VOLUME"] == ['["/var/lib/jsm-bridge"]']
    [entry] = [exec_form(arg) for word, arg in stage if word == "ENTRYPOINT"]
    [cmd] = [exec_form(arg) for word, arg in stage if word == "CMD"]
    assert entry == ["jsm-bridge"]
    args = build_parser().parse_args(cmd)
    assert args.command == "run" and not args.once
    env = " ".join(arg for word, arg in stage if word == "ENV")
    assert "JSM_BRIDGE_CONFIG=/etc/jsm-bridge/bridge.yaml" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env  # nothing written beside the code
    [health] = [arg for word, arg in stage if word == "HEALTHCHECK"]
    assert "/healthz" in health and ":9464" in health
    # the wheel is built from the sources, the default rules and configs included
    copied = {
        part
        for line in (DOCKER / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from" not in line
        for part in line.split()[1:-1]
    }
    assert {"bridge", "rules", "config", "pyproject.toml"} <= copied, copied


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return loaded


def test_compose_runs_the_sandbox_and_the_daemon_read_only_and_the_config_loads() -> None:
    services = compose()["services"]
    sandbox, bridge = services["sandbox"], services["bridge"]
    for service in (sandbox, bridge):
        assert service["read_only"] is True
        assert "/tmp" in service["tmpfs"]
    sb_args = build_parser().parse_args(sandbox["command"])
    assert sb_args.command == "sandbox"
    run_args = build_parser().parse_args(bridge["command"])
    assert run_args.command == "run" and not run_args.once
    assert bridge["network_mode"] == "service:sandbox"  # the sandbox is on its loopback

    mounts = {}
    for volume in bridge["volumes"]:
        source, target = volume.split(":")[:2]
        mounts[target] = source
    config_target = bridge["environment"]["JSM_BRIDGE_CONFIG"]
    config_file = DOCKER / mounts[config_target]
    settings = load_settings(config_file, env={})
    assert settings.jira.url == f"http://127.0.0.1:{sb_args.port}"
    assert str(settings.state_path).startswith("/var/lib/jsm-bridge/")
    assert mounts["/var/lib/jsm-bridge"] == "state" and "state" in compose()["volumes"]
    assert (DOCKER / mounts[str(settings.rules_path)]).resolve() == ROOT / "rules"
    assert settings.metrics_listen is not None
    published = {p.split(":")[-1] for p in sandbox["ports"]}
    assert str(settings.metrics_listen[1]) in published and str(sb_args.port) in published
    health = " ".join(shlex.quote(x) for x in sandbox["healthcheck"]["test"])
    assert f"127.0.0.1:{sb_args.port}" in health
