"""Manifests: the shipped ones are valid; each problem in a bad one is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchard_contract.errors import OrchardError
from orchard_contract.manifest import InvalidManifest, parse_manifest, run_name_for, schema_problems
from orchard_features.settings import parse_arguments, settings_from_arguments
from orchard_functions.run_plan import validated_manifest

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"


@pytest.mark.parametrize("name", ["mini", "apples", "full"])
def test_shipped_manifests_are_valid(name: str):
    path = MANIFESTS / f"{name}.json"
    manifest = parse_manifest(path.read_text(), str(path))
    assert manifest.name == name
    assert all(entry.endswith("fruits-360/Training") or entry.endswith("fruits-360/Test") for entry in manifest.inputs)


def test_mini_selects_five_classes_of_sixty():
    manifest = parse_manifest((MANIFESTS / "mini.json").read_text(), "mini.json")
    assert len(manifest.selection.classes) == 5
    assert (manifest.selection.max_per_class, manifest.selection.max_images) == (60, 300)


def test_relative_inputs_resolve_against_the_manifest_folder():
    text = json.dumps({"manifest_version": 1, "inputs": ["../fruits-360/Training/", "s3://other/images/"]})
    in_s3 = parse_manifest(text, "s3://my-bucket/manifests/run.json")
    assert in_s3.inputs == ("s3://my-bucket/fruits-360/Training", "s3://other/images/")
    local = parse_manifest(text, "/data/manifests/run.json")
    assert local.inputs[0] == "/data/fruits-360/Training"


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"inputs": ["a/"]}, "manifest: 'manifest_version' is a required property"),
        ({"manifest_version": 2, "inputs": ["a/"]}, "$.manifest_version: 1 was expected"),
        ({"manifest_version": 1}, "manifest: 'inputs' is a required property"),
        ({"manifest_version": 1, "inputs": []}, "$.inputs: [] should be non-empty"),
        ({"manifest_version": 1, "inputs": ["a/"], "select": {"max_per_class": 0}}, "$.select.max_per_class: 0 is less than the minimum of 1"),
        ({"manifest_version": 1, "inputs": ["a/"], "select": {"classes": "Apple*"}}, "$.select.classes: 'Apple*' is not of type 'array'"),
        ({"manifest_version": 1, "inputs": ["a/"], "job": {"engine": "torch"}}, "$.job.engine: 'torch' is not one of"),
        ({"manifest_version": 1, "inputs": ["a/"], "job": {"pca_components": 5000}}, "$.job.pca_components: 5000 is greater than the maximum of 1280"),
        ({"manifest_version": 1, "inputs": ["a/"], "colour": "red"}, "Additional properties are not allowed ('colour' was unexpected)"),
        ({"manifest_version": 1, "inputs": ["a/"], "name": "no spaces please"}, "$.name: 'no spaces please' does not match"),
        ({"manifest_version": 1, "inputs": ["a/"], "select": {"max_images": 300.0}}, "$.select.max_images: 300.0 is not of type 'integer'"),
        ({"manifest_version": 1, "inputs": ["a/"], "job": {"batch_size": True}}, "$.job.batch_size: True is not of type 'integer'"),
    ],
)
def test_each_problem_is_named(document: dict, problem: str):
    with pytest.raises(InvalidManifest) as caught:
        parse_manifest(json.dumps(document), "s3://b/manifests/bad.json")
    assert "s3://b/manifests/bad.json" in str(caught.value)
    assert problem in str(caught.value)


def test_every_problem_is_reported_at_once():
    document = {"manifest_version": 3, "inputs": [], "select": {"seed": -1}}
    with pytest.raises(InvalidManifest) as caught:
        parse_manifest(json.dumps(document), "bad.json")
    assert str(caught.value).count("\n  - ") == 3


def test_the_job_and_the_prepare_run_lambda_word_an_invalid_manifest_alike():
    document = {"manifest_version": 3, "inputs": ["s3://b/images/"], "job": {"engine": "torch"}}
    with pytest.raises(InvalidManifest) as by_the_job:
        parse_manifest(json.dumps(document), "s3://b/manifests/bad.json")
    with pytest.raises(InvalidManifest) as by_the_lambda:
        validated_manifest(document, "s3://b/manifests/bad.json")
    assert str(by_the_job.value) == str(by_the_lambda.value) == (
        "s3://b/manifests/bad.json: invalid manifest:\n"
        "  - $.job.engine: 'torch' is not one of ['onnxruntime', 'tensorflow']\n"
        "  - $.manifest_version: 1 was expected")


def test_the_job_lists_the_first_problems_each_short_as_the_state_machine_sees_them():
    document = {"manifest_version": 1, "inputs": ["a/"], "description": "x" * 10_000,
                "select": {"classes": list(range(30))}}
    with pytest.raises(InvalidManifest) as caught:
        parse_manifest(json.dumps(document), "big.json")
    lines = str(caught.value).split("\n  - ")
    assert lines[0] == "big.json: invalid manifest:"
    assert "[... 9729 characters ...]" in lines[1] and lines[1].endswith("' is too long")
    assert len(lines) == 1 + 20 + 1 and lines[-1] == "and 11 more problems"
    assert isinstance(caught.value, OrchardError)  # the job's command line prints it as a usage error


def test_invalid_json_names_the_file():
    with pytest.raises(InvalidManifest, match="bad.json: not valid JSON"):
        parse_manifest("{", "bad.json")


def test_settings_come_from_flags_then_manifest_then_defaults():
    manifest = json.dumps({"manifest_version": 1, "name": "m", "inputs": ["imgs/"], "job": {"pca_components": 20, "engine": "tensorflow"}})
    arguments = parse_arguments(["s3://b/manifests/m.json", "--output", "out", "-k", "30"])
    settings = settings_from_arguments(arguments, lambda uri: manifest)
    assert settings.pca_components == 30  # flag
    assert settings.engine == "tensorflow"  # manifest
    assert settings.image_size == 224  # default
    assert settings.run_name == "m"
    assert settings.inputs == ("s3://b/manifests/imgs",)


def test_a_folder_input_needs_no_manifest():
    settings = settings_from_arguments(parse_arguments(["data/images", "--output", "out"]), lambda uri: pytest.fail("read"))
    assert settings.inputs == ("data/images",) and settings.selection.keeps_everything()


def test_bad_flags_are_refused(capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit):
        parse_arguments(["in", "--output", "out", "--pca-components", "0"])
    assert "argument --pca-components/-k: 0 is less than the minimum of 1" in capsys.readouterr().err


def test_runs_are_quiet_unless_verbose():
    assert not settings_from_arguments(parse_arguments(["in", "--output", "out"]), str).verbose
    assert settings_from_arguments(parse_arguments(["in", "--output", "out", "--verbose"]), str).verbose


# --- one run, one name: the rule the prepare-run function and the job share ------------------------------------


@pytest.mark.parametrize(("name", "location", "expected"), [
    ("mini", "s3://b/manifests/other.json", "mini"),  # the manifest's own name wins
    (None, "s3://b/manifests/Apples only.json", "Apples-only"),
    (None, "/data/manifests/Äpfel_2026.json", "Apfel_2026"),
    (None, "manifests/sub/dir/full.json", "full"),
    (None, "s3://b/manifests/" + "x" * 60 + ".json", "x" * 40),  # the schema's 40 characters
    (None, "s3://b/manifests/_-日本語-_.json", "run"),
    (None, None, "run"),  # given inline: no file to name it after
])
def test_a_run_is_named_by_its_manifest_else_its_file_else_run(name, location, expected):
    assert run_name_for(name, location) == expected


@given(file_name=st.text(max_size=80))
def test_any_file_name_gives_a_name_the_schema_allows(file_name: str):
    name = run_name_for(None, f"s3://b/manifests/{file_name}.json")
    assert schema_problems({"manifest_version": 1, "name": name, "inputs": ["a/"]}) == []


@pytest.mark.parametrize(("document", "expected"), [
    ({"manifest_version": 1, "inputs": ["imgs/"]}, "Apples-only"),
    ({"manifest_version": 1, "name": "m", "inputs": ["imgs/"]}, "m"),
])
def test_the_job_names_a_run_of_a_manifest_by_the_same_rule(document: dict, expected: str):
    settings = settings_from_arguments(parse_arguments(["/data/manifests/Apples only.json", "--output", "out"]),
                                   lambda path: json.dumps(document))
    assert settings.run_name == expected


def test_the_name_the_prepare_run_function_writes_is_the_one_the_job_reads():
    document = {"manifest_version": 1, "inputs": ["../fruits-360/Training/"]}
    resolved = validated_manifest(document, "s3://b/manifests/Apples only.json")
    stored_at = "s3://outputs/runs/Apples-only-20261127T210501Z-1a2b3c4d/manifest.json"
    settings = settings_from_arguments(parse_arguments([stored_at, "--output", "out"]), lambda uri: json.dumps(resolved))
    assert resolved["name"] == settings.run_name == "Apples-only"


def test_a_folder_input_has_the_fallback_name():
    assert settings_from_arguments(parse_arguments(["data/images", "--output", "out"]), str).run_name == "run"
