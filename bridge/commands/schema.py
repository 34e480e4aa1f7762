"""``jsm-bridge schema [--file tiers|customers|priorities|sla]``: the rule files' JSON Schema."""

from __future__ import annotations

import argparse
import json
import sys

from bridge.rules.schema import schema_for


def run(args: argparse.Namespace) -> int:
    file = getattr(args, "file", None)
    json.dump(schema_for(file), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0
