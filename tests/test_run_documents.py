"""The documents and columns the job and the Lambdas share: one schema each, checked on both sides; one column list."""

from __future__ import annotations

import pytest

from job_outputs import JobOutputs
from orchard_contract.json_schemas import load_schema
from orchard_contract.run_outputs import (
    FEATURES_OUTPUT,
    MODEL_INFO_DOCUMENT,
    PARQUET_OUTPUTS,
    SUCCESS_MARKER_DOCUMENT,
    OutputDocumentInvalid,
    RunDocument,
    ddl,
)


@pytest.mark.parametrize("kind", [MODEL_INFO_DOCUMENT, SUCCESS_MARKER_DOCUMENT], ids=lambda kind: kind.name)
def test_each_document_names_its_schema_and_writes_its_version(kind: RunDocument) -> None:
    schema = load_schema(kind.schema)
    version_field = {"model-info": "model_info_version", "success-marker": "marker_version"}[kind.name]

    assert schema["$id"].endswith("/" + kind.schema)
    assert schema["properties"][version_field]["const"] == kind.version
    assert version_field in schema["required"]


def test_a_document_that_breaks_its_schema_is_refused_naming_it_and_each_field() -> None:
    marker = JobOutputs().marker() | {"finished": "now"}
    marker["counts"] = {**marker["counts"], "images_failed": "2"}

    with pytest.raises(OutputDocumentInvalid) as raised:
        SUCCESS_MARKER_DOCUMENT.check(marker)

    assert str(raised.value) == (
        "_SUCCESS does not follow success-marker-v1.schema.json:\n"
        "  - $: Additional properties are not allowed ('finished' was unexpected)\n"
        "  - $.counts.images_failed: '2' is not of type 'integer'"
    )


def test_the_job_writes_no_document_that_breaks_its_schema() -> None:
    from orchard_features import storage

    info = JobOutputs().model_info()
    del info["model"]["engine"]

    with pytest.raises(OutputDocumentInvalid, match=r"(?s)^model_info/model_info.json does not follow .*\$.model: 'engine' is a required"):
        storage.write_document(None, "/nowhere", MODEL_INFO_DOCUMENT, info)  # refused before any file is touched


def test_the_udf_returns_to_spark_the_small_columns_it_computes_and_its_features_files_the_features() -> None:
    from orchard_features.feature_files import FEATURE_FILE_SCHEMA
    from orchard_features.features import FEATURE_RESULT_SCHEMA

    assert FEATURE_RESULT_SCHEMA == "error string, width int, height int, mode string"
    assert FEATURE_FILE_SCHEMA.names == FEATURES_OUTPUT.names


def test_the_parquet_outputs_as_spark_schemas() -> None:
    assert {output.folder: ddl(output.columns) for output in PARQUET_OUTPUTS} == {
        "features": "path string, label string, features array<float>",
        "pca": "path string, label string, pca array<double>",
        "metadata": "path string, label string, split string, width int, height int, mode string, status string",
        "errors": "path string, label string, reason string",
    }
