"""The container image, run as Docker would run it, without a Docker engine.

No Docker engine runs on this machine kind (its client answers, its daemon does not),
so the image cannot be built here.  What the image promises can still be tried for
real: the wheel is installed into Debian's own Python 3.11 (the image's
``python:3.11-slim`` carries the same interpreter), and each service of
``deploy/docker/compose.yaml`` starts in its own mount namespace whose root holds
only ``/usr`` and ``/etc`` read-only, a ``tmpfs`` on ``/tmp``, the config mounted
read-only at ``/etc/jsm-bridge`` and the state volume at ``/var/lib/jsm-bridge``,
as uid 10001 with no supplementary groups (the Dockerfile's ``USER 10001:10001``).
So "non-root, read-only root filesystem friendly, state on a volume" is run, not
only read: a write anywhere else fails as it would in the container.

Needs root and mount namespaces (``unshare``), which CI has; elsewhere it is skipped
and says why.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from test_package import sh  # the wheel tests' one way to run a command

REPO = Path(__file__).resolve().parents[1]
DEBIAN_PYTHON = Path("/usr/bin/python3.11")
UID = 10001  # the Dockerfile's USER
TIMEOUT = 600

#: One container's root: only what python:3.11-slim's final stage needs, read-only.
#: $1 new root, $2 installed tree (mounted at its own path), $3 a directory holding
#: ``jsm-bridge/`` (laid over /etc), $4 the state volume; the rest is the command.
CONTAINER = r"""
set -e
root=$1 tree=$2 etc=$3 state=$4; shift 4
mount -t tmpfs -o mode=0755 tmpfs "$root"
cd "$root"
mkdir -p usr etc dev proc tmp var/lib/jsm-bridge
for l in bin lib lib64 sbin; do ln -s "usr/$l" "$l"; done
mount --bind -o ro /usr usr
mount -t overlay overlay -o "lowerdir=$etc:/etc" etc
mount --rbind /dev dev
mount --rbind /proc proc
mount -t tmpfs -o mode=1777 tmpfs tmp
mkdir -p ".$tree" && mount --bind -o ro "$tree" ".$tree"
mount --bind "$state" var/lib/jsm-bridge
mount -o remount,ro,bind "$root"
cd /
exec chroot "$root" setpriv --reuid=10001 --regid=10001 --clear-groups \
  env -i PATH=/usr/bin:/bin HOME=/var/lib/jsm-bridge PYTHONUNBUFFERED=1 \
  PYTHONDONTWRITEBYTECODE=1 JSM_BRIDGE_CONFIG=/etc/jsm-bridge/bridge.yaml \
  sh -c 'cd /var/lib/jsm-bridge && exec "$@"' container "$@"
"""


def why_not_here() -> str | None:
    if os.geteuid() != 0:
        return "needs root for mount namespaces (CI runs as root)"
    if not DEBIAN_PYTHON.exists() or shutil.which("unshare") is None:
        return "needs Debian's python3.11 and util-linux unshare"
    probe = sh(
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "true",
        cwd=Path("/"),
        env=dict(os.environ),
    )
    if probe.returncode != 0:
        return f"mount namespaces refused here: {probe.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory, built_wheel: Path) -> Path:
    """The wheel installed into Debian's Python 3.11, as the image's final stage does."""
    reason = why_not_here()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("image")
    wheel = built_wheel
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    venv = root / "usr-local"
    made = sh(DEBIAN_PYTHON, "-m", "venv", "--without-pip", venv, cwd=root, env=env)
    assert made.returncode == 0, made.stderr
    pip = sh(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
             "--no-compile", "--disable-pip-version-check", wheel, cwd=root, env=env)  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    for path in [root, *root.rglob("*")]:  # pytest's temporary directories are 0700
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    return venv


class Container:
    """One service of the compose file: a process in its own read-only root.

    Its output goes to files (as a container's log does), so a chatty process never
    blocks on a full pipe while the test talks to it.
    """

    def __init__(self, where: Path, tree: Path, etc: Path, volume: Path, *argv: str) -> None:
        (where / "root").mkdir(parents=True)
        self.out, self.err = where / "stdout", where / "stderr"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", CONTAINER,
                 "container", where / "root", tree, etc, volume, tree / "bin" / "jsm-bridge",
                 *argv],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            )  # fmt: skip

    def wait_for(self, pattern: str, log: str = "stdout") -> re.Match[str]:
        """The first match of ``pattern`` in the process's own output, once it printed it."""
        path = self.out if log == "stdout" else self.err
        deadline = time.monotonic() + TIMEOUT
        while True:
            found = re.search(pattern, path.read_text())
            if found:
                return found
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{pattern!r} never printed: {self.logs()}")
            time.sleep(0.1)  # polling the process's own report, not waiting out a timing

    def logs(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


@pytest.fixture
def volumes(tmp_path: Path) -> tuple[Path, Path]:
    """What compose mounts: ``etc/jsm-bridge`` (config and rules) and the state volume."""
    etc = tmp_path / "etc"
    shutil.copytree(REPO / "rules", etc / "jsm-bridge" / "rules")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, UID, UID)  # the Dockerfile's `install -d -o 10001 -g 10001 -m 0700`
    for path in (tmp_path, etc, etc / "jsm-bridge"):
        path.chmod(0o755)
    return etc, state


def sla_states(jira: str) -> list[object]:
    """The "SLA state" field of every case, read back from the sandbox's Jira."""
    auth = ("bridge@vendor.example", "sandbox-token")
    fields = requests.get(f"{jira}/rest/api/3/field", auth=auth, timeout=30).json()
    [field] = [f["id"] for f in fields if f["name"] == "SLA state"]
    found = requests.get(f"{jira}/rest/api/3/search/jql", auth=auth, timeout=30,
                         params={"jql": "project = SUP", "fields": field, "maxResults": 100})  # fmt: skip
    assert found.status_code == 200, found.text
    return [issue["fields"].get(field) for issue in found.json()["issues"]]


@pytest.mark.package
def test_the_image_runs_the_sandbox_and_the_daemon_read_only_as_a_non_root_user(
    tree: Path, volumes: tuple[Path, Path], tmp_path: Path
) -> None:
    etc, state = volumes
    nothing = tmp_path / "nothing"  # the sandbox service has no volume of its own
    nothing.mkdir()
    nothing.chmod(0o755)
    sandbox = Container(tmp_path / "sandbox", tree, etc, nothing,
                        "sandbox", "--port", "0", "--seed", "demo")  # fmt: skip
    daemon = None
    try:
        jira = sandbox.wait_for(r"at (http://127\.0\.0\.1:\d+)").group(1)
        assert not any(sla_states(jira)), "the seed has no SLA state yet"
        settings = yaml.safe_load((REPO / "deploy" / "docker" / "bridge.yaml").read_text())
        assert settings["state"]["path"].startswith("/var/lib/jsm-bridge/")
        assert settings["rules"] == "/etc/jsm-bridge/rules"
        settings["jira"]["url"] = jira
        settings["metrics"] = {"listen": "127.0.0.1:0"}  # compose's 0.0.0.0:9464, port 0 here
        (etc / "jsm-bridge" / "bridge.yaml").write_text(yaml.safe_dump(settings))

        daemon = Container(tmp_path / "bridge", tree, etc, state, "run")  # the image's CMD
        metrics = daemon.wait_for(r'"url": "(http://127\.0\.0\.1:\d+)/metrics"', "stderr").group(1)
        deadline = time.monotonic() + TIMEOUT
        while True:  # the image's HEALTHCHECK: /healthz is 200 ("starting") while the first
            # cycle makes progress, and 200 "ok" once a cycle has succeeded
            health = requests.get(f"{metrics}/healthz", timeout=30)
            assert health.status_code == 200, health.text
            if health.json()["status"] == "ok" or time.monotonic() > deadline:
                break
            assert daemon.proc.poll() is None, daemon.logs()
            time.sleep(0.2)  # polling the daemon's own report, not waiting out a timing
        assert health.json()["status"] == "ok", health.text
        assert daemon.stop() == 0, daemon.logs()
        logs = daemon.logs()
        assert "Read-only file system" not in logs and "Permission denied" not in logs, logs
        states = sla_states(jira)
        # the demo's cases carry their SLA state (a few have no agreement: no clock)
        assert sum(1 for state in states if state) >= len(states) * 3 // 4, states
    finally:
        if daemon is not None:
            daemon.stop()
        stopped = sandbox.stop()
    assert stopped == 0, sandbox.logs()
    assert not any(nothing.iterdir()), "the sandbox writes nothing"

    # the state lives on the volume, owned by the image's user and readable by nobody else
    [database] = [p for p in state.iterdir() if p.suffix == ".sqlite"]
    info = database.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (UID, 0o600)
    with sqlite3.connect(database) as db:
        assert db.execute("select count(*) from sqlite_master").fetchone()[0] > 0
