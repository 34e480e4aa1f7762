"""bridge.yaml is read once, at start: a reload (SIGHUP, ``systemctl reload``) re-reads
only the rules.  :class:`ConfigWatch` makes a reload say so when bridge.yaml was edited
since the daemon started: a warning naming the settings that differ, and that they take
effect on a restart (``systemctl restart jsm-bridge``)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import structlog

from bridge.settings import ConfigInvalid, Settings, load_settings

__all__ = ["ConfigWatch", "changed_settings"]

log = structlog.get_logger("jsm_bridge.run")

#: Settings' attributes as bridge.yaml spells them (the ``jira`` ones are ``jira.<name>``).
_KEYS = {
    "fields": "fields",
    "polling_interval": "polling.interval",
    "polling_overlap": "polling.overlap",
    "state_path": "state.path",
    "rules_path": "rules",
    "bridge_account": "jira.account",
    "metrics_listen": "metrics.listen",
    "metrics_textfile": "metrics.textfile",
    "workers": "writes.workers",
    "merge_comments": "writes.merge_comments",
}
#: Not settings of their own: where the file is, what `check` says, where the token came
#: from (``jira.token`` says it when the token itself changed); the lock follows state.path.
_IGNORED = {"path", "notes", "lock_path", "token_source"}


def changed_settings(before: Settings, after: Settings) -> list[str]:
    """The bridge.yaml keys whose values differ between two loads, in the file's order."""
    changed: list[str] = []
    for jira_field in dataclasses.fields(before.jira):
        name = jira_field.name
        if name not in _IGNORED and getattr(before.jira, name) != getattr(after.jira, name):
            changed.append(f"jira.{name}")
    for item in dataclasses.fields(before):
        name = item.name
        if name in _IGNORED or name == "jira":
            continue
        if getattr(before, name) != getattr(after, name):
            changed.append(_KEYS.get(name, name))
    return changed


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class ConfigWatch:
    """Remembers bridge.yaml as the daemon started with it; :meth:`request` (signal-safe:
    one attribute) asks the next :meth:`poll` to compare it with the file as it is now."""

    def __init__(self, settings: Settings, *, rules_given: bool = False) -> None:
        self.settings = settings
        self.path = settings.path
        self.digest = _digest(self.path)
        #: `--rules DIR` was given: the config's `rules:` is not the one in force
        self.rules_given = rules_given
        self._requested = False

    def request(self) -> None:
        self._requested = True

    def poll(self) -> list[str] | None:
        """When a reload was requested and bridge.yaml changed since start: warn that its
        changes wait for a restart, and return the keys that differ (else None)."""
        if not self._requested:
            return None
        self._requested = False
        if _digest(self.path) == self.digest:
            return None
        restart = "systemctl restart jsm-bridge (or start `jsm-bridge run` again)"
        try:
            now = load_settings(self.path)
        except ConfigInvalid as exc:
            log.warning(
                "bridge.yaml changed since start and no longer loads; a reload re-reads only"
                " the rules, so the bridge goes on with the settings it started with",
                config=str(self.path),
                problems=[str(p) for p in exc.problems],
                hint=f"fix it (jsm-bridge check --config {self.path}) before a restart",
            )
            return []
        changed = changed_settings(self.settings, now)
        if self.rules_given and "rules" in changed:
            changed.remove("rules")  # `--rules DIR` is in force, whatever the config says
        if not changed:
            log.info("bridge.yaml edited since start; no setting differs", config=str(self.path))
            return []
        log.warning(
            "bridge.yaml changed since start: a reload re-reads only the rules; these settings"
            " take effect on a restart",
            config=str(self.path),
            changed=changed,
            hint=restart,
        )
        return changed
