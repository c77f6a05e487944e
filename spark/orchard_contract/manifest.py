"""Run manifests: the versioned JSON schema and the job settings it declares; loading, validating, resolving."""

from __future__ import annotations

import json
import posixpath
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from orchard_contract.errors import OrchardError
from orchard_contract.json_schemas import (
    MANIFEST_SCHEMA,
    StrictValidator,
    document_problems,
    load_schema,
    problems_message,
)
from orchard_contract.paths import resolve_relative
from orchard_contract.selection import DEFAULT_SEED, Selection

MANIFEST_SUFFIX = ".json"
RUN_NAME_MAX_LENGTH = 40  # the schema's pattern of names: [A-Za-z0-9][A-Za-z0-9_-]{0,39}
FALLBACK_RUN_NAME = "run"

_NOT_ALLOWED_IN_NAMES = re.compile(r"[^A-Za-z0-9_-]+")


# A Lambda's error goes on in the Step Functions execution's state, 256 KiB at most ("Step Functions service quotas",
# https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html); beyond it States.DataLimitExceeded fails
# the execution, uncaught by States.ALL ("Handling errors in Step Functions workflows",
# https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html). A message quotes what it
# rejects (a 1 MiB manifest may hold a long string), so it is kept short.
MAX_PROBLEMS_LISTED = 20
MAX_PROBLEM_CHARS = 300
MAX_MESSAGE_CHARS = 8000


def clipped(text: str, limit: int) -> str:
    """`text`, its middle elided when longer than `limit`: the field named first and the reason given last stay."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    return f"{text[:head]} [... {len(text) - limit} characters ...] {text[head - limit:]}"


class InvalidManifest(OrchardError, ValueError):
    """A manifest that cannot be run; the message names the manifest and its problems (the first ones, each short).

    Raised alike by the job and by the prepare-run function, whose failure the state machine sees by this class's
    name, `InvalidManifest`.
    """

    def __init__(self, message: str) -> None:
        super().__init__(clipped(message, MAX_MESSAGE_CHARS))

    @classmethod
    def listing(cls, location: str, problems: Sequence[str]) -> InvalidManifest:
        """The error for the manifest at `location`, each problem on a line of its own (the first ones)."""
        shown = [clipped(problem, MAX_PROBLEM_CHARS) for problem in problems[:MAX_PROBLEMS_LISTED]]
        if len(problems) > MAX_PROBLEMS_LISTED:
            shown.append(f"and {len(problems) - MAX_PROBLEMS_LISTED} more problems")
        return cls(problems_message(f"{location}: invalid manifest", shown))


@dataclass(frozen=True)
class Manifest:
    """A validated manifest with its inputs resolved to absolute URIs or paths."""

    inputs: tuple[str, ...]
    selection: Selection = Selection()
    name: str | None = None
    job: dict[str, Any] = field(default_factory=dict)


def manifest_schema() -> dict[str, Any]:
    """The manifest JSON schema shipped with the package."""
    return load_schema(MANIFEST_SCHEMA)


# The feature job's settings that a manifest's `job` block and the command line share: each one's rules (type, limits,
# choices) and default are declared once, in the manifest schema's `job` object. The manifest is checked against it
# whole, the command line flag by flag, by the same validator and in its words.
def job_setting_schemas() -> dict[str, dict[str, Any]]:
    """Each shared setting's rules, by name (the job's settings' field names)."""
    return manifest_schema()["properties"]["job"]["properties"]


def job_setting_default(name: str) -> Any:
    """The value of setting `name` when neither the command line nor the manifest gives one."""
    return job_setting_schemas()[name]["default"]


def schema_problems(document: Any) -> list[str]:
    """Every way `document` breaks the schema, each naming the field, in document order."""
    return document_problems(document, MANIFEST_SCHEMA, root="manifest")


def value_problems(schema: dict[str, Any], value: Any) -> list[str]:
    """Every way `value` breaks `schema` (a part of the manifest schema, say), worded as in `schema_problems`."""
    return [error.message for error in StrictValidator(schema).iter_errors(value)]


def parse_manifest(text: str, location: str) -> Manifest:
    """Parse and validate manifest `text` read from `location` (a path or URI)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidManifest(f"{location}: not valid JSON: {exc}") from None
    problems = schema_problems(document)
    if problems:
        raise InvalidManifest.listing(location, problems)
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


def readable_stem(location: str, max_length: int, fallback: str) -> str:
    """The file name of `location` (a key, path or URI) without `.json`, accents dropped, reduced to [A-Za-z0-9-_]
    with neither `-` nor `_` at its ends, at most `max_length` long; `fallback` when nothing is left."""
    name = posixpath.basename(location).removesuffix(MANIFEST_SUFFIX)
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    stem = _NOT_ALLOWED_IN_NAMES.sub("-", name).strip("-_")[:max_length].rstrip("-_")
    return stem or fallback


def run_name_for(name: str | None, location: str | None) -> str:
    """A run's one name: the manifest's `name`, else its file's name (at `location`) as the schema allows names,
    else "run" (a manifest given inline, or a file name without a letter or digit).

    The prepare-run function writes it into the manifest the job reads on EMR; the job applies it to a manifest of
    its own."""
    if name:
        return name
    return readable_stem(location, RUN_NAME_MAX_LENGTH, FALLBACK_RUN_NAME) if location else FALLBACK_RUN_NAME
