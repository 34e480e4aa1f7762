"""JSON Schema (draft 2020-12) of the four rule files, generated from the rule models.

Point an editor's YAML language server at the output of ``jsm-bridge schema
--file sla`` (and friends) to get completion and red squiggles while typing.
The schema checks shapes only; ``jsm-bridge check`` checks meaning too
(cross-references between files, time zones, holiday countries, templates).
"""

from __future__ import annotations

from typing import Any

from pydantic import create_model

from bridge.rules.models import FILES as MODELS

__all__ = ["FILES", "schema_for"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
FILES: tuple[str, ...] = tuple(MODELS)
BASE = "https://jsm-bridge.example/schema"


def schema_for(file: str | None = None) -> dict[str, Any]:
    """The schema of one file (``"sla"``, ...), standalone; or all four when ``file`` is None
    (each file's schema is then the property of its name)."""
    if file is None:
        fields: dict[str, Any] = {name: (model | None, None) for name, model in MODELS.items()}
        every = create_model("RuleFiles", **fields)
        body = every.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        body["title"] = "jsm-bridge rule files"
        body["description"] = "The four rule files, each under its name."
        return {"$schema": DRAFT, "$id": f"{BASE}/rules.json", **body}
    if file not in MODELS:
        raise KeyError(f"no rule file {file!r}; choose one of {', '.join(FILES)}")
    body = MODELS[file].model_json_schema(by_alias=True)
    body["title"] = f"rules/{file}.yaml"
    return {"$schema": DRAFT, "$id": f"{BASE}/{file}.json", **body}
