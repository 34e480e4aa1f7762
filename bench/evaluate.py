"""Evaluation benchmark: µs per ``evaluate()`` over the 10,000 generated cases.

    .venv/bin/python bench/evaluate.py [--cases 10000] [--cycled] [--profile]
    .venv/bin/python bench/evaluate.py --against e295f92 [--cycled] [--repeat 7]
    .venv/bin/python bench/evaluate.py --against e295f92 --rules-of e295f92

The snapshots are built as ``bench/cycle.py`` builds them (the in-process sandbox,
read through the client and the snapshot layer), once; they are kept in a pickle
under the temporary directory so later runs start in a second (``--fresh`` rebuilds).
``--cycled`` first runs one sync cycle so the snapshots carry the bridge's own
comments, labels and priority changes (as in the cycle benchmark's evaluation step).
``--profile`` prints the cProfile of one pass (explain off, as a sync cycle runs).
``--against REV`` times this commit and REV side by side in one run: the same cases
from one sandbox, each read and evaluated by its own commit's code in a process of
its own, passes interleaved (see :func:`against`); prints both and the ratio.
``--rules-of REV`` has both sides evaluate with REV's rule files: the decisions REV
knows how to take, so the ratio prices the code alone (the rules added since ask
each case for more: further ladder actions, usage limits, more required items).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import hashlib
import math
import os
import pickle
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.policy.compiled import Policy  # noqa: E402
from bridge.policy.cycle import Cycle  # noqa: E402
from bridge.policy.evaluate import evaluate  # noqa: E402
from bridge.policy.model import Desired, EvalContext, IssueSnapshot, MonthCase, RuleSet  # noqa: E402
from bridge.rules.load import load_ruleset  # noqa: E402
from bridge.settings import load_settings  # noqa: E402

Built = tuple[list[IssueSnapshot], dict[str, tuple[MonthCase, ...]], str, dict[str, str]]


def build(cases: int, cycled: bool) -> Built:
    """The generated cases as this commit reads them (after one sync cycle when ``cycled``)."""
    from bench.evaluate_side import read_cases
    from bridge.sandbox import seed as seeds

    with serve_cases(cases, cycled) as url:
        snaps, org_cases, account, names, _ = read_cases(ROOT, url, seeds.BRIDGE_TOKEN)
    return snaps, org_cases, account, names


@contextlib.contextmanager
def serve_cases(cases: int, cycled: bool) -> Iterator[str]:
    """The in-process sandbox holding ``bench/cycle.py``'s generated cases (after one sync
    cycle of this commit at its NOW when ``cycled``), served on loopback: its URL."""
    from bench.cycle import NOW, build_store
    from bridge.jira.client import JiraClient
    from bridge.logs import configure_logging
    from bridge.sandbox import seed as seeds
    from bridge.sandbox.server import SandboxServer
    from bridge.sync.cycle import Engine, Site
    from bridge.sync.state import State

    configure_logging(quiet=True)
    store, _ = build_store(cases)
    server = SandboxServer(store, "127.0.0.1", 0).start()
    try:
        if cycled:
            base = load_settings(
                ROOT / "config" / "bridge.yaml", env={"JIRA_API_TOKEN": seeds.BRIDGE_TOKEN}
            )
            jira = dataclasses.replace(base.jira, url=server.url)
            settings = dataclasses.replace(base, jira=jira)
            ruleset = load_ruleset(settings.rules_path, tuple(settings.fields))
            client = JiraClient.from_settings(settings.jira)
            site = Site.connect(client, settings, ruleset)
            with tempfile.TemporaryDirectory(prefix="jsm-bridge-bench-") as tmp:
                state = State.open(Path(tmp) / "state.sqlite")
                Engine(client, settings, ruleset, state, site).cycle(NOW)
        yield server.url
    finally:
        server.stop()


def load(cases: int, cycled: bool, fresh: bool) -> Built:
    """The built cases, kept in a pickle named after the layout of the classes pickled
    (``bridge/policy/model.py``): another commit's records are never read as this one's."""
    layout = hashlib.sha256((ROOT / "bridge" / "policy" / "model.py").read_bytes()).hexdigest()
    name = f"jsm-bridge-bench-eval-{cases}-{int(cycled)}-{layout[:12]}.pickle"
    cache = Path(tempfile.gettempdir()) / name
    if cache.exists() and not fresh:
        with cache.open("rb") as fh:
            built: Built = pickle.load(fh)
        return built
    built = build(cases, cycled)
    with cache.open("wb") as fh:
        pickle.dump(built, fh)
    return built


def least_cpu(
    snaps: list[IssueSnapshot],
    org_cases: dict[str, tuple[MonthCase, ...]],
    ruleset: RuleSet,
    at: datetime,
    *,
    bridge_account: str | None,
    field_names: dict[str, str],
    explain: bool = False,
    passes: int = 7,
    policy: Policy | None = None,
) -> float:
    """The least CPU seconds of ``passes`` evaluations of every snapshot, as a cycle runs.

    The rules are compiled once (as the daemon does at start; ``policy``: compiled
    by the caller, shared by its calls); each pass starts a new :class:`Cycle`, so
    what a cycle works out once (the quota index) is worked out inside every timed
    pass, and what the compiled rules keep from cycle to cycle is reused as a
    daemon's later cycles reuse it.  The least pass is the one the machine
    disturbed least.
    """
    if policy is None:
        policy = Policy.compile(ruleset)
    context = EvalContext(
        org_cases=org_cases,
        bridge_account=bridge_account,
        field_names=field_names,
        explain=explain,
    )
    best = math.inf
    for _ in range(passes):
        c0 = time.process_time()
        cycle = Cycle.start(at, context)
        for snap in snaps:
            evaluate(snap, policy, cycle)
        best = min(best, time.process_time() - c0)
    return best


class Side:
    """A process evaluating with one commit's code (``bench/evaluate_side.py``)."""

    def __init__(
        self, label: str, tree: Path, url: str, at: datetime, token: str, rules: Path | None
    ) -> None:
        self.label = label
        script = Path(__file__).resolve().parent / "evaluate_side.py"
        rules_arg = [str(rules)] if rules is not None else []
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(tree), url, at.isoformat(), *rules_arg],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "JIRA_API_TOKEN": token},
        )
        self.cases = 0

    def ready(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if line[:1] != ["ready"]:
            raise SystemExit(f"{self.label}: could not read the cases (see above)")
        self.cases = int(line[1])

    def once(self, explain: bool) -> float:
        """CPU seconds of one evaluation of every case."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"pass {int(explain)}\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def against(
    rev: str, cases: int, cycled: bool, passes: int, at: datetime, rules_of: str | None = None
) -> None:
    """Time this commit's evaluation side by side with ``rev``'s, in one run.

    ``rev`` is unpacked into a temporary directory (``git archive``).  Both read the same
    generated cases from one sandbox (after one sync cycle of this commit when
    ``cycled``), each through its own client and snapshot code, with its own config and
    rules (an older commit refuses the keys added since).  Then the passes alternate,
    old and new, in turn first, so both see the same machine load; each side's least
    and median CPU time are shown, and their ratios per case.  With ``rules_of`` both
    sides use that commit's rule files (unpacked beside it) instead of their own.
    """
    from bridge.sandbox import seed as seeds

    head = git("rev-parse", "--short", "HEAD")
    dirty = " + changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    with tempfile.TemporaryDirectory(prefix="jsm-bridge-against-") as tmp:
        tree = unpack(rev, Path(tmp) / "tree")
        rules = None
        if rules_of is not None:
            rules = unpack(rules_of, Path(tmp) / "rules-of", "rules") / "rules"
        with serve_cases(cases, cycled) as url:
            sides = [
                Side(rev, tree, url, at, seeds.BRIDGE_TOKEN, rules),
                Side(f"{head}{dirty}", ROOT, url, at, seeds.BRIDGE_TOKEN, rules),
            ]
            for side in sides:
                side.ready()
        load_before = os.getloadavg()[0]
        times: dict[tuple[str, bool], list[float]] = {
            (s.label, e): [] for s in sides for e in (False, True)
        }
        for explain in (False, True):
            for n in range(passes):
                for side in sides if n % 2 == 0 else sides[::-1]:
                    times[side.label, explain].append(side.once(explain))
        for side in sides:
            side.close()
    old, new = sides
    kind = "after one sync cycle" if cycled else "fresh"
    rules_note = f", both with the rule files of {rules_of}" if rules_of is not None else ""
    print(
        f"evaluation CPU, {kind} cases{rules_note}, {passes} interleaved passes each "
        f"(load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}):"
    )
    print(f"{'':<20}{old.label:>24}{new.label:>24}{'ratio':>8}")
    for explain in (False, True):
        for how, pick in (("least", min), ("median", statistics.median)):
            cpu = {s.label: pick(times[s.label, explain]) / s.cases for s in sides}
            cells = [f"{cpu[s.label] * s.cases:.3f} s ({cpu[s.label] * 1e6:.1f} µs)" for s in sides]
            label = f"explain {'on' if explain else 'off'}, {how}"
            ratio = cpu[new.label] / cpu[old.label]
            print(f"{label:<20}{cells[0]:>24}{cells[1]:>24}{ratio:>7.2f}x")
    print(f"cases read: {old.cases} ({old.label}), {new.cases} ({new.label}); ratio per case")


def unpack(rev: str, dest: Path, *paths: str) -> Path:
    """``rev``'s files (or only ``paths`` of them) unpacked into ``dest``; returns ``dest``."""
    dest.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, *paths], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def _plain(desired: Desired) -> dict[str, object]:
    """A Desired as plain values (comments, transitions and the quota position as
    tuples, explanations as pairs): records outlive class layouts."""
    out: dict[str, object] = {}
    for f in dataclasses.fields(desired):
        value = getattr(desired, f.name)
        if f.name == "comments":
            value = tuple((c.action_id, c.public, c.body) for c in value)
        elif f.name == "transitions":
            value = tuple((t.action_id, t.name) for t in value)
        elif f.name == "quota" and value is not None:
            value = (value.used, value.limit, value.over, value.month)
        elif f.name == "explanation":
            value = tuple((e.topic, e.text) for e in value)
        out[f.name] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--cycled", action="store_true")
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quiet-only", action="store_true", help="time explain=False only")
    parser.add_argument(
        "--record", type=Path, help="pickle every Desired (several moments, explain on and off)"
    )
    parser.add_argument("--check", type=Path, help="compare every Desired with a --record file")
    parser.add_argument(
        "--snapshots",
        type=Path,
        help="time the snapshots pickled in this file (bench/cycle.py hands over its own)",
    )
    parser.add_argument(
        "--at",
        type=datetime.fromisoformat,
        help="evaluate at this moment (ISO 8601 with offset; default: bench/cycle.py's NOW)",
    )
    parser.add_argument(
        "--seconds", action="store_true", help="print only the least CPU seconds (explain off)"
    )
    parser.add_argument(
        "--against",
        metavar="REV",
        help="time this commit side by side with REV (e.g. e295f92) in one run",
    )
    parser.add_argument(
        "--rules-of",
        metavar="REV",
        help="with --against: both sides evaluate with REV's rule files (the code alone)",
    )
    args = parser.parse_args(argv)
    from bench.cycle import NOW

    if args.rules_of and not args.against:
        parser.error("--rules-of compares two commits: give --against REV too")
    if args.against:
        against(args.against, args.cases, args.cycled, args.repeat, args.at or NOW, args.rules_of)
        return 0

    if args.snapshots is not None:
        with args.snapshots.open("rb") as fh:
            built: Built = pickle.load(fh)
        snaps, org_cases, bridge_account, field_names = built
    else:
        snaps, org_cases, bridge_account, field_names = load(args.cases, args.cycled, args.fresh)
    settings = load_settings(ROOT / "config" / "bridge.yaml", env={"JIRA_API_TOKEN": "x"})
    ruleset: RuleSet = load_ruleset(settings.rules_path, tuple(settings.fields))
    at = args.at or NOW
    policy = Policy.compile(ruleset)
    if args.record or args.check:
        outcomes = []
        for moment in (NOW, NOW + timedelta(hours=3), NOW + timedelta(days=4)):
            for explain in (False, True):
                context = EvalContext(
                    org_cases=org_cases,
                    bridge_account=bridge_account,
                    field_names=field_names,
                    explain=explain,
                )
                cycle = Cycle.start(moment, context)
                outcomes.append([_plain(evaluate(s, policy, cycle)) for s in snaps])
        if args.record:
            with args.record.open("wb") as fh:
                pickle.dump(outcomes, fh)
            print(f"recorded {sum(map(len, outcomes))} outcomes in {args.record}")
        else:
            with args.check.open("rb") as fh:
                recorded = pickle.load(fh)
            differ = [
                (a, b)
                for run, old in zip(outcomes, recorded, strict=True)
                for a, b in zip(run, old, strict=True)
                if a != b
            ]
            for a, b in differ[:3]:
                print(f"DIFFERS {a['key']}:\n  now {a}\n  was {b}")
            print(f"{len(differ)} of {sum(map(len, outcomes))} outcomes differ")
            if differ:
                return 1
    if args.seconds:
        print(
            least_cpu(
                snaps,
                org_cases,
                ruleset,
                at,
                bridge_account=bridge_account,
                field_names=field_names,
                passes=args.repeat,
            )
        )
        return 0
    for explain in (False,) if args.quiet_only else (False, True):
        best = least_cpu(
            snaps,
            org_cases,
            ruleset,
            at,
            bridge_account=bridge_account,
            field_names=field_names,
            explain=explain,
            passes=args.repeat,
        )
        print(
            f"explain={explain!s:<5} {len(snaps)} snapshots: {best:.3f} s CPU "
            f"({best / max(1, len(snaps)) * 1e6:.1f} µs each)"
        )
    if args.profile:
        context = EvalContext(
            org_cases=org_cases,
            bridge_account=bridge_account,
            field_names=field_names,
            explain=False,
        )
        profiler = cProfile.Profile()
        profiler.enable()
        cycle = Cycle.start(at, context)
        for snap in snaps:
            evaluate(snap, policy, cycle)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
