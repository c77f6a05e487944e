"""A function's settings: the variables template.yaml sets in its environment, typed and checked.

Read by the handler when it runs (not when its module is imported), through pydantic-settings: each field is the
environment variable of the same name in upper case, unless its `validation_alias` names another.
"""

from __future__ import annotations

from typing import Self

from pydantic_settings import BaseSettings, SettingsConfigDict


class FunctionSettings(BaseSettings):
    """Base of each function's settings; a missing or malformed variable fails with the variable's name."""

    model_config = SettingsConfigDict(frozen=True, case_sensitive=False, extra="ignore")

    @classmethod
    def from_environ(cls) -> Self:
        """The settings as the function's environment gives them now."""
        return cls()


def environment_variables(settings: type[FunctionSettings]) -> set[str]:
    """The environment variables a settings class reads."""
    return {str(field.validation_alias or name).upper() for name, field in settings.model_fields.items()}
