"""Parsed JSON documents (execution inputs, manifests): what the JSON Schema cannot say about them (pure)."""

from __future__ import annotations

from typing import Any

NOT_TEXT = "holds a lone surrogate (a \\uD800-\\uDFFF escape out of a pair), which is not Unicode text"


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def is_text(value: str) -> bool:
    """Whether a string is Unicode text that UTF-8 can carry: JSON's \\uXXXX escapes can make lone surrogates,
    which no request to AWS can hold (botocore fails on them with a UnicodeEncodeError)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def text_problems(document: Any) -> list[str]:
    """Each string of `document` (or object with such a key) that is not Unicode text, named by its JSON path, in
    document order. Iterative: a document as deep as the JSON parser allows is walked without recursion."""
    problems = []
    pending: list[tuple[str, Any]] = [("$", document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str) and not is_text(value):
            problems.append(f"{path}: {NOT_TEXT}")
        elif isinstance(value, dict):
            if not all(map(is_text, value)):
                problems.append(f"{path}: a key {NOT_TEXT}")
            pending += reversed([(f"{path}.{key}", item) for key, item in value.items() if is_text(key)])
        elif isinstance(value, list):
            pending += reversed([(f"{path}[{index}]", item) for index, item in enumerate(value)])
    return problems
