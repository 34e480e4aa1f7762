"""The wheel, installed outside the repository, is a working tool.

Builds the wheel, installs it (with its dependencies, from pip's cache when it has
them) into a fresh virtual environment in a temporary directory, and runs `init`,
`check`, `demo --port` and `sandbox` from directories that are not the repository:
the default rules, the configs and the sandbox's data must come from the package.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 600


def sh(*argv: str | Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, built_wheel: Path) -> Path:
    """The ``bin`` directory of a fresh virtual environment holding the built wheel."""
    root = tmp_path_factory.mktemp("package")
    wheel = built_wheel
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    venv = root / "venv"
    # no pip inside (this interpreter's pip installs into it) and no bytecode compiling:
    # the two slowest steps of a fresh install that the test does not need
    made = sh(sys.executable, "-m", "venv", "--without-pip", venv, cwd=root, env=env)
    assert made.returncode == 0, made.stderr
    pip = sh(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
             "--no-compile", "--disable-pip-version-check", wheel, cwd=root, env=env)  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    return venv / "bin"


@pytest.mark.package
def test_the_installed_wheel_inits_checks_demos_and_serves_the_sandbox_from_anywhere(
    installed: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JSM_BRIDGE_CONFIG")}
    env["PATH"] = f"{installed}{os.pathsep}{env.get('PATH', '')}"
    env.pop("JIRA_API_TOKEN", None)
    tool = installed / "jsm-bridge"

    where = sh(installed / "python", "-c", "import bridge; print(bridge.__file__)",
               cwd=tmp_path, env=env)  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(installed.parent), where.stdout

    version = sh(tool, "--version", cwd=tmp_path, env=env)
    assert re.fullmatch(r"jsm-bridge \d+\.\d+\.\d+\S*\n", version.stdout), version

    made = sh(tool, "init", "site", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    site = tmp_path / "site"
    assert (site / "config" / "bridge.yaml").is_file() and (site / "rules" / "sla.yaml").is_file()

    checked = sh(tool, "check", cwd=site, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "note: config config/bridge.yaml (from the current directory)" in checked.stdout
    assert checked.stdout.rstrip().endswith("OK: config and rules are valid.")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    demo = sh(tool, "demo", "--port", "0", cwd=elsewhere, env=env)  # the package's own config
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "2) run --once" in demo.stdout and "nothing is written twice" in demo.stdout

    sandbox = subprocess.Popen(
        [str(tool), "sandbox", "--port", "0", "--seed", "demo"],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sandbox.stdout is not None
        first = sandbox.stdout.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+)", first)
        assert found, first + (sandbox.stderr.read() if sandbox.poll() is not None else "")  # type: ignore[union-attr]
        answer = requests.get(
            f"{found.group(1)}/rest/api/3/search/jql",
            params={"jql": "project = SUP", "fields": "summary"},
            auth=("bridge@vendor.example", "sandbox-token"),
            timeout=30,
        )
        assert answer.status_code == 200 and answer.json()["issues"]
    finally:
        sandbox.send_signal(signal.SIGTERM)
        assert sandbox.wait(timeout=60) == 0
