"""Where the config is: ``--config``, then ``$JSM_BRIDGE_CONFIG``, then ``./config/bridge.yaml``,
then ``/etc/jsm-bridge/bridge.yaml`` -- the first that is given or exists wins."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENV_VAR", "LOCAL_CONFIG", "SYSTEM_CONFIG", "ConfigLocation", "find_config"]

ENV_VAR = "JSM_BRIDGE_CONFIG"
LOCAL_CONFIG = Path("config/bridge.yaml")
SYSTEM_CONFIG = Path("/etc/jsm-bridge/bridge.yaml")


@dataclass(frozen=True)
class ConfigLocation:
    path: Path | None  # None: nothing given and nothing found
    source: str  # "--config", "JSM_BRIDGE_CONFIG", "the current directory", "/etc/jsm-bridge"
    explicit: bool  # named by the user (a missing file is then an error)

    @property
    def looked(self) -> str:
        return f"--config, ${ENV_VAR}, ./{LOCAL_CONFIG}, {SYSTEM_CONFIG}"


def find_config(
    given: str | os.PathLike[str] | None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    system: Path = SYSTEM_CONFIG,
) -> ConfigLocation:
    environ = os.environ if env is None else env
    if given:
        return ConfigLocation(Path(given), "--config", True)
    named = environ.get(ENV_VAR, "").strip()
    if named:
        return ConfigLocation(Path(named), f"${ENV_VAR}", True)
    local = (cwd / LOCAL_CONFIG) if cwd is not None else LOCAL_CONFIG
    if local.is_file():
        return ConfigLocation(local, "the current directory", False)
    if system.is_file():
        return ConfigLocation(system, str(system.parent), False)
    return ConfigLocation(None, "", False)
