"""A function's settings: the variables template.yaml sets in its environment, typed and checked.

Read by the handler when it runs (not when its module is imported), through pydantic-settings: each field is the
environment variable of the same name in upper case, unless its `validation_alias` names another.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# A template's CommaDelimitedList parameter, joined with commas into one environment variable.
CommaList = Annotated[tuple[str, ...], NoDecode]


class FunctionSettings(BaseSettings):
    """Base of each function's settings; a missing or malformed variable fails with the variable's name."""

    model_config = SettingsConfigDict(frozen=True, case_sensitive=False, extra="ignore")

    @classmethod
    def from_environ(cls) -> Self:
        """The settings as the function's environment gives them now."""
        return cls()


class DeploymentParameters(FunctionSettings):
    """The deployment's template parameters, through the prepare-run function's environment."""

    inputs_bucket: str
    outputs_bucket: str
    logs_bucket: str
    artifacts_uri: str
    model_store_uri: str
    feature_store_uri: str
    primary_instance_types: CommaList
    core_instance_types: CommaList
    core_vcpus: int
    core_market: str
    idle_timeout_minutes: int
    max_run_minutes: int
    # Set by Lambda in every function ("Defined runtime environment variables",
    # https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
    region: str = Field(validation_alias="AWS_REGION")
    subnet_ids: CommaList = ()

    @field_validator("primary_instance_types", "core_instance_types", "subnet_ids", mode="before")
    @classmethod
    def split_commas(cls, value: object) -> object:
        """"a, b" -> ("a", "b"); "" -> ()."""
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value


def environment_variables(settings: type[FunctionSettings]) -> set[str]:
    """The environment variables a settings class reads."""
    return {str(field.validation_alias or name).upper() for name, field in settings.model_fields.items()}
