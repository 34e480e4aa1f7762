"""The one YAML loader: aliases are bounded, control characters and deep nesting are
``file:line`` problems, and every path that reads rules or the config goes through it."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.policy.ruleset import RulesInvalid
from bridge.rules.load import load_ruleset
from bridge.sync.signals import RulesWatcher
from bridge.yamlsafe import MAX_ALIAS_VALUES, parse_yaml, read_yaml

REPO = Path(__file__).resolve().parents[1]


def bomb(levels: int, prefix: str = "") -> str:
    """The 'billion laughs' shape: each anchor lists the previous one ten times."""
    lols = ", ".join(['"lol"'] * 10)
    lines = [f"{prefix}a0: &a0 [{lols}]"]
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"{prefix}a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [4, 7, 9, 30])
def test_an_alias_bomb_is_refused_quickly_with_its_line(levels: int) -> None:
    began = time.perf_counter()
    tree, problems = parse_yaml(bomb(levels), "rules/tiers.yaml")
    elapsed = time.perf_counter() - began
    assert tree is None and len(problems) == 1
    problem = problems[0]
    assert problem.file == "rules/tiers.yaml" and problem.line is not None
    assert 2 <= problem.line <= levels + 1
    assert "aliases" in problem.message and f"{MAX_ALIAS_VALUES:,}" in problem.message
    assert elapsed < 5, elapsed  # a bound against a hang, not a speed claim


def test_a_few_aliases_and_merge_keys_still_work() -> None:
    text = (
        "base: &base {open: '09:00', close: '17:00'}\n"
        "mon: *base\n"
        "tue: {<<: *base, close: '16:00'}\n"
    )
    tree, problems = parse_yaml(text, "sla.yaml")
    assert problems == [] and tree is not None
    entries = {k.text: v for k, v in tree.entries}
    tue = {k.text: v.text for k, v in entries["tue"].entries}
    assert tue == {"open": "09:00", "close": "16:00"}


def test_a_self_referencing_alias_is_a_problem() -> None:
    tree, problems = parse_yaml("a: &x [1, *x]\n", "f.yaml")
    assert tree is None and problems and problems[0].line == 1


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: 1\nb: x\0y\n", 2),
        ("a: 1\nb: 2\nc: \x07\n", 3),
        ("a: \ud800\n", 1),
    ],
)
def test_forbidden_characters_are_problems_with_their_line(text: str, line: int) -> None:
    tree, problems = parse_yaml(text, "f.yaml")
    assert tree is None and problems[0].line == line
    assert "not allowed" in problems[0].message


@pytest.mark.parametrize("depth", [70, 2000, 50_000])
def test_deep_nesting_is_a_problem(depth: int) -> None:
    tree, problems = parse_yaml("a: " + "[" * depth + "]" * depth + "\n", "f.yaml")
    assert tree is None and "nested" in problems[0].message


def test_check_refuses_a_rules_bomb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    (rules / "tiers.yaml").write_text(
        (rules / "tiers.yaml").read_text(encoding="utf-8") + bomb(9, "x-"),
        encoding="utf-8",
    )
    assert main(["check", "--rules", str(rules), "--config", str(tmp_path / "none.yaml")]) == 1
    out = capsys.readouterr().out
    assert f"{rules / 'tiers.yaml'}:" in out and "aliases" in out


def test_check_refuses_a_config_bomb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bridge.yaml"
    config.write_text(
        (REPO / "config" / "bridge.yaml").read_text(encoding="utf-8") + bomb(9),
        encoding="utf-8",
    )
    assert main(["check", "--config", str(config), "--rules", str(REPO / "rules")]) == 1
    out = capsys.readouterr().out
    assert f"{config}:" in out and "aliases" in out


def test_a_daemon_reload_of_a_bomb_keeps_the_good_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    watcher: RulesWatcher[object] = RulesWatcher([rules], lambda: load_ruleset(rules))
    good = watcher.load()
    (rules / "sla.yaml").write_text(
        (rules / "sla.yaml").read_text(encoding="utf-8") + bomb(9, "x-"),
        encoding="utf-8",
    )
    watcher.request_reload()
    began = time.perf_counter()
    assert watcher.poll() is False
    assert time.perf_counter() - began < 5
    assert watcher.current is good
    with pytest.raises(RulesInvalid):
        load_ruleset(rules)


def test_a_file_saved_in_another_encoding_says_which_and_how_to_save_it(tmp_path: Path) -> None:
    text = "tiers:\n  standard:\n    name: Standard\n# Zürich office\n"
    (tmp_path / "utf16.yaml").write_text(text, encoding="utf-16")
    (tmp_path / "latin1.yaml").write_text(text, encoding="latin-1")
    _, (utf16,) = read_yaml(tmp_path / "utf16.yaml")
    assert utf16.message == 'the file is not UTF-8: UTF-16 (an editor\'s "Unicode")'
    assert utf16.hint is not None and "save it as UTF-8" in utf16.hint
    _, (latin1,) = read_yaml(tmp_path / "latin1.yaml")
    assert (latin1.line, latin1.message) == (4, "the file is not UTF-8: byte 0xFC is not UTF-8")
