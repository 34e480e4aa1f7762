"""The parts of Atlassian's OpenAPI specs the sandbox needs, bundled as ``spec_schemas.json``.

The sandbox validates request bodies against the spec's request schemas at run time
(non-conforming bodies get Jira's 400), and the fidelity tests check routes and
responses against the same data.  The full specs are large, so the closure of the
schemas we use plus the list of (path, method) pairs is extracted once::

    python -m bridge.sandbox.specdata ../shared/reference   # rewrites spec_schemas.json

``tests/test_sandbox_fidelity.py`` checks the bundle still matches the reference
specs when they are present.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

BUNDLE = Path(__file__).with_name("spec_schemas.json")
SPEC_FILES = {"platform": "jira-platform.v3.json", "jsm": "jsm.v3.json"}
ROOTS = {
    "platform": [
        "IssueUpdateDetails",
        "Comment",
        "SearchAndReconcileRequestBean",
        "SearchRequestBean",
        "SearchAndReconcileResults",
        "SearchResults",
        "IssueBean",
        "PageOfComments",
        "IssueCommentListRequestBean",
        "PageBeanComment",
        "Transitions",
        "FieldDetails",
        "Priority",
        "StatusDetails",
        "StatusCategory",
        "Resolution",
        "IssueTypeDetails",
        "User",
        "ServerInformation",
        "CreatedIssue",
        "PageBeanChangelog",
        "PropertyKeys",
        "EntityProperty",
        "ErrorCollection",
        "WorkflowSearchResponse",
        "CustomFieldDefinitionJsonBean",
        "CreateCustomFieldContext",
        "PageBeanCustomFieldContext",
        "BulkCustomFieldOptionCreateRequest",
        "CustomFieldCreatedContextOptionsList",
        "PageBeanCustomFieldContextOption",
        "Filter",
        "PageBeanFilterDetails",
        "Permissions",
        "IssueUpdateMetadata",
    ],
    "jsm": [
        "PagedDTOOrganizationDTO",
        "OrganizationDTO",
        "PagedDTOUserDTO",
        "PagedDTORequestTypeDTO",
        "CustomerRequestDTO",
        "PagedDTOCommentDTO",
        "CommentDTO",
        "CommentCreateDTO",
        "EntityProperty",
        "PropertyKeys",
        "ErrorResponse",
    ],
}
METHODS = ("get", "put", "post", "delete", "patch")


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for v in node.values():
            found |= _refs(v)
    elif isinstance(node, list):
        for v in node:
            found |= _refs(v)
    return found


def extract(reference_dir: str | Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, filename in SPEC_FILES.items():
        spec = json.loads((Path(reference_dir) / filename).read_text(encoding="utf-8"))
        schemas = spec["components"]["schemas"]
        todo, keep = list(ROOTS[name]), {}
        while todo:
            n = todo.pop()
            if n in keep:
                continue
            keep[n] = schemas[n]
            todo.extend(_refs(schemas[n]) - set(keep))
        routes = {
            path: sorted(m.upper() for m in ops if m in METHODS)
            for path, ops in sorted(spec["paths"].items())
        }
        out[name] = {
            "version": spec["info"]["version"],
            "routes": routes,
            "components": {"schemas": dict(sorted(keep.items()))},
        }
    return out


@functools.cache
def bundle() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(BUNDLE.read_text(encoding="utf-8"))
    return data


@functools.cache
def registry(spec: str) -> Registry[Any]:
    doc = {"components": bundle()[spec]["components"]}
    uri = f"urn:jsm-bridge:{spec}"
    resource: Resource[Any] = Resource(contents=doc, specification=DRAFT7)  # type: ignore[call-arg]
    reg: Registry[Any] = Registry().with_resource(uri, resource)
    return reg


@functools.cache
def validator(spec: str, schema_name: str, *, nullable: bool = False) -> jsonschema.Draft7Validator:
    """A validator for one component schema; ``$ref`` resolves within the spec document.

    ``nullable=True`` accepts JSON null wherever a type is declared: Atlassian's
    spec omits ``nullable`` on many properties that Jira does return as null
    (``assignee``, a change item's ``from``...), so response checks need it.
    """
    cls: Any = jsonschema.Draft7Validator
    if nullable:
        checker = cls.TYPE_CHECKER
        for t in ("string", "object", "array", "integer", "number", "boolean"):
            base = checker._type_checkers[t]
            checker = checker.redefine(t, lambda c, x, _b=base: x is None or _b(c, x))
        cls = jsonschema.validators.extend(cls, type_checker=checker)
    schema = {"$ref": f"urn:jsm-bridge:{spec}#/components/schemas/{schema_name}"}
    v: jsonschema.Draft7Validator = cls(schema, registry=registry(spec))
    return v


def request_errors(spec: str, schema_name: str, body: Any) -> list[str]:
    """Human-readable schema violations of a request body (empty when it conforms)."""
    errs = sorted(validator(spec, schema_name).iter_errors(body), key=lambda e: list(e.path))
    return [f"{'/'.join(str(p) for p in e.path) or '(body)'}: {e.message}" for e in errs[:5]]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bridge.sandbox.specdata REFERENCE_DIR", file=sys.stderr)
        return 2
    data = extract(argv[0])
    BUNDLE.write_text(json.dumps(data, indent=None, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {BUNDLE} ({BUNDLE.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
