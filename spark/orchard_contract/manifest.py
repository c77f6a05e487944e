"""Run manifests: loading, validating against the versioned JSON schema, resolving inputs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from orchard_contract.errors import OrchardError
from orchard_contract.json_schemas import StrictValidator, document_problems, load_schema, problems_message
from orchard_contract.paths import resolve_relative
from orchard_contract.selection import DEFAULT_SEED, Selection

SCHEMA_RESOURCE = "manifest-v1.schema.json"


class ManifestError(OrchardError, ValueError):
    """A manifest that cannot be used; the message names the file and every problem found."""


@dataclass(frozen=True)
class Manifest:
    """A validated manifest with its inputs resolved to absolute URIs or paths."""

    inputs: tuple[str, ...]
    selection: Selection = Selection()
    name: str | None = None
    job: dict[str, Any] = field(default_factory=dict)


def manifest_schema() -> dict[str, Any]:
    """The manifest JSON schema shipped with the package."""
    return load_schema(SCHEMA_RESOURCE)


def schema_problems(document: Any) -> list[str]:
    """Every way `document` breaks the schema, each naming the field, in document order."""
    return document_problems(document, SCHEMA_RESOURCE, root="manifest")


def value_problems(schema: dict[str, Any], value: Any) -> list[str]:
    """Every way `value` breaks `schema` (a part of the manifest schema, say), worded as in `schema_problems`."""
    return [error.message for error in StrictValidator(schema).iter_errors(value)]


def invalid_manifest_message(location: str, problems: Sequence[str]) -> str:
    """The message for the manifest at `location` and its `problems`, each on a line of its own."""
    return problems_message(f"{location}: invalid manifest", problems)


def parse_manifest(text: str, location: str) -> Manifest:
    """Parse and validate manifest `text` read from `location` (a path or URI)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{location}: not valid JSON: {exc}") from None
    problems = schema_problems(document)
    if problems:
        raise ManifestError(invalid_manifest_message(location, problems))
    select = document.get("select", {})
    return Manifest(
        inputs=tuple(resolve_relative(location, entry) for entry in document["inputs"]),
        selection=Selection(
            classes=tuple(select.get("classes", ())),
            max_per_class=select.get("max_per_class"),
            max_images=select.get("max_images"),
            seed=select.get("seed", DEFAULT_SEED),
        ),
        name=document.get("name"),
        job=dict(document.get("job", {})),
    )
