"""The feature job's settings that a manifest's `job` block and the command line share.

Each one's rules (type, limits, choices) and default are declared once, in the manifest schema's `job` object:
the manifest is checked against it whole, the command line flag by flag, by the same validator and in its words.
"""

from __future__ import annotations

from typing import Any

from orchard_contract.manifest import manifest_schema


def setting_schemas() -> dict[str, dict[str, Any]]:
    """Each shared setting's rules, by name (JobConfig's field names)."""
    return manifest_schema()["properties"]["job"]["properties"]


def setting_default(name: str) -> Any:
    """The value of setting `name` when neither the command line nor the manifest gives one."""
    return setting_schemas()[name]["default"]
