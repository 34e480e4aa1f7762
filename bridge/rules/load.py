"""Reading the rule files: ``rules/*.yaml`` → a validated :class:`~bridge.policy.model.RuleSet`.

The files are read with the bridge's one safe, bounded YAML loader
(``bridge.yamlsafe``) into located trees; each is checked against its model
(``bridge.rules.shape``: the shape, from ``bridge.rules.models``), then
``bridge.policy.ruleset.build_ruleset`` (pure) checks what the rules mean and
builds the rule set.  Every problem of all four files comes with its ``file:line``.
"""

from __future__ import annotations

from collections.abc import Collection
from os import PathLike
from pathlib import Path

from bridge.policy.model import RuleSet
from bridge.policy.problems import Document, Problem
from bridge.policy.ruleset import DEFAULT_CONFIG_NAME, RULE_FILES, RulesInvalid, build_ruleset
from bridge.rules.shape import read_document
from bridge.yamlsafe import read_yaml

__all__ = ["RulesInvalid", "load_ruleset"]


def load_ruleset(
    path: str | PathLike[str],
    known_fields: Collection[str] | None = None,
    *,
    config: str | PathLike[str] | None = None,
) -> RuleSet:
    """Load and validate ``tiers.yaml``, ``customers.yaml``, ``priorities.yaml``, ``sla.yaml``.

    ``known_fields`` are the logical field names of config ``fields:``; rule
    conditions and ``required_information`` may only use those.  Raises
    :class:`RulesInvalid` with every problem found.  ``config``: the config file in use,
    as hints name it (default: the usual ``config/bridge.yaml``).
    """
    named = str(config) if config is not None else DEFAULT_CONFIG_NAME
    directory = Path(path)
    if not directory.is_dir():
        raise RulesInvalid(
            [
                Problem(
                    str(directory),
                    None,
                    "rules directory not found",
                    f"pass --rules DIR or set `rules:` in {named}",
                )
            ]
        )
    documents: dict[str, Document | None] = {}
    problems: list[Problem] = []
    for name in RULE_FILES:
        label = str(directory / name)
        tree, found = read_yaml(directory / name, label)
        if tree is None and not found:
            found = [Problem(label, None, "the file is empty")]
        problems.extend(found)
        documents[name] = None
        if tree is not None and not found:
            documents[name], shape_problems = read_document(name.removesuffix(".yaml"), label, tree)
            problems.extend(shape_problems)
    return build_ruleset(documents, known_fields, problems, config=named)
