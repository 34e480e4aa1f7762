"""config/bridge.yaml: token sources, the HTTPS rule, paths, durations, problems at file:line."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.settings import (
    SANDBOX_TOKEN,
    ConfigInvalid,
    Secret,
    Settings,
    is_loopback_url,
    load_settings,
)

CONFIG = Path(__file__).resolve().parent.parent / "config" / "bridge.yaml"
EXAMPLE = CONFIG.with_name("bridge.example.yaml")


def config_copy(tmp_path: Path, replace: dict[str, str] | None = None) -> Path:
    target = tmp_path / "config" / "bridge.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    text = CONFIG.read_text(encoding="utf-8")
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new, 1)
    target.write_text(text, encoding="utf-8")
    return target


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        load_settings(path, env=env or {})
    return [str(p) for p in caught.value.problems]


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_shipped_config_targets_the_sandbox() -> None:
    settings = load_settings(CONFIG, env={})
    assert isinstance(settings, Settings)
    jira = settings.jira
    assert (jira.url, jira.flavour, jira.email, jira.jql) == (
        "http://127.0.0.1:8089",
        "cloud",
        "bridge@vendor.example",
        "project = SUP",
    )
    assert jira.token.reveal() == SANDBOX_TOKEN  # loopback without a token: the sandbox's
    assert settings.bridge_account == "bridge@vendor.example"
    assert settings.fields["response_due"] == "Response due"
    assert settings.fields["request_type"] == "Request Type"
    assert settings.polling_interval == timedelta(minutes=5)
    assert settings.polling_overlap == timedelta(minutes=2)
    root = CONFIG.parent.parent
    assert settings.rules_path.resolve() == (root / "rules").resolve()
    assert settings.state_path.resolve() == (root / "var" / "jsm-bridge.sqlite").resolve()
    assert settings.lock_path == settings.state_path.with_name("jsm-bridge.sqlite.lock")


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = config_copy(tmp_path)
    settings = load_settings(path, env={})
    assert settings.rules_path == tmp_path / "rules"
    assert settings.state_path == tmp_path / "var" / "jsm-bridge.sqlite"


def test_token_from_environment_is_a_secret(tmp_path: Path) -> None:
    settings = load_settings(config_copy(tmp_path), env={"JIRA_API_TOKEN": "s3cr3t-value"})
    token = settings.jira.token
    assert token.reveal() == "s3cr3t-value"
    assert repr(token) == str(token) == "***"
    assert "s3cr3t-value" not in repr(settings)
    assert "JIRA_API_TOKEN" in settings.jira.token_source


def test_token_from_a_private_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n")
    os.chmod(token_file, 0o600)
    path = config_copy(tmp_path, {"token_env: JIRA_API_TOKEN": f"token_file: {token_file}"})
    assert load_settings(path, env={}).jira.token.reveal() == "file-token"


def test_token_file_expands_systemd_credentials_directory(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "jira-token").write_text("credential-token\n")
    os.chmod(creds / "jira-token", 0o400)
    path = config_copy(
        tmp_path,
        {"token_env: JIRA_API_TOKEN": "token_file: ${CREDENTIALS_DIRECTORY}/jira-token"},
    )
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    assert load_settings(path, env=env).jira.token.reveal() == "credential-token"
    with pytest.raises(ConfigInvalid) as err:
        load_settings(path, env={})
    assert "CREDENTIALS_DIRECTORY" in str(err.value) and "not set" in str(err.value)


def test_token_file_relative_to_config(tmp_path: Path) -> None:
    path = config_copy(tmp_path, {"token_env: JIRA_API_TOKEN": "token_file: secret/token"})
    (path.parent / "secret").mkdir()
    (path.parent / "secret" / "token").write_text("relative-token")
    os.chmod(path.parent / "secret" / "token", 0o600)
    assert load_settings(path, env={}).jira.token.reveal() == "relative-token"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_token_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token")
    os.chmod(token_file, 0o644)
    if os.geteuid() == 0:  # an ordinary user's file (a root-owned one may be a mounted secret)
        os.chown(token_file, 65534, 65534)
    path = config_copy(tmp_path, {"token_env: JIRA_API_TOKEN": f"token_file: {token_file}"})
    (problem,) = problems_of(path)
    assert f"{path}:{line_of(path, 'token_file')}:" in problem
    assert "readable by others (mode 0644)" in problem
    assert f"chmod 600 {token_file}" in problem
    assert "file-token" not in problem


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="needs a root-owned file")
def test_a_mounted_secret_root_owned_and_read_only_is_accepted_with_a_note(
    tmp_path: Path,
) -> None:
    """Docker and Kubernetes mount secrets as root-owned 0444 files."""
    token_file = tmp_path / "jira-token"
    token_file.write_text("mounted-token\n")
    os.chmod(token_file, 0o444)
    path = config_copy(tmp_path, {"token_env: JIRA_API_TOKEN": f"token_file: {token_file}"})
    settings = load_settings(path, env={})
    assert settings.jira.token.reveal() == "mounted-token"
    assert any("readable by other users (mode 0444, owned by root)" in n for n in settings.notes)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_token_file_others_may_write_is_refused_whoever_owns_it(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token")
    os.chmod(token_file, 0o446)
    path = config_copy(tmp_path, {"token_env: JIRA_API_TOKEN": f"token_file: {token_file}"})
    (problem,) = problems_of(path)
    assert "may be changed by other users (mode 0446)" in problem


def test_literal_token_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = config_copy(tmp_path, {"token_env: JIRA_API_TOKEN": "token: hunter2-secret"})
    problems = problems_of(path)
    assert len(problems) == 1
    assert f"{path}:{line_of(path, 'token:')}:" in problems[0]
    assert "secrets only in environment variables or files" in problems[0]
    assert "hunter2" not in problems[0]


def test_https_is_required_except_for_loopback(tmp_path: Path) -> None:
    path = config_copy(tmp_path, {"url: http://127.0.0.1:8089": "url: http://jira.example.com"})
    problems = problems_of(path, env={"JIRA_API_TOKEN": "t"})
    assert len(problems) == 1
    assert f"{path}:{line_of(path, 'url:')}: jira: url must use https://" in problems[0]


@pytest.mark.parametrize(
    "url", ["http://localhost:8089", "http://127.0.0.2:9000", "http://[::1]:8089"]
)
def test_loopback_urls_may_use_http_and_the_sandbox_token(tmp_path: Path, url: str) -> None:
    path = config_copy(tmp_path, {"url: http://127.0.0.1:8089": f"url: {url}"})
    settings = load_settings(path, env={})
    assert settings.jira.token.reveal() == SANDBOX_TOKEN
    assert "sandbox" in settings.jira.token_source


def test_missing_token_for_a_real_site_names_the_variable(tmp_path: Path) -> None:
    path = config_copy(
        tmp_path,
        {
            "url: http://127.0.0.1:8089": "url: https://acme.atlassian.net",
            "JIRA_API_TOKEN": "MY_TOKEN",
        },
    )
    (problem,) = problems_of(path)
    assert f"{path}:{line_of(path, 'token_env')}:" in problem
    assert "the environment variable MY_TOKEN is not set" in problem
    https = load_settings(path, env={"MY_TOKEN": "abc"})
    assert https.jira.url == "https://acme.atlassian.net"


def test_is_loopback_url() -> None:
    assert is_loopback_url("http://127.0.0.1:8089")
    assert is_loopback_url("http://localhost")
    assert is_loopback_url("http://[::1]/")
    assert not is_loopback_url("http://10.0.0.1")
    assert not is_loopback_url("https://127.0.0.1.example.com")


def test_verify_tls_off_is_allowed_with_a_note(tmp_path: Path) -> None:
    path = config_copy(tmp_path, {"page_size: 100": "page_size: 100\n  verify_tls: false"})
    settings = load_settings(path, env={})
    assert settings.jira.verify_tls is False
    assert any("verify_tls" in note for note in settings.notes)


def test_unknown_key_gets_did_you_mean(tmp_path: Path) -> None:
    path = config_copy(tmp_path, {"page_size: 100": "page_sise: 100"})
    (problem,) = problems_of(path)
    assert f"{path}:{line_of(path, 'page_sise')}: jira: unknown key 'page_sise'" in problem
    assert "did you mean 'page_size'?" in problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", timedelta(seconds=30)), ("2m", timedelta(minutes=2)), ("1h", timedelta(hours=1))],
)
def test_polling_durations(tmp_path: Path, text: str, expected: timedelta) -> None:
    path = config_copy(tmp_path, {"interval: 5m": f"interval: {text}"})
    assert load_settings(path, env={}).polling_interval == expected


def test_bad_durations_and_types_are_all_reported(tmp_path: Path) -> None:
    path = config_copy(
        tmp_path,
        {
            "interval: 5m": "interval: 5 minutes",
            "overlap: 2m": "overlap: soon",
            "page_size: 100": "page_size: lots",
            "flavour: cloud": "flavour: server",
        },
    )
    problems = problems_of(path)
    assert len(problems) == 4, problems
    polling_line = line_of(path, "polling:")
    assert any(
        f":{polling_line}: polling: interval: '5 minutes' is not a duration" in p for p in problems
    )
    assert any("polling: overlap: 'soon' is not a duration" in p for p in problems)
    assert any(
        f":{line_of(path, 'page_size')}: jira: page_size must be a whole number" in p
        for p in problems
    )
    assert any("flavour must be cloud or datacenter, not 'server'" in p for p in problems)


def test_required_logical_fields(tmp_path: Path) -> None:
    path = config_copy(tmp_path, {"  impact: Impact\n": ""})
    (problem,) = problems_of(path)
    assert f"{path}:{line_of(path, 'fields:')}: fields: no Jira field named for impact" in problem


def test_account_defaults_to_email_and_can_be_set(tmp_path: Path) -> None:
    path = config_copy(tmp_path, {"page_size: 100": "page_size: 100\n  account: 5b10ac8d82e05b"})
    assert load_settings(path, env={}).bridge_account == "5b10ac8d82e05b"


def test_datacenter_needs_no_email(tmp_path: Path) -> None:
    path = config_copy(
        tmp_path,
        {
            "flavour: cloud": "flavour: datacenter",
            "  email: bridge@vendor.example": "  account: jsm-bridge",
        },
    )
    settings = load_settings(path, env={})
    assert settings.jira.flavour == "datacenter"
    assert settings.jira.email is None
    assert settings.bridge_account == "jsm-bridge"


def test_cloud_needs_an_email(tmp_path: Path) -> None:
    path = config_copy(tmp_path, {"  email: bridge@vendor.example": ""})
    (problem,) = problems_of(path)
    assert "jira: email is missing" in problem


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    missing = problems_of(tmp_path / "nope.yaml")
    assert missing == [
        f"{tmp_path / 'nope.yaml'}: file not found "
        "(copy config/bridge.example.yaml there, or pass --config PATH)"
    ]
    broken = tmp_path / "broken.yaml"
    broken.write_text("jira: [\n")
    assert "not valid YAML" in problems_of(broken)[0]


def test_example_config_is_valid_with_a_token(tmp_path: Path) -> None:
    target = tmp_path / "bridge.yaml"
    shutil.copy(EXAMPLE, target)
    settings = load_settings(target, env={"JIRA_API_TOKEN": "t"})
    assert settings.jira.url.startswith("https://")
    assert settings.rules_path == Path("/etc/jsm-bridge/rules")


def test_secret_equality_and_hash() -> None:
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
    assert hash(Secret("a")) == hash(Secret("a"))
    assert f"{Secret('zzz')}" == "***"


def test_the_write_pool_size_is_configurable_and_bounded(tmp_path: Path) -> None:
    pinned = "writes: {workers: 1}"
    assert load_settings(config_copy(tmp_path), env={}).workers == 1  # the sandbox config
    cloud = config_copy(tmp_path, {pinned: ""})
    assert load_settings(cloud, env={}).workers == 16  # sized for Jira Cloud
    dc = config_copy(tmp_path, {pinned: "", "flavour: cloud": "flavour: datacenter"})
    assert load_settings(dc, env={}).workers == 4
    small = config_copy(tmp_path, {pinned: "writes: {workers: 4}"})
    assert load_settings(small, env={}).workers == 4
    for bad, says in (("0", "at least 1"), ("100", "at most 64"), ("many", "whole number")):
        path = config_copy(tmp_path, {pinned: f"writes: {{workers: {bad}}}"})
        problems = problems_of(path)
        assert any("writes: workers" in p and says in p for p in problems), problems


def test_merging_comments_is_on_unless_the_config_turns_it_off(tmp_path: Path) -> None:
    assert load_settings(config_copy(tmp_path), env={}).merge_comments is True
    pinned = "writes: {workers: 1}"
    off = config_copy(tmp_path, {pinned: "writes: {merge_comments: false}"})
    assert load_settings(off, env={}).merge_comments is False
    bad = config_copy(tmp_path, {pinned: "writes: {merge_comments: sometimes}"})
    problems = problems_of(bad)
    assert any("writes: merge_comments" in p for p in problems), problems
