"""Prometheus metrics and the health answer, for the daemon and for ``run --once``.

One :class:`Metrics` object per process holds its own registry (prometheus-client;
nothing is hand-formatted).  The daemon serves it on ``metrics.listen`` with
:class:`MetricsServer` (``/metrics`` and ``/healthz``); ``run --once`` writes it
to ``metrics.textfile`` for node-exporter's textfile collector (mode 0644), carrying
the counters of the previous run's file forward so they keep counting across runs; a
run whose cycle could not start records a failed one (:meth:`Metrics.observe_failed_start`).

Figures after each cycle (:meth:`Metrics.observe_cycle`):

* ``jsm_bridge_last_cycle_timestamp_seconds``, ``jsm_bridge_last_cycle_success``,
  ``jsm_bridge_last_success_timestamp_seconds``, ``jsm_bridge_cycle_duration_seconds``
  and ``jsm_bridge_cycles_total{result}``;
* ``jsm_bridge_cases{customer,tier,sla_state}``: every case the local state knows,
  by its SLA state at its last evaluation (unknown organisations are counted under
  ``customer="(no agreement)"``);
* ``jsm_bridge_breaches_total{customer,tier}``: cases that went from not breached to
  ``breached`` (or straight to ``missed``); ``jsm_bridge_escalations_total`` counts
  the escalation-ladder steps whose comments or transitions a cycle made;
* ``jsm_bridge_writes_total{kind}``, ``jsm_bridge_failed_actions_total``,
  ``jsm_bridge_requests_total{method,status}`` (``status="error"`` when no answer
  came), ``jsm_bridge_retries_total{reason}``;
* ``jsm_bridge_last_cycle_skipped_cases`` and ``jsm_bridge_skipped_cases_total``;
* ``jsm_bridge_rules_reload_failures_total`` and ``jsm_bridge_state_file_bytes``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import socket
import tempfile
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.parser import text_string_to_metric_families

from bridge.logs import complain
from bridge.policy.model import RuleSet
from bridge.sync.cycle import CycleReport
from bridge.sync.state import State

log = structlog.get_logger("jsm_bridge.metrics")

__all__ = ["NO_AGREEMENT", "Health", "Metrics", "MetricsServer"]

#: The ``customer`` label of cases whose organisation has no agreement on file.
NO_AGREEMENT = "(no agreement)"
_BREACHED = frozenset({"breached", "missed"})
#: ``metrics.textfile``'s mode: node-exporter reads it as another user
TEXTFILE_MODE = 0o644
#: Seconds without progress after which a first cycle that has not finished counts as
#: stuck (as long as `KeepAlive.extend_s`: systemd waits that long for a word too).
STUCK_AFTER_S = 300.0


@dataclass(frozen=True)
class Health:
    """What ``/healthz`` answers: did the last cycle succeed, and when; or, before any
    cycle has finished, is the first one still making progress (``starting``)."""

    ok: bool
    last_cycle_at: float | None  # Unix time
    last_success_at: float | None
    detail: str
    #: no cycle has finished yet, and the first is making progress: healthy so far
    starting: bool = False

    @property
    def healthy(self) -> bool:
        """HTTP 200 (else 503): the last cycle succeeded, or the first is under way."""
        return self.ok or self.starting

    def as_json(self, now: float) -> dict[str, Any]:
        def at(value: float | None) -> str | None:
            if value is None:
                return None
            return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")

        return {
            "status": "ok" if self.ok else "starting" if self.starting else "failing",
            "last_cycle_succeeded": self.ok if self.last_cycle_at is not None else None,
            "last_cycle_at": at(self.last_cycle_at),
            "last_success_at": at(self.last_success_at),
            "seconds_since_success": (
                round(now - self.last_success_at, 1) if self.last_success_at is not None else None
            ),
            "detail": self.detail,
        }


class Metrics:
    """The bridge's metrics in a registry of their own (one per process, or per test)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.registry = CollectorRegistry()
        r = self.registry
        self.last_cycle = Gauge(
            "jsm_bridge_last_cycle_timestamp_seconds",
            "When the last cycle finished (Unix time)",
            registry=r,
        )
        self.last_cycle_ok = Gauge(
            "jsm_bridge_last_cycle_success",
            "1 when the last cycle finished without Jira failing, else 0",
            registry=r,
        )
        self.last_success = Gauge(
            "jsm_bridge_last_success_timestamp_seconds",
            "When a cycle last finished without Jira failing (Unix time)",
            registry=r,
        )
        self.duration = Gauge(
            "jsm_bridge_cycle_duration_seconds", "Wall time of the last cycle", registry=r
        )
        self.cycles = Counter(
            "jsm_bridge_cycles", "Cycles run, by result (ok, failed)", ["result"], registry=r
        )
        self.cases = Gauge(
            "jsm_bridge_cases",
            "Cases the bridge knows, by customer, tier and SLA state at their last evaluation",
            ["customer", "tier", "sla_state"],
            registry=r,
        )
        self.breaches = Counter(
            "jsm_bridge_breaches",
            "Cases whose response deadline passed (became breached, or missed)",
            ["customer", "tier"],
            registry=r,
        )
        self.escalations = Counter(
            "jsm_bridge_escalations",
            "Escalation-ladder steps acted on (their comments or transitions made)",
            ["customer", "tier"],
            registry=r,
        )
        self.writes = Counter(
            "jsm_bridge_writes", "Writes to Jira that landed, by kind", ["kind"], registry=r
        )
        self.failed_actions = Counter(
            "jsm_bridge_failed_actions", "Actions that failed (retried next cycle)", registry=r
        )
        self.requests = Counter(
            "jsm_bridge_requests",
            "HTTP requests to Jira, by method and status (error: no answer)",
            ["method", "status"],
            registry=r,
        )
        self.retries = Counter(
            "jsm_bridge_retries",
            "Requests retried, by reason (429, 5xx, timeout, connection)",
            ["reason"],
            registry=r,
        )
        self.skipped_last = Gauge(
            "jsm_bridge_last_cycle_skipped_cases",
            "Cases the last cycle could not read or evaluate",
            registry=r,
        )
        self.skipped = Counter(
            "jsm_bridge_skipped_cases", "Cases skipped by a cycle (summed)", registry=r
        )
        self.reload_failures = Counter(
            "jsm_bridge_rules_reload_failures",
            "Rule reloads refused (bad files, or names the site lacks)",
            registry=r,
        )
        self.state_bytes = Gauge(
            "jsm_bridge_state_file_bytes",
            "Size of the local state database (with its write-ahead log)",
            registry=r,
        )
        self._counters: dict[str, Counter] = {
            c._name: c  # prometheus-client keeps the family name without "_total"
            for c in (
                self.cycles,
                self.breaches,
                self.escalations,
                self.writes,
                self.failed_actions,
                self.requests,
                self.retries,
                self.skipped,
                self.reload_failures,
            )
        }
        self._carried_gauges: dict[str, Gauge] = {
            g._name: g for g in (self.cases, self.state_bytes)
        }
        self._lock = threading.Lock()
        self._health = Health(False, None, None, "no cycle has finished yet")
        #: when the first cycle last made progress (at first: when this process began)
        self._progress_at = clock()

    # ------------------------------------------------------------------ feeding

    def on_request(self, method: str, _path: str, status: int) -> None:
        """`JiraClient`'s ``on_request`` hook: one call per HTTP attempt."""
        self.requests.labels(method.upper(), str(status) if status else "error").inc()

    def count_retries(self, before: Mapping[str, int], after: Mapping[str, int]) -> None:
        """Retries between two snapshots of `JiraClient.stats` (``retries_<reason>`` keys)."""
        for key, value in after.items():
            if key.startswith("retries_"):
                delta = value - before.get(key, 0)
                if delta > 0:
                    self.retries.labels(key.removeprefix("retries_")).inc(delta)

    def made_progress(self) -> None:
        """A cycle made progress (`KeepAlive`'s ``on_progress``: a case done, or Jira
        answering while a cycle runs): until one has finished, ``/healthz`` says
        ``starting`` while such progress keeps coming."""
        now = self.clock()
        with self._lock:
            self._progress_at = now

    def rules_reload_failed(self) -> None:
        self.reload_failures.inc()

    @staticmethod
    def states_before(state: State) -> dict[str, str | None]:
        """Each case's SLA state as the local state last recorded it (call before a cycle)."""
        return state.sla_states()

    def observe_cycle(
        self,
        report: CycleReport,
        *,
        state: State | None,
        ruleset: RuleSet,
        before: Mapping[str, str | None] | None = None,
        state_path: Path | None = None,
    ) -> None:
        """Record a finished cycle; ``before`` is :meth:`states_before` from just before it."""
        # a cycle cut short by another instance taking the site lock did not do its work
        ok = report.aborted is None and not report.lost_lock
        finished = self._ended(ok, report.seconds)
        self.skipped_last.set(len(report.skipped))
        self.skipped.inc(len(report.skipped))
        if not report.dry_run:
            for kind, n in report.writes.items():
                self.writes.labels(kind).inc(n)
            self.failed_actions.inc(report.failed_actions)
            previous = before or {}
            for outcome in report.outcomes:
                if outcome.error:
                    continue
                # the customer the case counts under (for a case naming no organisation,
                # the one found from its reporter), as `jsm_bridge_cases` counts it
                customer, tier = _who(ruleset, outcome.customer or outcome.organization)
                if outcome.sla_state in _BREACHED and previous.get(outcome.key) not in _BREACHED:
                    self.breaches.labels(customer, tier).inc()
                steps = outcome.escalation_steps
                if steps and outcome.failed == 0:
                    self.escalations.labels(customer, tier).inc(len(steps))
        if state is not None:
            self._count_cases(state, ruleset)
        if state_path is not None:
            self.state_bytes.set(_file_bytes(state_path))
        if ok:
            detail = f"{report.read} cases read, {report.total_writes} writes"
            if report.skipped:
                detail += f", {len(report.skipped)} skipped"
        elif report.aborted is None:
            detail = "stopped: another instance took the site lock"
        else:
            detail = f"Jira failed: {report.aborted}"
        self._health_after(ok, finished, detail)

    def observe_failed_start(self, problem: str, seconds: float) -> None:
        """Record a ``run --once`` whose cycle never started (Jira down, the token refused,
        the state unusable) as a failed cycle: monitoring sees it as it sees a cycle Jira
        failed, not as the last good cycle still standing."""
        finished = self._ended(False, seconds)
        self.skipped_last.set(0)
        self._health_after(False, finished, f"start failed: {problem}")

    def _ended(self, ok: bool, seconds: float) -> float:
        """Count a cycle that ended (``ok``: it did its work) and took ``seconds``; when."""
        finished = self.clock()
        self.last_cycle.set(finished)
        self.last_cycle_ok.set(1 if ok else 0)
        self.duration.set(seconds)
        self.cycles.labels("ok" if ok else "failed").inc()
        if ok:
            self.last_success.set(finished)
        return finished

    def _health_after(self, ok: bool, finished: float, detail: str) -> None:
        """What ``/healthz`` says after a cycle that ended at ``finished``."""
        with self._lock:
            last_success = finished if ok else self._health.last_success_at
            self._health = Health(ok, finished, last_success, detail)

    def _count_cases(self, state: State, ruleset: RuleSet) -> None:
        tally: Tally[tuple[str, str, str]] = Tally()
        for organization, sla_state, count in state.sla_state_counts():
            customer, tier = _who(ruleset, organization)
            tally[(customer, tier, sla_state or "none")] += count
        self.cases.clear()
        for (customer, tier, sla_state), count in tally.items():
            self.cases.labels(customer, tier, sla_state).set(count)

    # ------------------------------------------------------------------ reading

    def health(self) -> Health:
        with self._lock:
            health, progress_at = self._health, self._progress_at
        if health.last_cycle_at is not None:
            return health
        # no cycle has finished yet: a first full read of a large site takes long
        quiet = max(0.0, self.clock() - progress_at)
        if quiet < STUCK_AFTER_S:
            detail = f"the first cycle is running (last progress {quiet:.0f} s ago)"
            return dataclasses.replace(health, starting=True, detail=detail)
        detail = f"no cycle has finished yet, and none has made progress for {quiet:.0f} s"
        return dataclasses.replace(health, detail=detail)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def write_textfile(self, path: Path) -> None:
        """Write the registry for node-exporter (atomically: a temporary file, then rename).

        The file is mode 0644 whatever the umask (the units' ``UMask=0077`` would make it
        0600): node-exporter reads it as another user."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), TEXTFILE_MODE)
                out.write(self.exposition())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def publish(self, path: Path, *, the_reason: bool = True) -> bool:
        """:meth:`write_textfile`; False (and a line saying which file and what to do)
        when it cannot be written: monitoring would go on showing the previous file.  The
        line is the operator's (`complain`): an error when it is why ``run --once`` fails
        (``the_reason``: the line cron mails with ``-q`` then names it), else a warning,
        so that the run's own reason stays the one mailed."""
        try:
            self.write_textfile(path)
        except OSError as exc:
            kind = "error" if the_reason else "warning"
            complain(
                f"{kind}: metrics textfile not written: {path}: {exc.strerror or exc}; "
                "monitoring shows the previous run's figures until it is: let this user "
                f"write to {path.parent} (under systemd: ReadWritePaths= in "
                "jsm-bridge-once.service, and the directory writable by its group) or "
                "point metrics.textfile elsewhere",
                level=logging.ERROR if the_reason else logging.WARNING,
            )
            return False
        return True

    def carry_over(self, path: Path) -> None:
        """Start from the counters (and the last success time) of a previous run's textfile,
        so they keep counting across ``run --once`` runs; an unreadable file is ignored.
        The case counts and the state file's size are carried too: a run whose cycle
        never started knows no newer ones (a cycle counts them afresh)."""
        try:
            text = path.read_text(encoding="utf-8")
            families = list(text_string_to_metric_families(text))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            if path.exists():
                log.warning(
                    "metrics textfile not read; counters start again",
                    path=str(path),
                    problem=f"{type(exc).__name__}: {exc}",
                )
            return
        for family in families:
            if family.name == "jsm_bridge_last_success_timestamp_seconds":
                for sample in family.samples:
                    self.last_success.set(sample.value)
                    with self._lock:
                        self._health = Health(False, None, sample.value, "carried over")
                continue
            gauge = self._carried_gauges.get(family.name)
            if gauge is not None and family.type == "gauge":
                for sample in family.samples:
                    # labels this version does not use (another version's file): left out
                    with contextlib.suppress(ValueError):
                        (gauge.labels(**sample.labels) if sample.labels else gauge).set(
                            sample.value
                        )
                continue
            counter = self._counters.get(family.name)
            if counter is None or family.type != "counter":
                continue
            for sample in family.samples:
                if not sample.name.endswith("_total") or sample.value <= 0:
                    continue
                with contextlib.suppress(ValueError):
                    target = counter.labels(**sample.labels) if sample.labels else counter
                    target.inc(sample.value)


def _who(ruleset: RuleSet, organization: str | None) -> tuple[str, str]:
    customer = ruleset.customer(organization) if organization else None
    if customer is None:
        return NO_AGREEMENT, "none"
    tier = ruleset.tiers.get(customer.tier)
    return customer.organization, tier.name if tier is not None else customer.tier


def _file_bytes(path: Path) -> int:
    total = 0
    for candidate in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(OSError):
            total += os.path.getsize(candidate)
    return total


# ------------------------------------------------------------------------------ the server


class _HTTPServer6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class MetricsServer:
    """``/metrics`` (Prometheus text format) and ``/healthz`` (JSON; 200 when the last cycle
    succeeded or the first is still making progress, 503 otherwise) on a background
    thread."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self.metrics = metrics
        owner = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "jsm-bridge"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, owner.metrics.exposition())
                elif path in ("/healthz", "/health"):
                    health = owner.metrics.health()
                    body = json.dumps(health.as_json(owner.metrics.clock()), indent=1)
                    self._send(200 if health.healthy else 503, "application/json", body.encode())
                else:
                    self._send(404, "text/plain; charset=utf-8", b"try /metrics or /healthz\n")

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
                pass

        server_class = _HTTPServer6 if ":" in host else ThreadingHTTPServer
        self._httpd = server_class((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> MetricsServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="jsm-bridge-metrics", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
