"""``jsm-bridge init DIR``: a config directory to start from, out of the installed package.

Writes ``DIR/config/bridge.yaml`` (pointing at the embedded sandbox, so ``demo``,
``plan`` and ``run --once`` work at once), ``DIR/config/bridge.example.yaml`` (the
commented Cloud and Data Center examples) and the default rules in ``DIR/rules/``.
From ``DIR`` every command finds ``config/bridge.yaml`` by itself.  Files that exist
are left alone (listed, exit 1) unless ``--force``.
"""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

from bridge.logs import complain

__all__ = ["default_config", "default_rules", "run"]


def _defaults() -> Path:
    return Path(str(files("bridge") / "defaults"))


def default_config() -> Path:
    """The packaged config (the sandbox's), whose ``rules: ../rules`` are the packaged rules."""
    return _defaults() / "config" / "bridge.yaml"


def default_rules() -> Path:
    return _defaults() / "rules"


def run(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    plan: list[tuple[Path, Path]] = []
    for folder in ("config", "rules"):
        source = _defaults() / folder
        plan += [(p, target / folder / p.name) for p in sorted(source.glob("*.yaml"))]
    if not plan:  # pragma: no cover - a broken install
        complain("error: the package's default files are missing; reinstall jsm-bridge")
        return 1
    existing = [dest for _, dest in plan if dest.exists()]
    if existing and not args.force:
        for dest in existing:
            complain(f"error: {dest} exists; not overwritten (--force overwrites)")
        return 1
    try:
        for source, dest in plan:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
            print(f"wrote {dest}")
    except OSError as exc:
        complain(f"error: cannot write {exc.filename}: {exc.strerror}")
        return 1
    print(
        f"\nNext: cd {target} && jsm-bridge check   (then `jsm-bridge demo`, or edit\n"
        "config/bridge.yaml for your site: see config/bridge.example.yaml)"
    )
    return 0
