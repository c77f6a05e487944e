"""The settings the command line and a manifest's `job` block share: one set, one rule and one default each."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from orchard_contract.emr_step import NODE_MODEL_TOOLS, feature_step
from orchard_contract.manifest import InvalidManifest, job_setting_schemas, parse_manifest
from orchard_features.settings import JobSettings, parse_arguments, settings_from_arguments

# The command line's alone: where the outputs go and the models and features are kept is the deployment's (the
# prepare-run Lambda passes --output, --model-store and --feature-store), a cache folder and where the model tools
# were staged (--model-tools, on EMR's primary node) are the machine's, the run's
# name is the manifest's `name`; the report, the pixel limit, the tasks' size and how much the libraries log are the
# job's operation, not what a run computes.
COMMAND_LINE_ONLY = {"output", "model_store", "feature_store", "model_cache", "model_tools", "run_name", "write_report",
                     "max_image_pixels", "images_per_partition", "verbose"}
FROM_THE_MANIFEST_ONLY = {"inputs", "selection"}

# (the flag as argparse names it, the setting, the flag's text, the same value in a manifest)
BAD_VALUES = [
    ("--pca-components/-k", "pca_components", "0", 0),
    ("--pca-components/-k", "pca_components", "2000", 2000),
    ("--image-size", "image_size", "16", 16),
    ("--weights", "weights", "", ""),
    ("--engine", "engine", "torch", "torch"),
    ("--batch-size", "batch_size", "4096", 4096),
    ("--batch-size", "batch_size", "many", "many"),
]


def command_line_settings() -> set[str]:
    return set(vars(parse_arguments(["images/", "--output", "out"]))) - {"input"}


def test_every_manifest_setting_is_a_flag_and_every_flag_a_manifest_setting_or_the_command_lines_alone():
    assert command_line_settings() - COMMAND_LINE_ONLY == set(job_setting_schemas())


def test_every_setting_is_a_field_of_the_settings_and_a_shared_one_defaults_to_the_schemas_default():
    assert {field.name for field in fields(JobSettings)} == command_line_settings() | FROM_THE_MANIFEST_ONLY
    assert {name: getattr(JobSettings, name) for name in job_setting_schemas()} == {
        name: schema["default"] for name, schema in job_setting_schemas().items()}


def test_every_shared_setting_that_can_be_wrong_has_a_bad_value_below():
    wrongable = {name for name, schema in job_setting_schemas().items() if schema.get("type") != "boolean"}
    assert {setting for _, setting, _, _ in BAD_VALUES} == wrongable


@pytest.mark.parametrize(("flag", "setting", "text", "value"), BAD_VALUES)
def test_a_bad_value_is_refused_in_the_same_words_by_flag_and_by_manifest(capsys, flag, setting, text, value):
    with pytest.raises(SystemExit) as exited:
        parse_arguments(["images/", "--output", "out", flag.split("/")[0], text])
    by_flag = capsys.readouterr().err.splitlines()[-1]
    with pytest.raises(InvalidManifest) as refused:
        parse_manifest(json.dumps({"manifest_version": 1, "inputs": ["images/"], "job": {setting: value}}), "m.json")
    by_manifest = str(refused.value).splitlines()[-1]

    flag_prefix, manifest_prefix = f"orchard-features: error: argument {flag}: ", f"  - $.job.{setting}: "
    assert exited.value.code == 2
    assert by_flag.startswith(flag_prefix) and by_manifest.startswith(manifest_prefix)
    assert by_flag.removeprefix(flag_prefix) == by_manifest.removeprefix(manifest_prefix)


def test_a_good_flag_is_the_value_a_manifest_would_hold():
    arguments = parse_arguments(["images/", "--output", "out", "-k", "20", "--engine", "tensorflow", "--weights", "none"])
    assert (arguments.pca_components, arguments.engine, arguments.weights) == (20, "tensorflow", "none")


def test_reuse_is_on_unless_the_flag_or_the_manifest_turns_it_off():
    def reuse(arguments: list[str], job: dict) -> bool:
        manifest = json.dumps({"manifest_version": 1, "inputs": ["images/"], "job": job})
        parsed = parse_arguments(["m.json", "--output", "out", "--feature-store", "s3://b/features/", *arguments])
        return settings_from_arguments(parsed, lambda _: manifest).reuse_features

    assert reuse([], {}) is True
    assert reuse([], {"reuse_features": False}) is False
    assert reuse(["--no-reuse"], {"reuse_features": True}) is False


def test_the_model_tools_folder_is_given_on_emr_only():
    """Without --model-tools (every local run) the job installs nothing; the EMR step names the primary's folder."""
    assert settings_from_arguments(parse_arguments(["in", "--output", "out"]), str).model_tools is None
    step = feature_step("s3://artifacts/code/v/", ["in", "--output", "out"])["HadoopJarStep"]["Args"]
    job = step[step.index("s3://artifacts/code/v/run_job.py") + 1:]
    assert settings_from_arguments(parse_arguments(job), str).model_tools == NODE_MODEL_TOOLS
