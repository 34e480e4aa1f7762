"""The command line around the commands: --version, -v/-q after the command, a closed
pipe, completion, config discovery and `init`, and plan's exit codes in both modes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import SANDBOX_NOW, SandboxFactory

from bridge import cli
from bridge.policy import evaluate as policy_evaluate
from bridge.sandbox import seed as seeds
from bridge.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
NOW = SANDBOX_NOW.isoformat()


def write_config(url: str, tmp_path: Path) -> Path:
    text = (REPO / "config" / "bridge.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  url: .*$", f"  url: {url}", text)
    text = re.sub(r"(?m)^state: .*$", f"state: {{path: {tmp_path / 'state.sqlite'}}}", text)
    text = re.sub(r"(?m)^rules: .*$", f"rules: {REPO / 'rules'}", text)
    path = tmp_path / "bridge.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_version_names_the_installed_package(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert re.fullmatch(r"jsm-bridge \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


@pytest.mark.parametrize(
    ("argv", "verbose", "quiet"),
    [
        (["check"], 0, False),
        (["-q", "check"], 0, True),
        (["check", "-q"], 0, True),
        (["-v", "check"], 1, False),
        (["check", "-vv"], 2, False),
        (["-q", "check", "-v"], 1, True),  # given after the command, they add, never undo
    ],
)
def test_verbosity_is_accepted_before_and_after_the_command(
    argv: list[str], verbose: int, quiet: bool
) -> None:
    args = cli.build_parser().parse_args(argv)
    assert (args.verbose, args.quiet) == (verbose, quiet)


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path: Path) -> None:
    """`jsm-bridge check | head -1`: the pipe closes under a long output."""
    script = (
        f"{sys.executable} -m bridge.cli check --config {REPO / 'config' / 'bridge.yaml'} | head -1"
    )
    result = subprocess.run(
        ["/bin/sh", "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.stdout.startswith("note: config ")
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


@pytest.mark.parametrize("reader", ["head -3", "true"])
def test_a_completion_script_piped_into_a_reader_that_leaves_ends_quietly(reader: str) -> None:
    """`jsm-bridge completion bash | head -3`: the reader may be gone before the script is
    written (`true` always is: it leaves before Python has started)."""
    script = f"{sys.executable} -m bridge.cli completion bash | {reader}"
    result = subprocess.run(
        ["/bin/sh", "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert len(result.stdout.splitlines()) == (3 if reader.startswith("head") else 0)
    assert result.stderr == "", result.stderr


def test_a_reader_gone_by_the_final_flush_leaves_no_message() -> None:
    """The whole output fits the buffer and the reader leaves before it is flushed (the
    completion script piped into `head -3` on a busy machine): the flush at the end of
    the command fails on the closed pipe, and nothing may be said about it, then or when
    the interpreter flushes again at exit."""
    program = textwrap.dedent(
        """
        import os, sys
        from bridge import cli
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before anything is flushed
        sys.stdout = open(write_end, "w", buffering=1 << 20)
        sys.exit(cli.main(["completion", "bash"]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.stderr == "", result.stderr
    assert result.returncode == 141


def test_completion_scripts_know_the_commands_and_their_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert "complete" in script and "jsm-bridge" in script
    for word in ("init", "explain", "--dry-run", "--month"):
        assert word in script
    # made from the parser: a new option is offered with no script to edit
    report = next(line for line in script.splitlines() if "_report_option_strings=" in line)
    assert "--customer" in report.split("=", 1)[1].strip("()").split()


# ------------------------------------------------------------------------- config discovery


def test_config_is_found_from_the_flag_then_the_environment_then_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["init", str(tmp_path / "site")]) == 0
    written = capsys.readouterr().out
    local = tmp_path / "site" / "config" / "bridge.yaml"
    assert f"wrote {local}" in written
    assert sorted(p.name for p in (tmp_path / "site" / "rules").iterdir()) == [
        "customers.yaml",
        "priorities.yaml",
        "sla.yaml",
        "tiers.yaml",
    ]
    # init never overwrites
    assert cli.main(["init", str(tmp_path / "site")]) == 1
    assert "exists; not overwritten" in capsys.readouterr().err

    monkeypatch.chdir(tmp_path / "site")
    monkeypatch.delenv("JSM_BRIDGE_CONFIG", raising=False)
    assert cli.main(["check"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "note: config config/bridge.yaml (from the current directory)"
    assert out.rstrip().endswith("OK: config and rules are valid.")

    other = tmp_path / "other.yaml"
    other.write_text(local.read_text().replace("rules: ../rules", f"rules: {REPO / 'rules'}"))
    monkeypatch.setenv("JSM_BRIDGE_CONFIG", str(other))
    assert cli.main(["check"]) == 0
    assert f"note: config {other} (from $JSM_BRIDGE_CONFIG)" in capsys.readouterr().out

    assert cli.main(["check", "--config", str(local)]) == 0  # the flag wins
    assert f"note: config {local} (from --config)" in capsys.readouterr().out

    monkeypatch.setenv("JSM_BRIDGE_CONFIG", str(tmp_path / "gone.yaml"))
    assert cli.main(["check"]) == 1  # named, but missing: an error, not a fallback
    assert "gone.yaml: config file not found (named by $JSM_BRIDGE_CONFIG)" in (
        capsys.readouterr().out
    )


# ------------------------------------------------------------------------- plan exit codes


@pytest.mark.parametrize("json_mode", [False, True], ids=["text", "json"])
def test_plan_exit_codes_agree_in_text_and_json(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    json_mode: bool,
) -> None:
    sb = sandbox_factory(seed="demo")
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    config = write_config(sb.url, tmp_path)
    flag = ["--json"] if json_mode else []
    base = ["plan", "--config", str(config), "--now", NOW, *flag]

    assert cli.main([*base, "--issue", "SUP-999"]) == 1  # not in scope
    assert "SUP-999" in capsys.readouterr().out

    real = policy_evaluate.evaluate

    def failing(snapshot: Any, *args: Any, **kwargs: Any) -> Any:
        if snapshot.key == "SUP-3":
            raise RuntimeError("cannot evaluate")
        return real(snapshot, *args, **kwargs)

    monkeypatch.setattr("bridge.sync.cycle.evaluate", failing)
    assert cli.main(base) == 4  # one case skipped
    out = capsys.readouterr().out
    if json_mode:
        assert [s["key"] for s in json.loads(out)["skipped"]] == ["SUP-3"]
    else:
        assert "SUP-3: skipped" in out


def test_the_rules_option_says_where_the_rules_are_found_without_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--rules` left out: the config's `rules:`, by default ../rules beside the config."""
    (tmp_path / "etc").mkdir()
    config = tmp_path / "etc" / "bridge.yaml"
    text = (REPO / "config" / "bridge.yaml").read_text(encoding="utf-8")
    config.write_text(re.sub(r"(?m)^rules: .*$", "", text), encoding="utf-8")
    assert load_settings(config, env={}).rules_path == tmp_path / "rules"
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    helped = " ".join(capsys.readouterr().out.split())
    assert "defaults to ../rules beside the config file" in helped, helped
    assert "else ./rules" not in helped
