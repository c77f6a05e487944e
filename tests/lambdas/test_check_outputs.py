"""Check outputs: a finished run's outputs pass; each way they can be wrong fails with its own error.

The pure checks get hand-built footers (`PartFile`s); the handler reads real Parquet part files
from moto's S3, written with pyarrow in the job's layout and with the schema Spark gives them
(checked against a local run of the job: arrays are Parquet lists, `pca`'s elements not null,
an empty output is one part file without row groups).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from dataclasses import replace
from itertools import accumulate
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser import ValidationError

from job_outputs import SHARES, WRITE_ID, JobOutputs, K, write_outputs
from orchard_contract.run_outputs import MODEL_INFO_DOCUMENT, SUCCESS_MARKER_DOCUMENT, OutputDocumentInvalid
from orchard_functions import outputs
from orchard_functions.outputs import (
    CountsDoNotAddUp,
    ImpossibleExplainedVariance,
    ModelInfoMissing,
    OutputSchemaUnexpected,
    SuccessMarkerMissing,
    WrongDimensions,
)
from orchard_functions.outputs_s3 import FOOTER_READ_BYTES, is_part_file, read_part_files
from orchard_local.account import OUTPUTS_BUCKET, example_run

RUN_ID = "mini-20261127T210501Z-1a2b3c4d"
OUTPUT_URI = f"s3://{OUTPUTS_BUCKET}/runs/{RUN_ID}/"
PREFIX = f"runs/{RUN_ID}/"
RUN = example_run(RUN_ID, pca_components=K)
MODEL_INFO_SCHEMA = "model_info/model_info.json does not follow model-info-v1.schema.json"
FIGURES = {
    "images_read": 12,
    "featurized": 6,
    "reused": 4,
    "failed": 2,
    "pca_components": K,
    "explained_variance_total": 0.875,
    "feature_seconds": 41.5,
    "weights": "imagenet",
    "weights_are_random": False,
}


# --- the pure checks ---------------------------------------------------------------------------


def figures(job: JobOutputs | None = None, **overrides: Any) -> dict[str, Any]:
    job = job or JobOutputs()
    arguments = {"marker": job.marker(), "model_info": job.model_info(), "part_files": job.part_files(),
                 "pca_components": K, "output_uri": OUTPUT_URI} | overrides
    return outputs.verified_figures(**arguments)


def with_field(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `document` with `path` ("a.b") set to `value`, or removed if value is ..."""
    copy = json.loads(json.dumps(document))
    *parents, name = path.split(".")
    target = copy
    for parent in parents:
        target = target[parent]
    if value is ...:
        del target[name]
    else:
        target[name] = value
    return copy


def variance(shares: list[float], **fields: Any) -> dict[str, Any]:
    """model_info with these shares (cumulative and total consistent with them unless given)."""
    cumulative = list(accumulate(shares))
    pca = {"k": K, "explained_variance": shares, "cumulative_explained_variance": cumulative,
           "total_explained_variance": cumulative[-1] if cumulative else 0.0} | fields
    return with_field(JobOutputs().model_info(), "pca", pca)


def test_whole_outputs_give_the_run_figures() -> None:
    assert figures() == FIGURES


def _counts(read: int, featurized: int, reused: int, failed: int) -> dict[str, Any]:
    model_info = JobOutputs().model_info()
    model_info["counts"] |= {"images_read": read, "images_featurized": featurized, "images_reused": reused,
                             "images_failed": failed}
    return {"model_info": model_info, "marker": JobOutputs().marker() | {"counts": model_info["counts"]}}


def _drop_file(folder: str) -> dict[str, Any]:
    part_files = JobOutputs().part_files()
    part_files[folder] = part_files[folder][1:]
    return {"part_files": part_files}


def _replace_file(folder: str, **changes: Any) -> dict[str, Any]:
    part_files = JobOutputs().part_files()
    part_files[folder][0] = replace(part_files[folder][0], **changes)
    return {"part_files": part_files}


FEATURES_0 = f"features/part-00000-{WRITE_ID}-c000.snappy.parquet"
PCA_0 = f"pca/part-00000-{WRITE_ID}-c000.snappy.parquet"
FAILURES: dict[str, tuple[Callable[[], dict[str, Any]], type[Exception], str]] = {
    "no marker": (lambda: {"marker": None}, SuccessMarkerMissing,
                  f"no _SUCCESS marker under {OUTPUT_URI}: the feature job did not finish"),
    "no model_info": (lambda: {"model_info": None}, ModelInfoMissing,
                      f"no model_info/model_info.json under {OUTPUT_URI}, although _SUCCESS is there"),
    "read != featurized + reused + failed": (lambda: _counts(13, 6, 4, 2), CountsDoNotAddUp,
                                             "model_info/model_info.json counts 6 featurized + 4 reused + 2 failed = 12, but 13 read"),
    "reuse not counted": (lambda: _counts(12, 6, 0, 2), CountsDoNotAddUp,
                          "model_info/model_info.json counts 6 featurized + 0 reused + 2 failed = 8, but 12 read"),
    "negative count": (lambda: _counts(12, 14, 0, -2), CountsDoNotAddUp, "model_info/model_info.json counts 12 read, 14 featurized, 0 reused, -2 failed"),
    "negative reused": (lambda: _counts(12, 12, -2, 2), CountsDoNotAddUp, "model_info/model_info.json counts 12 read, 12 featurized, -2 reused, 2 failed"),
    "marker counts differ": (lambda: {"marker": with_field(JobOutputs().marker(), "counts.classes", 2)}, CountsDoNotAddUp,
                             "_SUCCESS counts {'images_read': 12, 'images_featurized': 6, 'images_reused': 4, 'images_failed': 2, 'classes': 2} differ from model_info/model_info.json counts {'images_read': 12, 'images_featurized': 6, 'images_reused': 4, 'images_failed': 2, 'classes': 1}"),
    "features rows": (lambda: _drop_file("features"), CountsDoNotAddUp,
                      "features/ holds 5 rows in 1 part files, but model_info/model_info.json counts images_featurized + images_reused = 10"),
    "pca rows": (lambda: _replace_file("pca", rows=4, values={"path": 4, "label": 4, "pca": 20}), CountsDoNotAddUp,
                 "pca/ holds 9 rows in 2 part files, but model_info/model_info.json counts images_featurized + images_reused = 10"),
    "metadata rows": (lambda: _drop_file("metadata"), CountsDoNotAddUp,
                      "metadata/ holds 6 rows in 1 part files, but model_info/model_info.json counts images_read = 12"),
    "errors rows": (lambda: {"part_files": JobOutputs().part_files() | {"errors": []}}, CountsDoNotAddUp,
                    "errors/ holds 0 rows in 0 part files, but model_info/model_info.json counts images_failed = 2"),
    "model feature_dimension": (lambda: {"model_info": with_field(JobOutputs().model_info(), "model.feature_dimension", 1024)},
                                WrongDimensions, "model_info/model_info.json model.feature_dimension is 1024, expected 1280"),
    "pca.k": (lambda: {"pca_components": 4}, WrongDimensions,
              "model_info/model_info.json pca.k is 5, but the run asked for pca_components=4"),
    "feature vectors": (lambda: {"part_files": JobOutputs(feature_length=1000).part_files()}, WrongDimensions,
                        f"{FEATURES_0}: 5000 features values for 5 rows (1000 per row), expected 1280 per row (the MobileNetV2 feature size)"),
    "one short feature vector": (lambda: _replace_file("features", values={"path": 5, "label": 5, "features": 5 * 1280 - 1}),
                                 WrongDimensions, f"{FEATURES_0}: 6399 features values for 5 rows (1279.8 per row)"),
    "pca vectors": (lambda: {"part_files": JobOutputs(pca_length=4).part_files()}, WrongDimensions,
                    f"{PCA_0}: 20 pca values for 5 rows (4 per row), expected 5 per row (the run's pca_components)"),
    "variance count": (lambda: {"model_info": variance(SHARES[:4])}, ImpossibleExplainedVariance,
                       "pca.explained_variance has 4 values, expected k=5"),
    "variance negative": (lambda: {"model_info": variance([0.4, 0.2, 0.1, 0.05, -0.01])}, ImpossibleExplainedVariance,
                          r"pca.explained_variance[4] is -0.01, outside [0, 1]"),
    "variance above 1": (lambda: {"model_info": variance([1.2, 0.0, 0.0, 0.0, 0.0])}, ImpossibleExplainedVariance,
                         "pca.explained_variance[0] is 1.2, outside [0, 1]"),
    "variance not a number": (lambda: {"model_info": variance([0.4, math.nan, 0.1, 0.05, 0.05])},
                              ImpossibleExplainedVariance, "pca.explained_variance[1] is nan, outside [0, 1]"),
    "variance increasing": (lambda: {"model_info": variance([0.4, 0.1, 0.2, 0.05, 0.05])}, ImpossibleExplainedVariance,
                            "pca.explained_variance increases: [1] is 0.1, [2] is 0.2"),
    "variance sums above 1": (lambda: {"model_info": variance([0.5, 0.3, 0.2, 0.1, 0.1])}, ImpossibleExplainedVariance,
                              "pca explained variance sums to 1.2000000000000002, more than 1"),
    "cumulative inconsistent": (lambda: {"model_info": variance(SHARES, cumulative_explained_variance=[0.375, 0.625, 0.75, 0.8125, 0.9])},
                                ImpossibleExplainedVariance,
                                "pca.cumulative_explained_variance[4] is 0.9, but the shares up to it sum to 0.875"),
    "total inconsistent": (lambda: {"model_info": variance(SHARES, total_explained_variance=0.95)},
                           ImpossibleExplainedVariance, "pca.total_explained_variance is 0.95, but the shares sum to 0.875"),
    "column missing": (lambda: _replace_file("metadata", columns={"path": "string", "label": "string"}),
                       OutputSchemaUnexpected,
                       f"metadata/part-00000-{WRITE_ID}-c000.snappy.parquet lacks column(s) split, width, height, mode, status; it has path, label"),
    "vector not a list": (lambda: _replace_file("pca", columns={"path": "string", "label": "string", "pca": "binary"}),
                          OutputSchemaUnexpected, f"{PCA_0} column pca is binary, expected a list"),
    "model_info field missing": (lambda: {"model_info": with_field(JobOutputs().model_info(), "counts.images_failed", ...)},
                                 OutputDocumentInvalid, f"{MODEL_INFO_SCHEMA}:\n  - $.counts: 'images_failed' is a required property"),
    "reused count missing": (lambda: {"model_info": with_field(JobOutputs().model_info(), "counts.images_reused", ...)},
                             OutputDocumentInvalid, f"{MODEL_INFO_SCHEMA}:\n  - $.counts: 'images_reused' is a required property"),
    "model_info field type": (lambda: {"model_info": with_field(JobOutputs().model_info(), "pca.k", "5")},
                              OutputDocumentInvalid, f"{MODEL_INFO_SCHEMA}:\n  - $.pca.k: '5' is not of type 'integer'"),
    "bool for a count": (lambda: {"model_info": with_field(JobOutputs().model_info(), "counts.images_read", True)},
                         OutputDocumentInvalid, f"{MODEL_INFO_SCHEMA}:\n  - $.counts.images_read: True is not of type 'integer'"),
    "numbers only": (lambda: {"model_info": with_field(JobOutputs().model_info(), "pca.explained_variance", [0.5, "0.25"])},
                     OutputDocumentInvalid, f"{MODEL_INFO_SCHEMA}:\n  - $.pca.explained_variance[1]: '0.25' is not of type 'number'"),
    "model_info field unexpected": (lambda: {"model_info": with_field(JobOutputs().model_info(), "model.colour", "red")},
                                    OutputDocumentInvalid, f"{MODEL_INFO_SCHEMA}:\n  - $.model: Additional properties are not allowed ('colour' was unexpected)"),
    "marker without counts": (lambda: {"marker": with_field(JobOutputs().marker(), "counts", ...)}, OutputDocumentInvalid,
                              "_SUCCESS does not follow success-marker-v1.schema.json:\n  - $: 'counts' is a required property"),
    "marker counts of the wrong type": (lambda: {"marker": with_field(JobOutputs().marker(), "counts.classes", 1.0)}, OutputDocumentInvalid,
                                        "_SUCCESS does not follow success-marker-v1.schema.json:\n  - $.counts.classes: 1.0 is not of type 'integer'"),
}


@pytest.mark.parametrize("case", FAILURES, ids=list(FAILURES))
def test_each_problem_has_its_error(case: str) -> None:
    overrides, error, message = FAILURES[case]

    with pytest.raises(error) as raised:
        figures(**overrides())

    assert str(raised.value).startswith(message)


def test_a_tiny_rounding_error_in_the_variance_passes() -> None:
    shares = [0.4, 0.2, 0.1, 0.05 + 1e-9, 0.05]  # not quite non-increasing, by less than the tolerance
    assert figures(model_info=variance(shares))["explained_variance_total"] == pytest.approx(0.8)


def test_the_layout_is_the_jobs() -> None:
    from orchard_contract.run_outputs import FEATURE_DIMENSION, MODEL_INFO_FILE
    from orchard_features import storage

    assert outputs.SUCCESS_MARKER == storage.SUCCESS_MARKER
    assert outputs.MODEL_INFO_KEY == f"model_info/{MODEL_INFO_FILE}"
    assert outputs.FEATURE_DIMENSION == FEATURE_DIMENSION
    assert set(outputs.PARQUET_FOLDERS) <= set(storage.OUTPUT_FOLDERS)


def test_the_fake_documents_follow_their_schemas() -> None:
    assert MODEL_INFO_DOCUMENT.problems(JobOutputs().model_info()) == []
    assert SUCCESS_MARKER_DOCUMENT.problems(JobOutputs().marker()) == []


@pytest.mark.parametrize(
    ("relative_key", "size", "expected"),
    [
        (f"part-00000-{WRITE_ID}-c000.snappy.parquet", 1024, True),
        ("_SUCCESS", 0, False),
        (f".part-00000-{WRITE_ID}-c000.snappy.parquet.crc", 12, False),
        (f"_temporary/0/task_1/part-00000-{WRITE_ID}-c000.snappy.parquet", 1024, False),
        ("empty/", 0, False),
    ],
)
def test_part_files_are_what_spark_would_read(relative_key: str, size: int, expected: bool) -> None:
    assert is_part_file(relative_key, size) is expected


# --- the handler, against moto's S3 ------------------------------------------------------------


@pytest.fixture
def app():
    from check_outputs import app

    return app


def test_footers_read_from_s3_are_the_part_files(s3) -> None:
    job = JobOutputs(read=30, failed=3, files=3)
    write_outputs(s3, job)

    assert read_part_files(s3, OUTPUT_URI, outputs.PARQUET_FOLDERS) == job.part_files()


def test_whole_outputs_pass(s3, app, lambda_context) -> None:
    write_outputs(s3, JobOutputs())

    assert app.handler({"run": RUN}, lambda_context) == FIGURES


def test_a_run_plan_always_names_its_k(s3, app, lambda_context) -> None:
    """Prepare run writes the default k into the plan when the manifest leaves it out: a plan without one is refused."""
    write_outputs(s3, JobOutputs())

    with pytest.raises(ValidationError, match="pca_components"):
        app.handler({"run": RUN | {"pca_components": None}}, lambda_context)


def test_no_failed_image_and_an_empty_errors_folder_pass(s3, app, lambda_context) -> None:
    write_outputs(s3, JobOutputs(read=10, failed=0, reused=0))  # errors/ holds one part file with no row group

    checked = app.handler({"run": RUN}, lambda_context)

    assert (checked["images_read"], checked["featurized"], checked["reused"], checked["failed"]) == (10, 10, 0, 0)


def test_a_run_that_reused_every_image_passes(s3, app, lambda_context) -> None:
    write_outputs(s3, JobOutputs(read=12, failed=2, reused=10))

    checked = app.handler({"run": RUN}, lambda_context)

    assert (checked["images_read"], checked["featurized"], checked["reused"], checked["failed"]) == (12, 0, 10, 2)


def test_footers_only_are_read(s3, app, lambda_context) -> None:
    write_outputs(s3, JobOutputs(read=200, failed=0, files=1))
    features = f"{PREFIX}features/part-00000-{WRITE_ID}-c000.snappy.parquet"
    size = s3.head_object(Bucket=OUTPUTS_BUCKET, Key=features)["ContentLength"]
    ranges: list[str] = []

    def record(params, **_):
        if params["url_path"].endswith("/features/part-00000-" + WRITE_ID + "-c000.snappy.parquet"):
            ranges.append(params["headers"].get("Range"))

    app.s3.meta.events.register("before-call.s3.GetObject", record)
    try:
        app.handler({"run": RUN}, lambda_context)
    finally:
        app.s3.meta.events.unregister("before-call.s3.GetObject", record)

    # one GET of the last 64 KiB (the footer is smaller), never the whole 1 MB of 200 x 1,280 floats
    assert ranges == [f"bytes=-{FOOTER_READ_BYTES}"] and FOOTER_READ_BYTES < size / 5


def test_a_footer_longer_than_the_first_read_takes_a_second_one(s3, monkeypatch) -> None:
    from orchard_functions import outputs_s3

    write_outputs(s3, JobOutputs(read=20, failed=0, files=1))
    key = f"{PREFIX}features/part-00000-{WRITE_ID}-c000.snappy.parquet"
    whole = outputs_s3.read_footer(s3, OUTPUTS_BUCKET, key, "features/part-00000")
    monkeypatch.setattr(outputs_s3, "FOOTER_READ_BYTES", 64)

    assert outputs_s3.read_footer(s3, OUTPUTS_BUCKET, key, "features/part-00000") == whole
    assert (whole.rows, whole.columns["features"], whole.values["features"]) == (20, "LIST", 20 * 1280)


def test_an_object_that_is_not_parquet_is_named(s3) -> None:
    from orchard_functions import outputs_s3

    s3.put_object(Bucket=OUTPUTS_BUCKET, Key="runs/x/features/part-00000.parquet", Body=b"{}" * 10)

    with pytest.raises(OutputSchemaUnexpected, match="features/part-00000 is not a Parquet file"):
        outputs_s3.read_footer(s3, OUTPUTS_BUCKET, "runs/x/features/part-00000.parquet", "features/part-00000")


@pytest.mark.parametrize(
    ("job", "written", "error", "message"),
    [
        (JobOutputs(), {"marker": False}, SuccessMarkerMissing, f"no _SUCCESS marker under {OUTPUT_URI}"),
        (JobOutputs(), {"model_info": False}, ModelInfoMissing, f"no model_info/model_info.json under {OUTPUT_URI}"),
        (JobOutputs(feature_length=1000), {}, WrongDimensions, f"{FEATURES_0}: 5000 features values for 5 rows"),
        (JobOutputs(pca_length=3), {}, WrongDimensions, f"{PCA_0}: 15 pca values for 5 rows (3 per row), expected 5"),
    ],
    ids=["no marker", "no model_info", "feature length", "pca length"],
)
def test_broken_outputs_fail_the_run(s3, app, lambda_context, job, written, error, message) -> None:
    write_outputs(s3, job, **written)

    with pytest.raises(error, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        app.handler({"run": RUN}, lambda_context)


def test_a_missing_part_file_fails_the_run(s3, app, lambda_context) -> None:
    write_outputs(s3, JobOutputs())
    s3.delete_object(Bucket=OUTPUTS_BUCKET, Key=f"{PREFIX}pca/part-00001-{WRITE_ID}-c000.snappy.parquet")

    with pytest.raises(CountsDoNotAddUp, match="^pca/ holds 5 rows in 1 part files, but .* counts images_featurized [+] images_reused = 10$"):
        app.handler({"run": RUN}, lambda_context)


def test_impossible_variance_fails_the_run(s3, app, lambda_context) -> None:
    write_outputs(s3, JobOutputs())
    s3.put_object(Bucket=OUTPUTS_BUCKET, Key=PREFIX + outputs.MODEL_INFO_KEY,
                  Body=json.dumps(variance([0.4, 0.1, 0.2, 0.05, 0.05])))

    with pytest.raises(ImpossibleExplainedVariance, match=r"^pca.explained_variance increases: \[1\] is 0.1, \[2\] is 0.2$"):
        app.handler({"run": RUN}, lambda_context)


def test_a_marker_that_is_not_json_fails_the_run(s3, app, lambda_context) -> None:
    write_outputs(s3, JobOutputs())
    s3.put_object(Bucket=OUTPUTS_BUCKET, Key=PREFIX + "_SUCCESS", Body=b"")  # a Hadoop committer's empty marker

    with pytest.raises(OutputDocumentInvalid, match=f"^{OUTPUT_URI}_SUCCESS is not JSON: "):
        app.handler({"run": RUN}, lambda_context)


def test_a_run_without_output_uri_is_refused(app, lambda_context) -> None:
    with pytest.raises(ValidationError, match="output_uri"):
        app.handler({"run": {key: value for key, value in RUN.items() if key != "output_uri"}}, lambda_context)


def pyarrow_reading(data: bytes) -> tuple[int, dict[str, bool], dict[str, int]]:
    """Rows, whether each top-level column is a list, and the values stored per column, as pyarrow reads them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    metadata = pq.read_metadata(io.BytesIO(data))
    schema = metadata.schema.to_arrow_schema()
    values = dict.fromkeys(schema.names, 0)
    for group in range(metadata.num_row_groups):
        for index in range(metadata.num_columns):
            chunk = metadata.row_group(group).column(index)
            values[chunk.path_in_schema.split(".")[0]] += chunk.num_values
    return metadata.num_rows, {f.name: pa.types.is_list(f.type) for f in schema}, values


def pyarrow_tables() -> dict[str, tuple[Any, dict[str, Any]]]:
    import pyarrow as pa

    rows = 20
    return {
        "row groups": (pa.table({"path": [f"p{i}" for i in range(rows)], "v": [[1.0, 2.0]] * rows}), {"row_group_size": 7}),
        "nested lists": (pa.table({"v": [[[1.0], [2.0, 3.0]]] * rows}), {}),
        "struct and map": (pa.table({"s": [{"a": 1, "b": "x"}] * rows,
                                     "m": pa.array([[("k", 1)]] * rows, type=pa.map_(pa.string(), pa.int64()))}), {}),
        "no rows": (pa.table({"path": pa.array([], pa.string()), "v": pa.array([], pa.list_(pa.float32()))}), {}),
    }


@pytest.mark.parametrize("case", sorted(pyarrow_tables()))
def test_a_footer_says_what_pyarrow_reads_in_it(s3, case) -> None:
    import pyarrow.parquet as pq

    from orchard_functions import outputs_s3

    table, options = pyarrow_tables()[case]
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    s3.put_object(Bucket=OUTPUTS_BUCKET, Key="runs/x/part.parquet", Body=buffer.getvalue())

    part = outputs_s3.read_footer(s3, OUTPUTS_BUCKET, "runs/x/part.parquet", "part.parquet")

    lists = {name: kind == "LIST" for name, kind in part.columns.items()}
    assert (part.rows, lists, dict(part.values)) == pyarrow_reading(buffer.getvalue())
