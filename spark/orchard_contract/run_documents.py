"""The JSON documents a finished run leaves under its output prefix: where each lives and the schema it follows.

The job checks each one before writing it; the check-outputs Lambda after reading it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchard_contract.json_schemas import document_problems, problems_message
from orchard_contract.layout import MODEL_INFO_FILE, SUCCESS_MARKER


class InvalidDocument(ValueError):
    """A document breaks its schema; the message names the document and every field at fault."""


@dataclass(frozen=True)
class RunDocument:
    """One of a run's JSON documents: its key under the output prefix and its schema, `<name>-v<version>`."""

    key: str
    name: str
    version: int

    @property
    def schema(self) -> str:
        """The file of its schema in orchard_contract/schemas."""
        return f"{self.name}-v{self.version}.schema.json"

    def problems(self, document: Any) -> list[str]:
        """Every way `document` breaks the schema, each naming the field by JSON path, in document order."""
        return document_problems(document, self.schema, root="$")

    def invalid(self, problems: list[str]) -> str:
        """The message saying that this document has `problems`."""
        return problems_message(f"{self.key} does not follow {self.schema}", problems)

    def check(self, document: Any) -> None:
        """Raise InvalidDocument unless `document` follows the schema."""
        if problems := self.problems(document):
            raise InvalidDocument(self.invalid(problems))


MODEL_INFO_DOCUMENT = RunDocument(key=f"model_info/{MODEL_INFO_FILE}", name="model-info", version=1)
SUCCESS_MARKER_DOCUMENT = RunDocument(key=SUCCESS_MARKER, name="success-marker", version=1)
