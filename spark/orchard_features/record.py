"""The run's record: `model_info/model_info.json` (MODEL_INFO_DOCUMENT: counts, explained variance, model,
library versions, timings), which `job.run` returns and the closing lines and the report are drawn from, and the
success marker written after it, last of all the run's writes, so that a run that fails late leaves none.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import SparkSession

from orchard_contract.paths import label_from_path
from orchard_contract.run_outputs import FEATURE_DIMENSION, MODEL_INFO_DOCUMENT, SUCCESS_MARKER_DOCUMENT
from orchard_features import storage
from orchard_features.images import PREPROCESSING
from orchard_features.model import MODEL_NAME, ModelArtifact, feature_fingerprint
from orchard_features.pca import PcaResult
from orchard_features.settings import JobSettings
from orchard_features.versions import library_versions


def tally(selected: Collection[str], featurized: int, reused: int) -> dict[str, int]:
    """The run's counts: every selected image is read, then featurized, reused from the feature store, or failed."""
    return {
        "images_read": len(selected),
        "images_featurized": featurized,
        "images_reused": reused,
        "images_failed": len(selected) - featurized - reused,
        "classes": len({label_from_path(path) for path in selected}),
    }


def model_info(settings: JobSettings, artifact: ModelArtifact, counts: dict[str, int], pca: PcaResult,
               started_at: datetime, timings: dict[str, float]) -> dict[str, Any]:
    """The run's record: counts, explained variance, model, library versions, timings."""
    feature_seconds = timings.get("features", 0.0)
    per_minute = round(60 * counts["images_read"] / feature_seconds, 1) if feature_seconds else None
    return {
        "model_info_version": MODEL_INFO_DOCUMENT.version,
        "run": {
            "name": settings.run_name,
            "started_at": started_at.isoformat(timespec="seconds"),
            "inputs": list(settings.inputs),
            "output": settings.output,
            "selection": {
                "classes": list(settings.selection.classes),
                "max_per_class": settings.selection.max_per_class,
                "max_images": settings.selection.max_images,
                "seed": settings.selection.seed,
            },
            "feature_store": settings.feature_store,
            "reuse_features": settings.reuse_features,
        },
        "counts": counts,
        "model": {
            "name": MODEL_NAME,
            "include_top": False,
            "pooling": "avg",
            "feature_dimension": FEATURE_DIMENSION,
            "weights": artifact.weights,
            "weights_are_random": artifact.weights_are_random,
            "weights_description": artifact.describe_weights(),
            "image_size": artifact.image_size,
            "preprocessing": PREPROCESSING,
            "engine": artifact.engine,
            "batch_size": settings.batch_size,
            "fingerprint": feature_fingerprint(artifact),
        },
        "pca": {
            "k": settings.pca_components,
            "explained_variance": list(pca.explained_variance),
            "cumulative_explained_variance": list(pca.cumulative_variance),
            "total_explained_variance": pca.cumulative_variance[-1],
        },
        "versions": library_versions(),
        "timings_seconds": dict(timings),
        "throughput": {
            "images_per_minute_featurizing": per_minute,
        },
    }


def success_marker(info: dict[str, Any]) -> dict[str, Any]:
    """The success marker's content: enough to tell which run finished, and when."""
    return {
        "marker_version": SUCCESS_MARKER_DOCUMENT.version,
        "run_name": info["run"]["name"],
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts": info["counts"],
    }


def write_record(spark: SparkSession, output: str, info: dict[str, Any]) -> None:
    """Write the run's record under `output`, then the success marker: the run's last writes."""
    storage.write_document(spark, output, MODEL_INFO_DOCUMENT, info)
    storage.write_document(spark, output, SUCCESS_MARKER_DOCUMENT, success_marker(info))
