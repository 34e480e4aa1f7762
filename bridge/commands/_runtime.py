"""Shared start-up for the commands that talk to Jira (plan, run, explain, demo, report).

Loads the config and the rules (every problem at once), sets up logging with the
token registered for redaction, builds the Jira client, resolves the site's
names (`Site.connect`) and opens the local state (refused when it belongs to another
Jira site).  Failures become a `CommandError` whose message says what to fix and whose
code is the exit status.
"""

from __future__ import annotations

import argparse
import dataclasses
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TextIO

from bridge.commands.check import load_policy, print_problems
from bridge.jira.client import JiraClient
from bridge.jira.port import JiraError
from bridge.jira.rate import RateLimiter
from bridge.logs import configure_logging, register_secret
from bridge.policy.model import RuleSet
from bridge.settings import Settings
from bridge.sync.cycle import CycleReport, Engine, Site, SiteError, client_connections
from bridge.sync.state import State, StateError

#: Exit codes (documented in the README).
EXIT_OK = 0
EXIT_CONFIG = 1  # config, rules, site names, token or permissions wrong: fix them
EXIT_USAGE = 2  # bad command-line arguments
# Jira unreachable, timing out, 429 or 5xx, or the state file's disk full: the cycle did
# not finish, nothing is half-written and the next run may get through with nothing fixed
EXIT_JIRA = 3
EXIT_PARTIAL = 4  # the cycle finished but some issues or actions failed
EXIT_LOCKED = 75  # another instance holds the lock (EX_TEMPFAIL)


class CommandError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def parse_now(text: str | None, default_tz: tzinfo = UTC) -> datetime:
    """``--now``: ISO 8601; a time without an offset is read in ``default_tz``."""
    if not text:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(
            f"--now {text!r} is not an ISO 8601 time; try e.g. 2026-11-30T16:00+10:00",
            EXIT_USAGE,
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_tz)
    return value


def setup_logging(args: argparse.Namespace, *, quiet_by_default: bool = False) -> None:
    """Logs go to stderr.  Commands whose output is the point (plan, explain, demo) log
    only warnings unless ``-v`` is given; ``run`` logs a line per issue and per cycle."""
    verbosity = getattr(args, "verbose", 0) or 0
    quiet = bool(getattr(args, "quiet", False)) or (quiet_by_default and verbosity == 0)
    configure_logging(verbosity=verbosity, quiet=quiet)


@dataclass
class Runtime:
    settings: Settings
    ruleset: RuleSet
    client: JiraClient
    state: State
    site: Site
    engine: Engine

    def close(self) -> None:
        self.state.close()
        self.client.close()


def load_config(args: argparse.Namespace, out: TextIO | None = None) -> tuple[Settings, RuleSet]:
    policy = load_policy(args, need_config=True)
    if policy.problems:
        print_problems(policy.problems, out)  # None: stderr, as errors
        raise CommandError("the config or the rules have problems (listed above)", EXIT_CONFIG)
    assert policy.settings is not None and policy.ruleset is not None
    register_secret(policy.settings.jira.token.reveal())
    # the rules in force are those read (`--rules DIR`, else the config's `rules:`): what
    # the daemon watches and what says that every case must be evaluated again
    settings = dataclasses.replace(policy.settings, rules_path=policy.rules_path)
    return settings, policy.ruleset


def connect(
    settings: Settings,
    ruleset: RuleSet,
    *,
    state_path: str | Path | None = None,
    on_request: Callable[[str, str, int], None] | None = None,
    dry_run: bool = False,
) -> Runtime:
    """Client, site facts, state and engine; raises `CommandError` with what to fix.

    ``on_request(method, path, status)`` hears every HTTP attempt (the metrics count them).
    ``dry_run``: the state file is checked against the site but never written, not even
    to record the site in a file that does not say yet (a dry run changes nothing: a
    staging config sharing production's state.path must not label it staging's).  Nor
    is it created, nor upgraded to this version's schema: the run works on a copy in
    memory (`State.open` ``read_only``)."""
    path = Path(state_path) if state_path is not None else settings.state_path
    # messages name the config actually read (`--config` may point anywhere)
    setting = f"state.path in {settings.path}" if state_path is None else "this command's own"
    try:  # local first: a state file that cannot be used is a config error, found offline
        state = State.open(path, setting=setting, read_only=dry_run)
    except StateError as exc:
        raise CommandError(str(exc), state_exit(exc)) from None
    try:  # another site's state would hide this site's cases: refused before Jira is asked
        if dry_run:
            state.check_site(settings.jira.url, settings.jira.flavour)
        else:
            state.claim_site(settings.jira.url, settings.jira.flavour)
    except (StateError, sqlite3.DatabaseError) as exc:
        state.close()
        failure = exc if isinstance(exc, StateError) else state.failure(exc)
        if failure is None:
            raise
        raise CommandError(str(failure), state_exit(failure)) from None
    # every request paced below Jira's limits
    extra = {"on_request": on_request} if on_request is not None else {}
    connections = client_connections(settings.workers)
    client = JiraClient.from_settings(
        settings.jira, rate=RateLimiter(), connections=connections, **extra
    )
    try:
        site = Site.connect(client, settings, ruleset)
    except SiteError as exc:
        client.close()
        state.close()
        raise CommandError(str(exc), EXIT_CONFIG) from None
    except JiraError as exc:
        client.close()
        state.close()
        raise CommandError(
            f"cannot use Jira at {settings.jira.url}: {exc}", jira_exit(exc)
        ) from None
    engine = Engine(client, settings, ruleset, state, site)
    return Runtime(settings, ruleset, client, state, site, engine)


def state_exit(exc: StateError) -> int:
    """75 when another process holds the state file's write lock (as another instance
    holding the cycle lock: nothing was done), 3 when the next run may get through as
    things are (a full disk freed), else 1."""
    if exc.busy:
        return EXIT_LOCKED
    return EXIT_JIRA if exc.passing else EXIT_CONFIG


@contextmanager
def state_failures(state: State) -> Iterator[None]:
    """A SQLite error from the state file while a command runs (its disk full, the file
    damaged) becomes a `CommandError` saying what to do, instead of an internal error;
    any other error passes through as it is."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        failure = state.failure(exc, in_cycle=True)
        if failure is None:
            raise
        raise CommandError(str(failure), state_exit(failure)) from None


def jira_exit(exc: JiraError) -> int:
    """1 when a person must fix something (token, permission, JQL, URL), else 3."""
    return EXIT_CONFIG if exc.permanent else EXIT_JIRA


def default_tz(ruleset: RuleSet) -> tzinfo:
    return ruleset.calendars[ruleset.default_calendar].tz


@dataclass
class Preview:
    """A read-only cycle's result, for the commands that only show (plan, explain)."""

    settings: Settings
    now: datetime
    report: CycleReport


def preview(
    args: argparse.Namespace, *, only_key: str | None = None, explain: bool = False
) -> Preview:
    """Load, connect and run a dry cycle with no local state; raises `CommandError`."""
    settings, ruleset = load_config(args)
    now = parse_now(args.now, default_tz(ruleset))
    runtime = connect(settings, ruleset, state_path=":memory:")
    runtime.engine.explain = explain
    try:
        report = runtime.engine.cycle(now, dry_run=True, only_key=only_key)
    except ValueError as exc:  # not an issue key
        raise CommandError(str(exc), EXIT_USAGE) from None
    finally:
        runtime.close()
    if report.aborted:
        code = EXIT_CONFIG if report.aborted_permanent else EXIT_JIRA
        raise CommandError(f"Jira failed while reading: {report.aborted}", code)
    return Preview(settings, now, report)
