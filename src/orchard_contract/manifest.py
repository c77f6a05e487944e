"""Run manifests: loading, validating against the versioned JSON schema, resolving inputs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, validators

from orchard_contract.errors import OrchardError
from orchard_contract.paths import resolve_relative

SCHEMA_RESOURCE = "manifest-v1.schema.json"
DEFAULT_SEED = 42
# JSON Schema counts 5.0 as an integer; Python keeps it a float, which slicing, range() and Spark's integer settings
# refuse. A manifest's integers are written as integers.
ManifestValidator = validators.extend(Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, instance: isinstance(instance, int) and not isinstance(instance, bool)))


class ManifestError(OrchardError, ValueError):
    """A manifest that cannot be used; the message names the file and every problem found."""


@dataclass(frozen=True)
class Selection:
    """Which of the images found a run keeps."""

    classes: tuple[str, ...] = ()
    max_per_class: int | None = None
    max_images: int | None = None
    seed: int = DEFAULT_SEED

    def keeps_everything(self) -> bool:
        """Whether this selection keeps every image found."""
        return not self.classes and self.max_per_class is None and self.max_images is None


@dataclass(frozen=True)
class Manifest:
    """A validated manifest with its inputs resolved to absolute URIs or paths."""

    inputs: tuple[str, ...]
    selection: Selection = Selection()
    name: str | None = None
    job: dict[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=1)
def manifest_schema() -> dict[str, Any]:
    """The manifest JSON schema shipped with the package."""
    text = resources.files("orchard_contract.schemas").joinpath(SCHEMA_RESOURCE).read_text()
    return json.loads(text)


def schema_problems(document: Any) -> list[str]:
    """Every way `document` breaks the schema, each naming the field, in document order."""
    validator = ManifestValidator(manifest_schema())
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path))):
        where = error.json_path if error.path else "manifest"
        problems.append(f"{where}: {error.message}")
    return problems


def value_problems(schema: dict[str, Any], value: Any) -> list[str]:
    """Every way `value` breaks `schema` (a part of the manifest schema, say), worded as in `schema_problems`."""
    return [error.message for error in ManifestValidator(schema).iter_errors(value)]


def invalid_manifest_message(location: str, problems: Sequence[str]) -> str:
    """The message for the manifest at `location` and its `problems`, each on a line of its own."""
    return f"{location}: invalid manifest:\n  - " + "\n  - ".join(problems)


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
