"""JSON Schema (draft 2020-12) of the four rule files, for editors and CI.

Point an editor's YAML language server at the output of ``jsm-bridge schema
--file sla`` (and friends) to get completion and red squiggles while typing.
The schema checks shapes only; ``jsm-bridge check`` checks meaning too
(cross-references between files, time zones, holiday countries, templates).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["FILES", "RULES_SCHEMA", "schema_for"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
FILES: tuple[str, ...] = ("tiers", "customers", "priorities", "sla")

_NAME = {"type": "string", "minLength": 1}
_NAMES = {"type": "array", "items": _NAME}
_NAME_OR_NAMES = {"oneOf": [_NAME, _NAMES]}

_DEFS: dict[str, Any] = {
    "label": {
        "type": "string",
        "pattern": r"^\S{1,255}$",
        "description": "A Jira label (no spaces).",
    },
    "level": {
        "type": "string",
        "minLength": 1,
        "description": "A priority level defined in priorities.yaml, e.g. P1.",
    },
    "percentage": {
        "type": "string",
        "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$",
        "description": 'A share of the response target, e.g. "75%".',
    },
    "duration": {
        "type": "string",
        "pattern": r"^(\d+h)?(\d+m)?(\d+s)?$",
        "minLength": 2,
        "description": 'Business time such as "4h", "90m" or "1h30m".',
    },
    "target": {
        "oneOf": [
            {"$ref": "#/$defs/duration"},
            {"const": "next_business_day"},
        ],
        "description": "A response target: a business duration or next_business_day.",
    },
    "date": {
        "type": "string",
        "pattern": r"^\d{4}-\d{2}-\d{2}$",
        "description": "A date, YYYY-MM-DD.",
    },
    "opening": {
        "type": "string",
        "pattern": r"^\s*\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}\s*$",
        "description": 'Opening time "HH:MM-HH:MM", e.g. "09:00-17:00".',
    },
    "comment": {
        "type": "object",
        "properties": {
            "visibility": {"enum": ["public", "internal"]},
            "text": {
                "type": "string",
                "pattern": r"\{key\}",
                "description": "Template; must contain {key}. Placeholders: {key} {priority} "
                "{priority_name} {due} {tier} {organization} {reporter} {request_type} "
                "{quota_used} {quota_limit} {missing}.",
            },
        },
        "required": ["visibility", "text"],
        "additionalProperties": False,
    },
    "flag": {
        "type": ["object", "null"],
        "properties": {
            "label": {"oneOf": [{"$ref": "#/$defs/label"}, {"type": "null"}]},
            "comment": {"oneOf": [{"$ref": "#/$defs/comment"}, {"type": "null"}]},
            "transition": {"type": ["string", "null"]},
        },
        "additionalProperties": False,
        "description": "What the bridge does when the condition holds.",
    },
    "tier": {
        "type": "object",
        "properties": {
            "name": {**_NAME, "description": "Display name (default: the key, capitalised)."},
            "contacts": {"type": "integer", "minimum": 1},
            "cases_per_month": {"type": "integer", "minimum": 0},
            "entitlements": _NAMES,
            "contacts_negotiable": {
                "type": "boolean",
                "description": "Customers may set contacts_allowed (default: true for enterprise).",
            },
        },
        "required": ["contacts", "cases_per_month"],
        "additionalProperties": False,
    },
    "customer": {
        "type": "object",
        "properties": {
            "tier": _NAME,
            "calendar": _NAME,
            "contacts": {
                "type": "array",
                "items": {"type": "string", "pattern": r"^[^@\s]+@[^@\s]+$"},
            },
            "contacts_allowed": {"type": ["integer", "null"], "minimum": 1},
            "named_engineer": {"type": ["string", "null"]},
        },
        "required": ["tier", "contacts"],
        "additionalProperties": False,
    },
    "condition": {
        "type": "object",
        "properties": {
            "field": _NAME,
            "in": _NAME_OR_NAMES,
            "not_in": _NAME_OR_NAMES,
            "equals": {"type": "string"},
            "missing": {"type": "boolean"},
            "request_type": _NAME_OR_NAMES,
            "labels_any": _NAME_OR_NAMES,
            "components_any": _NAME_OR_NAMES,
            "priority": {
                "oneOf": [
                    {"$ref": "#/$defs/level"},
                    {"type": "array", "items": {"$ref": "#/$defs/level"}},
                ]
            },
            "summary_matches": {"type": "string", "description": "A regular expression."},
        },
        "additionalProperties": False,
    },
    "rule": {
        "type": "object",
        "properties": {
            "name": _NAME,
            "when": {"$ref": "#/$defs/condition"},
            "set": {"$ref": "#/$defs/level"},
            "cap": {"$ref": "#/$defs/level"},
            "comment": {"$ref": "#/$defs/comment"},
        },
        "required": ["name", "when"],
        "oneOf": [{"required": ["set"]}, {"required": ["cap"]}],
        "additionalProperties": False,
    },
    "calendar": {
        "type": "object",
        "properties": {
            "timezone": {**_NAME, "description": "IANA time zone, e.g. Australia/Brisbane."},
            "hours": {
                "type": "object",
                "propertyNames": {
                    "pattern": r"^\s*(mon|tue|wed|thu|fri|sat|sun)(\s*-\s*(mon|tue|wed|thu|fri|sat|sun))?"
                    r"(\s*,\s*(mon|tue|wed|thu|fri|sat|sun)(\s*-\s*(mon|tue|wed|thu|fri|sat|sun))?)*\s*$"
                },
                "additionalProperties": {
                    "oneOf": [
                        {"$ref": "#/$defs/opening"},
                        {"type": "array", "items": {"$ref": "#/$defs/opening"}},
                        {"const": "closed"},
                        {"type": "null"},
                    ]
                },
                "minProperties": 1,
            },
            "holidays": {
                "type": ["object", "null"],
                "properties": {
                    "country": {"type": ["string", "null"]},
                    "subdivision": {"type": ["string", "null"]},
                    "extra": {"type": ["array", "null"], "items": {"$ref": "#/$defs/date"}},
                    "remove": {"type": ["array", "null"], "items": {"$ref": "#/$defs/date"}},
                },
                "additionalProperties": False,
            },
        },
        "required": ["timezone", "hours"],
        "additionalProperties": False,
    },
    "action": {
        "type": "object",
        "oneOf": [
            {"required": ["comment"], "properties": {"comment": {"$ref": "#/$defs/comment"}}},
            {"required": ["label"], "properties": {"label": {"$ref": "#/$defs/label"}}},
            {"required": ["assign"], "properties": {"assign": _NAME}},
            {"required": ["transition"], "properties": {"transition": _NAME}},
        ],
        "minProperties": 1,
        "maxProperties": 1,
    },
    "step": {
        "type": "object",
        "properties": {
            "at": {"$ref": "#/$defs/percentage"},
            "priorities": {
                "oneOf": [
                    {"$ref": "#/$defs/level"},
                    {"type": "array", "items": {"$ref": "#/$defs/level"}},
                    {"type": "null"},
                ]
            },
            "actions": {"type": "array", "items": {"$ref": "#/$defs/action"}, "minItems": 1},
        },
        "required": ["at", "actions"],
        "additionalProperties": False,
    },
}

_FILE_DEFS: dict[str, Any] = {
    "tiers": {
        "title": "rules/tiers.yaml",
        "type": "object",
        "properties": {
            "tiers": {
                "type": "object",
                "additionalProperties": {"$ref": "#/$defs/tier"},
                "minProperties": 1,
            },
            "entitlement_request_types": {
                "type": ["object", "null"],
                "additionalProperties": _NAME_OR_NAMES,
            },
            "not_entitled": {"$ref": "#/$defs/flag"},
            "quota": {
                "type": ["object", "null"],
                "properties": {
                    "not_counted_resolutions": {"oneOf": [_NAME, _NAMES, {"type": "null"}]},
                    "over_quota": {"$ref": "#/$defs/flag"},
                },
                "additionalProperties": False,
            },
        },
        "required": ["tiers"],
        "additionalProperties": False,
    },
    "customers": {
        "title": "rules/customers.yaml",
        "type": "object",
        "properties": {
            "customers": {"type": "object", "additionalProperties": {"$ref": "#/$defs/customer"}},
            "unauthorised_contact": {"$ref": "#/$defs/flag"},
            "unknown_customer": {"$ref": "#/$defs/flag"},
        },
        "required": ["customers"],
        "additionalProperties": False,
    },
    "priorities": {
        "title": "rules/priorities.yaml",
        "type": "object",
        "properties": {
            "priorities": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"jira": _NAME},
                    "required": ["jira"],
                    "additionalProperties": False,
                },
                "minProperties": 1,
            },
            "respect_engineer_changes": {"type": "boolean"},
            "rules": {"type": ["array", "null"], "items": {"$ref": "#/$defs/rule"}},
        },
        "required": ["priorities"],
        "additionalProperties": False,
    },
    "sla": {
        "title": "rules/sla.yaml",
        "type": "object",
        "properties": {
            "calendars": {
                "type": "object",
                "additionalProperties": {"$ref": "#/$defs/calendar"},
                "minProperties": 1,
            },
            "default_calendar": _NAME,
            "response": {
                "type": "object",
                "properties": {
                    "targets": {
                        "type": "object",
                        "additionalProperties": {"$ref": "#/$defs/target"},
                    },
                    "responded_statuses": {"oneOf": [_NAME, _NAMES, {"type": "null"}]},
                    "pause_statuses": {"oneOf": [_NAME, _NAMES, {"type": "null"}]},
                    "at_risk_at": {"$ref": "#/$defs/percentage"},
                },
                "required": ["targets"],
                "additionalProperties": False,
            },
            "escalation": {"type": ["array", "null"], "items": {"$ref": "#/$defs/step"}},
            "required_information": {
                "type": ["object", "null"],
                "properties": {
                    "fields": {"oneOf": [_NAME, _NAMES, {"type": "null"}]},
                    "label": {"oneOf": [{"$ref": "#/$defs/label"}, {"type": "null"}]},
                    "comment": {"oneOf": [{"$ref": "#/$defs/comment"}, {"type": "null"}]},
                },
                "additionalProperties": False,
            },
        },
        "required": ["calendars", "response"],
        "additionalProperties": False,
    },
}

#: All four files: each file's schema is ``$defs/<file>`` (tiers, customers, priorities, sla).
RULES_SCHEMA: dict[str, Any] = {
    "$schema": DRAFT,
    "$id": "https://jsm-bridge.example/schema/rules.json",
    "title": "jsm-bridge rule files",
    "description": "Each rule file's schema is under $defs: tiers, customers, priorities, sla.",
    "type": "object",
    "properties": {name: {"$ref": f"#/$defs/{name}"} for name in FILES},
    "$defs": {**_DEFS, **_FILE_DEFS},
}


def schema_for(file: str | None = None) -> dict[str, Any]:
    """The schema of one file (``"sla"``, ...), standalone; or all four when ``file`` is None."""
    if file is None:
        return copy.deepcopy(RULES_SCHEMA)
    if file not in _FILE_DEFS:
        raise KeyError(f"no rule file {file!r}; choose one of {', '.join(FILES)}")
    body = copy.deepcopy(_FILE_DEFS[file])
    return {
        "$schema": DRAFT,
        "$id": f"https://jsm-bridge.example/schema/{file}.json",
        **body,
        "$defs": copy.deepcopy(_DEFS),
    }
