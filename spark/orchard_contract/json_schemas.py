"""The JSON schemas shipped in orchard_contract/schemas: loading them, and naming every way a document breaks one.

A schema may refer to another's definitions by file name (`"$ref": "model-info-v1.schema.json#/$defs/counts"`):
its `$id` and the other's share a base, under which each schema is found by its file name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

SCHEMAS_PACKAGE = "orchard_contract.schemas"
MANIFEST_SCHEMA = "manifest-v1.schema.json"  # the run manifest's (the run documents' are named in run_outputs)
SCHEMAS_BASE = "https://orchard.example/schemas/"  # every shipped schema's $id is this and its file name
# JSON Schema counts 5.0 as an integer; Python keeps it a float, which slicing, range() and Spark's integer settings
# refuse. Integers in these documents are written as integers.
StrictValidator = validators.extend(Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, instance: isinstance(instance, int) and not isinstance(instance, bool)))


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The shipped schema in file `name`, e.g. "manifest-v1.schema.json"."""
    return json.loads(resources.files(SCHEMAS_PACKAGE).joinpath(name).read_text(encoding="utf-8"))


def shipped_schema(uri: str) -> Resource:
    """The shipped schema a `$ref` names by its URI (a file under SCHEMAS_BASE)."""
    if not uri.startswith(SCHEMAS_BASE):
        # referencing builds its classes with its own attrs wrapper, which mypy's attrs plugin does not read
        raise NoSuchResource(ref=uri)  # type: ignore[call-arg]
    return Resource.from_contents(load_schema(uri.removeprefix(SCHEMAS_BASE)))


@cache
def schema_validator(name: str) -> Validator:
    """A validator of the shipped schema in file `name`, its references to the other shipped schemas resolved."""
    registry: Registry = Registry(retrieve=shipped_schema)  # type: ignore[call-arg]  # as NoSuchResource above
    return StrictValidator(load_schema(name), registry=registry)


def document_problems(document: Any, name: str, root: str) -> list[str]:
    """Every way `document` breaks the shipped schema in file `name`, in document order, each naming its field by
    JSON path (`root` when it is the whole document)."""
    errors = sorted(schema_validator(name).iter_errors(document), key=lambda e: list(map(str, e.path)))
    return [f"{error.json_path if error.path else root}: {error.message}" for error in errors]


def problems_message(heading: str, problems: Sequence[str]) -> str:
    """`heading`, then each of `problems` on a line of its own."""
    return f"{heading}:\n  - " + "\n  - ".join(problems)
