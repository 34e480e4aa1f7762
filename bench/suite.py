"""`make test` now against `make test` at an earlier commit, on this machine, in one run.

    .venv/bin/python bench/suite.py [--base e295f92] [--tree .] [--base-tree DIR] [--skip-whole]

Timed runs, each with cold mypy and ruff caches (as on a fresh clone) and no pytest cache:

1. ``make test`` at ``--base`` (default e295f92, before issue 10), in a temporary git
   worktree with its own ``.venv`` (``make install`` there, untimed; ``--base-tree``
   reuses a checkout of the base that has one);
2. if some of the base's tests are gone or renamed since: the same lint, types and
   pytest at the base, on its tests that still exist;
3. ``make test`` in ``--tree`` (default: this checkout, as it is on disk; ``--skip-whole``
   leaves it out);
4. lint, types and pytest (with the options its Makefile gives) in ``--tree`` on the
   tests the base had: the like-for-like set.  A test is matched by file and function,
   so a parametrised test brings all its parameters of today (both Jira dialects where
   the base ran one, say): the suite's growth is separated from its speed, at the cost
   of counting new parameters of old tests against today.

Each run's wall time and CPU time (user + system of every process it waited for) are
printed with their ratios to run 1, then the like-for-like ratio (4 over 2, or over 1).
CPU time is the steadier figure on a shared machine; wall time is the one people wait
for, so take that from a quiet machine.

Runtime on a quiet 2-core machine: about 15 minutes (set-up 1-2, base 2.7 + 2.5, now 5 +
3.5).  Nothing is written in this checkout: the worktree, its venv, the caches and the
logs live in a temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = "e295f92"


@dataclass(frozen=True)
class Timed:
    label: str
    wall: float
    cpu: float
    tests: int
    ok: bool
    log: Path


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """Run ``argv``; (wall seconds, CPU seconds of it and its children, exit code)."""
    cpu0, wall0 = children_cpu(), time.perf_counter()
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(argv)}  (in {cwd})\n")
        out.flush()
        done = subprocess.run(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    return time.perf_counter() - wall0, children_cpu() - cpu0, done.returncode


def fresh_env(caches: Path) -> dict[str, str]:
    """The environment for a timed run: cold mypy/ruff caches, no pytest cache."""
    for name in ("mypy", "ruff"):
        shutil.rmtree(caches / name, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["MYPY_CACHE_DIR"] = str(caches / "mypy")
    env["RUFF_CACHE_DIR"] = str(caches / "ruff")
    env["PYTEST_ADDOPTS"] = "-p no:cacheprovider"
    return env


def collect(tree: Path) -> list[str]:
    """The node ids pytest collects in ``tree``."""
    done = subprocess.run(
        [
            str(tree / ".venv/bin/pytest"),
            "--collect-only",
            "-q",
            "-o",
            "addopts=",
            "-p",
            "no:cacheprovider",
            "tests",
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    ids = [line for line in done.stdout.splitlines() if "::" in line and not line[:1].isspace()]
    if done.returncode != 0 or not ids:
        sys.exit(f"collecting tests in {tree} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return ids


def function(node_id: str) -> str:
    """A node id without its parameters: file::[class::]function."""
    return re.sub(r"\[.*\]$", "", node_id)


def passed(log: Path) -> int:
    """The number of passed tests in the last pytest summary line of ``log``."""
    found = re.findall(r"(\d+) passed", log.read_text(encoding="utf-8", errors="replace"))
    return int(found[-1]) if found else 0


def make_test(label: str, tree: Path, caches: Path, log: Path) -> Timed:
    log.write_text("", encoding="utf-8")
    wall, cpu, code = run(["make", "test"], tree, fresh_env(caches), log)
    return Timed(label, wall, cpu, passed(log), code == 0, log)


def pytest_args(tree: Path) -> list[str]:
    """The options `make test` gives pytest in ``tree`` (its Makefile's ``PYTEST_ARGS``;
    ``-n 2`` in a Makefile that has none)."""
    found = re.search(r"(?m)^PYTEST_ARGS\s*:?=\s*(.+)$", (tree / "Makefile").read_text())
    return found.group(1).split() if found else ["-n", "2"]


def make_test_on(label: str, tree: Path, ids: list[str], caches: Path, log: Path) -> Timed:
    """`make test` restricted to ``ids``: lint and types, then pytest, as `make test` runs them."""
    log.write_text("", encoding="utf-8")
    listing = caches / f"{label.replace(' ', '-')}.ids"
    listing.write_text("\n".join(ids) + "\n", encoding="utf-8")
    env = fresh_env(caches)
    targets = ["lint", "typecheck"]
    if "browser:" in (tree / "Makefile").read_text(encoding="utf-8"):
        targets.append("browser")
    w1, c1, code1 = run(["make", *targets], tree, env, log)
    pytest = [str(tree / ".venv/bin/pytest"), *pytest_args(tree), f"@{listing}"]
    w2, c2, code2 = run(pytest, tree, env, log)
    return Timed(label, w1 + w2, c1 + c2, passed(log), code1 == 0 and code2 == 0, log)


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def table(rows: list[Timed], base: Timed) -> None:
    print(f"\n{'run':<46} {'tests':>6} {'wall':>8} {'CPU':>8} {'wall/base':>10} {'CPU/base':>9}")
    for r in rows:
        flag = "" if r.ok else "  FAILED (see its log)"
        print(
            f"{r.label:<46} {r.tests:>6} {minutes(r.wall):>8} {minutes(r.cpu):>8}"
            f" {r.wall / base.wall:>10.2f} {r.cpu / base.cpu:>9.2f}{flag}"
        )


def set_up(base: str, where: Path) -> None:
    """A worktree of ``base`` at ``where`` with its own venv (`make install`)."""
    print(f"set-up: a worktree of {base} and its venv in {where} (about a minute) ...")
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(where), base], cwd=ROOT, check=True
    )
    subprocess.run(
        ["make", "install"],
        cwd=where,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def measure(base_name: str, base_tree: Path, tree: Path, work: Path, whole: bool) -> None:
    caches, logs = work / "caches", work / "logs"
    caches.mkdir(exist_ok=True)
    logs.mkdir(exist_ok=True)
    base_ids, now_ids = collect(base_tree), collect(tree)
    now_functions = {function(i) for i in now_ids}
    base_functions = {function(i) for i in base_ids}
    same = [i for i in now_ids if function(i) in base_functions]
    kept = [i for i in base_ids if function(i) in now_functions]
    gone = sorted(base_functions - now_functions)
    print(
        f"tests: {len(base_ids)} at {base_name}, {len(now_ids)} now; of the"
        f" {len(base_functions) - len(gone)} test functions both have, {len(kept)} tests at"
        f" {base_name} and {len(same)} now ({len(set(base_ids) & set(now_ids))} node ids alike)"
    )
    if gone:
        print(f"{len(gone)} test functions of {base_name} are gone or renamed since:")
        print("  " + "\n  ".join(gone))

    rows: list[Timed] = []

    def timed(result: Timed) -> Timed:
        rows.append(result)
        print(
            f"  {result.label}: {minutes(result.wall)} wall, {minutes(result.cpu)} CPU,"
            f" {result.tests} passed",
            flush=True,
        )
        return result

    print(f"timing (logs in {logs} while it runs) ...", flush=True)
    base = timed(make_test(f"make test at {base_name}", base_tree, caches, logs / "base.log"))
    base_same = base
    if gone:
        label = f"{base_name}, its tests that still exist"
        base_same = timed(make_test_on(label, base_tree, kept, caches, logs / "base-same.log"))
    if whole:
        timed(make_test("make test now (the whole suite)", tree, caches, logs / "now.log"))
    label = f"now, the tests {base_name} had"
    now_same = timed(make_test_on(label, tree, same, caches, logs / "now-same.log"))
    table(rows, base)
    print(
        f"\nlike for like (now on the tests {base_name} had / {base_name} on those tests):"
        f" wall {now_same.wall / base_same.wall:.2f}, CPU {now_same.cpu / base_same.cpu:.2f}"
        "  (issue 10's bar: wall at most 0.67, on a quiet machine)"
    )
    for r in rows:
        if not r.ok:
            text = r.log.read_text(encoding="utf-8", errors="replace")
            print(f"\n{r.label} failed; the end of its log:\n{text[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default=BASE, help="the earlier commit (default %(default)s)")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout measured now")
    parser.add_argument(
        "--base-tree",
        type=Path,
        help="an existing checkout of --base with its .venv (skips the set-up; kept)",
    )
    parser.add_argument("--skip-whole", action="store_true", help="leave out today's whole suite")
    args = parser.parse_args()
    tree = args.tree.resolve()
    if not (tree / ".venv/bin/pytest").exists():
        sys.exit(f"{tree}: no .venv; run `make install` there first")
    with tempfile.TemporaryDirectory(prefix="jsm-bridge-suite-") as tmp:
        work = Path(tmp)
        if args.base_tree is not None:
            measure(args.base, args.base_tree.resolve(), tree, work, not args.skip_whole)
            return
        base_tree = work / "base"
        set_up(args.base, base_tree)
        try:
            measure(args.base, base_tree, tree, work, not args.skip_whole)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, check=False
            )


if __name__ == "__main__":
    main()
