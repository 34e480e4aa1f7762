"""``config/bridge.yaml`` → typed :class:`Settings`; the API token from the environment or a file.

Like the rule files, the config is validated as a whole: every problem is
collected with ``file:line`` and raised together in :class:`ConfigInvalid`.

Relative paths (``rules:``, ``state.path``, ``state.lock``, ``jira.token_file``)
are relative to the directory of the config file, so the service works from
any working directory.

Secrets never live in the config: ``jira.token_env`` names an environment
variable, ``jira.token_file`` a file readable only by its owner.  Against a
loopback URL (the embedded sandbox) the sandbox's well-known token is used
when neither is set.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from bridge.policy.problems import Checker, Node, Problem
from bridge.policy.ruleset import FIELD_NAMES, parse_duration
from bridge.yamlsafe import read_yaml

__all__ = [
    "REQUIRED_FIELDS",
    "SANDBOX_TOKEN",
    "ConfigInvalid",
    "JiraSettings",
    "Secret",
    "Settings",
    "is_loopback_url",
    "load_settings",
]

#: The embedded sandbox accepts this token; used only for loopback URLs without a token.
SANDBOX_TOKEN = "sandbox-token"

#: Logical field names the default rules and the sync layer rely on.
REQUIRED_FIELDS: tuple[str, ...] = FIELD_NAMES

_JIRA_KEYS = (
    "url",
    "flavour",
    "email",
    "account",
    "token_env",
    "token_file",
    "jql",
    "page_size",
    "verify_tls",
    "timeout",
)
#: `writes.workers` by default, per flavour.  Jira Cloud: 16 cases in flight keep a site a
#: few hundred milliseconds away busy and stay well under its per-endpoint budgets (about
#: 16 / 0.3 s ≈ 53 requests a second; the pacer in bridge/jira/rate.py holds them anyway).
#: Data Center publishes no limits and rate limiting is off unless an administrator turns
#: it on ("Improving instance stability with rate limiting", Jira Data Center docs), but it
#: is one server the agents share, usually close by: 4.
DEFAULT_WORKERS = {"cloud": 16, "datacenter": 4}
MAX_WORKERS = 64

#: The longest `jira.timeout` accepted, in seconds (a request waiting longer is hung).
MAX_TIMEOUT = 600.0

#: Keys that would put a secret into the config file: refused with a clear message.
_SECRET_KEYS = ("token", "password", "api_token")


#: ``${NAME}`` or ``$NAME`` inside ``token_file``.
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class Secret:
    """A secret string that never shows itself in ``repr``/``str`` (and so in logs)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class JiraSettings:
    url: str
    flavour: Literal["cloud", "datacenter"]
    email: str | None
    token: Secret
    jql: str
    page_size: int = 100
    verify_tls: bool = True
    timeout: float = 30.0
    #: where the token came from, for `check` ("env JIRA_API_TOKEN", "file ...", "sandbox default")
    token_source: str = ""


@dataclass(frozen=True)
class Settings:
    path: Path  # the config file
    jira: JiraSettings
    fields: Mapping[str, str]  # logical name -> the field's name on the Jira site
    polling_interval: timedelta
    polling_overlap: timedelta
    state_path: Path
    rules_path: Path
    bridge_account: str | None  # `jira.account`, else the e-mail
    lock_path: Path
    #: things worth saying that are not errors (e.g. TLS verification off)
    notes: tuple[str, ...] = ()
    #: `metrics.listen`: where the daemon serves /metrics and /healthz (None: off)
    metrics_listen: tuple[str, int] | None = None
    #: `metrics.textfile`: where `run --once` writes its metrics for node-exporter
    metrics_textfile: Path | None = None
    #: `writes.workers`: cases whose writes are in flight at once
    workers: int = DEFAULT_WORKERS["cloud"]
    #: `writes.merge_comments`: a case's comments of one visibility in one cycle are posted
    #: as one comment (False: each on its own)
    merge_comments: bool = True


class ConfigInvalid(Exception):
    """The config has problems; ``.problems`` lists every one of them."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        count = len(self.problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the config:\n{lines}")


def is_loopback_url(url: str) -> bool:
    """True for http(s) URLs whose host is 127.0.0.0/8, ::1 or localhost."""
    try:
        return is_loopback_host(urlsplit(url).hostname)
    except ValueError:  # e.g. an unclosed [IPv6 bracket
        return False


def is_loopback_host(host: str | None) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``: where plain http is allowed.

    ``*.localhost`` names are *not* loopback here: RFC 6761 only asks resolvers to
    send them to loopback, and a resolver or ``/etc/hosts`` entry that does not
    would carry the token in clear text to another machine.
    """
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate ``config/bridge.yaml``; raises :class:`ConfigInvalid` with every problem."""
    environ: Mapping[str, str] = os.environ if env is None else env
    file = Path(path)
    tree, problems = read_yaml(
        file, missing_hint="copy config/bridge.example.yaml there, or pass --config PATH"
    )
    if problems:
        raise ConfigInvalid(problems)
    check = Checker(str(file))
    if tree is None:
        check.add(None, "the config file is empty", "see config/bridge.example.yaml")
        raise ConfigInvalid(check.problems)
    settings = _read(check, file, tree, environ)
    if check.problems or settings is None:
        raise ConfigInvalid(check.problems)
    try:  # keep the token out of every log line from now on
        from bridge.logs import register_basic_auth, register_secret

        register_secret(settings.jira.token.reveal())
        for user in {settings.jira.email, settings.bridge_account} - {None}:
            assert user is not None
            register_basic_auth(user, settings.jira.token.reveal())
    except ImportError:  # pragma: no cover - logging module absent in a trimmed install
        pass
    return settings


def _read(check: Checker, file: Path, tree: Node, env: Mapping[str, str]) -> Settings | None:
    top = check.mapping(
        tree,
        "bridge.yaml",
        required=("jira", "fields"),
        optional=("polling", "state", "rules", "metrics", "writes"),
    )
    if top is None:
        return None
    base = file.parent
    notes: list[str] = []
    jira = _read_jira(check, top["jira"], base, env, notes) if "jira" in top else None
    fields = _read_fields(check, top["fields"]) if "fields" in top else None

    interval, overlap = timedelta(minutes=5), timedelta(minutes=2)
    if "polling" in top and not top["polling"].is_null:
        polling = check.mapping(top["polling"], "polling", optional=("interval", "overlap"))
        if polling is not None:
            if "interval" in polling:
                interval = _duration(check, polling["interval"], "polling: interval") or interval
            if "overlap" in polling:
                overlap = _duration(check, polling["overlap"], "polling: overlap") or overlap

    on_dc = jira is not None and jira[0].flavour == "datacenter"
    workers = DEFAULT_WORKERS["datacenter" if on_dc else "cloud"]
    merge_comments = True
    if "writes" in top and not top["writes"].is_null:
        writes = check.mapping(top["writes"], "writes", optional=("workers", "merge_comments"))
        if writes is not None and "merge_comments" in writes:
            merge = check.boolean(writes["merge_comments"], "writes: merge_comments")
            merge_comments = merge if merge is not None else merge_comments
        if writes is not None and "workers" in writes:
            n = check.integer(writes["workers"], "writes: workers", minimum=1)
            if n is not None and n > MAX_WORKERS:
                check.add(
                    writes["workers"],
                    f"writes: workers must be at most {MAX_WORKERS}, not {n}",
                    "Jira's rate limits leave no room for more; e.g. workers: 16",
                )
            elif n is not None:
                workers = n

    state_path = base / "../var/jsm-bridge.sqlite"
    lock_path: Path | None = None
    if "state" in top and not top["state"].is_null:
        state = check.mapping(top["state"], "state", optional=("path", "lock"))
        if state is not None:
            if "path" in state:
                text = check.string(state["path"], "state: path")
                if text is not None:
                    state_path = _resolve(base, text)
                    _check_file_path(check, state["path"], state_path, "state: path")
            if "lock" in state:
                text = check.string(state["lock"], "state: lock")
                if text is not None:
                    lock_path = _resolve(base, text)
                    _check_file_path(check, state["lock"], lock_path, "state: lock")
    rules_path = base / "../rules"
    if "rules" in top:
        text = check.string(top["rules"], "rules")
        if text is not None:
            rules_path = _resolve(base, text)

    listen: tuple[str, int] | None = None
    textfile: Path | None = None
    if "metrics" in top and not top["metrics"].is_null:
        metrics = check.mapping(top["metrics"], "metrics", optional=("listen", "textfile"))
        if metrics is not None:
            if "listen" in metrics and not metrics["listen"].is_null:
                listen = _listen(check, metrics["listen"], notes)
            if "textfile" in metrics and not metrics["textfile"].is_null:
                text = check.string(metrics["textfile"], "metrics: textfile")
                if text is not None:
                    textfile = _normalise(_resolve(base, text))

    if jira is None or fields is None:
        return None
    jira_settings, account = jira
    state_path = _normalise(state_path)
    return Settings(
        path=file,
        jira=jira_settings,
        fields=fields,
        polling_interval=interval,
        polling_overlap=overlap,
        state_path=state_path,
        rules_path=_normalise(rules_path),
        bridge_account=account,
        lock_path=_normalise(lock_path)
        if lock_path
        else state_path.with_name(state_path.name + ".lock"),
        notes=tuple(notes),
        metrics_listen=listen,
        metrics_textfile=textfile,
        workers=workers,
        merge_comments=merge_comments,
    )


def _check_file_path(check: Checker, node: Node, path: Path, where: str) -> None:
    """A problem when ``path`` can never be a file: it is a directory, or a parent is a file."""
    if "\0" in str(path):
        check.add(node, f"{where}: the path contains a NUL character")
        return
    try:
        if path.is_dir():
            check.add(node, f"{where}: {path} is a directory", "name a file inside it")
            return
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    check.add(
                        node,
                        f"{where}: {parent} is not a directory, so {path} cannot be created",
                        "point it at a file in a directory this user may write to",
                    )
                return
    except OSError as exc:
        check.add(node, f"{where}: cannot use {path}: {exc.strerror}")


def _listen(check: Checker, node: Node, notes: list[str]) -> tuple[str, int] | None:
    """``metrics.listen``: ``9464`` (loopback), ``127.0.0.1:9464``, ``[::1]:9464``, ``0.0.0.0:9464``."""
    value = node.value if node.kind == "scalar" else None
    text = str(value).strip() if isinstance(value, int | str) and value is not True else ""
    host, _, port_text = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port_text.isdigit() or not 0 <= int(port_text) < 65536:  # 0: any free port
        check.add(
            node,
            f"metrics: listen {node.describe()} is not a port or host:port",
            'write e.g. 9464 (loopback only) or "0.0.0.0:9464" (every interface)',
        )
        return None
    if not is_loopback_host(host):
        notes.append(f"metrics.listen {host}:{port_text} is reachable from other hosts")
    return host, int(port_text)


def _resolve(base: Path, text: str) -> Path:
    candidate = Path(os.path.expanduser(text.strip()))
    return candidate if candidate.is_absolute() else base / candidate


def _normalise(path: Path) -> Path:
    return Path(os.path.normpath(path))


def _duration(check: Checker, node: Node, where: str) -> timedelta | None:
    text = check.string(node, where)
    if text is None:
        return None
    value = parse_duration(text)
    if value is None:
        check.add(node, f"{where}: {text!r} is not a duration", 'write e.g. "30s", "5m", "1h"')
    return value


def _read_fields(check: Checker, node: Node) -> dict[str, str] | None:
    entries = check.mapping(node, "fields", open_keys=True)
    if entries is None:
        return None
    out: dict[str, str] = {}
    for logical, value in entries.items():
        name = check.string(value, f"fields: {logical}")
        if name is not None:
            out[logical] = name.strip()
    missing = [name for name in REQUIRED_FIELDS if name not in entries]
    if missing:
        check.add(
            node,
            f"fields: no Jira field named for {', '.join(missing)}",
            "map each logical name to the field's name on your Jira site, e.g. response_due: Response due",
        )
        return None
    return out if len(out) == len(entries) else None


def _read_jira(
    check: Checker, node: Node, base: Path, env: Mapping[str, str], notes: list[str]
) -> tuple[JiraSettings, str | None] | None:
    entries = check.mapping(
        node, "jira", required=("url", "jql"), optional=(*_JIRA_KEYS, *_SECRET_KEYS)
    )
    if entries is None:
        return None
    for key_node, _ in node.entries:
        if key_node.text in _SECRET_KEYS:
            check.add(
                key_node,
                f"jira: a literal {key_node.text!r} is not allowed: secrets only in environment variables or files",
                "use token_env: JIRA_API_TOKEN or token_file: /etc/jsm-bridge/token (mode 0600)",
            )
    ok = True

    url = check.string(entries["url"], "jira: url") if "url" in entries else None
    loopback = False
    if url is not None:
        url = url.strip().rstrip("/")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            parts = urlsplit("")
        loopback = is_loopback_url(url) if parts.hostname else False
        if parts.username is not None or parts.password is not None:
            check.add(
                entries["url"],
                "jira: url must not contain a user name or password (user:secret@host)",
                "write only https://host; the token comes from token_env or token_file",
            )
            url = None
        elif parts.scheme not in ("http", "https") or not parts.hostname:
            check.add(
                entries["url"],
                f"jira: url {url!r} is not an http(s) URL",
                "e.g. https://your-site.atlassian.net",
            )
            url = None
        elif parts.scheme != "https" and not loopback:
            check.add(
                entries["url"],
                f"jira: url must use https:// (got {parts.scheme}://{parts.hostname})",
                "plain http is allowed only for loopback (127.0.0.1, ::1, localhost)",
            )
            url = None
    ok = ok and url is not None

    flavour: str | None = "cloud"
    if "flavour" in entries:
        flavour = check.string(entries["flavour"], "jira: flavour")
        if flavour is not None and flavour not in ("cloud", "datacenter"):
            check.add(
                entries["flavour"], f"jira: flavour must be cloud or datacenter, not {flavour!r}"
            )
            flavour = None
    ok = ok and flavour is not None

    email: str | None = None
    if "email" in entries and not entries["email"].is_null:
        email = check.string(entries["email"], "jira: email")
        if email is not None and "@" not in email:
            check.add(entries["email"], f"jira: email {email!r} is not an e-mail address")
            email = None
        ok = ok and email is not None
    elif flavour == "cloud":
        check.add(
            node,
            "jira: email is missing",
            "Jira Cloud authenticates with the account's e-mail and an API token",
        )
        ok = False

    account = email
    if "account" in entries and not entries["account"].is_null:
        account = check.string(entries["account"], "jira: account")
        ok = ok and account is not None

    jql = check.string(entries["jql"], "jira: jql") if "jql" in entries else None
    ok = ok and jql is not None

    page_size: int | None = 100
    if "page_size" in entries:
        page_size = check.integer(entries["page_size"], "jira: page_size", minimum=1)
        ok = ok and page_size is not None
    verify: bool | None = True
    if "verify_tls" in entries:
        verify = check.boolean(entries["verify_tls"], "jira: verify_tls")
        ok = ok and verify is not None
        if verify is False:
            notes.append("jira.verify_tls is false: the server's certificate is not checked")
    timeout: float | None = 30.0
    if "timeout" in entries:
        tnode = entries["timeout"]
        if (
            tnode.kind == "scalar"
            and isinstance(tnode.value, int | float)
            and not isinstance(tnode.value, bool)
        ):
            timeout = float(tnode.value)
        elif (
            tnode.kind == "scalar" and isinstance(tnode.value, str) and parse_duration(tnode.value)
        ):
            timeout = parse_duration(tnode.value).total_seconds()  # type: ignore[union-attr]
        else:
            timeout = None
        if timeout is None or not math.isfinite(timeout) or not 0 < timeout <= MAX_TIMEOUT:
            check.add(
                tnode,
                f"jira: timeout must be a number of seconds between 0 and {MAX_TIMEOUT:g},"
                f" not {tnode.describe()}",
                "e.g. timeout: 30",
            )
            timeout = None
        ok = ok and timeout is not None

    token = _read_token(check, node, entries, base, env, loopback, notes)
    if not ok or token is None:
        return None
    secret, source = token
    assert url is not None and jql is not None and page_size is not None
    assert verify is not None and timeout is not None
    return (
        JiraSettings(
            url=url,
            flavour="datacenter" if flavour == "datacenter" else "cloud",
            email=email,
            token=secret,
            jql=jql,
            page_size=page_size,
            verify_tls=verify,
            timeout=timeout,
            token_source=source,
        ),
        account,
    )


def _read_token(
    check: Checker,
    node: Node,
    entries: dict[str, Node],
    base: Path,
    env: Mapping[str, str],
    loopback: bool,
    notes: list[str],
) -> tuple[Secret, str] | None:
    if "token_env" in entries and "token_file" in entries:
        check.add(entries["token_file"], "jira: use token_env or token_file, not both")
        return None
    if "token_file" in entries:
        text = check.string(entries["token_file"], "jira: token_file")
        if text is None:
            return None
        # ${VAR} / $VAR from the environment, e.g. systemd's ${CREDENTIALS_DIRECTORY}
        unset = [m.group(1) or m.group(2) for m in _ENV_REF.finditer(text)]
        unset = [v for v in unset if v not in env]
        if unset:
            check.add(
                entries["token_file"],
                f"jira: token_file uses ${{{unset[0]}}}, which is not set in the environment",
                "under systemd, LoadCredential= sets CREDENTIALS_DIRECTORY",
            )
            return None
        text = _ENV_REF.sub(lambda m: env[m.group(1) or m.group(2)], text)
        path = _resolve(base, text)
        try:
            info = path.stat()
        except OSError:
            check.add(
                entries["token_file"], f"jira: token_file {path} does not exist or cannot be read"
            )
            return None
        mode = stat.S_IMODE(info.st_mode)
        if os.name == "posix" and mode & (stat.S_IWGRP | stat.S_IWOTH):
            check.add(
                entries["token_file"],
                f"jira: token_file {path} may be changed by other users (mode {mode:04o})",
                f"run: chmod 600 {path}",
            )
            return None
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            if info.st_uid != 0:
                check.add(
                    entries["token_file"],
                    f"jira: token_file {path} is readable by others (mode {mode:04o})",
                    f"run: chmod 600 {path}",
                )
                return None
            # a secret mounted by Docker or Kubernetes: root's, read-only (0444), and the
            # container's own; accepted, and said
            notes.append(
                f"jira.token_file {path} is readable by other users (mode {mode:04o}, owned by"
                " root): fine for a container's mounted secret, not on a shared host"
            )
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            check.add(
                entries["token_file"],
                f"jira: cannot read token_file {path}: {exc.__class__.__name__}",
            )
            return None
        if not value:
            check.add(entries["token_file"], f"jira: token_file {path} is empty")
            return None
        return Secret(value), f"file {path}"
    name = "JIRA_API_TOKEN"
    if "token_env" in entries:
        named = check.string(entries["token_env"], "jira: token_env")
        if named is None:
            return None
        name = named.strip()
        value = env.get(name, "").strip()
        if value:
            return Secret(value), f"environment variable {name}"
    if loopback:
        return Secret(SANDBOX_TOKEN), "the sandbox's default token (loopback URL)"
    where = entries.get("token_env", node)
    check.add(
        where,
        f"jira: no API token: the environment variable {name} is not set",
        f"export {name}=... (or set token_file: to a file with mode 0600)",
    )
    return None
