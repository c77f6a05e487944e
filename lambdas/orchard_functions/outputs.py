"""Whether a finished feature job's outputs are whole and consistent: pure checks, no AWS.

The check-outputs Lambda reads the success marker, `model_info/model_info.json` and the
footers of the Parquet part files (see `outputs_s3`), and hands them here. Each way the
outputs can be wrong raises its own error, whose class name is the error the state machine
sees. What the job writes is declared in orchard_contract, which the job itself uses: the two
documents' schemas and the Parquet outputs' columns (`run_outputs`); a document that breaks its schema raises
the contract's `OutputDocumentInvalid`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchard_contract.run_outputs import (
    FEATURE_DIMENSION,
    FEATURES,
    FEATURES_OUTPUT,
    MODEL_INFO_DOCUMENT,
    PARQUET_OUTPUTS,
    PCA,
    PCA_OUTPUT,
    SUCCESS_MARKER_DOCUMENT,
    Column,
)

MODEL_INFO_KEY = MODEL_INFO_DOCUMENT.key
SUCCESS_MARKER = SUCCESS_MARKER_DOCUMENT.key
PARQUET_FOLDERS = [output.folder for output in PARQUET_OUTPUTS]
LIST = "LIST"  # a column's type in PartFile when it is a Parquet list (a group annotated LIST)
VARIANCE_TOLERANCE = 1e-6


class SuccessMarkerMissing(Exception):
    """The job's `_SUCCESS` marker is not under the output prefix: the job did not finish."""


class ModelInfoMissing(Exception):
    """`model_info/model_info.json` is not under the output prefix."""


class OutputSchemaUnexpected(Exception):
    """A Parquet part file lacks a column the job writes, or a vector column is not a list."""


class CountsDoNotAddUp(Exception):
    """The image counts disagree with each other or with the rows in the Parquet outputs."""


class WrongDimensions(Exception):
    """A feature vector is not 1,280 long, or a PCA projection not k long."""


class ImpossibleExplainedVariance(Exception):
    """The recorded explained variance cannot come from a PCA."""


@dataclass(frozen=True)
class PartFile:
    """One Parquet part file, as its footer describes it."""

    name: str  # relative to the output prefix, e.g. "features/part-00000-...parquet"
    rows: int
    columns: Mapping[str, str]  # top-level column -> Parquet type: a leaf's physical type (BYTE_ARRAY...), or LIST
    values: Mapping[str, int]  # top-level column -> values stored in its leaf column (Parquet num_values)


def require_documents(marker: Any, model_info: Any, output_uri: str) -> None:
    """Raise unless both documents were found (None: no such object)."""
    if marker is None:
        raise SuccessMarkerMissing(f"no {SUCCESS_MARKER} marker under {output_uri}: the feature job did not finish")
    if model_info is None:
        raise ModelInfoMissing(f"no {MODEL_INFO_KEY} under {output_uri}, although {SUCCESS_MARKER} is there")


def verified_figures(*, marker: Any, model_info: Any, part_files: Mapping[str, Sequence[PartFile]],
                     pca_components: int, output_uri: str) -> dict[str, Any]:
    """The run's figures for the state machine (`$.outputs`), once every check has passed.

    `part_files` maps each folder of PARQUET_OUTPUTS to its part files; `pca_components` is
    the k the run asked for (the run plan's: the manifest's, or the default the plan wrote out).
    """
    require_documents(marker, model_info, output_uri)
    SUCCESS_MARKER_DOCUMENT.check(marker)
    MODEL_INFO_DOCUMENT.check(model_info)
    counts, model = model_info["counts"], model_info["model"]
    read, featurized, failed = counts["images_read"], counts["images_featurized"], counts["images_failed"]
    reused = counts["images_reused"]
    check_counts(read=read, featurized=featurized, reused=reused, failed=failed)
    check_marker_counts(marker, counts)
    check_model_dimensions(model_info, pca_components)
    total = check_explained_variance(model_info["pca"], pca_components)
    for output in PARQUET_OUTPUTS:
        check_columns(part_files[output.folder], output.columns)
        check_rows(output.folder, part_files[output.folder], output.rows(counts), " + ".join(output.rows_counts))
    check_vector_lengths(part_files[FEATURES_OUTPUT.folder], FEATURES.name, FEATURE_DIMENSION,
                         "the MobileNetV2 feature size")
    check_vector_lengths(part_files[PCA_OUTPUT.folder], PCA.name, pca_components, "the run's pca_components")
    return {
        "images_read": read,
        "featurized": featurized,
        "reused": reused,
        "failed": failed,
        "pca_components": pca_components,
        "explained_variance_total": total,
        "feature_seconds": model_info["timings_seconds"]["features"],
        "weights": model["weights"],
        "weights_are_random": model["weights_are_random"],
    }


def check_counts(*, read: int, featurized: int, reused: int, failed: int) -> None:
    """featurized + reused + failed = read, and none negative."""
    if min(read, featurized, reused, failed) < 0:
        raise CountsDoNotAddUp(
            f"{MODEL_INFO_KEY} counts {read} read, {featurized} featurized, {reused} reused, {failed} failed"
        )
    if featurized + reused + failed != read:
        raise CountsDoNotAddUp(
            f"{MODEL_INFO_KEY} counts {featurized} featurized + {reused} reused + {failed} failed = "
            f"{featurized + reused + failed}, but {read} read"
        )


def check_marker_counts(marker: Mapping[str, Any], counts: Mapping[str, Any]) -> None:
    """The marker records the same counts as model_info.json (both are written at the end of one run)."""
    recorded = marker["counts"]
    if recorded != dict(counts):
        raise CountsDoNotAddUp(f"{SUCCESS_MARKER} counts {recorded} differ from {MODEL_INFO_KEY} counts {dict(counts)}")


def check_model_dimensions(model_info: Mapping[str, Any], pca_components: int) -> None:
    """model_info records the MobileNetV2 feature size and the k the run asked for."""
    dimension = model_info["model"]["feature_dimension"]
    if dimension != FEATURE_DIMENSION:
        raise WrongDimensions(f"{MODEL_INFO_KEY} model.feature_dimension is {dimension}, expected {FEATURE_DIMENSION}")
    k = model_info["pca"]["k"]
    if k != pca_components:
        raise WrongDimensions(f"{MODEL_INFO_KEY} pca.k is {k}, but the run asked for pca_components={pca_components}")


def check_explained_variance(pca: Mapping[str, Any], k: int) -> float:
    """Raise unless model_info's `pca` shares are k finite values in [0, 1], non-increasing, summing to at most 1,
    with the recorded cumulative shares and total matching their sum. Returns the total."""
    shares = [float(share) for share in pca["explained_variance"]]
    cumulative = [float(share) for share in pca["cumulative_explained_variance"]]
    total = pca["total_explained_variance"]
    tolerance = VARIANCE_TOLERANCE
    for name, values in (("explained_variance", shares), ("cumulative_explained_variance", cumulative)):
        if len(values) != k:
            raise ImpossibleExplainedVariance(f"pca.{name} has {len(values)} values, expected k={k}")
    for i, share in enumerate(shares):
        if not math.isfinite(share) or share < -tolerance or share > 1 + tolerance:
            raise ImpossibleExplainedVariance(f"pca.explained_variance[{i}] is {share}, outside [0, 1]")
        if i and share > shares[i - 1] + tolerance:
            raise ImpossibleExplainedVariance(
                f"pca.explained_variance increases: [{i - 1}] is {shares[i - 1]}, [{i}] is {share}"
            )
    running = 0.0
    for i, (share, recorded) in enumerate(zip(shares, cumulative, strict=True)):
        running += share
        if not math.isfinite(recorded) or abs(recorded - running) > tolerance:
            raise ImpossibleExplainedVariance(
                f"pca.cumulative_explained_variance[{i}] is {recorded}, but the shares up to it sum to {running}"
            )
    if running > 1 + tolerance:
        raise ImpossibleExplainedVariance(f"pca explained variance sums to {running}, more than 1")
    if not math.isfinite(total) or abs(total - running) > tolerance:
        raise ImpossibleExplainedVariance(f"pca.total_explained_variance is {total}, but the shares sum to {running}")
    return float(total)


def check_columns(files: Sequence[PartFile], columns: Sequence[Column]) -> None:
    """Every part file has the job's columns; each array column is a list."""
    for part in files:
        missing = [column.name for column in columns if column.name not in part.columns]
        if missing:
            raise OutputSchemaUnexpected(
                f"{part.name} lacks column(s) {', '.join(missing)}; it has {', '.join(part.columns) or 'none'}"
            )
        for vector in (column.name for column in columns if column.is_array):
            if part.columns[vector] != LIST:
                raise OutputSchemaUnexpected(f"{part.name} column {vector} is {part.columns[vector]}, expected a list")


def check_rows(folder: str, files: Sequence[PartFile], expected: int, count: str) -> None:
    """The part files of `folder` hold `expected` rows in all (`count` names the counts that sum to it)."""
    rows = sum(part.rows for part in files)
    if rows != expected:
        raise CountsDoNotAddUp(
            f"{folder}/ holds {rows} rows in {len(files)} part files, but {MODEL_INFO_KEY} counts {count} = {expected}"
        )


def check_vector_lengths(files: Sequence[PartFile], column: str, dimension: int, meaning: str) -> None:
    """Each file stores `dimension` values of `column` per row.

    Spark writes arrays as variable-length Parquet lists, so the schema cannot fix their length;
    the footer's value count of the list's leaf column can: it counts every element (and one
    entry per null or empty list), so it equals dimension x rows when every row holds a vector
    of that length. This covers every row of every file at no cost beyond the footers.
    """
    for part in files:
        values = part.values.get(column, 0)
        if part.rows and values != dimension * part.rows:
            raise WrongDimensions(
                f"{part.name}: {values} {column} values for {part.rows} rows ({values / part.rows:g} per row), "
                f"expected {dimension} per row ({meaning})"
            )

