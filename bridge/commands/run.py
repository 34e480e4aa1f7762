"""``jsm-bridge run``: one cycle for cron (``--once``) or the daemon loop.

Exit codes (``--once``): 0 the cycle finished and every action landed; 1 config,
rules or site names are wrong, or Jira refused the bridge for good (a rejected token,
a missing permission, a bad JQL query, no such resource: the message says what to
fix; also a state file of another Jira site, or a damaged one), or ``metrics.textfile``
could not be written; 2 bad arguments; 3 Jira
was unreachable, timing out, rate-limiting (429) or failing (5xx), or the disk holding
the state file is full, and the cycle stopped (state is consistent, the next run
resumes); 4 the cycle finished but some issues were skipped, some transitions were not
offered by the workflow, or some actions failed (they are retried); 75 another
instance is running a cycle, or took the site lock while this cycle ran (the cycle
stopped there).

The daemon runs a cycle every ``polling.interval``, holds the lock only while a
cycle runs, reloads the rules on SIGHUP or when their files change (bad new rules
are logged and the last good ones stay in force; bridge.yaml is read at start only,
and a SIGHUP after it was edited warns which settings wait for a restart), backs
off after cycles Jira failed
(timeouts, 429, 5xx), waits an interval and tries the site lock again when another
instance holds it or took it mid-cycle, exits 1 with the reason when Jira refuses the bridge for good
(401, 403, 400, 404, 405: retrying cannot fix a token or a permission), and on
SIGTERM/SIGINT finishes the current issue, records its state and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TextIO

import structlog

from bridge import sdnotify
from bridge.commands._confwatch import ConfigWatch
from bridge.commands._runtime import (
    EXIT_CONFIG,
    EXIT_JIRA,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    CommandError,
    Runtime,
    connect,
    default_tz,
    jira_exit,
    load_config,
    parse_now,
    setup_logging,
    state_failures,
)
from bridge.jira.port import JiraError
from bridge.jira.retry import CircuitOpen, WaitInterrupted
from bridge.logs import complain, first_complaint
from bridge.metrics import Metrics, MetricsServer
from bridge.policy.model import RuleSet
from bridge.rules.load import load_ruleset
from bridge.settings import Settings
from bridge.sync.cycle import CycleReport, Engine, Site, SiteError, policy_fingerprint
from bridge.sync.lock import CycleLock, LockBusy, SiteLock, SiteLockBusy, lock_project
from bridge.sync.signals import RulesWatcher, Shutdown, install_handlers
from bridge.sync.state import State

log = structlog.get_logger("jsm_bridge.run")

#: After a failed cycle the daemon retries in 30 s, then 60 s, 120 s ... up to this.
MAX_BACKOFF = 15 * 60.0


def request_delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """Requests made between two snapshots of `JiraClient.stats` (non-zero entries only)."""
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    return {k: v for k, v in delta.items() if v}


def summary_line(report: CycleReport, requests: Mapping[str, int] | None = None) -> str:
    writes = ", ".join(f"{k} {v}" for k, v in sorted(report.writes.items())) or "none"
    text = (
        f"cycle {'(dry run) ' if report.dry_run else ''}{'full' if report.full else 'incremental'}: "
        f"{report.read} read, {report.changed} changed, writes: {writes}, "
        f"{report.skipped_count} skipped, {report.seconds:.2f}s"
    )
    if requests is not None:
        text += (
            f"; requests: {requests.get('reads', 0)} reads, {requests.get('writes', 0)} writes,"
            f" {requests.get('retries', 0)} retries"
        )
    if report.aborted:
        text += f" — stopped: {report.aborted}"
    elif report.lost_lock:
        text += " — stopped: another instance took the site lock"
    elif not report.complete:
        text += " — stopped early on request"
    return text


def exit_code(report: CycleReport) -> int:
    if report.aborted:
        return EXIT_CONFIG if report.aborted_permanent else EXIT_JIRA
    if report.lost_lock:
        return EXIT_LOCKED
    if report.failed_actions or report.skipped_count:
        return EXIT_PARTIAL
    return EXIT_OK


#: How far ahead of this host's clock a `run --now` may be (clock skew), without --dry-run.
FUTURE_TOLERANCE = timedelta(minutes=1)


def refuse_future(now: datetime, real_now: datetime) -> None:
    """A real cycle at a future moment would write escalations and due states early."""
    if now > real_now + FUTURE_TOLERANCE:
        raise CommandError(
            f"--now {now.isoformat(timespec='minutes')} is in the future: a cycle then would "
            "write escalations before they are due; add --dry-run to see what it would do "
            "(or use `jsm-bridge plan --now ...`)",
            EXIT_USAGE,
        )


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    if args.now and not args.once:
        complain("error: --now only makes sense with --once (the daemon runs in real time)")
        return EXIT_USAGE
    if args.dry_run and not args.once:
        complain(
            "error: --dry-run needs --once (a dry-run daemon would change nothing, forever);"
            " or use `jsm-bridge plan`"
        )
        return EXIT_USAGE
    code = _run(args)
    if args.once and args.quiet and code not in (EXIT_OK, EXIT_LOCKED):
        # cron mails what a job prints: with -q that is this one line, and only on failure;
        # it names what failed (the first error line, also in the log) when one was said
        print(f"jsm-bridge run --once failed with exit status {code}: {failure(code)}")
    return code


#: The longest reason the line cron mails carries (the log has the whole of it).
MAIL_REASON_CHARS = 500


def failure(code: int) -> str:
    """What failed, for the line cron mails: the first error this command said, on one
    line (the log holds it and any more), else what its exit status means."""
    said = " ".join(line.strip() for line in (first_complaint() or "").splitlines())
    if not said.strip():
        return _MEANING.get(code, "")
    said = said.removeprefix("error: ")
    if len(said) > MAIL_REASON_CHARS:
        said = said[: MAIL_REASON_CHARS - 1] + "…"
    return f"{said} (see the log)"


#: One line per exit status, for the failure line cron mails when no error line says more.
_MEANING = {
    EXIT_CONFIG: (
        "the config, the rules, the Jira site's names, the token, a permission or the JQL"
        " is wrong (see the log)"
    ),
    EXIT_USAGE: "bad arguments",
    EXIT_JIRA: "Jira was unreachable or failing, or the state file's disk is full; the next run"
    " resumes (see the log)",
    EXIT_PARTIAL: "some cases were skipped or some writes failed; retried next run (see the log)",
}


def _run(args: argparse.Namespace) -> int:
    metrics = Metrics()
    keep_alive = KeepAlive(on_progress=metrics.made_progress)  # systemd's and /healthz's
    # the metrics count every request; the daemon (not `--once`) tells systemd of answers
    hear = metrics.on_request if args.once else _each(metrics.on_request, keep_alive.answered)
    starting: Settings | None = None  # set once a cycle is due to start
    try:
        settings, ruleset = load_config(args)
        now = parse_now(args.now, default_tz(ruleset)) if args.once else None
        if now is not None and not args.dry_run:
            refuse_future(now, datetime.now(UTC))
        starting, started = settings, time.monotonic()  # what follows is the cycle's start
        runtime = connect(settings, ruleset, on_request=hear, dry_run=args.dry_run)
    except CommandError as exc:
        complain(f"error: {exc}")
        if starting is not None and args.once and not args.dry_run:
            _record_failed_start(metrics, starting, str(exc), time.monotonic() - started)
        return exc.code
    try:
        # the state file's disk full or the file damaged mid-cycle: say so, not "internal"
        with state_failures(runtime.state):
            if args.once:
                assert now is not None
                return _once(runtime, now, dry_run=args.dry_run, quiet=args.quiet, metrics=metrics)
            return _daemon(runtime, args, metrics, keep_alive)
    except CommandError as exc:
        complain(f"error: {exc}")
        return exc.code
    finally:
        runtime.close()


def _record_failed_start(
    metrics: Metrics, settings: Settings, problem: str, seconds: float
) -> None:
    """A ``run --once`` that could not start its cycle (Jira down: exit 3; the token
    refused, the site's names or the state unusable: exit 1) is a failed cycle in
    ``metrics.textfile``, as one Jira failed midway is.  Written under the cycle lock,
    like a cycle's; skipped when another instance is running a cycle (its file will say
    how that went).  The daemon has no such step: a daemon that cannot start exits, and
    its ``/metrics`` goes with it (JsmBridgeMetricsMissing)."""
    textfile = settings.metrics_textfile
    if textfile is None:
        return
    lock = CycleLock(settings.lock_path)
    try:
        lock.acquire(wait=10.0)
    except (LockBusy, OSError):
        return
    try:
        metrics.carry_over(textfile)
        metrics.observe_failed_start(problem, seconds)
        metrics.publish(textfile, the_reason=False)  # the start's own error is the reason
    finally:
        lock.release()


def _each(*hooks: Callable[[str, str, int], None]) -> Callable[[str, str, int], None]:
    """One request hook (``on_request``) calling each of ``hooks`` in turn."""

    def heard(method: str, path: str, status: int) -> None:
        for hook in hooks:
            hook(method, path, status)

    return heard


def site_lock_for(runtime: Runtime) -> SiteLock | None:
    """The lock on the Jira site for this instance (None when the JQL names no project)."""
    project = lock_project(runtime.settings.jira.jql)
    if project is None:
        log.warning(
            "site lock off: the JQL names no project to hold it",
            jql=runtime.settings.jira.jql,
            hint="start the JQL with `project = KEY` so two instances cannot both write",
        )
        return None
    ttl = max(timedelta(minutes=10), 3 * runtime.settings.polling_interval)
    instance = runtime.state.instance_id()
    lock_file = runtime.settings.lock_path
    return SiteLock(runtime.client, project, instance, ttl=ttl, lock_file=lock_file)


def take_site_lock(site_lock: SiteLock | None, *, cycle_lock_held: bool = False) -> int | None:
    """Take the site lock; an exit status when this instance must not run, else None.

    ``cycle_lock_held``: see `SiteLock.acquire` (`run --once` beside its own daemon).
    Jira failing (after the retries) while the lock is read is left to the cycle, which
    reads first and stops on the same failure with exit 3 and its run recorded."""
    if site_lock is None:
        return None
    try:
        site_lock.acquire(cycle_lock_held=cycle_lock_held)
    except SiteLockBusy as exc:
        complain(f"error: {exc}")
        return EXIT_LOCKED
    except JiraError as exc:
        if exc.permanent:
            complain(f"error: cannot use the site lock: {exc}")
            return jira_exit(exc)
        log.warning("could not read the site lock: Jira is failing", error=str(exc))
    return None


def lost_site_lock(site_lock: SiteLock | None, *, renew: bool = False) -> bool:
    """Keep the site lock fresh (``renew``: now, else when a third of its life has
    passed); True when another instance holds it, so no cycle may run."""
    if site_lock is None:
        return False
    try:
        if renew:
            site_lock.acquire()  # also takes it back after an expiry
        else:
            site_lock.heartbeat()
    except SiteLockBusy as exc:
        log.error("another instance holds the site lock: no cycle now", reason=str(exc))
        return True
    except JiraError:
        return False  # Jira failing shows in the cycle itself
    return False


class SiteLockWatch:
    """The site lock's part of a cycle's ``should_stop``: True from the moment another
    instance is found holding it (kept, so the cycle's report can say why it stopped)."""

    def __init__(self, site_lock: SiteLock | None) -> None:
        self.site_lock = site_lock
        self.lost = False

    def __call__(self) -> bool:
        if not self.lost:
            self.lost = lost_site_lock(self.site_lock)
        return self.lost

    def watch(self, engine: Engine, shutdown: Shutdown) -> None:
        engine.should_stop = lambda: shutdown.stopping or self()
        engine.lost_lock = lambda: self.lost


def _once(runtime: Runtime, now: datetime, *, dry_run: bool, quiet: bool, metrics: Metrics) -> int:
    # a dry run changes nothing and is not a cycle worth counting
    textfile = runtime.settings.metrics_textfile if not dry_run else None
    lock = CycleLock(runtime.settings.lock_path)
    try:
        # a dry run creates no directory, and where there is none no instance runs
        if not dry_run or lock.path.parent.is_dir():
            lock.acquire(wait=10.0)
    except LockBusy as exc:
        complain(f"error: {exc}")
        return EXIT_LOCKED
    except OSError as exc:  # the lock file cannot be created: a config problem
        complain(f"error: {exc.strerror or exc}")
        return EXIT_CONFIG
    if textfile is not None:  # read under the lock: not before another run's file is done
        metrics.carry_over(textfile)
    site_lock = None if dry_run else site_lock_for(runtime)
    refused = take_site_lock(site_lock, cycle_lock_held=True)
    if refused is not None:
        lock.release()
        return refused
    shutdown = install_handlers()
    lock_watch = SiteLockWatch(site_lock)
    lock_watch.watch(runtime.engine, shutdown)
    runtime.client.interrupt_waits(shutdown.pause)  # SIGTERM never waits behind a Retry-After
    progress = Progress(sys.stderr) if not quiet and sys.stderr.isatty() else None
    runtime.engine.progress = progress
    before = dict(runtime.client.stats)
    states = Metrics.states_before(runtime.state) if textfile is not None else None
    after = before
    try:
        report = runtime.engine.cycle(now, dry_run=dry_run)
        after = dict(runtime.client.stats)  # the cycle's requests, not the site lock's
    finally:
        # the site lock goes first, while a stop still cuts short any wait for Jira
        if site_lock is not None:
            site_lock.release()
        runtime.client.interrupt_waits(None)
        shutdown.restore()
        lock.release()
        if progress is not None:
            progress.close()
    requests = request_delta(before, after)
    log.info("cycle requests", **requests)
    code = exit_code(report)
    if report.aborted and report.aborted_permanent:
        # retrying cannot help: say what is wrong and what to fix, even with --quiet (the
        # first error said: the line cron mails names it)
        complain(f"error: {report.aborted}")
    if textfile is not None:
        _observe(metrics, runtime, report, before, states)
        finished = code in (EXIT_OK, EXIT_PARTIAL)
        if not metrics.publish(textfile, the_reason=finished) and finished:
            # the cycle finished, but monitoring goes stale unless a person fixes this
            code = EXIT_CONFIG
    if not quiet:
        print(summary_line(report, requests))
    for key, why in report.skipped_actions:
        complain(f"warning: {key}: {why}", level=logging.WARNING)
    return code


class Progress:
    """``cases 1234/10040`` on one terminal line, redrawn at most every 0.2 s."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self._last = float("-inf")  # the first call always draws
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if done < total and now - self._last < 0.2:
            return
        self._last = now
        self.stream.write(f"\r  cases {done}/{total} ({100 * done // max(total, 1)}%)")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


class KeepAlive:
    """Tells systemd the daemon is alive while a long cycle makes progress, at most every
    :attr:`every` seconds: ``WATCHDOG=1`` once it said ``READY=1`` (so ``WatchdogSec=``
    does not kill a long healthy cycle), and before that ``EXTEND_TIMEOUT_USEC`` (so a
    first full read of a large site may outlast ``TimeoutStartSec=``).  Progress is a
    case done (the engine's per-case hook) or, while a cycle runs (:attr:`cycling`), a
    request Jira answered (the client's request hook, :meth:`answered`): a full read of a
    large site reads every search page of its ranking pass before the first case is
    done.  A cycle that stops making progress stops the pings; so does a daemon between
    cycles (backing off after failed ones, or waiting for the site lock), whatever Jira
    answers to its site lock's upkeep.
    https://www.freedesktop.org/software/systemd/man/sd_notify.html"""

    #: seconds between two pings at most
    every = 5.0
    #: how long systemd waits for the next word before start-up (well past `every`: one
    #: case may wait out a rate limit)
    extend_s = 300

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        self.clock = clock
        #: told of every sign of progress, unthrottled (`Metrics.made_progress`: /healthz)
        self.on_progress = on_progress
        self.ready = False
        #: a cycle is running: Jira's answers count as its progress
        self.cycling = False
        self._last = float("-inf")

    def __call__(self, done: int, total: int) -> None:
        self.alive()

    def answered(self, method: str, path: str, status: int) -> None:
        """A request's answer (the client's ``on_request`` hook): one Jira answered while a
        cycle runs counts as progress; a refusal to pace us (429), a server error or no
        answer (0) does not, nor does any answer between cycles, so a Jira that keeps
        failing still lets ``WatchdogSec=`` restart the bridge."""
        if self.cycling and 0 < status < 500 and status != 429:
            self.alive()

    def alive(self) -> None:
        if self.on_progress is not None:
            self.on_progress()
        now = self.clock()
        if now - self._last < self.every:
            return
        self._last = now
        if self.ready:
            sdnotify.notify("WATCHDOG=1")
        else:
            sdnotify.notify(f"EXTEND_TIMEOUT_USEC={self.extend_s * 1_000_000}")


def _daemon(
    runtime: Runtime, args: argparse.Namespace, metrics: Metrics, keep_alive: KeepAlive
) -> int:
    settings = runtime.settings
    known_fields = tuple(settings.fields)
    # the rules read at start (`--rules DIR`, else the config's): reloads read them again
    rules_path = settings.rules_path

    def loader() -> RuleSet:
        try:
            return load_ruleset(rules_path, known_fields, config=settings.path)
        except Exception:
            metrics.rules_reload_failed()
            raise

    watcher: RulesWatcher[RuleSet] = RulesWatcher([rules_path], loader)
    watcher.load()
    server: MetricsServer | None = None
    if settings.metrics_listen is not None:
        host, port = settings.metrics_listen
        try:
            server = MetricsServer(metrics, host, port).start()
        except OSError as exc:
            complain(f"error: metrics.listen {host}:{port}: {exc.strerror or exc}")
            return EXIT_CONFIG
        log.info("metrics served", url=f"http://{_hostport(*server.address)}/metrics")
    site_lock = site_lock_for(runtime)
    refused = take_site_lock(site_lock)
    if refused is not None:
        return refused
    # a reload re-reads the rules; it says so when bridge.yaml changed too (read at start)
    config_watch = ConfigWatch(settings, rules_given=bool(getattr(args, "rules", None)))

    def reload() -> None:  # inside the SIGHUP handler: attributes only
        watcher.request_reload()
        config_watch.request()

    shutdown: Shutdown = install_handlers(on_reload=reload)
    lock_watch = SiteLockWatch(site_lock)
    lock_watch.watch(runtime.engine, shutdown)
    runtime.client.interrupt_waits(shutdown.pause)  # SIGTERM never waits behind a Retry-After
    lock = CycleLock(settings.lock_path)
    interval = settings.polling_interval.total_seconds()
    watchdog = sdnotify.watchdog_seconds()
    if watchdog is not None and watchdog < interval:
        log.warning(
            "WatchdogSec= is shorter than polling.interval: systemd will restart the bridge"
            " between cycles; make it at least 3 intervals",
            watchdog_s=watchdog,
            interval_s=interval,
        )
    failures = 0
    runtime.engine.progress = keep_alive
    log.info("daemon started", interval_s=interval, jql=settings.jira.jql, rules=str(rules_path))
    try:
        while not shutdown.stopping:
            config_watch.poll()
            if watcher.poll() and not _adopt_rules(runtime, watcher.current, metrics):
                watcher.request_reload()  # Jira did not answer: the next cycle checks again
            pause = interval
            try:
                lock.acquire(wait=min(30.0, interval))
            except LockBusy as exc:
                log.warning("cycle skipped: lock busy", reason=str(exc))
            except OSError as exc:  # the lock file cannot be created: nothing will fix itself
                log.error("cannot take the cycle lock", error=exc.strerror or str(exc))
                return EXIT_CONFIG
            else:
                if lost_site_lock(site_lock, renew=True):
                    lock.release()  # another instance works on the site: no cycle now
                    shutdown.wait(pause)
                    continue
                lock_watch.lost = False  # held again: this cycle starts with the lock
                before = dict(runtime.client.stats)
                states = Metrics.states_before(runtime.state)
                keep_alive.cycling = True
                try:
                    report = runtime.engine.cycle(datetime.now(UTC))
                finally:
                    keep_alive.cycling = False
                    lock.release()
                log.info("cycle requests", **request_delta(before, runtime.client.stats))
                _observe(metrics, runtime, report, before, states)
                if report.aborted and report.aborted_permanent:
                    # a rejected token, a missing permission, a bad JQL query, no such
                    # resource: no retry fixes these, so stop and say what to fix
                    log.error("Jira refused the bridge for good; stopping", reason=report.aborted)
                    complain(f"error: {report.aborted}")
                    sdnotify.notify(f"STATUS=stopped: {report.aborted}")
                    return EXIT_CONFIG
                if report.lost_lock:
                    # not Jira failing: wait an interval and try the lock again, as when it
                    # is held at the start of a cycle; systemd hears no success
                    log.warning("another instance took the site lock; trying again later")
                    sdnotify.notify("STATUS=stopped: another instance took the site lock")
                elif report.aborted:
                    failures += 1
                    pause = min(MAX_BACKOFF, 30.0 * 2 ** min(failures - 1, 10))
                    log.warning("cycle failed; backing off", failures=failures, next_in_s=pause)
                    sdnotify.notify(f"STATUS=cycle failed ({failures} in a row): {report.aborted}")
                else:
                    failures = 0
                    pause = next_pause(runtime.state, datetime.now(UTC), interval)
                    # systemd hears that the bridge is alive only from a cycle that worked
                    status = f"STATUS=last cycle ok: {summary_line(report)}"
                    ready = () if keep_alive.ready else ("READY=1",)
                    sdnotify.notify(*ready, "WATCHDOG=1", status)
                    keep_alive.ready = True
            shutdown.wait(pause)
    finally:
        # the site lock goes first, while a stop still cuts short any wait for Jira
        if site_lock is not None:
            site_lock.release()
        runtime.client.interrupt_waits(None)
        shutdown.restore()
        sdnotify.notify("STOPPING=1")
        if server is not None:
            server.stop()
    log.info("daemon stopped", reason=shutdown.stop.reason or "stop requested")
    return EXIT_OK


#: The daemon never sleeps less than this between cycles, however close the next moment
#: (moments closer together than this are handled by one cycle), unless its polling
#: interval is shorter still.
MIN_PAUSE = 30.0


def next_pause(state: State, now: datetime, interval: float) -> float:
    """Seconds until the next cycle: the polling interval, or sooner when a case's next
    time-driven moment (a ladder step, the at-risk share, the due time) comes first."""
    wake = state.next_wakeup(now)
    if wake is None:
        return interval
    until = (wake - now).total_seconds() + 1.0  # just past the moment, so the case is due
    if until < interval:
        log.debug("sleeping to the next deadline", at=wake.isoformat(), seconds=round(until, 1))
    return min(interval, max(MIN_PAUSE, until))  # never later than the interval


def _observe(
    metrics: Metrics,
    runtime: Runtime,
    report: CycleReport,
    stats_before: Mapping[str, int],
    states: Mapping[str, str | None] | None,
) -> None:
    metrics.count_retries(stats_before, runtime.client.stats)
    metrics.observe_cycle(
        report,
        state=runtime.state,
        ruleset=runtime.ruleset,
        before=states,
        state_path=runtime.settings.state_path,
    )


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _adopt_rules(runtime: Runtime, ruleset: RuleSet, metrics: Metrics | None = None) -> bool:
    """New rules took over: re-check the site names they use before using them.  False
    when Jira could not be asked (down, refusing for now, or a stop cut the wait short):
    the old rules stay in force and the new ones are to be checked again."""
    try:
        site = Site.connect(runtime.client, runtime.settings, ruleset)
    except SiteError as exc:
        if metrics is not None:
            metrics.rules_reload_failed()
        log.error(
            "new rules name things the Jira site lacks; keeping the old ones", problems=exc.problems
        )
        return True
    except (JiraError, CircuitOpen, WaitInterrupted) as exc:
        log.warning(
            "new rules not checked against the Jira site (it did not answer); keeping the old "
            "ones until it does",
            reason=str(exc) or type(exc).__name__,
        )
        return False
    runtime.ruleset = ruleset
    runtime.site = site
    runtime.engine.ruleset = ruleset
    runtime.engine.site = site
    # every case is evaluated again under the new rules on the next cycle
    runtime.engine.policy = policy_fingerprint(runtime.settings)
    return True


__all__ = ["EXIT_CONFIG", "run", "summary_line"]
