"""One side of ``bench/evaluate.py --against``: a process holding one commit's code.

    python bench/evaluate_side.py TREE URL AT [RULES]

``TREE`` is a checkout of the commit (this one, or an older one unpacked in a
temporary directory); ``URL`` the sandbox serving the cases; ``AT`` the moment to
evaluate at (ISO 8601 with offset); ``RULES`` a rules directory to use instead of
the tree's own (``--rules-of``).  The process reads
every case through that commit's own client and snapshot code, with that commit's
own config and rules, then answers one line per request on stdin:

* ``pass 0`` / ``pass 1``: evaluate every case once (explain off / on) with that
  commit's own ``bench.evaluate.least_cpu`` and print the CPU seconds (the rules
  compiled once for the process, as a daemon compiles them, when that function
  takes them; an older commit keeps its memos at module level by itself);
* ``quit``: end.

It prints ``ready <cases>`` once the cases are read.  The script imports nothing of
this repository at module level: which ``bridge`` it runs is the tree's.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def use_tree(tree: Path) -> None:
    """Import ``bridge`` and ``bench`` from ``tree``: this script's own directory off the
    path (bench/http.py must not stand in for the standard library's), the tree first."""
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    sys.path.insert(0, str(tree))


def read_cases(tree: Path, url: str, token: str, rules: Path | None = None) -> tuple[Any, ...]:
    """(snapshots, organisation cases, bridge account, field names, rule set) as the
    tree's code reads them from the sandbox at ``url``, with the tree's config and its
    rules (or those in ``rules``)."""
    from bridge.logs import configure_logging
    from bridge.settings import load_settings
    from bridge.sync.cycle import Engine, Site
    from bridge.sync.poll import read_issues, scope_jql
    from bridge.sync.snapshot import SnapshotError
    from bridge.sync.state import State

    try:  # where the rule loader lives moved over time
        from bridge.rules.load import load_ruleset
    except ImportError:
        from bridge.policy.ruleset import load_ruleset  # type: ignore[no-redef]
    from bridge.jira.client import JiraClient

    configure_logging(quiet=True)
    base = load_settings(tree / "config" / "bridge.yaml", env={"JIRA_API_TOKEN": token})
    settings = dataclasses.replace(base, jira=dataclasses.replace(base.jira, url=url))
    if rules is not None:
        settings = dataclasses.replace(settings, rules_path=rules)
    ruleset = load_ruleset(settings.rules_path, tuple(settings.fields))
    client = JiraClient.from_settings(settings.jira)
    site = Site.connect(client, settings, ruleset)
    with tempfile.TemporaryDirectory(prefix="jsm-bridge-bench-") as tmp:
        engine = Engine(client, settings, ruleset, State.open(Path(tmp) / "state.sqlite"), site)
        snaps = [
            snap
            for _raw, snap in read_issues(
                client,
                scope_jql(settings.jira.jql, updated_since=None),
                site.fieldmap,
                bridge_account_id=site.bridge_account_id,
                status_categories=site.status_categories,
                customers=site.customer_ids,
            )
            if not isinstance(snap, SnapshotError)
        ]
        # later commits rank the cases in a pass of their own before grouping them
        ranked = engine.ranking(snaps) if hasattr(engine, "ranking") else snaps
        org_cases = engine._org_cases(ranked, complete=True)
    return snaps, org_cases, site.bridge_account_id, dict(site.field_names), ruleset


def serve(tree: Path, url: str, at: datetime, token: str, rules: Path | None = None) -> None:
    use_tree(tree)
    from bench.evaluate import least_cpu

    snaps, org_cases, account, names, ruleset = read_cases(tree, url, token, rules)
    shared = compiled_once(least_cpu, ruleset)
    print(f"ready {len(snaps)}", flush=True)
    for line in sys.stdin:
        words = line.split()
        if words[:1] != ["pass"]:
            break
        seconds = least_cpu(
            snaps,
            org_cases,
            ruleset,
            at,
            bridge_account=account,
            field_names=names,
            explain=words[1] == "1",
            passes=1,
            **shared,
        )
        print(seconds, flush=True)


def compiled_once(least_cpu: Any, ruleset: Any) -> dict[str, Any]:
    """The rules compiled once for every pass, as a daemon compiles them once at start,
    when the commit's ``least_cpu`` takes them (a commit whose memos live at module
    level keeps them from pass to pass by itself)."""
    if "policy" not in inspect.signature(least_cpu).parameters:
        return {}
    from bridge.policy.compiled import Policy

    return {"policy": Policy.compile(ruleset)}


if __name__ == "__main__":
    tree, url, at = sys.argv[1:4]
    rules = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    serve(Path(tree), url, datetime.fromisoformat(at), os.environ["JIRA_API_TOKEN"], rules)
